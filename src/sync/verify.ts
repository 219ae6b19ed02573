// Credential verification: does the API accept the credential Claude will use? One cheap request
// (src/claude/api-check.ts), at most once per interval, never on the login path. The verdict is kept
// in the user's own directory, tied to a fingerprint of the credential it judged, so a new
// credential is never judged by an old verdict.
import { checkSetupTokenLive, type LiveCheck } from "../claude/api-check.js";
import type { CredentialsFileState } from "../claude/credentials.js";
import { builtin } from "../system/builtin.js";
import type { UserHome } from "../system/home.js";
import type { EnvFileState } from "./plan.js";

export const VERIFICATION_DIR = [".config", "claude-auth-sync"] as const;
export const VERIFICATION_FILE = "verification.json";

export type Verdict = "valid" | "invalid" | "unknown";

export interface Verification {
  at: string;
  verdict: Verdict;
  /** Which credential was judged. */
  credential: "setup-token" | "access-token";
  /** sha256 of the credential, first 16 hex digits: identifies it without revealing it. */
  fingerprint: string;
  /** Why, in one line; never a secret. */
  reason: string;
}

export interface VerifyPolicy {
  intervalMs: number;
  /** After an "unknown" (API down, rate limited), ask again sooner than the interval. */
  retryMs: number;
}

export function fingerprint(secret: string): string {
  // node:crypto is loaded only when a fingerprint is needed, not at every login.
  const { createHash } = builtin("node:crypto") as typeof import("node:crypto");
  return createHash("sha256").update(secret).digest("hex").slice(0, 16);
}

/** The credential Claude would use now: the setup token when present, else a live access token. */
export function credentialToVerify(
  envFile: EnvFileState,
  credentials: CredentialsFileState,
  now: number,
): { kind: Verification["credential"]; secret: string } | { skip: string } {
  if (envFile.kind === "present" && envFile.token) return { kind: "setup-token", secret: envFile.token };
  if (credentials.kind !== "valid") return { skip: "no usable credential to verify" };
  if (credentials.credential.expiresAt <= now) {
    return { skip: "the access token has expired; Claude refreshes it on next use" };
  }
  return { kind: "access-token", secret: credentials.credential.accessToken };
}

/** Whether a verification is due for this credential (pure). */
export function verificationDue(
  last: Verification | undefined,
  currentFingerprint: string,
  now: number,
  policy: VerifyPolicy,
): boolean {
  if (!last || last.fingerprint !== currentFingerprint) return true;
  const age = now - Date.parse(last.at);
  if (!Number.isFinite(age) || age < 0) return true;
  return age >= (last.verdict === "unknown" ? policy.retryMs : policy.intervalMs);
}

export function verdictFrom(check: LiveCheck): { verdict: Verdict; reason: string } {
  switch (check.verdict) {
    case "accepted":
      return { verdict: "valid", reason: `accepted by the API (HTTP ${check.status})` };
    case "rejected":
      return { verdict: "invalid", reason: `rejected by the API (${check.reason})` };
    default:
      return { verdict: "unknown", reason: check.reason };
  }
}

export function readVerification(home: UserHome): Verification | undefined {
  try {
    const file = home.read(VERIFICATION_DIR, VERIFICATION_FILE);
    if (!file) return undefined;
    const parsed = JSON.parse(file.text) as Partial<Verification>;
    if (
      typeof parsed.at !== "string" ||
      !["valid", "invalid", "unknown"].includes(String(parsed.verdict)) ||
      typeof parsed.fingerprint !== "string"
    ) {
      return undefined;
    }
    return {
      at: parsed.at,
      verdict: parsed.verdict as Verdict,
      credential: parsed.credential === "access-token" ? "access-token" : "setup-token",
      fingerprint: parsed.fingerprint,
      reason: typeof parsed.reason === "string" ? parsed.reason : "",
    };
  } catch {
    return undefined;
  }
}

export function writeVerification(home: UserHome, verification: Verification): void {
  home.write(VERIFICATION_DIR, VERIFICATION_FILE, `${JSON.stringify(verification)}\n`, 0o600, {
    durable: false,
  });
}

/** Whether the last verdict says the credential Claude uses now is dead. */
export function knownInvalid(
  last: Verification | undefined,
  currentFingerprint: string | undefined,
): boolean {
  return (
    last?.verdict === "invalid" && currentFingerprint !== undefined && last.fingerprint === currentFingerprint
  );
}

export interface VerifyOptions {
  baseUrl: URL;
  timeoutMs: number;
  now: Date;
  policy: VerifyPolicy;
  /** Verify even when a recent verdict exists (`status --verify`). */
  force?: boolean;
}

export type VerifyOutcome =
  | { ran: false; reason: string; last: Verification | undefined }
  | { ran: true; verification: Verification };

/**
 * Verifies the user's current credential if due. `envFile`/`credentials` are the local state as
 * the sync left it. Reading and writing the verdict happen as the user (UserHome).
 */
export async function verifyCredential(
  home: UserHome,
  envFile: EnvFileState,
  credentials: CredentialsFileState,
  options: VerifyOptions,
  check: typeof checkSetupTokenLive = checkSetupTokenLive,
): Promise<VerifyOutcome> {
  const last = readVerification(home);
  const target = credentialToVerify(envFile, credentials, options.now.getTime());
  if ("skip" in target) return { ran: false, reason: target.skip, last };
  const print = fingerprint(target.secret);
  if (!options.force && !verificationDue(last, print, options.now.getTime(), options.policy)) {
    return { ran: false, reason: "verified recently", last };
  }
  const result = verdictFrom(
    await check(target.secret, { baseUrl: options.baseUrl, timeoutMs: options.timeoutMs }),
  );
  const verification: Verification = {
    at: options.now.toISOString(),
    credential: target.kind,
    fingerprint: print,
    ...result,
  };
  writeVerification(home, verification);
  return { ran: true, verification };
}

/** What the user should do about a rejected credential (the shell notice and status). */
export function invalidNotice(credential: Verification["credential"]): string {
  return credential === "setup-token"
    ? "claude-auth-sync: your Claude setup token was rejected (revoked or expired). Run `claude setup-token`, then `claude-auth rotate`."
    : "claude-auth-sync: your Claude login was rejected. Run `claude auth login` (or `claude setup-token` then `claude-auth enable`).";
}
