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
  /** VAULT_ADDR's addresses, tried in order; the one that answers is kept for the rest of the run. */
  addrs: readonly URL[];
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

/**
 * An answer that says Vault did not act, or a connection that may come back within seconds (an election,
 * a step-down, a node restarting): worth another try, on the next address, within the run's budget.
 */
interface Transient {
  error: AuthSyncError;
  /** This address will not do better soon (sealed, frozen, not Vault): only another address may. */
  nodeDown: boolean;
}

/**
 * Retries stop once this share of the whole budget has gone by since the first request of a call: an
 * election (about 2 s on a real 3-node raft cluster, test/vault-real/ha.vault-real.ts) fits in it, and a
 * Vault that is really down still leaves a third of the budget unspent at a login.
 */
const RETRY_SHARE = 2 / 3;
/** A node gets at most its share of the budget when there are others to try, never less than this. */
const MIN_ATTEMPT_MS = 500;
const BACKOFF_MS = [50, 100, 200, 400] as const;

export class VaultClient {
  /** Every address of VAULT_ADDR; `addr` is the one in use. */
  readonly addrs: readonly URL[];
  private current = 0;
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

  /** Requests that got a transient answer and were sent again (tests, --json). */
  retries = 0;
  private readonly budgetMs: number;

  constructor(options: VaultClientOptions) {
    if (options.addrs.length === 0) throw new InvalidDataError("VAULT_ADDR", "is empty");
    this.addrs = options.addrs;
    this.namespace = options.namespace;
    this.deadline = options.deadline;
    this.token = options.token;
    this.ca = options.ca;
    this.budgetMs = options.deadline.remainingMs();
  }

  /** The address in use: the first of VAULT_ADDR until one fails and another answers. */
  get addr(): URL {
    return this.addrs[this.current] as URL;
  }

  /** One name for the cluster whatever node answers (the host token cache's key). */
  get cluster(): string {
    return this.addrs.map((a) => a.href).join(",");
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
    const started = Date.now();
    let round = 0;
    let tried = 0;
    for (;;) {
      const addr = this.addr;
      this.requestCount++;
      const attempt = await this.attempt(addr, method, path, headers, body, what);
      if (!("transient" in attempt)) {
        const { status, text } = attempt;
        if (status === 403) return this.denied(method, path, payload, text, what);
        return this.answer(method, path, status, text);
      }
      // Another address first; the same one again (after a pause) only if the node may come back.
      tried++;
      const others = this.addrs.length > 1;
      if (others) this.current = (this.current + 1) % this.addrs.length;
      const roundDone = tried % this.addrs.length === 0;
      const elapsed = Date.now() - started;
      const pause = roundDone ? (BACKOFF_MS[Math.min(round, BACKOFF_MS.length - 1)] as number) : 0;
      const allNodesDown = attempt.transient.nodeDown && !others;
      // Every address gets its first try within the deadline; further rounds only within the retry share.
      const firstPass = tried < this.addrs.length;
      if (
        allNodesDown ||
        (!firstPass && elapsed + pause >= this.budgetMs * RETRY_SHARE) ||
        this.deadline.remainingMs() <= pause + 100
      ) {
        throw attempt.transient.error;
      }
      if (roundDone) round++;
      this.retries++;
      if (pause > 0) await new Promise((resolve) => setTimeout(resolve, pause));
    }
  }

  /** One try at one address: the answer, or what made it transient. */
  private async attempt(
    addr: URL,
    method: VaultMethod,
    path: string,
    headers: Record<string, string>,
    body: Buffer | undefined,
    what: string,
  ): Promise<{ status: number; text: string } | { transient: Transient }> {
    const base = addr.pathname.replace(/\/+$/, "");
    const url = new URL(`${base}/v1/${path.split("/").map(encodeURIComponent).join("/")}`, addr);
    const at = this.addrs.length > 1 ? ` (${addr.origin})` : "";
    let sent: { status: number; text: string };
    try {
      sent = await this.send(url, method, headers, body, `${what}${at}`, this.attemptTimeoutMs());
    } catch (error) {
      if (!(error instanceof VaultUnavailableError)) throw error;
      // Frozen, not Vault, a certificate we refuse, a name that does not resolve: not within seconds.
      const nodeDown = /did not answer in time|not HTTP|TLS verification|host name not found/.test(
        error.message,
      );
      return { transient: { error, nodeDown } };
    }
    const { status, text } = sent;
    if (status === 503) {
      const answer = parseQuietly(text);
      // sys/health answers a sealed Vault with 503 and `"sealed": true`, not an errors list.
      const sealed = (answer as { sealed?: unknown } | undefined)?.sealed === true;
      const reason = vaultErrors(answer) || (sealed ? "Vault is sealed" : "service unavailable");
      const isSealed = /\bsealed\b/i.test(reason);
      const error = new VaultUnavailableError(`Vault is unavailable (${reason}) while ${what}${at}`, {
        hint: isSealed
          ? "Vault is sealed: an operator must unseal it (`vault operator unseal`); nothing was changed, the next run retries"
          : "Vault is sealed or has no active node; nothing was changed, the next run retries",
      });
      return { transient: { error, nodeDown: isSealed } };
    }
    if (status === 307 || status === 308) {
      // A standby that cannot forward names the active node; its address may be dead or unreachable
      // from here, and a token is never sent to an address VAULT_ADDR does not list.
      const error = new VaultUnavailableError(
        `Vault at ${addr.origin} is a standby and redirected (HTTP ${status}) while ${what}: no active node answered`,
        {
          hint: "an election is under way or the active node is down; list every node in VAULT_ADDR (comma-separated), or use the cluster's load balancer",
        },
      );
      return { transient: { error, nodeDown: false } };
    }
    if (status === 429 || status >= 500) {
      const reason = vaultErrors(parseQuietly(text));
      const error = new VaultUnavailableError(
        `Vault answered HTTP ${status}${reason ? ` (${reason})` : ""} while ${what}${at}`,
        { hint: "a Vault-side failure; nothing was changed, the next run retries" },
      );
      return { transient: { error, nodeDown: false } };
    }
    return sent;
  }

  /** With several addresses a node gets its share of the budget, so a frozen one cannot eat all of it. */
  private attemptTimeoutMs(): number {
    const remaining = this.deadline.remainingMs();
    if (this.addrs.length === 1) return remaining;
    return Math.min(remaining, Math.max(MIN_ATTEMPT_MS, Math.floor(this.budgetMs / this.addrs.length)));
  }

  private async denied(
    method: VaultMethod,
    path: string,
    payload: unknown,
    text: string,
    what: string,
  ): Promise<VaultResponse> {
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

  private answer(method: VaultMethod, path: string, status: number, text: string): VaultResponse {
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
    timeoutMs: number,
  ): Promise<{ status: number; text: string }> {
    const outcome = await exchange({
      url,
      method,
      headers,
      body,
      timeoutMs,
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
