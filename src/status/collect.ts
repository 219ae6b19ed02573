// `claude-auth status` as data: the local files, the last sync, and what Vault says, gathered within the
// run's time budget. Nothing here is a secret: tokens appear only as `tokenHint`, never whole.
import { lstatSync } from "node:fs";
import { hostname } from "node:os";
import { tokenHint } from "../claude/setup-token.js";
import { type Config, DEFAULT_CROSS_HOST_RESTORE, documentPath } from "../config.js";
import { Deadline } from "../deadline.js";
import {
  AuthSyncError,
  ExitCode,
  exitCodeOf,
  formatError,
  InvalidDataError,
  VaultDeniedError,
} from "../errors.js";
import { backupUnusableReason, crossHostReason, type Mode, type Outcome, plan } from "../sync/plan.js";
import { connect, credentialsDirectory } from "../sync/run.js";
import { NOTICE_FILE, readSyncState, STATE_DIR } from "../sync/state.js";
import { FIELD, parseUserDocument, type UserDocument } from "../sync/user-document.js";
import { UserHome } from "../system/home.js";
import { readServiceEnvFile, serviceEnvPath } from "../system/service-env.js";
import type { SystemUser } from "../system/users.js";
import { lookupSelf } from "../vault/auth.js";
import type { VaultClient } from "../vault/client.js";
import { explainRefusal, type Identity, identityOf, notEnrolledMessage, speakAs } from "../vault/identity.js";
import { type KvDocument, readDocument } from "../vault/kv.js";
import {
  type EnvFileFacts,
  inspectCredentialsFile,
  inspectEnvFile,
  inspectHomeDirectory,
  inspectHomeFile,
  octal,
  ownerName,
} from "./local-files.js";
import { type SetupTokenAge, setupTokenAge } from "./setup-token-age.js";

export interface StatusRequest {
  user: SystemUser;
  /** undefined when the configuration could not be loaded; `configError` says why. */
  config: Config | undefined;
  configPath: string;
  configError: AuthSyncError | undefined;
  /** Home whose ~/.vault-token speaks for us (root's for the host identity). */
  identityHome: string;
  claudeConfigDir: string | undefined;
  /** Root sees the root-owned copy t3-serve@ loads. */
  asRoot: boolean;
  /** Where that copy lives when the configuration could not be loaded. */
  fallbackServiceEnvDir: string;
  now: Date;
}

/** The JSON shape of `claude-auth status --json`; field names are stable. */
export interface StatusReport {
  user: string;
  uid: number;
  checkedAt: string;
  mode: Mode;
  /** Where the mode comes from: the Vault document, or the local files when Vault could not be asked. */
  modeSource: "vault" | "local-files";
  /** What a sync would conclude now (null when Vault could not be asked). */
  outcome: Outcome | null;
  /** What a sync run now would change, one line each (empty when nothing). */
  pendingChanges: string[];
  config: { path: string; loaded: boolean; error: string | null };
  envFile: {
    path: string;
    state: EnvFileFacts["state"];
    mode: string | null;
    owner: string | null;
    directoryMode: string | null;
    tokenHint: string | null;
    /** Whether it holds the token in Vault (null when unknown). */
    matchesVault: boolean | null;
    problem: string | null;
  };
  /** The root-owned copy t3-serve@ loads; null unless run as root. */
  serviceEnvFile: {
    path: string;
    state: "absent" | "present" | "malformed";
    mode: string | null;
    owner: string | null;
    matchesEnvFile: boolean | null;
  } | null;
  credentials: {
    path: string;
    state: "valid" | "logged-out" | "unreadable" | "absent";
    mode: string | null;
    owner: string | null;
    accessTokenExpiresAt: string | null;
    accessTokenExpired: boolean | null;
    problem: string | null;
  };
  /** null when Vault could not be asked. */
  setupToken:
    | (Partial<SetupTokenAge> & {
        present: boolean;
        tokenHint: string | null;
      })
    | null;
  /** null when Vault could not be asked. */
  backup: {
    present: boolean;
    usable: boolean;
    problem: string | null;
    backedUpAt: string | null;
    host: string | null;
    accessTokenExpiresAt: string | null;
  } | null;
  lastSync: {
    at: string;
    exitCode: number;
    outcome: string | null;
    mode: string | null;
    message: string;
    lastSuccessAt: string | null;
    host: string | null;
  } | null;
  notice: string | null;
  vault: {
    address: string | null;
    reachable: boolean;
    authenticated: boolean;
    /** Where the Vault token came from (a file path or VAULT_TOKEN), never the token. */
    tokenSource: string | null;
    identity: { displayName: string; policies: string[]; ttlSeconds: number; renewable: boolean } | null;
    /** CLAUDE_AUTH_SYNC_IDENTITY and, in `user` mode, the user's own token (never the token itself). */
    identityMode: "user" | "host";
    /** `user` mode: whether a token is enrolled; null in `host` mode. */
    enrolled: boolean | null;
    /** `user` mode: when the enrolled token expires (null: never, or not known); periodic ones are renewed. */
    identityExpiresAt: string | null;
    identityPeriodSeconds: number | null;
    documentPath: string | null;
    documentVersion: number | null;
    error: string | null;
  };
  /** Things the user should act on, one line each. */
  warnings: string[];
  exitCode: number;
}

function iso(ms: number | undefined): string | null {
  return ms === undefined ? null : new Date(ms).toISOString();
}

interface VaultFacts {
  report: StatusReport["vault"];
  document: KvDocument | undefined;
  parsed: UserDocument | undefined;
  documentProblem: string | undefined;
  failure: AuthSyncError | Error | undefined;
}

async function askVault(request: StatusRequest, config: Config): Promise<VaultFacts> {
  const path = `${config.kvMount}/data/${documentPath(config, request.user.name)}`;
  const report: StatusReport["vault"] = {
    address: config.vaultAddrs.length ? config.vaultAddrs.map((a) => a.origin).join(",") : null,
    reachable: false,
    authenticated: false,
    tokenSource: null,
    identity: null,
    identityMode: config.identity,
    enrolled: null,
    identityExpiresAt: null,
    identityPeriodSeconds: null,
    documentPath: path,
    documentVersion: null,
    error: null,
  };
  let client: VaultClient | undefined;
  let document: KvDocument | undefined;
  let identity: Identity = { kind: "host" };
  try {
    identity = identityOf(config, new UserHome(request.user));
    if (config.identity === "user") report.enrolled = identity.kind === "user";
    if (identity.kind === "unenrolled") throw new VaultDeniedError(notEnrolledMessage(request.user.name));
    client = connect(config, new Deadline(config.timeoutMs));
    report.tokenSource = await speakAs(client, config, identity, {
      identityHome: request.identityHome,
      loginName: request.user.name,
    });
    try {
      const info = await lookupSelf(client);
      if (identity.kind === "user") {
        report.identityExpiresAt =
          info.ttlSeconds > 0 ? iso(request.now.getTime() + info.ttlSeconds * 1000) : null;
        report.identityPeriodSeconds = info.periodSeconds || null;
      }
      report.reachable = true;
      report.identity = {
        displayName: info.displayName,
        policies: info.policies,
        ttlSeconds: info.ttlSeconds,
        renewable: info.renewable,
      };
    } catch (error) {
      // A token without lookup-self (no default policy) may still read its document.
      if (exitCodeOf(error) !== ExitCode.vaultDenied && exitCodeOf(error) !== ExitCode.error) throw error;
    }
    document = await readDocument(client, config.kvMount, documentPath(config, request.user.name));
    report.reachable = true;
    report.authenticated = true;
    report.documentVersion = document.version;
  } catch (thrown) {
    const error = explainRefusal(thrown, identity, request.user.name);
    if (exitCodeOf(error) === ExitCode.vaultDenied && identity.kind !== "unenrolled") report.reachable = true;
    report.error = formatError(error);
    return {
      report,
      document: undefined,
      parsed: undefined,
      documentProblem: undefined,
      failure: error as Error,
    };
  } finally {
    client?.close();
  }
  try {
    return {
      report,
      document,
      parsed: parseUserDocument(document),
      documentProblem: undefined,
      failure: undefined,
    };
  } catch (error) {
    if (!(error instanceof InvalidDataError)) throw error;
    return { report, document, parsed: undefined, documentProblem: formatError(error), failure: undefined };
  }
}

function describeAction(kind: string): string {
  switch (kind) {
    case "write-env-file":
      return "write the env file from Vault";
    case "remove-env-file":
      return "remove the env file (no setup_token in Vault)";
    case "write-service-env-file":
      return "update the copy t3-serve@ loads";
    case "remove-service-env-file":
      return "remove the copy t3-serve@ loads";
    case "backup-credential":
      return "back up the local credential to Vault";
    default:
      return "restore the backup from Vault";
  }
}

export async function collectStatus(request: StatusRequest): Promise<StatusReport> {
  const { user, config, now } = request;
  const home = new UserHome(user);
  const warnings: string[] = [];

  const env = inspectEnvFile(home);
  const envDir = inspectHomeDirectory(user, [".config", "claude-auth-sync"]);
  const credentials = inspectCredentialsFile(home, credentialsDirectory(user, request.claudeConfigDir));
  const state = readSyncState(home);
  const notice = inspectHomeFile(home, STATE_DIR, NOTICE_FILE).text?.split("\n")[0]?.trim() || null;

  const serviceDir = config?.serviceEnvDir ?? request.fallbackServiceEnvDir;
  let serviceEnvFile: StatusReport["serviceEnvFile"] = null;
  let serviceState: ReturnType<typeof readServiceEnvFile> | undefined;
  if (request.asRoot) {
    serviceState = readServiceEnvFile(user.name, serviceDir);
    const path = serviceEnvPath(user.name, serviceDir);
    const stat = lstatSync(path, { throwIfNoEntry: false });
    serviceEnvFile = {
      path,
      state: serviceState.kind === "absent" ? "absent" : serviceState.token ? "present" : "malformed",
      mode: stat ? (octal(stat.mode & 0o777) ?? null) : null,
      owner: stat ? (ownerName(stat.uid, user) ?? null) : null,
      matchesEnvFile:
        serviceState.kind === "present" && env.token !== undefined ? serviceState.token === env.token : null,
    };
  }

  const vault: VaultFacts = config
    ? await askVault(request, config)
    : {
        report: {
          address: null,
          reachable: false,
          authenticated: false,
          tokenSource: null,
          identity: null,
          identityMode: "user",
          enrolled: null,
          identityExpiresAt: null,
          identityPeriodSeconds: null,
          documentPath: null,
          documentVersion: null,
          error: `configuration not loaded: ${request.configError ? formatError(request.configError) : "unknown"}`,
        },
        document: undefined,
        parsed: undefined,
        documentProblem: undefined,
        failure: request.configError,
      };

  const document = vault.parsed;
  let mode: Mode;
  let modeSource: StatusReport["modeSource"] = "vault";
  let outcome: Outcome | null = null;
  const pendingChanges: string[] = [];
  if (document) {
    const verdict = plan(
      document,
      {
        envFile: env.state === "absent" ? { kind: "absent" } : { kind: "present", token: env.token ?? null },
        serviceEnvFile: serviceState,
        credentials: credentials.parsed,
      },
      now.getTime(),
      // The sync's own rules, so "next sync" never promises a restore the sync would refuse.
      {
        restoreMarginMs: config?.restoreMarginMs ?? 300_000,
        host: hostname(),
        crossHostRestore: config?.crossHostRestore ?? DEFAULT_CROSS_HOST_RESTORE,
      },
    );
    mode = verdict.mode;
    outcome = verdict.outcome;
    for (const action of verdict.actions) pendingChanges.push(describeAction(action.kind));
  } else if (vault.document && vault.documentProblem) {
    // The document is there but our fields are malformed: say what it claims to be.
    mode = vault.document.data[FIELD.setupToken] !== undefined ? "setup-token" : "rotating";
  } else {
    modeSource = "local-files";
    mode =
      env.state === "present"
        ? "setup-token"
        : credentials.parsed.kind !== "absent"
          ? "rotating"
          : (state?.mode ?? "not-enrolled");
  }

  let setupToken: StatusReport["setupToken"] = null;
  if (document) {
    if (document.setupToken) {
      const age = document.setupTokenUpdatedAt ? setupTokenAge(document.setupTokenUpdatedAt, now) : undefined;
      setupToken = { present: true, tokenHint: tokenHint(document.setupToken), ...(age ?? {}) };
      if (age?.warning) warnings.push(age.warning);
      if (!age) warnings.push("the setup token's age is unknown (no setup_token_updated_at in Vault)");
    } else {
      setupToken = { present: false, tokenHint: null };
    }
  }

  let backup: StatusReport["backup"] = null;
  if (document) {
    const credential = document.backup?.credential;
    const unusable = credential
      ? (backupUnusableReason(credential, now.getTime(), {
          restoreMarginMs: config?.restoreMarginMs ?? 300_000,
        }) ??
        crossHostReason(document.backup?.host, {
          restoreMarginMs: 0,
          host: hostname(),
          crossHostRestore: config?.crossHostRestore ?? DEFAULT_CROSS_HOST_RESTORE,
        }))
      : undefined;
    backup = {
      present: credential !== undefined || document.backupProblem !== undefined,
      usable: credential !== undefined && unusable === undefined,
      problem: document.backupProblem ?? unusable ?? null,
      backedUpAt: document.backup?.backedUpAt ?? null,
      host: document.backup?.host ?? null,
      accessTokenExpiresAt: iso(credential?.expiresAt),
    };
  }

  const parsedCredentials = credentials.parsed;
  const expiresAt = parsedCredentials.kind === "valid" ? parsedCredentials.credential.expiresAt : undefined;
  const credentialsReport: StatusReport["credentials"] = {
    path: credentials.path,
    state: parsedCredentials.kind,
    mode: octal(credentials.mode) ?? null,
    owner: ownerName(credentials.uid, user) ?? null,
    accessTokenExpiresAt: iso(expiresAt),
    // Claude refreshes an expired access token itself; "expired" alone is not a problem.
    accessTokenExpired: expiresAt === undefined ? null : expiresAt <= now.getTime(),
    problem:
      credentials.refused ?? (parsedCredentials.kind === "unreadable" ? parsedCredentials.reason : null),
  };

  const envReport: StatusReport["envFile"] = {
    path: env.path,
    state: env.state,
    mode: octal(env.mode) ?? null,
    owner: ownerName(env.uid, user) ?? null,
    directoryMode: envDir.exists ? (octal(envDir.mode) ?? null) : null,
    tokenHint: env.token ? tokenHint(env.token) : null,
    matchesVault: document && env.token !== undefined ? env.token === document.setupToken : null,
    problem:
      env.refused ?? (env.state === "malformed" ? "not exactly one CLAUDE_CODE_OAUTH_TOKEN=… line" : null),
  };

  warnings.push(...localWarnings(envReport, credentialsReport, serviceEnvFile, mode, outcome));
  if (vault.documentProblem) warnings.push(`the Vault document is malformed: ${vault.documentProblem}`);
  if (backup?.present && !backup.usable && mode === "rotating") {
    warnings.push(`the backup in Vault cannot be restored: ${backup.problem}`);
  }
  if (state && state.exitCode !== 0 && state.exitCode !== ExitCode.ssoRequired) {
    warnings.push(`the last sync failed (exit ${state.exitCode}): ${state.message}`);
  }
  if (vault.report.error) {
    warnings.push(
      vault.failure instanceof AuthSyncError && vault.failure.exitCode === ExitCode.vaultDenied
        ? "Vault denied the request: the mode shown comes from the local files"
        : "Vault could not be asked: the mode shown comes from the local files",
    );
  }

  return {
    user: user.name,
    uid: user.uid,
    checkedAt: now.toISOString(),
    mode,
    modeSource,
    outcome,
    pendingChanges,
    config: {
      path: request.configPath,
      loaded: config !== undefined,
      error: request.configError ? formatError(request.configError) : null,
    },
    envFile: envReport,
    serviceEnvFile,
    credentials: credentialsReport,
    setupToken,
    backup,
    lastSync: state
      ? {
          at: state.lastRunAt,
          exitCode: state.exitCode,
          outcome: state.outcome ?? null,
          mode: state.mode ?? null,
          message: state.message,
          lastSuccessAt: state.lastSuccessAt ?? null,
          host: state.host || null,
        }
      : null,
    notice,
    vault: vault.report,
    warnings,
    exitCode: vault.failure ? exitCodeOf(vault.failure) : ExitCode.ok,
  };
}

function localWarnings(
  env: StatusReport["envFile"],
  credentials: StatusReport["credentials"],
  service: StatusReport["serviceEnvFile"],
  mode: Mode,
  outcome: Outcome | null,
): string[] {
  const warnings: string[] = [];
  if (env.state === "refused") warnings.push(`the env file was not read: ${env.problem}`);
  if (env.state === "malformed") warnings.push("the env file is malformed: `claude-auth sync` rewrites it");
  if (env.state !== "absent" && env.mode !== null && env.mode !== "0600") {
    warnings.push(`the env file has mode ${env.mode}, not 0600: run \`chmod 600 ${env.path}\``);
  }
  if (env.directoryMode !== null && env.directoryMode !== "0700") {
    warnings.push(`its directory has mode ${env.directoryMode}, not 0700`);
  }
  if (env.matchesVault === false)
    warnings.push("the env file differs from Vault: `claude-auth sync` updates it");
  if (service?.matchesEnvFile === false) {
    warnings.push("the copy t3-serve@ loads differs from the env file: a root-run sync updates it");
  }
  if (mode === "rotating") {
    if (outcome === "sso-required" || (outcome === null && credentials.state === "logged-out")) {
      warnings.push("no usable Claude login: run `claude auth login`");
    }
    if (credentials.state === "unreadable")
      warnings.push(`the credentials file is unreadable: ${credentials.problem}`);
  }
  if (credentials.mode !== null && credentials.mode !== "0600") {
    warnings.push(`the credentials file has mode ${credentials.mode}, not 0600`);
  }
  return warnings;
}
