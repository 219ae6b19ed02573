// A metrics directory a user can write, booby-trapped the way issue 13 describes: FIFOs at the temp
// names the next runs would use (`<file>.<pid>.tmp`), and a way to clean up runs that hung on them.
import { execFileSync } from "node:child_process";
import { chownSync, lstatSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { TestUser } from "./users.js";

/** Budget overrun allowed by the watchdog (src/system/watchdog.ts) plus start-up and a loaded machine. */
export const WATCHDOG_SLACK_MS = 1000 + 1500;
/** The budget the watchdog assumes before the config is read (CLAUDE_AUTH_SYNC_TIMEOUT_MS's default). */
export const DEFAULT_BUDGET_MS = 3000;

/** Hands the directory to the user, who plants FIFOs at `claude-auth-sync-<user>.prom.<pid>.tmp`. */
export function plantTempFifos(dir: string, user: TestUser, count = 2000): string[] {
  chownSync(dir, user.uid, user.gid);
  // One mkfifo process for all of them: a process per FIFO would use up the very pids planted for.
  const first = Number(readFileSync("/proc/sys/kernel/ns_last_pid", "utf8")) + 1;
  const paths = Array.from({ length: count }, (_, i) =>
    join(dir, `claude-auth-sync-${user.name}.prom.${first + i}.tmp`),
  );
  execFileSync("runuser", ["-u", user.name, "--", "mkfifo", ...paths]);
  return paths;
}

/** The planted FIFOs that are no longer there as FIFOs owned by the user. */
export function fifosTouched(fifos: string[], user: TestUser): string[] {
  return fifos.filter((path) => {
    try {
      const stat = lstatSync(path);
      return !stat.isFIFO() || stat.uid !== user.uid;
    } catch {
      return true;
    }
  });
}

/** SIGKILLs the processes of ours a test left hanging (their command line names `marker`). */
export function killHungRuns(marker: string): number {
  let killed = 0;
  for (const pid of readdirSync("/proc").filter((name) => /^\d+$/.test(name))) {
    if (Number(pid) === process.pid) continue;
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8");
      if (cmdline.includes("claude-auth") && cmdline.includes(marker)) {
        process.kill(Number(pid), "SIGKILL");
        killed++;
      }
    } catch {}
  }
  return killed;
}
