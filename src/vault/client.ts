// Our Vault client: a few typed requests over node:http/node:https, each bounded by the run's deadline.
// Not node-vault: it pulls axios and friends and doubles the login hook's start-up cost (README).
import http from "node:http";
import type https from "node:https";
import { createRequire } from "node:module";
import type { Deadline } from "../deadline.js";
import {
  AuthSyncError,
  ExitCode,
  InvalidDataError,
  VaultDeniedError,
  VaultUnavailableError,
} from "../errors.js";

const MAX_RESPONSE_BYTES = 1024 * 1024;

// node:https (and with it tls and crypto) costs ~25 ms to load: only an https VAULT_ADDR pays for it.
const load = createRequire(import.meta.url);
const loadHttps = (): typeof https => load("node:https") as typeof https;
const loadTls = (): typeof import("node:tls") => load("node:tls") as typeof import("node:tls");

export interface VaultClientOptions {
  addr: URL;
  namespace?: string | undefined;
  /** PEM bundle from VAULT_CACERT; when set it replaces the system trust store, as with the vault CLI. */
  ca?: Buffer | undefined;
  deadline: Deadline;
  token?: string | undefined;
}

export interface VaultResponse {
  status: number;
  /** Parsed JSON body; undefined for an empty body. */
  body: unknown;
}

export type VaultMethod = "GET" | "POST" | "PUT" | "DELETE" | "LIST";

/** Vault's `{"errors": [...]}`, shortened; Vault never echoes tokens in it. */
export function vaultErrors(body: unknown): string {
  if (body && typeof body === "object" && Array.isArray((body as { errors?: unknown }).errors)) {
    const errors = (body as { errors: unknown[] }).errors.filter((e): e is string => typeof e === "string");
    return errors.join("; ").slice(0, 300);
  }
  return "";
}

function networkReason(error: NodeJS.ErrnoException): string {
  switch (error.code) {
    case "ECONNREFUSED":
      return "connection refused";
    case "ECONNRESET":
    case "EPIPE":
      return "connection reset";
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return "host name not found";
    case "EHOSTUNREACH":
    case "ENETUNREACH":
      return "host unreachable";
    default:
      if (error.code?.startsWith("ERR_TLS") || /certificate|self.signed|SSL/i.test(error.message)) {
        return `TLS verification failed (${error.code ?? error.message})`;
      }
      return error.code ?? error.message;
  }
}

export class VaultClient {
  readonly addr: URL;
  token: string | undefined;
  private readonly namespace: string | undefined;
  private readonly deadline: Deadline;
  private readonly agent: http.Agent;
  private readonly transport: typeof http | typeof https;
  /** Requests made by this client, for `--json` output and tests. */
  requestCount = 0;

  constructor(options: VaultClientOptions) {
    this.addr = options.addr;
    this.namespace = options.namespace;
    this.deadline = options.deadline;
    this.token = options.token;
    const secure = options.addr.protocol === "https:";
    const secureTransport = secure ? loadHttps() : undefined;
    this.transport = secureTransport ?? http;
    // One kept-alive connection for the handful of requests in a run: one TLS handshake, not three.
    this.agent = secureTransport
      ? new secureTransport.Agent({
          keepAlive: true,
          maxSockets: 1,
          // Explicit: NODE_TLS_REJECT_UNAUTHORIZED=0 in an environment must never turn verification off.
          rejectUnauthorized: true,
          // VAULT_CACERT, or Node's bundled roots: never NODE_EXTRA_CA_CERTS, which a PAM environment
          // could set to make the root-run login sync trust a CA of the user's choosing.
          ca: options.ca ?? [...loadTls().rootCertificates],
        })
      : new http.Agent({ keepAlive: true, maxSockets: 1 });
  }

  close(): void {
    this.agent.destroy();
  }

  /**
   * One request. Network failures, timeouts, 5xx, 429 and sealed answers throw VaultUnavailableError;
   * 403 throws VaultDeniedError; a 2xx body that is not JSON throws InvalidDataError. Other statuses
   * (404, 400, 204) come back to the caller, who knows what they mean for its path.
   */
  async request(method: VaultMethod, path: string, payload?: unknown): Promise<VaultResponse> {
    const what = `${method === "GET" || method === "LIST" ? "reading" : "writing"} ${path} at ${this.addr.origin}`;
    this.deadline.check(what);
    const body = payload === undefined ? undefined : Buffer.from(JSON.stringify(payload));
    const headers: Record<string, string> = { "X-Vault-Request": "true", Accept: "application/json" };
    if (this.token) headers["X-Vault-Token"] = this.token;
    if (this.namespace) headers["X-Vault-Namespace"] = this.namespace;
    if (body) {
      headers["Content-Type"] = "application/json";
      headers["Content-Length"] = String(body.length);
    }
    const base = this.addr.pathname.replace(/\/+$/, "");
    const url = new URL(`${base}/v1/${path.split("/").map(encodeURIComponent).join("/")}`, this.addr);
    this.requestCount++;
    const { status, text } = await this.send(url, method, headers, body, what);
    if (status === 403) {
      const reason = vaultErrors(parseQuietly(text)).replace(/^permission denied;?\s*/, "");
      throw new VaultDeniedError(`permission denied ${what}${reason ? ` (${reason})` : ""}`, {
        hint: "the Vault token lacks a capability on this path (see docs/runbook.md, Vault policies), or it has expired",
      });
    }
    if (status === 503) {
      const reason = vaultErrors(parseQuietly(text)) || "service unavailable";
      throw new VaultUnavailableError(`Vault is unavailable (${reason}) while ${what}`, {
        hint: "Vault is sealed or has no active node; nothing was changed, the next run retries",
      });
    }
    if (status === 429 || status >= 500) {
      throw new VaultUnavailableError(`Vault answered HTTP ${status} while ${what}`, {
        hint: "a Vault-side failure; nothing was changed, the next run retries",
      });
    }
    if (text.length === 0) return { status, body: undefined };
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      if (status >= 200 && status < 300) {
        throw new InvalidDataError(
          `Vault response (${method} ${path})`,
          "is not valid JSON",
          "check VAULT_ADDR points at Vault, not a proxy page",
        );
      }
      parsed = undefined;
    }
    return { status, body: parsed };
  }

  private send(
    url: URL,
    method: VaultMethod,
    headers: Record<string, string>,
    body: Buffer | undefined,
    what: string,
  ): Promise<{ status: number; text: string }> {
    return new Promise((resolve, reject) => {
      let settled = false;
      const fail = (error: Error) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        request.destroy();
        reject(error);
      };
      const request = this.transport.request(url, { method, headers, agent: this.agent }, (response) => {
        const chunks: Buffer[] = [];
        let size = 0;
        response.on("data", (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_RESPONSE_BYTES) {
            fail(
              new InvalidDataError(
                `Vault response (${method} ${url.pathname})`,
                `is larger than ${MAX_RESPONSE_BYTES} bytes`,
              ),
            );
            return;
          }
          chunks.push(chunk);
        });
        response.on("error", (error: NodeJS.ErrnoException) =>
          fail(new VaultUnavailableError(`Vault connection failed (${networkReason(error)}) while ${what}`)),
        );
        response.on("aborted", () => fail(new VaultUnavailableError(`Vault connection reset while ${what}`)));
        response.on("end", () => {
          if (settled) return;
          if (!response.complete) {
            fail(new VaultUnavailableError(`Vault connection closed mid-response while ${what}`));
            return;
          }
          settled = true;
          clearTimeout(timer);
          resolve({ status: response.statusCode ?? 0, text: Buffer.concat(chunks).toString("utf8") });
        });
      });
      const timer = setTimeout(
        () =>
          fail(
            new VaultUnavailableError(`Vault did not answer in time while ${what}`, {
              hint: "Vault is slow or unreachable; raise CLAUDE_AUTH_SYNC_TIMEOUT_MS only if it is healthy but far away",
            }),
          ),
        this.deadline.remainingMs(),
      );
      request.on("error", (error: NodeJS.ErrnoException) => {
        const reason = networkReason(error);
        fail(
          new VaultUnavailableError(`cannot reach Vault (${reason}) while ${what}`, {
            hint: reason.startsWith("TLS")
              ? "set VAULT_CACERT to the CA that signed Vault's certificate"
              : "check VAULT_ADDR and the network; nothing was changed",
          }),
        );
      });
      request.end(body);
    });
  }
}

function parseQuietly(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** Throws for an answer the caller did not expect, naming the path and Vault's own words. */
export function unexpectedAnswer(what: string, response: VaultResponse): never {
  const reason = vaultErrors(response.body) || `HTTP ${response.status}`;
  throw new AuthSyncError(`Vault refused ${what}: ${reason}`, ExitCode.error);
}
