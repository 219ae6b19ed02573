// The login's last line of defence: a tiny bash process that kills the hook once the budget and a
// margin are spent, whatever the hook is stuck in. A synchronous file call (NFS, FUSE, a FIFO) blocks
// the main thread, so no JS timer can fire; and process.exit() can hang too, because Node's exit joins
// the libuv threadpool, where a stuck call may sit. SIGKILL from outside needs neither. (A worker
// thread does the same but cost the login ~25 ms, measured: bench --baseline; this costs ~5 ms, loading
// node:child_process and the fork: the largest part of the hook's own time, bench/README.md.)
import { builtin } from "./builtin.js";
import { LOGGER } from "./syslog.js";

/** How far past the budget (counted from the process's start) the watchdog lets a run go. */
export const WATCHDOG_MARGIN_MS = 1000;
export const WATCHDOG_SHELL = "/bin/bash";

// Reads new timeouts (seconds) from the pipe; EOF (the hook is gone, however) ends it quietly, a
// timeout kills the hook. $PPID is the hook: while the pipe is open, it cannot be anyone else.
const SCRIPT = `t=$1
while :; do
  read -r -t "$t" next; status=$?
  if [ $status -gt 128 ]; then
    printf '%s\\n' "$2" >&2
    [ -x "$3" ] && printf '%s\\n' "$2" | "$3" --tag claude-auth-sync --priority authpriv.warning &
    kill -KILL $PPID; exit 0
  fi
  [ $status -eq 0 ] || exit 0
  t=$next
done`;

export interface Watchdog {
  /** Moves the deadline to `budgetMs` + the margin after the process started (once the config is read). */
  setBudget(budgetMs: number): void;
}

// The process's start from its uptime: `performance.timeOrigin` would load perf_hooks (~1 ms a login).
const secondsLeft = (budgetMs: number) =>
  Math.max(0.001, (budgetMs + WATCHDOG_MARGIN_MS - process.uptime() * 1000) / 1000).toFixed(3);

/**
 * Arms the watchdog for `budgetMs` + WATCHDOG_MARGIN_MS after the process started. `line` is what it
 * says (stderr and syslog) when it kills the hook. It never keeps the hook alive, and it ends with it.
 */
export function armWatchdog(budgetMs: number, line: string): Watchdog {
  try {
    // --norc: bash reads ~/.bashrc when its stdin is a socket (as Node's pipes are), as if run by sshd.
    const { spawn } = builtin("node:child_process") as typeof import("node:child_process");
    const child = spawn(
      WATCHDOG_SHELL,
      ["--norc", "--noprofile", "-c", SCRIPT, "claude-auth-watchdog", secondsLeft(budgetMs), line, LOGGER],
      {
        stdio: ["pipe", "ignore", "inherit"],
        env: {},
      },
    );
    child.on("error", () => undefined);
    child.stdin?.on("error", () => undefined);
    child.unref();
    (child.stdin as unknown as { unref?: () => void } | null)?.unref?.();
    // The default budget is what it was armed with: no write (a write costs the login ~0.5 ms).
    return {
      setBudget: (budget) => {
        if (budget !== budgetMs) child.stdin?.write(`${secondsLeft(budget)}\n`);
      },
    };
  } catch {
    return { setBudget: () => undefined }; // no watchdog is no reason to fail a login
  }
}
