// `claude-auth sync [--user NAME] [--dry-run] [--json]`: one sync pass (login path: no CLI framework).
import { parseArgs } from "node:util";
import { ExitCode, exitCodeOf, formatError, UsageError } from "../errors.js";
import { runSync } from "../sync/run.js";
import { printErr, printOut, terminalJson } from "../system/terminal-text.js";
import { currentUser } from "../system/users.js";
import { isIgnored, loadCommandConfig, resolveTargetUser } from "./context.js";
import { humanResult, logLine, publicResult } from "./report.js";

export const SYNC_USAGE = `Usage: claude-auth sync [--user NAME] [--dry-run] [--json] [--config PATH]

One sync pass for a user: in setup-token mode, write the env file from Vault; otherwise back up a
valid Claude credential to Vault, or restore a logged-out one from a usable backup. A credential
whose access token expires within CLAUDE_AUTH_SYNC_RENEW_WINDOW_S (7 h) is renewed once, under the
per-user lock, and backed up at once (CLAUDE_AUTH_SYNC_RENEW=0 turns that off).

  --user NAME   the user to sync (root only; default: you)
  --dry-run     print the plan and change nothing
  --json        print the result as JSON
  --config PATH configuration file (default /etc/claude-auth-sync/config.env)
  --verify      check the credential in use live against the API (at most once per
                CLAUDE_AUTH_SYNC_VERIFY_INTERVAL_S; the timer passes it, the login never does)
                and push alerts to CLAUDE_AUTH_SYNC_ALERTMANAGER_URL when set
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
    verify?: boolean;
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
        verify: { type: "boolean" },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    printErr(`claude-auth sync: ${(error as Error).message}\n\n${SYNC_USAGE}\n`);
    return ExitCode.usage;
  }
  try {
    const config = loadCommandConfig(values.config);
    const user = resolveTargetUser(values.user);
    if (isIgnored(user, config)) {
      const line = `${user.name}: ignored (uid ${user.uid} is below CLAUDE_AUTH_SYNC_MIN_UID=${config.minUid})`;
      printOut(
        values.json ? `${terminalJson({ user: user.name, ignored: true, exitCode: 0 })}\n` : `${line}\n`,
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
      verify: values.verify === true,
      // Proactive renewal of Claude's credential (CLAUDE_AUTH_SYNC_RENEW): sync only, never `pam`.
      renewCredential: true,
    });
    if (values.json) printOut(`${terminalJson(publicResult(result))}\n`);
    else printOut(`${humanResult(result)}\n`);
    if (!process.stdout.isTTY && !values.json) printErr(`${logLine(result, "sync")}\n`);
    for (const warning of result.warnings ?? []) printErr(`claude-auth sync: warning: ${warning}\n`);
    return result.exitCode;
  } catch (error) {
    if (error instanceof UsageError) printErr(`claude-auth sync: ${formatError(error)}\n\n${SYNC_USAGE}\n`);
    else printErr(`claude-auth sync: ${formatError(error)}\n`);
    return exitCodeOf(error);
  }
}
