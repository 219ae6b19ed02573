// `claude-auth shell install|uninstall [--shell bash|zsh|fish] [--user NAME]`: the rc-file block that sources
// the system-wide snippet, for shells that never read /etc/profile.d (zsh on Debian, non-login bash).
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
      changed: change.outcome !== "already-present" && change.outcome !== "absent",
      created: change.created,
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
  switch (change.outcome) {
    case "added":
      lines.push(
        `added the claude-auth-sync block to ${report.rcFile}${report.created ? " (a new file)" : ""}`,
      );
      break;
    case "updated":
      lines.push(`updated the claude-auth-sync block in ${report.rcFile}`);
      break;
    case "already-present":
      lines.push(`the claude-auth-sync block is already present in ${report.rcFile}; nothing changed`);
      break;
    case "removed":
      lines.push(
        `removed the claude-auth-sync block from ${report.rcFile}; the rest of the file is as it was`,
      );
      break;
    case "absent":
      lines.push(`no claude-auth-sync block to remove in ${report.rcFile}; nothing changed`);
      break;
  }
  if (change.outcome === "removed") {
    lines.push("shells already open keep CLAUDE_CODE_OAUTH_TOKEN until they exit");
  } else if (change.outcome !== "absent") {
    lines.push(
      `new ${report.shell} shells load CLAUDE_CODE_OAUTH_TOKEN through ${report.snippet} (the rc file holds no token)`,
    );
    if (!report.snippetInstalled) {
      lines.push(
        `note: ${report.snippet} is not installed on this machine; the block does nothing until ./install.sh puts it there`,
      );
    }
  }
  lines.push(
    `${change.outcome === "removed" || change.outcome === "absent" ? "to add it" : "to undo"}: ${report.undo}`,
  );
  return lines.join("\n");
}
