// Enrolling a user's own Vault token for claude-auth-sync (`user` identity mode): checking what it can
// reach, storing it in the home as the user, taking it at a password login (the PAM auth step), and
// giving it back (unenroll).
import { statSync } from "node:fs";
import { type Config, documentPath } from "../config.js";
import { AuthSyncError, ExitCode, VaultDeniedError } from "../errors.js";
import { readSyncState } from "../sync/state.js";
import { putHandover, takeHandover } from "../system/handover.js";
import { UserHome } from "../system/home.js";
import type { SystemUser } from "../system/users.js";
import { findToken, lookupSelf, type TokenInfo, type TokenSource, userPasswordLogin } from "./auth.js";
import { unexpectedAnswer, type VaultClient } from "./client.js";
import {
  type Identity,
  identityOf,
  notEnrolledError,
  readEnrolledToken,
  VAULT_TOKEN_DIR,
  VAULT_TOKEN_DISPLAY,
  VAULT_TOKEN_FILE,
} from "./identity.js";

/** A name no login has: a token that reaches its document reaches every user's. */
export const PROBE_USER = "claude-auth-sync-probe";

/** What a token can do, as enroll and doctor judge it. */
export interface TokenAssessment {
  info: TokenInfo;
  /** Capabilities on the user's own document (`<mount>/data/<path>`). */
  own: string[];
  /** On another user's document: anything but `deny` means the token reaches every user's. */
  other: string[];
  /** Reasons the token cannot serve (nothing is stored). */
  failures: string[];
  /** Stored all the same, but worth saying. */
  warnings: string[];
  /** How long it lives, in words. */
  lifetime: string;
}

function duration(seconds: number): string {
  if (seconds >= 2 * 86_400) return `${Math.round(seconds / 86_400)} days`;
  if (seconds >= 2 * 3600) return `${Math.round(seconds / 3600)} hours`;
  return `${Math.max(1, Math.round(seconds / 60))} minutes`;
}

async function capabilities(client: VaultClient, paths: string[]): Promise<Record<string, string[]>> {
  const response = await client.request("POST", "sys/capabilities-self", { paths });
  if (response.status !== 200) unexpectedAnswer("asking Vault for the token's capabilities", response);
  const body = (response.body ?? {}) as Record<string, unknown>;
  const data = (body.data ?? body) as Record<string, unknown>;
  const result: Record<string, string[]> = {};
  for (const path of paths) {
    const value = data[path];
    result[path] = Array.isArray(value) ? value.filter((c): c is string => typeof c === "string") : ["deny"];
  }
  return result;
}

/** Judges the token `client` holds for `user`: entity, own and others' documents, policies, lifetime. */
export async function assessUserToken(
  client: VaultClient,
  config: Config,
  user: string,
): Promise<TokenAssessment> {
  const info = await lookupSelf(client);
  const own = `${config.kvMount}/data/${documentPath(config, user)}`;
  const other = `${config.kvMount}/data/${documentPath(config, PROBE_USER)}`;
  const caps = await capabilities(client, [own, other]);
  const ownCaps = caps[own] ?? ["deny"];
  const otherCaps = caps[other] ?? ["deny"];
  const failures: string[] = [];
  const warnings: string[] = [];
  const root = ownCaps.includes("root");
  if (!info.entityId && !root) {
    failures.push(
      "the token has no identity entity (a token made from a token role with orphan=true, or with `token create`): a templated per-user policy matches nothing for it; log in through your auth method instead",
    );
  }
  const can = (c: string) => root || ownCaps.includes(c);
  if (!can("read") || !(can("create") || can("update"))) {
    failures.push(
      `the token cannot read and write your document ${own} (it has: ${ownCaps.join(", ")}); the per-user policy is missing from this login (docs/runbook.md, "Vault setup for user mode")`,
    );
  }
  if (root || !otherCaps.includes("deny")) {
    warnings.push(
      `the token also reaches other users' documents (${other}: ${otherCaps.join(", ")}); it will be stored on this host, where root can read it: prefer a login whose only policy is the per-user one`,
    );
  }
  const extra = info.policies.filter((p) => p !== "default");
  if (extra.includes("root") || extra.length > 1) {
    warnings.push(
      `the token carries the policies ${extra.join(", ")}; it will be stored on this host: a dedicated login with only the per-user policy limits what a stolen copy could do`,
    );
  }
  let lifetime: string;
  if (info.ttlSeconds === 0) lifetime = "never expires";
  else if (info.periodSeconds > 0)
    lifetime = `periodic (${duration(info.periodSeconds)}): the timer renews it for as long as you use this host`;
  else {
    lifetime = `expires in ${duration(info.ttlSeconds)}${info.renewable ? " (renewable up to its max TTL)" : " (not renewable)"}`;
    warnings.push(
      `the token is not periodic and ${lifetime}: enroll again before then, or ask for a login with token_period (docs/runbook.md)`,
    );
  }
  return { info, own: ownCaps, other: otherCaps, failures, warnings, lifetime };
}

/** Stores the token in the home, as the user, 0600, atomically. */
export function storeEnrolledToken(home: UserHome, token: string): void {
  home.write(VAULT_TOKEN_DIR, VAULT_TOKEN_FILE, `${token}\n`, 0o600);
}

/** Revokes the token `client` holds (revoke-self); a token Vault already calls invalid is gone anyway. */
export async function revokeOwnToken(client: VaultClient): Promise<"revoked" | "already-invalid"> {
  try {
    const response = await client.request("POST", "auth/token/revoke-self", {});
    if (response.status !== 204 && response.status !== 200)
      unexpectedAnswer("revoking the Vault token", response);
    return "revoked";
  } catch (error) {
    if (error instanceof VaultDeniedError && /invalid token|permission denied/.test(error.message))
      return "already-invalid";
    throw error;
  }
}

/** The password as pam_exec's expose_authtok hands it over: up to the first NUL, one line break trimmed. */
export function parseAuthtok(raw: Buffer): string {
  let text = raw.toString("utf8");
  const nul = text.indexOf("\0");
  if (nul >= 0) text = text.slice(0, nul);
  if (text.endsWith("\n")) text = text.slice(0, -1);
  return text;
}

export type LoginEnrollment = "enrolled" | "held-for-session" | "already-enrolled" | "no-password" | "off";

/**
 * The PAM auth step: with the password just typed, logs the user in at CLAUDE_AUTH_SYNC_USER_AUTH_MOUNT
 * and stores the token, unless a token that still works is enrolled. A home that does not exist yet
 * gets it at the session step (tmpfs hand-over). A refused password throws VaultDeniedError; nothing changes.
 */
export async function enrollAtPasswordLogin(
  client: VaultClient,
  config: Config,
  user: SystemUser,
  password: string,
  now: number,
): Promise<LoginEnrollment> {
  if (config.identity !== "user" || config.userAuth === undefined) return "off";
  if (password === "") return "no-password";
  const home = new UserHome(user);
  const homeExists = homeDirectoryExists(home);
  if (homeExists && stillEnrolled(home, now)) return "already-enrolled";
  const answer = await userPasswordLogin(client, config.userAuth, config.userAuthMount, user.name, password);
  try {
    if (homeExists) {
      storeEnrolledToken(home, answer.token);
      return "enrolled";
    }
    putHandover(user.name, answer.token);
    return "held-for-session";
  } catch (error) {
    // Kept nowhere: give the fresh token back rather than leave it alive in Vault, unused, at each login.
    client.token = answer.token;
    await revokeOwnToken(client).catch(() => undefined);
    throw error;
  }
}

function homeDirectoryExists(home: UserHome): boolean {
  try {
    return home.batch(() => statSync(home.user.home).isDirectory());
  } catch {
    return false;
  }
}

/** An enrolled token no run has seen refused or expire: no new login needed. */
function stillEnrolled(home: UserHome, now: number): boolean {
  try {
    return home.batch(() => {
      if (readEnrolledToken(home) === undefined) return false;
      const identity = readSyncState(home)?.identity;
      if (!identity) return true;
      return identity.valid && (identity.expiresAt === null || identity.expiresAt > now);
    });
  } catch {
    return false; // an unreadable file there is replaced by a fresh login
  }
}

/**
 * The session step: a token the auth step held on tmpfs goes into the (now existing) home. One that
 * cannot be stored there (no home after all, a refused directory) is revoked through `client`.
 */
export async function adoptHeldToken(client: VaultClient, user: SystemUser, now: number): Promise<boolean> {
  const token = takeHandover(user.name, now);
  if (token === undefined) return false;
  try {
    storeEnrolledToken(new UserHome(user), token);
    return true;
  } catch (error) {
    client.token = token;
    await revokeOwnToken(client).catch(() => undefined);
    throw new AuthSyncError(
      `cannot store ${user.name}'s Vault token in ${VAULT_TOKEN_DISPLAY} (revoked it): ${(error as Error).message}`,
      ExitCode.error,
      {
        hint: "the home must exist before this line (pam_mkhomedir first); the next password login enrolls again",
      },
    );
  }
}

/**
 * `enroll` and enable's enrollment: checks the token for `user` and, when it can serve, stores it.
 * Throws VaultDeniedError naming every failure (nothing stored).
 */
export async function enrollToken(
  client: VaultClient,
  config: Config,
  user: SystemUser,
  token: string,
): Promise<TokenAssessment> {
  client.token = token;
  const assessment = await assessUserToken(client, config, user.name);
  if (assessment.failures.length > 0) {
    throw new VaultDeniedError(
      `this Vault token cannot serve as ${user.name}'s identity: ${assessment.failures.join("; ")}`,
      {
        hint: 'nothing was stored; see docs/runbook.md, "Vault setup for user mode", for the login the tool needs',
      },
    );
  }
  storeEnrolledToken(new UserHome(user), token);
  return assessment;
}

/** The user's current Vault token (VAULT_TOKEN, then ~/.vault-token): what `enroll` takes by default. */
export function currentUserToken(config: Config, user: SystemUser): TokenSource | undefined {
  return findToken({ ...config, tokenFile: undefined }, user.home);
}

/**
 * The identity enable, rotate and disable act with. `user` mode: the enrolled token; if none, the user's
 * current token, enrolled first when `enroll` (enable, rotate) or used once (disable). Root cannot
 * enroll anyone: that takes the user's own login.
 */
export async function commandIdentity(
  client: VaultClient,
  config: Config,
  user: SystemUser,
  options: { enroll: boolean },
): Promise<{ identity: Identity; enrolled?: TokenAssessment }> {
  if (config.identity === "host") return { identity: { kind: "host" } };
  const enrolled = identityOf(config, new UserHome(user));
  if (enrolled.kind === "user") return { identity: enrolled };
  const current = process.getuid?.() === user.uid ? currentUserToken(config, user) : undefined;
  if (!current) throw notEnrolledError(user.name);
  if (!options.enroll) return { identity: { kind: "user", token: current.token } };
  const assessment = await enrollToken(client, config, user, current.token);
  return { identity: { kind: "user", token: current.token }, enrolled: assessment };
}
