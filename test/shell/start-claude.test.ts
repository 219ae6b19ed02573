// shell/start-claude.sh with a fake `claude` first on PATH, run as a real user.
import { copyFileSync, existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { createTestUser, requireRoot } from "../helpers/users.js";
import {
  asUser,
  ENV_FILE,
  fakeToken,
  fingerprint,
  gate,
  pwnedPath,
  removeAsUser,
  requireMountNamespace,
  requireTools,
  SAFE_PATH,
  snippetSh,
  stagingDir,
  startClaudeSh,
  writeAsUser,
} from "./harness.js";

// Prints what claude would see: the token, leaked helper variables, then every argument NUL-terminated.
const FAKE_CLAUDE = `#!/bin/sh
printf 'token=%s\\n' "\${CLAUDE_CODE_OAUTH_TOKEN-<unset>}"
printf 'helpers=%s\\n' "$(env | grep -c '^__' || :)"
for arg in "$@"; do printf '%s\\0' "$arg"; done
exit "\${FAKE_CLAUDE_EXIT:-0}"
`;

interface ClaudeSaw {
  token: string;
  helpers: string;
  args: string[];
}

function parse(stdout: string): ClaudeSaw {
  const [tokenLine = "", helpersLine = "", ...rest] = stdout.split("\n");
  const args = rest.join("\n").split("\0");
  args.pop(); // after the last NUL
  return { token: tokenLine.replace(/^token=/, ""), helpers: helpersLine.replace(/^helpers=/, ""), args };
}

if (requireRoot(gate(t)) && requireTools(t, ["setpriv"])) {
  const user = createTestUser(t, "casstart");
  const token = fakeToken();
  const fakeBin = stagingDir(t, {});
  writeFileSync(join(fakeBin, "claude"), FAKE_CLAUDE, { mode: 0o755 });
  const path = `${fakeBin}:${SAFE_PATH}`;

  const startClaude = (args: string[] = [], env: Record<string, string | undefined> = {}) =>
    asUser(user, [startClaudeSh, ...args], { env: { PATH: path, ...env } });

  t.beforeEach(() => writeAsUser(user, ENV_FILE, `CLAUDE_CODE_OAUTH_TOKEN=${token}\n`));

  t.test("the token from the env file reaches claude, and no helper variable does", async (t) => {
    const run = startClaude();
    t.same(parse(run.stdout), { token, helpers: "0", args: [] });
    t.same([run.stderr, run.status], ["", 0]);
  });

  t.test("arguments reach claude unchanged", async (t) => {
    const args = [
      "-p",
      "hello world",
      `it's "quoted"`,
      "",
      "$HOME $(touch /tmp/x) `id`",
      "*",
      "a\\b",
      "--flag=x  y",
      "line\nbreak",
      "-",
    ];
    t.same(parse(startClaude(args).stdout).args, args);
  });

  t.test("claude's exit code is start-claude's exit code", async (t) => {
    for (const code of [0, 1, 3, 42]) {
      t.equal(startClaude([], { FAKE_CLAUDE_EXIT: String(code) }).status, code, `exit ${code}`);
    }
  });

  t.test("without an env file claude runs on its own credentials: no variable, no message", async (t) => {
    removeAsUser(user, ENV_FILE);
    const run = startClaude(["-p", "x"]);
    t.same(parse(run.stdout), { token: "<unset>", helpers: "0", args: ["-p", "x"] });
    t.same([run.stderr, run.status], ["", 0]);
  });

  t.test("a token the user set themselves wins over the env file", async (t) => {
    const own = fakeToken(50);
    t.equal(parse(startClaude([], { CLAUDE_CODE_OAUTH_TOKEN: own }).stdout).token, own);
  });

  t.test(
    "a token a shell exported earlier follows the env file: refreshed, or withdrawn once it is gone",
    async (t) => {
      const old = fakeToken(70);
      const stale = { CLAUDE_CODE_OAUTH_TOKEN: old, CLAUDE_AUTH_SYNC_EXPORTED: fingerprint(old) };
      t.equal(parse(startClaude([], stale).stdout).token, token, "rotated: claude gets the file's token");
      removeAsUser(user, ENV_FILE);
      t.equal(parse(startClaude([], stale).stdout).token, "<unset>", "disabled: claude gets none");
    },
  );

  t.test("a malformed env file runs nothing and passes nothing", async (t) => {
    const pwned = pwnedPath();
    t.teardown(() => rmSync(pwned, { force: true }));
    for (const content of [
      `CLAUDE_CODE_OAUTH_TOKEN=$(touch ${pwned})\n`,
      `CLAUDE_CODE_OAUTH_TOKEN=${token}\ntouch ${pwned}\n`,
    ]) {
      writeAsUser(user, ENV_FILE, content);
      const run = startClaude();
      t.same([parse(run.stdout).token, run.status], ["<unset>", 0]);
      t.notOk(existsSync(pwned), "nothing was executed");
    }
  });

  t.test("installed as /usr/local/bin/start-claude it uses /etc/profile.d/claude-auth.sh", async (t) => {
    if (!requireMountNamespace(t)) return;
    const bin = stagingDir(t, { "start-claude": startClaudeSh, claude: join(fakeBin, "claude") });
    const profileD = stagingDir(t, { "claude-auth.sh": snippetSh });
    const run = asUser(user, ["start-claude", "--version"], {
      env: { PATH: `${bin}:${SAFE_PATH}` },
      mounts: [{ source: profileD, target: "/etc/profile.d" }],
    });
    t.same(parse(run.stdout), { token, helpers: "0", args: ["--version"] });
  });

  t.test("installed with the snippet in ../share/claude-auth-sync/ it uses that one", async (t) => {
    if (!requireMountNamespace(t)) return;
    const prefix = stagingDir(t, {});
    mkdirSync(join(prefix, "bin"), { mode: 0o755 });
    mkdirSync(join(prefix, "share", "claude-auth-sync"), { recursive: true, mode: 0o755 });
    const bin = join(prefix, "bin");
    copyFileSync(startClaudeSh, join(bin, "start-claude"));
    writeFileSync(join(bin, "claude"), FAKE_CLAUDE, { mode: 0o755 });
    copyFileSync(snippetSh, join(prefix, "share", "claude-auth-sync", "claude-auth.sh"));
    const emptyProfileD = stagingDir(t, {});
    const run = asUser(user, ["start-claude"], {
      env: { PATH: `${bin}:${SAFE_PATH}` },
      mounts: [{ source: emptyProfileD, target: "/etc/profile.d" }],
    });
    t.equal(parse(run.stdout).token, token);
  });

  t.test("without any snippet it says why on stderr and still starts claude", async (t) => {
    if (!requireMountNamespace(t)) return;
    const bin = stagingDir(t, { "start-claude": startClaudeSh, claude: join(fakeBin, "claude") });
    const emptyProfileD = stagingDir(t, {});
    const options = {
      env: { PATH: `${bin}:${SAFE_PATH}`, FAKE_CLAUDE_EXIT: "7" },
      mounts: [{ source: emptyProfileD, target: "/etc/profile.d" }],
    };
    const withFile = asUser(user, ["start-claude", "-p", "x"], options);
    t.same(
      [parse(withFile.stdout).token, parse(withFile.stdout).args, withFile.status],
      ["<unset>", ["-p", "x"], 7],
    );
    t.match(withFile.stderr, /cannot load .*claude-oauth\.env/, "names the env file it could not load");
    t.match(withFile.stderr, /Reinstall claude-auth-sync/, "says what to do");
    removeAsUser(user, ENV_FILE);
    const withoutFile = asUser(user, ["start-claude"], options);
    t.same([withoutFile.stderr, withoutFile.status], ["", 7], "no env file, nothing to say");
  });

  t.test("without claude on PATH it exits 127 and says what to install", async (t) => {
    const run = startClaude([], { PATH: stagingDir(t, {}) }); // a PATH with nothing on it
    t.equal(run.status, 127);
    t.match(run.stderr, /claude is not on PATH.*@anthropic-ai\/claude-code/);
  });
}
