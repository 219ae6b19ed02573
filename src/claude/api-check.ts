// A live check of a setup token: one tiny Messages API call, the same request Claude Code makes with it.
//
// Why `POST /v1/messages?beta=true` and not the free `GET /v1/models`: a setup token carries only the
// `user:inference` scope, and what must work is inference, the call Claude Code will make with it.
// Listing models is not documented for OAuth tokens and would not prove that. The call is made as
// small as the API allows: Haiku (the cheapest model, and the one OAuth tokens may call without
// Claude Code's system prompt), a one-word prompt, `max_tokens: 1`, no streaming — one output token
// against the user's subscription quota.
import http from "node:http";
import https from "node:https";
import { VERSION } from "../version.js";

export const CHECK_MODEL = "claude-haiku-4-5";
export const MESSAGES_PATH = "/v1/messages?beta=true";
const MAX_ANSWER_BYTES = 64 * 1024;

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
export function checkSetupTokenLive(token: string, options: LiveCheckOptions): Promise<LiveCheck> {
  const base = options.baseUrl.pathname.replace(/\/+$/, "");
  const url = new URL(`${base}${MESSAGES_PATH}`, options.baseUrl);
  const body = Buffer.from(
    JSON.stringify({
      model: CHECK_MODEL,
      max_tokens: 1,
      messages: [{ role: "user", content: "ping" }],
    }),
  );
  const transport = url.protocol === "https:" ? https : http;
  return new Promise((resolve) => {
    let settled = false;
    const finish = (result: LiveCheck) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      request.destroy();
      resolve(result);
    };
    const request = transport.request(
      url,
      {
        method: "POST",
        headers: {
          Authorization: `Bearer ${token}`,
          "anthropic-beta": "oauth-2025-04-20",
          "anthropic-version": "2023-06-01",
          "Content-Type": "application/json",
          "Content-Length": String(body.length),
          "User-Agent": `claude-auth-sync/${VERSION}`,
        },
        agent: false,
        ...(url.protocol === "https:" ? { rejectUnauthorized: true } : {}),
      },
      (response) => {
        const chunks: Buffer[] = [];
        let size = 0;
        response.on("data", (chunk: Buffer) => {
          size += chunk.length;
          if (size <= MAX_ANSWER_BYTES) chunks.push(chunk);
        });
        response.on("error", () => finish(verdictOf(response.statusCode ?? 0, "")));
        response.on("end", () =>
          finish(
            verdictOf(response.statusCode ?? 0, apiErrorMessage(Buffer.concat(chunks).toString("utf8"))),
          ),
        );
      },
    );
    const timer = setTimeout(
      () => finish({ verdict: "unknown", reason: `no answer within ${options.timeoutMs} ms` }),
      options.timeoutMs,
    );
    request.on("error", (error: NodeJS.ErrnoException) =>
      finish({ verdict: "unknown", reason: `cannot reach ${url.origin} (${error.code ?? error.message})` }),
    );
    request.end(body);
  });
}
