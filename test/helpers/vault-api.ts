// Vault's HTTP API as an administrator would use it: works against the stand-in and a real server.
import http from "node:http";
import https from "node:https";
import { createServer } from "node:net";

export interface ApiAnswer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Record<string, unknown> | undefined;
}

export interface ApiOptions {
  /** Per-request timeout (default 10 s); the HA harness keeps it short so a frozen node cannot stall it. */
  timeoutMs?: number;
  /** https: the CAs to trust. */
  ca?: Buffer[];
}

export async function vaultApi(
  addr: string,
  token: string | undefined,
  method: string,
  path: string,
  payload?: unknown,
  options: ApiOptions = {},
): Promise<ApiAnswer> {
  const body = payload === undefined ? undefined : JSON.stringify(payload);
  return new Promise((resolve, reject) => {
    const url = new URL(`/v1/${path}`, addr);
    const tls = url.protocol === "https:";
    const request = (tls ? https : http).request(
      url,
      {
        method,
        agent: false,
        ...(tls && options.ca ? { ca: options.ca } : {}),
        headers: {
          ...(token ? { "X-Vault-Token": token } : {}),
          ...(body ? { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(body) } : {}),
        },
        timeout: options.timeoutMs ?? 10_000,
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on("data", (c: Buffer) => chunks.push(c));
        response.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          let parsed: Record<string, unknown> | undefined;
          try {
            parsed = text ? (JSON.parse(text) as Record<string, unknown>) : undefined;
          } catch {
            parsed = undefined;
          }
          resolve({ status: response.statusCode ?? 0, headers: response.headers, body: parsed });
        });
        response.on("error", reject);
      },
    );
    request.on("timeout", () => request.destroy(new Error(`${method} ${path} at ${addr}: timeout`)));
    request.on("error", reject);
    request.end(body);
  });
}

/** A TCP port free on loopback right now (a server may still take it first: callers retry). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** The host policy of the runbook: the whole user tree, create/read/update only (no patch, no delete). */
export const HOST_POLICY = `
path "secret/data/workstation/claude-users/*" {
  capabilities = ["create", "read", "update"]
}
`;

/** A per-user policy templated on the login name of an auth mount (no patch). */
export function userPolicy(accessor: string): string {
  return `
path "secret/data/workstation/claude-users/{{identity.entity.aliases.${accessor}.name}}" {
  capabilities = ["create", "read", "update"]
}
path "sys/capabilities-self" {
  capabilities = ["update"]
}
`;
}

export async function putPolicy(addr: string, root: string, name: string, policy: string): Promise<void> {
  const answer = await vaultApi(addr, root, "PUT", `sys/policies/acl/${name}`, { policy });
  if (answer.status >= 300)
    throw new Error(`policy ${name}: HTTP ${answer.status} ${JSON.stringify(answer.body)}`);
}

export async function createToken(
  addr: string,
  root: string,
  policies: string[],
  ttl = "1h",
): Promise<string> {
  const answer = await vaultApi(addr, root, "POST", "auth/token/create", { policies, ttl, no_parent: true });
  const token = (answer.body?.auth as { client_token?: string } | undefined)?.client_token;
  if (!token) throw new Error(`token create: HTTP ${answer.status} ${JSON.stringify(answer.body)}`);
  return token;
}

/** A host token: HOST_POLICY only. */
export async function hostToken(addr: string, root: string): Promise<string> {
  await putPolicy(addr, root, "claude-auth-sync-host", HOST_POLICY);
  return createToken(addr, root, ["claude-auth-sync-host"]);
}

export function documentPath(user: string): string {
  return `secret/data/workstation/claude-users/${user}`;
}

export async function readDoc(addr: string, root: string, user: string) {
  const answer = await vaultApi(addr, root, "GET", documentPath(user));
  const data = answer.body?.data as
    | { data?: Record<string, unknown>; metadata?: { version?: number } }
    | undefined;
  return { status: answer.status, data: data?.data ?? undefined, version: data?.metadata?.version };
}

export async function writeDoc(
  addr: string,
  root: string,
  user: string,
  data: Record<string, unknown>,
  cas?: number,
) {
  const answer = await vaultApi(addr, root, "POST", documentPath(user), {
    data,
    ...(cas === undefined ? {} : { options: { cas } }),
  });
  if (answer.status >= 300)
    throw new Error(`write ${user}: HTTP ${answer.status} ${JSON.stringify(answer.body)}`);
  return answer;
}

/**
 * Accessors of the live tokens minted by logins at `loginPath` (for AppRole, of `roleName` only), as an
 * administrator counts them: `LIST auth/token/accessors` (sudo), then lookup-accessor for each.
 */
export async function liveLoginTokens(
  addr: string,
  root: string,
  loginPath: string,
  roleName?: string,
): Promise<string[]> {
  const list = await vaultApi(addr, root, "LIST", "auth/token/accessors");
  if (list.status !== 200) throw new Error(`LIST auth/token/accessors: ${list.status}`);
  const live: string[] = [];
  for (const accessor of (list.body?.data as { keys?: string[] } | undefined)?.keys ?? []) {
    const entry = await vaultApi(addr, root, "POST", "auth/token/lookup-accessor", { accessor });
    const data = entry.body?.data as { path?: string; meta?: Record<string, string> | null } | undefined;
    if (data?.path !== loginPath) continue;
    if (roleName !== undefined && data.meta?.role_name !== roleName) continue;
    live.push(accessor);
  }
  return live;
}
