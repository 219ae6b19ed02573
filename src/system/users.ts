// Users as the system knows them: through NSS (`getent`), so SSSD/LDAP users work like local ones.
import { readFileSync } from "node:fs";
import { userInfo } from "node:os";
import { AuthSyncError, ExitCode, InvalidDataError } from "../errors.js";
import { builtin } from "./builtin.js";

export interface SystemUser {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

// POSIX-portable login names plus what SSSD/AD commonly yields (dots, @domain); never '/', '..' or '%'.
const LOGIN_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.@-]{0,63}$/;

/** Validates a login name from argv, PAM_USER or systemd's %i before it touches a path or a command. */
export function parseLoginName(value: unknown, field = "user"): string {
  if (typeof value !== "string" || value === "") throw new InvalidDataError(field, "no user name given");
  if (!LOGIN_NAME.test(value) || value.includes("..")) {
    throw new InvalidDataError(
      field,
      `${JSON.stringify(value.slice(0, 70))} is not a valid login name`,
      "letters, digits, '_', '.', '@' and '-' only, at most 64 characters",
    );
  }
  return value;
}

export const GETENT = "/usr/bin/getent";

export function parsePasswdLine(line: string, name: string): SystemUser {
  const fields = line.replace(/\n$/, "").split(":");
  if (fields.length < 7) throw new InvalidDataError(`passwd entry for ${name}`, "has fewer than 7 fields");
  const uid = Number(fields[2]);
  const gid = Number(fields[3]);
  const home = fields[5] ?? "";
  if (!Number.isInteger(uid) || !Number.isInteger(gid) || uid < 0 || gid < 0) {
    throw new InvalidDataError(`passwd entry for ${name}`, "uid or gid is not a number");
  }
  if (!home.startsWith("/") || home.split("/").includes("..")) {
    throw new InvalidDataError(`passwd entry for ${name}`, "home directory is not an absolute path");
  }
  return { name: fields[0] ?? name, uid, gid, home: home.replace(/\/+$/, "") || "/" };
}

export const PASSWD_FILE = "/etc/passwd";

/**
 * The user's passwd line: /etc/passwd first (no process: this runs at every login), then NSS through
 * getent for directory users (SSSD, LDAP). Local files win, as with the usual "passwd: files sss".
 */
function passwdEntry(name: string, timeoutMs: number): string | undefined {
  return localPasswdEntry(name) ?? nssPasswdEntry(name, timeoutMs);
}

function localPasswdEntry(name: string, file = PASSWD_FILE): string | undefined {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch {
    return undefined;
  }
  const prefix = `${name}:`;
  return text.split("\n").find((line) => line.startsWith(prefix));
}

function nssPasswdEntry(name: string, timeoutMs: number): string | undefined {
  // getent reads an all-digit key as a uid ("9" would answer for news): such a name is not resolvable.
  if (/^\d+$/.test(name)) return undefined;
  // node:child_process is loaded only here, when getent is needed (directory users), not for local ones.
  const { execFileSync } = builtin("node:child_process") as typeof import("node:child_process");
  let output: string;
  try {
    output = execFileSync(GETENT, ["passwd", "--", name], {
      encoding: "utf8",
      timeout: timeoutMs,
      stdio: ["ignore", "pipe", "ignore"],
      env: {},
    });
  } catch (error) {
    const status = (error as { status?: number }).status;
    if (status === 2) return undefined; // getent: key not found
    throw new AuthSyncError(
      `cannot resolve user ${name} with ${GETENT}: ${(error as Error).message}`,
      ExitCode.error,
      {
        hint: "check NSS (sssd, nslcd) is running",
      },
    );
  }
  return output.split("\n")[0] ?? "";
}

/** Resolves a user through NSS; `undefined` when the user does not exist. */
export function lookupUser(name: string, timeoutMs = 2000): SystemUser | undefined {
  const line = passwdEntry(name, timeoutMs);
  if (line === undefined) return undefined;
  const user = parsePasswdLine(line, name);
  if (user.name !== name) throw new InvalidDataError("user", `NSS returned ${user.name} for ${name}`);
  return user;
}

/** The login shell of the user's passwd entry (e.g. /usr/bin/zsh); `undefined` when it names none. */
export function lookupLoginShell(name: string, timeoutMs = 2000): string | undefined {
  const line = passwdEntry(name, timeoutMs);
  if (line === undefined) return undefined;
  const loginShell = line.split(":")[6]?.trim();
  return loginShell ? loginShell : undefined;
}

/** The invoking user (getpwuid through NSS, inside libuv: no process spawned). */
export function currentUser(): SystemUser {
  const info = userInfo();
  return { name: info.username, uid: info.uid, gid: info.gid, home: info.homedir };
}

export function isRoot(): boolean {
  return process.getuid?.() === 0;
}
