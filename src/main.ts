// argv -> command. The login path (`pam`, `sync`) loads only what it uses: no CLI framework, and not
// even the admin commands' code, which is a second bundle (src/cli-loader.ts).
import { ExitCode } from "./errors.js";
import { printErr } from "./system/terminal-text.js";
import { VERSION_LINE } from "./version.js";

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  const wantsHelp = rest.includes("--help") || rest.includes("-h");
  if (command === "pam" && !wantsHelp) return (await import("./commands/pam.js")).pamCommand(rest);
  if (command === "sync" && !wantsHelp) return (await import("./commands/sync.js")).syncCommand(rest);
  if (command === "--version" || command === "version") {
    process.stdout.write(`${VERSION_LINE}\n`);
    return ExitCode.ok;
  }
  return (await import("./cli-loader.js")).loadCli().runCli(argv);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    printErr(`claude-auth: unexpected failure: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = ExitCode.error;
  },
);
