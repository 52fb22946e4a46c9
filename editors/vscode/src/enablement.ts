/**
 * Where Dash completes: per language (`nanocomplete.languages`, like Copilot's per-language switch) and
 * never in files matching `nanocomplete.disabledFiles` (secrets: no completion, no warm-up, and no snippet
 * of them sent as context for another file). Pure; the glob matching itself is VS Code's.
 */

/** Off by default: prose and configuration where a code model only gets in the way, or leaks secrets. */
export const DEFAULT_LANGUAGES: Record<string, boolean> = {
  "*": true,
  plaintext: false,
  markdown: false,
  dotenv: false,
  properties: false,
  ini: false,
};

/** Files that commonly hold secrets (globs, matched on the file's path). */
export const DEFAULT_DISABLED_FILES = [
  "**/.env",
  "**/.env.*",
  "**/*.env",
  "**/*.pem",
  "**/*.key",
  "**/id_rsa*",
  "**/id_ed25519*",
  "**/.npmrc",
  "**/.pypirc",
  "**/.netrc",
  "**/*credentials*",
  "**/*secret*",
];

/** The language's switch, else the `"*"` default, else on. */
export function languageEnabled(languageId: string, languages: Record<string, boolean>): boolean {
  return languages[languageId] ?? languages["*"] ?? true;
}
