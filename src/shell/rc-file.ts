// A user's rc file, read and written as the user through UserHome (never through a link), gaining or losing
// the block from rc-block.ts. Only the block changes: every other byte, the mode and the owner are kept.
// A block an earlier release put elsewhere (~/.zshrc) is moved: added to the new file, then removed there.
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
  | "absent"; // uninstall: no block (or no file) here; see legacyRemoved for the older places

export interface RcChange {
  rcFile: string;
  outcome: RcOutcome;
  /** The rc file did not exist and install created it. */
  created: boolean;
  /** Rc files of earlier releases (~/.zshrc for zsh) the block was taken out of: moved by install, removed by uninstall. */
  legacyRemoved: string[];
  /** Rc files of earlier releases that could not be checked for a block (a link, someone else's), and why. */
  legacyUnchecked: { rcFile: string; reason: string }[];
}

/** A new rc file is world-readable like one an editor makes under the usual umask: it holds no secret. */
const NEW_RC_FILE_MODE = 0o644;

/** Adds the block to the shell's rc file, then takes it out of the rc files earlier releases used (no duplicate). */
export function installRcBlock(user: SystemUser, shell: Shell): RcChange {
  const rc = locate(user, shell, shell.rcFile(user.home));
  const existing = readRcFile(rc, shell);
  const before = existing ? decode(existing.bytes) : "";
  const after = withRcContext(rc.path, () => addBlock(before, shell));
  let outcome: RcOutcome = "already-present";
  if (!existing || after !== before) {
    // Written before the old block goes: an interruption leaves the snippet sourced twice, never not at all.
    rc.home.write(rc.dir, rc.name, encode(after), existing ? existing.mode & 0o777 : NEW_RC_FILE_MODE);
    outcome = existing && hasBlock(before) ? "updated" : "added";
  }
  return { rcFile: rc.path, outcome, created: existing === undefined, ...removeFromLegacy(user, shell) };
}

export function uninstallRcBlock(user: SystemUser, shell: Shell): RcChange {
  const rc = locate(user, shell, shell.rcFile(user.home));
  const legacy = removeFromLegacy(user, shell);
  const removed = removeFrom(rc, shell);
  return { rcFile: rc.path, outcome: removed ? "removed" : "absent", created: false, ...legacy };
}

/** Takes every block out of one rc file; false when there was none (or no file). */
function removeFrom(rc: RcLocation, shell: Shell): boolean {
  const existing = readRcFile(rc, shell);
  if (!existing) return false;
  const before = decode(existing.bytes);
  const after = withRcContext(rc.path, () => removeBlock(before));
  if (after === before) return false;
  rc.home.write(rc.dir, rc.name, encode(after), existing.mode & 0o777);
  return true;
}

function removeFromLegacy(
  user: SystemUser,
  shell: Shell,
): Pick<RcChange, "legacyRemoved" | "legacyUnchecked"> {
  const legacyRemoved: string[] = [];
  const legacyUnchecked: RcChange["legacyUnchecked"] = [];
  for (const path of shell.legacyRcFiles?.(user.home) ?? []) {
    try {
      if (removeFrom(locate(user, shell, path), shell)) legacyRemoved.push(path);
    } catch (error) {
      // The new place already works; an old file we may not edit is the user's to check, not a failure.
      if (!(error instanceof AuthSyncError)) throw error;
      legacyUnchecked.push({ rcFile: path, reason: error.message });
    }
  }
  return { legacyRemoved, legacyUnchecked };
}

interface RcLocation {
  home: UserHome;
  path: string;
  dir: string[];
  name: string;
}

function locate(user: SystemUser, shell: Shell, path: string): RcLocation {
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
