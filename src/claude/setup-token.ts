// The opt-in setup token (`claude setup-token`): non-rotating, ~1 year, scope user:inference.
import { InvalidDataError } from "../errors.js";

const PREFIX = "sk-ant-oat01-";
const SETUP_TOKEN = /^sk-ant-oat01-[A-Za-z0-9_-]+$/;
export const SETUP_TOKEN_MIN_LENGTH = PREFIX.length + 16;
export const SETUP_TOKEN_MAX_LENGTH = 512;

/**
 * Validates a setup token. Only URL-safe base64 characters after the prefix, so the value can never
 * carry a newline, quote, space or `$(...)` into the env file, a shell or a unit file.
 * The message never repeats the value: it may be a real secret pasted slightly wrong.
 */
export function parseSetupToken(value: unknown, field = "setup_token"): string {
  if (typeof value !== "string")
    throw new InvalidDataError(field, `must be a string, got ${describeType(value)}`);
  if (!value.startsWith(PREFIX)) {
    throw new InvalidDataError(
      field,
      `is not a setup token: it must start with ${PREFIX}`,
      "create one with `claude setup-token` and paste the whole line",
    );
  }
  if (value.length < SETUP_TOKEN_MIN_LENGTH || value.length > SETUP_TOKEN_MAX_LENGTH) {
    throw new InvalidDataError(
      field,
      `has ${value.length} characters; a setup token has between ${SETUP_TOKEN_MIN_LENGTH} and ${SETUP_TOKEN_MAX_LENGTH}`,
    );
  }
  if (!SETUP_TOKEN.test(value)) {
    throw new InvalidDataError(
      field,
      "contains characters a setup token never has (only A-Z a-z 0-9 _ - after the prefix)",
      "paste the token alone, without quotes, spaces or line breaks",
    );
  }
  return value;
}

export function describeType(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  return typeof value === "object" ? "an object" : `a ${typeof value}`;
}

/** A short, non-secret fingerprint for status output: the last 4 characters. */
export function tokenHint(token: string): string {
  return `${PREFIX}…${token.slice(-4)}`;
}
