// `claude-auth pam`: the pam_exec entry point at session open. Never blocks or fails a login
// unless CLAUDE_AUTH_SYNC_PAM_STRICT=1.
import { parseArgs } from "node:util";
import { DEFAULT_CONFIG_PATH, DEFAULT_TIMEOUT_MS } from "../config.js";
import { ExitCode, exitCodeOf, formatError } from "../errors.js";
import { runSync } from "../sync/run.js";
import { syslog } from "../system/syslog.js";
import { printErr } from "../system/terminal-text.js";
import { currentUser, isRoot, lookupUser, parseLoginName } from "../system/users.js";
import { armWatchdog } from "../system/watchdog.js";
import { isIgnored, loadCommandConfig } from "./context.js";
import { logLine } from "./report.js";

export const PAM_USAGE = `Usage: claude-auth pam [--config PATH]

Entry point for pam_exec (session stack). Reads PAM_USER and PAM_TYPE; on open_session runs one
sync for PAM_USER within CLAUDE_AUTH_SYNC_TIMEOUT_MS. Exits 0 (never blocks a login) unless
CLAUDE_AUTH_SYNC_PAM_STRICT=1. Environment variables do not override config.env here: the PAM
environment may carry user-controlled values.

PAM line (installed by install.sh --pam):
  session optional pam_exec.so type=open_session quiet /usr/local/bin/claude-auth pam --config ${DEFAULT_CONFIG_PATH}`;

/** pam_exec discards our output unless configured with log=; syslog keeps one line per login. */
function log(line: string): void {
  printErr(`${line}\n`);
  syslog(line);
}

export async function pamCommand(argv: string[]): Promise<number> {
  let configPath: string | undefined;
  try {
    configPath = parseArgs({ args: argv, options: { config: { type: "string" } }, strict: true }).values
      .config;
  } catch (error) {
    log(`claude-auth pam: ${(error as Error).message}`);
    return ExitCode.ok; // a broken PAM line must not lock people out; doctor reports it
  }
  const type = process.env.PAM_TYPE;
  if (type !== "open_session") return ExitCode.ok;
  // Before anything that touches a file (the config's read included): a blocked call cannot stop it.
  const watchdog = armWatchdog(
    DEFAULT_TIMEOUT_MS,
    "claude-auth-sync: via=pam gave up: a call blocked past the time budget; killed by its watchdog",
  );
  // Under su/sudo pam_exec keeps the caller's real uid with effective uid 0: become fully root so
  // that the switch to the session user's identity (and back) works as at a normal login.
  if (process.geteuid?.() === 0 && process.getuid?.() !== 0) process.setuid!(0);
  let strict = false;
  try {
    const config = loadCommandConfig(configPath ?? DEFAULT_CONFIG_PATH, false);
    strict = config.pamStrict;
    watchdog.setBudget(config.timeoutMs);
    // Whatever happens below, the login continues once the budget (plus a margin) is spent.
    setTimeout(() => {
      log("claude-auth-sync: via=pam gave up: time budget exhausted");
      process.exit(strict ? ExitCode.vaultUnavailable : ExitCode.ok);
    }, config.timeoutMs + 250).unref();
    if (!isRoot()) {
      log(`claude-auth-sync: via=pam skipped: not running as root (uid ${process.getuid?.()})`);
      return strict ? ExitCode.error : ExitCode.ok;
    }
    const name = parseLoginName(process.env.PAM_USER, "PAM_USER");
    const user = lookupUser(name);
    if (!user) {
      log(`claude-auth-sync: via=pam user=${name} skipped: not known to NSS`);
      return ExitCode.ok;
    }
    if (isIgnored(user, config)) return ExitCode.ok;
    const result = await runSync({ user, config, dryRun: false, identityHome: currentUser().home });
    // Every login logs to stderr; syslog gets the logins that changed or failed something, so the
    // steady state spawns no logger process.
    const line = logLine(result, "pam");
    if (result.exitCode !== ExitCode.ok || result.applied.length > 0) log(line);
    else printErr(`${line}\n`);
    for (const warning of result.warnings ?? [])
      log(`claude-auth-sync: via=pam user=${result.user} warning: ${warning.split("\n").join(" ")}`);
    // "SSO required" is news about the credential, not a failed sync: it never fails a login.
    return strict && result.exitCode !== ExitCode.ssoRequired ? result.exitCode : ExitCode.ok;
  } catch (error) {
    log(`claude-auth-sync: via=pam failed: ${formatError(error).split("\n").join(" ")}`);
    return strict ? exitCodeOf(error) : ExitCode.ok;
  }
}
