// install.sh and /etc/zsh/zshenv (zsh-common's file, read by every zsh): one line added at the end, recorded
// in the manifest and taken out byte-for-byte on uninstall; with it, a real zsh started every way gets the token.
import { spawnSync } from "node:child_process";
import {
  chmodSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import t, { type Test } from "tap";
import { SYSTEM_ZSHENV, zsh } from "../../src/shell/zsh.js";
import { BINARY } from "../helpers/cli.js";
import { createTestUser, requireRoot } from "../helpers/users.js";
import {
  asRootFor,
  asUser,
  ENV_FILE,
  fakeToken,
  requireMountNamespace,
  requireTools,
  writeAsUser,
} from "../shell/harness.js";

const REPO = fileURLToPath(new URL("../../", import.meta.url));
const INSTALL = join(REPO, "install.sh");
const MANIFEST = "var/lib/claude-auth-sync/install-manifest";
const ZSHENV_LINE = `${zsh.sourceLine(zsh.snippetPath)} # claude-auth-sync (install.sh)`;
// Debian 12's /etc/zsh/zshenv, abridged: comments and the PATH fix-up, tabs included.
const DEBIAN_ZSHENV =
  "# /etc/zsh/zshenv: system-wide .zshenv file for zsh(1).\n#\n# This file is sourced on all invocations of the shell.\n" +
  '\nif [[ -z "$PATH" || "$PATH" == "/bin:/usr/bin" ]]\nthen\n\texport PATH="/usr/local/bin:/usr/bin:/bin:/usr/games"\nfi\n';

const releaseDir = mkdtempSync(join(tmpdir(), "cas-release-"));
t.teardown(() => rmSync(releaseDir, { recursive: true, force: true }));
const RELEASE = join(releaseDir, "claude-auth");
cpSync(BINARY, RELEASE);
chmodSync(RELEASE, 0o755);

function installSh(args: string[]) {
  const run = spawnSync(INSTALL, [...args, "--binary", RELEASE], {
    cwd: REPO,
    encoding: "utf8",
    env: { PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" },
    timeout: 120_000,
  });
  return { code: run.status, output: run.stdout + run.stderr, stdout: run.stdout };
}

/** A staging root holding zsh-common's file (mode 0644) with these bytes. */
function rootWithZshenv(t: Test, text: string | undefined): string {
  const root = mkdtempSync(join(tmpdir(), "cas-install-"));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  if (text !== undefined) {
    mkdirSync(join(root, "etc/zsh"), { recursive: true });
    writeFileSync(join(root, "etc/zsh/zshenv"), text, { mode: 0o644 });
  }
  return root;
}

const zshenvOf = (root: string) => readFileSync(join(root, SYSTEM_ZSHENV), "latin1");

t.test("the shipped line is the zsh source line doctor looks for", async (t) => {
  const lines = readFileSync(join(REPO, "hooks/zsh/zshenv"), "utf8")
    .split("\n")
    .filter((line) => line !== "" && !line.startsWith("#"));
  t.same(lines, [ZSHENV_LINE]);
});

t.test(
  "install appends one line to /etc/zsh/zshenv; uninstall gives the file back byte-for-byte",
  async (t) => {
    if (!requireRoot(t)) return;
    const root = rootWithZshenv(t, DEBIAN_ZSHENV);
    const installed = installSh(["--root", root]);
    t.equal(installed.code, 0, installed.output);
    t.match(
      installed.stdout,
      /edited +\/etc\/zsh\/zshenv \(line sourcing \/etc\/profile.d\/claude-auth.sh added/,
    );
    t.equal(zshenvOf(root), `${DEBIAN_ZSHENV}${ZSHENV_LINE}\n`, "the file as it was, then our line");
    t.match(
      readFileSync(join(root, MANIFEST), "utf8"),
      `\t/etc/zsh/zshenv\t/var/lib/claude-auth-sync/install-backup/etc/zsh/zshenv\t${ZSHENV_LINE}\n`,
    );

    const again = installSh(["--root", root]);
    t.equal(again.code, 0, again.output);
    t.match(again.stdout, /unchanged +\/etc\/zsh\/zshenv \(sources the snippet\)/);
    t.equal(zshenvOf(root), `${DEBIAN_ZSHENV}${ZSHENV_LINE}\n`, "no second line");

    const removed = installSh(["--root", root, "--uninstall"]);
    t.equal(removed.code, 0, removed.output);
    t.equal(zshenvOf(root), DEBIAN_ZSHENV, "byte-for-byte as before install");
    t.notOk(existsSync(join(root, "var/lib/claude-auth-sync")), "no backup left behind");
  },
);

t.test(
  "a zshenv without a final newline gets the line on a line of its own, and comes back without one",
  async (t) => {
    if (!requireRoot(t)) return;
    const text = "export ZDOTDIR=$HOME/.config/zsh";
    const root = rootWithZshenv(t, text);
    t.equal(installSh(["--root", root]).code, 0);
    t.equal(zshenvOf(root), `${text}\n${ZSHENV_LINE}\n`);
    const zshParses = spawnSync("zsh", ["-n", join(root, SYSTEM_ZSHENV)], { encoding: "utf8" });
    t.equal(zshParses.status, 0, `zsh parses the edited file: ${zshParses.stderr}`);
    t.equal(installSh(["--root", root, "--uninstall"]).code, 0);
    t.equal(zshenvOf(root), text);
  },
);

t.test("a zshenv the admin changed after install: uninstall removes only our line", async (t) => {
  if (!requireRoot(t)) return;
  const root = rootWithZshenv(t, DEBIAN_ZSHENV);
  t.equal(installSh(["--root", root]).code, 0);
  writeFileSync(join(root, SYSTEM_ZSHENV), `${zshenvOf(root)}export LESS=-R\n`);
  const removed = installSh(["--root", root, "--uninstall"]);
  t.equal(removed.code, 0, removed.output);
  t.match(removed.stdout, /changed since install: only the claude-auth line removed/);
  t.equal(zshenvOf(root), `${DEBIAN_ZSHENV}export LESS=-R\n`);
});

t.test(
  "without zsh (no /etc/zsh/zshenv) nothing is created there, and the output says what to do",
  async (t) => {
    if (!requireRoot(t)) return;
    const root = rootWithZshenv(t, undefined);
    const installed = installSh(["--root", root]);
    t.equal(installed.code, 0, installed.output);
    t.match(
      installed.stdout,
      /skipped +\/etc\/zsh\/zshenv \(zsh is not installed; after installing it run .\/install.sh again/,
    );
    t.notOk(existsSync(join(root, "etc/zsh")), "no /etc/zsh made up");
    t.notMatch(readFileSync(join(root, MANIFEST), "utf8"), "zshenv");
  },
);

t.test(
  "installed system-wide, every zsh gets the token: -c as sshd runs it, -f -c, login, interactive, su - user -c",
  async (t) => {
    if (!requireRoot(t)) return;
    if (!requireTools(t, ["zsh", "setpriv", "unshare", "su"])) return;
    if (!requireMountNamespace(t)) return;
    const root = rootWithZshenv(t, DEBIAN_ZSHENV);
    t.equal(installSh(["--root", root]).code, 0);
    // The staged /etc/zsh and /etc/profile.d over the real ones, in a private mount namespace.
    const mounts = ["/etc/zsh", "/etc/profile.d"].map((dir) => ({ source: join(root, dir), target: dir }));
    const user = createTestUser(t, "caszi");
    const token = fakeToken();
    writeAsUser(user, ENV_FILE, `CLAUDE_CODE_OAUTH_TOKEN=${token}\n`);
    const show = "printenv CLAUDE_CODE_OAUTH_TOKEN || true";
    const cases: [string, () => string][] = [
      ["zsh -c (ssh host cmd)", () => asUser(user, ["zsh", "-c", show], { mounts }).stdout],
      ["zsh -f -c", () => asUser(user, ["zsh", "-f", "-c", show], { mounts }).stdout],
      ["zsh -l -c (login)", () => asUser(user, ["zsh", "-l", "-c", show], { mounts }).stdout],
      ["zsh -i -c (interactive)", () => asUser(user, ["zsh", "-i", "-c", show], { mounts }).stdout],
      [
        "su - user -s /usr/bin/zsh -c",
        () => asRootFor(user, ["su", "-", user.name, "-s", "/usr/bin/zsh", "-c", show], { mounts }).stdout,
      ],
    ];
    for (const [name, start] of cases) t.equal(start().trim(), token, name);
    t.notOk(zshenvOf(root).includes(token), "the token is not in /etc/zsh/zshenv");
  },
);
