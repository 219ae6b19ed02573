// `claude-auth status [--json] [--user NAME]`: mode, local files, expiry, last sync, Vault. Never a secret.
import type { CommandOptions } from "../cli.js";
import { type Config, DEFAULT_CONFIG_PATH, parseConfig } from "../config.js";
import { AuthSyncError, exitCodeOf, formatError } from "../errors.js";
import { collectStatus } from "../status/collect.js";
import { renderStatus } from "../status/render.js";
import { credentialsDirectory, readLocalState } from "../sync/run.js";
import { invalidNotice, verifyCredential } from "../sync/verify.js";
import { UserHome } from "../system/home.js";
import { printErr, printOut, terminalJson } from "../system/terminal-text.js";
import { currentUser, isRoot, type SystemUser } from "../system/users.js";
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
    const verification =
      options.verify && config ? await verifyNow(user, config, self.uid === user.uid) : undefined;
    const output = verification ? { ...report, verification } : report;
    printOut(
      options.json
        ? `${terminalJson(output)}\n`
        : `${renderStatus(report)}${verification ? `\n${renderVerification(verification)}` : ""}\n`,
    );
    return report.exitCode;
  } catch (error) {
    printErr(`claude-auth status: ${formatError(error)}\n`);
    return exitCodeOf(error);
  }
}

/** `--verify`: one live request with the credential Claude would use now; the verdict is kept. */
async function verifyNow(user: SystemUser, config: Config, self: boolean) {
  const home = new UserHome(user);
  const local = readLocalState(
    home,
    credentialsDirectory(user, self ? process.env.CLAUDE_CONFIG_DIR : undefined),
    config.serviceEnvDir,
  );
  const outcome = await verifyCredential(home, local.envFile, local.credentials, {
    baseUrl: config.anthropicBaseUrl,
    timeoutMs: config.timeoutMs,
    now: new Date(),
    policy: { intervalMs: config.verifyIntervalMs, retryMs: config.verifyIntervalMs / 4 },
    force: true,
  });
  if (!outcome.ran) return { ran: false, reason: outcome.reason };
  const { verdict, credential, at, reason } = outcome.verification;
  return { ran: true, verdict, credential, at, reason };
}

function renderVerification(v: {
  ran: boolean;
  verdict?: string;
  credential?: string;
  reason?: string;
}): string {
  if (!v.ran) return `verification: not run (${v.reason})`;
  const fix =
    v.verdict === "invalid"
      ? `\n  ${invalidNotice(v.credential === "access-token" ? "access-token" : "setup-token")}`
      : "";
  return `verification: ${v.credential} ${v.verdict} — ${v.reason}${fix}`;
}
