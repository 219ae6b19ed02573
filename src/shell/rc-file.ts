// A user's rc file, read and written as the user through UserHome (never through a link), gaining or losing
// the block from rc-block.ts. Only the block changes: every other byte, the mode and the owner are kept.
import { posix } from "node:path";
import { AuthSyncError, ExitCode, InvalidDataError } from "../errors.js";
import { type HomeFile, UserHome } from "../system/home.js";
import type { SystemUser } from "../system/users.js";
import { addBlock, hasBlock, removeBlock, renderBlock } from "./rc-block.js";
import type { Shell } from "./shell.js";

/** What install or uninstall did to the rc file. */
export type RcOutcome =
  | "added" // install: the block was appended (the file created if needed)
  | "updated" // install: an older block was rewritten in place
  | "already-present" // install: nothing to do
  | "removed" // uninstall: the block was taken out
  | "absent"; // uninstall: no block (or no file), nothing to do

export interface RcChange {
  rcFile: string;
  outcome: RcOutcome;
  /** The rc file did not exist and install created it. */
  created: boolean;
}

/** A new rc file is world-readable like one an editor makes under the usual umask: it holds no secret. */
const NEW_RC_FILE_MODE = 0o644;

export function installRcBlock(user: SystemUser, shell: Shell): RcChange {
  const rc = locate(user, shell);
  const existing = readRcFile(rc, shell);
  const before = existing ? decode(existing.bytes) : "";
  const after = withRcContext(rc.path, () => addBlock(before, shell));
  if (existing && after === before) return { rcFile: rc.path, outcome: "already-present", created: false };
  rc.home.write(rc.dir, rc.name, encode(after), existing ? existing.mode & 0o777 : NEW_RC_FILE_MODE);
  const outcome = existing && hasBlock(before) ? "updated" : "added";
  return { rcFile: rc.path, outcome, created: existing === undefined };
}

export function uninstallRcBlock(user: SystemUser, shell: Shell): RcChange {
  const rc = locate(user, shell);
  const existing = readRcFile(rc, shell);
  if (!existing) return { rcFile: rc.path, outcome: "absent", created: false };
  const before = decode(existing.bytes);
  const after = withRcContext(rc.path, () => removeBlock(before));
  if (after === before) return { rcFile: rc.path, outcome: "absent", created: false };
  rc.home.write(rc.dir, rc.name, encode(after), existing.mode & 0o777);
  return { rcFile: rc.path, outcome: "removed", created: false };
}

interface RcLocation {
  home: UserHome;
  path: string;
  dir: string[];
  name: string;
}

function locate(user: SystemUser, shell: Shell): RcLocation {
  const path = shell.rcFile(user.home);
  const segments = posix.relative(user.home, path).split("/");
  const name = segments.pop();
  if (!name || segments.includes("..")) {
    throw new AuthSyncError(`${shell.name}'s rc file ${path} is not inside ${user.home}`, ExitCode.error);
  }
  return { home: new UserHome(user), path, dir: segments, name };
}

/**
 * Reads the rc file, refusing a link, a non-regular file or one owned by someone else (as root, UserHome
 * already refuses the last; as the user, replacing it would silently make it theirs).
 */
function readRcFile(rc: RcLocation, shell: Shell): HomeFile | undefined {
  let file: HomeFile | undefined;
  try {
    file = rc.home.read(rc.dir, rc.name);
  } catch (error) {
    if (error instanceof InvalidDataError) {
      throw new AuthSyncError(error.message, ExitCode.invalidData, { hint: editByHand(rc, shell) });
    }
    throw error;
  }
  if (file && file.uid !== rc.home.user.uid) {
    throw new AuthSyncError(
      `${rc.path}: is owned by uid ${file.uid}, not by ${rc.home.user.name}`,
      ExitCode.invalidData,
      { hint: editByHand(rc, shell) },
    );
  }
  return file;
}

function editByHand(rc: RcLocation, shell: Shell): string {
  return (
    "claude-auth-sync edits only a regular file the user owns, never through a link; " +
    `fix ${rc.path}, or add these lines yourself to the file your shell reads:\n${indent(renderBlock(shell))}`
  );
}

function indent(lines: string): string {
  return lines.replace(/^/gm, "    ");
}

/** rc-block names "rc file" in its errors; say which one. */
function withRcContext(path: string, edit: () => string): string {
  try {
    return edit();
  } catch (error) {
    if (error instanceof InvalidDataError) {
      throw new InvalidDataError(path, error.message.slice(error.field.length + 2), error.hint);
    }
    throw error;
  }
}

// latin1 maps each byte to one character and back, so any encoding (or none) survives; the block is ASCII.
function decode(bytes: Buffer): string {
  return bytes.toString("latin1");
}

function encode(text: string): Buffer {
  return Buffer.from(text, "latin1");
}
