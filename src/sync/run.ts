// One sync pass for one user: lock, read Vault and the local files, plan, apply, report.
import { readFileSync } from "node:fs";
import { hostname } from "node:os";
import { isAbsolute, relative, sep } from "node:path";
import { alertsFor, pushAlerts } from "../alert/alertmanager.js";
import {
  renderMetrics,
  SETUP_TOKEN_LIFETIME_MS,
  type SyncReport,
  writeMetricsFile,
} from "../alert/metrics.js";
import {
  CREDENTIALS_DIR,
  CREDENTIALS_FILE,
  type CredentialsFileState,
  parseCredentialsFile,
  type RotatingCredential,
} from "../claude/credentials.js";
import { ENV_FILE_DIR, ENV_FILE_NAME, parseEnvFile } from "../claude/env-file.js";
import { type Config, documentPath } from "../config.js";
import { Deadline } from "../deadline.js";
import { AuthSyncError, ExitCode, exitCodeOf, formatError, InvalidDataError } from "../errors.js";
import { UserHome } from "../system/home.js";
import { acquireUserLock, type UserLock } from "../system/lock.js";
import { readServiceEnvFile } from "../system/service-env.js";
import { isRoot, type SystemUser } from "../system/users.js";
import { revokeSpentTokens } from "../vault/auth.js";
import { VaultClient } from "../vault/client.js";
import {
  chooseIdentity,
  explainRefusal,
  type Identity,
  IdentityExpiredError,
  type IdentityLife,
  identityExpiryMetric,
  identityNotice,
  keepIdentityAlive,
  readEnrolledToken,
  speakAs,
  unenrolledResult,
} from "../vault/identity.js";
import { readDocument } from "../vault/kv.js";
import { apply } from "./apply.js";
import {
  type LocalState,
  type Outcome,
  plan,
  type RestoredBackup,
  type SyncPlan,
  type SyncPolicy,
} from "./plan.js";
import {
  NOTICE_FILE,
  readSyncState,
  STATE_DIR,
  STATE_FILE,
  type SyncState,
  ssoNotice,
  writeSyncState,
} from "./state.js";
import { parseUserDocument, type UserDocument } from "./user-document.js";
import {
  credentialToVerify,
  fingerprint,
  invalidNotice,
  knownInvalid,
  readVerification,
  type Verification,
  verifyCredential,
} from "./verify.js";

export interface SyncRequest {
  user: SystemUser;
  config: Config;
  dryRun: boolean;
  /** Whose token to use, when the caller already knows (enable after enrolling); else read from the home. */
  identity?: Identity | undefined;
  /** CLAUDE_AUTH_SYNC_IDENTITY=host: the home whose ~/.vault-token speaks for us (root's, or the user's own). */
  identityHome: string;
  /** $CLAUDE_CONFIG_DIR, honoured only when the user runs the sync themselves. */
  claudeConfigDir?: string | undefined;
  /** Renew the Vault token (the user's, or the host's) when its TTL runs low (timer and manual runs; not the login path). */
  renewToken?: boolean;
  /**
   * Renew Claude's credential near expiry (CLAUDE_AUTH_SYNC_RENEW): `sync` and `watch` only. The
   * login path never does: a login must stay fast and bounded, and the timer or watch renews anyway.
   */
  renewCredential?: boolean;
  /**
   * Check the credential in use live against the API when due (CLAUDE_AUTH_SYNC_VERIFY_INTERVAL_S),
   * and push alerts to Alertmanager when configured: timer runs only, never the login path.
   */
  verify?: boolean;
  now?: Date;
  /** Override the Vault CA bundle (tests). */
  ca?: Buffer;
}

export interface SyncResult {
  user: string;
  exitCode: number;
  plan: SyncPlan | undefined;
  applied: string[];
  /** Human-readable outcome, one line, no secret. */
  message: string;
  vaultRequests: number;
  durationMs: number;
  dryRun: boolean;
  /** What went wrong beside the sync and did not change its outcome (e.g. a refused metrics directory). */
  warnings?: string[];
}

export function exitCodeFor(outcome: Outcome): number {
  return outcome === "sso-required" ? ExitCode.ssoRequired : ExitCode.ok;
}

/** The credentials directory relative to the home; $CLAUDE_CONFIG_DIR outside the home is not ours to touch. */
export function credentialsDirectory(user: SystemUser, claudeConfigDir: string | undefined): string[] {
  if (claudeConfigDir && isAbsolute(claudeConfigDir)) {
    const inside = relative(user.home, claudeConfigDir);
    if (inside !== "" && !inside.startsWith("..") && !isAbsolute(inside)) return inside.split(sep);
    if (inside === "") return [];
  }
  return [CREDENTIALS_DIR];
}

export function readLocalState(
  home: UserHome,
  credentialsDir: readonly string[],
  serviceEnvDir: string | undefined,
): LocalState {
  return readHome(home, credentialsDir, serviceEnvDir, {
    withVerification: false,
    sweep: false,
    withToken: false,
  }).local;
}

/** What the first read of a pass found in the home. */
interface HomeRead {
  local: LocalState;
  verification: Verification | undefined;
  /** Our own bookkeeping as found: report() rewrites it only when something changed. */
  seen: Seen;
  /** The user's enrolled Vault token (`user` mode), read in the same identity switch. */
  enrolledToken: string | undefined;
}

interface Seen {
  state: SyncState | undefined;
  notice: string | undefined;
}

function readNotice(home: UserHome): string | undefined {
  try {
    return home.read(STATE_DIR, NOTICE_FILE)?.text;
  } catch {
    return undefined; // something odd in its place: the report replaces or removes it
  }
}

/**
 * The local files a pass decides on, its own state and notice, and with `withVerification` the last
 * verification verdict too: all read in one identity switch (each switch signals every thread).
 * `sweep`: a sync pass also clears what a killed run left in our directory, since a steady pass
 * writes nothing (and so never sweeps as a write does); read-only callers such as `status` do not.
 */
function readHome(
  home: UserHome,
  credentialsDir: readonly string[],
  serviceEnvDir: string | undefined,
  options: { withVerification: boolean; sweep: boolean; withToken: boolean },
): HomeRead {
  const { withVerification } = options;
  const fromHome = home.batch(() => {
    if (options.sweep) home.sweepTemps(STATE_DIR);
    let envFile: LocalState["envFile"];
    try {
      const env = home.read(ENV_FILE_DIR, ENV_FILE_NAME);
      envFile = env ? { kind: "present", token: parseEnvFile(env.text) } : { kind: "absent" };
    } catch (error) {
      // Something planted where our file belongs (a link, a FIFO): not ours to read, ours to replace.
      if (!(error instanceof InvalidDataError)) throw error;
      envFile = { kind: "present", token: null };
    }
    const credentials = home.read(credentialsDir, CREDENTIALS_FILE);
    return {
      envFile,
      credentials: credentials ? parseCredentialsFile(credentials.text) : { kind: "absent" as const },
      verification: withVerification ? readVerification(home) : undefined,
      state: readSyncState(home),
      notice: readNotice(home),
      enrolledToken: options.withToken ? readEnrolledToken(home) : undefined,
    };
  });
  const { verification, state, notice, enrolledToken, ...files } = fromHome;
  return {
    enrolledToken,
    seen: { state, notice },
    local: {
      ...files,
      ...(state?.lastRestore ? { lastRestore: state.lastRestore } : {}),
      // Root's own directory: read as root, outside the user's identity.
      serviceEnvFile: isRoot() ? readServiceEnvFile(home.user.name, serviceEnvDir) : undefined,
    },
    verification,
  };
}

function readCa(config: Config): Buffer | undefined {
  if (!config.vaultCaCert) return undefined;
  try {
    return readFileSync(config.vaultCaCert);
  } catch (error) {
    throw new InvalidDataError(
      "VAULT_CACERT",
      `cannot read ${config.vaultCaCert}: ${(error as NodeJS.ErrnoException).code}`,
    );
  }
}

export function connect(config: Config, deadline: Deadline, ca?: Buffer): VaultClient {
  if (config.vaultAddrs.length === 0) {
    throw new InvalidDataError("VAULT_ADDR", "is not set", `set it in ${config.source.path}`);
  }
  return new VaultClient({
    addrs: config.vaultAddrs,
    namespace: config.vaultNamespace,
    ca: ca ?? readCa(config),
    deadline,
  });
}

export async function runSync(request: SyncRequest): Promise<SyncResult> {
  const started = Date.now();
  const now = request.now ?? new Date();
  const { user, config } = request;
  const deadline = new Deadline(config.timeoutMs);
  const home = new UserHome(user);
  const credentialsDir = credentialsDirectory(user, request.claudeConfigDir);
  let client: VaultClient | undefined;
  let lock: UserLock | undefined;
  let syncPlan: SyncPlan | undefined;
  let applied: string[] = [];
  let exitCode: number = ExitCode.ok;
  let message: string;
  let local: LocalState | undefined;
  let document: UserDocument | undefined;
  let storedVerification: Verification | undefined;
  let seen: Seen | undefined;
  let restored: RotatingCredential | undefined;
  let identity = chooseIdentity(config, undefined);
  let identityLife: IdentityLife | undefined;
  try {
    client = connect(config, deadline, request.ca);
    // The home first: in `user` mode it holds the token, and an unenrolled user costs no Vault request.
    let enrolledToken: string | undefined;
    ({
      local,
      verification: storedVerification,
      seen,
      enrolledToken,
    } = readHome(home, credentialsDir, config.serviceEnvDir, {
      withVerification: !request.verify,
      sweep: !request.dryRun, // a dry run changes nothing
      withToken: config.identity === "user" && !request.identity,
    }));
    identity = request.identity ?? chooseIdentity(config, enrolledToken);
    if (identity.kind === "unenrolled") {
      return { ...unenrolledResult(user.name, request.dryRun), durationMs: Date.now() - started };
    }
    await speakAs(client, config, identity, { identityHome: request.identityHome, loginName: user.name });
    const path = documentPath(config, user.name);
    const policy: SyncPolicy = {
      restoreMarginMs: config.restoreMarginMs,
      renew: request.renewCredential && config.renew ? { windowMs: config.renewWindowMs } : undefined,
      host: hostname(),
      crossHostRestore: config.crossHostRestore,
    };
    let current = await readDocument(client, config.kvMount, path);
    syncPlan = plan(parseUserDocument(current), local, now.getTime(), policy);
    // Steady state takes no lock and writes nothing. Changes are decided again under the lock, on a
    // fresh read, so a login, the timer and enable/disable never act on each other's stale view.
    if (!request.dryRun && syncPlan.actions.length > 0) {
      lock = await acquireUserLock(home, deadline);
      current = await readDocument(client, config.kvMount, path);
      local = readLocalState(home, credentialsDir, config.serviceEnvDir);
      syncPlan = plan(parseUserDocument(current), local, now.getTime(), policy);
      const context = {
        home,
        credentialsDir,
        vault: { client, mount: config.kvMount, path, current },
        deadline,
        now,
        serviceEnvDir: config.serviceEnvDir,
        tokenUrl: config.oauthTokenUrl,
      };
      const done = await apply(syncPlan, context);
      applied = done.lines;
      restored = done.restored;
      if (done.renewal) {
        // The renewal did not happen (refused or failed): decide again knowing it, still under the
        // lock. A refused refresh token leads to a newer backup or to the SSO outcome, never a stub.
        local = { ...readLocalState(home, credentialsDir, config.serviceEnvDir), renewal: done.renewal };
        syncPlan = plan(parseUserDocument(current), local, now.getTime(), policy);
        const again = await apply(syncPlan, context);
        applied.push(...again.lines);
        restored = again.restored ?? restored;
      } else if (done.renewedExpiresAt !== undefined) {
        syncPlan = { ...syncPlan, credentialExpiresAt: done.renewedExpiresAt };
      }
    }
    if (!request.dryRun && request.renewToken && deadline.remainingMs() > 500) {
      // Best effort: the sync stands; the next run tries again.
      identityLife = await keepIdentityAlive(client, config, identity, now.getTime()).catch(() => undefined);
    }
    document = parseUserDocument(current);
    exitCode = exitCodeFor(syncPlan.outcome);
    message = syncPlan.reasons.join("; ");
  } catch (thrown) {
    const error = explainRefusal(thrown, identity, user.name);
    if (error instanceof IdentityExpiredError) identityLife = { valid: false, expiresAt: 0 };
    exitCode = exitCodeOf(error);
    message = formatError(error);
    if (!(error instanceof AuthSyncError)) message = `unexpected failure: ${message}`;
  } finally {
    if (client) await revokeSpentTokens(client);
    client?.close();
  }
  const result: SyncResult = {
    user: user.name,
    exitCode,
    plan: syncPlan,
    applied,
    message,
    vaultRequests: client?.requestCount ?? 0,
    durationMs: Date.now() - started,
    dryRun: request.dryRun,
    ...(client?.warnings.length ? { warnings: [...client.warnings] } : {}),
  };
  if (!request.dryRun) {
    try {
      // Nothing applied: the files are still as first read, and so is the verdict.
      const unchanged =
        applied.length === 0 && !lock && local ? { local, verification: storedVerification } : undefined;
      const verification = await verifyAfterSync(request, home, credentialsDir, syncPlan, now, unchanged);
      const lastRestore = restored && {
        expiresAt: restored.expiresAt,
        backedUpAt: document?.backup?.backedUpAt,
      };
      const reported = report(request, home, result, local, now, {
        document,
        lastRestore,
        identityLife,
        seen: unchanged ? seen : undefined,
        ...verification,
      });
      if (request.verify && config.alertmanagerUrl && reported) {
        const pushed = await pushAlerts(
          config.alertmanagerUrl,
          alertsFor({
            user: user.name,
            invalid: !reported.valid,
            setupTokenExpiresAt: reported.setupTokenExpiresAt,
            now,
          }),
          config.timeoutMs,
        );
        if (!pushed.startsWith("pushed")) result.message += `; ${pushed}`;
      }
    } finally {
      lock?.release();
    }
  }
  return result;
}

interface VerificationFacts {
  last: Verification | undefined;
  /** Fingerprint of the credential Claude uses after this run, if it has one. */
  current: string | undefined;
}

/** After the sync: verify the credential in use when due (timer runs), and say which one it is. */
async function verifyAfterSync(
  request: SyncRequest,
  home: UserHome,
  credentialsDir: readonly string[],
  syncPlan: SyncPlan | undefined,
  now: Date,
  /** What the first read found, when nothing has changed since (the steady state). */
  unchanged: { local: LocalState; verification: Verification | undefined } | undefined,
): Promise<VerificationFacts> {
  if (!syncPlan || syncPlan.mode === "not-enrolled") return { last: undefined, current: undefined };
  try {
    // Without a verdict on file and no verification asked for (the login path), there is nothing to judge.
    const stored = request.verify
      ? undefined
      : unchanged
        ? unchanged.verification
        : home.batch(() => readVerification(home));
    if (!request.verify && stored === undefined) return { last: undefined, current: undefined };
    const after = unchanged?.local ?? readLocalState(home, credentialsDir, request.config.serviceEnvDir);
    const target = credentialToVerify(after.envFile, after.credentials, now.getTime());
    const current = "secret" in target ? fingerprint(target.secret) : undefined;
    if (request.verify && current !== undefined) {
      const outcome = await verifyCredential(home, after.envFile, after.credentials, {
        baseUrl: request.config.anthropicBaseUrl,
        timeoutMs: request.config.timeoutMs,
        now,
        policy: { intervalMs: request.config.verifyIntervalMs, retryMs: request.config.verifyIntervalMs / 4 },
      });
      return { last: outcome.ran ? outcome.verification : outcome.last, current };
    }
    return { last: stored, current };
  } catch {
    return { last: undefined, current: undefined }; // verification never fails a sync
  }
}

/** The credential's state as far as the local files tell, when Vault could not be asked. */
function locallyValid(local: LocalState | undefined, fallback: CredentialsFileState | undefined): boolean {
  if (local?.envFile.kind === "present" && local.envFile.token) return true;
  const kind = (local?.credentials ?? fallback)?.kind;
  return kind !== "logged-out" && kind !== "unreadable";
}

/** State file, shell notice and metrics. Failures here never change the run's exit code. */
function report(
  request: SyncRequest,
  home: UserHome,
  result: SyncResult,
  local: LocalState | undefined,
  now: Date,
  facts: VerificationFacts & {
    document: UserDocument | undefined;
    lastRestore: RestoredBackup | undefined;
    /** The state and notice as this run first read them, when nothing has touched them since. */
    seen: Seen | undefined;
    /** What this run learnt of the user's own Vault token, if anything. */
    identityLife: IdentityLife | undefined;
  },
): { valid: boolean; setupTokenExpiresAt: number | undefined } | undefined {
  const syncPlan = result.plan;
  const succeeded = result.exitCode === ExitCode.ok || result.exitCode === ExitCode.ssoRequired;
  // The API rejecting the very credential Claude uses now is as bad as having none.
  const rejected = knownInvalid(facts.last, facts.current);
  const valid =
    (syncPlan ? syncPlan.outcome !== "sso-required" : locallyValid(local, safeLocal(home, request))) &&
    !rejected;
  const storedAt = syncPlan?.mode === "setup-token" ? facts.document?.setupTokenUpdatedAt : undefined;
  const setupTokenUpdatedAt = storedAt ? new Date(storedAt) : undefined;
  try {
    // A user who is not enrolled gets nothing in their home, not even a state file; a failed run
    // records itself only where a state file already exists: it never creates files.
    const notice =
      facts.identityLife?.valid === false
        ? `${identityNotice()}\n`
        : syncPlan?.outcome === "sso-required"
          ? `${ssoNotice(syncPlan.ssoCause)}\n`
          : rejected && facts.last
            ? `${invalidNotice(facts.last.credential)}\n`
            : undefined;
    const nextState = (previous: SyncState | undefined): SyncState => ({
      lastRunAt: now.toISOString(),
      lastSuccessAt: succeeded ? now.toISOString() : previous?.lastSuccessAt,
      exitCode: result.exitCode,
      mode: syncPlan?.mode ?? previous?.mode,
      outcome: syncPlan?.outcome,
      message: result.message.split("\n")[0] ?? "",
      host: hostname(),
      lastRestore: facts.lastRestore ?? previous?.lastRestore,
      identity: facts.identityLife
        ? {
            valid: facts.identityLife.valid,
            expiresAt: facts.identityLife.expiresAt,
            checkedAt: now.toISOString(),
          }
        : previous?.identity,
    });
    let previous: SyncState | undefined;
    const seen = facts.seen;
    if (syncPlan && seen && syncPlan.mode !== "not-enrolled") {
      // The steady state: rewrite the state file only when it says something new (or has not been
      // refreshed for STATE_REFRESH_MS), and the notice only when it changes, so that a login with
      // nothing to do writes nothing in the home and switches identity once, not twice.
      previous = seen.state;
      const next = nextState(previous);
      const stateDue = !previous || stateChanged(previous, next, now.getTime());
      const noticeDue = notice !== undefined ? seen.notice !== notice : seen.notice !== undefined;
      if (stateDue || noticeDue) {
        home.batch(() => {
          if (stateDue) writeSyncState(home, next);
          if (noticeDue && notice !== undefined) home.write(STATE_DIR, NOTICE_FILE, notice, 0o600);
          else if (noticeDue) home.remove(STATE_DIR, NOTICE_FILE);
        });
      }
    } else if (syncPlan?.mode === "not-enrolled") {
      // Nothing of ours in the home, and nothing to put there: no identity switch either.
      previous = undefined;
    } else {
      previous = home.batch(() => {
        const enrolled = syncPlan
          ? syncPlan.mode !== "not-enrolled"
          : home.read(STATE_DIR, STATE_FILE) !== undefined;
        const previous = enrolled ? readSyncState(home) : undefined;
        if (enrolled) writeSyncState(home, nextState(previous));
        if (notice !== undefined) home.write(STATE_DIR, NOTICE_FILE, notice, 0o600);
        else if (syncPlan && enrolled) home.remove(STATE_DIR, NOTICE_FILE);
        return previous;
      });
    }
    const lastSuccessAt = succeeded ? now.toISOString() : previous?.lastSuccessAt;
    if (request.config.metricsDir) {
      const metrics: SyncReport = {
        user: result.user,
        mode: syncPlan?.mode ?? previous?.mode ?? "not-enrolled",
        valid,
        exitCode: result.exitCode,
        runAt: now,
        succeeded,
        credentialExpiresAt: syncPlan?.credentialExpiresAt,
        setupTokenUpdatedAt,
        identityExpiresAt: identityExpiryMetric(facts.identityLife ?? previous?.identity),
        verification:
          facts.last && facts.last.fingerprint === facts.current
            ? { at: new Date(facts.last.at), verdict: facts.last.verdict }
            : undefined,
      };
      try {
        writeMetricsFile(
          request.config.metricsDir,
          result.user,
          renderMetrics(metrics, lastSuccessAt ? new Date(lastSuccessAt) : undefined),
        );
      } catch (error) {
        // Metrics are secondary: the sync stands, and the refusal is said where admins look.
        result.warnings = [...(result.warnings ?? []), formatError(error)];
      }
    }
  } catch (error) {
    result.message += `; reporting failed: ${formatError(error)}`;
  }
  const expiresAt = setupTokenUpdatedAt?.getTime();
  return {
    valid,
    setupTokenExpiresAt:
      expiresAt !== undefined && Number.isFinite(expiresAt) ? expiresAt + SETUP_TOKEN_LIFETIME_MS : undefined,
  };
}

/** A steady state file is refreshed at least this often, so `status` shows a recent last run. */
export const STATE_REFRESH_MS = 3600_000;

/** Whether `next` says anything `previous` does not, or `previous` is due for a refresh. */
function stateChanged(previous: SyncState, next: SyncState, now: number): boolean {
  const last = Date.parse(previous.lastRunAt);
  if (!Number.isFinite(last) || now - last >= STATE_REFRESH_MS || now < last) return true;
  if ((previous.lastSuccessAt === undefined) !== (next.lastSuccessAt === undefined)) return true;
  return (
    previous.exitCode !== next.exitCode ||
    previous.mode !== next.mode ||
    previous.outcome !== next.outcome ||
    previous.message !== next.message ||
    previous.host !== next.host ||
    previous.lastRestore?.expiresAt !== next.lastRestore?.expiresAt ||
    previous.lastRestore?.backedUpAt !== next.lastRestore?.backedUpAt ||
    previous.identity?.valid !== next.identity?.valid ||
    previous.identity?.expiresAt !== next.identity?.expiresAt
  );
}

function safeLocal(home: UserHome, request: SyncRequest): CredentialsFileState | undefined {
  try {
    const file = home.read(credentialsDirectory(home.user, request.claudeConfigDir), CREDENTIALS_FILE);
    return file ? parseCredentialsFile(file.text) : { kind: "absent" };
  } catch {
    return undefined;
  }
}
