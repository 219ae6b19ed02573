// A live check of a setup token: one tiny Messages API call, the same request Claude Code makes with it.
//
// Why `POST /v1/messages?beta=true` and not the free `GET /v1/models`: a setup token carries only the
// `user:inference` scope, and what must work is inference, the call Claude Code will make with it.
// Listing models is not documented for OAuth tokens and would not prove that. The call is made as
// small as the API allows: Haiku (the cheapest model, and the one OAuth tokens may call without
// Claude Code's system prompt), a one-word prompt, `max_tokens: 1`, no streaming — one output token
// against the user's subscription quota.
import { postJson } from "../system/post-json.js";

export const CHECK_MODEL = "claude-haiku-4-5";
export const MESSAGES_PATH = "/v1/messages?beta=true";

export type LiveCheck =
  /** The API answered 2xx: the token works for inference. */
  | { verdict: "accepted"; status: number }
  /** 401/403: the token is unknown, revoked or expired. */
  | { verdict: "rejected"; status: number; reason: string }
  /** The API could not say (down, slow, rate limited, an answer we do not know): never blocks. */
  | { verdict: "unknown"; reason: string };

/** Maps an HTTP answer to a verdict (pure, so every status is tested without a server). */
export function verdictOf(status: number, apiMessage: string): LiveCheck {
  const said = apiMessage ? `: ${apiMessage}` : "";
  if (status >= 200 && status < 300) return { verdict: "accepted", status };
  if (status === 401 || status === 403)
    return { verdict: "rejected", status, reason: `HTTP ${status}${said}` };
  if (status === 429) return { verdict: "unknown", reason: `rate limited (HTTP 429${said})` };
  if (status >= 500) return { verdict: "unknown", reason: `the API is unavailable (HTTP ${status}${said})` };
  return { verdict: "unknown", reason: `unexpected answer HTTP ${status}${said}` };
}

/** Anthropic's `{"error":{"message"}}`, shortened and with anything token-shaped masked. */
export function apiErrorMessage(text: string): string {
  try {
    const message = (JSON.parse(text) as { error?: { message?: unknown } }).error?.message;
    if (typeof message !== "string") return "";
    return message.replace(/sk-ant-[A-Za-z0-9_-]+/g, "sk-ant-…").slice(0, 200);
  } catch {
    return "";
  }
}

export interface LiveCheckOptions {
  baseUrl: URL;
  timeoutMs: number;
}

/** One request, bounded by `timeoutMs`; never throws, never includes the token in a reason. */
export async function checkSetupTokenLive(token: string, options: LiveCheckOptions): Promise<LiveCheck> {
  const base = options.baseUrl.pathname.replace(/\/+$/, "");
  const url = new URL(`${base}${MESSAGES_PATH}`, options.baseUrl);
  const outcome = await postJson(
    url,
    { model: CHECK_MODEL, max_tokens: 1, messages: [{ role: "user", content: "ping" }] },
    {
      timeoutMs: options.timeoutMs,
      headers: {
        Authorization: `Bearer ${token}`,
        "anthropic-beta": "oauth-2025-04-20",
        "anthropic-version": "2023-06-01",
      },
    },
  );
  switch (outcome.kind) {
    case "answer":
      return verdictOf(outcome.status, apiErrorMessage(outcome.text));
    case "cut":
      return verdictOf(outcome.status, "");
    case "timeout":
      return { verdict: "unknown", reason: `no answer within ${options.timeoutMs} ms` };
    case "error":
      return { verdict: "unknown", reason: `cannot reach ${url.origin} (${outcome.code})` };
  }
}
