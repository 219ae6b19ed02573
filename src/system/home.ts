// Files in a user's home: read and written as the user, never through a symlink, atomically,
// created 0600 from the first byte (no chmod-after-write window).
import {
  chmodSync,
  closeSync,
  constants,
  fchmodSync,
  fstatSync,
  fsyncSync,
  linkSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readSync,
  renameSync,
  type Stats,
  unlinkSync,
  writeSync,
} from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { AuthSyncError, ExitCode, InvalidDataError } from "../errors.js";
import { asUser } from "./as-user.js";
import type { SystemUser } from "./users.js";

export const MAX_HOME_FILE_BYTES = 1024 * 1024;
/** The tool's own directory (~/.config/claude-auth-sync): kept 0700 whatever it was found as. */
const PRIVATE_DIRECTORY = "claude-auth-sync";
const TEMP_MARK = ".tmp-";
/** Leftover temp files older than this came from a killed run: the next run removes them. */
const STALE_TEMP_MS = 60_000;

export interface HomeFile {
  text: string;
  /** The file exactly as read: an rc file must be written back byte-for-byte, whatever its encoding. */
  bytes: Buffer;
  mtimeMs: number;
  /** Permission bits (mode & 0o7777), so a rewrite can keep them. */
  mode: number;
  uid: number;
}

function errno(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException).code;
}

/** The refusal for a file that grew while being read (a lock being written right now, or worse). */
export const GREW_WHILE_READ = "grew while being read";

function refuse(path: string, why: string): never {
  throw new InvalidDataError(
    path,
    why,
    "remove or fix it as the user; claude-auth-sync never follows links in a home",
  );
}

/** A user's home as seen by one run: every operation is synchronous and runs as the user. */
export class UserHome {
  readonly user: SystemUser;
  private readonly enforceOwner: boolean;

  constructor(user: SystemUser) {
    this.user = user;
    this.enforceOwner = process.geteuid?.() === 0;
  }

  /** Runs several operations under one identity switch (each switch signals every thread). */
  batch<T>(fn: () => T): T {
    return asUser(this.user, fn);
  }

  path(...segments: string[]): string {
    return join(this.user.home, ...segments);
  }

  private checkOwned(path: string, stat: Stats): void {
    if (this.enforceOwner && stat.uid !== this.user.uid) {
      refuse(path, `is owned by uid ${stat.uid}, not by ${this.user.name}`);
    }
  }

  /** Checks (and with `create`, makes, 0700) each directory below the home; never follows a link. */
  private directory(segments: readonly string[], create: boolean): string | undefined {
    let path = this.user.home;
    for (const segment of segments) {
      path = join(path, segment);
      let stat: Stats;
      try {
        stat = lstatSync(path);
      } catch (error) {
        if (errno(error) !== "ENOENT") throw error;
        if (!create) return undefined;
        try {
          mkdirSync(path, { mode: 0o700 });
        } catch (mkdirError) {
          if (errno(mkdirError) !== "EEXIST") throw this.ioError("creating", path, mkdirError);
        }
        stat = lstatSync(path);
      }
      if (stat.isSymbolicLink()) refuse(path, "is a symbolic link");
      if (!stat.isDirectory()) refuse(path, "is not a directory");
      this.checkOwned(path, stat);
      // Our own directory holds the token: others must not be able to swap files in it.
      if (create && segment === PRIVATE_DIRECTORY && (stat.mode & 0o077) !== 0) chmodSync(path, 0o700);
    }
    return path;
  }

  private ioError(doing: string, path: string, error: unknown): AuthSyncError {
    return new AuthSyncError(
      `${doing} ${path} as ${this.user.name} failed: ${errno(error) ?? error}`,
      ExitCode.error,
      {
        hint: "check the ownership and free space of the home directory",
      },
    );
  }

  /** Reads a regular file below the home, or undefined when it (or its directory) does not exist. */
  read(dir: readonly string[], name: string): HomeFile | undefined {
    return asUser(this.user, () => {
      const parent = this.directory(dir, false);
      if (parent === undefined) return undefined;
      const path = join(parent, name);
      let fd: number;
      try {
        // O_NONBLOCK: a FIFO planted here must not hang a login.
        fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
      } catch (error) {
        if (errno(error) === "ENOENT") return undefined;
        if (errno(error) === "ELOOP") refuse(path, "is a symbolic link");
        throw this.ioError("reading", path, error);
      }
      try {
        const stat = fstatSync(fd);
        if (!stat.isFile()) refuse(path, "is not a regular file");
        this.checkOwned(path, stat);
        if (stat.size > MAX_HOME_FILE_BYTES) refuse(path, `is larger than ${MAX_HOME_FILE_BYTES} bytes`);
        const buffer = Buffer.alloc(Math.min(stat.size + 1, MAX_HOME_FILE_BYTES + 1));
        let length = 0;
        for (;;) {
          const read = readSync(fd, buffer, length, buffer.length - length, null);
          if (read === 0) break;
          length += read;
          if (length === buffer.length) refuse(path, GREW_WHILE_READ);
        }
        const bytes = buffer.subarray(0, length);
        return {
          text: bytes.toString("utf8"),
          bytes,
          mtimeMs: stat.mtimeMs,
          mode: stat.mode & 0o7777,
          uid: stat.uid,
        };
      } finally {
        closeSync(fd);
      }
    });
  }

  /**
   * Replaces a file atomically: a new file created 0600 with O_EXCL|O_NOFOLLOW, written, fsynced,
   * renamed over the old one (a planted link or hard link is replaced, never written through).
   */
  write(
    dir: readonly string[],
    name: string,
    content: string | Uint8Array,
    mode = 0o600,
    options: { durable?: boolean } = {},
  ): void {
    const durable = options.durable ?? true;
    asUser(this.user, () => {
      const parent = this.directory(dir, true)!;
      this.removeStaleTemps(parent, name);
      const path = join(parent, name);
      try {
        const existing = lstatSync(path);
        if (existing.isDirectory()) refuse(path, "is a directory");
      } catch (error) {
        if (errno(error) !== "ENOENT") throw error;
      }
      const temp = join(
        parent,
        `.${name}${TEMP_MARK}${hostname()}-${process.pid}-${Date.now().toString(36)}`,
      );
      let fd: number;
      try {
        fd = openSync(
          temp,
          constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
          mode,
        );
      } catch (error) {
        throw this.ioError("creating", temp, error);
      }
      try {
        fchmodSync(fd, mode); // umask can only have narrowed it; make it exact
        const bytes = typeof content === "string" ? Buffer.from(content, "utf8") : content;
        let offset = 0;
        while (offset < bytes.length) offset += writeSync(fd, bytes, offset, bytes.length - offset);
        if (durable) fsyncSync(fd);
      } catch (error) {
        closeSync(fd);
        unlinkQuietly(temp);
        throw this.ioError("writing", temp, error);
      }
      closeSync(fd);
      try {
        renameSync(temp, path);
      } catch (error) {
        unlinkQuietly(temp);
        throw this.ioError("replacing", path, error);
      }
      if (durable) syncDirectory(parent);
    });
  }

  /** Creates a file only if nothing is at its path (O_EXCL); false when something already is. */
  createExclusive(dir: readonly string[], name: string, content: string): boolean {
    return asUser(this.user, () => {
      const parent = this.directory(dir, true)!;
      const path = join(parent, name);
      let fd: number;
      try {
        fd = openSync(
          path,
          constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
          0o600,
        );
      } catch (error) {
        if (errno(error) === "EEXIST") return false;
        throw this.ioError("creating", path, error);
      }
      try {
        writeSync(fd, content);
      } finally {
        closeSync(fd);
      }
      return true;
    });
  }

  /** Removes a file (or a link planted in its place); true when something was removed. */
  remove(dir: readonly string[], name: string): boolean {
    return asUser(this.user, () => {
      const parent = this.directory(dir, false);
      if (parent === undefined) return false;
      const path = join(parent, name);
      try {
        if (lstatSync(path).isDirectory()) refuse(path, "is a directory");
        unlinkSync(path);
      } catch (error) {
        if (errno(error) === "ENOENT") return false;
        throw error;
      }
      syncDirectory(parent);
      return true;
    });
  }

  /** Renames an unreadable file aside (kept, 0600 as it was) so that a restore does not destroy it. */
  setAside(dir: readonly string[], name: string, now: Date): string | undefined {
    return asUser(this.user, () => {
      const parent = this.directory(dir, false);
      if (parent === undefined) return undefined;
      const target = join(parent, `${name}.unreadable-${now.toISOString().replace(/[:.]/g, "-")}`);
      try {
        renameSync(join(parent, name), target);
      } catch (error) {
        if (errno(error) === "ENOENT") return undefined;
        throw this.ioError("setting aside", join(parent, name), error);
      }
      return target;
    });
  }

  /**
   * Renames a file (or a link planted in its place) to a fresh temp name of ours in the same directory,
   * which the temp sweep removes once this run is dead. Returns that name, or undefined when it is gone.
   */
  moveToTemp(dir: readonly string[], name: string): string | undefined {
    return asUser(this.user, () => {
      const parent = this.directory(dir, false);
      if (parent === undefined) return undefined;
      const temp = `.${name}${TEMP_MARK}${hostname()}-${process.pid}-${Date.now().toString(36)}${(++movedCount).toString(36)}`;
      try {
        renameSync(join(parent, name), join(parent, temp));
      } catch (error) {
        if (errno(error) === "ENOENT") return undefined;
        throw this.ioError("moving aside", join(parent, name), error);
      }
      return temp;
    });
  }

  /** Puts a file moved by moveToTemp back (link: only if nothing took its name since); false if not. */
  putBack(dir: readonly string[], temp: string, name: string): boolean {
    return asUser(this.user, () => {
      const parent = this.directory(dir, false);
      if (parent === undefined) return false;
      let restored = true;
      try {
        linkSync(join(parent, temp), join(parent, name));
      } catch (error) {
        if (errno(error) !== "EEXIST" && errno(error) !== "ENOENT")
          throw this.ioError("putting back", join(parent, name), error);
        restored = false;
      }
      unlinkQuietly(join(parent, temp));
      return restored;
    });
  }

  /**
   * Removes what killed runs left in a directory below the home: the temporary files of our atomic
   * writes (`.<name>.tmp-<pid>-…`) whose run is dead, or that are old. A write sweeps its own name;
   * this sweeps every name, for passes that write nothing. Returns how many were removed.
   */
  sweepTemps(dir: readonly string[]): number {
    return asUser(this.user, () => {
      const parent = this.directory(dir, false);
      if (parent === undefined) return 0;
      let entries: string[];
      try {
        entries = readdirSync(parent);
      } catch {
        return 0;
      }
      let removed = 0;
      for (const entry of entries) if (removeIfStale(parent, entry, undefined)) removed++;
      return removed;
    });
  }

  private removeStaleTemps(parent: string, name: string): void {
    let entries: string[];
    try {
      entries = readdirSync(parent);
    } catch {
      return;
    }
    for (const entry of entries) removeIfStale(parent, entry, name);
  }
}

/** Makes the names of moveToTemp unique within one millisecond. */
let movedCount = 0;

/** `.<name>.tmp-<host>-<pid>-<stamp>` (older versions: no host). */
const TEMP_NAME = /^\.(.+?)\.tmp-(?:(.+)-)?(\d+)-([0-9a-z]+)$/;

/**
 * Removes `entry` if it is a temporary file of ours (of `name`, when given) that no run will finish:
 * older than STALE_TEMP_MS, or made on this host by a process that is gone. A temp from another host
 * (an NFS home) is left to age: its run may be writing it right now.
 */
function removeIfStale(parent: string, entry: string, name: string | undefined): boolean {
  const temp = TEMP_NAME.exec(entry);
  if (!temp || (name !== undefined && temp[1] !== name)) return false;
  const [, , host, pid] = temp;
  const path = join(parent, entry);
  try {
    const stat = lstatSync(path);
    const ours = host === undefined || host === hostname();
    if (Date.now() - stat.mtimeMs > STALE_TEMP_MS || (ours && !isAlive(Number(pid)))) {
      unlinkSync(path);
      return true;
    }
  } catch {}
  return false;
}

function isAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return errno(error) === "EPERM";
  }
}

function unlinkQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {}
}

function syncDirectory(path: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_DIRECTORY);
    fsyncSync(fd);
  } catch {
    // Durability only; the rename itself is already atomic.
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

export { isAlive };
