/**
 * The nanocomplete server's API, version 1 (nanocomplete/api.py), as far as this extension uses it.
 * Positions are 0-based and `character` counts UTF-16 code units: exactly VS Code's positions.
 */

export interface Position {
  line: number;
  character: number;
}

export interface Range {
  start: Position;
  end: Position;
}

/** Part of another file: `path` relative to the workspace root. */
export interface Snippet {
  path: string;
  text: string;
}

/** A document and its cursor (`POST /v1/warm` takes exactly this). */
export interface DocumentRequest {
  uri: string;
  language: string;
  text: string;
  cursor: Position;
  workspace_root?: string;
  recent: Snippet[];
  /** Globs of files never used as context (added to the server's `disabled_files`). */
  disabled_files: string[];
}

export type TriggerKind = "automatic" | "invoked";

/** Which model answers (the server's `tier`): fast, quality (its `quality_model`) or auto. */
export type Tier = "fast" | "quality" | "auto";

/** `POST /v1/warm`: the document, and the tier its completions ask for (the server's when unset). */
export interface WarmRequest extends DocumentRequest {
  tier?: Tier;
}

export interface CompleteRequest extends DocumentRequest {
  request_id: string;
  trigger_kind: TriggerKind;
  max_tokens?: number;
  /** After this long generating (ms), the next token ends the completion once it has a whole line; 0: none. */
  max_generation_ms?: number;
  tier?: Tier;
}

export interface Timings {
  prompt_tokens: number;
  prompt_tokens_evaluated: number;
  prompt_tokens_reused: number;
  prompt_ms: number;
  generation_ms: number;
  tokens_generated: number;
  queue_ms: number;
  total_ms: number;
}

export interface CompleteResponse {
  request_id: string | null;
  completion: string;
  replace_range: Range;
  confidence: { mean_logprob: number | null; min_logprob: number | null };
  hidden_by_confidence: boolean;
  cancelled: boolean;
  cache: "hit" | "snapshot" | "miss" | "result_cache" | "none";
  timings: Timings | null;
  /** Why generating ended; null where the model did not answer. */
  stop_reason?: "stop_token" | "max_tokens" | "max_generation_ms" | "should_stop" | null;
  model: string;
  tier: "fast" | "quality";
  /** Why that tier answered (see the server's README, "Two tiers"). */
  tier_reason: string;
}

export type EventKind = "shown" | "accepted" | "partially_accepted" | "rejected" | "retained";

export interface Event {
  kind: EventKind;
  request_id?: string;
  language?: string;
  shown_chars?: number;
  accepted_chars?: number;
  retained_chars?: number;
  after_s?: number;
  latency_ms?: number;
}

export interface Health {
  status: "ok";
  name: "nanocomplete";
  model: string;
  version: string;
  tiers: Record<string, string>;
}

/** Every error answer: `{"error": {"type", "message"}}`. */
export interface ErrorResponse {
  error: { type: string; message: string };
}
