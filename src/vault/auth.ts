// Who we are to Vault: the host identity (root: timer, PAM) or the user's own (enable, status, sync).
import { closeSync, constants as fsConstants, fstatSync, openSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { Config } from "../config.js";
import { AuthSyncError, ExitCode, InvalidDataError, VaultDeniedError } from "../errors.js";
import { unexpectedAnswer, type VaultClient } from "./client.js";
import { type HostLoginKey, readHostToken, writeHostToken } from "./host-token-cache.js";

export interface TokenSource {
  /** Where the token came from, for status/doctor (never the token). */
  origin: string;
  token: string;
}

const MAX_SECRET_FILE_BYTES = 16 * 1024;

/** Reads a small secret file (token, secret id, password) without following a symlink. */
export function readSecretFile(path: string, what: string): string | undefined {
  let fd: number;
  try {
    fd = openSync(path, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW | fsConstants.O_NONBLOCK);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return undefined;
    throw new AuthSyncError(`cannot read ${what} ${path}: ${code}`, ExitCode.vaultDenied, {
      hint: code === "EACCES" ? "run as a user who may read it, or fix its owner" : "check the file",
    });
  }
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile()) throw new InvalidDataError(path, `${what} is not a regular file`);
    if (stat.size > MAX_SECRET_FILE_BYTES) throw new InvalidDataError(path, `${what} is too large`);
    const value = readFileSync(fd, "utf8").trim();
    if (value === "" || /\s/.test(value))
      throw new InvalidDataError(path, `${what} is empty or contains white space`);
    return value;
  } finally {
    closeSync(fd);
  }
}

/**
 * The token for `auth=token`, in the contract's order: CLAUDE_AUTH_SYNC_TOKEN_FILE, then VAULT_TOKEN,
 * then ~/.vault-token of whoever runs us. A token file this user may not read (the host's Vault Agent
 * sink, when a user runs a command) is passed over.
 */
export function findToken(config: Config, home: string): TokenSource | undefined {
  if (config.tokenFile) {
    try {
      const token = readSecretFile(config.tokenFile, "Vault token file");
      if (token) return headerSafe({ origin: config.tokenFile, token });
    } catch (error) {
      if (process.getuid?.() === 0) throw error;
    }
  }
  if (config.vaultToken) return headerSafe({ origin: "VAULT_TOKEN", token: config.vaultToken });
  const dotfile = join(home, ".vault-token");
  const token = readSecretFile(dotfile, "Vault token file");
  return token ? headerSafe({ origin: dotfile, token }) : undefined;
}

const HEADER_SAFE = /^[\x21-\x7e]+$/;

/** A token travels in the X-Vault-Token header: anything but visible ASCII would make the request throw. */
function headerSafe(source: TokenSource): TokenSource {
  if (!HEADER_SAFE.test(source.token)) {
    throw new InvalidDataError(
      source.origin,
      "the Vault token contains characters a Vault token never has (only visible ASCII)",
      "copy the token again, without quotes or other characters around it",
    );
  }
  return source;
}

/** What a login answer says of the token it mints. */
export interface LoginAnswer {
  token: string;
  /** lease_duration, in seconds; 0 = never expires. */
  ttlSeconds: number;
}

function loginAnswer(body: unknown, what: string): LoginAnswer {
  const auth = (body as { auth?: { client_token?: unknown; lease_duration?: unknown } } | undefined)?.auth;
  if (!auth || typeof auth.client_token !== "string" || !HEADER_SAFE.test(auth.client_token)) {
    throw new InvalidDataError(`Vault ${what} answer`, "has no auth.client_token");
  }
  const ttl = auth.lease_duration;
  return {
    token: auth.client_token,
    ttlSeconds: typeof ttl === "number" && Number.isFinite(ttl) && ttl > 0 ? ttl : 0,
  };
}

async function login(
  client: VaultClient,
  path: string,
  payload: Record<string, string>,
  what: string,
): Promise<LoginAnswer> {
  client.token = undefined; // a login needs none, and the one in hand may be the invalid one
  const response = await client.request("POST", path, payload);
  if (response.status === 400) {
    throw new VaultDeniedError(`Vault ${what} login refused at ${path}`, {
      hint: "check the role id / secret id or user name / password configured for claude-auth-sync",
    });
  }
  if (response.status !== 200) unexpectedAnswer(`the ${what} login at ${path}`, response);
  return loginAnswer(response.body, what);
}

/**
 * A user's own password login (the PAM auth step, `enroll --method`) at CLAUDE_AUTH_SYNC_USER_AUTH_MOUNT.
 * The password goes only into the request body; Vault's refusal never quotes it.
 */
export async function userPasswordLogin(
  client: VaultClient,
  method: "ldap" | "userpass",
  mount: string,
  username: string,
  password: string,
): Promise<LoginAnswer> {
  return login(client, `auth/${mount}/login/${encodeURIComponent(username)}`, { password }, method);
}

/** One host login (approle, userpass, ldap): where it goes, what it sends, for whom. */
interface HostLogin {
  path: string;
  what: string;
  origin: string;
  principal: string;
  /** Read only when a login is needed: a run reusing the cached token never opens the secret file. */
  payload: () => Record<string, string>;
}

function hostLogin(
  config: Config,
  options: { loginName?: string | undefined; password?: string | undefined },
): HostLogin {
  const method = config.auth;
  if (method === "approle") {
    const roleId = config.approleRoleId;
    const secretIdFile = config.approleSecretIdFile;
    if (!roleId || !secretIdFile) {
      throw new InvalidDataError(
        "CLAUDE_AUTH_SYNC_APPROLE_ROLE_ID",
        "approle needs CLAUDE_AUTH_SYNC_APPROLE_ROLE_ID and CLAUDE_AUTH_SYNC_APPROLE_SECRET_ID_FILE",
      );
    }
    return {
      path: `auth/${config.authMount}/login`,
      what: "AppRole",
      origin: `approle (${config.authMount})`,
      principal: roleId,
      payload: () => {
        const secretId = readSecretFile(secretIdFile, "AppRole secret id file");
        if (!secretId)
          throw new InvalidDataError("CLAUDE_AUTH_SYNC_APPROLE_SECRET_ID_FILE", "file does not exist");
        return { role_id: roleId, secret_id: secretId };
      },
    };
  }
  const username = config.authUsername ?? options.loginName;
  if (!username) throw new InvalidDataError("CLAUDE_AUTH_SYNC_USERNAME", `${method} needs a user name`);
  return {
    path: `auth/${config.authMount}/login/${encodeURIComponent(username)}`,
    what: method,
    origin: `${method} (${config.authMount}) as ${username}`,
    principal: username,
    payload: () => {
      const password =
        options.password ??
        (config.authPasswordFile
          ? readSecretFile(config.authPasswordFile, `${method} password file`)
          : undefined);
      if (!password) {
        throw new InvalidDataError(
          "CLAUDE_AUTH_SYNC_PASSWORD_FILE",
          `${method} needs a password file (or an interactive prompt)`,
        );
      }
      return { password };
    },
  };
}

/**
 * Root's login, through the cached host token (host-token-cache.ts): the cached token while it has a
 * third of its life left; else a fresh login that replaces it, the replaced one revoked at the end of
 * the run. A cached token Vault calls invalid is replaced within the same run (client.relogin). Without
 * a usable cache directory every run logs in and revokes its token at the end.
 */
async function cachedHostLogin(client: VaultClient, config: Config, how: HostLogin): Promise<string> {
  const key: HostLoginKey = {
    addr: client.cluster,
    namespace: config.vaultNamespace ?? "",
    method: config.auth,
    mount: config.authMount,
    principal: how.principal,
  };
  const path = config.hostTokenCache;
  const found = readHostToken(path, key, Date.now(), config.timeoutMs);
  if ("warning" in found && found.warning) client.warnings.push(found.warning);
  const fresh = async (): Promise<void> => {
    const answer = await login(client, how.path, how.payload(), how.what);
    client.token = answer.token;
    if (found.kind === "refused") {
      client.spentTokens.push(answer.token);
      return;
    }
    try {
      writeHostToken(path, key, {
        token: answer.token,
        expiresAt: answer.ttlSeconds > 0 ? Date.now() + answer.ttlSeconds * 1000 : null,
        ttlSeconds: answer.ttlSeconds,
      });
    } catch (error) {
      client.warnings.push(
        `cannot keep the host's Vault token in ${path} (${(error as NodeJS.ErrnoException).code ?? String(error)}): each run logs in, and revokes its token when done`,
      );
      client.spentTokens.push(answer.token);
    }
  };
  if (found.kind === "usable") {
    client.token = found.entry.token;
    client.relogin = fresh;
    return `${how.origin}, cached token`;
  }
  await fresh();
  if (found.kind === "due") client.spentTokens.push(found.entry.token);
  return how.origin;
}

/**
 * Revokes (revoke-self) the tokens this run replaced or could not keep, within what is left of the
 * budget; best effort: a token that cannot be revoked now expires at its TTL.
 */
export async function revokeSpentTokens(client: VaultClient): Promise<void> {
  const current = client.token;
  client.relogin = undefined;
  try {
    for (const token of client.spentTokens.splice(0)) {
      client.token = token;
      await client.request("POST", "auth/token/revoke-self", {}).catch(() => undefined);
    }
  } finally {
    client.token = current;
  }
}

/**
 * Gives `client` a token. `home` is the home of the identity we speak for (root's for the host,
 * the invoking user's otherwise); `password` is a prompt's answer for userpass/ldap, when any.
 */
export async function authenticate(
  client: VaultClient,
  config: Config,
  home: string,
  options: { loginName?: string; password?: string } = {},
): Promise<string> {
  const method = config.auth;
  if (method === "token") {
    const source = findToken(config, home);
    if (!source) {
      throw new VaultDeniedError(
        "no Vault token: CLAUDE_AUTH_SYNC_TOKEN_FILE, VAULT_TOKEN and ~/.vault-token are all empty",
        {
          hint: "log in with `vault login` (users) or point CLAUDE_AUTH_SYNC_TOKEN_FILE at a Vault Agent sink (hosts)",
        },
      );
    }
    client.token = source.token;
    return source.origin;
  }
  // A token the user already has wins over a fresh login: `vault login -method=ldap` leaves ~/.vault-token.
  if (process.getuid?.() !== 0) {
    const source = findToken({ ...config, tokenFile: undefined }, home);
    if (source) {
      client.token = source.token;
      return source.origin;
    }
  }
  const how = hostLogin(config, options);
  // Root's configured identity is the host's; a prompted password is someone's own, one-off login.
  if (process.getuid?.() === 0 && options.password === undefined) return cachedHostLogin(client, config, how);
  client.token = (await login(client, how.path, how.payload(), how.what)).token;
  return how.origin;
}

export interface TokenInfo {
  ttlSeconds: number;
  renewable: boolean;
  creationTtlSeconds: number;
  /** A periodic token's period in seconds (renewable forever, each renewal back to the period); 0 = none. */
  periodSeconds: number;
  /** The identity entity behind the token; "" for none (a templated policy then matches nothing). */
  entityId: string;
  displayName: string;
  policies: string[];
}

export async function lookupSelf(client: VaultClient): Promise<TokenInfo> {
  const response = await client.request("GET", "auth/token/lookup-self");
  if (response.status !== 200) unexpectedAnswer("looking up the Vault token", response);
  const data = (response.body as { data?: Record<string, unknown> } | undefined)?.data ?? {};
  return {
    ttlSeconds: typeof data.ttl === "number" ? data.ttl : 0,
    renewable: data.renewable === true,
    creationTtlSeconds: typeof data.creation_ttl === "number" ? data.creation_ttl : 0,
    periodSeconds: typeof data.period === "number" ? data.period : 0,
    entityId: typeof data.entity_id === "string" ? data.entity_id : "",
    displayName: typeof data.display_name === "string" ? data.display_name : "",
    policies: Array.isArray(data.policies)
      ? data.policies.filter((p): p is string => typeof p === "string")
      : [],
  };
}

/** Renews a renewable token once less than a third of its life (or a day) is left. */
export async function renewTokenIfLow(
  client: VaultClient,
): Promise<"renewed" | "not-needed" | "not-renewable"> {
  const info = await lookupSelf(client);
  if (info.ttlSeconds === 0) return "not-needed"; // root and periodic-less non-expiring tokens
  if (!info.renewable) return "not-renewable";
  const threshold = Math.min(86_400, Math.max(60, info.creationTtlSeconds / 3));
  if (info.ttlSeconds > threshold) return "not-needed";
  const response = await client.request("POST", "auth/token/renew-self", {});
  if (response.status !== 200) unexpectedAnswer("renewing the Vault token", response);
  return "renewed";
}
