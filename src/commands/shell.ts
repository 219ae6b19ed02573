// `claude-auth shell install|uninstall [--shell bash|zsh|fish] [--user NAME]`: the rc-file block that sources
// the system-wide snippet, for shells that never read /etc/profile.d (zsh on Debian: ~/.zshenv; non-login bash).
import { existsSync } from "node:fs";
import { ExitCode, exitCodeOf, formatError, UsageError } from "../errors.js";
import { installRcBlock, type RcChange, uninstallRcBlock } from "../shell/rc-file.js";
import { type Shell, shellByName, shellForLoginShell, shellNames } from "../shell/shell.js";
import { printErr, printOut, terminalJson } from "../system/terminal-text.js";
import { lookupLoginShell, type SystemUser } from "../system/users.js";
import { resolveTargetUser } from "./context.js";

export type ShellAction = "install" | "uninstall";

export interface ShellOptions {
  shell?: string;
  user?: string;
  json?: boolean;
}

export async function shellCommand(action: ShellAction, options: ShellOptions): Promise<number> {
  try {
    if (action !== "install" && action !== "uninstall") {
      throw new UsageError(`unknown action "${action}"`, "use `claude-auth shell install` or `uninstall`");
    }
    const user = resolveTargetUser(options.user);
    const shell = options.shell === undefined ? loginShellOf(user) : shellByName(options.shell);
    const change = action === "install" ? installRcBlock(user, shell) : uninstallRcBlock(user, shell);
    const report: ShellReport = {
      user: user.name,
      shell: shell.name,
      rcFile: change.rcFile,
      outcome: change.outcome,
      changed:
        (change.outcome !== "already-present" && change.outcome !== "absent") ||
        change.legacyRemoved.length > 0,
      created: change.created,
      legacyRemoved: change.legacyRemoved,
      legacyUnchecked: change.legacyUnchecked,
      snippet: shell.snippetPath,
      snippetInstalled: existsSync(shell.snippetPath),
      undo: counterCommand(action, shell, options.user),
    };
    printOut(options.json ? `${terminalJson(report)}\n` : `${humanReport(report, change)}\n`);
    return ExitCode.ok;
  } catch (error) {
    printErr(`claude-auth shell ${action}: ${formatError(error)}\n`);
    return exitCodeOf(error);
  }
}

interface ShellReport {
  user: string;
  shell: Shell["name"];
  rcFile: string;
  outcome: RcChange["outcome"];
  changed: boolean;
  created: boolean;
  /** Rc files of earlier releases the block was moved out of (install) or removed from (uninstall). */
  legacyRemoved: string[];
  legacyUnchecked: RcChange["legacyUnchecked"];
  snippet: string;
  snippetInstalled: boolean;
  /** The command that reverses this one. */
  undo: string;
}

/** The shell named by the user's passwd entry; one we do not support is a usage error, not a guess. */
function loginShellOf(user: SystemUser): Shell {
  const loginShell = lookupLoginShell(user.name);
  const shell = loginShell === undefined ? undefined : shellForLoginShell(loginShell);
  if (!shell) {
    throw new UsageError(
      loginShell === undefined
        ? `${user.name} has no login shell in the passwd entry to pick an rc file from`
        : `${user.name}'s login shell ${loginShell} is not one claude-auth-sync edits an rc file for`,
      `name the shell you use interactively: --shell ${shellNames.join("|")}`,
    );
  }
  return shell;
}

function counterCommand(action: ShellAction, shell: Shell, user: string | undefined): string {
  const counter = action === "install" ? "uninstall" : "install";
  return `claude-auth shell ${counter} --shell ${shell.name}${user === undefined ? "" : ` --user ${user}`}`;
}

function humanReport(report: ShellReport, change: RcChange): string {
  const lines: string[] = [];
  const legacy = change.legacyRemoved.join(" and ");
  switch (change.outcome) {
    case "added":
      lines.push(
        legacy
          ? `moved the claude-auth-sync block from ${legacy} to ${report.rcFile}${report.created ? " (a new file)" : ""}; the rest of ${legacy} is as it was`
          : `added the claude-auth-sync block to ${report.rcFile}${report.created ? " (a new file)" : ""}`,
      );
      break;
    case "updated":
      lines.push(`updated the claude-auth-sync block in ${report.rcFile}`);
      break;
    case "already-present":
      lines.push(
        `the claude-auth-sync block is already present in ${report.rcFile}${legacy ? "" : "; nothing changed"}`,
      );
      break;
    case "removed":
    case "absent": {
      const from = [...(change.outcome === "removed" ? [report.rcFile] : []), ...change.legacyRemoved];
      lines.push(
        from.length > 0
          ? `removed the claude-auth-sync block from ${from.join(" and ")}; the rest of ${from.length > 1 ? "each file" : "the file"} is as it was`
          : `no claude-auth-sync block to remove in ${report.rcFile}; nothing changed`,
      );
      break;
    }
  }
  if ((change.outcome === "updated" || change.outcome === "already-present") && legacy) {
    lines.push(`removed the older copy of the block from ${legacy}; the rest of that file is as it was`);
  }
  for (const unchecked of change.legacyUnchecked) {
    lines.push(
      `note: ${unchecked.rcFile} was not checked for an older block (${unchecked.reason}); if it has one, delete it by hand`,
    );
  }
  const uninstalling = change.outcome === "removed" || change.outcome === "absent";
  if (uninstalling) {
    if (report.changed) lines.push("shells already open keep CLAUDE_CODE_OAUTH_TOKEN until they exit");
  } else {
    lines.push(
      `new ${report.shell} shells load CLAUDE_CODE_OAUTH_TOKEN through ${report.snippet} (the rc file holds no token)`,
    );
    if (!report.snippetInstalled) {
      lines.push(
        `note: ${report.snippet} is not installed on this machine; the block does nothing until ./install.sh puts it there`,
      );
    }
  }
  lines.push(`${uninstalling ? "to add it" : "to undo"}: ${report.undo}`);
  return lines.join("\n");
}
