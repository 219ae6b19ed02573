// The user's Vault document: our fields parsed at the edge; every other key belongs to someone else.
import { parseRotatingCredential, type RotatingCredential } from "../claude/credentials.js";
import { parseSetupToken } from "../claude/setup-token.js";
import { InvalidDataError } from "../errors.js";
import type { DocumentChange, KvDocument } from "../vault/kv.js";

export const FIELD = {
  setupToken: "setup_token",
  setupTokenUpdatedAt: "setup_token_updated_at",
  backup: "claude_ai_oauth",
  backupAt: "claude_ai_oauth_backed_up_at",
  backupHost: "claude_ai_oauth_host",
} as const;

export interface CredentialBackup {
  credential: RotatingCredential;
  backedUpAt: string | undefined;
  host: string | undefined;
}

export interface UserDocument {
  /** Whether the user has a (live) document at all. */
  exists: boolean;
  version: number;
  setupToken: string | undefined;
  setupTokenUpdatedAt: string | undefined;
  backup: CredentialBackup | undefined;
  /** Set when `claude_ai_oauth` is present but unusable: the reason, never the value. */
  backupProblem: string | undefined;
}

function optionalString(data: Record<string, unknown>, field: string): string | undefined {
  const value = data[field];
  if (value === undefined || value === null || value === "") return undefined;
  if (typeof value !== "string") throw new InvalidDataError(field, "must be a string");
  return value;
}

/**
 * Parses our fields. A bad `setup_token` is fatal (exit 6, nothing written): it would otherwise reach
 * every shell. A bad backup is only reported: a valid local credential may heal it by backing up over it.
 */
export function parseUserDocument(document: KvDocument): UserDocument {
  const data = document.state === "live" ? document.data : {};
  const rawToken = data[FIELD.setupToken];
  const setupToken =
    rawToken === undefined || rawToken === null || rawToken === ""
      ? undefined
      : parseSetupToken(rawToken, FIELD.setupToken);
  let backup: CredentialBackup | undefined;
  let backupProblem: string | undefined;
  const rawBackup = data[FIELD.backup];
  if (rawBackup !== undefined && rawBackup !== null && rawBackup !== "") {
    try {
      if (typeof rawBackup !== "string") throw new InvalidDataError(FIELD.backup, "must be a JSON string");
      let parsed: unknown;
      try {
        parsed = JSON.parse(rawBackup);
      } catch {
        throw new InvalidDataError(FIELD.backup, "is not valid JSON");
      }
      backup = {
        credential: parseRotatingCredential(parsed, FIELD.backup),
        backedUpAt: optionalString(data, FIELD.backupAt),
        host: optionalString(data, FIELD.backupHost),
      };
    } catch (error) {
      if (!(error instanceof InvalidDataError)) throw error;
      backupProblem = error.message;
    }
  }
  return {
    exists: document.state === "live",
    version: document.version,
    setupToken,
    setupTokenUpdatedAt: optionalString(data, FIELD.setupTokenUpdatedAt),
    backup,
    backupProblem,
  };
}

/** The three backup fields for a merge-write. */
export function backupChange(credential: RotatingCredential, now: Date, host: string): DocumentChange {
  return {
    [FIELD.backup]: JSON.stringify(credential),
    [FIELD.backupAt]: now.toISOString(),
    [FIELD.backupHost]: host,
  };
}

export function setupTokenChange(setupToken: string | undefined, now: Date): DocumentChange {
  return {
    [FIELD.setupToken]: setupToken,
    [FIELD.setupTokenUpdatedAt]: setupToken === undefined ? undefined : now.toISOString(),
  };
}
