/** What the status bar item says in each server state. Pure. */

import type { ServerError } from "./client";

export type ServerState =
  | { kind: "checking" }
  | { kind: "starting"; command: string }
  | { kind: "ready"; model: string }
  | { kind: "unreachable"; message: string }
  | { kind: "foreign"; message: string }
  | { kind: "refused"; status: number; message: string }
  | { kind: "failed"; message: string };

export interface StatusView {
  text: string;
  tooltip: string;
}

/** `offHere`: why the active file gets no completions while Dash is on (its language is off, or it is
 * one of `nanocomplete.disabledFiles`), as `offReason` words it. */
export function statusView(
  state: ServerState,
  enabled: boolean,
  lastLatencyMs?: number,
  offHere?: string,
): StatusView {
  const off = enabled ? "" : " (off)";
  switch (state.kind) {
    case "ready": {
      const latency = lastLatencyMs === undefined ? "" : ` · ${Math.round(lastLatencyMs)} ms`;
      const icon = enabled && !offHere ? "$(zap)" : "$(circle-slash)";
      const here = enabled && offHere ? `; off in this file: ${offHere}` : "";
      return {
        text: `${icon} Dash · ${state.model}${latency}`,
        tooltip: `nanocomplete server ready: ${state.model}${off}${here}; last completion${latency || ": none yet"}`,
      };
    }
    case "checking":
      return { text: `$(sync~spin) Dash${off}`, tooltip: "looking for the nanocomplete server" };
    case "starting":
      return { text: `$(sync~spin) Dash: starting${off}`, tooltip: `starting the server: ${state.command}` };
    case "unreachable":
      return { text: `$(debug-disconnect) Dash: no server${off}`, tooltip: state.message };
    case "foreign":
      return { text: `$(warning) Dash: not a nanocomplete server${off}`, tooltip: state.message };
    case "refused":
      return { text: `$(error) Dash: ${state.status}${off}`, tooltip: state.message };
    case "failed":
      return { text: `$(error) Dash: server failed${off}`, tooltip: state.message };
  }
}

/** What a refused completion means to the user, by status. */
export function refusal(error: ServerError, serverUrl: string): string {
  const said = `${error.status} ${error.type}: ${error.message}`;
  switch (error.status) {
    case 401:
      return `the server at ${serverUrl} wants an API token: set nanocomplete.apiToken (${said})`;
    case 403:
      return `the server at ${serverUrl} refused this editor's Host or Origin (${said})`;
    case 404:
      return `the server at ${serverUrl} has no nanocomplete API: is it ours? (${said})`;
    default:
      return `the server refused the request (${said})`;
  }
}
