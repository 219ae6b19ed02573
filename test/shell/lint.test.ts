// The shipped shell files and the rc blocks pass the shells' own checkers.
import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { bash } from "../../src/shell/bash.js";
import { fish } from "../../src/shell/fish.js";
import { renderBlock } from "../../src/shell/rc-block.js";
import { zsh } from "../../src/shell/zsh.js";
import { requireTools, snippetFish, snippetSh, stagingDir, startClaudeSh } from "./harness.js";

function run(argv: string[]) {
  const [file, ...args] = argv as [string, ...string[]];
  const result = spawnSync(file, args, { encoding: "utf8" });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

t.test("shellcheck passes claude-auth.sh and start-claude.sh as sh, dash and bash", async (t) => {
  if (!requireTools(t, ["shellcheck"])) return;
  for (const dialect of ["sh", "dash", "bash"]) {
    for (const file of [snippetSh, startClaudeSh]) {
      // -x follows start-claude.sh into the snippet it sources; severity style catches everything but nits.
      const result = run(["shellcheck", "-x", "-S", "style", "-s", dialect, file]);
      t.same(result, { status: 0, output: "" }, `${dialect}: ${file}`);
    }
  }
});

t.test("shellcheck passes the bash and zsh rc blocks as installed", async (t) => {
  if (!requireTools(t, ["shellcheck"])) return;
  const dir = stagingDir(t, {});
  for (const shell of [bash, zsh]) {
    const file = join(dir, `${shell.name}rc`);
    writeFileSync(file, `${renderBlock(shell)}\n`);
    // shellcheck has no zsh dialect; the block is plain POSIX, so checking it as bash and sh covers both.
    // SC1091: the installed snippet need not exist on the test machine.
    for (const dialect of ["bash", "sh"]) {
      const result = run(["shellcheck", "-S", "style", "-e", "SC1091", "-s", dialect, file]);
      t.same(result, { status: 0, output: "" }, `${shell.name} as ${dialect}`);
    }
  }
});

t.test(
  "fish parses claude-auth.fish and the fish rc block, and fish_indent finds nothing to change",
  async (t) => {
    if (!requireTools(t, ["fish", "fish_indent"])) return;
    t.same(
      run(["fish", "--no-execute", snippetFish]),
      { status: 0, output: "" },
      "fish --no-execute snippet",
    );
    t.same(
      run(["fish_indent", "--check", snippetFish]),
      { status: 0, output: "" },
      "fish_indent --check snippet",
    );
    const dir = stagingDir(t, {});
    const block = join(dir, "config.fish");
    writeFileSync(block, `${renderBlock(fish, "/etc/fish/conf.d/it's a \\ test.fish")}\n`);
    t.same(run(["fish", "--no-execute", block]), { status: 0, output: "" }, "fish --no-execute rc block");
  },
);

t.test("the sh files parse in every shell that sources them", async (t) => {
  if (!requireTools(t, ["dash", "bash", "zsh"])) return;
  for (const shell of ["dash", "bash", "zsh"]) {
    for (const file of [snippetSh, startClaudeSh]) {
      t.same(run([shell, "-n", file]), { status: 0, output: "" }, `${shell} -n ${file}`);
    }
  }
});
