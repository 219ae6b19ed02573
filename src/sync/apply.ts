// Performs a SyncPlan: Vault through merge-write, the user's files as the user.
import { hostname } from "node:os";
import { CREDENTIALS_FILE, parseCredentialsFile, withRotatingCredential } from "../claude/credentials.js";
import { ENV_FILE_DIR, ENV_FILE_NAME, formatEnvFile } from "../claude/env-file.js";
import type { Deadline } from "../deadline.js";
import type { UserHome } from "../system/home.js";
import { removeServiceEnvFile, serviceEnvPath, writeServiceEnvFile } from "../system/service-env.js";
import type { VaultClient } from "../vault/client.js";
import { type KvDocument, mergeWrite } from "../vault/kv.js";
import type { Action, SyncPlan } from "./plan.js";
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
}

/** Performs the actions in order; returns one line per action taken (no secrets). */
export async function apply(plan: SyncPlan, context: ApplyContext): Promise<string[]> {
  const done: string[] = [];
  for (const action of plan.actions) done.push(await perform(action, context));
  return done;
}

async function perform(action: Action, context: ApplyContext): Promise<string> {
  const { home, vault } = context;
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
    case "backup-credential": {
      const credential = action.credential;
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
    case "restore-credential": {
      // Re-read under the lock: Claude may have logged in again since the plan was made.
      const now = home.read(context.credentialsDir, CREDENTIALS_FILE);
      const state = now ? parseCredentialsFile(now.text) : { kind: "absent" as const };
      if (state.kind === "valid") return "restore skipped: the credentials file became valid meanwhile";
      let keep = action.keep;
      if (state.kind === "logged-out") keep = state.file;
      let aside: string | undefined;
      if (state.kind === "unreadable")
        aside = home.setAside(context.credentialsDir, CREDENTIALS_FILE, context.now);
      home.write(context.credentialsDir, CREDENTIALS_FILE, withRotatingCredential(keep, action.credential));
      return `restored ${home.path(...context.credentialsDir, CREDENTIALS_FILE)} from the Vault backup${
        aside ? ` (unreadable file kept as ${aside})` : ""
      }`;
    }
  }
}
