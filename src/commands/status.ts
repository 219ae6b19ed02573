// `claude-auth status [--json] [--user NAME]`: mode, local files, expiry, last sync, Vault. Never a secret.
import type { CommandOptions } from "../cli.js";
import { DEFAULT_CONFIG_PATH, parseConfig } from "../config.js";
import { AuthSyncError, exitCodeOf, formatError } from "../errors.js";
import { collectStatus } from "../status/collect.js";
import { renderStatus } from "../status/render.js";
import { currentUser, isRoot } from "../system/users.js";
import { loadCommandConfig, resolveTargetUser } from "./context.js";

export async function statusCommand(options: CommandOptions): Promise<number> {
  try {
    const user = resolveTargetUser(options.user);
    const self = currentUser();
    const configPath = options.config ?? (process.env.CLAUDE_AUTH_SYNC_CONFIG || DEFAULT_CONFIG_PATH);
    let config: ReturnType<typeof loadCommandConfig> | undefined;
    let configError: AuthSyncError | undefined;
    try {
      config = loadCommandConfig(options.config);
    } catch (error) {
      if (!(error instanceof AuthSyncError)) throw error;
      configError = error;
    }
    if (options.verify) {
      process.stderr.write(
        "claude-auth status: --verify (a live check against the API) is not yet implemented\n",
      );
    }
    const report = await collectStatus({
      user,
      config,
      configPath,
      configError,
      identityHome: self.home,
      claudeConfigDir: self.uid === user.uid ? process.env.CLAUDE_CONFIG_DIR : undefined,
      asRoot: isRoot(),
      fallbackServiceEnvDir: parseConfig({}, { path: configPath, found: false }).serviceEnvDir,
      now: new Date(),
    });
    process.stdout.write(options.json ? `${JSON.stringify(report, null, 2)}\n` : `${renderStatus(report)}\n`);
    return report.exitCode;
  } catch (error) {
    process.stderr.write(`claude-auth status: ${formatError(error)}\n`);
    return exitCodeOf(error);
  }
}
