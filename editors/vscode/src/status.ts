/** What the status bar item says in each server state. Pure. */

export type ServerState =
  | { kind: "checking" }
  | { kind: "starting"; command: string }
  | { kind: "ready"; model: string }
  | { kind: "unreachable"; message: string }
  | { kind: "failed"; message: string };

export interface StatusView {
  text: string;
  tooltip: string;
}

export function statusView(state: ServerState, enabled: boolean, lastLatencyMs?: number): StatusView {
  const off = enabled ? "" : " (off)";
  switch (state.kind) {
    case "ready": {
      const latency = lastLatencyMs === undefined ? "" : ` · ${Math.round(lastLatencyMs)} ms`;
      const icon = enabled ? "$(zap)" : "$(circle-slash)";
      return {
        text: `${icon} Dash · ${state.model}${latency}`,
        tooltip: `nanocomplete server ready: ${state.model}${off}; last completion${latency || ": none yet"}`,
      };
    }
    case "checking":
      return { text: `$(sync~spin) Dash${off}`, tooltip: "looking for the nanocomplete server" };
    case "starting":
      return { text: `$(sync~spin) Dash: starting${off}`, tooltip: `starting the server: ${state.command}` };
    case "unreachable":
      return { text: `$(debug-disconnect) Dash: no server${off}`, tooltip: state.message };
    case "failed":
      return { text: `$(error) Dash: server failed${off}`, tooltip: state.message };
  }
}
