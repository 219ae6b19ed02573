// Root working in a hostile home: files are written as the user, never through a planted link.
import { execFileSync } from "node:child_process";
import {
  existsSync,
  linkSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import t from "tap";
import { InvalidDataError } from "../../src/errors.js";
import { UserHome } from "../../src/system/home.js";
import { createTestUser, requireRoot } from "../helpers/users.js";

const DIR = [".config", "claude-auth-sync"] as const;

function asUserShell(user: { name: string }, script: string): void {
  execFileSync("runuser", ["-u", user.name, "--", "sh", "-c", script], { stdio: "pipe" });
}

function rootOwnedTarget(t: { teardown(fn: () => void): void }, content: string) {
  const dir = `/var/tmp/cas-target-${process.pid}-${Math.random().toString(36).slice(2)}`;
  mkdirSync(dir, { mode: 0o755 });
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, "root-file");
  writeFileSync(file, content, { mode: 0o644 });
  return { dir, file };
}

t.test("a file written as root for a user is the user's, 0600, in a 0700 directory", async (t) => {
  if (!requireRoot(t)) return;
  const user = createTestUser(t);
  const home = new UserHome(user);
  home.write(DIR, "claude-oauth.env", "CLAUDE_CODE_OAUTH_TOKEN=x\n");
  const file = join(user.home, ".config/claude-auth-sync/claude-oauth.env");
  const stat = statSync(file);
  t.equal(stat.uid, user.uid, "owned by the user");
  t.equal(stat.gid, user.gid, "group is the user's");
  t.equal(stat.mode & 0o777, 0o600, "0600");
  t.equal(statSync(join(user.home, ".config/claude-auth-sync")).mode & 0o777, 0o700, "directory 0700");
  t.equal(statSync(join(user.home, ".config/claude-auth-sync")).uid, user.uid, "directory owned by the user");
  t.equal(readFileSync(file, "utf8"), "CLAUDE_CODE_OAUTH_TOKEN=x\n");
  t.equal(process.geteuid?.(), 0, "root again afterwards");
});

t.test("a directory symlinked to a root-owned directory is refused; nothing lands there", async (t) => {
  if (!requireRoot(t)) return;
  const user = createTestUser(t);
  const target = rootOwnedTarget(t, "root data\n");
  asUserShell(user, `mkdir -p ~/.config && ln -s ${target.dir} ~/.config/claude-auth-sync`);
  const home = new UserHome(user);
  t.throws(() => home.write(DIR, "claude-oauth.env", "CLAUDE_CODE_OAUTH_TOKEN=x\n"), InvalidDataError);
  t.notOk(existsSync(join(target.dir, "claude-oauth.env")), "no file in the link's target");
  t.equal(readFileSync(target.file, "utf8"), "root data\n");
});

t.test(
  "the env file symlinked to a root-owned file: the link is replaced, the target untouched",
  async (t) => {
    if (!requireRoot(t)) return;
    const user = createTestUser(t);
    const target = rootOwnedTarget(t, "root data\n");
    asUserShell(
      user,
      `mkdir -p -m 700 ~/.config/claude-auth-sync && ln -s ${target.file} ~/.config/claude-auth-sync/claude-oauth.env`,
    );
    new UserHome(user).write(DIR, "claude-oauth.env", "CLAUDE_CODE_OAUTH_TOKEN=x\n");
    t.equal(readFileSync(target.file, "utf8"), "root data\n", "target unchanged");
    const written = join(user.home, ".config/claude-auth-sync/claude-oauth.env");
    t.notOk(lstatSync(written).isSymbolicLink(), "the link itself was replaced by a regular file");
    t.equal(statSync(written).uid, user.uid);
  },
);

t.test("a credentials file symlinked to a root-only secret is never read", async (t) => {
  if (!requireRoot(t)) return;
  const user = createTestUser(t);
  const target = rootOwnedTarget(
    t,
    '{"claudeAiOauth":{"accessToken":"ROOT","refreshToken":"ROOT","expiresAt":1}}',
  );
  asUserShell(user, `mkdir -p ~/.claude && ln -s ${target.file} ~/.claude/.credentials.json`);
  t.throws(() => new UserHome(user).read([".claude"], ".credentials.json"), InvalidDataError);
});

t.test("a hard link to a root-owned file is not written through", async (t) => {
  if (!requireRoot(t)) return;
  const user = createTestUser(t);
  const target = rootOwnedTarget(t, "root data\n");
  mkdirSync(join(user.home, ".claude"), { mode: 0o700 });
  execFileSync("chown", [`${user.uid}:${user.gid}`, join(user.home, ".claude")]);
  // Made by root here: protected_hardlinks would stop the user from making it, but a shared
  // filesystem or an old kernel might not.
  linkSync(target.file, join(user.home, ".claude/.credentials.json"));
  const home = new UserHome(user);
  t.throws(
    () => home.read([".claude"], ".credentials.json"),
    InvalidDataError,
    "not the user's file: refused",
  );
  home.write([".claude"], ".credentials.json", "{}\n");
  t.equal(readFileSync(target.file, "utf8"), "root data\n", "target unchanged");
  t.equal(statSync(join(user.home, ".claude/.credentials.json")).uid, user.uid);
});

t.test("a FIFO where a file should be does not hang, and is refused", async (t) => {
  if (!requireRoot(t)) return;
  const user = createTestUser(t);
  asUserShell(user, "mkdir -p ~/.claude && mkfifo ~/.claude/.credentials.json");
  const started = Date.now();
  t.throws(() => new UserHome(user).read([".claude"], ".credentials.json"), InvalidDataError);
  t.ok(Date.now() - started < 1000, "no hang");
});

t.test("a directory where the env file should be is refused", async (t) => {
  if (!requireRoot(t)) return;
  const user = createTestUser(t);
  asUserShell(user, "mkdir -p ~/.config/claude-auth-sync/claude-oauth.env");
  t.throws(() => new UserHome(user).write(DIR, "claude-oauth.env", "x\n"), InvalidDataError);
});

t.test("a huge file is refused without reading it all", async (t) => {
  if (!requireRoot(t)) return;
  const user = createTestUser(t);
  asUserShell(user, "mkdir -p ~/.claude && truncate -s 50M ~/.claude/.credentials.json");
  t.throws(() => new UserHome(user).read([".claude"], ".credentials.json"), /larger than/);
});

t.test("temp files left by a killed run are cleaned by the next write", async (t) => {
  if (!requireRoot(t)) return;
  const user = createTestUser(t);
  const home = new UserHome(user);
  home.write(DIR, "claude-oauth.env", "a\n");
  const leftover = join(user.home, ".config/claude-auth-sync/.claude-oauth.env.tmp-999999-abc");
  asUserShell(user, `echo partial > ${leftover}`);
  home.write(DIR, "claude-oauth.env", "b\n");
  t.notOk(existsSync(leftover), "leftover of a dead process removed");
});

t.test(
  "a pass that writes nothing sweeps what killed runs left; another host's live temp is kept",
  async (t) => {
    if (!requireRoot(t)) return;
    const user = createTestUser(t);
    const home = new UserHome(user);
    home.write(DIR, "state.json", "{}\n");
    const dir = join(user.home, ".config/claude-auth-sync");
    const dead = join(dir, `.state.json.tmp-${hostname()}-999999-abc`);
    const legacy = join(dir, ".notice.tmp-999998-abc");
    const live = join(dir, `.state.json.tmp-${hostname()}-${process.pid}-abc`);
    const elsewhere = join(dir, ".state.json.tmp-other-host.example-999999-abc");
    const unrelated = join(dir, "notes.tmp-1");
    asUserShell(
      user,
      `for f in ${dead} ${legacy} ${live} ${elsewhere} ${unrelated}; do echo partial > "$f"; done`,
    );
    t.equal(home.sweepTemps(DIR), 2, "two removed");
    t.notOk(existsSync(dead), "this host, dead process: removed");
    t.notOk(existsSync(legacy), "an older version's name, dead process: removed");
    t.ok(existsSync(live), "this host, live process: kept");
    t.ok(existsSync(elsewhere), "another host (an NFS home), young: kept, its run may be writing");
    t.ok(existsSync(unrelated), "not one of ours: kept");
    asUserShell(user, `touch -d '2 minutes ago' ${elsewhere}`);
    t.equal(home.sweepTemps(DIR), 1, "another host's temp once it is old");
    t.notOk(existsSync(elsewhere));
  },
);

t.test("our own directory found world-writable is made 0700 again before a write", async (t) => {
  if (!requireRoot(t)) return;
  const user = createTestUser(t);
  asUserShell(user, "mkdir -p ~/.config/claude-auth-sync && chmod 777 ~/.config/claude-auth-sync");
  new UserHome(user).write(DIR, "claude-oauth.env", "CLAUDE_CODE_OAUTH_TOKEN=x\n");
  t.equal(statSync(join(user.home, ".config/claude-auth-sync")).mode & 0o777, 0o700);
  t.equal(
    statSync(join(user.home, ".config")).mode & 0o777,
    0o755,
    "~/.config itself is left as the user made it",
  );
});
