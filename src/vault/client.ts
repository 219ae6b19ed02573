// Our Vault client: a few typed requests over src/system/http1.ts (node:net, or node:tls for https),
// each bounded by the run's deadline. Not node-vault: it pulls axios and friends and doubles the login
// hook's start-up cost (README).
import type { Deadline } from "../deadline.js";
import {
  AuthSyncError,
  ExitCode,
  InvalidDataError,
  VaultDeniedError,
  VaultUnavailableError,
} from "../errors.js";
import { exchange } from "../system/http1.js";

const MAX_RESPONSE_BYTES = 1024 * 1024;

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

/**
 * One of Vault's error strings on one line. Vault wraps many errors in go-multierror text,
 * `1 error occurred:\n\t* permission denied\n\n`: one error is its cause alone, several keep the count
 * (`2 errors occurred: a; b`); any other line break or tab becomes a space.
 */
export function flatVaultError(text: string): string {
  const multi = /^\s*(\d+) errors? occurred:\s*\n((?:\s*\*[^\n]*(?:\n|$))+)\s*$/.exec(text);
  if (multi) {
    const causes = (multi[2] ?? "")
      .split("\n")
      .map((line) => line.replace(/^\s*\*\s*/, "").trim())
      .filter((line) => line !== "");
    if (causes.length === 1) return causes[0] as string;
    return `${multi[1]} errors occurred: ${causes.join("; ")}`;
  }
  return text.replace(/\s+/g, " ").trim();
}

/** Vault's `{"errors": [...]}` on one line, shortened; Vault never echoes tokens in it. */
export function vaultErrors(body: unknown): string {
  if (body && typeof body === "object" && Array.isArray((body as { errors?: unknown }).errors)) {
    const errors = (body as { errors: unknown[] }).errors.filter((e): e is string => typeof e === "string");
    return errors
      .map(flatVaultError)
      .filter((e) => e !== "")
      .join("; ")
      .slice(0, 300);
  }
  return "";
}

function networkReason(code: string, message: string): string {
  switch (code) {
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
      if (code.startsWith("ERR_TLS") || /certificate|self.signed|SSL/i.test(message)) {
        return `TLS verification failed (${code})`;
      }
      return code;
  }
}

export class VaultClient {
  readonly addr: URL;
  token: string | undefined;
  private readonly namespace: string | undefined;
  private readonly deadline: Deadline;
  private readonly ca: Buffer | undefined;
  /** Requests made by this client, for `--json` output and tests. */
  requestCount = 0;
  /**
   * Set when the token is a cached host login: called once when Vault calls that token invalid
   * (expired, spent, revoked), to log in afresh; the refused request is then sent again.
   */
  relogin: (() => Promise<void>) | undefined;
  /** Tokens of ours to revoke once the run is done (revokeSpentTokens): replaced or not kept. */
  readonly spentTokens: string[] = [];
  /** What went wrong beside the requests and changes nothing in their outcome, for the run's report. */
  readonly warnings: string[] = [];

  constructor(options: VaultClientOptions) {
    this.addr = options.addr;
    this.namespace = options.namespace;
    this.deadline = options.deadline;
    this.token = options.token;
    this.ca = options.ca;
  }

  /** Nothing is pooled: every request has its own connection. Kept for callers' symmetry. */
  close(): void {}

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
    }
    const base = this.addr.pathname.replace(/\/+$/, "");
    const url = new URL(`${base}/v1/${path.split("/").map(encodeURIComponent).join("/")}`, this.addr);
    this.requestCount++;
    const { status, text } = await this.send(url, method, headers, body, what);
    if (status === 403) {
      const errors = vaultErrors(parseQuietly(text));
      const relogin = this.relogin;
      // A 403 means Vault did nothing, so the request may be sent again with the new token.
      if (relogin && /invalid token/.test(errors)) {
        this.relogin = undefined;
        await relogin();
        return this.request(method, path, payload);
      }
      const reason = errors.replace(/^permission denied;?\s*/, "");
      throw new VaultDeniedError(`permission denied ${what}${reason ? ` (${reason})` : ""}`, {
        hint: "the Vault token lacks a capability on this path (see docs/runbook.md, Vault policies), or it has expired",
      });
    }
    if (status === 503) {
      const answer = parseQuietly(text);
      // sys/health answers a sealed Vault with 503 and `"sealed": true`, not an errors list.
      const sealed = (answer as { sealed?: unknown } | undefined)?.sealed === true;
      const reason = vaultErrors(answer) || (sealed ? "Vault is sealed" : "service unavailable");
      throw new VaultUnavailableError(`Vault is unavailable (${reason}) while ${what}`, {
        hint: /\bsealed\b/i.test(reason)
          ? "Vault is sealed: an operator must unseal it (`vault operator unseal`); nothing was changed, the next run retries"
          : "Vault is sealed or has no active node; nothing was changed, the next run retries",
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

  private async send(
    url: URL,
    method: VaultMethod,
    headers: Record<string, string>,
    body: Buffer | undefined,
    what: string,
  ): Promise<{ status: number; text: string }> {
    const outcome = await exchange({
      url,
      method,
      headers,
      body,
      timeoutMs: this.deadline.remainingMs(),
      maxBodyBytes: MAX_RESPONSE_BYTES,
      ca: this.ca,
    });
    switch (outcome.kind) {
      case "answer":
        return { status: outcome.status, text: outcome.body.toString("utf8") };
      case "timeout":
        throw new VaultUnavailableError(`Vault did not answer in time while ${what}`, {
          hint: "Vault is slow or unreachable; raise CLAUDE_AUTH_SYNC_TIMEOUT_MS only if it is healthy but far away",
        });
      case "cut":
        throw new VaultUnavailableError(
          outcome.status === 0
            ? `Vault connection reset while ${what}`
            : `Vault connection closed mid-response while ${what}`,
        );
      case "too-large":
        throw new InvalidDataError(
          `Vault response (${method} ${url.pathname})`,
          `is larger than ${MAX_RESPONSE_BYTES} bytes`,
        );
      case "malformed":
        throw new VaultUnavailableError(`Vault's answer is not HTTP (${outcome.reason}) while ${what}`, {
          hint: "check VAULT_ADDR points at Vault's API port, not another service; nothing was changed",
        });
      case "error": {
        const reason = networkReason(outcome.code, outcome.message);
        throw new VaultUnavailableError(`cannot reach Vault (${reason}) while ${what}`, {
          hint: reason.startsWith("TLS")
            ? "set VAULT_CACERT to the CA that signed Vault's certificate"
            : "check VAULT_ADDR and the network; nothing was changed",
        });
      }
    }
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
