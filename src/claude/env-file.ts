// ~/.config/claude-auth-sync/claude-oauth.env: the one line read by shells, start-claude and systemd.
import { parseSetupToken } from "./setup-token.js";

export const ENV_FILE_DIR = [".config", "claude-auth-sync"] as const;
export const ENV_FILE_NAME = "claude-oauth.env";
export const ENV_KEY = "CLAUDE_CODE_OAUTH_TOKEN";

/** No quoting needed: the token was validated to URL-safe base64, which every reader takes literally. */
export function formatEnvFile(setupToken: string): string {
  return `${ENV_KEY}=${parseSetupToken(setupToken)}\n`;
}

/** The token an env file holds, or null when it is not exactly what `formatEnvFile` writes. */
export function parseEnvFile(text: string): string | null {
  const match = /^CLAUDE_CODE_OAUTH_TOKEN=([^\n]*)\n?$/.exec(text);
  if (!match) return null;
  try {
    return parseSetupToken(match[1], ENV_KEY);
  } catch {
    return null;
  }
}
