// The admin command line (yargs): help, version and every command but the login path's fast lane.
import yargs, { type Argv } from "yargs";
import { ExitCode } from "./errors.js";
import { printErr } from "./system/terminal-text.js";
import { VERSION_LINE } from "./version.js";

/** Bad argv, already reported on stderr. */
class CliUsageFailure extends Error {}

/** What every admin command receives from argv; each command file declares what it uses. */
export interface CommandOptions {
  config: string | undefined;
  json: boolean;
  user: string | undefined;
  noVerify: boolean;
  verify: boolean;
}

/** enable and rotate: the token comes from stdin or the prompt; a positional is accepted only to refuse it. */
function tokenInput<T>(y: Argv<T>) {
  return (
    y
      // Positionals pass the parser only to be refused (with the reason), never echoed back.
      .strict(false)
      .strictOptions()
      .option("user", { type: "string", describe: "act for this user (root only)" })
      .option("verify", {
        type: "boolean",
        default: true,
        describe: "check the token live against the API first (one 1-token call); --no-verify skips it",
      })
  );
}

function commandOptions(args: Record<string, unknown>): CommandOptions {
  return {
    config: typeof args.config === "string" ? args.config : undefined,
    json: args.json === true,
    user: typeof args.user === "string" ? args.user : undefined,
    noVerify: args["no-verify"] === true || args.verify === false,
    verify: args.verify === true,
  };
}

export async function runCli(argv: string[]): Promise<number> {
  let exitCode: number = ExitCode.ok;
  const setExit = (code: number) => {
    exitCode = code;
  };
  const parser = yargs(argv)
    .scriptName("claude-auth")
    .usage("$0 <command> [options]\n\nKeeps your Claude Code login valid, under your own identity.")
    .option("config", {
      type: "string",
      describe: "configuration file (env CLAUDE_AUTH_SYNC_CONFIG)",
      default: undefined,
      defaultDescription: "/etc/claude-auth-sync/config.env",
    })
    .option("json", { type: "boolean", describe: "structured output where available" })
    .command(
      "sync",
      "one sync pass for a user",
      (y) =>
        y
          .option("user", { type: "string", describe: "user to sync (root only)" })
          .option("dry-run", { type: "boolean", describe: "print the plan, change nothing" })
          .option("renew-token", {
            type: "boolean",
            describe:
              "renew the Vault token when its TTL runs low: the user's enrolled one once under half its period (identity user), or the host's (auth=token; a host login is reused and replaced near its expiry)",
          })
          .option("verify", {
            type: "boolean",
            describe: "check the credential in use live against the API when due (timer runs)",
          })
          .example("$0 sync --dry-run", "show what a sync would do for you")
          .example("sudo $0 sync --user alice --json", "sync alice as root, JSON output")
          .epilogue(
            "With CLAUDE_AUTH_SYNC_IDENTITY=user (the default) the run speaks with the user's own enrolled token (~/.config/claude-auth-sync/vault-token, read as the user); a user who is not enrolled is skipped (exit 0, no Vault request, nothing written). Exit 5 when that token has expired or was revoked: enroll again.",
          ),
      async (args) => {
        const { syncCommand } = await import("./commands/sync.js");
        const forwarded = [
          ...(args.user ? ["--user", args.user] : []),
          ...(args["dry-run"] ? ["--dry-run"] : []),
          ...(args["renew-token"] ? ["--renew-token"] : []),
          ...(args.verify ? ["--verify"] : []),
          ...(args.json ? ["--json"] : []),
          ...(args.config ? ["--config", args.config] : []),
        ];
        setExit(await syncCommand(forwarded));
      },
    )
    .command(
      "pam",
      "entry point for pam_exec: sync at session open; enrollment in the auth stack (reads PAM_USER, PAM_TYPE)",
      (y) =>
        y.example(
          "session optional pam_exec.so type=open_session quiet /usr/local/bin/claude-auth pam",
          "the PAM line",
        ),
      async (args) => {
        const { pamCommand } = await import("./commands/pam.js");
        setExit(await pamCommand(args.config ? ["--config", args.config] : []));
      },
    )
    .command(
      "shell <action>",
      "add (install) or remove (uninstall) the block in your rc file that loads CLAUDE_CODE_OAUTH_TOKEN",
      (y) =>
        y
          .positional("action", {
            choices: ["install", "uninstall"] as const,
            describe: "install adds the block (once), uninstall removes it; nothing else changes",
            demandOption: true,
          })
          .option("shell", {
            choices: ["bash", "zsh", "fish"] as const,
            describe:
              "whose rc file: ~/.bashrc, ~/.zshenv (a block in ~/.zshrc is moved there) or ~/.config/fish/config.fish",
            defaultDescription: "your login shell",
          })
          .option("user", { type: "string", describe: "the user whose rc file to edit (root only)" })
          .example(
            "$0 shell install --shell zsh",
            "zsh never reads /etc/profile.d: source it from ~/.zshenv, which every zsh reads (also zsh -c, as ssh host cmd and su - user -c run)",
          )
          .example("$0 shell uninstall", "remove the block from your login shell's rc file")
          .example(
            "sudo $0 shell install --shell bash --user alice",
            "as root, for alice (written as alice)",
          ),
      async (args) => {
        const { shellCommand } = await import("./commands/shell.js");
        setExit(
          await shellCommand(args.action, {
            ...(args.shell === undefined ? {} : { shell: args.shell }),
            ...(args.user === undefined ? {} : { user: args.user }),
            json: args.json === true,
          }),
        );
      },
    )
    .command(
      "enable",
      "turn on setup-token mode: read a setup token (stdin or a no-echo prompt), store it in your Vault document",
      (y) =>
        tokenInput(y)
          .example("$0 enable", "paste the token from `claude setup-token` at the prompt (not echoed)")
          .example("pass show claude/setup-token | $0 enable", "read it from standard input instead")
          .example("sudo $0 enable --user alice < /root/alice.token", "as root, for alice (host identity)")
          .example("$0 enable --no-verify", "store it without asking the API first")
          .epilogue(
            "Writes setup_token into your Vault document (every other key kept), writes the env file at once and restarts a running t3-serve@<you>.service (or prints the command). Undo: claude-auth disable.",
          ),
      async (args) => {
        const { enableCommand } = await import("./commands/enable.js");
        setExit(await enableCommand({ ...commandOptions(args), tokenArgument: args._.length > 1 }));
      },
    )
    .command(
      "rotate",
      "replace your setup token with a new one (then revoke the old one in your Claude settings)",
      (y) =>
        tokenInput(y)
          .example("$0 rotate", "paste the new token at the prompt (not echoed)")
          .example("sudo $0 rotate --user alice < /root/alice.token", "as root, for alice")
          .epilogue(
            "Refused when setup-token mode is not on (use enable) or when the token is the one already stored.",
          ),
      async (args) => {
        const { rotateCommand } = await import("./commands/rotate.js");
        setExit(await rotateCommand({ ...commandOptions(args), tokenArgument: args._.length > 1 }));
      },
    )
    .command(
      "disable",
      "turn off setup-token mode: remove setup_token (every other key kept) and the env file",
      (y) =>
        y
          .option("user", { type: "string", describe: "act for this user (root only)" })
          .epilogue(
            "As root it also removes the root-owned copy t3-serve@<user> loads (/var/lib/claude-auth-sync/env/<user>.env). Run as you, that copy is removed by the next run as root: your next login, the next claude-auth-sync@<you>.timer run or the next start of t3-serve@<you>.",
          )
          .example("$0 disable", "back to the rotating per-user SSO flow")
          .example("sudo $0 disable --user alice", "as root, for alice"),
      async (args) => {
        const { disableCommand } = await import("./commands/disable.js");
        setExit(await disableCommand(commandOptions(args)));
      },
    )
    .command(
      "enroll",
      "store your own Vault token for claude-auth-sync (CLAUDE_AUTH_SYNC_IDENTITY=user): your current one, or a fresh password login",
      (y) =>
        y
          .option("method", {
            choices: ["ldap", "userpass"] as const,
            describe:
              "log in with your password (no-echo prompt, or standard input) instead of taking VAULT_TOKEN / ~/.vault-token",
          })
          .option("user", { type: "string", hidden: true })
          .example("vault login -method=oidc -path=oidc && $0 enroll", "take the token of your OIDC login")
          .example("$0 enroll --method ldap", "log in with your LDAP password (prompted, not echoed)")
          .epilogue(
            "The token is checked first: it must have an identity entity and read/update your own document; a token that also reaches other users' documents or carries extra policies is stored with a warning (it lives on this host). Stored in ~/.config/claude-auth-sync/vault-token (0600). A password login enrolls you too when the PAM auth step is installed. Refused as root and with --user: it takes your own identity. Undo: claude-auth unenroll.",
          ),
      async (args) => {
        const { enrollCommand } = await import("./commands/enroll.js");
        setExit(
          await enrollCommand({
            ...commandOptions(args),
            method: args.method === "ldap" || args.method === "userpass" ? args.method : undefined,
          }),
        );
      },
    )
    .command(
      "unenroll",
      "revoke your enrolled Vault token and remove it; claude-auth-sync then does nothing for you",
      (y) =>
        y
          .option("user", { type: "string", describe: "act for this user (root only: offboarding)" })
          .example("$0 unenroll", "revoke and remove ~/.config/claude-auth-sync/vault-token")
          .epilogue(
            "A token that is also your Vault CLI token (VAULT_TOKEN, ~/.vault-token) is removed but not revoked. Exit 4 when Vault could not be reached to revoke it (the file is removed all the same).",
          ),
      async (args) => {
        const { unenrollCommand } = await import("./commands/unenroll.js");
        setExit(await unenrollCommand(commandOptions(args)));
      },
    )
    .command(
      "status",
      "mode, local files, expiry, last sync, Vault reachability (never a secret)",
      (y) =>
        y
          .option("user", { type: "string", describe: "show this user (root only)" })
          .option("verify", {
            type: "boolean",
            describe:
              "also check the credential live against the API (one small request; the verdict is kept)",
          })
          .example("$0 status", "a summary for you")
          .example("$0 status --json", "the same as one JSON object")
          .example("sudo $0 status --user alice", "alice's, as root (with the copy t3-serve@ loads)")
          .epilog(
            "Secrets are never printed: a token shows at most as sk-ant-oat01-…WXYZ (its last 4 characters).\n" +
              "When Vault cannot be asked, the local facts are still printed and the mode comes from the local files.\n\n" +
              "Exit codes: 0 reported (also when the credential is bad or SSO is required), 4 Vault unreachable,\n" +
              "sealed or timed out, 5 Vault permission denied, 2 usage or an unusable configuration file,\n" +
              "6 invalid configuration, 1 other error. The local facts are printed in every case but usage.",
          ),
      async (args) => {
        const { statusCommand } = await import("./commands/status.js");
        setExit(await statusCommand(commandOptions(args)));
      },
    )
    .command(
      "doctor",
      "check the installation and your setup; print what is wrong and the fix",
      (y) =>
        y
          .option("user", { type: "string", describe: "check this user's setup (root only)" })
          .option("root", {
            type: "string",
            describe: "check an installation below this directory (an image or chroot) instead of /",
          })
          .example("$0 doctor", "check everything for you")
          .example("sudo $0 doctor", "as root: the installation, the config and the host's Vault identity")
          .example("sudo $0 doctor --user alice", "as root, also alice's files and setup")
          .epilog(
            "Checks: the binary, the config file (owner, mode, values), the PAM line, the systemd units and\n" +
              "timer, the shell snippets and rc block, the env file, its directory and the credentials file,\n" +
              "ANTHROPIC_API_KEY / CLAUDE_CODE_OAUTH_TOKEN in this environment, Vault health, login and the\n" +
              "capabilities on the user's document (create, read, update; patch is not needed).\n\n" +
              "In user mode (CLAUDE_AUTH_SYNC_IDENTITY=user, the default): as root, that the host's own Vault\n" +
              "identity, if config.env gives it one, reaches no user's document (a FAIL names the policy to\n" +
              "remove); for the user, the token enrolled in ~/.config/claude-auth-sync/vault-token: enrolled,\n" +
              "valid, with an identity entity, reaching the user's own document and no one else's, periodic,\n" +
              "and when it expires. The user's document is checked with that token, never the host's.\n\n" +
              "Exit codes: 0 nothing is broken (warnings alone keep 0), 1 at least one FAIL, 2 usage.",
          ),
      async (args) => {
        const { doctorCommand } = await import("./commands/doctor.js");
        setExit(
          await doctorCommand(commandOptions(args), {
            root: typeof args.root === "string" ? args.root : undefined,
          }),
        );
      },
    )
    .command(
      "completion <shell>",
      "print a completion script for bash, zsh or fish (see docs/runbook.md for where to install it)",
      (y) =>
        y
          .positional("shell", {
            choices: ["bash", "zsh", "fish"] as const,
            describe: "the shell to complete in",
            demandOption: true,
          })
          .example("source <($0 completion bash)", "completion in this bash session")
          .example(
            "$0 completion fish > ~/.config/fish/completions/claude-auth.fish",
            "completion in every new fish",
          ),
      async (args) => {
        const { completionCommand } = await import("./commands/completion.js");
        setExit(await completionCommand(args.shell));
      },
    )
    .command(
      "watch",
      "keep running: back up each new credential and repair a logged-out one within seconds (a user service)",
      (y) =>
        y
          .option("user", { type: "string", describe: "the user to watch (root only; default: you)" })
          .example("systemctl --user enable --now claude-auth-watch.service", "the shipped user service")
          .example("$0 watch", "in the foreground, logging to stderr")
          .epilog(
            "Reacts to changes of ~/.claude/.credentials.json (fs.watch on the directory, plus a periodic\n" +
              "check every minute): one sync pass, renewal included, per change. It renews only in the last\n" +
              "hour of a token (or CLAUDE_AUTH_SYNC_RENEW_WINDOW_S, if shorter): the timer renews earlier.\n" +
              "Stops on SIGTERM or SIGINT.",
          ),
      async (args) => {
        const { watchCommand } = await import("./commands/watch.js");
        setExit(
          await watchCommand({
            config: typeof args.config === "string" ? args.config : undefined,
            user: typeof args.user === "string" ? args.user : undefined,
          }),
        );
      },
    )
    .demandCommand(1, "name a command")
    .strict()
    .version(VERSION_LINE)
    .help()
    .alias("h", "help")
    .wrap(Math.min(100, process.stdout.columns || 100))
    .fail((message, error) => {
      if (error) throw error;
      printErr(`claude-auth: ${message}\nRun 'claude-auth --help' for the commands.\n`);
      // Thrown, not just recorded: with exitProcess(false) yargs would otherwise still run the handler.
      throw new CliUsageFailure();
    })
    .exitProcess(false);
  try {
    await parser.parseAsync();
  } catch (error) {
    if (error instanceof CliUsageFailure) return ExitCode.usage;
    throw error;
  }
  return exitCode;
}
