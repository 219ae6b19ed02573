// One HTTP/1.1 exchange over node:net (or node:tls for https): the only HTTP code in the program.
//
// Why not node:http: the login hook makes one small request per login, and node:http's client
// (agent, parser binding, ClientRequest/IncomingMessage streams) costs it about 4–5 ms of a ~25 ms
// budget over plain node:net (bench/README.md). A request here is one connection, `Connection: close`,
// a bounded head and body, and a single deadline; nothing is pooled, nothing is retried.
//
// What it speaks: a request with an optional body and Content-Length; an answer framed by
// Content-Length, chunked transfer coding, or the end of the connection; interim 1xx answers skipped.
// Every answer is checked at the edge: a status line that is not HTTP/1.x, a head over 32 KiB, a
// malformed length or chunk size, or a connection closed before the framing is complete is never
// passed on as an answer.
import type { Socket } from "node:net";
import type { ConnectionOptions, TLSSocket } from "node:tls";
import { builtin } from "./builtin.js";

// tls (and with it crypto) costs ~20 ms to load: only an https URL pays for it.
const loadTls = (): typeof import("node:tls") => builtin("node:tls") as typeof import("node:tls");
const loadNet = (): typeof import("node:net") => builtin("node:net") as typeof import("node:net");

const MAX_HEAD_BYTES = 32 * 1024;

export interface Http1Request {
  url: URL;
  method: string;
  /** Header values must not contain CR, LF or NUL (they are refused, never sent). */
  headers: Record<string, string>;
  body?: Buffer | undefined;
  timeoutMs: number;
  /** Answers with a longer body are refused (`too-large`). */
  maxBodyBytes: number;
  /** https: trusted CAs (PEM). Default: Node's bundled roots, never NODE_EXTRA_CA_CERTS. */
  ca?: Buffer | readonly string[] | undefined;
}

export type Http1Outcome =
  /** A complete answer. */
  | { kind: "answer"; status: number; headers: ReadonlyMap<string, string>; body: Buffer }
  /** The connection ended before the answer was complete; `status` is 0 before the status line. */
  | { kind: "cut"; status: number }
  /** No complete answer within `timeoutMs`; `sent`: the whole request had been written. */
  | { kind: "timeout"; sent: boolean }
  /** The connection failed (refused, reset, DNS, TLS); `code` as Node reports it. */
  | { kind: "error"; code: string; message: string; sent: boolean }
  /** The peer does not speak HTTP/1.x, or broke its framing; `reason` says how. */
  | { kind: "malformed"; reason: string }
  /** The body is longer than `maxBodyBytes`. */
  | { kind: "too-large" };

/** Refuses what cannot be sent as written: a header that would split the request, a method or URL we never build. */
function requestHead(request: Http1Request): string {
  const { url, method } = request;
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new TypeError(`http1: unsupported protocol ${url.protocol}`);
  }
  if (!/^[A-Z]+$/.test(method)) throw new TypeError(`http1: invalid method ${JSON.stringify(method)}`);
  const lines = [`${method} ${url.pathname}${url.search} HTTP/1.1`, `Host: ${url.host}`, "Connection: close"];
  if (request.body) lines.push(`Content-Length: ${request.body.length}`);
  for (const [name, value] of Object.entries(request.headers)) {
    if (!/^[A-Za-z0-9-]+$/.test(name) || /[^\t\x20-\x7e]/.test(value)) {
      throw new TypeError(`http1: header ${JSON.stringify(name)} cannot be sent as written`);
    }
    // The framing headers are ours to write, once.
    if (/^(host|connection|content-length|transfer-encoding)$/i.test(name)) continue;
    lines.push(`${name}: ${value}`);
  }
  return `${lines.join("\r\n")}\r\n\r\n`;
}

interface Head {
  status: number;
  headers: Map<string, string>;
  /** Bytes of the buffer the head used. */
  length: number;
}

/** Parses one response head at the start of `buffer`; undefined while it is incomplete. */
export function parseHead(buffer: Buffer): Head | undefined | { malformed: string } {
  const end = buffer.indexOf("\r\n\r\n");
  if (end < 0) return buffer.length > MAX_HEAD_BYTES ? { malformed: "answer head too long" } : undefined;
  if (end > MAX_HEAD_BYTES) return { malformed: "answer head too long" };
  const lines = buffer.subarray(0, end).toString("latin1").split("\r\n");
  const statusLine = /^HTTP\/1\.[01] (\d{3})(?: .*)?$/.exec(lines[0] ?? "");
  if (!statusLine) return { malformed: "not an HTTP/1.x answer" };
  const headers = new Map<string, string>();
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(":");
    if (colon <= 0 || /[\s]/.test(line.slice(0, colon))) return { malformed: "malformed header line" };
    const name = line.slice(0, colon).toLowerCase();
    const value = line.slice(colon + 1).trim();
    // Repeated headers are joined as RFC 9110 allows; a repeated Content-Length is checked below.
    headers.set(name, headers.has(name) ? `${headers.get(name)}, ${value}` : value);
  }
  return { status: Number(statusLine[1]), headers, length: end + 4 };
}

type Framing = { kind: "none" } | { kind: "length"; bytes: number } | { kind: "chunked" } | { kind: "close" };

function framingOf(head: Head, method: string): Framing | { malformed: string } {
  if (method === "HEAD" || head.status === 204 || head.status === 304) return { kind: "none" };
  const coding = head.headers.get("transfer-encoding");
  if (coding !== undefined) {
    // Only chunked is ever used by Vault and the APIs we call; anything else we cannot frame.
    return coding.toLowerCase() === "chunked"
      ? { kind: "chunked" }
      : { malformed: `transfer coding ${coding}` };
  }
  const length = head.headers.get("content-length");
  if (length === undefined) return { kind: "close" };
  if (!/^\d{1,15}$/.test(length)) return { malformed: "malformed Content-Length" };
  return { kind: "length", bytes: Number(length) };
}

/** Decodes a complete chunked body; undefined while incomplete. */
export function decodeChunked(
  data: Buffer,
  maxBytes: number,
): Buffer[] | undefined | { malformed: string } | "too-large" {
  const parts: Buffer[] = [];
  let size = 0;
  let at = 0;
  for (;;) {
    const lineEnd = data.indexOf("\r\n", at);
    if (lineEnd < 0) return data.length - at > 1024 ? { malformed: "chunk size line too long" } : undefined;
    const sizeText = data.subarray(at, lineEnd).toString("latin1").split(";")[0]?.trim() ?? "";
    if (!/^[0-9A-Fa-f]{1,8}$/.test(sizeText)) return { malformed: "malformed chunk size" };
    const chunk = Number.parseInt(sizeText, 16);
    at = lineEnd + 2;
    if (chunk === 0) {
      // Trailers (ignored) end with an empty line.
      const trailersEnd = data.indexOf("\r\n", at);
      if (trailersEnd < 0) return undefined;
      if (trailersEnd === at) return parts;
      const end = data.indexOf("\r\n\r\n", at);
      return end < 0 ? undefined : parts;
    }
    size += chunk;
    if (size > maxBytes) return "too-large";
    if (data.length < at + chunk + 2) return undefined;
    if (data[at + chunk] !== 0x0d || data[at + chunk + 1] !== 0x0a)
      return { malformed: "chunk without CRLF" };
    parts.push(data.subarray(at, at + chunk));
    at += chunk + 2;
  }
}

/** One request, one answer. Never throws for what the network or the peer does; throws TypeError for a request we would never build. */
export function exchange(request: Http1Request): Promise<Http1Outcome> {
  const head = Buffer.from(requestHead(request), "latin1");
  const { url, method, maxBodyBytes } = request;
  const secure = url.protocol === "https:";
  const host = url.hostname.replace(/^\[(.*)\]$/, "$1");
  const port = Number(url.port) || (secure ? 443 : 80);
  return new Promise((resolve) => {
    let settled = false;
    let sent = false;
    let received: Buffer = Buffer.alloc(0);
    let parsed: Head | undefined;
    let framing: Framing | undefined;
    let socket: Socket | TLSSocket;
    const finish = (outcome: Http1Outcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(outcome);
    };
    const timer = setTimeout(() => finish({ kind: "timeout", sent }), request.timeoutMs);

    /** Looks at what has arrived; `ended`: the peer closed its side. */
    const progress = (ended: boolean) => {
      for (;;) {
        if (!parsed) {
          const result = parseHead(received);
          if (result === undefined) {
            if (ended) finish({ kind: "cut", status: 0 });
            return;
          }
          if ("malformed" in result) return finish({ kind: "malformed", reason: result.malformed });
          received = received.subarray(result.length);
          // Interim answers (100 Continue, 103 Early Hints) precede the real one.
          if (result.status >= 100 && result.status < 200) continue;
          const framed = framingOf(result, method);
          if ("malformed" in framed) return finish({ kind: "malformed", reason: framed.malformed });
          parsed = result;
          framing = framed;
        }
        const answer = (body: Buffer) =>
          finish({ kind: "answer", status: parsed!.status, headers: parsed!.headers, body });
        switch (framing!.kind) {
          case "none":
            return answer(Buffer.alloc(0));
          case "length": {
            const bytes = (framing as { bytes: number }).bytes;
            if (bytes > maxBodyBytes) return finish({ kind: "too-large" });
            if (received.length >= bytes) return answer(received.subarray(0, bytes));
            if (ended) finish({ kind: "cut", status: parsed.status });
            return;
          }
          case "chunked": {
            const decoded = decodeChunked(received, maxBodyBytes);
            if (decoded === "too-large") return finish({ kind: "too-large" });
            if (decoded === undefined) {
              if (ended) finish({ kind: "cut", status: parsed.status });
              return;
            }
            if ("malformed" in decoded) return finish({ kind: "malformed", reason: decoded.malformed });
            return answer(Buffer.concat(decoded));
          }
          case "close":
            if (received.length > maxBodyBytes) return finish({ kind: "too-large" });
            if (ended) answer(received);
            return;
        }
      }
    };

    const onConnected = () => {
      socket.write(request.body ? Buffer.concat([head, request.body]) : head, () => {
        sent = true;
      });
    };
    if (secure) {
      const tls = loadTls();
      const options: ConnectionOptions = {
        host,
        port,
        // Explicit: NODE_TLS_REJECT_UNAUTHORIZED=0 in an environment must never turn verification off.
        rejectUnauthorized: true,
        // The given CA, or Node's bundled roots: never NODE_EXTRA_CA_CERTS, which a PAM environment
        // could set to make the root-run login sync trust a CA of the user's choosing.
        ca: request.ca ? (request.ca as Buffer | string[]) : [...tls.rootCertificates],
        ALPNProtocols: ["http/1.1"],
      };
      // SNI and the name checked against the certificate; an IP address is checked as such.
      if (loadNet().isIP(host) === 0) options.servername = host;
      socket = tls.connect(options, onConnected);
    } else {
      socket = loadNet().connect({ host, port }, onConnected);
    }
    socket.on("data", (chunk: Buffer) => {
      received = received.length === 0 ? chunk : Buffer.concat([received, chunk]);
      if (received.length > MAX_HEAD_BYTES + maxBodyBytes + 64 * 1024) return finish({ kind: "too-large" });
      progress(false);
    });
    socket.on("end", () => progress(true));
    socket.on("close", () => progress(true));
    socket.on("error", (error: NodeJS.ErrnoException) => {
      // A reset after part of an answer is a cut answer, not a failed connection.
      if (received.length > 0) return finish({ kind: "cut", status: parsed?.status ?? 0 });
      finish({ kind: "error", code: error.code ?? "ERROR", message: error.message, sent });
    });
  });
}
