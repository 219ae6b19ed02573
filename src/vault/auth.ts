// Who we are to Vault: the host identity (root: timer, PAM) or the user's own (enable, status, sync).
import { closeSync, constants as fsConstants, fstatSync, openSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { Config } from "../config.js";
import { AuthSyncError, ExitCode, InvalidDataError, VaultDeniedError } from "../errors.js";
import { unexpectedAnswer, type VaultClient } from "./client.js";

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

function loginToken(body: unknown, what: string): string {
  const auth = (body as { auth?: { client_token?: unknown } } | undefined)?.auth;
  if (!auth || typeof auth.client_token !== "string" || !HEADER_SAFE.test(auth.client_token)) {
    throw new InvalidDataError(`Vault ${what} answer`, "has no auth.client_token");
  }
  return auth.client_token;
}

async function login(
  client: VaultClient,
  path: string,
  payload: Record<string, string>,
  what: string,
): Promise<string> {
  const response = await client.request("POST", path, payload);
  if (response.status === 400) {
    throw new VaultDeniedError(`Vault ${what} login refused at ${path}`, {
      hint: "check the role id / secret id or user name / password configured for claude-auth-sync",
    });
  }
  if (response.status !== 200) unexpectedAnswer(`the ${what} login at ${path}`, response);
  return loginToken(response.body, what);
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
  if (method === "approle") {
    if (!config.approleRoleId || !config.approleSecretIdFile) {
      throw new InvalidDataError(
        "CLAUDE_AUTH_SYNC_APPROLE_ROLE_ID",
        "approle needs CLAUDE_AUTH_SYNC_APPROLE_ROLE_ID and CLAUDE_AUTH_SYNC_APPROLE_SECRET_ID_FILE",
      );
    }
    const secretId = readSecretFile(config.approleSecretIdFile, "AppRole secret id file");
    if (!secretId)
      throw new InvalidDataError("CLAUDE_AUTH_SYNC_APPROLE_SECRET_ID_FILE", "file does not exist");
    client.token = await login(
      client,
      `auth/${config.authMount}/login`,
      { role_id: config.approleRoleId, secret_id: secretId },
      "AppRole",
    );
    return `approle (${config.authMount})`;
  }
  const username = config.authUsername ?? options.loginName;
  if (!username) throw new InvalidDataError("CLAUDE_AUTH_SYNC_USERNAME", `${method} needs a user name`);
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
  client.token = await login(
    client,
    `auth/${config.authMount}/login/${encodeURIComponent(username)}`,
    { password },
    method,
  );
  return `${method} (${config.authMount}) as ${username}`;
}

export interface TokenInfo {
  ttlSeconds: number;
  renewable: boolean;
  creationTtlSeconds: number;
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
