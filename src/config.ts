// Configuration: config.env (dotenv syntax) plus environment overrides, parsed and validated once.
import { closeSync, constants as fsConstants, fstatSync, openSync, readFileSync } from "node:fs";
import { isAbsolute } from "node:path";
import { parse as parseDotenv } from "dotenv";
import { DEFAULT_TOKEN_URL } from "./claude/oauth-defaults.js";
import { InvalidDataError, UsageError } from "./errors.js";
import type { CrossHostRestore } from "./sync/plan.js";

export const DEFAULT_CONFIG_PATH = "/etc/claude-auth-sync/config.env";
export const DEFAULT_HOST_TOKEN_CACHE = "/var/lib/claude-auth-sync/host-token";
/** CLAUDE_AUTH_SYNC_TIMEOUT_MS's default: also the login's budget before the config could be read. */
export const DEFAULT_TIMEOUT_MS = 3000;

export type AuthMethod = "token" | "approle" | "userpass" | "ldap";
/** Whose token reads and writes a user's document: the user's own (enrolled) or the host's. */
export type IdentityMode = "user" | "host";
/** How the PAM auth step and `enroll --method` log a user in with their password. */
export type UserAuthMethod = "ldap" | "userpass";

export interface Config {
  /** Where the values came from, for messages and `doctor`. */
  source: { path: string; found: boolean };
  /** VAULT_ADDR's first address (what messages name). */
  vaultAddr: URL | undefined;
  /** Every address of VAULT_ADDR (comma-separated: a cluster's nodes), tried in order. */
  vaultAddrs: URL[];
  vaultCaCert: string | undefined;
  vaultNamespace: string | undefined;
  /** VAULT_TOKEN as configured (file or environment); never logged. */
  vaultToken: string | undefined;
  kvMount: string;
  /** Document path inside the mount; `{user}` is replaced by the login name. */
  pathTemplate: string;
  auth: AuthMethod;
  tokenFile: string | undefined;
  /** Mount path of the auth method for approle/userpass/ldap (defaults to the method name). */
  authMount: string;
  approleRoleId: string | undefined;
  approleSecretIdFile: string | undefined;
  authUsername: string | undefined;
  authPasswordFile: string | undefined;
  identity: IdentityMode;
  /** CLAUDE_AUTH_SYNC_USER_AUTH: undefined = no password logins (PAM auth step off, enroll needs a token). */
  userAuth: UserAuthMethod | undefined;
  /** CLAUDE_AUTH_SYNC_USER_AUTH_MOUNT, default the method's name. */
  userAuthMount: string;
  /** Root's cached host login token (approle, userpass, ldap), reused across runs until near its expiry. */
  hostTokenCache: string;
  timeoutMs: number;
  metricsDir: string | undefined;
  minUid: number;
  pamStrict: boolean;
  allowInsecureHttp: boolean;
  /** A restore needs the backup's access token to stay valid at least this long. */
  restoreMarginMs: number;
  /** Root-owned copies of setup-token env files that systemd loads into t3-serve@<user>. */
  serviceEnvDir: string;
  /** Where `enable`/`rotate` check a setup token live (Anthropic's API, or a proxy/stand-in). */
  anthropicBaseUrl: URL;
  /** At most one live verification of a user's credential per this interval (timer runs). */
  verifyIntervalMs: number;
  /** Optional Alertmanager to push the alerts to (hosts without node_exporter). */
  alertmanagerUrl: URL | undefined;
  /** Proactive renewal of the rotating credential by `sync` and `watch` (never by the login path). */
  renew: boolean;
  /** Renew once the access token expires within this many milliseconds. */
  renewWindowMs: number;
  /** Claude's OAuth token endpoint (https, or http to loopback for tests). */
  oauthTokenUrl: URL;
  /** Which backups may be restored onto this host: every usable one, or only those taken here. */
  crossHostRestore: CrossHostRestore;
}

/** Every key this program reads; anything else in config.env is reported by `doctor`, never an error. */
export const CONFIG_KEYS = [
  "VAULT_ADDR",
  "VAULT_CACERT",
  "VAULT_NAMESPACE",
  "VAULT_TOKEN",
  "CLAUDE_AUTH_SYNC_KV_MOUNT",
  "CLAUDE_AUTH_SYNC_PATH",
  "CLAUDE_AUTH_SYNC_AUTH",
  "CLAUDE_AUTH_SYNC_AUTH_MOUNT",
  "CLAUDE_AUTH_SYNC_TOKEN_FILE",
  "CLAUDE_AUTH_SYNC_APPROLE_ROLE_ID",
  "CLAUDE_AUTH_SYNC_APPROLE_SECRET_ID_FILE",
  "CLAUDE_AUTH_SYNC_USERNAME",
  "CLAUDE_AUTH_SYNC_PASSWORD_FILE",
  "CLAUDE_AUTH_SYNC_HOST_TOKEN_CACHE",
  "CLAUDE_AUTH_SYNC_TIMEOUT_MS",
  "CLAUDE_AUTH_SYNC_METRICS_DIR",
  "CLAUDE_AUTH_SYNC_MIN_UID",
  "CLAUDE_AUTH_SYNC_PAM_STRICT",
  "CLAUDE_AUTH_SYNC_ALLOW_INSECURE_HTTP",
  "CLAUDE_AUTH_SYNC_RESTORE_MARGIN_S",
  "CLAUDE_AUTH_SYNC_SERVICE_ENV_DIR",
  "CLAUDE_AUTH_SYNC_ANTHROPIC_BASE_URL",
  "CLAUDE_AUTH_SYNC_VERIFY_INTERVAL_S",
  "CLAUDE_AUTH_SYNC_ALERTMANAGER_URL",
  "CLAUDE_AUTH_SYNC_RENEW",
  "CLAUDE_AUTH_SYNC_RENEW_WINDOW_S",
  "CLAUDE_AUTH_SYNC_OAUTH_TOKEN_URL",
  "CLAUDE_AUTH_SYNC_CROSS_HOST_RESTORE",
  "CLAUDE_AUTH_SYNC_IDENTITY",
  "CLAUDE_AUTH_SYNC_USER_AUTH",
  "CLAUDE_AUTH_SYNC_USER_AUTH_MOUNT",
] as const;
export type ConfigKey = (typeof CONFIG_KEYS)[number];
type RawConfig = Partial<Record<ConfigKey, string>>;

export interface LoadConfigOptions {
  /** `--config`; when given, the file must exist. */
  path?: string | undefined;
  env: NodeJS.ProcessEnv;
  /**
   * Whether environment variables may override the file. False for `claude-auth pam`: the PAM
   * environment can carry user-controlled values (pam_env user_readenv), and a root-run sync must
   * never be pointed at another Vault with the host's token.
   */
  envOverrides?: boolean;
}

const MAX_CONFIG_BYTES = 64 * 1024;

/** Reads config.env; refuses a file others could have written when running as root. */
function readConfigFile(path: string, required: boolean): string | undefined {
  let fd: number;
  try {
    fd = openSync(path, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW | fsConstants.O_NONBLOCK);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (!required && code === "ENOENT") return undefined;
    throw new UsageError(
      `cannot read the configuration file ${path}: ${code ?? String(error)}`,
      code === "ELOOP"
        ? "the configuration file must not be a symbolic link"
        : "pass an existing file with --config or CLAUDE_AUTH_SYNC_CONFIG",
    );
  }
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile()) throw new UsageError(`configuration file ${path} is not a regular file`);
    if (stat.size > MAX_CONFIG_BYTES) {
      throw new InvalidDataError(path, `configuration file is larger than ${MAX_CONFIG_BYTES} bytes`);
    }
    if (process.getuid?.() === 0 && (stat.uid !== 0 || (stat.mode & 0o022) !== 0)) {
      throw new UsageError(
        `refusing configuration file ${path}: running as root, but the file is owned by uid ${stat.uid} or writable by group/others (mode ${(stat.mode & 0o777).toString(8)})`,
        `chown root:root ${path} && chmod 644 ${path}`,
      );
    }
    const text = readFileSync(fd, "utf8");
    if ((stat.mode & 0o077) !== 0 && /^\s*(export\s+)?VAULT_TOKEN\s*=\s*\S/m.test(text)) {
      throw new InvalidDataError(
        "VAULT_TOKEN",
        `${path} holds a Vault token but other users may read it (mode ${(stat.mode & 0o777).toString(8)})`,
        "move the token to a root-only file named by CLAUDE_AUTH_SYNC_TOKEN_FILE",
      );
    }
    return text;
  } finally {
    closeSync(fd);
  }
}

function isLoopback(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, "");
  return host === "localhost" || host === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

function parseBoolean(key: ConfigKey, value: string | undefined, fallback: boolean): boolean {
  if (value === undefined || value === "") return fallback;
  if (["1", "true", "yes", "on"].includes(value.toLowerCase())) return true;
  if (["0", "false", "no", "off"].includes(value.toLowerCase())) return false;
  throw new InvalidDataError(key, `expected 0 or 1, got ${JSON.stringify(value)}`);
}

function parseInteger(
  key: ConfigKey,
  value: string | undefined,
  fallback: number,
  min: number,
  max: number,
): number {
  if (value === undefined || value === "") return fallback;
  if (!/^\d+$/.test(value))
    throw new InvalidDataError(key, `expected a whole number, got ${JSON.stringify(value)}`);
  const parsed = Number(value);
  if (parsed < min || parsed > max)
    throw new InvalidDataError(key, `must be between ${min} and ${max}, got ${parsed}`);
  return parsed;
}

function optional(value: string | undefined): string | undefined {
  return value === undefined || value === "" ? undefined : value;
}

/** VAULT_ADDR: one address, or a cluster's nodes separated by commas (each checked like one). */
function parseVaultAddrs(value: string | undefined, allowInsecureHttp: boolean): URL[] {
  if (value === undefined || value.trim() === "") return [];
  const parts = value.split(",").map((part) => part.trim());
  if (parts.some((part) => part === "")) {
    throw new InvalidDataError(
      "VAULT_ADDR",
      `has an empty entry: ${JSON.stringify(value)}`,
      "separate addresses with single commas",
    );
  }
  if (parts.length > 16) throw new InvalidDataError("VAULT_ADDR", "lists more than 16 addresses");
  return parts.map((part) => parseServiceUrl("VAULT_ADDR", part, allowInsecureHttp));
}

/** An http(s) URL that tokens are sent to: https, or plain http only to loopback unless allowed. */
function parseServiceUrl(key: ConfigKey, value: string, allowInsecureHttp: boolean): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new InvalidDataError(key, `not a URL: ${JSON.stringify(value)}`);
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    throw new InvalidDataError(key, `scheme must be https or http, got ${url.protocol}`);
  }
  if (url.username || url.password) throw new InvalidDataError(key, "must not carry credentials");
  if (url.protocol === "http:" && !isLoopback(url.hostname) && !allowInsecureHttp) {
    throw new InvalidDataError(
      key,
      `refusing plain http to ${url.hostname}: tokens and credentials would cross the network unencrypted`,
      `use https${key === "VAULT_ADDR" ? " (set VAULT_CACERT for a private CA)" : ""}, or set CLAUDE_AUTH_SYNC_ALLOW_INSECURE_HTTP=1 if you really mean it`,
    );
  }
  return url;
}

/**
 * 7 h: the timer runs every 6 h (plus a fixed delay of up to 30 min), so with a window longer than
 * 6.5 h every token is renewed by a timer run before it gets anywhere near Claude's own refresh point
 * (5 min before expiry). With 2-3 h, runs falling between the window and the token's birth miss it and
 * Claude refreshes itself: bench/race measured 0.3-0.5 forced logins per user-month left on two
 * workstations with 3 h, 0 with 6.5 h (docs/race.md). The cost is one refresh per run (4 a day).
 */
export const DEFAULT_RENEW_WINDOW_S = 7 * 3600;

function parseCrossHost(value: string | undefined): CrossHostRestore {
  const chosen = optional(value) ?? DEFAULT_CROSS_HOST_RESTORE;
  if (chosen !== "any" && chosen !== "same-host") {
    throw new InvalidDataError(
      "CLAUDE_AUTH_SYNC_CROSS_HOST_RESTORE",
      `expected any or same-host, got ${JSON.stringify(chosen)}`,
    );
  }
  return chosen;
}

/** See docs/race.md: the simulation's numbers behind this default. */
export const DEFAULT_CROSS_HOST_RESTORE: CrossHostRestore = "same-host";

const SEGMENT = /^[A-Za-z0-9_.@{}-]+$/;

function parseAbsolutePath(key: ConfigKey, value: string): string {
  if (!isAbsolute(value) || value.endsWith("/"))
    throw new InvalidDataError(key, `must be an absolute file path, not ${JSON.stringify(value)}`);
  return value;
}

function parseDocumentPath(key: ConfigKey, value: string): string {
  const trimmed = value.replace(/^\/+|\/+$/g, "");
  const segments = trimmed.split("/");
  if (trimmed === "" || segments.some((s) => !SEGMENT.test(s) || s === "." || s === "..")) {
    throw new InvalidDataError(key, `not a valid Vault path: ${JSON.stringify(value)}`);
  }
  return trimmed;
}

export function loadConfig(options: LoadConfigOptions): Config {
  const explicit = options.path ?? optional(options.env.CLAUDE_AUTH_SYNC_CONFIG);
  const path = explicit ?? DEFAULT_CONFIG_PATH;
  const text = readConfigFile(path, explicit !== undefined);
  const fromFile = text === undefined ? {} : (parseDotenv(text) as Record<string, string>);
  const raw: RawConfig = {};
  for (const key of CONFIG_KEYS) {
    const override = options.envOverrides === false ? undefined : options.env[key];
    const value = override ?? fromFile[key];
    if (value !== undefined) raw[key] = value;
  }
  return parseConfig(raw, { path, found: text !== undefined });
}

export function parseConfig(raw: RawConfig, source: Config["source"]): Config {
  const allowInsecureHttp = parseBoolean(
    "CLAUDE_AUTH_SYNC_ALLOW_INSECURE_HTTP",
    raw.CLAUDE_AUTH_SYNC_ALLOW_INSECURE_HTTP,
    false,
  );
  const auth = raw.CLAUDE_AUTH_SYNC_AUTH ?? "token";
  if (!["token", "approle", "userpass", "ldap"].includes(auth)) {
    throw new InvalidDataError(
      "CLAUDE_AUTH_SYNC_AUTH",
      `unknown auth method ${JSON.stringify(auth)}`,
      "use token, approle, userpass or ldap",
    );
  }
  const identity = optional(raw.CLAUDE_AUTH_SYNC_IDENTITY) ?? "user";
  if (identity !== "user" && identity !== "host") {
    throw new InvalidDataError(
      "CLAUDE_AUTH_SYNC_IDENTITY",
      `expected user or host, got ${JSON.stringify(identity)}`,
      "user: each user's own Vault token (the default); host: the workstation's identity (docs/runbook.md)",
    );
  }
  const userAuth = optional(raw.CLAUDE_AUTH_SYNC_USER_AUTH);
  if (userAuth !== undefined && userAuth !== "ldap" && userAuth !== "userpass") {
    throw new InvalidDataError(
      "CLAUDE_AUTH_SYNC_USER_AUTH",
      `expected ldap or userpass, got ${JSON.stringify(userAuth)}`,
      "OIDC users log in with `vault login -method=oidc` and then run `claude-auth enroll`",
    );
  }
  const pathTemplate = parseDocumentPath(
    "CLAUDE_AUTH_SYNC_PATH",
    raw.CLAUDE_AUTH_SYNC_PATH ?? "workstation/claude-users/{user}",
  );
  if (!pathTemplate.includes("{user}")) {
    throw new InvalidDataError(
      "CLAUDE_AUTH_SYNC_PATH",
      "must contain {user}: every user needs a document of their own",
    );
  }
  const config: Config = {
    source,
    vaultAddrs: parseVaultAddrs(raw.VAULT_ADDR, allowInsecureHttp),
    vaultAddr: undefined,
    vaultCaCert: optional(raw.VAULT_CACERT),
    vaultNamespace: optional(raw.VAULT_NAMESPACE),
    vaultToken: optional(raw.VAULT_TOKEN),
    kvMount: parseDocumentPath("CLAUDE_AUTH_SYNC_KV_MOUNT", raw.CLAUDE_AUTH_SYNC_KV_MOUNT ?? "secret"),
    pathTemplate,
    auth: auth as AuthMethod,
    tokenFile: optional(raw.CLAUDE_AUTH_SYNC_TOKEN_FILE),
    authMount: parseDocumentPath("CLAUDE_AUTH_SYNC_AUTH_MOUNT", raw.CLAUDE_AUTH_SYNC_AUTH_MOUNT || auth),
    approleRoleId: optional(raw.CLAUDE_AUTH_SYNC_APPROLE_ROLE_ID),
    approleSecretIdFile: optional(raw.CLAUDE_AUTH_SYNC_APPROLE_SECRET_ID_FILE),
    authUsername: optional(raw.CLAUDE_AUTH_SYNC_USERNAME),
    authPasswordFile: optional(raw.CLAUDE_AUTH_SYNC_PASSWORD_FILE),
    identity,
    userAuth,
    userAuthMount: parseDocumentPath(
      "CLAUDE_AUTH_SYNC_USER_AUTH_MOUNT",
      optional(raw.CLAUDE_AUTH_SYNC_USER_AUTH_MOUNT) ?? userAuth ?? "userpass",
    ),
    hostTokenCache: parseAbsolutePath(
      "CLAUDE_AUTH_SYNC_HOST_TOKEN_CACHE",
      optional(raw.CLAUDE_AUTH_SYNC_HOST_TOKEN_CACHE) ?? DEFAULT_HOST_TOKEN_CACHE,
    ),
    timeoutMs: parseInteger(
      "CLAUDE_AUTH_SYNC_TIMEOUT_MS",
      raw.CLAUDE_AUTH_SYNC_TIMEOUT_MS,
      DEFAULT_TIMEOUT_MS,
      100,
      600_000,
    ),
    metricsDir: optional(raw.CLAUDE_AUTH_SYNC_METRICS_DIR),
    minUid: parseInteger("CLAUDE_AUTH_SYNC_MIN_UID", raw.CLAUDE_AUTH_SYNC_MIN_UID, 1000, 0, 2 ** 32 - 1),
    pamStrict: parseBoolean("CLAUDE_AUTH_SYNC_PAM_STRICT", raw.CLAUDE_AUTH_SYNC_PAM_STRICT, false),
    allowInsecureHttp,
    restoreMarginMs:
      parseInteger(
        "CLAUDE_AUTH_SYNC_RESTORE_MARGIN_S",
        raw.CLAUDE_AUTH_SYNC_RESTORE_MARGIN_S,
        300,
        0,
        86_400,
      ) * 1000,
    serviceEnvDir: optional(raw.CLAUDE_AUTH_SYNC_SERVICE_ENV_DIR) ?? "/var/lib/claude-auth-sync/env",
    anthropicBaseUrl: parseServiceUrl(
      "CLAUDE_AUTH_SYNC_ANTHROPIC_BASE_URL",
      optional(raw.CLAUDE_AUTH_SYNC_ANTHROPIC_BASE_URL) ?? "https://api.anthropic.com",
      allowInsecureHttp,
    ),
    verifyIntervalMs:
      parseInteger(
        "CLAUDE_AUTH_SYNC_VERIFY_INTERVAL_S",
        raw.CLAUDE_AUTH_SYNC_VERIFY_INTERVAL_S,
        21_600,
        60,
        2_592_000,
      ) * 1000,
    alertmanagerUrl: raw.CLAUDE_AUTH_SYNC_ALERTMANAGER_URL
      ? // Alerts carry no secret: plain http to an in-house Alertmanager is fine.
        parseServiceUrl("CLAUDE_AUTH_SYNC_ALERTMANAGER_URL", raw.CLAUDE_AUTH_SYNC_ALERTMANAGER_URL, true)
      : undefined,
    renew: parseBoolean("CLAUDE_AUTH_SYNC_RENEW", raw.CLAUDE_AUTH_SYNC_RENEW, true),
    renewWindowMs:
      parseInteger(
        "CLAUDE_AUTH_SYNC_RENEW_WINDOW_S",
        raw.CLAUDE_AUTH_SYNC_RENEW_WINDOW_S,
        DEFAULT_RENEW_WINDOW_S,
        600,
        86_400,
      ) * 1000,
    // Refresh tokens never cross the network in the clear, whatever ALLOW_INSECURE_HTTP says.
    oauthTokenUrl: parseServiceUrl(
      "CLAUDE_AUTH_SYNC_OAUTH_TOKEN_URL",
      optional(raw.CLAUDE_AUTH_SYNC_OAUTH_TOKEN_URL) ?? DEFAULT_TOKEN_URL,
      false,
    ),
    crossHostRestore: parseCrossHost(raw.CLAUDE_AUTH_SYNC_CROSS_HOST_RESTORE),
  };
  config.vaultAddr = config.vaultAddrs[0];
  if (config.metricsDir !== undefined && !config.metricsDir.startsWith("/")) {
    throw new InvalidDataError("CLAUDE_AUTH_SYNC_METRICS_DIR", "must be an absolute path");
  }
  if (!config.serviceEnvDir.startsWith("/")) {
    throw new InvalidDataError("CLAUDE_AUTH_SYNC_SERVICE_ENV_DIR", "must be an absolute path");
  }
  return config;
}

/** The user's document path inside the mount. The name was validated by `parseLoginName`. */
export function documentPath(config: Config, user: string): string {
  return config.pathTemplate.replaceAll("{user}", user);
}
