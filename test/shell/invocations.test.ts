// The README's "Shells" table, row by row, with the real shells and the snippets installed where install.sh
// puts them (bind-mounted in a private mount namespace). zsh's rows: test/install/zshenv.test.ts and
// test/commands/shell.test.ts; systemd: test/hooks/systemd.test.ts; start-claude: start-claude.test.ts.
import { readFileSync } from "node:fs";
import t from "tap";
import { bash } from "../../src/shell/bash.js";
import { addBlock } from "../../src/shell/rc-block.js";
import { createTestUser, requireRoot } from "../helpers/users.js";
import {
  asRootFor,
  asUser,
  ENV_FILE,
  fakeToken,
  gate,
  requireMountNamespace,
  requireTools,
  snippetFish,
  snippetSh,
  stagingDir,
  writeAsUser,
} from "./harness.js";

if (
  requireRoot(gate(t)) &&
  requireTools(t, ["bash", "dash", "fish", "setpriv", "unshare", "su"]) &&
  requireMountNamespace(t)
) {
  const user = createTestUser(t, "casiv");
  const token = fakeToken();
  writeAsUser(user, ENV_FILE, `CLAUDE_CODE_OAUTH_TOKEN=${token}\n`);
  const mounts = [
    { source: stagingDir(t, { "claude-auth.sh": snippetSh }), target: "/etc/profile.d" },
    { source: stagingDir(t, { "claude-auth.fish": snippetFish }), target: "/etc/fish/conf.d" },
  ];
  const SHOW = "printenv CLAUDE_CODE_OAUTH_TOKEN || true";
  const tokenIn = (argv: string[], env: Record<string, string> = {}) =>
    asUser(user, argv, { mounts, env }).stdout.trim();
  // ssh host cmd: sshd runs `<login shell> -c cmd` with SSH_CLIENT set and no terminal.
  const SSH_ENV = { SSH_CLIENT: "192.0.2.1 50000 22", SSH_CONNECTION: "192.0.2.1 50000 192.0.2.2 22" };

  t.test("bash login: /etc/profile reads /etc/profile.d", async (t) => {
    t.equal(tokenIn(["bash", "-l", "-c", SHOW]), token);
    t.equal(
      asRootFor(user, ["su", "-", user.name, "-c", SHOW], { mounts }).stdout.trim(),
      token,
      "su - user -c",
    );
  });

  t.test(
    "bash interactive non-login: only with the block in ~/.bashrc (shell install --shell bash)",
    async (t) => {
      const skeleton = readFileSync("/etc/skel/.bashrc", "utf8");
      writeAsUser(user, ".bashrc", skeleton);
      t.equal(tokenIn(["bash", "-i", "-c", SHOW]), "", "without the block: nothing reads /etc/profile.d");
      writeAsUser(user, ".bashrc", addBlock(skeleton, bash));
      t.equal(tokenIn(["bash", "-i", "-c", SHOW]), token, "with it");
    },
  );

  t.test("bash -c (ssh host cmd): no, even with the block in ~/.bashrc", async (t) => {
    const skeleton = readFileSync("/etc/skel/.bashrc", "utf8");
    writeAsUser(user, ".bashrc", addBlock(skeleton, bash));
    // stdin not a socket, as sshd's pipes (a socket stdin makes bash read ~/.bashrc as under rshd).
    const bashC = (env: Record<string, string> = {}) =>
      tokenIn(["sh", "-c", 'exec bash -c "$1" </dev/null', "sh", SHOW], env);
    t.equal(bashC(), "", "bash -c reads no rc file");
    // Debian's bash reads ~/.bashrc when SSH_CLIENT is set, but the skeleton returns when not interactive.
    t.equal(bashC(SSH_ENV), "", "as sshd runs it: the skeleton's early return comes before the block");
    writeAsUser(user, ".bashrc", `${addBlock("", bash)}${skeleton}`);
    t.equal(bashC(SSH_ENV), token, "the block above that return would be read");
    t.equal(
      bashC({ BASH_ENV: "/etc/profile.d/claude-auth.sh" }),
      token,
      "and BASH_ENV naming the snippet is",
    );
  });

  t.test("sh/dash login: yes; sh/dash -c: no (dash reads $ENV only when interactive)", async (t) => {
    for (const shell of ["dash", "sh"]) {
      t.equal(tokenIn([shell, "-l", "-c", SHOW]), token, `${shell} -l`);
      t.equal(tokenIn([shell, "-c", SHOW], SSH_ENV), "", `${shell} -c`);
    }
  });

  t.test("fish login, interactive and -c: fish reads /etc/fish/conf.d every time", async (t) => {
    t.equal(tokenIn(["fish", "-l", "-c", SHOW]), token, "fish -l");
    t.equal(tokenIn(["fish", "-i", "-c", SHOW]), token, "fish -i");
    t.equal(tokenIn(["fish", "-c", SHOW], SSH_ENV), token, "fish -c (ssh host cmd)");
  });
}
