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
  execFileSync("useradd", ["--create-home", "--shell", "/bin/bash", name], { stdio: "ignore" });
  t.teardown(() => {
    try {
      execFileSync("pkill", ["-KILL", "-u", name], { stdio: "ignore" });
    } catch {}
    execFileSync("userdel", ["--remove", "--force", name], { stdio: "ignore" });
  });
  const entry = execFileSync("getent", ["passwd", name]).toString().trim().split(":");
  return { name, uid: Number(entry[2]), gid: Number(entry[3]), home: entry[5] ?? `/home/${name}` };
}

/** Skips loudly outside CI when not root; inside CI (CI=true) a missing privilege is a failure, never a skip. */
export function requireRoot(t: { skip(msg: string): void; fail(msg: string): void }): boolean {
  if (isRoot) return true;
  const why = "SKIPPED: this test creates real users with useradd and needs root";
  if (process.env.CI === "true") t.fail(`${why}; CI must run as root`);
  else t.skip(why);
  return false;
}
