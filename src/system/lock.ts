// A per-user lock so that a login, the timer and a manual run never interleave their writes.
// A lock file in the user's own directory: only the user (or root) can hold or break it.
import { hostname } from "node:os";
import { setTimeout as sleep } from "node:timers/promises";
import type { Deadline } from "../deadline.js";
import { AuthSyncError, ExitCode, InvalidDataError } from "../errors.js";
import { GREW_WHILE_READ, type HomeFile, isAlive, type UserHome } from "./home.js";

export const LOCK_DIR = [".config", "claude-auth-sync"] as const;
export const LOCK_NAME = "sync.lock";
/** Any run finishes within its budget; a lock older than this belongs to a run that died. */
const STALE_LOCK_MS = 10 * 60_000;

export interface UserLock {
  release(): void;
}

function owner(content: string): { pid: number; host: string; at: number } | undefined {
  const [pid, host, at] = content.trim().split(" ");
  if (!pid || !host || !at) return undefined;
  return { pid: Number(pid), host, at: Number(at) };
}

/**
 * Its creator writes the lock's content right after creating it (O_EXCL): a lock read in between is
 * empty, or grows while being read. Such a lock is held, not stale, until it is this old.
 */
const UNWRITTEN_GRACE_MS = 5_000;

function isStale(lock: HomeFile, now: number): boolean {
  const holder = owner(lock.text);
  if (!holder || !Number.isFinite(holder.at)) return now - lock.mtimeMs > UNWRITTEN_GRACE_MS;
  if (now - holder.at > STALE_LOCK_MS) return true;
  return holder.host === hostname() && !isAlive(holder.pid);
}

/** The lock file; "being-written" when it grew while being read (its creator is writing it). */
function readLock(home: UserHome): HomeFile | "being-written" | undefined {
  try {
    return home.read(LOCK_DIR, LOCK_NAME);
  } catch (error) {
    // A link or a FIFO planted here is refused by the next createExclusive or read, with its fix;
    // a regular file that grows under us is a lock being written.
    if (error instanceof InvalidDataError && error.message.endsWith(GREW_WHILE_READ)) return "being-written";
    throw error;
  }
}

export async function acquireUserLock(home: UserHome, deadline: Deadline): Promise<UserLock> {
  const mine = `${process.pid} ${hostname()} ${Date.now()}\n`;
  for (let wait = 5; ; wait = Math.min(wait * 2, 100)) {
    if (home.createExclusive(LOCK_DIR, LOCK_NAME, mine)) {
      return {
        release() {
          const current = home.read(LOCK_DIR, LOCK_NAME);
          if (current?.text === mine) home.remove(LOCK_DIR, LOCK_NAME);
        },
      };
    }
    const current = readLock(home);
    if (current && current !== "being-written" && isStale(current, Date.now())) {
      // Break a dead run's lock; if two runs race to break it, O_EXCL picks one winner next round.
      if (home.read(LOCK_DIR, LOCK_NAME)?.text === current.text) home.remove(LOCK_DIR, LOCK_NAME);
      continue;
    }
    if (deadline.remainingMs() <= wait) {
      throw new AuthSyncError(
        `another claude-auth run for ${home.user.name} holds ${home.path(...LOCK_DIR, LOCK_NAME)}`,
        ExitCode.error,
        { hint: "it finishes within CLAUDE_AUTH_SYNC_TIMEOUT_MS; if no run is active, remove the file" },
      );
    }
    await sleep(wait);
  }
}
