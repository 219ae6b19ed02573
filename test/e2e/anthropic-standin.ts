// A local stand-in for Anthropic's Messages API, so the real `claude` binary can be driven end to end
// (ANTHROPIC_BASE_URL=http://127.0.0.1:PORT) and the credential it sends can be asserted.
//
// What Claude Code 2.1.x calls here in `claude -p` mode (measured, see claude-cli.ts):
//   HEAD /                           a connectivity preflight, no credentials attached
//   POST /v1/messages?beta=true      the turn itself, `stream: true`, answered as SSE
// Everything else is recorded and answered 404 in Anthropic's error shape, so a new call shows up in
// `requests` instead of failing silently.
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/** How the stand-in answers a Messages API call made with a given credential. */
export type TokenAnswer =
  /** 200 with a one-block assistant message (SSE when the request asked for `stream: true`). */
  | { kind: "accept"; text?: string }
  /**
   * 401 `authentication_error`, what Anthropic answers for a revoked or unknown token. The CLI's
   * wording follows the message: "Invalid bearer token" (default) prints "Failed to authenticate. API
   * Error: 401 …"; a message mentioning "x-api-key" prints "Not logged in · Please run /login".
   */
  | { kind: "reject"; message?: string }
  /** 429 `rate_limit_error` with a `retry-after` header (seconds). */
  | { kind: "rate-limit"; retryAfterSeconds?: number; message?: string }
  /** 503 `api_error` by default; pass 529 for Anthropic's `overloaded_error`. */
  | { kind: "unavailable"; status?: 500 | 503 | 529; message?: string }
  /** Reads the request and never answers: the client's own timeout is what ends it. */
  | { kind: "hang" };

export interface AnthropicStandInOptions {
  /** Answers keyed by credential: the bearer token, or the `x-api-key` value. */
  answers?: Record<string, TokenAnswer>;
  /** Answer for a credential not in `answers`, and for a request carrying none. Default: accept. */
  defaultAnswer?: TokenAnswer;
  /** Text of an accepted reply. Default "pong". */
  replyText?: string;
  /** Called with one line per request, e.g. `(line) => t.comment(line)`. Never given a token. */
  log?: (line: string) => void;
}

export interface RecordedRequest {
  method: string;
  /** Path with query string, e.g. `/v1/messages?beta=true`. */
  path: string;
  authorization: string | undefined;
  xApiKey: string | undefined;
  anthropicBeta: string | undefined;
  /** The token after `Bearer `, when the authorization header has that form. */
  bearerToken: string | undefined;
  userAgent: string | undefined;
  /** From the JSON body of a Messages call. */
  stream: boolean | undefined;
  model: string | undefined;
  /** What the stand-in answered; `undefined` while hanging. */
  status: number | undefined;
  receivedAt: number;
}

export interface AnthropicStandIn {
  /** `http://127.0.0.1:PORT`, the value for ANTHROPIC_BASE_URL. */
  readonly url: string;
  readonly port: number;
  /** Every request in arrival order, including preflights and unknown paths. */
  readonly requests: readonly RecordedRequest[];
  /** Only the `POST /v1/messages` calls: the ones that carry the user's credential. */
  messageRequests(): RecordedRequest[];
  /** Requests to paths the stand-in does not know (anything but the two above). */
  unknownRequests(): RecordedRequest[];
  setAnswer(credential: string, answer: TokenAnswer): void;
  setDefaultAnswer(answer: TokenAnswer): void;
  /** Forgets recorded requests (answers are kept). */
  clearRequests(): void;
  /** Stops listening and cuts every open connection, hanging ones included. */
  close(): Promise<void>;
}

const MESSAGES_PATH = "/v1/messages";
const MAX_BODY_BYTES = 16 * 1024 * 1024;

export async function startAnthropicStandIn(
  options: AnthropicStandInOptions = {},
): Promise<AnthropicStandIn> {
  const answers = new Map<string, TokenAnswer>(Object.entries(options.answers ?? {}));
  let defaultAnswer: TokenAnswer = options.defaultAnswer ?? { kind: "accept" };
  const replyText = options.replyText ?? "pong";
  const log = options.log ?? (() => {});
  const requests: RecordedRequest[] = [];
  let messageCounter = 0;

  const server = createServer((req, res) => {
    readBody(req)
      .then((body) => {
        const record = recordOf(req, body);
        requests.push(record);
        const pathname = (req.url ?? "/").split("?")[0];
        if (req.method === "POST" && pathname === MESSAGES_PATH) {
          const credential = record.bearerToken ?? record.xApiKey;
          const answer = (credential !== undefined ? answers.get(credential) : undefined) ?? defaultAnswer;
          messageCounter += 1;
          answerMessages(res, record, answer, replyText, `msg_standin_${messageCounter}`);
        } else if (pathname === "/" && (req.method === "HEAD" || req.method === "GET")) {
          record.status = 200;
          res.writeHead(200, { "content-type": "text/plain" });
          res.end(req.method === "GET" ? "anthropic stand-in\n" : undefined);
        } else {
          record.status = 404;
          sendError(res, 404, "not_found_error", `stand-in does not implement ${req.method} ${pathname}`);
        }
        log(describe(record));
      })
      .catch((error: unknown) => {
        res.destroy(error instanceof Error ? error : new Error(String(error)));
      });
  });

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    messageRequests: () =>
      requests.filter((r) => r.method === "POST" && r.path.split("?")[0] === MESSAGES_PATH),
    unknownRequests: () => requests.filter((r) => r.status === 404),
    setAnswer: (credential, answer) => {
      answers.set(credential, answer);
    },
    setDefaultAnswer: (answer) => {
      defaultAnswer = answer;
    },
    clearRequests: () => {
      requests.length = 0;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) reject(new Error("request body too large for the stand-in"));
      else chunks.push(chunk);
    });
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

function recordOf(req: IncomingMessage, body: string): RecordedRequest {
  const authorization = header(req, "authorization");
  const bearer = authorization?.match(/^Bearer (.+)$/i)?.[1];
  let stream: boolean | undefined;
  let model: string | undefined;
  if (body.length > 0) {
    try {
      const parsed: unknown = JSON.parse(body);
      if (typeof parsed === "object" && parsed !== null) {
        const fields = parsed as { stream?: unknown; model?: unknown };
        if (typeof fields.stream === "boolean") stream = fields.stream;
        if (typeof fields.model === "string") model = fields.model;
      }
    } catch {
      // A body that is not JSON is still recorded; only the headers matter for credential checks.
    }
  }
  return {
    method: req.method ?? "GET",
    path: req.url ?? "/",
    authorization,
    xApiKey: header(req, "x-api-key"),
    anthropicBeta: header(req, "anthropic-beta"),
    bearerToken: bearer,
    userAgent: header(req, "user-agent"),
    stream,
    model,
    status: undefined,
    receivedAt: Date.now(),
  };
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value.join(", ") : value;
}

function answerMessages(
  res: ServerResponse,
  record: RecordedRequest,
  answer: TokenAnswer,
  replyText: string,
  id: string,
): void {
  switch (answer.kind) {
    case "accept": {
      record.status = 200;
      const text = answer.text ?? replyText;
      const model = record.model ?? "claude-standin";
      if (record.stream === true) streamMessage(res, id, model, text);
      else {
        res.writeHead(200, { "content-type": "application/json", "request-id": `req_${id}` });
        res.end(JSON.stringify(messageBody(id, model, text, "end_turn", 1)));
      }
      return;
    }
    case "reject":
      record.status = 401;
      sendError(res, 401, "authentication_error", answer.message ?? "Invalid bearer token");
      return;
    case "rate-limit": {
      record.status = 429;
      const retryAfter = String(answer.retryAfterSeconds ?? 1);
      sendError(res, 429, "rate_limit_error", answer.message ?? "rate limited by the stand-in", {
        "retry-after": retryAfter,
      });
      return;
    }
    case "unavailable": {
      const status = answer.status ?? 503;
      record.status = status;
      const type = status === 529 ? "overloaded_error" : "api_error";
      sendError(res, status, type, answer.message ?? "the stand-in is unavailable");
      return;
    }
    case "hang":
      // Left open on purpose; close() cuts it.
      return;
  }
}

function messageBody(
  id: string,
  model: string,
  text: string,
  stopReason: string | null,
  outputTokens: number,
) {
  return {
    id,
    type: "message",
    role: "assistant",
    model,
    content: text === "" ? [] : [{ type: "text", text }],
    stop_reason: stopReason,
    stop_sequence: null,
    usage: { input_tokens: 1, output_tokens: outputTokens },
  };
}

// The Messages API event sequence for one text block, as the SDK's stream parser expects it.
function streamMessage(res: ServerResponse, id: string, model: string, text: string): void {
  res.writeHead(200, {
    "content-type": "text/event-stream",
    "cache-control": "no-cache",
    "request-id": `req_${id}`,
  });
  const event = (type: string, data: object) => {
    res.write(`event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`);
  };
  event("message_start", { message: messageBody(id, model, "", null, 0) });
  event("content_block_start", { index: 0, content_block: { type: "text", text: "" } });
  event("content_block_delta", { index: 0, delta: { type: "text_delta", text } });
  event("content_block_stop", { index: 0 });
  event("message_delta", {
    delta: { stop_reason: "end_turn", stop_sequence: null },
    usage: { output_tokens: 1 },
  });
  event("message_stop", {});
  res.end();
}

function sendError(
  res: ServerResponse,
  status: number,
  type: string,
  message: string,
  headers: Record<string, string> = {},
): void {
  const requestId = `req_standin_${Date.now()}`;
  res.writeHead(status, { "content-type": "application/json", "request-id": requestId, ...headers });
  res.end(JSON.stringify({ type: "error", error: { type, message }, request_id: requestId }));
}

// One log line per request; the credential is shown only by its last four characters.
function describe(record: RecordedRequest): string {
  const credential = record.bearerToken ?? record.xApiKey;
  const who = credential === undefined ? "no credential" : `credential …${credential.slice(-4)}`;
  const stream = record.stream === undefined ? "" : ` stream=${record.stream}`;
  return `stand-in: ${record.method} ${record.path} -> ${record.status ?? "hang"} (${who}${stream})`;
}
