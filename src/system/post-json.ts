// One bounded JSON POST, for the API check, the OAuth refresh and Alertmanager. node:http/https are
// loaded on first use only (https alone costs ~25 ms): the login path, which never posts, pays nothing.
import type http from "node:http";
import type https from "node:https";
import { createRequire } from "node:module";
import { VERSION } from "../version.js";

const load = createRequire(import.meta.url);
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
export function postJson(url: URL, payload: unknown, options: PostOptions): Promise<PostOutcome> {
  const body = Buffer.from(typeof payload === "string" ? payload : JSON.stringify(payload));
  const secure = url.protocol === "https:";
  const transport = secure ? (load("node:https") as typeof https) : (load("node:http") as typeof http);
  return new Promise((resolve) => {
    let settled = false;
    let sent = false;
    const finish = (outcome: PostOutcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      request.destroy();
      resolve(outcome);
    };
    const request = transport.request(
      url,
      {
        method: "POST",
        headers: {
          "Content-Type": "application/json",
          Accept: "application/json",
          "Content-Length": String(body.length),
          "User-Agent": `claude-auth-sync/${VERSION}`,
          ...options.headers,
        },
        agent: false,
        ...(secure ? { rejectUnauthorized: true } : {}),
      },
      (response) => {
        const chunks: Buffer[] = [];
        let size = 0;
        response.on("data", (chunk: Buffer) => {
          size += chunk.length;
          if (size <= MAX_ANSWER_BYTES) chunks.push(chunk);
        });
        response.on("error", () => finish({ kind: "cut", status: response.statusCode ?? 0 }));
        response.on("end", () =>
          finish({
            kind: "answer",
            status: response.statusCode ?? 0,
            text: Buffer.concat(chunks).toString("utf8"),
          }),
        );
      },
    );
    const timer = setTimeout(() => finish({ kind: "timeout", sent }), options.timeoutMs);
    request.on("error", (error: NodeJS.ErrnoException) =>
      finish({ kind: "error", code: error.code ?? error.message, sent }),
    );
    request.end(body, () => {
      sent = true;
    });
  });
}
