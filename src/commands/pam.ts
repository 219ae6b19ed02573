// `claude-auth pam`: the pam_exec entry point at session open. Never blocks or fails a login
// unless CLAUDE_AUTH_SYNC_PAM_STRICT=1.
import { type Config, DEFAULT_CONFIG_PATH, DEFAULT_TIMEOUT_MS } from "../config.js";
import { Deadline } from "../deadline.js";
import { ExitCode, exitCodeOf, formatError } from "../errors.js";
import { connect, runSync } from "../sync/run.js";
import { syslog } from "../system/syslog.js";
import { printErr } from "../system/terminal-text.js";
import { currentUser, isRoot, lookupUser, parseLoginName, type SystemUser } from "../system/users.js";
import { armWatchdog } from "../system/watchdog.js";
import type { VaultClient } from "../vault/client.js";
import { adoptHeldToken, enrollAtPasswordLogin, parseAuthtok } from "../vault/enrollment.js";
import { isIgnored, loadCommandConfig } from "./context.js";
import { logLine } from "./report.js";

export const PAM_USAGE = `Usage: claude-auth pam [--config PATH]

Entry point for pam_exec. Reads PAM_USER and PAM_TYPE. On open_session (session stack) runs one
sync for PAM_USER within CLAUDE_AUTH_SYNC_TIMEOUT_MS; exits 0 (never blocks a login) unless
CLAUDE_AUTH_SYNC_PAM_STRICT=1. On auth (auth stack, expose_authtok; CLAUDE_AUTH_SYNC_IDENTITY=user
with CLAUDE_AUTH_SYNC_USER_AUTH set) reads the password from standard input, logs the user in to
Vault and enrolls the token (~/.config/claude-auth-sync/vault-token); always exits 0: a wrong
password or a down Vault changes nothing. Environment variables do not override config.env here:
the PAM environment may carry user-controlled values.

PAM lines (installed by install.sh --pam and --pam-auth):
  session optional pam_exec.so type=open_session quiet /usr/local/bin/claude-auth pam --config ${DEFAULT_CONFIG_PATH}
  auth optional pam_exec.so expose_authtok type=auth quiet /usr/local/bin/claude-auth pam --config ${DEFAULT_CONFIG_PATH}
    (after the module that asks for the password)`;

/** pam_exec discards our output unless configured with log=; syslog keeps one line per login. */
function log(line: string): void {
  printErr(`${line}\n`);
  syslog(line);
}

/**
 * The PAM line's arguments: `--config PATH` or `--config=PATH`, nothing else. By hand, not with
 * node:util's parseArgs, which costs every login ~0.7 ms to load; the messages follow parseArgs'.
 */
export function parsePamArguments(argv: readonly string[]): string | undefined {
  let config: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg.startsWith("--config=")) config = arg.slice("--config=".length);
    else if (arg === "--config") {
      const value = argv[i + 1];
      if (value === undefined) throw new Error("Option '--config <value>' argument missing");
      if (value.startsWith("-")) {
        throw new Error(
          "Option '--config' argument is ambiguous: to give a path starting with a dash use '--config=-XYZ'",
        );
      }
      config = value;
      i++;
    } else if (arg === "--") {
      if (i + 1 < argv.length) {
        throw new Error(
          `Unexpected argument '${argv[i + 1]}'. This command does not take positional arguments`,
        );
      }
    } else if (arg.startsWith("-")) throw new Error(`Unknown option '${arg.split("=")[0]}'`);
    else throw new Error(`Unexpected argument '${arg}'. This command does not take positional arguments`);
  }
  return config;
}

export async function pamCommand(argv: string[]): Promise<number> {
  let configPath: string | undefined;
  try {
    configPath = parsePamArguments(argv);
  } catch (error) {
    log(`claude-auth pam: ${(error as Error).message}`);
    return ExitCode.ok; // a broken PAM line must not lock people out; doctor reports it
  }
  const type = process.env.PAM_TYPE;
  if (type !== "open_session" && type !== "auth") return ExitCode.ok;
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
    if (type === "auth") return await authStep(user, config);
    if (config.identity === "user") {
      try {
        if (await adoptHeldToken(connect(config, new Deadline(config.timeoutMs)), user, Date.now()))
          log(`claude-auth-sync: via=pam user=${user.name} enrolled: stored the token of the password login`);
      } catch (error) {
        log(
          `claude-auth-sync: via=pam user=${user.name} warning: ${formatError(error).split("\n").join(" ")}`,
        );
      }
    }
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

/** The largest password pam_exec hands over (PAM_MAX_RESP_SIZE) plus its NUL. */
const MAX_AUTHTOK_BYTES = 513;

/** Standard input as pam_exec's expose_authtok writes it; nothing when it is a terminal (no expose_authtok). */
async function readAuthtok(): Promise<string> {
  if (process.stdin.isTTY) return "";
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of process.stdin as AsyncIterable<Buffer>) {
    chunks.push(chunk);
    size += chunk.length;
    if (size > MAX_AUTHTOK_BYTES) break;
  }
  return parseAuthtok(Buffer.concat(chunks).subarray(0, MAX_AUTHTOK_BYTES));
}

/**
 * PAM_TYPE=auth: enroll the user's own Vault token with the password just typed. Never fails the
 * authentication (exit 0 whatever happens): PAM decides on the password, not us.
 */
async function authStep(user: SystemUser, config: Config): Promise<number> {
  if (config.identity !== "user" || config.userAuth === undefined) return ExitCode.ok;
  const prefix = `claude-auth-sync: via=pam-auth user=${user.name}`;
  let client: VaultClient | undefined;
  try {
    const password = await readAuthtok();
    client = connect(config, new Deadline(config.timeoutMs));
    const outcome = await enrollAtPasswordLogin(client, config, user, password, Date.now());
    const said: Record<typeof outcome, string> = {
      enrolled: "enrolled: stored the login's Vault token",
      "held-for-session": "enrolled: the token waits root-only on tmpfs for the session step (no home yet)",
      "already-enrolled": "already enrolled: no login needed",
      "no-password":
        "skipped: no password was handed over (expose_authtok missing, or no password module before this line)",
      off: "skipped",
    };
    log(`${prefix} ${said[outcome]}`);
  } catch (error) {
    log(`${prefix} not enrolled, nothing changed: ${formatError(error).split("\n").join(" ")}`);
  } finally {
    client?.close();
  }
  return ExitCode.ok;
}
