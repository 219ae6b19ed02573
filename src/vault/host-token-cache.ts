// The host's login token (AppRole, userpass, ldap), kept between root runs so that a login, the timer and
// the next login share one token instead of each minting one that Vault keeps alive for its whole TTL.
// One root-only file: read without following a link and only when root's and 0600, replaced by rename,
// in a directory no one but root may change. Anything else found there counts as no token at all.
import {
  closeSync,
  fchmodSync,
  constants as fsConstants,
  fstatSync,
  fsyncSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  realpathSync,
  renameSync,
  unlinkSync,
  writeSync,
} from "node:fs";
import { basename, dirname, join } from "node:path";
import { isAlive } from "../system/home.js";

const MAX_BYTES = 16 * 1024;
const VISIBLE_ASCII = /^[\x21-\x7e]+$/;

/** What the token was issued for: a token of another Vault, mount or role is never sent. */
export interface HostLoginKey {
  addr: string;
  namespace: string;
  method: string;
  mount: string;
  /** The role id (approle) or the user name (userpass, ldap). */
  principal: string;
}

export interface CachedHostToken {
  token: string;
  /** Epoch ms; null for a token that never expires. */
  expiresAt: number | null;
  /** The TTL it was issued with, in seconds. */
  ttlSeconds: number;
}

export type HostTokenRead =
  | { kind: "usable"; entry: CachedHostToken }
  /** Still valid but near its end: log in again, and revoke this one once the run is done. */
  | { kind: "due"; entry: CachedHostToken }
  /** Missing, torn, expired or another identity's: log in. `warning` when something was planted there. */
  | { kind: "absent"; warning?: string }
  /** The directory is not root's alone: no cache at all (log in, and revoke at the end of the run). */
  | { kind: "refused"; warning: string };

/**
 * Reused while more than a third of its TTL is left, and always at least a minute plus the run's budget,
 * so a token never expires under a run that just picked it up.
 */
export function isDue(entry: CachedHostToken, now: number, budgetMs: number): boolean {
  if (entry.expiresAt === null) return false;
  const marginMs = Math.max((entry.ttlSeconds * 1000) / 3, 60_000 + budgetMs);
  return entry.expiresAt - now < marginMs;
}

function sameKey(a: unknown, b: HostLoginKey): boolean {
  if (!a || typeof a !== "object") return false;
  const k = a as Record<string, unknown>;
  return (
    k.addr === b.addr &&
    k.namespace === b.namespace &&
    k.method === b.method &&
    k.mount === b.mount &&
    k.principal === b.principal
  );
}

/** Parsed once, here: anything but our own whole record is no token. */
export function parseHostToken(text: string, key: HostLoginKey): CachedHostToken | undefined {
  let record: unknown;
  try {
    record = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!record || typeof record !== "object") return undefined;
  const r = record as Record<string, unknown>;
  if (r.v !== 1 || !sameKey(r.for, key)) return undefined;
  if (typeof r.token !== "string" || !VISIBLE_ASCII.test(r.token)) return undefined;
  const expiresAt = r.expiresAt === null ? null : r.expiresAt;
  if (expiresAt !== null && (typeof expiresAt !== "number" || !Number.isFinite(expiresAt))) return undefined;
  const ttlSeconds = typeof r.ttl === "number" && r.ttl >= 0 ? r.ttl : 0;
  return { token: r.token, expiresAt, ttlSeconds };
}

/**
 * The directory, resolved, when root alone may change it and every directory above it: owned by root,
 * not writable by group or others (above it: unless sticky, as /tmp). Else why not.
 */
function safeDirectory(path: string): { dir: string } | { refused: string } {
  const wanted = dirname(path);
  try {
    mkdirSync(wanted, { mode: 0o700 });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== "EEXIST") return { refused: `cannot create ${wanted} (${code})` };
  }
  let dir: string;
  try {
    dir = realpathSync(wanted);
  } catch (error) {
    return { refused: `cannot resolve ${wanted} (${(error as NodeJS.ErrnoException).code})` };
  }
  for (let at = dir, first = true; ; at = dirname(at), first = false) {
    const stat = lstatSync(at);
    const sticky = (stat.mode & 0o1000) !== 0;
    if (stat.uid !== 0) return { refused: `${at} is owned by uid ${stat.uid}, not root` };
    if ((stat.mode & 0o022) !== 0 && (first || !sticky))
      return { refused: `${at} is writable by group or others (mode ${(stat.mode & 0o7777).toString(8)})` };
    if (at === "/") break;
  }
  return { dir };
}

/** Reads the cached token for `key`; never throws. */
export function readHostToken(path: string, key: HostLoginKey, now: number, budgetMs: number): HostTokenRead {
  const where = safeDirectory(path);
  if ("refused" in where)
    return { kind: "refused", warning: `not keeping the host's Vault token in ${path}: ${where.refused}` };
  const file = join(where.dir, basename(path));
  let fd: number;
  try {
    fd = openSync(file, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW | fsConstants.O_NONBLOCK);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return { kind: "absent" };
    return { kind: "absent", warning: refusedFile(file, code === "ELOOP" ? "it is a symbolic link" : code) };
  }
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile()) return { kind: "absent", warning: refusedFile(file, "not a regular file") };
    if (stat.uid !== 0) return { kind: "absent", warning: refusedFile(file, `owned by uid ${stat.uid}`) };
    if ((stat.mode & 0o077) !== 0)
      return { kind: "absent", warning: refusedFile(file, `mode ${(stat.mode & 0o777).toString(8)}`) };
    if (stat.nlink !== 1) return { kind: "absent", warning: refusedFile(file, "it has other hard links") };
    if (stat.size > MAX_BYTES) return { kind: "absent" };
    const entry = parseHostToken(readFileSync(fd, "utf8"), key);
    if (!entry || (entry.expiresAt !== null && entry.expiresAt <= now)) return { kind: "absent" };
    return { kind: isDue(entry, now, budgetMs) ? "due" : "usable", entry };
  } catch {
    return { kind: "absent" };
  } finally {
    closeSync(fd);
  }
}

function refusedFile(file: string, why: string | undefined): string {
  return `ignored the host token file ${file} (${why ?? "unreadable"}): only a root-owned 0600 regular file is used; replaced by a fresh login`;
}

const TEMP = (name: string, pid: number) => `.${name}.${pid}.`;

/** Writes the token by rename (never through a link); throws with the reason when it cannot. */
export function writeHostToken(path: string, key: HostLoginKey, entry: CachedHostToken): void {
  const where = safeDirectory(path);
  if ("refused" in where) throw new Error(where.refused);
  const name = basename(path);
  sweepTemps(where.dir, name);
  const temp = join(
    where.dir,
    `${TEMP(name, process.pid)}${Date.now()}.${Math.random().toString(36).slice(2)}`,
  );
  const record = { v: 1, for: key, token: entry.token, expiresAt: entry.expiresAt, ttl: entry.ttlSeconds };
  const fd = openSync(
    temp,
    fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL | fsConstants.O_NOFOLLOW,
    0o600,
  );
  try {
    try {
      fchmodSync(fd, 0o600);
      writeSync(fd, `${JSON.stringify(record)}\n`);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temp, join(where.dir, name));
  } catch (error) {
    try {
      unlinkSync(temp);
    } catch {}
    throw error;
  }
}

/** A run killed between open and rename leaves a temp holding a token: the next writer removes it. */
function sweepTemps(dir: string, name: string): void {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  const prefix = `.${name}.`;
  for (const entry of names) {
    if (!entry.startsWith(prefix)) continue;
    const pid = Number(entry.slice(prefix.length).split(".")[0]);
    if (!Number.isInteger(pid) || pid === process.pid || isAlive(pid)) continue;
    try {
      unlinkSync(join(dir, entry));
    } catch {}
  }
}
