// A Vault server stand-in for tests: speaks Vault's HTTP API (KV v1/v2, ACL policies, tokens, AppRole,
// userpass, LDAP, identity templating, sys/health, seal) on loopback, with fault injection, a request log
// and back doors for inspecting state. Configure it only through Vault's own API (see contract.ts), so
// the same tests can later run against a real Vault; the back doors are for faults and inspection.
import type { Server as HttpServer, IncomingHttpHeaders, IncomingMessage, ServerResponse } from "node:http";
import { createServer as createHttpServer, STATUS_CODES } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo, Socket } from "node:net";
import { performance } from "node:perf_hooks";
import { type HttpInput, type HttpOutput, type RequestFacts, VaultCore } from "./core.js";
import { type FaultHandle, type FaultKind, type FaultSpec, FaultTable, normalizePrefix } from "./faults.js";
import type { RawDocument } from "./kv.js";
import { KvV2Engine } from "./kv.js";
import type { JsonValue, Operation } from "./wire.js";

export type { FaultAction, FaultHandle, FaultKind, FaultMatch, FaultSpec } from "./faults.js";
export type { RawDocument } from "./kv.js";

export interface StandInOptions {
  /** Serve HTTPS with this certificate and key (PEM). */
  tls?: { cert: string | Buffer; key: string | Buffer };
  /** Milliseconds since the epoch; drives token TTLs and every timestamp. Default: Date.now. */
  clock?: () => number;
  /** Listen address; default 127.0.0.1. */
  host?: string;
  /** Default 0 (any free port). */
  port?: number;
  /** A fixed root token id instead of a random `hvs.` one. */
  rootToken?: string;
}

export interface RequestLogEntry {
  /** 1-based arrival order. */
  seq: number;
  method: string;
  /** URL path without the query, e.g. `/v1/secret/data/users/alice`. */
  path: string;
  /** Vault's logical path, e.g. `secret/data/users/alice` (`/` appended for LIST, as Vault does). */
  logicalPath: string;
  query: Record<string, string>;
  /** The logical operation after the existence check (create vs update); null if never authenticated. */
  operation: Operation | null;
  /** HTTP status sent; null while in flight or when a fault sent none (hang, reset). */
  status: number | null;
  /** Accessor of the token used, never the token itself; null without a valid token. */
  tokenAccessor: string | null;
  policies: string[] | null;
  /** The X-Vault-Namespace header, recorded only. */
  namespace: string | null;
  /** Parsed JSON body (or raw text if it was not JSON); may contain secrets: test-only. */
  body: JsonValue | undefined;
  /** The fault applied to this request, if any. */
  fault: FaultKind | null;
  durationMs: number | null;
}

export interface VaultStandIn {
  /** e.g. `http://127.0.0.1:40123` (or https://). */
  readonly addr: string;
  readonly rootToken: string;
  /** The single unseal key (sys/unseal), like a dev server's. */
  readonly unsealKey: string;
  readonly requests: RequestLogEntry[];
  clearRequests(): void;
  /** Requests matching a method and/or logical path prefix (`secret/data/` or `/v1/secret/data/`). */
  countRequests(filter?: { method?: string; pathPrefix?: string }): number;
  close(): Promise<void>;
  seal(): void;
  unseal(): void;
  readonly sealed: boolean;
  /** Adds a fault; faults are tried in the order added, the first match wins. */
  inject(fault: FaultSpec): FaultHandle;
  clearFaults(): void;
  /** All versions and metadata of a KV v2 key, or undefined. `mount` like "secret" or "secret/". */
  rawDocument(mount: string, path: string): RawDocument | undefined;
  /** LDAP has no directory here: set the password (and groups) a user binds with on an ldap mount. */
  setLdapPassword(mount: string, username: string, password: string, groups?: string[]): void;
  /** The accessor of a token, to find its requests in the log; undefined if unknown. */
  accessorOf(token: string): string | undefined;
}

/**
 * Starts a stand-in on loopback. Example:
 *
 *   const vault = await startVaultStandIn();
 *   t.teardown(() => vault.close());
 *   await vaultCall(vault.addr, { method: "POST", path: "secret/data/u", token: vault.rootToken, body: { data: {} } });
 *   vault.inject({ kind: "status", status: 503, method: "GET", pathPrefix: "secret/data/", times: 1 });
 *   t.equal(vault.countRequests({ method: "POST" }), 1);
 */
export async function startVaultStandIn(options: StandInOptions = {}): Promise<VaultStandIn> {
  const clock = options.clock ?? Date.now;
  const core = new VaultCore(clock, options.rootToken);
  const faults = new FaultTable();
  const requests: RequestLogEntry[] = [];
  const delays = new Set<NodeJS.Timeout>();
  let seq = 0;

  const onRequest = (input: HttpInput, responder: Responder) => {
    const started = performance.now();
    const queryAt = input.url.indexOf("?");
    const path = queryAt < 0 ? input.url : input.url.slice(0, queryAt);
    const namespaceHeader = input.headers["x-vault-namespace"];
    const entry: RequestLogEntry = {
      seq: ++seq,
      method: input.method,
      path,
      logicalPath: safeDecode(path.replace(/^\/v1\//, "")),
      query: Object.fromEntries(new URL(input.url, "http://stand-in").searchParams),
      operation: null,
      status: null,
      tokenAccessor: null,
      policies: null,
      namespace: (Array.isArray(namespaceHeader) ? namespaceHeader[0] : namespaceHeader) ?? null,
      body: undefined,
      fault: null,
      durationMs: null,
    };
    requests.push(entry);
    const run = () => {
      const { output, facts } = core.handle(input);
      recordFacts(entry, facts, input.body);
      return output;
    };
    const finish = (status: number | null) => {
      entry.status = status;
      entry.durationMs = performance.now() - started;
    };
    const fault = faults.take(entry.method, entry.logicalPath);
    if (!fault) {
      const output = run();
      responder.send(output);
      finish(output.status);
      return;
    }
    entry.fault = fault.kind;
    if (fault.kind === "delay") {
      const timer = setTimeout(() => {
        delays.delete(timer);
        if (responder.destroyed) return finish(null);
        const output = run();
        responder.send(output);
        finish(output.status);
      }, fault.ms);
      delays.add(timer);
      return;
    }
    applyFault(fault, responder, run, finish, input.body, entry);
  };

  const onHttpRequest = (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () =>
      onRequest(
        {
          method: req.method ?? "GET",
          url: req.url ?? "/",
          headers: req.headers,
          body: Buffer.concat(chunks),
        },
        serverResponder(res),
      ),
    );
  };

  const server: HttpServer = options.tls
    ? createHttpsServer({ cert: options.tls.cert, key: options.tls.key }, onHttpRequest)
    : createHttpServer(onHttpRequest);
  // Node's HTTP parser rejects Vault's LIST method before any handler runs; such a request arrives here
  // as a client error with the raw bytes, and is answered on the raw socket (then closed).
  server.on("clientError", (error: Error & { code?: string; rawPacket?: Buffer }, socket: Socket) => {
    const raw =
      error.code === "HPE_INVALID_METHOD" && error.rawPacket ? parseRawRequest(error.rawPacket) : undefined;
    if (raw) onRequest(raw, socketResponder(socket));
    else if (socket.writable)
      socket.end("HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
    else socket.destroy();
  });
  // Vault's listener keeps idle connections for 5 minutes; a shorter timeout here would make keep-alive
  // clients race the server's close (spurious ECONNRESET). close() destroys idle sockets anyway.
  server.keepAliveTimeout = 5 * 60_000;
  const host = options.host ?? "127.0.0.1";
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const scheme = options.tls ? "https" : "http";
  const addrHost = host.includes(":") ? `[${host}]` : host;

  const kvEngine = (mount: string) => {
    const m = core.secretMounts.get(mount.endsWith("/") ? mount : `${mount}/`);
    return m?.engine instanceof KvV2Engine ? m.engine : undefined;
  };

  return {
    addr: `${scheme}://${addrHost}:${port}`,
    rootToken: core.rootToken.id,
    unsealKey: core.unsealKey,
    requests,
    clearRequests: () => {
      requests.length = 0;
    },
    countRequests: (filter = {}) =>
      requests.filter(
        (r) =>
          (filter.method === undefined || r.method.toUpperCase() === filter.method.toUpperCase()) &&
          (filter.pathPrefix === undefined || r.logicalPath.startsWith(normalizePrefix(filter.pathPrefix))),
      ).length,
    close: () =>
      new Promise<void>((resolve) => {
        for (const timer of delays) clearTimeout(timer);
        delays.clear();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
    seal: () => {
      core.sealed = true;
    },
    unseal: () => {
      core.sealed = false;
    },
    get sealed() {
      return core.sealed;
    },
    inject: (fault) => faults.add(fault),
    clearFaults: () => faults.clear(),
    rawDocument: (mount, path) => kvEngine(mount)?.raw(path),
    setLdapPassword: (mount, username, password, groups = []) => {
      const m = core.authMounts.get(mount.endsWith("/") ? mount : `${mount}/`);
      if (m?.type !== "ldap") throw new Error(`no ldap auth mount at ${mount}`);
      m.directory.set(username.toLowerCase(), { password, groups });
    },
    accessorOf: (token) => {
      const found = core.tokens.lookup(token);
      return found.status === "valid" ? found.entry.accessor : undefined;
    },
  };
}

function safeDecode(path: string): string {
  try {
    return decodeURIComponent(path);
  } catch {
    return path;
  }
}

function recordFacts(entry: RequestLogEntry, facts: RequestFacts, body: Buffer): void {
  entry.logicalPath = facts.logicalPath || entry.logicalPath;
  entry.operation = facts.operation;
  entry.tokenAccessor = facts.tokenAccessor;
  entry.policies = facts.policies;
  entry.body = facts.parsedBody ?? (body.length > 0 ? body.toString("utf8") : undefined);
}

/** Where an answer goes: a normal ServerResponse, or a raw socket for requests Node's parser refused. */
interface Responder {
  readonly socket: Socket;
  readonly destroyed: boolean;
  send(output: HttpOutput): void;
  onClose(fn: () => void): void;
}

function serverResponder(res: ServerResponse): Responder {
  return {
    socket: res.socket as Socket,
    get destroyed() {
      return res.destroyed;
    },
    send: (output) => {
      if (res.destroyed) return;
      // Go's net/http computes Content-Length when the whole body fits its 2048-byte buffer, else chunks.
      const length = Buffer.byteLength(output.body);
      const headers =
        length < 2048 ? { ...output.headers, "Content-Length": String(length) } : output.headers;
      res.writeHead(output.status, headers);
      res.end(output.body);
    },
    onClose: (fn) => res.on("close", fn),
  };
}

function socketResponder(socket: Socket): Responder {
  return {
    socket,
    get destroyed() {
      return socket.destroyed;
    },
    send: (output) => {
      if (socket.destroyed) return;
      socket.end(rawHead(output, Buffer.byteLength(output.body)) + output.body);
    },
    onClose: (fn) => socket.on("close", fn),
  };
}

/** Parses one HTTP/1.1 request from raw bytes (request line, headers, Content-Length body). */
function parseRawRequest(raw: Buffer): HttpInput | undefined {
  const headEnd = raw.indexOf("\r\n\r\n");
  if (headEnd < 0) return undefined;
  const [requestLine = "", ...headerLines] = raw.subarray(0, headEnd).toString("latin1").split("\r\n");
  // Only LIST is ever routed here; anything else would be a request Node already handled.
  const m = /^(LIST) (\S+) HTTP\/1\.[01]$/.exec(requestLine);
  if (!m) return undefined;
  const headers: IncomingHttpHeaders = {};
  for (const line of headerLines) {
    const colon = line.indexOf(":");
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  const length = Number(headers["content-length"] ?? 0);
  const body = raw.subarray(headEnd + 4, headEnd + 4 + (Number.isFinite(length) ? length : 0));
  return { method: m[1] ?? "GET", url: m[2] ?? "/", headers, body };
}

function rawHead(output: HttpOutput, contentLength: number): string {
  const lines = [`HTTP/1.1 ${output.status} ${STATUS_CODES[output.status] ?? ""}`];
  for (const [name, value] of Object.entries(output.headers)) lines.push(`${name}: ${value}`);
  lines.push(`Date: ${new Date().toUTCString()}`, `Content-Length: ${contentLength}`, "Connection: close");
  return `${lines.join("\r\n")}\r\n\r\n`;
}

function applyFault(
  fault: FaultSpec,
  responder: Responder,
  run: () => HttpOutput,
  finish: (status: number | null) => void,
  body: Buffer,
  entry: RequestLogEntry,
): void {
  const socket = responder.socket;
  const commit = "commit" in fault && fault.commit === true;
  const noteBody = () => {
    if (entry.body === undefined && body.length > 0) {
      const text = body.toString("utf8");
      try {
        entry.body = JSON.parse(text) as JsonValue;
      } catch {
        entry.body = text;
      }
    }
  };
  switch (fault.kind) {
    case "hang":
      if (commit) run();
      noteBody();
      // Never answer; the socket closes when the client gives up or the stand-in closes.
      responder.onClose(() => finish(null));
      return;
    case "reset": {
      const after = fault.after ?? "nothing";
      if (after === "nothing") {
        if (commit) run();
        noteBody();
        socket.destroy();
        finish(null);
        return;
      }
      const output = run();
      const payload = Buffer.from(output.body);
      const sent =
        after === "headers" ? Buffer.alloc(0) : payload.subarray(0, Math.floor(payload.length / 2));
      // Write raw bytes so the advertised Content-Length promises more than ever arrives.
      socket.write(Buffer.concat([Buffer.from(rawHead(output, payload.length)), sent]), () =>
        socket.destroy(),
      );
      finish(null);
      return;
    }
    case "truncated": {
      const output = run();
      const cut = output.body.slice(0, Math.max(1, Math.floor(output.body.length / 2)));
      responder.send({ ...output, body: cut });
      finish(output.status);
      return;
    }
    case "status": {
      if (commit) run();
      noteBody();
      const headers: Record<string, string> = {
        "Content-Type": "application/json",
        "Cache-Control": "no-store",
        ...(fault.retryAfter === undefined ? {} : { "Retry-After": String(fault.retryAfter) }),
        ...(fault.headers ?? {}),
      };
      const payload =
        fault.body === undefined
          ? `${JSON.stringify({ errors: [] })}\n`
          : typeof fault.body === "string"
            ? fault.body
            : `${JSON.stringify(fault.body)}\n`;
      responder.send({ status: fault.status, headers, body: payload });
      finish(fault.status);
      return;
    }
    case "garbage": {
      if (commit) run();
      noteBody();
      const status = fault.status ?? 200;
      responder.send({
        status,
        headers: { "Content-Type": fault.contentType ?? "application/json" },
        body: fault.body ?? "<html><body>502 Bad Gateway from a confused proxy</body></html>",
      });
      finish(status);
      return;
    }
    case "delay":
      return;
  }
}
