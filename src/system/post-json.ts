// One bounded JSON POST, for the API check, the OAuth refresh and Alertmanager, over src/system/http1.ts
// (node:tls is loaded on first https use only: the login path, which never posts, pays nothing).

import { VERSION } from "../version.js";
import { exchange } from "./http1.js";

const MAX_ANSWER_BYTES = 64 * 1024;

export type PostOutcome =
  /** A complete answer (the body is capped at 64 KiB). */
  | { kind: "answer"; status: number; text: string }
  /** The connection broke mid-answer. */
  | { kind: "cut"; status: number }
  /** No complete answer within the time limit; `sent`: the request had gone out. */
  | { kind: "timeout"; sent: boolean }
  /** The connection failed (refused, reset, DNS, TLS); `sent`: the request had gone out. */
  | { kind: "error"; code: string; sent: boolean };

export interface PostOptions {
  timeoutMs: number;
  headers?: Record<string, string>;
}

/** POSTs `payload` as JSON; never throws. TLS always verifies (no setting turns it off). */
export async function postJson(url: URL, payload: unknown, options: PostOptions): Promise<PostOutcome> {
  const body = Buffer.from(typeof payload === "string" ? payload : JSON.stringify(payload));
  const outcome = await exchange({
    url,
    method: "POST",
    headers: {
      "Content-Type": "application/json",
      Accept: "application/json",
      "User-Agent": `claude-auth-sync/${VERSION}`,
      ...options.headers,
    },
    body,
    timeoutMs: options.timeoutMs,
    maxBodyBytes: MAX_ANSWER_BYTES,
  });
  switch (outcome.kind) {
    case "answer":
      return { kind: "answer", status: outcome.status, text: outcome.body.toString("utf8") };
    case "cut":
    case "timeout":
      return outcome;
    case "error":
      return { kind: "error", code: outcome.code, sent: outcome.sent };
    case "malformed":
      return { kind: "error", code: `not an HTTP answer (${outcome.reason})`, sent: true };
    case "too-large":
      return { kind: "error", code: `answer larger than ${MAX_ANSWER_BYTES} bytes`, sent: true };
  }
}
