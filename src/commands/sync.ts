// `claude-auth sync [--user NAME] [--dry-run] [--json]`: one sync pass (login path: no CLI framework).
import { parseArgs } from "node:util";
import { ExitCode, exitCodeOf, formatError, UsageError } from "../errors.js";
import { runSync } from "../sync/run.js";
import { currentUser } from "../system/users.js";
import { isIgnored, loadCommandConfig, resolveTargetUser } from "./context.js";
import { humanResult, logLine, publicResult } from "./report.js";

export const SYNC_USAGE = `Usage: claude-auth sync [--user NAME] [--dry-run] [--json] [--config PATH]

One sync pass for a user: in setup-token mode, write the env file from Vault; otherwise back up a
valid Claude credential to Vault, or restore a logged-out one from a usable backup.

  --user NAME   the user to sync (root only; default: you)
  --dry-run     print the plan and change nothing
  --json        print the result as JSON
  --config PATH configuration file (default /etc/claude-auth-sync/config.env)
  --renew-token renew the Vault token when less than a third of its TTL is left
                (the timer passes it; one extra request, so the login path does not)

Exit codes: 0 ok or nothing to do, 3 interactive SSO required, 4 Vault unreachable/sealed/timed out,
5 Vault permission denied, 6 invalid data, 2 usage, 1 other error.

Examples:
  claude-auth sync --dry-run
  sudo claude-auth sync --user alice --json`;

export async function syncCommand(argv: string[]): Promise<number> {
  let values: {
    user?: string;
    "dry-run"?: boolean;
    json?: boolean;
    config?: string;
    "renew-token"?: boolean;
  };
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        user: { type: "string" },
        "dry-run": { type: "boolean" },
        json: { type: "boolean" },
        config: { type: "string" },
        "renew-token": { type: "boolean" },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    process.stderr.write(`claude-auth sync: ${(error as Error).message}\n\n${SYNC_USAGE}\n`);
    return ExitCode.usage;
  }
  try {
    const config = loadCommandConfig(values.config);
    const user = resolveTargetUser(values.user);
    if (isIgnored(user, config)) {
      const line = `${user.name}: ignored (uid ${user.uid} is below CLAUDE_AUTH_SYNC_MIN_UID=${config.minUid})`;
      process.stdout.write(
        values.json ? `${JSON.stringify({ user: user.name, ignored: true, exitCode: 0 })}\n` : `${line}\n`,
      );
      return ExitCode.ok;
    }
    const self = currentUser();
    const result = await runSync({
      user,
      config,
      dryRun: values["dry-run"] === true,
      identityHome: self.home,
      claudeConfigDir: self.uid === user.uid ? process.env.CLAUDE_CONFIG_DIR : undefined,
      renewToken: values["renew-token"] === true,
    });
    if (values.json) process.stdout.write(`${JSON.stringify(publicResult(result), null, 2)}\n`);
    else process.stdout.write(`${humanResult(result)}\n`);
    if (!process.stdout.isTTY && !values.json) process.stderr.write(`${logLine(result, "sync")}\n`);
    return result.exitCode;
  } catch (error) {
    if (error instanceof UsageError)
      process.stderr.write(`claude-auth sync: ${formatError(error)}\n\n${SYNC_USAGE}\n`);
    else process.stderr.write(`claude-auth sync: ${formatError(error)}\n`);
    return exitCodeOf(error);
  }
}
