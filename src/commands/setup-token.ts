// What `enable`, `rotate` and `disable` share on the command side: read the token (stdin or a hidden
// prompt, never argv), check it, hand it to the domain (src/sync/setup-token-mode.ts), say what changed.

import { checkSetupTokenLive, type LiveCheck } from "../claude/api-check.js";
import { parseSetupToken } from "../claude/setup-token.js";
import type { CommandOptions } from "../cli.js";
import type { Config } from "../config.js";
import { Deadline } from "../deadline.js";
import { ExitCode, exitCodeOf, formatError, InvalidDataError, UsageError } from "../errors.js";
import { connect } from "../sync/run.js";
import {
  changeSetupToken,
  refuseUselessRotate,
  type SetupTokenIntent,
  type SetupTokenOutcome,
  type SetupTokenRequest,
} from "../sync/setup-token-mode.js";
import { promptHidden, readSecretFromStdin } from "../system/secret-input.js";
import { t3ServeUnit } from "../system/t3-serve.js";
import { printErr, printOut, terminalJson } from "../system/terminal-text.js";
import { currentUser, type SystemUser } from "../system/users.js";
import { commandIdentity } from "../vault/enrollment.js";
import type { Identity } from "../vault/identity.js";
import { isIgnored, loadCommandConfig, resolveTargetUser } from "./context.js";
import { enrollmentReport } from "./enroll.js";
import { publicResult } from "./report.js";

export interface SetupTokenCommandOptions extends CommandOptions {
  /** A token was given on the command line: refused before anything else happens. */
  tokenArgument?: boolean;
}

const FIELD = "setup token";

export const ARGUMENT_REFUSED =
  "a setup token given as an argument is refused: it would show in `ps` and your shell history; pipe it or let the prompt read it";

async function readToken(): Promise<string> {
  const text = process.stdin.isTTY
    ? await promptHidden("Paste the setup token from `claude setup-token` (input hidden), then Enter: ")
    : await readSecretFromStdin(FIELD);
  if (text === "") {
    throw new InvalidDataError(
      FIELD,
      process.stdin.isTTY ? "nothing was entered" : "standard input was empty",
      "pipe the token in, or run the command in a terminal to be prompted for it",
    );
  }
  return parseSetupToken(text, FIELD);
}

async function liveCheck(token: string, options: SetupTokenCommandOptions, baseUrl: URL, timeoutMs: number) {
  if (options.noVerify) return undefined;
  const check = await checkSetupTokenLive(token, { baseUrl, timeoutMs });
  if (check.verdict === "rejected") {
    throw new InvalidDataError(
      FIELD,
      `the API rejected this token (${check.reason} from ${baseUrl.origin}); nothing was changed`,
      "it was revoked, expired or mistyped: create a new one with `claude setup-token`",
    );
  }
  if (check.verdict === "unknown") {
    printErr(
      `warning: could not check the token against ${baseUrl.origin}: ${check.reason}; storing it anyway\n`,
    );
  }
  return check;
}

export async function setupTokenCommand(
  intent: SetupTokenIntent,
  options: SetupTokenCommandOptions,
): Promise<number> {
  try {
    if (options.tokenArgument) {
      throw new UsageError(
        ARGUMENT_REFUSED,
        `run \`claude-auth ${intent}\` and paste it at the prompt (not echoed)`,
      );
    }
    const config = loadCommandConfig(options.config);
    const user = resolveTargetUser(options.user);
    if (isIgnored(user, config)) {
      throw new UsageError(
        `${user.name} has uid ${user.uid}, below CLAUDE_AUTH_SYNC_MIN_UID=${config.minUid}: claude-auth-sync never manages it`,
      );
    }
    const self = currentUser();
    const request: SetupTokenRequest = {
      intent,
      user,
      config,
      token: undefined,
      identityHome: self.home,
      identity: await identityFor(intent, config, user),
      claudeConfigDir: self.uid === user.uid ? process.env.CLAUDE_CONFIG_DIR : undefined,
    };
    let check: LiveCheck | undefined;
    if (intent !== "disable") {
      request.token = await readToken();
      // Refused rotations cost nothing: decided from Vault before the live check's API call.
      if (intent === "rotate") await refuseUselessRotate(request);
      check = await liveCheck(request.token, options, config.anthropicBaseUrl, config.timeoutMs);
    }
    const outcome = await changeSetupToken(request);
    const exitCode = exitCodeFor(outcome);
    printOut(
      options.json
        ? `${terminalJson(jsonReport(outcome, check, options.noVerify, exitCode))}\n`
        : `${humanReport(outcome, check, options.noVerify)}\n`,
    );
    return exitCode;
  } catch (error) {
    printErr(`claude-auth ${intent}: ${formatError(error)}\n`);
    return exitCodeOf(error);
  }
}

/** `user` mode: the enrolled token; enable and rotate enroll the user's current Vault token first. */
async function identityFor(intent: SetupTokenIntent, config: Config, user: SystemUser): Promise<Identity> {
  const client = connect(config, new Deadline(config.timeoutMs));
  const { identity, enrolled } = await commandIdentity(client, config, user, {
    enroll: intent !== "disable",
  });
  if (enrolled) printErr(`${enrollmentReport(enrolled)}\n`);
  return identity;
}

/** The Vault change stands; a failed local sync is the run's exit code (3 after disable is expected). */
function exitCodeFor(outcome: SetupTokenOutcome): number {
  const code = outcome.sync.exitCode;
  if (outcome.intent === "disable" && code === ExitCode.ssoRequired) return ExitCode.ok;
  return code;
}

function checkLine(check: LiveCheck | undefined, skipped: boolean): string {
  if (skipped) return "not checked live (--no-verify)";
  if (!check) return "";
  return check.verdict === "accepted" ? "accepted by the API" : "could not be checked live (see warning)";
}

function restartLine(outcome: SetupTokenOutcome): string | undefined {
  const restart = outcome.restart;
  if (!restart) return undefined;
  switch (restart.kind) {
    case "restarted":
      return `${restart.unit}: restarted, it runs with the new setting`;
    case "not-running":
      return `${restart.unit}: not running; it loads the new setting when it starts`;
    case "tell":
      return `${restart.unit}: if it is running, restart it so it picks this up (${restart.why}):\n      ${restart.command}`;
  }
}

/** When root's copy goes after a user's own disable: only a run as root may remove it. */
export function serviceCopyLine(outcome: SetupTokenOutcome): string {
  const unit = t3ServeUnit(outcome.user);
  const timer = unit.replace(/^t3-serve@/, "claude-auth-sync@").replace(/\.service$/, ".timer");
  return `Root's copy for ${unit}, ${outcome.serviceEnvFile}, is removed by the next run as root: your next login here, the next ${timer} run (every 6 h) or the next start of ${unit} (its pre-start sync removes it before the service reads it).`;
}

function humanReport(outcome: SetupTokenOutcome, check: LiveCheck | undefined, skipped: boolean): string {
  const lines: string[] = [];
  const who = outcome.user;
  if (outcome.intent === "disable") {
    lines.push(
      outcome.written
        ? `Setup-token mode is off for ${who}: removed setup_token from ${outcome.document} (version ${outcome.version}); every other key kept.`
        : `Setup-token mode is not on for ${who}: nothing to disable in ${outcome.document}.`,
    );
  } else {
    const what = outcome.intent === "rotate" ? "Setup token replaced" : "Setup-token mode is on";
    const head = outcome.written
      ? `${what} for ${who}: ${outcome.tokenHint} stored in ${outcome.document} (version ${outcome.version}); every other key kept.`
      : `Setup-token mode is already on for ${who} with ${outcome.tokenHint}: Vault unchanged.`;
    lines.push(head);
    const checked = checkLine(check, skipped);
    if (checked) lines.push(`  token: ${checked}`);
  }
  for (const line of outcome.sync.applied) lines.push(`  ${line}`);
  if (outcome.sync.exitCode === ExitCode.ok && outcome.sync.applied.length === 0) {
    lines.push("  local files already current");
  }
  const restart = restartLine(outcome);
  if (restart) lines.push(`  ${restart}`);
  const sso = outcome.sync.exitCode === ExitCode.ssoRequired;
  if (outcome.sync.exitCode !== ExitCode.ok && !(outcome.intent === "disable" && sso)) {
    lines.push(
      `The change is stored in Vault, but the local sync failed: ${outcome.sync.message}`,
      "The next login or timer run applies it; or run `claude-auth sync`.",
    );
    return lines.join("\n");
  }
  if (outcome.intent === "disable") {
    lines.push(
      `You are ${outcome.written ? "back " : ""}on the rotating per-user SSO flow: Claude Code uses ~/.claude/.credentials.json, which \`claude-auth sync\` keeps backed up and restores.`,
    );
    if (outcome.serviceEnvFileLeft) lines.push(serviceCopyLine(outcome));
    if (sso || outcome.sync.plan?.mode === "not-enrolled")
      lines.push("There is no usable Claude login here yet: run `claude auth login` (interactive SSO).");
    if (outcome.written && outcome.previousHint)
      lines.push(`If you no longer need it, revoke ${outcome.previousHint} in your Claude account settings.`);
    if (outcome.written) lines.push("To turn it back on: claude-auth enable");
    return lines.join("\n");
  }
  lines.push(
    "New shells, `start-claude` and t3-serve use CLAUDE_CODE_OAUTH_TOKEN; restart running claude sessions to switch.",
  );
  if (outcome.written && outcome.previousHint) {
    lines.push(
      `Now revoke the old token ${outcome.previousHint} in your Claude account settings: it stays valid until you do.`,
    );
  }
  lines.push("To undo: claude-auth disable");
  return lines.join("\n");
}

function jsonReport(
  outcome: SetupTokenOutcome,
  check: LiveCheck | undefined,
  skipped: boolean,
  exitCode: number,
) {
  return {
    user: outcome.user,
    action: outcome.intent,
    exitCode,
    changed: outcome.written,
    document: outcome.document,
    version: outcome.version,
    token: outcome.tokenHint ?? null,
    previousToken: outcome.previousHint ?? null,
    liveCheck: skipped ? "skipped" : (check?.verdict ?? null),
    liveCheckReason: check && check.verdict !== "accepted" ? check.reason : null,
    envFile: outcome.envFile,
    serviceEnvFile: outcome.serviceEnvFile,
    serviceEnvFileRemoval: outcome.serviceEnvFileLeft ? "next-root-run" : null,
    restart: outcome.restart ?? null,
    sync: publicResult(outcome.sync),
    undo: outcome.intent === "disable" ? "claude-auth enable" : "claude-auth disable",
  };
}
