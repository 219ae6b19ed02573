import { terminalLine } from "./system/terminal-text.js";

/** Exit codes fixed by the contract; every failure maps to exactly one. */
export const ExitCode = {
  ok: 0,
  error: 1,
  usage: 2,
  ssoRequired: 3,
  vaultUnavailable: 4,
  vaultDenied: 5,
  invalidData: 6,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/**
 * A failure a user can act on. `message` says what was attempted, where, and why;
 * `hint` says what to do. Neither ever contains a secret.
 */
export class AuthSyncError extends Error {
  readonly exitCode: ExitCode;
  readonly hint: string | undefined;
  constructor(message: string, exitCode: ExitCode, options: { hint?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "AuthSyncError";
    this.exitCode = exitCode;
    this.hint = options.hint;
  }
}

export class UsageError extends AuthSyncError {
  constructor(message: string, hint?: string) {
    super(message, ExitCode.usage, hint === undefined ? {} : { hint });
    this.name = "UsageError";
  }
}

/** Bad data at an edge (config, Vault document, credentials file, token); `field` names what was wrong. */
export class InvalidDataError extends AuthSyncError {
  readonly field: string;
  constructor(field: string, message: string, hint?: string) {
    super(`${field}: ${message}`, ExitCode.invalidData, hint === undefined ? {} : { hint });
    this.name = "InvalidDataError";
    this.field = field;
  }
}

export class VaultUnavailableError extends AuthSyncError {
  constructor(message: string, options: { hint?: string; cause?: unknown } = {}) {
    super(message, ExitCode.vaultUnavailable, options);
    this.name = "VaultUnavailableError";
  }
}

export class VaultDeniedError extends AuthSyncError {
  constructor(message: string, options: { hint?: string; cause?: unknown } = {}) {
    super(message, ExitCode.vaultDenied, options);
    this.name = "VaultDeniedError";
  }
}

/** Between an error's message and its fix in formatError's text. */
export const FIX_SEPARATOR = "\n  fix: ";

/**
 * The message on one line (it may quote a user's file or a Vault response: a newline in it cannot
 * start a line of its own), then our fix, if any.
 */
export function formatError(error: unknown): string {
  const message = terminalLine(error instanceof Error ? error.message : String(error));
  return error instanceof AuthSyncError && error.hint ? `${message}${FIX_SEPARATOR}${error.hint}` : message;
}

export function exitCodeOf(error: unknown): ExitCode {
  return error instanceof AuthSyncError ? error.exitCode : ExitCode.error;
}
