// Claude Code's rotating credential: the `claudeAiOauth` key of ~/.claude/.credentials.json.
import { InvalidDataError } from "../errors.js";
import { describeType } from "./setup-token.js";

export const CREDENTIALS_DIR = ".claude";
export const CREDENTIALS_FILE = ".credentials.json";
export const CREDENTIALS_KEY = "claudeAiOauth";

export interface RotatingCredential {
  accessToken: string;
  refreshToken: string;
  /** Access-token expiry, epoch milliseconds. */
  expiresAt: number;
  /** scopes, subscriptionType, rateLimitTier and whatever later versions add: kept as they are. */
  [other: string]: unknown;
}

export type CredentialsFileState =
  | { kind: "absent" }
  /** Not JSON, not an object, or a claudeAiOauth of the wrong shape: never backed up. */
  | { kind: "unreadable"; reason: string }
  /** Logged out: the stub (`accessToken:""`, `refreshToken:""`, `expiresAt:0`), no refresh token, or no claudeAiOauth. */
  | { kind: "logged-out"; file: Record<string, unknown> }
  | { kind: "valid"; file: Record<string, unknown>; credential: RotatingCredential };

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

const MAX_TOKEN_LENGTH = 4096;

/** Parses a claudeAiOauth object (from the file or from the Vault backup). Empty tokens are allowed here. */
export function parseRotatingCredential(value: unknown, field: string): RotatingCredential {
  if (!isRecord(value)) throw new InvalidDataError(field, `must be an object, got ${describeType(value)}`);
  for (const key of ["accessToken", "refreshToken"] as const) {
    const token = value[key];
    if (typeof token !== "string")
      throw new InvalidDataError(`${field}.${key}`, `must be a string, got ${describeType(token)}`);
    if (token.length > MAX_TOKEN_LENGTH || /[\s"'\\]/.test(token)) {
      throw new InvalidDataError(
        `${field}.${key}`,
        "is not a token (too long or contains white space or quotes)",
      );
    }
  }
  const expiresAt = value.expiresAt;
  if (typeof expiresAt !== "number" || !Number.isFinite(expiresAt) || expiresAt < 0) {
    throw new InvalidDataError(
      `${field}.expiresAt`,
      `must be epoch milliseconds, got ${describeType(expiresAt)}`,
    );
  }
  return value as RotatingCredential;
}

/** Usable by Claude Code: both tokens present. An expired access token is fine: Claude refreshes it. */
export function isLoggedIn(credential: RotatingCredential): boolean {
  return credential.accessToken !== "" && credential.refreshToken !== "";
}

export function parseCredentialsFile(text: string): CredentialsFileState {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return { kind: "unreadable", reason: "not valid JSON" };
  }
  if (!isRecord(parsed))
    return { kind: "unreadable", reason: `top level is ${describeType(parsed)}, not an object` };
  const raw = parsed[CREDENTIALS_KEY];
  if (raw === undefined) return { kind: "logged-out", file: parsed };
  let credential: RotatingCredential;
  try {
    credential = parseRotatingCredential(raw, CREDENTIALS_KEY);
  } catch (error) {
    return { kind: "unreadable", reason: (error as Error).message };
  }
  return isLoggedIn(credential)
    ? { kind: "valid", file: parsed, credential }
    : { kind: "logged-out", file: parsed };
}

/** The file with `claudeAiOauth` replaced and every other key (mcpOAuth, …) kept. */
export function withRotatingCredential(
  file: Record<string, unknown> | undefined,
  credential: RotatingCredential,
): string {
  return `${JSON.stringify({ ...(file ?? {}), [CREDENTIALS_KEY]: credential })}\n`;
}

/** Whether two credentials are the same login state (same access token). */
export function sameCredential(a: RotatingCredential, b: RotatingCredential): boolean {
  return a.accessToken === b.accessToken && a.refreshToken === b.refreshToken;
}
