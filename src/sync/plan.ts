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
}

export interface SyncPolicy {
  /** A backup is restorable only while its access token stays valid at least this long. */
  restoreMarginMs: number;
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
  | {
      kind: "restore-credential";
      credential: RotatingCredential;
      /** The current file's other keys (mcpOAuth, …), kept; undefined when it was absent or unreadable. */
      keep: Record<string, unknown> | undefined;
      /** The current file is unreadable: move it aside rather than lose it. */
      setAside: boolean;
    };

export interface SyncPlan {
  mode: Mode;
  outcome: Outcome;
  actions: Action[];
  /** One line per decision, for --dry-run, --json and logs. Never a secret. */
  reasons: string[];
  /** Access-token expiry of the credential Claude will use after the plan (rotating mode), epoch ms. */
  credentialExpiresAt: number | undefined;
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

  if (credentials.kind === "valid") {
    const local = credentials.credential;
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
  const unusable = backup === undefined ? "no usable backup" : backupUnusableReason(backup, now, policy);
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
  reasons.push(`${localProblem} and ${unusable}: interactive SSO required (claude auth login)`);
  return { mode: "rotating", outcome: "sso-required", actions, reasons, credentialExpiresAt: undefined };
}
