// A real Vault server for tests: the binary from vault-bin.sh (VAULT_BIN, `vault`/`bao` on PATH, a cached
// build, or a fresh build from the Go module proxy), started as `vault server -dev` on loopback with a
// random port and a known root token, then configured the way the runbook configures a real one:
// KV v2 at secret/, userpass and approle auth, a templated per-user policy and a host policy (neither
// grants `patch`), and a file audit device, so tests can see every request the server handled.
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { freePort, HOST_POLICY, userPolicy, vaultApi } from "../helpers/vault-api.js";

const VAULT_BIN_SCRIPT = fileURLToPath(new URL("./vault-bin.sh", import.meta.url));

export const HOST_POLICY_NAME = "claude-auth-sync-host";
export const USER_POLICY_NAME = "claude-user";

export interface ServerBinary {
  path: string;
  /** How it was found: VAULT_BIN, PATH, cached build, fresh build. */
  source: string;
  /** `vault version` (or `bao version`), first line. */
  version: string;
}

/** One request as the audit device recorded it (its response entry; `log_raw`, so values are clear). */
export interface AuditEntry {
  operation: string;
  path: string;
  data: Record<string, unknown> | null;
  error: string;
  /** The display name and metadata of the token that made the request. */
  displayName: string;
  metadata: Record<string, string>;
  policies: string[];
}

export interface RealVault {
  addr: string;
  rootToken: string;
  binary: ServerBinary;
  /** `version` from sys/health. */
  version: string;
  userpass: { path: string; accessor: string };
  approle: { path: string; accessor: string };
  /** Every request handled so far, in order (response entries of the audit log). */
  audit(): AuditEntry[];
  /** The number of audit entries so far: pass it to `auditSince` to see only what came after. */
  auditMark(): number;
  auditSince(mark: number): AuditEntry[];
  close(): Promise<void>;
}

let cachedBinary: ServerBinary | undefined;

/**
 * Finds (or builds) the server binary. Throws with vault-bin.sh's exact output when none can be had:
 * callers must fail, never skip.
 */
export function serverBinary(): ServerBinary {
  if (cachedBinary) return cachedBinary;
  let path: string;
  let log: string;
  try {
    const out = execFileSync("sh", [VAULT_BIN_SCRIPT], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
      maxBuffer: 64 * 1024 * 1024,
    });
    path = out.trim().split("\n").at(-1) ?? "";
    log = "";
  } catch (error) {
    const e = error as { status?: number; stdout?: string; stderr?: string };
    throw new Error(
      `no real Vault server binary: ${VAULT_BIN_SCRIPT} exited ${e.status}\n${e.stderr ?? ""}${e.stdout ?? ""}`,
    );
  }
  if (!path || !existsSync(path)) throw new Error(`vault-bin.sh printed no usable path: ${path}\n${log}`);
  const source = process.env.VAULT_BIN
    ? "VAULT_BIN"
    : path.includes("/claude-auth-sync/vault-")
      ? "cached build from the Go module proxy"
      : "PATH";
  const version = (execFileSync(path, ["version"], { encoding: "utf8" }).trim().split("\n")[0] ?? "").replace(
    /, built .*/,
    "",
  );
  cachedBinary = { path, source, version };
  return cachedBinary;
}

async function must(
  addr: string,
  token: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<Record<string, unknown>> {
  const answer = await vaultApi(addr, token, method, path, body);
  if (answer.status >= 300)
    throw new Error(
      `real Vault setup: ${method} ${path}: HTTP ${answer.status} ${JSON.stringify(answer.body)}`,
    );
  return answer.body ?? {};
}

async function waitForHealth(addr: string, child: ChildProcess, logFile: string, deadlineMs: number) {
  const until = Date.now() + deadlineMs;
  let last = "";
  while (Date.now() < until) {
    if (child.exitCode !== null)
      throw new Error(`vault server exited ${child.exitCode}:\n${readFileSync(logFile, "utf8")}`);
    try {
      const health = await vaultApi(addr, undefined, "GET", "sys/health");
      if (health.status === 200) return health.body ?? {};
      last = `HTTP ${health.status}`;
    } catch (error) {
      last = (error as Error).message;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(
    `vault server not healthy after ${deadlineMs} ms (${last}):\n${readFileSync(logFile, "utf8")}`,
  );
}

function parseAudit(file: string): AuditEntry[] {
  if (!existsSync(file)) return [];
  const entries: AuditEntry[] = [];
  for (const line of readFileSync(file, "utf8").split("\n")) {
    if (!line) continue;
    const entry = JSON.parse(line) as {
      type?: string;
      error?: string;
      auth?: { display_name?: string; metadata?: Record<string, string> | null; policies?: string[] };
      request?: { operation?: string; path?: string; data?: Record<string, unknown> | null };
    };
    if (entry.type !== "response") continue;
    entries.push({
      operation: entry.request?.operation ?? "",
      path: entry.request?.path ?? "",
      data: entry.request?.data ?? null,
      error: entry.error ?? "",
      displayName: entry.auth?.display_name ?? "",
      metadata: entry.auth?.metadata ?? {},
      policies: entry.auth?.policies ?? [],
    });
  }
  return entries;
}

/** Starts `vault server -dev` on 127.0.0.1 at a free port and configures it as a workstation fleet's Vault. */
export async function startRealVault(): Promise<RealVault> {
  const binary = serverBinary();
  const dir = mkdtempSync(join(tmpdir(), "cas-vault-real-"));
  const rootToken = `test-root-${randomBytes(8).toString("hex")}`;
  const logFile = join(dir, "server.log");
  let child: ChildProcess | undefined;
  let addr = "";
  let health: Record<string, unknown> = {};
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    addr = `http://127.0.0.1:${port}`;
    const log = openSync(logFile, "w");
    // HOME is a scratch directory: dev mode stores its root token in ~/.vault-token, and root's own
    // must not be touched.
    child = spawn(
      binary.path,
      [
        "server",
        "-dev",
        `-dev-root-token-id=${rootToken}`,
        `-dev-listen-address=127.0.0.1:${port}`,
        "-log-level=warn",
      ],
      {
        env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: dir, VAULT_ADDR: addr },
        stdio: ["ignore", log, log],
        detached: false,
      },
    );
    try {
      health = await waitForHealth(addr, child, logFile, 30_000);
      break;
    } catch (error) {
      child.kill("SIGKILL");
      // The port may have been taken between freePort() and the server's bind: try another.
      if (attempt >= 3 || !/address already in use/.test(String((error as Error).message))) {
        rmSync(dir, { recursive: true, force: true });
        throw error;
      }
    }
  }
  const server = child;
  const closed = new Promise<void>((resolve) => server.once("exit", () => resolve()));

  const auditFile = join(dir, "audit.log");
  await must(addr, rootToken, "PUT", "sys/audit/file", {
    type: "file",
    options: { file_path: auditFile, log_raw: "true" },
  });
  const mounts = await must(addr, rootToken, "GET", "sys/mounts");
  const secret = (mounts.data as Record<string, { type?: string; options?: { version?: string } }>)[
    "secret/"
  ];
  if (secret?.type !== "kv" || secret.options?.version !== "2")
    await must(addr, rootToken, "POST", "sys/mounts/secret", { type: "kv", options: { version: "2" } });
  await must(addr, rootToken, "POST", "sys/auth/userpass", { type: "userpass" });
  await must(addr, rootToken, "POST", "sys/auth/approle", { type: "approle" });
  const auths = (await must(addr, rootToken, "GET", "sys/auth")).data as Record<string, { accessor: string }>;
  const userpass = { path: "userpass", accessor: auths["userpass/"]?.accessor ?? "" };
  const approle = { path: "approle", accessor: auths["approle/"]?.accessor ?? "" };
  await must(addr, rootToken, "PUT", `sys/policies/acl/${HOST_POLICY_NAME}`, { policy: HOST_POLICY });
  await must(addr, rootToken, "PUT", `sys/policies/acl/${USER_POLICY_NAME}`, {
    policy: userPolicy(userpass.accessor),
  });

  return {
    addr,
    rootToken,
    binary,
    version: String(health.version ?? ""),
    userpass,
    approle,
    audit: () => parseAudit(auditFile),
    auditMark: () => parseAudit(auditFile).length,
    auditSince: (mark) => parseAudit(auditFile).slice(mark),
    close: async () => {
      if (server.exitCode === null && server.signalCode === null) {
        server.kill("SIGTERM");
        const timer = setTimeout(() => server.kill("SIGKILL"), 5000);
        await closed;
        clearTimeout(timer);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** One line for logs: which server ran. */
export function describe(vault: RealVault): string {
  return `${vault.binary.version} (sys/health version ${vault.version}; ${vault.binary.source}: ${vault.binary.path})`;
}
