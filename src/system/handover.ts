// The PAM auth step's Vault token for a user whose home does not exist yet (first login, pam_mkhomedir
// in the session stack): held root-only on tmpfs until the session step stores it in the home and
// removes this copy. Nothing here follows a link or trusts a file root did not make.
import {
  chmodSync,
  closeSync,
  constants,
  fchmodSync,
  fstatSync,
  lstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  unlinkSync,
  writeSync,
} from "node:fs";
import { dirname, join } from "node:path";
import { AuthSyncError, ExitCode } from "../errors.js";

/** /run is tmpfs on systemd machines: nothing here survives a reboot. */
export const HANDOVER_DIR = "/run/claude-auth-sync/enroll";
/** A copy older than this is a login whose session never opened: dropped, never stored. */
export const HANDOVER_MAX_AGE_MS = 10 * 60_000;

function refuse(path: string, why: string): never {
  throw new AuthSyncError(`refusing the hand-over directory ${path}: ${why}`, ExitCode.error, {
    hint: `remove ${path}; claude-auth-sync recreates it root-only`,
  });
}

/** Makes (or checks) a root-owned directory no one else may write, never through a link. */
function rootDirectory(path: string, mode: number): void {
  try {
    mkdirSync(path, { mode });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
  }
  const stat = lstatSync(path);
  if (stat.isSymbolicLink() || !stat.isDirectory()) refuse(path, "is not a plain directory");
  if (stat.uid !== 0) refuse(path, `is owned by uid ${stat.uid}, not root`);
  if ((stat.mode & 0o022) !== 0)
    refuse(path, `is writable by others (mode ${(stat.mode & 0o777).toString(8)})`);
  // The copies' own directory must be exactly root-only: takeHandover reads from no other.
  if (mode === 0o700 && (stat.mode & 0o077) !== 0) chmodSync(path, 0o700);
}

/** Keeps `token` for `user`'s session step: 0600 root, replaced atomically. */
export function putHandover(user: string, token: string, dir = HANDOVER_DIR): void {
  rootDirectory(dirname(dir), 0o755);
  rootDirectory(dir, 0o700);
  const path = join(dir, user);
  const temp = `${path}.${process.pid}.tmp`;
  const fd = openSync(
    temp,
    constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
    0o600,
  );
  try {
    fchmodSync(fd, 0o600);
    writeSync(fd, `${token}\n`);
  } finally {
    closeSync(fd);
  }
  renameSync(temp, path);
}

/**
 * Takes (reads and removes) `user`'s copy: the token if it is recent, undefined if there is none or it
 * is stale. A copy root did not make (wrong owner, mode, a link) is removed unread.
 */
export function takeHandover(user: string, now: number, dir = HANDOVER_DIR): string | undefined {
  const path = join(dir, user);
  let fd: number;
  try {
    const parent = lstatSync(dir);
    if (parent.isSymbolicLink() || !parent.isDirectory() || parent.uid !== 0 || (parent.mode & 0o077) !== 0)
      return undefined;
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (error) {
    // A link in root's own directory is not a copy root made: removed (the link, never its target).
    if ((error as NodeJS.ErrnoException).code === "ELOOP") unlinkQuietly(path);
    return undefined; // none (the usual case), or not ours to read
  }
  try {
    const stat = fstatSync(fd);
    const ours = stat.isFile() && stat.uid === 0 && (stat.mode & 0o077) === 0 && stat.size <= 8192;
    const fresh = now - stat.mtimeMs <= HANDOVER_MAX_AGE_MS && stat.mtimeMs <= now + 60_000;
    const token = ours && fresh ? readFileSync(fd, "utf8").trim() : "";
    return /^[\x21-\x7e]{1,4096}$/.test(token) ? token : undefined;
  } finally {
    closeSync(fd);
    unlinkQuietly(path); // already gone: a concurrent session step took it
  }
}

function unlinkQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {}
}
