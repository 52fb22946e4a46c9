/**
 * The HTTP client of the nanocomplete server: one method per endpoint, Node's `fetch`, no `vscode`.
 *
 * Aborting the caller's signal closes the connection, and the server cancels the generation when its
 * client goes away: an abandoned completion costs at most one more batch of prompt evaluation.
 * Errors: `ServerError` (the server answered 4xx/5xx, with its `{"error": {type, message}}`),
 * `Unreachable` (no answer: not running, wrong URL, timed out); an abort rethrows the abort error.
 */

import type * as api from "./api";

export interface ClientOptions {
  serverUrl: string;
  apiToken: string;
}

export const HEALTH_TIMEOUT_MS = 2_000;
export const COMPLETE_TIMEOUT_MS = 30_000;
export const BACKGROUND_TIMEOUT_MS = 5_000;

/** Something answers at the server URL, but it is not nanocomplete. */
export class ForeignServer extends Error {
  constructor(
    readonly url: string,
    readonly answered: string,
  ) {
    super(`${url} is not a nanocomplete server: its /health answered ${answered}`);
    this.name = "ForeignServer";
  }
}

export class ServerError extends Error {
  constructor(
    readonly status: number,
    readonly type: string,
    message: string,
  ) {
    super(`${status} ${type}: ${message}`);
    this.name = "ServerError";
  }
}

export class Unreachable extends Error {
  constructor(message: string) {
    super(message);
    this.name = "Unreachable";
  }
}

export class Client {
  /** `options` is read on every request, so changed settings apply at once. */
  constructor(private readonly options: () => ClientOptions) {}

  complete(body: api.CompleteRequest, signal?: AbortSignal): Promise<api.CompleteResponse> {
    return this.request("POST", "/v1/complete", body, COMPLETE_TIMEOUT_MS, signal);
  }

  warm(body: api.WarmRequest): Promise<{ queued: boolean }> {
    return this.request("POST", "/v1/warm", body, BACKGROUND_TIMEOUT_MS);
  }

  events(events: api.Event[]): Promise<{ stored: number }> {
    return this.request("POST", "/v1/events", { events }, BACKGROUND_TIMEOUT_MS);
  }

  /** The server's health, once it is recognised as nanocomplete (`name` in `/health`); a server that
   * answers otherwise (llama-server on port 8012, any other HTTP server) throws ForeignServer. */
  async health(): Promise<api.Health> {
    const { serverUrl } = this.options();
    let body: unknown;
    try {
      body = await this.request<unknown>("GET", "/health", undefined, HEALTH_TIMEOUT_MS);
    } catch (error) {
      if (error instanceof ServerError)
        throw new ForeignServer(serverUrl, `${error.status} ${error.message}`);
      throw error;
    }
    const health = body as Partial<api.Health> | null;
    if (health?.name !== "nanocomplete" || typeof health.model !== "string") {
      throw new ForeignServer(serverUrl, JSON.stringify(body).slice(0, 160));
    }
    return health as api.Health;
  }

  private async request<T>(
    method: string,
    path: string,
    body: unknown,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<T> {
    const { serverUrl, apiToken } = this.options();
    const url = serverUrl.replace(/\/+$/, "") + path;
    const timeout = AbortSignal.timeout(timeoutMs);
    let response: Response;
    try {
      response = await fetch(url, {
        method,
        headers: headers(apiToken, body !== undefined),
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
      });
    } catch (error) {
      if (signal?.aborted) throw error;
      const reason = timeout.aborted ? `timed out after ${timeoutMs} ms` : describe(error);
      throw new Unreachable(`${serverUrl}: ${reason}`);
    }
    if (!response.ok) throw await serverError(response);
    return (await response.json()) as T;
  }
}

function headers(apiToken: string, hasBody: boolean): Record<string, string> {
  const result: Record<string, string> = {};
  if (hasBody) result["content-type"] = "application/json";
  if (apiToken) result["authorization"] = `Bearer ${apiToken}`;
  return result;
}

async function serverError(response: Response): Promise<ServerError> {
  const text = await response.text().catch(() => "");
  try {
    const { error } = JSON.parse(text) as api.ErrorResponse;
    return new ServerError(response.status, error.type, error.message);
  } catch {
    return new ServerError(response.status, "http_error", text.slice(0, 200) || response.statusText);
  }
}

function describe(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string } })?.cause;
  return cause?.code ?? cause?.message ?? String(error);
}

/** True for the error a fetch throws when its signal was aborted. */
export function isAbort(error: unknown): boolean {
  return (error as { name?: string })?.name === "AbortError";
}
