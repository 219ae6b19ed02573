// Root touches a user's home only as that user: the effective uid/gid/groups are switched for the
// duration of a synchronous block, so a planted symlink can lead nowhere the user could not write.
import { AuthSyncError, ExitCode } from "../errors.js";
import type { SystemUser } from "./users.js";

/** The user we are switched to, so nested blocks do not switch again (each switch signals every thread). */
let current: number | undefined;

/**
 * Runs `fn` with the user's effective identity when we are root (a no-op otherwise). `fn` must be
 * synchronous: while it runs, nothing else in this process may act with the user's identity or root's.
 * Nested calls for the same user run inside the outer switch.
 */
export function asUser<T>(user: SystemUser, fn: () => T): T {
  if (current === user.uid) return fn();
  if (current !== undefined) throw new Error(`asUser: already acting as uid ${current}`);
  if (process.getuid?.() !== 0 || process.geteuid?.() !== 0 || user.uid === 0) return fn();
  const savedGroups = process.getgroups!();
  const savedEgid = process.getegid!();
  try {
    process.setgroups!([user.gid]);
    process.setegid!(user.gid);
    process.seteuid!(user.uid);
  } catch (error) {
    restore(savedGroups, savedEgid);
    throw new AuthSyncError(
      `cannot switch to user ${user.name}: ${(error as Error).message}`,
      ExitCode.error,
    );
  }
  current = user.uid;
  try {
    const result = fn();
    if (result instanceof Promise) throw new Error("asUser: fn must be synchronous");
    return result;
  } finally {
    current = undefined;
    restore(savedGroups, savedEgid);
  }
}

function restore(groups: number[], egid: number): void {
  process.seteuid!(0);
  process.setegid!(egid);
  process.setgroups!(groups);
}
