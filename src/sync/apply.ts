// Performs a SyncPlan: Vault through merge-write, the user's files as the user.
import { hostname } from "node:os";
import {
  CREDENTIALS_FILE,
  type CredentialsFileState,
  parseCredentialsFile,
  type RotatingCredential,
  sameCredential,
  withRotatingCredential,
} from "../claude/credentials.js";
import { ENV_FILE_DIR, ENV_FILE_NAME, formatEnvFile } from "../claude/env-file.js";
import type { Deadline } from "../deadline.js";
import type { UserHome } from "../system/home.js";
import { removeServiceEnvFile, serviceEnvPath, writeServiceEnvFile } from "../system/service-env.js";
import type { VaultClient } from "../vault/client.js";
import { type KvDocument, mergeWrite } from "../vault/kv.js";
import type { Action, LocalState, SyncPlan } from "./plan.js";
import { backupChange, parseUserDocument } from "./user-document.js";

export interface ApplyContext {
  home: UserHome;
  /** Directory of .credentials.json, relative to the home (["" .claude] or $CLAUDE_CONFIG_DIR's). */
  credentialsDir: readonly string[];
  vault: { client: VaultClient; mount: string; path: string; current: KvDocument };
  deadline: Deadline;
  now: Date;
  /** Directory of the root-owned copies for systemd (tests point it elsewhere). */
  serviceEnvDir?: string | undefined;
  /** Claude's OAuth token endpoint, for renew-credential. */
  tokenUrl?: URL | undefined;
}

export interface Applied {
  /** One line per action taken (no secrets). */
  lines: string[];
  /** Set when a renewal did not produce a new credential: the caller plans again with it. */
  renewal?: LocalState["renewal"];
  /** The renewed credential's access-token expiry, epoch ms. */
  renewedExpiresAt?: number;
  /** The credential written by a restore (the state file remembers which backup it was). */
  restored?: RotatingCredential;
}

/** Time kept back from a refresh for writing the file and the Vault backup. */
const RESERVE_FOR_BACKUP_MS = 400;
/** A refresh is not started with less than this left: a cut-off answer may have spent the token. */
const MIN_REFRESH_BUDGET_MS = 500;

/** Performs the actions in order; a renewal that fails stops the plan (it is made again). */
export async function apply(plan: SyncPlan, context: ApplyContext): Promise<Applied> {
  const applied: Applied = { lines: [] };
  for (const action of plan.actions) {
    if (action.kind === "renew-credential") {
      const renewed = await renew(action.credential, context);
      applied.lines.push(renewed.line);
      if (renewed.renewal) applied.renewal = renewed.renewal;
      if (renewed.expiresAt !== undefined) applied.renewedExpiresAt = renewed.expiresAt;
      if (renewed.renewal) break;
      continue;
    }
    if (action.kind === "restore-credential") {
      const restored = restore(action, context);
      applied.lines.push(restored.line);
      if (restored.written) applied.restored = action.credential;
      continue;
    }
    applied.lines.push(await perform(action, context));
  }
  return applied;
}

function readCredentials(context: ApplyContext): CredentialsFileState {
  const file = context.home.read(context.credentialsDir, CREDENTIALS_FILE);
  return file ? parseCredentialsFile(file.text) : { kind: "absent" };
}

/** Merge-writes the backup fields; a newer backup written meanwhile (another host) is kept. */
async function backup(credential: RotatingCredential, context: ApplyContext): Promise<string> {
  const { vault } = context;
  const result = await mergeWrite(
    vault.client,
    vault.mount,
    vault.path,
    (current) => {
      // Re-checked on every retry: a newer backup written meanwhile (another host) is kept.
      const stored = parseUserDocument(current).backup?.credential;
      if (stored && stored.expiresAt > credential.expiresAt) return null;
      return backupChange(credential, context.now, hostname());
    },
    { deadline: context.deadline, current: vault.current },
  );
  return result.written
    ? `backed up the credential to ${vault.mount}/data/${vault.path} (version ${result.version})`
    : "backup skipped: a newer backup was stored meanwhile";
}

/**
 * One refresh grant under the per-user lock. The file is read again right before the request: a
 * Claude process (or another claude-auth run before we got the lock) may have renewed it already.
 * Only a successful answer is written, atomically, claudeAiOauth only; the file is never stubbed.
 */
async function renew(
  credential: RotatingCredential,
  context: ApplyContext,
): Promise<{ line: string; renewal?: LocalState["renewal"]; expiresAt?: number }> {
  const { home, credentialsDir } = context;
  const before = readCredentials(context);
  if (before.kind !== "valid" || !sameCredential(before.credential, credential)) {
    return { line: "renewal skipped: the credentials file changed meanwhile (renewed by another process)" };
  }
  const budget = context.deadline.remainingMs() - RESERVE_FOR_BACKUP_MS;
  if (budget < MIN_REFRESH_BUDGET_MS) {
    const reason = "not enough of CLAUDE_AUTH_SYNC_TIMEOUT_MS left to refresh safely; nothing was sent";
    return { line: `renewal not attempted: ${reason}`, renewal: { kind: "failed", reason } };
  }
  if (!context.tokenUrl) throw new Error("renew-credential needs the token endpoint");
  const { refreshCredential } = await import("../claude/oauth.js");
  const result = await refreshCredential(credential, { tokenUrl: context.tokenUrl, timeoutMs: budget });
  if (result.kind === "rejected") {
    return {
      line: `renewal refused by the token endpoint: ${result.reason}; the credentials file was left as it was`,
      renewal: { kind: "rejected", refreshToken: credential.refreshToken },
    };
  }
  if (result.kind === "failed") {
    const reason = result.mayBeSpent
      ? `${result.reason}; the refresh token may have been spent: if Claude Code logs out, the next sync restores or asks for a login`
      : result.reason;
    return {
      line: `renewal failed: ${reason}; the credentials file was left as it was`,
      renewal: { kind: "failed", reason },
    };
  }
  // Written with whatever else the file holds now (mcpOAuth, …), read again after the request.
  const now = readCredentials(context);
  const keep = now.kind === "valid" || now.kind === "logged-out" ? now.file : undefined;
  const aside =
    now.kind === "unreadable" ? home.setAside(credentialsDir, CREDENTIALS_FILE, context.now) : undefined;
  home.write(credentialsDir, CREDENTIALS_FILE, withRotatingCredential(keep, result.credential));
  const expiresAt = new Date(result.credential.expiresAt).toISOString();
  let line = `renewed ${home.path(...credentialsDir, CREDENTIALS_FILE)} (access token valid until ${expiresAt})${
    aside ? ` (unreadable file kept as ${aside})` : ""
  }`;
  line += `; ${await backup(result.credential, context)}`;
  return { line, expiresAt: result.credential.expiresAt };
}

async function perform(
  action: Exclude<Action, { kind: "renew-credential" }>,
  context: ApplyContext,
): Promise<string> {
  const { home } = context;
  switch (action.kind) {
    case "write-env-file":
      home.write(ENV_FILE_DIR, ENV_FILE_NAME, formatEnvFile(action.setupToken));
      return `wrote ${home.path(...ENV_FILE_DIR, ENV_FILE_NAME)}`;
    case "remove-env-file":
      home.remove(ENV_FILE_DIR, ENV_FILE_NAME);
      return `removed ${home.path(...ENV_FILE_DIR, ENV_FILE_NAME)}`;
    case "write-service-env-file":
      writeServiceEnvFile(home.user.name, formatEnvFile(action.setupToken), context.serviceEnvDir);
      return `wrote ${serviceEnvPath(home.user.name, context.serviceEnvDir)}`;
    case "remove-service-env-file":
      removeServiceEnvFile(home.user.name, context.serviceEnvDir);
      return `removed ${serviceEnvPath(home.user.name, context.serviceEnvDir)}`;
    case "backup-credential":
      return backup(action.credential, context);
    case "restore-credential":
      return restore(action, context).line;
  }
}

type RestoreAction = Extract<Action, { kind: "restore-credential" }>;

/** Writes the backup into the file, unless the file became valid meanwhile; `written` says which. */
function restore(action: RestoreAction, context: ApplyContext): { line: string; written: boolean } {
  const { home } = context;
  // Re-read under the lock: Claude may have logged in again since the plan was made.
  const now = home.read(context.credentialsDir, CREDENTIALS_FILE);
  const state = now ? parseCredentialsFile(now.text) : { kind: "absent" as const };
  const rejected =
    state.kind === "valid" &&
    action.rejectedRefreshToken !== undefined &&
    state.credential.refreshToken === action.rejectedRefreshToken;
  if (state.kind === "valid" && !rejected)
    return { line: "restore skipped: the credentials file became valid meanwhile", written: false };
  let keep = action.keep;
  if (state.kind === "logged-out" || state.kind === "valid") keep = state.file;
  let aside: string | undefined;
  if (state.kind === "unreadable")
    aside = home.setAside(context.credentialsDir, CREDENTIALS_FILE, context.now);
  home.write(context.credentialsDir, CREDENTIALS_FILE, withRotatingCredential(keep, action.credential));
  const line = `restored ${home.path(...context.credentialsDir, CREDENTIALS_FILE)} from the Vault backup${
    aside ? ` (unreadable file kept as ${aside})` : ""
  }`;
  return { line, written: true };
}
