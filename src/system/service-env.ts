// The root-owned copy of a user's env file that systemd loads into t3-serve@<user>.
// systemd reads EnvironmentFile= as root and follows symlinks, so it must never read a path the
// user controls: a link from the user's env file to another user's would hand that user's token
// to this user's service. Root writes this copy from Vault; the user cannot touch it.
import {
  closeSync,
  constants,
  fchmodSync,
  fsyncSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  unlinkSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";
import { parseEnvFile } from "../claude/env-file.js";
import type { EnvFileState } from "../sync/plan.js";
import { isAlive } from "./home.js";

export const SERVICE_ENV_ROOT = "/var/lib/claude-auth-sync";
export const SERVICE_ENV_DIR = join(SERVICE_ENV_ROOT, "env");

export function serviceEnvPath(user: string, dir = SERVICE_ENV_DIR): string {
  return join(dir, `${user}.env`);
}

export function readServiceEnvFile(user: string, dir = SERVICE_ENV_DIR): EnvFileState {
  let text: string;
  try {
    const fd = openSync(
      serviceEnvPath(user, dir),
      constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK,
    );
    try {
      text = readFileSync(fd, "utf8");
    } finally {
      closeSync(fd);
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return { kind: "absent" };
    return { kind: "present", token: null };
  }
  return { kind: "present", token: parseEnvFile(text) };
}

function ensureRootDir(path: string): void {
  try {
    mkdirSync(path, { mode: 0o700 });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
  }
  const stat = lstatSync(path);
  if (!stat.isDirectory() || stat.uid !== 0) throw new Error(`${path} is not a root-owned directory`);
}

export function writeServiceEnvFile(user: string, content: string, dir = SERVICE_ENV_DIR): void {
  ensureRootDir(join(dir, ".."));
  ensureRootDir(dir);
  const path = serviceEnvPath(user, dir);
  removeStaleTemps(user, dir);
  const temp = `${path}.tmp-${process.pid}`;
  const fd = openSync(
    temp,
    constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW,
    0o600,
  );
  try {
    fchmodSync(fd, 0o600);
    writeSync(fd, content);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(temp, path);
}

/** A run killed between open and rename leaves `<user>.env.tmp-PID` (a token copy): the next run removes it. */
function removeStaleTemps(user: string, dir: string): void {
  const prefix = `${user}.env.tmp-`;
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  for (const name of names) {
    if (!name.startsWith(prefix)) continue;
    const pid = Number(name.slice(prefix.length));
    if (pid === process.pid || isAlive(pid)) continue;
    try {
      unlinkSync(join(dir, name));
    } catch {}
  }
}

export function removeServiceEnvFile(user: string, dir = SERVICE_ENV_DIR): boolean {
  removeStaleTemps(user, dir);
  try {
    unlinkSync(serviceEnvPath(user, dir));
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return false;
    throw error;
  }
}
