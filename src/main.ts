// argv -> command. The login path (`pam`, `sync`) loads only what it uses: no CLI framework, and not
// even the admin commands' code, which is a second bundle (src/cli-loader.ts).
import { ExitCode } from "./errors.js";
import { printErr } from "./system/terminal-text.js";
import { VERSION_LINE } from "./version.js";

/** A variable's name as the user wrote it, every byte but [A-Za-z0-9_] shown as \\xNN. */
function plainName(name: string): string {
  return name.replace(/[^A-Za-z0-9_]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`);
}

/**
 * As root under pam_exec, a loader variable can only come from the PAM environment a user filled:
 * log its name (never its value) and leave, before anything reads a file or opens a connection.
 */
async function refusesPamEnvironment(command: string | undefined): Promise<boolean> {
  if (process.geteuid?.() !== 0 || (command !== "pam" && process.env.PAM_TYPE === undefined)) return false;
  const { loaderVariables } = await import("./system/loader-environment.js");
  const found = loaderVariables(process.env);
  if (found.length === 0) return false;
  // Node started coverage before us; stopping it means nothing is written at exit.
  if (process.env.NODE_V8_COVERAGE !== undefined) (await import("node:v8")).stopCoverage();
  const { syslog } = await import("./system/syslog.js");
  const { parseLoginName } = await import("./system/users.js");
  let user = "(not a valid login name)";
  try {
    user = parseLoginName(process.env.PAM_USER, "PAM_USER");
  } catch {}
  const line =
    `claude-auth-sync: via=pam user=${user} refused: the PAM environment sets ${found.map(plainName).join(", ")}, ` +
    "read by the loader or Node before claude-auth runs; nothing done " +
    "(a pam_env user_readenv=1 line runs before ours: run claude-auth doctor as root)";
  printErr(`${line}\n`);
  syslog(line);
  return true;
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (await refusesPamEnvironment(command)) return ExitCode.ok;
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
