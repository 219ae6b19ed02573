// shell/claude-auth.fish in real fish, run as a real user: the same rules as the sh snippet.
import { chmodSync, chownSync, existsSync, rmSync } from "node:fs";
import t from "tap";
import { fish } from "../../src/shell/fish.js";
import { addBlock } from "../../src/shell/rc-block.js";
import { createTestUser, requireRoot } from "../helpers/users.js";
import {
  asUser,
  ENV_FILE,
  fakeToken,
  fingerprint,
  gate,
  NOTICE_FILE,
  pwnedPath,
  removeAsUser,
  requireMountNamespace,
  requireTools,
  snippetFish,
  stagingDir,
  writeAsUser,
} from "./harness.js";

const SHOW = "printenv CLAUDE_CODE_OAUTH_TOKEN; or echo '<unset>'";
const NOTICE = "claude-auth: your Claude login needs you: run `claude` and /login (SSO)";

if (requireRoot(gate(t)) && requireTools(t, ["fish", "setpriv"])) {
  const user = createTestUser(t, "casfish");
  const token = fakeToken();

  // -N: no config files, so only the snippet under test is sourced ($argv[1] is its path).
  const source = (script: string, env: Record<string, string | undefined> = {}, flags: string[] = []) =>
    asUser(user, ["fish", "-N", ...flags, "-c", script, snippetFish], { env });

  t.beforeEach(() => {
    writeAsUser(user, ENV_FILE, `CLAUDE_CODE_OAUTH_TOKEN=${token}\n`);
    removeAsUser(user, NOTICE_FILE);
  });

  t.test("fish --no-execute parses the snippet", async (t) => {
    const run = asUser(user, ["fish", "--no-execute", snippetFish]);
    t.same([run.status, run.stderr], [0, ""]);
  });

  t.test("sourcing the snippet exports the token", async (t) => {
    const run = source(`source $argv[1]; ${SHOW}`);
    t.same([run.stdout, run.stderr, run.status], [`${token}\n`, "", 0]);
  });

  t.test("fish gets the token from /etc/fish/conf.d", async (t) => {
    if (!requireMountNamespace(t)) return;
    const confD = stagingDir(t, { "claude-auth.fish": snippetFish });
    const run = asUser(user, ["fish", "-c", SHOW], {
      mounts: [{ source: confD, target: "/etc/fish/conf.d" }],
    });
    t.equal(run.stdout, `${token}\n`);
  });

  t.test("interactive fish gets the token from the block in config.fish", async (t) => {
    writeAsUser(user, ".config/fish/config.fish", addBlock("", fish, snippetFish));
    const run = asUser(user, ["fish", "-i", "-c", SHOW]);
    t.equal(run.stdout, `${token}\n`, "config.fish block");
    removeAsUser(user, ".config/fish/config.fish");
  });

  t.test("re-sourcing after the file is removed withdraws the token", async (t) => {
    const run = source(
      `source $argv[1]; ${SHOW}; rm $HOME/${ENV_FILE}; source $argv[1]; ${SHOW}; printenv CLAUDE_AUTH_SYNC_EXPORTED; or echo '<no marker>'`,
    );
    t.equal(run.stdout, `${token}\n<unset>\n<no marker>\n`);
  });

  t.test("a token the user set themselves is never replaced or withdrawn", async (t) => {
    const own = fakeToken(60);
    const inherited = source(`source $argv[1]; ${SHOW}; rm $HOME/${ENV_FILE}; source $argv[1]; ${SHOW}`, {
      CLAUDE_CODE_OAUTH_TOKEN: own,
    });
    t.equal(inherited.stdout, `${own}\n${own}\n`, "an inherited own token survives");
    writeAsUser(user, ENV_FILE, `CLAUDE_CODE_OAUTH_TOKEN=${token}\n`);
    const setLater = source(
      `source $argv[1]; set -gx CLAUDE_CODE_OAUTH_TOKEN ${own}; source $argv[1]; ${SHOW}; rm $HOME/${ENV_FILE}; source $argv[1]; ${SHOW}`,
    );
    t.equal(setLater.stdout, `${own}\n${own}\n`, "a token set over ours survives");
  });

  t.test("a rotated env file replaces the token the snippet exported", async (t) => {
    const rotated = fakeToken(90);
    const run = asUser(user, [
      "fish",
      "-N",
      "-c",
      `source $argv[1]; printf 'CLAUDE_CODE_OAUTH_TOKEN=%s\\n' $argv[2] >$HOME/${ENV_FILE}; source $argv[1]; ${SHOW}; printenv CLAUDE_AUTH_SYNC_EXPORTED`,
      snippetFish,
      rotated,
    ]);
    t.equal(run.stdout, `${rotated}\n${fingerprint(rotated)}\n`);
  });

  t.test("a fish started from an old session drops the token that session exported", async (t) => {
    removeAsUser(user, ENV_FILE);
    const run = source(`source $argv[1]; ${SHOW}`, {
      CLAUDE_CODE_OAUTH_TOKEN: token,
      CLAUDE_AUTH_SYNC_EXPORTED: fingerprint(token),
    });
    t.equal(run.stdout, "<unset>\n");
  });

  t.test("malformed env files never run anything and export nothing", async (t) => {
    const pwned = pwnedPath();
    t.teardown(() => rmSync(pwned, { force: true }));
    const good = `CLAUDE_CODE_OAUTH_TOKEN=${token}`;
    const malformed: Record<string, string | Buffer> = {
      "a second line": `${good}\nCLAUDE_CODE_OAUTH_TOKEN=${fakeToken()}\n`,
      "a trailing empty line": `${good}\n\n`,
      "a command on the second line": `${good}\ntouch ${pwned}\n`,
      "command substitution": `CLAUDE_CODE_OAUTH_TOKEN=(touch ${pwned})\n`,
      "sh command substitution": `CLAUDE_CODE_OAUTH_TOKEN=sk-ant-oat01-abc$(touch ${pwned})\n`,
      backticks: `CLAUDE_CODE_OAUTH_TOKEN=sk-ant-oat01-\`touch ${pwned}\`\n`,
      "a semicolon": `${good}; touch ${pwned}\n`,
      "double quotes": `CLAUDE_CODE_OAUTH_TOKEN="${token}"\n`,
      "single quotes": `CLAUDE_CODE_OAUTH_TOKEN='${token}'\n`,
      "a trailing space": `${good} \n`,
      "a leading space": ` ${good}\n`,
      "wrong key": `ANTHROPIC_API_KEY=${token}\n`,
      "lower-case key": `claude_code_oauth_token=${token}\n`,
      "a non-ASCII letter": `CLAUDE_CODE_OAUTH_TOKEN=sk-ant-oat01-abcdéfghij\n`,
      "a NUL byte": Buffer.from(`${good}\0x\n`),
      CRLF: `${good}\r\n`,
      "19 characters": `CLAUDE_CODE_OAUTH_TOKEN=${fakeToken(19)}\n`,
      "513 characters": `CLAUDE_CODE_OAUTH_TOKEN=${fakeToken(513)}\n`,
      "an empty file": "",
    };
    for (const [name, content] of Object.entries(malformed)) {
      writeAsUser(user, ENV_FILE, content);
      const run = source(`source $argv[1]; ${SHOW}`);
      t.same(
        [run.stdout, run.stderr, run.status],
        ["<unset>\n", "", 0],
        `${name}: nothing exported, nothing said`,
      );
      t.notOk(existsSync(pwned), `${name}: nothing was executed`);
    }
  });

  t.test("well-formed edge cases are accepted", async (t) => {
    for (const value of [fakeToken(20), fakeToken(512)]) {
      writeAsUser(user, ENV_FILE, `CLAUDE_CODE_OAUTH_TOKEN=${value}\n`);
      t.equal(source(`source $argv[1]; ${SHOW}`).stdout, `${value}\n`, `${value.length} characters`);
    }
    writeAsUser(user, ENV_FILE, `CLAUDE_CODE_OAUTH_TOKEN=${token}`);
    t.equal(source(`source $argv[1]; ${SHOW}`).stdout, `${token}\n`, "no final newline");
  });

  t.test("an env file not owned by the user is ignored", async (t) => {
    // As if root had written it into the user's directory, readable: only the ownership check can refuse it.
    chownSync(`${user.home}/${ENV_FILE}`, 0, 0);
    chmodSync(`${user.home}/${ENV_FILE}`, 0o644);
    t.teardown(() => rmSync(`${user.home}/${ENV_FILE}`, { force: true }));
    t.equal(source(`source $argv[1]; ${SHOW}`).stdout, "<unset>\n");
  });

  t.test("an absent file, a missing directory or no HOME is silent", async (t) => {
    removeAsUser(user, ENV_FILE);
    const absent = source(`source $argv[1]; echo after $status`);
    t.same([absent.stdout, absent.stderr, absent.status], ["after 0\n", "", 0], "no env file");
    rmSync(`${user.home}/.config`, { recursive: true, force: true });
    const noDir = source(`source $argv[1]; echo after $status`);
    t.same([noDir.stdout, noDir.stderr, noDir.status], ["after 0\n", "", 0], "no config dir");
    writeAsUser(user, ENV_FILE, `CLAUDE_CODE_OAUTH_TOKEN=${token}\n`);
    const noHome = source(`set -e HOME; source $argv[1]; echo after $status; ${SHOW}`, { HOME: undefined });
    t.same([noHome.stdout, noHome.stderr, noHome.status], ["after 0\n<unset>\n", "", 0], "no HOME");
  });

  t.test("sourcing leaves no helper variables or functions behind", async (t) => {
    const run = source(
      "set -l before (set -n) before fns; set -l fns (functions -a -n); source $argv[1]; for v in (set -n); contains -- $v $before; or echo $v; end; for f in (functions -a -n); contains -- $f $fns; or echo $f; end",
    );
    t.same(run.stdout.trim().split("\n").sort(), ["CLAUDE_AUTH_SYNC_EXPORTED", "CLAUDE_CODE_OAUTH_TOKEN"]);
  });

  t.test("the notice shows on stderr in interactive fish only, once per shell", async (t) => {
    writeAsUser(user, NOTICE_FILE, `${NOTICE}\n`);
    const count = (text: string) => text.split(NOTICE).length - 1;
    const interactive = source("source $argv[1]; source $argv[1]", {}, ["-i"]);
    t.equal(count(interactive.stderr), 1, "fish -i shows it once");
    t.equal(count(interactive.stdout), 0, "stdout stays clean");
    const plain = source("source $argv[1]");
    t.equal(count(plain.stderr + plain.stdout), 0, "fish -c shows nothing");
  });
}
