// Real test users, made with useradd (CI runs as root). Each test takes its own so parallel files never collide.
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";

export interface TestUser {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

export const isRoot = process.getuid?.() === 0;

/** Creates a real user with a home directory; removes it (and its home) at teardown. */
export function createTestUser(t: { teardown(fn: () => void): void }, prefix = "cas"): TestUser {
  const name = `${prefix}${randomBytes(3).toString("hex")}`.slice(0, 30);
  // Parallel test files race for /etc/passwd's lock: useradd then fails with "cannot lock"; retry.
  for (let attempt = 1; ; attempt++) {
    try {
      execFileSync("useradd", ["--create-home", "--shell", "/bin/bash", name], { stdio: "pipe" });
      break;
    } catch (error) {
      if (attempt >= 20) throw error;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50 + Math.random() * 200);
    }
  }
  t.teardown(() => {
    try {
      execFileSync("pkill", ["-KILL", "-u", name], { stdio: "ignore" });
    } catch {}
    for (let attempt = 1; attempt <= 20; attempt++) {
      try {
        execFileSync("userdel", ["--remove", "--force", name], { stdio: "pipe" });
        return;
      } catch {
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50 + Math.random() * 200);
      }
    }
  });
  const entry = execFileSync("getent", ["passwd", name]).toString().trim().split(":");
  return { name, uid: Number(entry[2]), gid: Number(entry[3]), home: entry[5] ?? `/home/${name}` };
}

interface RootGate {
  fail(msg: string): void;
  /** tap's Test: plan(0, why) ends the test as skipped with the reason. */
  plan?(n: number, why?: string): void;
  comment?(...m: unknown[]): void;
  /** Or an adapter that skips with a reason. */
  skip?: ((why: string) => void) | unknown;
}

/** Skips loudly outside CI when not root; inside CI (CI=true) a missing privilege is a failure, never a skip. */
export function requireRoot(t: RootGate): boolean {
  if (isRoot) return true;
  const why = "SKIPPED: this test creates real users with useradd and needs root";
  if (process.env.CI === "true") {
    t.fail(`${why}; CI must run as root`);
    return false;
  }
  process.stderr.write(`\n#### ${why} ####\n`);
  if (t.plan) t.plan(0, why);
  else if (typeof t.skip === "function") (t.skip as (why: string) => void)(why);
  return false;
}
