// Runs the built single executable the way users, PAM and systemd do: a real process, a clean env.
import { spawn } from "node:child_process";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

/** The built executable; CLAUDE_AUTH_TEST_BINARY runs the tests against another build (e.g. the previous one). */
export const BINARY =
  process.env.CLAUDE_AUTH_TEST_BINARY ?? fileURLToPath(new URL("../../dist/claude-auth", import.meta.url));

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

export interface RunOptions {
  env?: Record<string, string>;
  stdin?: string;
  uid?: number;
  gid?: number;
  timeoutMs?: number;
  cwd?: string;
}

/**
 * The binary's argv through env(1): tap adds its own NODE_OPTIONS to every child it spawns, which
 * `claude-auth pam` as root rightly refuses; the binary sees only the NODE_OPTIONS a test gives it.
 */
export function binaryCommand(args: string[], env: Record<string, string> = {}): [string, string[]] {
  const own = env.NODE_OPTIONS === undefined ? [] : [`NODE_OPTIONS=${env.NODE_OPTIONS}`];
  return ["/usr/bin/env", ["-u", "NODE_OPTIONS", ...own, BINARY, ...args]];
}

export function runBinary(args: string[], options: RunOptions = {}): Promise<RunResult> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(...binaryCommand(args, options.env), {
      env: { PATH: "/usr/local/bin:/usr/bin:/bin", ...options.env },
      stdio: ["pipe", "pipe", "pipe"],
      ...(options.uid === undefined ? {} : { uid: options.uid, gid: options.gid ?? options.uid }),
      cwd: options.cwd ?? "/",
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => {
      stdout += c.toString();
    });
    child.stderr.on("data", (c: Buffer) => {
      stderr += c.toString();
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 30_000);
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, ms: Date.now() - started });
    });
    child.stdin.end(options.stdin ?? "");
  });
}

/** A root-owned scratch directory holding config.env (0644) and a root-only token file. */
export function makeConfig(
  t: { teardown(fn: () => void): void },
  values: Record<string, string>,
  hostToken?: string,
): { dir: string; path: string; tokenFile: string | undefined } {
  const dir = mkdtempSync(join(tmpdir(), "cas-config-"));
  chmodSync(dir, 0o755);
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  let tokenFile: string | undefined;
  const lines = Object.entries(values).map(([k, v]) => `${k}=${v}`);
  // Renewal would refresh the tests' made-up credentials at Claude's real token endpoint: off unless
  // a test turns it on (and points CLAUDE_AUTH_SYNC_OAUTH_TOKEN_URL at test/oauth/standin.ts).
  if (!("CLAUDE_AUTH_SYNC_RENEW" in values)) lines.push("CLAUDE_AUTH_SYNC_RENEW=0");
  // The suite written before per-user identity speaks with the host's identity: it says so here, once.
  // Tests of the `user` mode (the product's default) pass CLAUDE_AUTH_SYNC_IDENTITY=user.
  if (!("CLAUDE_AUTH_SYNC_IDENTITY" in values)) lines.push("CLAUDE_AUTH_SYNC_IDENTITY=host");
  // Root's cached host login (AppRole, userpass, ldap) stays in this test's own directory, not /var/lib.
  if (!("CLAUDE_AUTH_SYNC_HOST_TOKEN_CACHE" in values))
    lines.push(`CLAUDE_AUTH_SYNC_HOST_TOKEN_CACHE=${join(dir, "host-login-token")}`);
  if (hostToken) {
    tokenFile = join(dir, "host-token");
    writeFileSync(tokenFile, `${hostToken}\n`, { mode: 0o600 });
    lines.push(`CLAUDE_AUTH_SYNC_TOKEN_FILE=${tokenFile}`);
  }
  const path = join(dir, "config.env");
  writeFileSync(path, `${lines.join("\n")}\n`, { mode: 0o644 });
  return { dir, path, tokenFile };
}
