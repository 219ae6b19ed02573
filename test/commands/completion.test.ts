// `claude-auth completion <bash|zsh|fish>`: each script parses in its real shell, real completion
// engines offer the commands and flags, and the scripts' table matches what yargs accepts.
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t from "tap";
import { runCli } from "../../src/cli.js";
import { completionCommand, completionScript } from "../../src/commands/completion.js";
import { commands, globalFlags } from "../../src/completion/spec.js";
import { zshSpecText } from "../../src/completion/zsh.js";
import { UsageError } from "../../src/errors.js";
import { requireTools } from "../shell/harness.js";

const dir = mkdtempSync(join(tmpdir(), "cas-completion-"));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

function scriptFile(shell: string, name = shell): string {
  const path = join(dir, name);
  writeFileSync(path, completionScript(shell));
  return path;
}

function run(command: string, args: string[]) {
  const result = spawnSync(command, args, { encoding: "utf8", env: { PATH: "/usr/bin:/bin", HOME: dir } });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** Runs `fn` with stdout captured (yargs prints help through console.log). */
async function captureStdout(fn: () => Promise<unknown>): Promise<string> {
  let out = "";
  const write = process.stdout.write.bind(process.stdout);
  const log = console.log;
  process.stdout.write = ((chunk: string | Uint8Array) => {
    out += chunk.toString();
    return true;
  }) as typeof process.stdout.write;
  console.log = (...items: unknown[]) => {
    out += `${items.join(" ")}\n`;
  };
  try {
    await fn();
  } finally {
    process.stdout.write = write;
    console.log = log;
  }
  return out;
}

t.test("each script parses in its real shell", async (t) => {
  if (!requireTools(t, ["bash", "zsh", "fish"])) return;
  for (const [shell, args] of [
    ["bash", ["-n"]],
    ["zsh", ["-n"]],
    ["fish", ["--no-execute"]],
  ] as const) {
    const result = run(shell, [...args, scriptFile(shell)]);
    t.equal(result.status, 0, `${shell} parses it: ${result.stderr}`);
  }
});

t.test("bash: completing `claude-auth st` offers status", async (t) => {
  if (!requireTools(t, ["bash"])) return;
  const script = scriptFile("bash");
  const probe = `
source "$1"
complete -p claude-auth
complete_words() {
  COMP_WORDS=("$@"); COMP_CWORD=$((\${#COMP_WORDS[@]} - 1)); COMPREPLY=()
  local fn; fn=$(complete -p claude-auth | sed -n 's/.*-F \\([^ ]*\\).*/\\1/p')
  "$fn" claude-auth "\${COMP_WORDS[COMP_CWORD]}" "\${COMP_WORDS[COMP_CWORD-1]}"
  echo "\${COMPREPLY[*]}"
}
complete_words claude-auth st
complete_words claude-auth ""
complete_words claude-auth --config /etc/claude-auth-sync/config.env di
complete_words claude-auth shell un
complete_words claude-auth shell install --shell z
complete_words claude-auth completion f
complete_words claude-auth sync --dr
complete_words claude-auth rotate --no
`;
  const result = run("bash", ["-c", probe, "probe", script]);
  t.equal(result.status, 0, result.stderr);
  const lines = result.stdout.trimEnd().split("\n");
  t.match(lines[0], /^complete -F _claude_auth claude-auth$/, "registered for claude-auth");
  t.equal(lines[1], "status", "st -> status");
  t.equal(lines[2], commands.map((c) => c.name).join(" "), "an empty word offers every command");
  t.equal(lines[3], "disable", "a --config value is skipped when finding the command");
  t.equal(lines[4], "uninstall", "shell's action");
  t.equal(lines[5], "zsh", "--shell's choices");
  t.equal(lines[6], "fish", "completion's shells");
  t.equal(lines[7], "--dry-run", "a command's own flag");
  t.equal(lines[8], "--no-verify", "rotate's flag");
});

t.test("fish: the real completion engine offers commands, actions and flags", async (t) => {
  if (!requireTools(t, ["fish"])) return;
  const script = scriptFile("fish");
  const result = run("fish", [
    "--no-config",
    "-c",
    `source ${script}; complete -C 'claude-auth st'; echo ==; complete -C 'claude-auth shell '; echo ==; complete -C 'claude-auth status --v'`,
  ]);
  t.equal(result.status, 0, result.stderr);
  const [status, actions, flags] = result.stdout.split("==\n").map((part) => part.trim().split("\n"));
  t.match(status?.[0], /^status\t/, "st -> status");
  t.equal(status?.length, 1, "only status");
  t.same(actions?.sort(), ["install", "uninstall"], "shell's actions");
  t.same(
    flags?.map((line) => line.split("\t")[0]).sort(),
    ["--verify", "--version"],
    "status's flags and the global ones",
  );
});

t.test("zsh: compinit picks the function up, sourced or from fpath", async (t) => {
  if (!requireTools(t, ["zsh"])) return;
  const sourced = scriptFile("zsh");
  const fpathDir = join(dir, "site-functions");
  mkdirSync(fpathDir, { recursive: true });
  scriptFile("zsh", "site-functions/_claude-auth");
  const viaSource = run("zsh", [
    "-f",
    "-c",
    `autoload -U compinit; compinit -u -D; source ${sourced}; print -r -- $_comps[claude-auth]`,
  ]);
  t.equal(viaSource.stdout.trim(), "_claude_auth", viaSource.stderr);
  const viaFpath = run("zsh", [
    "-f",
    "-c",
    `fpath=(${fpathDir} $fpath); autoload -U compinit; compinit -u -D; print -r -- $_comps[claude-auth]`,
  ]);
  t.equal(viaFpath.stdout.trim(), "_claude-auth", viaFpath.stderr);
});

t.test("the scripts know every command and flag yargs accepts, and no others", async (t) => {
  const help = await captureStdout(() => runCli(["--help"]));
  const listed = [...help.matchAll(/^ {2}claude-auth ([a-z]+)/gm)].map((m) => m[1]);
  t.same([...listed].sort(), commands.map((c) => c.name).sort(), "commands");
  for (const command of commands) {
    const text = await captureStdout(() => runCli([command.name, "--help"]));
    // `--no-verify` and `--verify` are one yargs flag (boolean negation): compare without "no-".
    const base = (name: string | undefined) => name?.replace(/^no-/, "");
    const flags = new Set(
      [...text.matchAll(/^ {2}(?:-[a-z], | {4})--([a-z][a-z-]*)/gm)].map((m) => base(m[1])),
    );
    const known = [...command.flags, ...globalFlags].map((flag) => base(flag.name));
    t.same([...flags].sort(), [...known].sort(), `${command.name}'s flags`);
  }
});

t.test("an unknown shell is a usage error; zsh spec text is escaped", async (t) => {
  t.throws(() => completionScript("tcsh"), UsageError);
  const stderr: string[] = [];
  const write = process.stderr.write.bind(process.stderr);
  process.stderr.write = ((chunk: string) => {
    stderr.push(chunk);
    return true;
  }) as typeof process.stderr.write;
  let code: number;
  try {
    code = await completionCommand("tcsh");
  } finally {
    process.stderr.write = write;
  }
  t.equal(code, 2);
  t.match(stderr.join(""), /no completion for shell "tcsh"/);
  t.equal(zshSpecText("a:b [c] \\d"), "a\\:b \\[c\\] \\\\d");
});
