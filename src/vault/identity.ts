// Whose Vault token a run uses for a user's document (CLAUDE_AUTH_SYNC_IDENTITY): in `user` mode the
// user's own, enrolled in ~/.config/claude-auth-sync/vault-token and read as the user; in `host` mode the
// workstation's (vault/auth.ts). Also keeps the user's token alive and names it when Vault refuses it.
import type { Config } from "../config.js";
import { type AuthSyncError, ExitCode, InvalidDataError, VaultDeniedError } from "../errors.js";
import type { SyncResult } from "../sync/run.js";
import type { UserHome } from "../system/home.js";
import { authenticate, lookupSelf, renewTokenIfLow } from "./auth.js";
import { unexpectedAnswer, type VaultClient } from "./client.js";

export const VAULT_TOKEN_DIR = [".config", "claude-auth-sync"] as const;
export const VAULT_TOKEN_FILE = "vault-token";
export const VAULT_TOKEN_DISPLAY = "~/.config/claude-auth-sync/vault-token";

export type Identity =
  /** The workstation's own identity: CLAUDE_AUTH_SYNC_AUTH, as before per-user identity existed. */
  | { kind: "host" }
  /** The user's enrolled token. */
  | { kind: "user"; token: string }
  /** `user` mode, nothing enrolled: every path is a no-op for this user. */
  | { kind: "unenrolled" };

/** What a run learnt of the user's token: when it expires (ms epoch; null = never) and whether it still works. */
export interface IdentityLife {
  valid: boolean;
  expiresAt: number | null;
  renewed?: boolean;
}

const VAULT_TOKEN_SHAPE = /^[\x21-\x7e]{1,4096}$/;

/** The file's token: visible ASCII only, since it travels in a header (the file is the user's, so hostile). */
export function parseVaultToken(text: string, origin: string): string {
  const token = text.trim();
  if (!VAULT_TOKEN_SHAPE.test(token)) {
    throw new InvalidDataError(
      origin,
      "is not a Vault token (empty, several words or characters a token never has)",
      "run `claude-auth enroll` again (or `claude-auth unenroll` to stop)",
    );
  }
  return token;
}

/** The enrolled token, read as the user (inside `home.batch` to share its identity switch). */
export function readEnrolledToken(home: UserHome): string | undefined {
  const file = home.read(VAULT_TOKEN_DIR, VAULT_TOKEN_FILE);
  return file ? parseVaultToken(file.text, home.path(...VAULT_TOKEN_DIR, VAULT_TOKEN_FILE)) : undefined;
}

/** The identity a run for a user speaks with, from the mode and what the home holds. */
export function chooseIdentity(config: Config, enrolledToken: string | undefined): Identity {
  if (config.identity === "host") return { kind: "host" };
  return enrolledToken === undefined ? { kind: "unenrolled" } : { kind: "user", token: enrolledToken };
}

/** The identity for a command acting for `user` (reads the enrolled token as the user, `user` mode only). */
export function identityOf(config: Config, home: UserHome): Identity {
  return chooseIdentity(
    config,
    config.identity === "user" ? home.batch(() => readEnrolledToken(home)) : undefined,
  );
}

/** Gives `client` the chosen identity's token; returns where it came from (never the token). */
export async function speakAs(
  client: VaultClient,
  config: Config,
  identity: Identity,
  request: { identityHome: string; loginName: string },
): Promise<string> {
  if (identity.kind === "host") {
    return authenticate(client, config, request.identityHome, { loginName: request.loginName });
  }
  if (identity.kind === "unenrolled") throw notEnrolledError(request.loginName);
  client.token = identity.token;
  return `${request.loginName}'s own token (${VAULT_TOKEN_DISPLAY})`;
}

export function notEnrolledError(user: string): AuthSyncError {
  return new VaultDeniedError(`${user} has no Vault identity enrolled for claude-auth-sync`, {
    hint: "log in once with your password, or run `claude-auth enroll` (after `vault login`)",
  });
}

/** The one line a run for an unenrolled user reports: nothing was read or written. */
export function notEnrolledMessage(user: string): string {
  return `not enrolled: ${user} has no Vault token in ${VAULT_TOKEN_DISPLAY} (CLAUDE_AUTH_SYNC_IDENTITY=user), nothing synced; enroll by logging in with a password or with \`claude-auth enroll\``;
}

/** Vault's answer to a token that expired or was revoked (a 403 that says so). */
export function isInvalidToken(error: unknown): boolean {
  return error instanceof VaultDeniedError && /invalid token/.test(error.message);
}

/**
 * A refusal in `user` mode said in the user's terms: an invalid token means re-enrolling; any other 403
 * means the token's policies do not reach the user's own document (a Vault-side setup matter).
 */
export function explainRefusal(error: unknown, identity: Identity, user: string): unknown {
  if (identity.kind !== "user" || !(error instanceof VaultDeniedError)) return error;
  if (isInvalidToken(error)) {
    return new IdentityExpiredError(
      `the Vault token enrolled for ${user} (${VAULT_TOKEN_DISPLAY}) has expired or was revoked`,
    );
  }
  return new VaultDeniedError(error.message, {
    hint: `${user}'s own token has no access to their document: ask the Vault admin for the per-user policy on the login ${user} enrolled with (docs/runbook.md, "Vault setup for user mode"), then run \`claude-auth doctor\``,
  });
}

export class IdentityExpiredError extends VaultDeniedError {
  constructor(message: string) {
    super(message, {
      hint: "log in once with your password (enrolls again), or run `claude-auth enroll` (after `vault login`)",
    });
    this.name = "IdentityExpiredError";
  }
}

/** The next shell's notice when the enrolled token no longer works. */
export function identityNotice(): string {
  return (
    "claude-auth-sync: your Vault token for claude-auth-sync has expired or was revoked, so your Claude " +
    "login is no longer backed up or restored. Log in once with your password, or run `claude-auth enroll`."
  );
}

/**
 * Timer and manual runs: renews the user's token (renew-self) once less than half its period or TTL is
 * left, and says when it expires. In `host` mode the host token keeps its own rule (renewTokenIfLow).
 */
export async function keepIdentityAlive(
  client: VaultClient,
  config: Config,
  identity: Identity,
  now: number,
): Promise<IdentityLife | undefined> {
  if (identity.kind === "host") {
    if (config.auth === "token") await renewTokenIfLow(client).catch(() => undefined);
    return undefined;
  }
  if (identity.kind !== "user") return undefined;
  const info = await lookupSelf(client);
  if (info.ttlSeconds === 0) return { valid: true, expiresAt: null };
  // creation_ttl first: a period capped by the mount's max TTL renews to that cap, not to the period.
  const full = info.creationTtlSeconds || info.periodSeconds;
  if (!info.renewable || info.ttlSeconds * 2 >= full) {
    return { valid: true, expiresAt: now + info.ttlSeconds * 1000 };
  }
  const response = await client.request("POST", "auth/token/renew-self", {});
  if (response.status !== 200) unexpectedAnswer("renewing your Vault token", response);
  const lease = (response.body as { auth?: { lease_duration?: unknown } } | undefined)?.auth?.lease_duration;
  const ttl = typeof lease === "number" && lease > 0 ? lease : info.ttlSeconds;
  return { valid: true, expiresAt: now + ttl * 1000, renewed: true };
}

/** The identity-expiry metric's value: the expiry, 0 once refused, none for a token that never expires. */
export function identityExpiryMetric(
  life: { valid: boolean; expiresAt: number | null } | undefined,
): number | undefined {
  if (!life) return undefined;
  if (!life.valid) return 0;
  return life.expiresAt ?? undefined;
}

/** `user` mode, nothing enrolled: a run that reads nothing from Vault and writes nothing. */
export function unenrolledResult(user: string, dryRun: boolean): SyncResult {
  return {
    user,
    exitCode: ExitCode.ok,
    plan: undefined,
    applied: [],
    message: notEnrolledMessage(user),
    vaultRequests: 0,
    durationMs: 0,
    dryRun,
  };
}
