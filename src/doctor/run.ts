// Runs every doctor check in order: installation, configuration, the user's files and environment, Vault.
import { lstatSync, readFileSync } from "node:fs";
import { posix } from "node:path";
import { type Config, documentPath } from "../config.js";
import { Deadline } from "../deadline.js";
import { ExitCode, exitCodeOf } from "../errors.js";
import { hasBlock } from "../shell/rc-block.js";
import { shellForLoginShell } from "../shell/shell.js";
import { zshenvSourcesSnippet } from "../shell/zsh.js";
import {
  type EnvFileFacts,
  inspectCredentialsFile,
  inspectEnvFile,
  inspectHomeDirectory,
  inspectHomeFile,
} from "../status/local-files.js";
import { connect, credentialsDirectory } from "../sync/run.js";
import { UserHome } from "../system/home.js";
import { readServiceEnvFile, serviceEnvPath } from "../system/service-env.js";
import { lookupLoginShell, type SystemUser } from "../system/users.js";
import { authenticate, lookupSelf } from "../vault/auth.js";
import type { VaultClient } from "../vault/client.js";
import { readDocument } from "../vault/kv.js";
import { tokenTtl } from "../vault/token-ttl.js";
import {
  checkApiKeyEnvironment,
  checkBinary,
  checkCapabilities,
  checkConfigFile,
  checkConfigValues,
  checkCredentialsFile,
  checkDocument,
  checkEnvDirectory,
  checkEnvFile,
  checkOauthTokenEnvironment,
  checkPamStacks,
  checkServiceCopy,
  checkShellRc,
  checkShellSnippets,
  checkTimer,
  checkUnits,
  type Finding,
  fail,
  ok,
  readConfigFacts,
  type SystemPaths,
  vaultFailure,
  warn,
  type ZshStartupFacts,
} from "./checks.js";
import { enrolledTokenFindings, hostScopeFindings } from "./identity.js";
import { checkMetricsDirectory } from "./metrics-directory.js";

export interface DoctorRequest {
  paths: SystemPaths;
  configPath: string;
  /** undefined: root checking the installation only (no `--user`). */
  user: SystemUser | undefined;
  /** Who runs doctor: their environment and their Vault identity are checked. */
  self: SystemUser;
  asRoot: boolean;
  env: NodeJS.ProcessEnv;
  binaryPath: string;
  version: string;
  claudeConfigDir: string | undefined;
  now: Date;
}

/** The JSON shape of `claude-auth doctor --json`; field names are stable. */
export interface DoctorReport {
  user: string | null;
  root: string;
  findings: Finding[];
  summary: { ok: number; warn: number; fail: number };
  /** 1 when any finding is "fail"; warnings alone leave it 0. */
  exitCode: number;
}

export async function runDoctor(request: DoctorRequest): Promise<DoctorReport> {
  const { paths, user, env } = request;
  const findings: Finding[] = [checkBinary(paths, request.binaryPath, request.version)];

  const configFacts = readConfigFacts(request.configPath);
  findings.push(checkConfigFile(configFacts, env));
  const values = checkConfigValues(configFacts, env);
  findings.push(...values.findings);
  const config = values.config;

  findings.push(...checkPamStacks(paths), checkUnits(paths));
  findings.push(...checkMetricsDirectory(config));
  let envFile: EnvFileFacts | undefined;
  if (user) {
    findings.push(checkTimer(paths, user));
    const loginShell = safely(() => lookupLoginShell(user.name));
    findings.push(...checkShellSnippets(paths, loginShell));
    const home = new UserHome(user);
    envFile = inspectEnvFile(home);
    const rc = rcBlockState(home, loginShell, paths);
    const rcFinding = rc
      ? checkShellRc(
          user,
          loginShell,
          rc.path,
          rc.hasBlock,
          envFile.state === "present",
          request.self.uid !== user.uid,
          rc.zshStartup,
        )
      : undefined;
    if (rcFinding) findings.push(rcFinding);
    findings.push(checkEnvFile(envFile, user));
    const directory = checkEnvDirectory(inspectHomeDirectory(user, [".config", "claude-auth-sync"]), user);
    if (directory) findings.push(directory);
    const credentialsDir = credentialsDirectory(
      user,
      request.self.uid === user.uid ? request.claudeConfigDir : undefined,
    );
    findings.push(checkCredentialsFile(inspectCredentialsFile(home, credentialsDir), user));
    if (request.asRoot && config) findings.push(serviceCopyFinding(config, envFile, user));
    if (request.self.uid === user.uid) {
      // Only the invoking user's own environment is in front of us; root's says nothing about alice's.
      findings.push(checkApiKeyEnvironment(env), checkOauthTokenEnvironment(env, envFile));
    }
  } else {
    findings.push(...checkShellSnippets(paths, undefined));
  }

  if (config) findings.push(...(await vaultFindings(request, config, envFile)));

  const summary = { ok: 0, warn: 0, fail: 0 };
  for (const finding of findings) summary[finding.status]++;
  return {
    user: user?.name ?? null,
    root: paths.root,
    findings,
    summary,
    exitCode: summary.fail > 0 ? ExitCode.error : ExitCode.ok,
  };
}

function safely<T>(fn: () => T): T | undefined {
  try {
    return fn();
  } catch {
    return undefined;
  }
}

function rcBlockState(home: UserHome, loginShell: string | undefined, paths: SystemPaths) {
  const shell = loginShell === undefined ? undefined : shellForLoginShell(loginShell);
  if (!shell || shell.name === "fish") return undefined;
  const path = shell.rcFile(home.user.home);
  const blockIn = (rcPath: string) => {
    const segments = posix.relative(home.user.home, rcPath).split("/");
    const name = segments.pop() ?? "";
    const file = safely(() => inspectHomeFile(home, segments, name));
    return file?.text === undefined ? undefined : safely(() => hasBlock(file.text as string));
  };
  const zshStartup: ZshStartupFacts | undefined =
    shell.name === "zsh"
      ? {
          systemZshenv: paths.zshenv,
          systemSources: safely(() => zshenvSourcesSnippet(readFileSync(paths.zshenv, "latin1"))) ?? false,
          legacyBlockIn: shell.legacyRcFiles?.(home.user.home).find((legacy) => blockIn(legacy)),
        }
      : undefined;
  return { path, hasBlock: blockIn(path), zshStartup };
}

function serviceCopyFinding(config: Config, envFile: EnvFileFacts, user: SystemUser): Finding {
  const path = serviceEnvPath(user.name, config.serviceEnvDir);
  const state = readServiceEnvFile(user.name, config.serviceEnvDir);
  const stat = lstatSync(path, { throwIfNoEntry: false });
  return checkServiceCopy(
    path,
    {
      state: state.kind,
      token: state.kind === "present" ? state.token : null,
      mode: stat ? stat.mode & 0o777 : undefined,
      uid: stat?.uid,
    },
    envFile,
    user,
  );
}

async function vaultFindings(
  request: DoctorRequest,
  config: Config,
  envFile: EnvFileFacts | undefined,
): Promise<Finding[]> {
  if (!config.vaultAddr) {
    return [
      fail(
        "vault-addr",
        "VAULT_ADDR is not set: nothing can sync",
        `set VAULT_ADDR in ${config.source.path}`,
      ),
    ];
  }
  const addr = config.vaultAddr.origin;
  let client: VaultClient;
  try {
    client = connect(config, new Deadline(config.timeoutMs));
  } catch (error) {
    return [vaultFailure("vault-addr", `connecting to ${addr}`, error)];
  }
  const findings: Finding[] = [];
  try {
    try {
      const health = await client.request("GET", "sys/health");
      const body = (health.body ?? {}) as { version?: unknown; standby?: unknown };
      const version = typeof body.version === "string" ? `Vault ${body.version}` : "Vault";
      findings.push(
        ok(
          "vault-health",
          `${addr}: ${version}, initialized and unsealed${body.standby === true ? " (standby)" : ""}`,
        ),
      );
    } catch (error) {
      findings.push(vaultFailure("vault-health", `${addr} (sys/health)`, error));
      return findings;
    }

    if (config.identity === "user") {
      findings.push(...(await userModeFindings(request, config, envFile)));
      return findings;
    }

    let origin: string;
    try {
      origin = await authenticate(client, config, request.self.home, {
        loginName: request.user?.name ?? request.self.name,
      });
    } catch (error) {
      findings.push(vaultFailure("vault-auth", `logging in to ${addr} (auth ${config.auth})`, error));
      return findings;
    }
    let identity = `the Vault token from ${origin}`;
    try {
      const info = await lookupSelf(client);
      identity = `the Vault token from ${origin} ("${info.displayName}", policies ${info.policies.join(", ") || "none"})`;
      const ttl = info.ttlSeconds === 0 ? "no expiry" : `TTL ${tokenTtl(info.ttlSeconds)}`;
      findings.push(
        info.ttlSeconds > 0 && info.ttlSeconds < 3600 && !info.renewable
          ? warn(
              "vault-auth",
              `${identity} expires in ${tokenTtl(info.ttlSeconds)} and cannot be renewed`,
              "log in to Vault again, or use a Vault Agent sink (CLAUDE_AUTH_SYNC_TOKEN_FILE)",
            )
          : ok("vault-auth", `authenticated: ${identity}, ${ttl}`),
      );
    } catch (error) {
      if (exitCodeOf(error) === ExitCode.vaultDenied) {
        findings.push(
          fail(
            "vault-auth",
            `Vault rejects ${identity} (lookup-self denied): expired or revoked`,
            "log in again (`vault login`), or renew the host token in the token file",
          ),
        );
        return findings;
      }
      findings.push(vaultFailure("vault-auth", `looking up ${identity}`, error));
      return findings;
    }

    const user = request.user;
    if (!user || !envFile) return findings;
    // Root speaks for every user: the stanza covers the whole tree. A user's own token needs only theirs.
    const stanzaPath = request.asRoot
      ? `${config.kvMount}/data/${config.pathTemplate.replaceAll("{user}", "*")}`
      : undefined;
    findings.push(...(await documentFindings(client, config, request, user, envFile, identity, stanzaPath)));
  } finally {
    client.close();
  }
  return findings;
}

/**
 * `user` identity mode: as root, the host's own identity must reach no user's document; for a user, their
 * enrolled token is checked, and the document with it (never with the host's identity).
 */
async function userModeFindings(
  request: DoctorRequest,
  config: Config,
  envFile: EnvFileFacts | undefined,
): Promise<Finding[]> {
  const findings: Finding[] = [];
  if (request.asRoot) findings.push(...(await hostScopeFindings(config, request.user?.name)));
  const user = request.user;
  if (!user) return findings;
  const enrolled = await enrolledTokenFindings(config, user, request.self.uid === user.uid, request.now);
  findings.push(...enrolled.findings);
  const { client, assessment, identity } = enrolled;
  if (!client || !assessment || !identity) return findings;
  try {
    // The identity findings already name a token that cannot read and write its document.
    if (assessment.failures.length > 0 || !envFile) return findings;
    findings.push(
      ...(await documentFindings(
        client,
        config,
        request,
        user,
        envFile,
        identity,
        undefined,
        assessment.own,
      )),
    );
  } finally {
    client.close();
  }
  return findings;
}

/** The capabilities on the user's document (asked, unless known) and the document itself, with `client`'s token. */
async function documentFindings(
  client: VaultClient,
  config: Config,
  request: DoctorRequest,
  user: SystemUser,
  envFile: EnvFileFacts,
  identity: string,
  stanzaPath: string | undefined,
  known?: string[],
): Promise<Finding[]> {
  const findings: Finding[] = [];
  const docPath = documentPath(config, user.name);
  const where = `${config.kvMount}/data/${docPath}`;
  let canRead = true;
  try {
    let capabilities = known;
    if (!capabilities) {
      const answer = await client.request("POST", "sys/capabilities-self", { paths: [where] });
      const body = (answer.body ?? {}) as { data?: Record<string, unknown>; capabilities?: unknown };
      const raw = body.data?.[where] ?? body.data?.capabilities ?? body.capabilities;
      capabilities = Array.isArray(raw) ? raw.filter((c): c is string => typeof c === "string") : [];
    }
    findings.push(checkCapabilities(where, capabilities, stanzaPath ?? where, identity));
    canRead =
      capabilities.includes("root") || (capabilities.includes("read") && !capabilities.includes("deny"));
  } catch (error) {
    if (exitCodeOf(error) !== ExitCode.vaultDenied) {
      findings.push(
        vaultFailure("vault-capabilities", `asking Vault for the capabilities on ${where}`, error),
      );
      return findings;
    }
    findings.push(
      warn(
        "vault-capabilities",
        `Vault refused sys/capabilities-self to ${identity}, so the capabilities on ${where} are not known`,
        'grant it (Vault\'s default policy does): path "sys/capabilities-self" { capabilities = ["update"] }',
      ),
    );
  }
  if (!canRead) return findings;
  try {
    const document = await readDocument(client, config.kvMount, docPath);
    const syncCommand =
      request.self.uid === user.uid ? "claude-auth sync" : `claude-auth sync --user ${user.name}`;
    findings.push(...checkDocument(where, document, envFile, request.now, syncCommand));
  } catch (error) {
    findings.push(vaultFailure("vault-document", `reading ${where}`, error));
  }
  return findings;
}
