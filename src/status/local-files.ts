// What the files in a user's home look like to `status` and `doctor`: read as the user, never through
// a link, reduced to facts (state, mode, owner). The token itself never leaves this module except as
// the parsed value the caller compares; callers print at most `tokenHint`.
import { lstatSync } from "node:fs";
import { join } from "node:path";
import { CREDENTIALS_FILE, type CredentialsFileState, parseCredentialsFile } from "../claude/credentials.js";
import { ENV_FILE_DIR, ENV_FILE_NAME, parseEnvFile } from "../claude/env-file.js";
import { InvalidDataError } from "../errors.js";
import { asUser } from "../system/as-user.js";
import type { UserHome } from "../system/home.js";
import type { SystemUser } from "../system/users.js";

export interface HomeFileFacts {
  path: string;
  exists: boolean;
  /** Why the file was not read (a link, not a regular file, someone else's); never its content. */
  refused: string | undefined;
  /** Permission bits, when read. */
  mode: number | undefined;
  uid: number | undefined;
  text: string | undefined;
}

export interface DirectoryFacts {
  path: string;
  exists: boolean;
  isLink: boolean;
  mode: number | undefined;
  uid: number | undefined;
}

/** Reads one file below the home through UserHome; refusals become facts, other I/O errors too. */
export function inspectHomeFile(home: UserHome, dir: readonly string[], name: string): HomeFileFacts {
  const path = join(home.path(...dir), name);
  try {
    const file = home.read(dir, name);
    if (!file)
      return { path, exists: false, refused: undefined, mode: undefined, uid: undefined, text: undefined };
    return {
      path,
      exists: true,
      refused: undefined,
      mode: file.mode & 0o777,
      uid: file.uid,
      text: file.text,
    };
  } catch (error) {
    const why =
      error instanceof InvalidDataError ? error.message.replace(`${path}: `, "") : (error as Error).message;
    return { path, exists: true, refused: why, mode: undefined, uid: undefined, text: undefined };
  }
}

/** lstat of a directory below the home, as the user (a home on root-squashed NFS stays readable). */
export function inspectHomeDirectory(user: SystemUser, dir: readonly string[]): DirectoryFacts {
  const path = join(user.home, ...dir);
  const stat = asUser(user, () => {
    try {
      return lstatSync(path, { throwIfNoEntry: false });
    } catch {
      return undefined;
    }
  });
  if (!stat) return { path, exists: false, isLink: false, mode: undefined, uid: undefined };
  return {
    path,
    exists: true,
    isLink: stat.isSymbolicLink(),
    mode: stat.mode & 0o777,
    uid: stat.uid,
  };
}

export type EnvFileFacts = HomeFileFacts & {
  /** present: one well-formed line; malformed: anything else; refused: not read at all. */
  state: "absent" | "present" | "malformed" | "refused";
  token: string | undefined;
};

export function inspectEnvFile(home: UserHome): EnvFileFacts {
  const facts = inspectHomeFile(home, ENV_FILE_DIR, ENV_FILE_NAME);
  if (!facts.exists) return { ...facts, state: "absent", token: undefined };
  if (facts.refused !== undefined || facts.text === undefined)
    return { ...facts, state: "refused", token: undefined };
  const token = parseEnvFile(facts.text);
  return { ...facts, state: token === null ? "malformed" : "present", token: token ?? undefined };
}

export type CredentialsFacts = HomeFileFacts & {
  parsed: CredentialsFileState;
};

export function inspectCredentialsFile(home: UserHome, credentialsDir: readonly string[]): CredentialsFacts {
  const facts = inspectHomeFile(home, credentialsDir, CREDENTIALS_FILE);
  if (!facts.exists) return { ...facts, parsed: { kind: "absent" } };
  if (facts.refused !== undefined || facts.text === undefined) {
    return { ...facts, parsed: { kind: "unreadable", reason: facts.refused ?? "not read" } };
  }
  return { ...facts, parsed: parseCredentialsFile(facts.text) };
}

/** "alice", "root" or "uid 1234": owners are named without a passwd lookup per file. */
export function ownerName(uid: number | undefined, user: SystemUser): string | undefined {
  if (uid === undefined) return undefined;
  if (uid === user.uid) return user.name;
  if (uid === 0) return "root";
  return `uid ${uid}`;
}

export function octal(mode: number | undefined): string | undefined {
  return mode === undefined ? undefined : `0${mode.toString(8).padStart(3, "0")}`;
}
