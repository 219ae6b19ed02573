// `claude-auth shell install|uninstall` through the built binary, for real users: the rc file gains or loses
// one block and nothing else, it is written as its owner, never through a link, and a real shell then
// loads the token through the installed snippet.
import { execFileSync } from "node:child_process";
import {
  chownSync,
  existsSync,
  lchownSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { dirname, join } from "node:path";
import t from "tap";
import { bash } from "../../src/shell/bash.js";
import { BLOCK_BEGIN, BLOCK_END, renderBlock } from "../../src/shell/rc-block.js";
import { zsh } from "../../src/shell/zsh.js";
import { type RunResult, runBinary } from "../helpers/cli.js";
import { createTestUser, requireRoot, type TestUser } from "../helpers/users.js";
import {
  asRootFor,
  asUser,
  ENV_FILE,
  fakeToken,
  requireMountNamespace,
  requireTools,
  snippetSh,
  stagingDir,
  writeAsUser,
} from "../shell/harness.js";

/** The binary run as the user, with the environment a login gives them. */
function asTheUser(user: TestUser, args: string[]): Promise<RunResult> {
  return runBinary(["shell", ...args], {
    uid: user.uid,
    gid: user.gid,
    env: { HOME: user.home, USER: user.name, LOGNAME: user.name },
  });
}

function asRoot(args: string[]): Promise<RunResult> {
  return runBinary(["shell", ...args]);
}

/** usermod takes /etc/passwd's lock, which parallel test files also take: retry like createTestUser. */
function setLoginShell(user: TestUser, loginShell: string): void {
  for (let attempt = 1; ; attempt++) {
    try {
      execFileSync("usermod", ["--shell", loginShell, user.name], { stdio: "pipe" });
      return;
    } catch (error) {
      if (attempt >= 20) throw error;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50 + Math.random() * 200);
    }
  }
}

/** A file in the user's home, theirs, with exactly these bytes and this mode. */
function plantRcFile(user: TestUser, relativePath: string, bytes: Buffer | string, mode: number): string {
  const path = join(user.home, relativePath);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, bytes, { mode });
  execFileSync("chmod", [mode.toString(8), path]);
  chownSync(path, user.uid, user.gid);
  return path;
}

interface Snapshot {
  bytes: Buffer;
  mode: number;
  uid: number;
  gid: number;
}

function snapshot(path: string): Snapshot {
  const stat = lstatSync(path);
  return { bytes: readFileSync(path), mode: stat.mode & 0o7777, uid: stat.uid, gid: stat.gid };
}

function blockCount(path: string): number {
  return readFileSync(path, "latin1").split(BLOCK_BEGIN).length - 1;
}

t.test(
  "install adds one block to an rc file; uninstall gives back the same bytes, mode and owner",
  async (t) => {
    if (!requireRoot(t)) return;
    const user = createTestUser(t, "cassi");
    // CRLF lines, a Latin-1 byte that is not UTF-8, a tab: any re-encoding would show.
    const original = Buffer.concat([
      Buffer.from("# my zshenv\r\nexport EDITOR=vim\r\n# caf"),
      Buffer.from([0xe9]),
      Buffer.from("\talias ll='ls -l'\n"),
    ]);
    const rc = plantRcFile(user, ".zshenv", original, 0o640);
    const before = snapshot(rc);

    const installed = await asTheUser(user, ["install", "--shell", "zsh"]);
    t.equal(installed.code, 0, installed.stderr);
    t.match(installed.stdout, `added the claude-auth-sync block to ${rc}\n`);
    t.match(installed.stdout, "to undo: claude-auth shell uninstall --shell zsh");
    const afterInstall = snapshot(rc);
    t.same(
      afterInstall.bytes.subarray(0, original.length),
      original,
      "the old content is a byte-exact prefix",
    );
    t.equal(
      afterInstall.bytes.subarray(original.length).toString(),
      `${renderBlock(zsh)}\n`,
      "then the block",
    );
    t.equal(afterInstall.mode, 0o640, "the file keeps its mode");
    t.equal(afterInstall.uid, user.uid, "and its owner");
    t.notMatch(afterInstall.bytes.toString(), /sk-ant|CLAUDE_CODE_OAUTH_TOKEN=/, "no token in the rc file");

    const again = await asTheUser(user, ["install", "--shell", "zsh"]);
    t.equal(again.code, 0, again.stderr);
    t.match(again.stdout, `the claude-auth-sync block is already present in ${rc}; nothing changed`);
    t.same(snapshot(rc), afterInstall, "a second install changes nothing");
    t.equal(blockCount(rc), 1, "one block");

    const removed = await asTheUser(user, ["uninstall", "--shell", "zsh"]);
    t.equal(removed.code, 0, removed.stderr);
    t.match(removed.stdout, `removed the claude-auth-sync block from ${rc}`);
    t.match(removed.stdout, "to add it: claude-auth shell install --shell zsh");
    t.same(snapshot(rc), before, "bytes, mode, owner and group as before install");

    const removedAgain = await asTheUser(user, ["uninstall", "--shell", "zsh"]);
    t.equal(removedAgain.code, 0, removedAgain.stderr);
    t.match(removedAgain.stdout, `no claude-auth-sync block to remove in ${rc}; nothing changed`);
    t.same(snapshot(rc), before);
  },
);

t.test("an rc file without a final newline gets none added, and none is left after uninstall", async (t) => {
  if (!requireRoot(t)) return;
  const user = createTestUser(t, "cassn");
  const rc = plantRcFile(user, ".bashrc", "export A=1", 0o644);
  const installed = await asTheUser(user, ["install", "--shell", "bash"]);
  t.equal(installed.code, 0, installed.stderr);
  t.equal(readFileSync(rc, "utf8"), `export A=1\n${renderBlock(bash)}`, "one separator, the block last");
  t.equal((await asTheUser(user, ["install", "--shell", "bash"])).code, 0);
  t.equal(blockCount(rc), 1, "still one block");
  t.equal((await asTheUser(user, ["uninstall", "--shell", "bash"])).code, 0);
  t.equal(readFileSync(rc, "utf8"), "export A=1", "exactly the old text");
});

t.test("install creates a missing rc file, owned by the user and holding only the block", async (t) => {
  if (!requireRoot(t)) return;
  const user = createTestUser(t, "cassc");
  const rc = join(user.home, ".zshenv");
  t.notOk(existsSync(rc), "no ~/.zshenv to begin with");
  const installed = await asTheUser(user, ["install", "--shell", "zsh"]);
  t.equal(installed.code, 0, installed.stderr);
  t.match(installed.stdout, `added the claude-auth-sync block to ${rc} (a new file)`);
  const created = snapshot(rc);
  t.equal(created.uid, user.uid, "owned by the user");
  t.equal(created.gid, user.gid, "the user's group");
  t.equal(created.mode, 0o644, "an ordinary rc file's mode");
  t.equal(created.bytes.toString(), `${renderBlock(zsh)}\n`);
});

t.test("without --shell, the login shell from the passwd entry picks the rc file", async (t) => {
  if (!requireRoot(t)) return;
  const user = createTestUser(t, "cassd");
  const bashrc = join(user.home, ".bashrc");
  const bashrcBefore = existsSync(bashrc) ? readFileSync(bashrc) : undefined;

  setLoginShell(user, "/usr/bin/zsh");
  const zshUser = await asTheUser(user, ["install"]);
  t.equal(zshUser.code, 0, zshUser.stderr);
  t.match(zshUser.stdout, `added the claude-auth-sync block to ${join(user.home, ".zshenv")}`);
  t.equal(blockCount(join(user.home, ".zshenv")), 1, "~/.zshenv for a zsh user");
  t.same(existsSync(bashrc) ? readFileSync(bashrc) : undefined, bashrcBefore, "~/.bashrc untouched");

  setLoginShell(user, "/bin/bash");
  const bashUser = await asTheUser(user, ["install"]);
  t.equal(bashUser.code, 0, bashUser.stderr);
  t.equal(blockCount(bashrc), 1, "~/.bashrc for a bash user");

  setLoginShell(user, "/bin/sh");
  const fishrc = join(user.home, ".config/fish/config.fish");
  const unsupported = await asTheUser(user, ["install"]);
  t.equal(unsupported.code, 2, "a login shell we do not edit for is a usage error");
  t.match(unsupported.stderr, "login shell /bin/sh is not one claude-auth-sync edits an rc file for");
  t.match(unsupported.stderr, "--shell bash|zsh|fish", "and says to pass --shell");
  t.notOk(existsSync(fishrc), "no rc file guessed");
  t.equal(blockCount(join(user.home, ".zshenv")), 1);
});

t.test("--user is for root only: a user naming another is refused with exit 2", async (t) => {
  if (!requireRoot(t)) return;
  const alice = createTestUser(t, "cassa");
  const bob = createTestUser(t, "cassb");
  const refused = await asTheUser(alice, ["install", "--shell", "zsh", "--user", bob.name]);
  t.equal(refused.code, 2);
  t.match(
    refused.stderr,
    `only root may act for another user (you are ${alice.name}, asked for ${bob.name})`,
  );
  t.notOk(existsSync(join(bob.home, ".zshenv")), "nothing written in bob's home");
  t.notOk(existsSync(join(alice.home, ".zshenv")), "nor in alice's");

  const rootWithoutUser = await asRoot(["install", "--shell", "zsh"]);
  t.equal(rootWithoutUser.code, 2, "root must name the user");
  t.match(rootWithoutUser.stderr, "--user NAME");
});

t.test("a misspelt option or action is a usage error and writes nothing", async (t) => {
  if (!requireRoot(t)) return;
  const user = createTestUser(t, "casso");
  for (const args of [
    ["install", "--shell", "zsh", "--dry-run"],
    ["install", "--shell", "tcsh"],
    ["instal", "--shell", "zsh"],
  ]) {
    const refused = await asTheUser(user, args);
    t.equal(refused.code, 2, args.join(" "));
    t.match(refused.stderr, "Run 'claude-auth --help' for the commands.", args.join(" "));
  }
  t.notOk(existsSync(join(user.home, ".zshenv")), "no ~/.zshenv written");
});

t.test("root installing for a user writes the rc file as that user", async (t) => {
  if (!requireRoot(t)) return;
  const user = createTestUser(t, "cassr");
  const rc = join(user.home, ".zshenv");
  const installed = await asRoot(["install", "--shell", "zsh", "--user", user.name]);
  t.equal(installed.code, 0, installed.stderr);
  t.match(installed.stdout, `to undo: claude-auth shell uninstall --shell zsh --user ${user.name}`);
  const created = snapshot(rc);
  t.equal(created.uid, user.uid, "owned by the user, not root");
  t.equal(created.gid, user.gid);

  const existing = plantRcFile(user, ".bashrc", "alias l=ls\n", 0o600);
  t.equal((await asRoot(["install", "--shell", "bash", "--user", user.name])).code, 0);
  t.equal(statSync(existing).uid, user.uid, "a rewritten file stays the user's");
  t.equal(statSync(existing).mode & 0o777, 0o600, "with its mode");
  t.equal((await asRoot(["uninstall", "--shell", "bash", "--user", user.name])).code, 0);
  t.equal(readFileSync(existing, "utf8"), "alias l=ls\n");
});

t.test("an rc file that is a symlink or not the user's is refused, its target untouched", async (t) => {
  if (!requireRoot(t)) return;
  const user = createTestUser(t, "cassl");
  const rc = join(user.home, ".zshenv");
  const passwdBefore = readFileSync("/etc/passwd");
  symlinkSync("/etc/passwd", rc);
  lchownSync(rc, user.uid, user.gid);

  for (const [who, run] of [
    ["the user", () => asTheUser(user, ["install", "--shell", "zsh"])],
    ["root", () => asRoot(["install", "--shell", "zsh", "--user", user.name])],
    ["the user, uninstalling", () => asTheUser(user, ["uninstall", "--shell", "zsh"])],
  ] as const) {
    const refused = await run();
    t.equal(refused.code, 6, `${who}: invalid data`);
    t.match(refused.stderr, `${rc}: is a symbolic link`, `${who}: says what and where`);
    t.match(
      refused.stderr,
      renderBlock(zsh).split("\n")[2] as string,
      `${who}: shows the line to add by hand`,
    );
    t.equal(refused.stdout, "", `${who}: claims nothing`);
  }
  t.same(readFileSync("/etc/passwd"), passwdBefore, "/etc/passwd untouched");
  t.ok(lstatSync(rc).isSymbolicLink(), "the link itself left alone");

  const rootOwned = join(user.home, ".bashrc");
  writeFileSync(rootOwned, "# managed by root\n", { mode: 0o644 });
  chownSync(rootOwned, 0, 0);
  for (const [who, run] of [
    ["the user", () => asTheUser(user, ["install", "--shell", "bash"])],
    ["root", () => asRoot(["install", "--shell", "bash", "--user", user.name])],
  ] as const) {
    const refused = await run();
    t.equal(refused.code, 6, `${who}: a root-owned rc file is refused`);
    t.match(refused.stderr, `${rootOwned}: is owned by uid 0, not by ${user.name}`, who);
  }
  t.same(snapshot(rootOwned), { bytes: Buffer.from("# managed by root\n"), mode: 0o644, uid: 0, gid: 0 });
});

t.test("a half-deleted block is refused with the file and line, the file untouched", async (t) => {
  if (!requireRoot(t)) return;
  const user = createTestUser(t, "cassh");
  const rc = plantRcFile(user, ".zshenv", `export A=1\n${BLOCK_BEGIN}\nexport B=2\n`, 0o644);
  const before = snapshot(rc);
  for (const action of ["install", "uninstall"]) {
    const refused = await asTheUser(user, [action, "--shell", "zsh"]);
    t.equal(refused.code, 6, action);
    t.match(refused.stderr, `${rc}: line 2: "${BLOCK_BEGIN}" has no matching "${BLOCK_END}"`, action);
  }
  t.same(snapshot(rc), before);
});

t.test("fish: install creates ~/.config/fish/config.fish, which fish accepts", async (t) => {
  if (!requireRoot(t)) return;
  const user = createTestUser(t, "cassf");
  const config = join(user.home, ".config/fish/config.fish");
  const installed = await asTheUser(user, ["install", "--shell", "fish", "--json"]);
  t.equal(installed.code, 0, installed.stderr);
  t.match(JSON.parse(installed.stdout), {
    user: user.name,
    shell: "fish",
    rcFile: config,
    outcome: "added",
    changed: true,
    created: true,
    undo: "claude-auth shell uninstall --shell fish",
  });
  t.equal(statSync(config).uid, user.uid, "config.fish is the user's");
  t.equal(statSync(dirname(config)).uid, user.uid, "and so is ~/.config/fish");
  t.match(readFileSync(config, "utf8"), "if test -r '/etc/fish/conf.d/claude-auth.fish'; source");
  if (requireTools(t, ["fish"])) {
    const parsed = asUser(user, ["fish", "--no-execute", config]);
    t.equal(parsed.status, 0, `fish parses the block: ${parsed.stderr}`);
  }
});

t.test(
  "a real zsh and a non-login bash, started as the user, load the token once the block is in",
  async (t) => {
    if (!requireRoot(t)) return;
    if (!requireTools(t, ["zsh", "bash", "setpriv", "unshare"])) return;
    if (!requireMountNamespace(t)) return;
    const user = createTestUser(t, "cassz");
    const token = fakeToken();
    writeAsUser(user, ENV_FILE, `CLAUDE_CODE_OAUTH_TOKEN=${token}\n`);
    plantRcFile(user, ".zshenv", "# my zshenv\nexport EDITOR=vim\n", 0o644);
    // The snippet where the block points: the repo's copy over /etc/profile.d, in a private mount namespace.
    const profileD = stagingDir(t, { "claude-auth.sh": snippetSh });
    const mounts = [{ source: profileD, target: "/etc/profile.d" }];
    const tokenIn = (shell: string) =>
      asUser(user, [shell, "-i", "-c", "printenv CLAUDE_CODE_OAUTH_TOKEN || true"], { mounts }).stdout.trim();

    t.equal(tokenIn("zsh"), "", "before install, zsh never reads /etc/profile.d: no token");
    t.equal(tokenIn("bash"), "", "nor does a non-login bash");

    t.equal((await asTheUser(user, ["install", "--shell", "zsh"])).code, 0);
    t.equal(tokenIn("zsh"), token, "after install, zsh has the token");
    t.equal((await asTheUser(user, ["install", "--shell", "bash"])).code, 0);
    t.equal(tokenIn("bash"), token, "and so has a non-login interactive bash");
    for (const rc of [".zshenv", ".bashrc"]) {
      t.notOk(readFileSync(join(user.home, rc), "utf8").includes(token), `the token is not in ~/${rc}`);
    }

    t.equal((await asTheUser(user, ["uninstall", "--shell", "zsh"])).code, 0);
    t.equal(tokenIn("zsh"), "", "after uninstall, no token again");
    t.equal(readFileSync(join(user.home, ".zshenv"), "utf8"), "# my zshenv\nexport EDITOR=vim\n");
  },
);

t.test(
  "after `shell install --shell zsh`, zsh run as sshd runs a command and `su - user -c` get the token too",
  async (t) => {
    if (!requireRoot(t)) return;
    if (!requireTools(t, ["zsh", "setpriv", "unshare", "su", "runuser"])) return;
    if (!requireMountNamespace(t)) return;
    const user = createTestUser(t, "casse");
    setLoginShell(user, "/usr/bin/zsh");
    const token = fakeToken();
    writeAsUser(user, ENV_FILE, `CLAUDE_CODE_OAUTH_TOKEN=${token}\n`);
    const profileD = stagingDir(t, { "claude-auth.sh": snippetSh });
    const mounts = [{ source: profileD, target: "/etc/profile.d" }];
    const show = "printenv CLAUDE_CODE_OAUTH_TOKEN || true";
    // sshd runs `ssh host cmd` as the login shell with -c, the user's HOME and no terminal.
    const sshCommand = () => asUser(user, ["zsh", "-c", show], { mounts }).stdout.trim();
    const suCommand = () => asRootFor(user, ["su", "-", user.name, "-c", show], { mounts }).stdout.trim();
    const runuserCommand = () =>
      asRootFor(user, ["runuser", "-l", user.name, "-c", show], { mounts }).stdout.trim();

    t.equal((await asTheUser(user, ["install", "--shell", "zsh"])).code, 0);
    t.equal(sshCommand(), token, "zsh -c (ssh host cmd) has the token");
    t.equal(suCommand(), token, "su - user -c has the token");
    t.equal(runuserCommand(), token, "runuser -l user -c has the token");

    t.equal((await asTheUser(user, ["uninstall", "--shell", "zsh"])).code, 0);
    t.equal(sshCommand(), "", "after uninstall, zsh -c has none");
    t.equal(suCommand(), "", "nor su -");
  },
);

t.test(
  "a block an earlier release put in ~/.zshrc is moved to ~/.zshenv: ~/.zshrc keeps every other byte, one block in all",
  async (t) => {
    if (!requireRoot(t)) return;
    const user = createTestUser(t, "cassm");
    // The block in the middle of a file with CRLF lines, a non-UTF-8 byte and no final newline.
    const head = Buffer.concat([
      Buffer.from("# my zshrc\r\nexport EDITOR=vim\r\n# caf"),
      Buffer.from([0xe9, 0x0a]),
    ]);
    const tail = Buffer.from("alias ll='ls -l'\r\nbindkey -e");
    const zshrc = plantRcFile(
      user,
      ".zshrc",
      Buffer.concat([head, Buffer.from(`${renderBlock(zsh)}\n`), tail]),
      0o600,
    );
    const zshenv = plantRcFile(user, ".zshenv", "export LESS=-R\n", 0o644);

    const moved = await asTheUser(user, ["install", "--shell", "zsh", "--json"]);
    t.equal(moved.code, 0, moved.stderr);
    t.match(JSON.parse(moved.stdout), {
      rcFile: zshenv,
      outcome: "added",
      changed: true,
      legacyRemoved: [zshrc],
      legacyUnchecked: [],
    });
    t.same(snapshot(zshrc), {
      bytes: Buffer.concat([head, tail]),
      mode: 0o600,
      uid: user.uid,
      gid: user.gid,
    });
    t.equal(readFileSync(zshenv, "utf8"), `export LESS=-R\n${renderBlock(zsh)}\n`, "~/.zshenv gains it");

    const again = await asTheUser(user, ["install", "--shell", "zsh"]);
    t.equal(again.code, 0, again.stderr);
    t.match(again.stdout, `the claude-auth-sync block is already present in ${zshenv}; nothing changed`);
    t.equal(blockCount(zshrc) + blockCount(zshenv), 1, "one block in all");

    // Both places (a hand copy, or an old release run after the new one): install keeps one.
    writeFileSync(zshrc, Buffer.concat([head, Buffer.from(`${renderBlock(zsh)}\n`), tail]));
    const both = await asTheUser(user, ["install", "--shell", "zsh"]);
    t.match(both.stdout, `removed the older copy of the block from ${zshrc}`);
    t.same(readFileSync(zshrc), Buffer.concat([head, tail]));
    t.equal(blockCount(zshenv), 1);
  },
);

t.test(
  "the human report says the block was moved, and uninstall also clears an unmoved ~/.zshrc",
  async (t) => {
    if (!requireRoot(t)) return;
    const user = createTestUser(t, "cassu");
    const zshrc = plantRcFile(user, ".zshrc", `export A=1\n${renderBlock(zsh)}\n`, 0o644);
    const zshenv = join(user.home, ".zshenv");
    const moved = await asTheUser(user, ["install", "--shell", "zsh"]);
    t.equal(moved.code, 0, moved.stderr);
    t.match(
      moved.stdout,
      `moved the claude-auth-sync block from ${zshrc} to ${zshenv} (a new file); the rest of ${zshrc} is as it was\n`,
    );
    t.equal(readFileSync(zshrc, "utf8"), "export A=1\n");

    // An install from an earlier release that was never moved: uninstall takes it out where it is.
    writeFileSync(zshrc, `export A=1\n${renderBlock(zsh)}\n`);
    const removed = await asTheUser(user, ["uninstall", "--shell", "zsh"]);
    t.equal(removed.code, 0, removed.stderr);
    t.match(
      removed.stdout,
      `removed the claude-auth-sync block from ${zshenv} and ${zshrc}; the rest of each file`,
    );
    t.equal(readFileSync(zshrc, "utf8"), "export A=1\n");
    t.equal(readFileSync(zshenv, "utf8"), "", "~/.zshenv back to what install made of nothing");

    writeFileSync(zshrc, `export A=1\n${renderBlock(zsh)}\n`);
    const onlyOld = await asTheUser(user, ["uninstall", "--shell", "zsh", "--json"]);
    t.match(JSON.parse(onlyOld.stdout), { outcome: "absent", changed: true, legacyRemoved: [zshrc] });
    t.equal(readFileSync(zshrc, "utf8"), "export A=1\n");
  },
);

t.test(
  "a ~/.zshrc that is a link is not followed: ~/.zshenv gets the block and a note names ~/.zshrc",
  async (t) => {
    if (!requireRoot(t)) return;
    const user = createTestUser(t, "casss");
    const zshrc = join(user.home, ".zshrc");
    const passwdBefore = readFileSync("/etc/passwd");
    symlinkSync("/etc/passwd", zshrc);
    lchownSync(zshrc, user.uid, user.gid);
    const installed = await asTheUser(user, ["install", "--shell", "zsh"]);
    t.equal(installed.code, 0, installed.stderr);
    t.match(installed.stdout, `added the claude-auth-sync block to ${join(user.home, ".zshenv")}`);
    t.match(
      installed.stdout,
      `note: ${zshrc} was not checked for an older block (${zshrc}: is a symbolic link`,
    );
    t.same(readFileSync("/etc/passwd"), passwdBefore, "/etc/passwd untouched");
    t.ok(lstatSync(zshrc).isSymbolicLink());
  },
);
