// What the last run did, kept in the user's own directory for `status` and the metrics' last success.
import type { UserHome } from "../system/home.js";
import type { Mode, Outcome, RestoredBackup } from "./plan.js";

export const STATE_DIR = [".config", "claude-auth-sync"] as const;
export const STATE_FILE = "state.json";
export const NOTICE_FILE = "notice";

export interface SyncState {
  lastRunAt: string;
  lastSuccessAt: string | undefined;
  exitCode: number;
  mode: Mode | undefined;
  outcome: Outcome | undefined;
  /** One line, never a secret. */
  message: string;
  host: string;
  /** The backup this host restored last: the plan never restores it onto a stub twice. */
  lastRestore?: RestoredBackup | undefined;
  /** The user's own Vault token as last seen (`user` mode): valid, and its expiry (ms epoch; null = never). */
  identity?: { valid: boolean; expiresAt: number | null; checkedAt: string } | undefined;
}

export function readSyncState(home: UserHome): SyncState | undefined {
  try {
    const file = home.read(STATE_DIR, STATE_FILE);
    if (!file) return undefined;
    const parsed = JSON.parse(file.text) as Partial<SyncState>;
    if (typeof parsed.lastRunAt !== "string" || typeof parsed.exitCode !== "number") return undefined;
    return {
      lastRunAt: parsed.lastRunAt,
      lastSuccessAt: typeof parsed.lastSuccessAt === "string" ? parsed.lastSuccessAt : undefined,
      exitCode: parsed.exitCode,
      mode: parsed.mode,
      outcome: parsed.outcome,
      message: typeof parsed.message === "string" ? parsed.message : "",
      host: typeof parsed.host === "string" ? parsed.host : "",
      lastRestore: parseRestoredBackup(parsed.lastRestore),
      identity: parseIdentity(parsed.identity),
    };
  } catch {
    return undefined; // a damaged state file is rewritten by this run
  }
}

function parseRestoredBackup(value: unknown): RestoredBackup | undefined {
  if (!value || typeof value !== "object") return undefined;
  const { expiresAt, backedUpAt } = value as Record<string, unknown>;
  if (typeof expiresAt !== "number" || !Number.isFinite(expiresAt)) return undefined;
  return { expiresAt, backedUpAt: typeof backedUpAt === "string" ? backedUpAt : undefined };
}

function parseIdentity(value: unknown): SyncState["identity"] {
  if (!value || typeof value !== "object") return undefined;
  const { valid, expiresAt, checkedAt } = value as Record<string, unknown>;
  if (typeof valid !== "boolean" || typeof checkedAt !== "string") return undefined;
  if (expiresAt !== null && (typeof expiresAt !== "number" || !Number.isFinite(expiresAt))) return undefined;
  return { valid, expiresAt, checkedAt };
}

export function writeSyncState(home: UserHome, state: SyncState): void {
  // Informational: atomic but not fsynced, so the steady state costs no disk flush.
  home.write(STATE_DIR, STATE_FILE, `${JSON.stringify(state)}\n`, 0o600, { durable: false });
}

/** The next shell's one-line notice when the user must log in again, saying why (the plan's words). */
export function ssoNotice(cause: string | undefined): string {
  const why = cause ?? "no usable credential here and no usable backup";
  return (
    `claude-auth-sync: your Claude Code login here no longer works: ${why}. Run \`claude auth login\` ` +
    "(or `claude setup-token` then `claude-auth enable` for a long-lived token)."
  );
}
