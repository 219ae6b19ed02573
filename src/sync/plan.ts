// The sync decision: a pure function from (user document, local files, clock, policy) to actions.
// No I/O here; `apply.ts` performs the plan. Every rule is a row in test/unit/plan.test.ts.
import {
  type CredentialsFileState,
  isLoggedIn,
  type RotatingCredential,
  sameCredential,
} from "../claude/credentials.js";
import type { UserDocument } from "./user-document.js";

export type EnvFileState =
  | { kind: "absent" }
  /** Present; `token` is null when the content is not exactly one well-formed line. */
  | { kind: "present"; token: string | null };

export interface LocalState {
  envFile: EnvFileState;
  /**
   * The root-owned copy systemd loads into t3-serve@<user> (/var/lib/claude-auth-sync/env/<user>.env);
   * undefined when this run cannot manage it (not root).
   */
  serviceEnvFile?: EnvFileState | undefined;
  credentials: CredentialsFileState;
  /**
   * What a renewal earlier in this run came to; the plan is made again with it. `rejected`: the token
   * endpoint refused this refresh token (invalid_grant). `failed`: no usable answer (network, 5xx,
   * timeout); the file was left as it was.
   */
  renewal?: { kind: "rejected"; refreshToken: string } | { kind: "failed"; reason: string } | undefined;
  /**
   * The backup this host restored last (from state.json). A logged-out stub after restoring that very
   * backup means its login no longer works (revoked, or its refresh token spent): restoring it again
   * would only loop — restore, 401, failed refresh, stub — once a minute under watch mode.
   */
  lastRestore?: RestoredBackup | undefined;
}

/** Identifies a backup without holding a secret: its access-token expiry and when it was backed up. */
export interface RestoredBackup {
  expiresAt: number;
  backedUpAt: string | undefined;
}

export function sameBackup(
  backup: { credential: RotatingCredential; backedUpAt: string | undefined },
  restored: RestoredBackup | undefined,
): boolean {
  return (
    restored !== undefined &&
    restored.expiresAt === backup.credential.expiresAt &&
    restored.backedUpAt === backup.backedUpAt
  );
}

/** Which Vault backups may be restored onto this host (see docs/race.md for the numbers behind it). */
export type CrossHostRestore = "any" | "same-host";

export interface SyncPolicy {
  /** A backup is restorable only while its access token stays valid at least this long. */
  restoreMarginMs: number;
  /**
   * Proactive renewal (rotating mode): refresh the credential once its access token expires within
   * `windowMs`. Undefined: never renew (the login path, status, CLAUDE_AUTH_SYNC_RENEW=0).
   */
  renew?: { windowMs: number } | undefined;
  /** This host's name, as recorded in `claude_ai_oauth_host`; needed by `crossHostRestore`. */
  host?: string | undefined;
  /** Default "any": every usable backup may be restored, whichever host took it. */
  crossHostRestore?: CrossHostRestore | undefined;
}

export type Mode = "setup-token" | "rotating" | "not-enrolled";

/** What the user would notice: valid (exit 0), needs interactive SSO (exit 3), or not enrolled (exit 0). */
export type Outcome = "valid" | "sso-required" | "not-enrolled";

export type Action =
  | { kind: "write-env-file"; setupToken: string }
  | { kind: "remove-env-file" }
  | { kind: "write-service-env-file"; setupToken: string }
  | { kind: "remove-service-env-file" }
  | { kind: "backup-credential"; credential: RotatingCredential }
  /** Refresh the credential at the token endpoint, write the answer to the file, back it up at once. */
  | { kind: "renew-credential"; credential: RotatingCredential }
  | {
      kind: "restore-credential";
      credential: RotatingCredential;
      /** The current file's other keys (mcpOAuth, …), kept; undefined when it was absent or unreadable. */
      keep: Record<string, unknown> | undefined;
      /** The current file is unreadable: move it aside rather than lose it. */
      setAside: boolean;
      /**
       * Set when the file still looks valid but its refresh token was rejected (invalid_grant): the
       * restore replaces the file only while it still holds that refresh token.
       */
      rejectedRefreshToken?: string | undefined;
    };

export interface SyncPlan {
  mode: Mode;
  outcome: Outcome;
  actions: Action[];
  /** One line per decision, for --dry-run, --json and logs. Never a secret. */
  reasons: string[];
  /** Access-token expiry of the credential Claude will use after the plan (rotating mode), epoch ms. */
  credentialExpiresAt: number | undefined;
  /** Why interactive SSO is required (outcome sso-required): what the shell notice tells the user. */
  ssoCause?: string | undefined;
}

/** Why a backup cannot be restored, or undefined when it can. */
export function backupUnusableReason(
  backup: RotatingCredential,
  now: number,
  policy: SyncPolicy,
): string | undefined {
  if (!isLoggedIn(backup)) return "the backup itself is a logged-out credential";
  // A refresh since the backup was taken spends its refresh token; presenting a spent refresh token
  // can make the server revoke the whole login. Only a backup whose access token is still valid
  // cannot have been refreshed yet (Claude refreshes only near expiry).
  if (backup.expiresAt <= now + policy.restoreMarginMs) {
    return "the backup's access token has expired, so its refresh token may already be spent";
  }
  return undefined;
}

/** Why the cross-host rule forbids restoring this backup here, or undefined when it allows it. */
export function crossHostReason(backupHost: string | undefined, policy: SyncPolicy): string | undefined {
  if ((policy.crossHostRestore ?? "any") === "any" || policy.host === undefined) return undefined;
  // A backup that names no host was written by hand or by an older tool: it is not refused.
  if (backupHost === undefined || backupHost === policy.host) return undefined;
  // Restoring another host's credential makes both hosts spend one refresh-token chain; a server
  // with reuse detection then revokes the login on both (docs/race.md).
  return `the backup was taken on another host (${backupHost})`;
}

function minutes(ms: number): string {
  return `${Math.round(ms / 60_000)} min`;
}

export function plan(document: UserDocument, local: LocalState, now: number, policy: SyncPolicy): SyncPlan {
  const reasons: string[] = [];
  const actions: Action[] = [];

  if (document.setupToken !== undefined) {
    if (local.envFile.kind === "present" && local.envFile.token === document.setupToken) {
      reasons.push("setup-token mode: env file already current");
    } else {
      actions.push({ kind: "write-env-file", setupToken: document.setupToken });
      reasons.push(
        local.envFile.kind === "absent"
          ? "setup-token mode: writing the env file"
          : "setup-token mode: env file differs from Vault, rewriting it",
      );
    }
    const service = local.serviceEnvFile;
    if (service !== undefined && !(service.kind === "present" && service.token === document.setupToken)) {
      actions.push({ kind: "write-service-env-file", setupToken: document.setupToken });
      reasons.push("setup-token mode: updating the copy t3-serve@ loads");
    }
    reasons.push("setup-token mode: rotating credential left alone (no validate, backup or restore)");
    return { mode: "setup-token", outcome: "valid", actions, reasons, credentialExpiresAt: undefined };
  }

  if (local.envFile.kind === "present") {
    actions.push({ kind: "remove-env-file" });
    reasons.push("no setup_token in Vault: removing the env file");
  }
  if (local.serviceEnvFile?.kind === "present") {
    actions.push({ kind: "remove-service-env-file" });
    reasons.push("no setup_token in Vault: removing the copy t3-serve@ loads");
  }

  const credentials = local.credentials;
  // A document holding only other tools' keys (vaultwarden_*) does not enrol anyone: no false alert.
  const hasBackupField = document.backup !== undefined || document.backupProblem !== undefined;
  if (!hasBackupField && credentials.kind === "absent") {
    reasons.push("not enrolled: no credential backup in Vault and no credentials file");
    return {
      mode: "not-enrolled",
      outcome: "not-enrolled",
      actions,
      reasons,
      credentialExpiresAt: undefined,
    };
  }

  const backup = document.backup?.credential;
  if (document.backupProblem) reasons.push(`backup unusable: ${document.backupProblem}`);

  const crossHost = document.backup ? crossHostReason(document.backup.host, policy) : undefined;
  const renewal = local.renewal;

  if (credentials.kind === "valid" && renewal?.kind === "rejected") {
    // The token endpoint refused the local refresh token: Claude cannot refresh it either. Restore a
    // different, still-valid backup (another process or host renewed meanwhile); never write a stub.
    const rejected = renewal.refreshToken;
    const unusable =
      backup === undefined
        ? "no usable backup"
        : backup.refreshToken === rejected
          ? "the backup holds the same rejected refresh token"
          : (backupUnusableReason(backup, now, policy) ?? crossHost);
    if (backup !== undefined && unusable === undefined) {
      actions.push({
        kind: "restore-credential",
        credential: backup,
        keep: credentials.file,
        setAside: false,
        rejectedRefreshToken: rejected,
      });
      reasons.push("the refresh token was rejected (invalid_grant): restoring the newer backup");
      return { mode: "rotating", outcome: "valid", actions, reasons, credentialExpiresAt: backup.expiresAt };
    }
    const ssoCause = `the refresh token was rejected (invalid_grant) and ${unusable}`;
    reasons.push(
      `${ssoCause}: interactive SSO required (claude auth login); the credentials file was left as it was`,
    );
    return {
      mode: "rotating",
      outcome: "sso-required",
      actions,
      reasons,
      credentialExpiresAt: undefined,
      ssoCause,
    };
  }

  if (credentials.kind === "valid") {
    const local = credentials.credential;
    const left = local.expiresAt - now;
    if (policy.renew && renewal === undefined && left <= policy.renew.windowMs) {
      // One refresh, by one process, long before any Claude process would refresh (5 min before
      // expiry): Claude picks the new file up by its mtime and never races for the refresh token.
      actions.push({ kind: "renew-credential", credential: local });
      reasons.push(
        left <= 0
          ? "the access token has expired: renewing it now"
          : `the access token expires in ${minutes(left)} (renewal window ${minutes(policy.renew.windowMs)}): renewing it`,
      );
      return { mode: "rotating", outcome: "valid", actions, reasons, credentialExpiresAt: local.expiresAt };
    }
    if (renewal?.kind === "failed") {
      reasons.push(`renewal failed (${renewal.reason}): the credentials file was left as it was`);
    }
    if (backup === undefined) {
      actions.push({ kind: "backup-credential", credential: local });
      reasons.push(
        document.backupProblem ? "backing up over the unusable backup" : "backing up: no backup yet",
      );
    } else if (sameCredential(local, backup)) {
      reasons.push("backup already current");
    } else if (local.expiresAt >= backup.expiresAt) {
      actions.push({ kind: "backup-credential", credential: local });
      reasons.push("backing up: local credential is newer than the backup");
    } else {
      // Newer backup (another host refreshed): a valid local credential is never overwritten.
      reasons.push("backup is newer than the local credential; local left alone, backup kept");
    }
    return { mode: "rotating", outcome: "valid", actions, reasons, credentialExpiresAt: local.expiresAt };
  }

  const localProblem =
    credentials.kind === "absent"
      ? "no credentials file"
      : credentials.kind === "unreadable"
        ? `credentials file unreadable (${credentials.reason})`
        : "credentials file is logged out";
  const restoredBefore =
    credentials.kind === "logged-out" &&
    document.backup !== undefined &&
    sameBackup(document.backup, local.lastRestore)
      ? "the backup was restored here before and was logged out again (its login was revoked or its refresh token spent)"
      : undefined;
  const unusable =
    backup === undefined
      ? "no usable backup"
      : (backupUnusableReason(backup, now, policy) ?? crossHost ?? restoredBefore);
  if (backup !== undefined && unusable === undefined) {
    actions.push({
      kind: "restore-credential",
      credential: backup,
      keep: credentials.kind === "logged-out" ? credentials.file : undefined,
      setAside: credentials.kind === "unreadable",
    });
    reasons.push(`${localProblem}: restoring the backup`);
    return { mode: "rotating", outcome: "valid", actions, reasons, credentialExpiresAt: backup.expiresAt };
  }
  const ssoCause = `${localProblem} and ${unusable}`;
  reasons.push(`${ssoCause}: interactive SSO required (claude auth login)`);
  return {
    mode: "rotating",
    outcome: "sso-required",
    actions,
    reasons,
    credentialExpiresAt: undefined,
    ssoCause,
  };
}
