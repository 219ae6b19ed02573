// node_exporter textfile-collector output: one file per user, replaced atomically.
import {
  closeSync,
  constants,
  fstatSync,
  lstatSync,
  openSync,
  readdirSync,
  renameSync,
  unlinkSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";
import type { Mode } from "../sync/plan.js";
import { isAlive } from "../system/home.js";
import { assertMetricsDirectory } from "./metrics-directory.js";

export interface SyncReport {
  user: string;
  mode: Mode;
  /** 1 while the user has a working credential (setup-token mode counts), 0 when SSO is required. */
  valid: boolean;
  exitCode: number;
  runAt: Date;
  /** Set when this run succeeded (exit 0 or 3: the tool worked, whatever the credential's state). */
  succeeded: boolean;
  credentialExpiresAt: number | undefined;
  /** When the setup token was stored (`setup_token_updated_at`), setup-token mode only. */
  setupTokenUpdatedAt?: Date | undefined;
  /** The last live verification of the credential in use, when one ran (timer, `status --verify`). */
  verification?: { at: Date; verdict: "valid" | "invalid" | "unknown" } | undefined;
  /** When the user's own Vault token expires (ms epoch), 0 when Vault called it invalid; `user` mode only. */
  identityExpiresAt?: number | undefined;
}

/** Setup tokens live about a year (`claude setup-token`); the alert warns 30 days before. */
export const SETUP_TOKEN_LIFETIME_MS = 365 * 86_400_000;
const VERDICTS = ["valid", "invalid", "unknown"] as const;

const MODES: Mode[] = ["setup-token", "rotating", "not-enrolled"];

/** Label values are login names, validated to [A-Za-z0-9_.@-]; escaping kept for safety all the same. */
function label(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

export function renderMetrics(report: SyncReport, lastSuccessAt: Date | undefined): string {
  const user = `user="${label(report.user)}"`;
  const lines = [
    "# HELP claude_auth_sync_valid 1 while the user has a working Claude credential, 0 when interactive SSO is required.",
    "# TYPE claude_auth_sync_valid gauge",
    `claude_auth_sync_valid{${user}} ${report.valid ? 1 : 0}`,
    "# HELP claude_auth_sync_mode The user's mode: setup-token, rotating or not-enrolled.",
    "# TYPE claude_auth_sync_mode gauge",
    ...MODES.map((mode) => `claude_auth_sync_mode{${user},mode="${mode}"} ${mode === report.mode ? 1 : 0}`),
    "# HELP claude_auth_sync_last_run_timestamp_seconds When the last sync for the user ran.",
    "# TYPE claude_auth_sync_last_run_timestamp_seconds gauge",
    `claude_auth_sync_last_run_timestamp_seconds{${user}} ${Math.floor(report.runAt.getTime() / 1000)}`,
    "# HELP claude_auth_sync_last_exit_code Exit code of the last sync for the user.",
    "# TYPE claude_auth_sync_last_exit_code gauge",
    `claude_auth_sync_last_exit_code{${user}} ${report.exitCode}`,
  ];
  if (lastSuccessAt) {
    lines.push(
      "# HELP claude_auth_sync_last_success_timestamp_seconds When a sync for the user last completed.",
      "# TYPE claude_auth_sync_last_success_timestamp_seconds gauge",
      `claude_auth_sync_last_success_timestamp_seconds{${user}} ${Math.floor(lastSuccessAt.getTime() / 1000)}`,
    );
  }
  if (report.credentialExpiresAt !== undefined) {
    lines.push(
      "# HELP claude_auth_sync_credential_expiry_timestamp_seconds Access-token expiry of the rotating credential.",
      "# TYPE claude_auth_sync_credential_expiry_timestamp_seconds gauge",
      `claude_auth_sync_credential_expiry_timestamp_seconds{${user}} ${Math.floor(report.credentialExpiresAt / 1000)}`,
    );
  }
  if (report.setupTokenUpdatedAt && Number.isFinite(report.setupTokenUpdatedAt.getTime())) {
    const stored = Math.floor(report.setupTokenUpdatedAt.getTime() / 1000);
    lines.push(
      "# HELP claude_auth_sync_setup_token_updated_timestamp_seconds When the setup token was stored in Vault.",
      "# TYPE claude_auth_sync_setup_token_updated_timestamp_seconds gauge",
      `claude_auth_sync_setup_token_updated_timestamp_seconds{${user}} ${stored}`,
      "# HELP claude_auth_sync_setup_token_expiry_timestamp_seconds Estimated setup-token expiry (stored + 365 days).",
      "# TYPE claude_auth_sync_setup_token_expiry_timestamp_seconds gauge",
      `claude_auth_sync_setup_token_expiry_timestamp_seconds{${user}} ${stored + SETUP_TOKEN_LIFETIME_MS / 1000}`,
    );
  }
  if (report.identityExpiresAt !== undefined) {
    lines.push(
      "# HELP claude_auth_sync_identity_expiry_timestamp_seconds When the user's own Vault token for claude-auth-sync expires; 0 once Vault refused it as expired or revoked.",
      "# TYPE claude_auth_sync_identity_expiry_timestamp_seconds gauge",
      `claude_auth_sync_identity_expiry_timestamp_seconds{${user}} ${Math.floor(report.identityExpiresAt / 1000)}`,
    );
  }
  if (report.verification) {
    lines.push(
      "# HELP claude_auth_sync_verification_timestamp_seconds When the credential in use was last checked against the API.",
      "# TYPE claude_auth_sync_verification_timestamp_seconds gauge",
      `claude_auth_sync_verification_timestamp_seconds{${user}} ${Math.floor(report.verification.at.getTime() / 1000)}`,
      "# HELP claude_auth_sync_verification_result The last verification's verdict (unknown: the API could not say).",
      "# TYPE claude_auth_sync_verification_result gauge",
      ...VERDICTS.map(
        (verdict) =>
          `claude_auth_sync_verification_result{${user},result="${verdict}"} ${verdict === report.verification?.verdict ? 1 : 0}`,
      ),
    );
  }
  return `${lines.join("\n")}\n`;
}

export function metricsFilePath(dir: string, user: string): string {
  return join(dir, `claude-auth-sync-${user}.prom`);
}

/**
 * Atomic replace in the collector's directory (root's, not the user's); 0644: metrics hold no secret.
 * The directory is checked first (src/alert/metrics-directory.ts); the temp file has a name no one can
 * guess and is created new (O_EXCL), never through a link, and never waiting on a FIFO (O_NONBLOCK).
 */
export function writeMetricsFile(dir: string, user: string, text: string): void {
  assertMetricsDirectory(dir);
  const path = metricsFilePath(dir, user);
  removeDeadTemps(dir, `claude-auth-sync-${user}.prom.`);
  const { fd, temp } = createTemp(path);
  try {
    if (!fstatSync(fd).isFile()) throw new Error(`${temp} is not a regular file`);
    writeSync(fd, text); // not fsynced: the collector re-reads it every scrape, and the next run rewrites it
    closeSync(fd);
  } catch (error) {
    try {
      closeSync(fd);
    } catch {}
    unlinkSync(temp);
    throw error;
  }
  renameSync(temp, path);
}

const CREATE =
  constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW | constants.O_NONBLOCK;

/** `<file>.<pid>-<random>.tmp`; a name taken (planted or not) is skipped, never opened. */
function createTemp(path: string): { fd: number; temp: string } {
  for (let attempt = 1; ; attempt++) {
    // Math.random, not node:crypto (~4 ms on the login path): the names need only be unguessable.
    const temp = `${path}.${process.pid}-${Math.random().toString(36).slice(2, 12)}.tmp`;
    try {
      return { fd: openSync(temp, CREATE, 0o644), temp };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST" || attempt >= 5) throw error;
    }
  }
}

/** A run older than this that left its temp behind is dead, whatever its pid says now. */
const STALE_TEMP_MS = 60_000;

/**
 * A run killed between create and rename leaves `<file>.<pid>[-<random>].tmp`: the next run removes
 * it, if it is a regular file of root's. Anything else found at such a name (a FIFO, a link, a
 * directory, someone else's file) is left alone: it was planted, and removing it is not ours to do.
 */
function removeDeadTemps(dir: string, prefix: string): void {
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return;
  }
  for (const entry of entries) {
    if (!entry.startsWith(prefix) || !entry.endsWith(".tmp")) continue;
    const pid = Number(/^(\d+)(?:-[0-9a-z]+)?$/.exec(entry.slice(prefix.length, -".tmp".length))?.[1]);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    try {
      const stat = lstatSync(join(dir, entry));
      if (!stat.isFile() || stat.uid !== 0) continue;
      if (isAlive(pid) && Date.now() - stat.mtimeMs < STALE_TEMP_MS) continue;
      unlinkSync(join(dir, entry));
    } catch {}
  }
}
