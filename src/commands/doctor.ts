// `claude-auth doctor [--json] [--user NAME] [--root DIR]`: checks the installation and the user's setup.
import type { CommandOptions } from "../cli.js";
import { systemPaths } from "../doctor/checks.js";
import { renderDoctor } from "../doctor/render.js";
import { runDoctor } from "../doctor/run.js";
import { exitCodeOf, formatError } from "../errors.js";
import { printErr, printOut, terminalJson } from "../system/terminal-text.js";
import { currentUser, isRoot, type SystemUser } from "../system/users.js";
import { VERSION_LINE } from "../version.js";
import { resolveTargetUser } from "./context.js";

export interface DoctorOptions {
  /** Check an installation below this directory (an image, a chroot, a test tree) instead of /. */
  root?: string | undefined;
}

export async function doctorCommand(options: CommandOptions, doctor: DoctorOptions = {}): Promise<number> {
  try {
    const self = currentUser();
    // Root without --user checks the installation only; everyone else checks a user's setup too.
    const user: SystemUser | undefined =
      isRoot() && options.user === undefined ? undefined : resolveTargetUser(options.user);
    const paths = systemPaths(doctor.root ?? "/");
    const configPath = options.config ?? (process.env.CLAUDE_AUTH_SYNC_CONFIG || paths.defaultConfig);
    const report = await runDoctor({
      paths,
      configPath,
      user,
      self,
      asRoot: isRoot(),
      env: process.env,
      binaryPath: process.execPath,
      version: VERSION_LINE,
      claudeConfigDir: process.env.CLAUDE_CONFIG_DIR,
      now: new Date(),
    });
    printOut(options.json ? `${terminalJson(report)}\n` : `${renderDoctor(report)}\n`);
    return report.exitCode;
  } catch (error) {
    printErr(`claude-auth doctor: ${formatError(error)}\n`);
    return exitCodeOf(error);
  }
}
