// Shell start-up must not get slower: strace proves sourcing a snippet creates no process.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t from "tap";
import { createTestUser, requireRoot, type TestUser } from "../helpers/users.js";
import {
  ENV_FILE,
  fakeToken,
  gate,
  loginEnv,
  NOTICE_FILE,
  requireTools,
  snippetFish,
  snippetSh,
  stagingDir,
  writeAsUser,
} from "./harness.js";

interface ProcessCount {
  /** fork, vfork, clone3 and clone without CLONE_THREAD: new processes. */
  spawned: number;
  /** Successful execve calls (failed PATH lookups left out). */
  execve: number;
  stdout: string;
  stderr: string;
}

/** Runs `argv` as the user under `strace -f` and counts the process-creating system calls. */
function countProcesses(user: TestUser, argv: string[]): ProcessCount {
  const dir = mkdtempSync(join(tmpdir(), "cas-strace-"));
  try {
    const log = join(dir, "trace");
    const run = spawnSync(
      "strace",
      [
        "-f",
        "-qq",
        "-o",
        log,
        "-e",
        "trace=execve,clone,clone3,fork,vfork",
        "setpriv",
        `--reuid=${user.uid}`,
        `--regid=${user.gid}`,
        "--init-groups",
        "--",
        ...argv,
      ],
      { env: loginEnv(user), cwd: user.home, encoding: "utf8", input: "" },
    );
    const lines = readFileSync(log, "utf8").split("\n");
    const spawned = lines.filter(
      (line) => /\b(clone3?|v?fork)\(/.test(line) && !line.includes("CLONE_THREAD"),
    ).length;
    const execve = lines.filter((line) => /\bexecve\(.*\) = 0$/.test(line)).length;
    return { spawned, execve, stdout: run.stdout, stderr: run.stderr };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (requireRoot(gate(t)) && requireTools(t, ["strace", "dash", "bash", "zsh", "fish", "setpriv"])) {
  const user = createTestUser(t, "casst");
  const token = fakeToken();
  writeAsUser(user, ENV_FILE, `CLAUDE_CODE_OAUTH_TOKEN=${token}\n`);
  writeAsUser(user, NOTICE_FILE, "claude-auth: notice for the strace test\n");

  // Each pair differs only in sourcing the snippet; the baseline shell runs a builtin no-op.
  const cases: { name: string; baseline: string[]; withSnippet: string[] }[] = [
    { name: "dash -c", baseline: ["dash", "-c", ":"], withSnippet: ["dash", "-c", `. ${snippetSh}`] },
    { name: "bash -c", baseline: ["bash", "-c", ":"], withSnippet: ["bash", "-c", `. ${snippetSh}`] },
    {
      name: "bash --norc -i -c (notice path)",
      baseline: ["bash", "--norc", "-i", "-c", ":"],
      withSnippet: ["bash", "--norc", "-i", "-c", `. ${snippetSh}`],
    },
    {
      name: "zsh -f -c",
      baseline: ["zsh", "-f", "-c", ":"],
      withSnippet: ["zsh", "-f", "-c", `. ${snippetSh}`],
    },
    {
      name: "zsh -f -i -c (notice path)",
      baseline: ["zsh", "-f", "-i", "-c", ":"],
      withSnippet: ["zsh", "-f", "-i", "-c", `. ${snippetSh}`],
    },
    {
      name: "fish -N -c",
      baseline: ["fish", "-N", "-c", "true"],
      withSnippet: ["fish", "-N", "-c", `source ${snippetFish}`],
    },
    {
      name: "fish -N -i -c (notice path)",
      baseline: ["fish", "-N", "-i", "-c", "true"],
      withSnippet: ["fish", "-N", "-i", "-c", `source ${snippetFish}`],
    },
  ];

  t.test("sourcing the snippets spawns no process (strace -f)", async (t) => {
    for (const { name, baseline, withSnippet } of cases) {
      const before = countProcesses(user, baseline);
      const after = countProcesses(user, withSnippet);
      t.comment(
        `${name}: without snippet ${before.spawned} spawned/${before.execve} execve, with snippet ${after.spawned} spawned/${after.execve} execve`,
      );
      t.equal(after.spawned, before.spawned, `${name}: no fork, vfork or clone added`);
      t.equal(after.execve, before.execve, `${name}: no execve added`);
      t.equal(after.spawned, 0, `${name}: no process at all`);
    }
  });

  t.test("the traced runs really read the env file", async (t) => {
    const sh = countProcesses(user, ["bash", "-c", `. ${snippetSh}; echo "$CLAUDE_CODE_OAUTH_TOKEN"`]);
    t.equal(sh.stdout, `${token}\n`, "sh snippet");
    const fish = countProcesses(user, [
      "fish",
      "-N",
      "-c",
      `source ${snippetFish}; echo $CLAUDE_CODE_OAUTH_TOKEN`,
    ]);
    t.equal(fish.stdout, `${token}\n`, "fish snippet");
  });

  t.test("the count does see a snippet that spawns (control)", async (t) => {
    const dir = stagingDir(t, {});
    const spawning = join(dir, "spawning.sh");
    writeFileSync(
      spawning,
      'CLAUDE_CODE_OAUTH_TOKEN=$(cat "$HOME/.config/claude-auth-sync/claude-oauth.env")\n',
      {
        mode: 0o644,
      },
    );
    const run = countProcesses(user, ["bash", "-c", `. ${spawning}`]);
    t.ok(run.spawned >= 1, `$(cat ...) is counted (${run.spawned} spawned)`);
  });
}
