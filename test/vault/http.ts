// A minimal Vault HTTP client for tests: node:http(s) only, no retries, no interpretation, so the tests see
// exactly what the server (stand-in or real Vault) sent.
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";

export interface VaultCall {
  method?: string;
  /** Logical path without `/v1/`, e.g. `secret/data/foo?version=2`. */
  path: string;
  token?: string;
  body?: unknown;
  headers?: Record<string, string>;
  /** CA certificate(s) for https. */
  ca?: string | Buffer;
  timeoutMs?: number;
}

export interface VaultReply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  /** The parsed JSON body; undefined when empty or not JSON. */
  json: unknown;
}

export function vaultCall(addr: string, call: VaultCall): Promise<VaultReply> {
  const url = new URL(`/v1/${call.path.replace(/^\/+/, "")}`, addr);
  const payload =
    call.body === undefined
      ? undefined
      : typeof call.body === "string"
        ? call.body
        : JSON.stringify(call.body);
  const headers: Record<string, string> = { ...(call.headers ?? {}) };
  if (call.token !== undefined) headers["X-Vault-Token"] = call.token;
  if (payload !== undefined) {
    headers["Content-Type"] ??= "application/json";
    headers["Content-Length"] = String(Buffer.byteLength(payload));
  }
  const send = url.protocol === "https:" ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = send(
      url,
      {
        method: call.method ?? "GET",
        headers,
        ...(call.ca === undefined ? {} : { ca: call.ca }),
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("error", reject);
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          let json: unknown;
          try {
            json = text === "" ? undefined : JSON.parse(text);
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
        });
      },
    );
    req.on("error", reject);
    if (call.timeoutMs !== undefined)
      req.setTimeout(call.timeoutMs, () => req.destroy(new Error(`timed out after ${call.timeoutMs} ms`)));
    if (payload !== undefined) req.write(payload);
    req.end();
  });
}

/** Reads a nested field of a parsed JSON body: `field(reply.json, "data", "metadata", "version")`. */
export function field(value: unknown, ...keys: Array<string | number>): unknown {
  let current: unknown = value;
  for (const key of keys) {
    if (current === null || typeof current !== "object") return undefined;
    current = (current as Record<string | number, unknown>)[key];
  }
  return current;
}
