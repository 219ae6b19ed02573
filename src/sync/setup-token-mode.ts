// Turning setup-token mode on, replacing its token, or turning it off: one merge-write of the user's
// document (setup_token and setup_token_updated_at only; every other key kept), then a local sync so
// the env file follows at once, then a restart of t3-serve@<user> so the service follows too.
import { join } from "node:path";
import { ENV_FILE_DIR, ENV_FILE_NAME } from "../claude/env-file.js";
import { tokenHint } from "../claude/setup-token.js";
import { type Config, documentPath } from "../config.js";
import { Deadline } from "../deadline.js";
import { AuthSyncError, ExitCode } from "../errors.js";
import { serviceEnvPath } from "../system/service-env.js";
import { type RestartOutcome, restartT3Serve } from "../system/t3-serve.js";
import { isRoot, type SystemUser } from "../system/users.js";
import { revokeSpentTokens } from "../vault/auth.js";
import { type Identity, speakAs } from "../vault/identity.js";
import { type DocumentChange, type KvDocument, mergeWrite, readDocument } from "../vault/kv.js";
import { connect, runSync, type SyncResult } from "./run.js";
import { FIELD, setupTokenChange } from "./user-document.js";

export type SetupTokenIntent = "enable" | "rotate" | "disable";

/** What the document holds under `setup_token`: its hint when it is a token, else whether anything is there. */
export interface StoredToken {
  present: boolean;
  value: string | undefined;
}

export function storedToken(document: KvDocument): StoredToken {
  const raw = document.state === "live" ? document.data[FIELD.setupToken] : undefined;
  const present = raw !== undefined && raw !== null && raw !== "";
  return { present, value: typeof raw === "string" && present ? raw : undefined };
}

/**
 * The change to the document for one attempt of the merge-write (it runs again on every CAS retry,
 * against what another writer just stored). Pure. null: the document already says what we want.
 * A malformed stored token is replaced by enable/rotate and removed by disable, never kept.
 */
export function setupTokenDecision(
  intent: SetupTokenIntent,
  stored: StoredToken,
  token: string | undefined,
  now: Date,
): DocumentChange | null {
  if (intent === "disable") return stored.present ? setupTokenChange(undefined, now) : null;
  if (token === undefined) throw new Error(`${intent} needs a token`);
  if (intent === "rotate") {
    if (!stored.present) {
      throw new AuthSyncError(
        "there is no setup token to rotate: setup-token mode is not on",
        ExitCode.error,
        { hint: "turn it on with `claude-auth enable`" },
      );
    }
    if (stored.value === token) {
      throw new AuthSyncError("this is the setup token already stored: nothing to rotate", ExitCode.error, {
        hint: "create a new one with `claude setup-token`, then run `claude-auth rotate` again",
      });
    }
  }
  if (stored.value === token) return null;
  return setupTokenChange(token, now);
}

export interface SetupTokenRequest {
  intent: SetupTokenIntent;
  user: SystemUser;
  config: Config;
  /** Already validated with parseSetupToken (enable, rotate); undefined for disable. */
  token: string | undefined;
  /** CLAUDE_AUTH_SYNC_IDENTITY=host: the home whose ~/.vault-token speaks for us (root's, or the user's own). */
  identityHome: string;
  /** Whose token reads and writes the document (src/vault/identity.ts). */
  identity: Identity;
  /** $CLAUDE_CONFIG_DIR, honoured only when the user acts for themselves. */
  claudeConfigDir?: string | undefined;
  now?: Date;
}

export interface SetupTokenOutcome {
  intent: SetupTokenIntent;
  user: string;
  /** `<mount>/<path>` of the user's document. */
  document: string;
  /** Whether the document was written (false: it already said this). */
  written: boolean;
  version: number;
  /** Hints only (`sk-ant-oat01-…abcd`), never a token. */
  previousHint: string | undefined;
  tokenHint: string | undefined;
  envFile: string;
  /** Root's copy that t3-serve@<user> loads (src/system/service-env.ts). */
  serviceEnvFile: string;
  /**
   * disable as the user: root's copy cannot be removed by them, so it stays until the next run as
   * root (login, timer, t3-serve@ start). False when this run was root's or nothing changed.
   */
  serviceEnvFileLeft: boolean;
  /** The local sync that followed the write. */
  sync: SyncResult;
  /** Undefined when nothing changed, so nothing needs restarting. */
  restart: RestartOutcome | undefined;
}

/**
 * rotate's refusals (no token stored yet, the token already stored) from one read of the document,
 * so they come before the live check spends an API call. The merge-write decides again on what it reads.
 */
export async function refuseUselessRotate(request: SetupTokenRequest): Promise<void> {
  const { config, user, token } = request;
  const client = connect(config, new Deadline(config.timeoutMs));
  try {
    await speakAs(client, config, request.identity, {
      identityHome: request.identityHome,
      loginName: user.name,
    });
    const document = await readDocument(client, config.kvMount, documentPath(config, user.name));
    setupTokenDecision("rotate", storedToken(document), token, request.now ?? new Date());
  } finally {
    await revokeSpentTokens(client);
    client.close();
  }
}

/** Writes the document, syncs locally, restarts t3-serve. Throws (nothing written) when Vault refuses. */
export async function changeSetupToken(request: SetupTokenRequest): Promise<SetupTokenOutcome> {
  const { intent, user, config, token } = request;
  const now = request.now ?? new Date();
  const path = documentPath(config, user.name);
  const client = connect(config, new Deadline(config.timeoutMs));
  let previous: StoredToken = { present: false, value: undefined };
  let written: boolean;
  let version: number;
  try {
    await speakAs(client, config, request.identity, {
      identityHome: request.identityHome,
      loginName: user.name,
    });
    ({ written, version } = await mergeWrite(
      client,
      config.kvMount,
      path,
      (current) => {
        previous = storedToken(current);
        return setupTokenDecision(intent, previous, token, now);
      },
      { deadline: new Deadline(config.timeoutMs) },
    ));
  } finally {
    await revokeSpentTokens(client);
    client.close();
  }
  const sync = await runSync({
    user,
    config,
    dryRun: false,
    identityHome: request.identityHome,
    identity: request.identity,
    claudeConfigDir: request.claudeConfigDir,
    now,
  });
  const localChange = sync.applied.length > 0;
  const restart = written || localChange ? await restartT3Serve(user.name, isRoot()) : undefined;
  return {
    intent,
    user: user.name,
    document: `${config.kvMount}/${path}`,
    written,
    version,
    previousHint: previous.value?.startsWith("sk-ant-oat01-") ? tokenHint(previous.value) : undefined,
    tokenHint: token === undefined ? undefined : tokenHint(token),
    envFile: join(user.home, ...ENV_FILE_DIR, ENV_FILE_NAME),
    serviceEnvFile: serviceEnvPath(user.name, config.serviceEnvDir),
    serviceEnvFileLeft: intent === "disable" && written && !isRoot(),
    sync,
    restart,
  };
}
