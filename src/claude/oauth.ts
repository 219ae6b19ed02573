// Claude's OAuth token endpoint: one refresh grant, the request Claude Code itself makes.
// `POST <token URL>` with JSON {grant_type:"refresh_token", refresh_token, client_id, scope};
// the answer is {access_token, refresh_token, expires_in}. The grant is single-use: a successful
// answer has spent the refresh token sent, so the answer must reach the credentials file.
import { postJson } from "../system/post-json.js";
import type { RotatingCredential } from "./credentials.js";

export { DEFAULT_TOKEN_URL } from "./oauth-defaults.js";
/** Claude Code's public OAuth client id (../shared/FACTS.md). */
export const CLAUDE_CODE_CLIENT_ID = "9d1c250a-e61b-44d9-88ed-5944d1962f5e";

export type RefreshResult =
  /** 2xx with both tokens: the old refresh token is spent, this is the only copy of the new one. */
  | { kind: "renewed"; credential: RotatingCredential }
  /** The server refused the refresh token (`invalid_grant`): it is spent or revoked. */
  | { kind: "rejected"; reason: string }
  /**
   * No usable answer. `mayBeSpent`: the request reached the server and the answer was lost (timeout
   * after sending, reset, malformed 2xx), so the server may have rotated the token anyway.
   */
  | { kind: "failed"; reason: string; mayBeSpent: boolean };

/** The request body, exactly as Claude Code sends it. */
export function refreshRequestBody(credential: RotatingCredential): string {
  const scopes = Array.isArray(credential.scopes)
    ? credential.scopes.filter((s): s is string => typeof s === "string")
    : [];
  return JSON.stringify({
    grant_type: "refresh_token",
    refresh_token: credential.refreshToken,
    client_id: CLAUDE_CODE_CLIENT_ID,
    ...(scopes.length > 0 ? { scope: scopes.join(" ") } : {}),
  });
}

function isToken(value: unknown): value is string {
  return typeof value === "string" && value.length > 0 && value.length <= 4096 && !/[\s"'\\]/.test(value);
}

/** The OAuth error code and description, shortened, with anything token-shaped masked. */
function oauthError(text: string): string {
  try {
    const body = JSON.parse(text) as { error?: unknown; error_description?: unknown };
    const code =
      typeof body.error === "string"
        ? body.error
        : typeof (body.error as { type?: unknown })?.type === "string"
          ? String((body.error as { type: string }).type)
          : "";
    const description = typeof body.error_description === "string" ? `: ${body.error_description}` : "";
    return `${code}${description}`.replace(/sk-ant-[A-Za-z0-9_-]+/g, "sk-ant-…").slice(0, 200);
  } catch {
    return "";
  }
}

/** Maps the token endpoint's answer to a result (pure: every status is tested without a server). */
export function refreshVerdict(
  status: number,
  text: string,
  old: RotatingCredential,
  now: number,
): RefreshResult {
  if (status >= 200 && status < 300) {
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(text) as Record<string, unknown>;
    } catch {
      return { kind: "failed", reason: `HTTP ${status} with a body that is not JSON`, mayBeSpent: true };
    }
    const { access_token, refresh_token, expires_in, scope } = body;
    if (!isToken(access_token) || !isToken(refresh_token)) {
      return { kind: "failed", reason: `HTTP ${status} without both tokens`, mayBeSpent: true };
    }
    if (typeof expires_in !== "number" || !Number.isFinite(expires_in) || expires_in <= 0) {
      return { kind: "failed", reason: `HTTP ${status} without a valid expires_in`, mayBeSpent: true };
    }
    const credential: RotatingCredential = {
      ...old,
      accessToken: access_token,
      refreshToken: refresh_token,
      expiresAt: now + Math.round(expires_in * 1000),
      ...(typeof scope === "string" && scope.trim() !== "" ? { scopes: scope.trim().split(/\s+/) } : {}),
    };
    return { kind: "renewed", credential };
  }
  const error = oauthError(text);
  const said = error ? ` (${error})` : "";
  if (status >= 400 && status < 500 && /^invalid_grant\b/.test(error)) {
    return { kind: "rejected", reason: `HTTP ${status}${said}` };
  }
  return { kind: "failed", reason: `the token endpoint answered HTTP ${status}${said}`, mayBeSpent: false };
}

export interface RefreshOptions {
  tokenUrl: URL;
  /** The rest of the run's budget: the request never outlives the run. */
  timeoutMs: number;
  /** Clock for `expiresAt` (tests). */
  now?: () => number;
}

/** One refresh grant, bounded by `timeoutMs`; never throws, never puts a token in a reason. */
export async function refreshCredential(
  credential: RotatingCredential,
  options: RefreshOptions,
): Promise<RefreshResult> {
  const url = options.tokenUrl;
  const clock = options.now ?? Date.now;
  const outcome = await postJson(url, refreshRequestBody(credential), { timeoutMs: options.timeoutMs });
  switch (outcome.kind) {
    case "answer":
      return refreshVerdict(outcome.status, outcome.text, credential, clock());
    case "cut":
      return { kind: "failed", reason: "the answer was cut off", mayBeSpent: true };
    case "timeout":
      return {
        kind: "failed",
        reason: `no answer from ${url.origin} within ${options.timeoutMs} ms`,
        mayBeSpent: outcome.sent,
      };
    case "error":
      return {
        kind: "failed",
        reason: `cannot reach ${url.origin} (${outcome.code})`,
        mayBeSpent: outcome.sent && outcome.code !== "ECONNREFUSED",
      };
  }
}
