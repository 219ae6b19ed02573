// The admin command line (yargs): help, version and every command but the login path's fast lane.
import yargs from "yargs";
import { ExitCode } from "./errors.js";
import { VERSION_LINE } from "./version.js";

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
          .option("renew-token", { type: "boolean", describe: "renew the Vault token when its TTL runs low" })
          .example("$0 sync --dry-run", "show what a sync would do for you")
          .example("sudo $0 sync --user alice --json", "sync alice as root, JSON output"),
      async (args) => {
        const { syncCommand } = await import("./commands/sync.js");
        const forwarded = [
          ...(args.user ? ["--user", args.user] : []),
          ...(args["dry-run"] ? ["--dry-run"] : []),
          ...(args["renew-token"] ? ["--renew-token"] : []),
          ...(args.json ? ["--json"] : []),
          ...(args.config ? ["--config", args.config] : []),
        ];
        setExit(await syncCommand(forwarded));
      },
    )
    .command(
      "pam",
      "entry point for pam_exec at session open (reads PAM_USER, PAM_TYPE)",
      (y) => y.example("session optional pam_exec.so quiet /usr/local/bin/claude-auth pam", "the PAM line"),
      async (args) => {
        const { pamCommand } = await import("./commands/pam.js");
        setExit(await pamCommand(args.config ? ["--config", args.config] : []));
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
      process.stderr.write(`claude-auth: ${message}\nRun 'claude-auth --help' for the commands.\n`);
      setExit(ExitCode.usage);
    })
    .exitProcess(false);
  await parser.parseAsync();
  return exitCode;
}
