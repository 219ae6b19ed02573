// One implementation per shell behind one contract; quoting checked by the shells themselves.
import { spawnSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { ExitCode, UsageError } from "../../src/errors.js";
import { fishSingleQuote, posixSingleQuote } from "../../src/shell/quote.js";
import { renderBlock } from "../../src/shell/rc-block.js";
import { shellByName, shellForLoginShell, shellNames, shells } from "../../src/shell/shell.js";
import { requireTools, stagingDir } from "./harness.js";

t.test("each shell name maps to its implementation", async (t) => {
  t.same(shellNames, ["bash", "zsh", "fish"]);
  for (const name of shellNames) t.equal(shellByName(name).name, name);
});

t.test("an unknown shell is a usage error (exit 2) that lists the supported ones", async (t) => {
  t.throws(() => shellByName("tcsh"), UsageError);
  try {
    shellByName("tcsh");
  } catch (error) {
    t.equal((error as UsageError).exitCode, ExitCode.usage);
    t.match((error as UsageError).hint, /bash\|zsh\|fish/);
  }
});

t.test("a login shell path names its shell", async (t) => {
  t.equal(shellForLoginShell("/usr/bin/zsh")?.name, "zsh");
  t.equal(shellForLoginShell("/bin/bash")?.name, "bash");
  t.equal(shellForLoginShell("fish")?.name, "fish");
  t.equal(shellForLoginShell("/bin/dash"), undefined);
  t.equal(shellForLoginShell("/usr/bin/bashful"), undefined);
});

t.test("rc files and installed snippets are where each shell reads them", async (t) => {
  t.same(
    shells.map((shell) => [shell.name, shell.rcFile("/home/ada"), shell.snippetPath]),
    [
      ["bash", "/home/ada/.bashrc", "/etc/profile.d/claude-auth.sh"],
      ["zsh", "/home/ada/.zshenv", "/etc/profile.d/claude-auth.sh"],
      ["fish", "/home/ada/.config/fish/config.fish", "/etc/fish/conf.d/claude-auth.fish"],
    ],
  );
});

t.test("POSIX single quoting: only ' needs care, as '\\''", async (t) => {
  t.equal(posixSingleQuote("/etc/profile.d/claude-auth.sh"), "'/etc/profile.d/claude-auth.sh'");
  t.equal(posixSingleQuote("it's"), "'it'\\''s'");
  t.equal(posixSingleQuote('$HOME `id` "x" \\n'), "'$HOME `id` \"x\" \\n'");
  t.equal(posixSingleQuote(""), "''");
});

t.test("fish single quoting: \\ and ' are escaped with a backslash", async (t) => {
  t.equal(fishSingleQuote("/etc/fish/conf.d/claude-auth.fish"), "'/etc/fish/conf.d/claude-auth.fish'");
  t.equal(fishSingleQuote("it's"), "'it\\'s'");
  t.equal(fishSingleQuote("a\\b"), "'a\\\\b'");
  t.equal(fishSingleQuote('$HOME (id) "x"'), "'$HOME (id) \"x\"'");
});

// A directory name no quoting mistake survives: quotes, spaces, $, backticks, backslashes, (), ;, *.
const NASTY = `it's a "dir" $HOME \`touch x\` \\n (echo) ; *`;

t.test("each shell's rc line sources a snippet at a nasty path literally", async (t) => {
  if (!requireTools(t, ["bash", "zsh", "dash", "fish"])) return;
  const root = stagingDir(t, {});
  const dir = join(root, NASTY);
  mkdirSync(dir);
  writeFileSync(join(dir, "snippet.sh"), "RC_LINE_SOURCED=yes\n");
  writeFileSync(join(dir, "snippet.fish"), "set RC_LINE_SOURCED yes\n");
  const runners: [string, string[], string][] = [
    ["bash", ["bash", "-c"], "snippet.sh"],
    ["zsh", ["zsh", "-f", "-c"], "snippet.sh"],
    ["fish", ["fish", "-N", "-c"], "snippet.fish"],
  ];
  for (const [name, argv, snippet] of runners) {
    const shell = shellByName(name);
    const check = name === "fish" ? "echo $RC_LINE_SOURCED" : 'echo "$RC_LINE_SOURCED"';
    const script = `${renderBlock(shell, join(dir, snippet))}\n${check}\n`;
    const [file, ...args] = argv as [string, ...string[]];
    const run = spawnSync(file, [...args, script], { cwd: root, encoding: "utf8" });
    t.same([run.stdout, run.stderr, run.status], ["yes\n", "", 0], `${name} sourced it`);
  }
  const dashRun = spawnSync(
    "dash",
    ["-c", `${renderBlock(shellByName("bash"), join(dir, "snippet.sh"))}\necho "$RC_LINE_SOURCED"`],
    {
      cwd: root,
      encoding: "utf8",
    },
  );
  t.equal(dashRun.stdout, "yes\n", "the bash line is POSIX: dash sources it too");
});

t.test("an rc line whose snippet is not installed is silent and succeeds, even under set -e", async (t) => {
  if (!requireTools(t, ["bash", "zsh", "fish"])) return;
  for (const shell of shells) {
    const line = shell.sourceLine("/nonexistent/claude-auth.sh");
    const argv =
      shell.name === "fish"
        ? ["fish", "-N", "-c", `${line}; echo ok $status`]
        : [shell.name, "-c", `set -e; ${line}; echo ok $?`];
    const [file, ...args] = argv as [string, ...string[]];
    const run = spawnSync(file, args, { encoding: "utf8" });
    t.same([run.stdout, run.stderr, run.status], ["ok 0\n", "", 0], shell.name);
  }
});
