// `claude-auth watch [--user NAME]`: a long-running sync for one user, reacting to
// changes of the credentials file within seconds. Meant for a systemd user service
// (hooks/systemd/claude-auth-watch.service); runs with the user's own Vault identity.
import { ExitCode, exitCodeOf, formatError } from "../errors.js";
import { credentialsDirectory, runSync } from "../sync/run.js";
import { startWatch, watchConfig } from "../sync/watch.js";
import { UserHome } from "../system/home.js";
import { printErr, terminalLine } from "../system/terminal-text.js";
import { currentUser } from "../system/users.js";
import { isIgnored, loadCommandConfig, resolveTargetUser } from "./context.js";
import { logLine } from "./report.js";

export interface WatchCommandOptions {
  config: string | undefined;
  user: string | undefined;
}

export async function watchCommand(options: WatchCommandOptions): Promise<number> {
  try {
    // Every pass of the watch, periodic or on an event, renews within the watch's short window.
    const config = watchConfig(loadCommandConfig(options.config));
    const user = resolveTargetUser(options.user);
    if (isIgnored(user, config)) {
      printErr(`claude-auth watch: ${user.name} is below CLAUDE_AUTH_SYNC_MIN_UID; nothing to watch\n`);
      return ExitCode.ok;
    }
    const self = currentUser();
    const claudeConfigDir = self.uid === user.uid ? process.env.CLAUDE_CONFIG_DIR : undefined;
    const home = new UserHome(user);
    const log = (line: string) => printErr(`${terminalLine(line)}\n`);
    const watcher = startWatch({
      config,
      home,
      credentialsDir: credentialsDirectory(user, claudeConfigDir),
      log,
      pass: async (why) => {
        const result = await runSync({
          user,
          config,
          dryRun: false,
          identityHome: self.home,
          claudeConfigDir,
          renewToken: false,
          renewCredential: true,
        });
        // Steady-state passes stay quiet; anything done or failed is one journal line.
        if (result.applied.length === 0 && result.exitCode === ExitCode.ok) return undefined;
        return `${logLine(result, "watch")} why="${why}"${result.applied.length ? ` applied="${result.applied.join("; ").replace(/"/g, "'")}"` : ""}`;
      },
    });
    log(
      `claude-auth watch: watching ${home.path(...credentialsDirectory(user, claudeConfigDir))} for ${user.name}`,
    );
    const stop = () => watcher.stop();
    process.once("SIGTERM", stop);
    process.once("SIGINT", stop);
    await watcher.done;
    return ExitCode.ok;
  } catch (error) {
    printErr(`claude-auth watch: ${formatError(error)}\n`);
    return exitCodeOf(error);
  }
}
