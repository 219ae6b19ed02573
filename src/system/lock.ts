// A per-user lock so that a login, the timer and a manual run never interleave their writes.
// A lock file in the user's own directory: only the user (or root) can hold or break it.
import { hostname } from "node:os";
import { type Deadline, sleep } from "../deadline.js";
import { AuthSyncError, ExitCode, InvalidDataError } from "../errors.js";
import { GREW_WHILE_READ, type HomeFile, isAlive, type UserHome } from "./home.js";

export const LOCK_DIR = [".config", "claude-auth-sync"] as const;
export const LOCK_NAME = "sync.lock";
/** Any run finishes within its budget; a lock older than this belongs to a run that died. */
const STALE_LOCK_MS = 10 * 60_000;
/** Taken (O_EXCL) by the one run that may break a stale lock, for one synchronous step. */
const BREAK_CLAIM = `${LOCK_NAME}.breaking`;
/** That step takes milliseconds: a claim older than this was left by a breaker that died in it. */
const STALE_CLAIM_MS = 30_000;

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

function isStale(lock: HomeFile, now: number, maxAgeMs = STALE_LOCK_MS): boolean {
  const holder = owner(lock.text);
  if (!holder || !Number.isFinite(holder.at)) return now - lock.mtimeMs > UNWRITTEN_GRACE_MS;
  if (now - holder.at > maxAgeMs) return true;
  return holder.host === hostname() && !isAlive(holder.pid);
}

/**
 * `pid host at`, then a nonce: two runs of one process in one millisecond still differ. The nonce only
 * tells holders apart (whoever can write the lock can remove it anyway), so Math.random serves; loading
 * node:crypto (OpenSSL's initialisation) cost every login ~20% of its time (bench/README.md).
 */
function holderLine(): string {
  const nonce = Math.floor(Math.random() * 2 ** 48)
    .toString(16)
    .padStart(12, "0");
  return `${process.pid} ${hostname()} ${Date.now()} ${nonce}\n`;
}

/** The same file as the one judged stale: its content (unique per holder) and its mtime (for an empty one). */
function isSameLock(file: HomeFile | "being-written" | undefined, judged: HomeFile): boolean {
  return (
    file !== undefined &&
    file !== "being-written" &&
    file.text === judged.text &&
    file.mtimeMs === judged.mtimeMs
  );
}

/** The lock file; "being-written" when it grew while being read (its creator is writing it). */
function readLock(home: UserHome, name = LOCK_NAME): HomeFile | "being-written" | undefined {
  try {
    return home.read(LOCK_DIR, name);
  } catch (error) {
    // A link or a FIFO planted here is refused by the next createExclusive or read, with its fix;
    // a regular file that grows under us is a lock being written.
    if (error instanceof InvalidDataError && error.message.endsWith(GREW_WHILE_READ)) return "being-written";
    throw error;
  }
}

/**
 * Removes the lock judged stale if it is still the lock; true when no lock is left (try to take it).
 * Read-then-remove is not enough: between the two, another breaker can remove it and a third run take
 * a fresh lock, which the remove would then destroy.
 */
function breakStaleLock(home: UserHome, judged: HomeFile): boolean {
  const claim = holderLine();
  return home.batch(() => {
    if (!home.createExclusive(LOCK_DIR, BREAK_CLAIM, claim)) {
      clearDeadClaim(home);
      return false;
    }
    try {
      // Why this is atomic: under the claim no other run breaks, and while the lock exists no run can
      // create one, so the lock checked here is the one moved next (only its own holder could remove it).
      const current = readLock(home);
      if (!isSameLock(current, judged)) return current === undefined;
      const aside = home.moveToTemp(LOCK_DIR, LOCK_NAME);
      if (aside === undefined) return true;
      let moved: HomeFile | "unreadable" | undefined;
      try {
        moved = home.read(LOCK_DIR, aside);
      } catch {
        moved = "unreadable";
      }
      if (moved === undefined) return true; // the temp sweep took it: it was old, the stale one
      if (moved !== "unreadable" && isSameLock(moved, judged)) {
        home.remove(LOCK_DIR, aside);
        return true;
      }
      // A holder judged dead was not (another host's clock): it released, a run took the lock, and we
      // moved that one: link it back (link never replaces a lock taken meanwhile).
      home.putBack(LOCK_DIR, aside, LOCK_NAME);
      return false;
    } finally {
      if (home.read(LOCK_DIR, BREAK_CLAIM)?.text === claim) home.remove(LOCK_DIR, BREAK_CLAIM);
    }
  });
}

/** A claim whose breaker died (on this host, or long ago) would block every break: remove it. */
function clearDeadClaim(home: UserHome): void {
  const claim = readLock(home, BREAK_CLAIM);
  if (claim && claim !== "being-written" && isStale(claim, Date.now(), STALE_CLAIM_MS)) {
    home.remove(LOCK_DIR, BREAK_CLAIM);
  }
}

export async function acquireUserLock(home: UserHome, deadline: Deadline): Promise<UserLock> {
  const mine = holderLine();
  for (let wait = 5; ; wait = Math.min(wait * 2, 100)) {
    if (home.createExclusive(LOCK_DIR, LOCK_NAME, mine)) {
      return {
        release() {
          home.batch(() => {
            if (home.read(LOCK_DIR, LOCK_NAME)?.text === mine) home.remove(LOCK_DIR, LOCK_NAME);
          });
        },
      };
    }
    const current = readLock(home);
    if (
      current &&
      current !== "being-written" &&
      isStale(current, Date.now()) &&
      breakStaleLock(home, current)
    ) {
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
