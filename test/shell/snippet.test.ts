// shell/claude-auth.sh in the real shells it is written for (dash, bash, zsh, sh), run as a real user.
import { chmodSync, chownSync, existsSync, rmSync } from "node:fs";
import t from "tap";
import { bash } from "../../src/shell/bash.js";
import { addBlock } from "../../src/shell/rc-block.js";
import { zsh } from "../../src/shell/zsh.js";
import { createTestUser, requireRoot } from "../helpers/users.js";
import {
  asUser,
  ENV_FILE,
  fakeToken,
  fingerprint,
  gate,
  NOTICE_FILE,
  pwnedPath,
  readAsUser,
  removeAsUser,
  requireMountNamespace,
  requireTools,
  snippetSh,
  stagingDir,
  writeAsUser,
} from "./harness.js";

const SHELLS = ["dash", "bash", "zsh", "sh"] as const;
const SHOW = 'printenv CLAUDE_CODE_OAUTH_TOKEN || echo "<unset>"';
const NOTICE = "claude-auth: your Claude login needs you: run `claude` and /login (SSO)";

if (requireRoot(gate(t)) && requireTools(t, ["dash", "bash", "zsh", "setpriv"])) {
  const user = createTestUser(t, "cassh");
  const token = fakeToken();

  const source = (shell: string, script: string, env: Record<string, string | undefined> = {}) =>
    asUser(user, [shell, "-c", script, shell, snippetSh], { env });

  t.beforeEach(() => {
    writeAsUser(user, ENV_FILE, `CLAUDE_CODE_OAUTH_TOKEN=${token}\n`);
    removeAsUser(user, NOTICE_FILE);
  });

  t.test("sourcing the snippet exports the token in dash, bash, zsh and sh", async (t) => {
    for (const shell of SHELLS) {
      const run = source(shell, `. "$1"; ${SHOW}`);
      t.equal(run.stdout, `${token}\n`, `${shell} sees the token`);
      t.equal(run.stderr, "", `${shell} prints nothing`);
      t.equal(run.status, 0);
    }
  });

  t.test("login bash, dash and sh get the token from /etc/profile.d", async (t) => {
    if (!requireMountNamespace(t)) return;
    const profileD = stagingDir(t, { "claude-auth.sh": snippetSh });
    for (const shell of ["bash", "dash", "sh"]) {
      const run = asUser(user, [shell, "-l", "-c", SHOW], {
        mounts: [{ source: profileD, target: "/etc/profile.d" }],
      });
      t.equal(run.stdout, `${token}\n`, `${shell} -l sees the token`);
      t.equal(run.status, 0);
    }
  });

  t.test("interactive bash and zsh get the token from the block in ~/.bashrc and ~/.zshenv", async (t) => {
    writeAsUser(user, ".bashrc", addBlock(readAsUser(user, ".bashrc"), bash, snippetSh));
    writeAsUser(user, ".zshenv", addBlock("", zsh, snippetSh));
    const bashRun = asUser(user, ["bash", "-i", "-c", SHOW]);
    t.equal(bashRun.stdout, `${token}\n`, "bash -i sees the token");
    const zshRun = asUser(user, ["zsh", "-i", "-c", SHOW]);
    t.equal(zshRun.stdout, `${token}\n`, "zsh -i sees the token");
    t.notMatch(readAsUser(user, ".bashrc"), /sk-ant-/, "the token never enters ~/.bashrc");
    t.notMatch(readAsUser(user, ".zshenv"), /sk-ant-/, "the token never enters ~/.zshenv");
    // Every later zsh of this user would source it too: the other tests source the snippet themselves.
    removeAsUser(user, ".zshenv");
  });

  t.test("re-sourcing after `claude-auth disable` removed the file withdraws the token", async (t) => {
    for (const shell of SHELLS) {
      const run = source(
        shell,
        `. "$1"; ${SHOW}; rm "$HOME/${ENV_FILE}"; . "$1"; ${SHOW}; printenv CLAUDE_AUTH_SYNC_EXPORTED || echo "<no marker>"`,
      );
      t.equal(run.stdout, `${token}\n<unset>\n<no marker>\n`, `${shell} withdraws the token and its marker`);
      writeAsUser(user, ENV_FILE, `CLAUDE_CODE_OAUTH_TOKEN=${token}\n`);
    }
  });

  t.test("a token the user set themselves is never replaced or withdrawn", async (t) => {
    const own = fakeToken(60);
    for (const shell of SHELLS) {
      const inherited = source(shell, `. "$1"; ${SHOW}; rm "$HOME/${ENV_FILE}"; . "$1"; ${SHOW}`, {
        CLAUDE_CODE_OAUTH_TOKEN: own,
      });
      t.equal(inherited.stdout, `${own}\n${own}\n`, `${shell}: an inherited own token survives`);
      writeAsUser(user, ENV_FILE, `CLAUDE_CODE_OAUTH_TOKEN=${token}\n`);

      const setLater = source(
        shell,
        `. "$1"; export CLAUDE_CODE_OAUTH_TOKEN=${own}; . "$1"; ${SHOW}; rm "$HOME/${ENV_FILE}"; . "$1"; ${SHOW}`,
      );
      t.equal(setLater.stdout, `${own}\n${own}\n`, `${shell}: a token set over ours survives`);
      writeAsUser(user, ENV_FILE, `CLAUDE_CODE_OAUTH_TOKEN=${token}\n`);
    }
  });

  t.test("a rotated env file replaces the token the snippet exported", async (t) => {
    const rotated = fakeToken(90);
    for (const shell of SHELLS) {
      const run = asUser(user, [
        shell,
        "-c",
        `. "$1"; printf 'CLAUDE_CODE_OAUTH_TOKEN=%s\\n' "$2" >"$HOME/${ENV_FILE}"; . "$1"; ${SHOW}; printenv CLAUDE_AUTH_SYNC_EXPORTED`,
        shell,
        snippetSh,
        rotated,
      ]);
      t.equal(run.stdout, `${rotated}\n${fingerprint(rotated)}\n`, `${shell} follows the rotation`);
      writeAsUser(user, ENV_FILE, `CLAUDE_CODE_OAUTH_TOKEN=${token}\n`);
    }
  });

  t.test("a shell started from an old session (tmux) drops the token that session exported", async (t) => {
    removeAsUser(user, ENV_FILE);
    for (const shell of SHELLS) {
      const run = source(shell, `. "$1"; ${SHOW}`, {
        CLAUDE_CODE_OAUTH_TOKEN: token,
        CLAUDE_AUTH_SYNC_EXPORTED: fingerprint(token),
      });
      t.equal(run.stdout, "<unset>\n", `${shell} withdraws the inherited token`);
    }
  });

  t.test("malformed env files never run anything and export nothing", async (t) => {
    const pwned = pwnedPath();
    t.teardown(() => rmSync(pwned, { force: true }));
    const good = `CLAUDE_CODE_OAUTH_TOKEN=${token}`;
    const malformed: Record<string, string | Buffer> = {
      "a second line": `${good}\nCLAUDE_CODE_OAUTH_TOKEN=${fakeToken()}\n`,
      "a trailing empty line": `${good}\n\n`,
      "a command on the second line": `${good}\ntouch ${pwned}\n`,
      "a second line without newline": `${good}\ntouch ${pwned}`,
      "command substitution": `CLAUDE_CODE_OAUTH_TOKEN=$(touch ${pwned})\n`,
      "command substitution after the prefix": `CLAUDE_CODE_OAUTH_TOKEN=sk-ant-oat01-abc$(touch ${pwned})\n`,
      backticks: `CLAUDE_CODE_OAUTH_TOKEN=sk-ant-oat01-\`touch ${pwned}\`\n`,
      "a semicolon": `${good};touch ${pwned}\n`,
      "double quotes": `CLAUDE_CODE_OAUTH_TOKEN="${token}"\n`,
      "single quotes": `CLAUDE_CODE_OAUTH_TOKEN='${token}'\n`,
      "a space before =": `CLAUDE_CODE_OAUTH_TOKEN =${token}\n`,
      "a trailing space": `${good} \n`,
      "a leading space": ` ${good}\n`,
      "export prefix": `export ${good}\n`,
      "wrong key": `ANTHROPIC_API_KEY=${token}\n`,
      "key with a suffix": `CLAUDE_CODE_OAUTH_TOKENX=${token}\n`,
      "lower-case key": `claude_code_oauth_token=${token}\n`,
      "refresh token prefix": `CLAUDE_CODE_OAUTH_TOKEN=sk-ant-ort01-${token.slice(13)}\n`,
      "a variable reference": `CLAUDE_CODE_OAUTH_TOKEN=sk-ant-oat01-\${HOME}abcdefgh\n`,
      "a glob": `CLAUDE_CODE_OAUTH_TOKEN=sk-ant-oat01-*\n`,
      "a non-ASCII letter": `CLAUDE_CODE_OAUTH_TOKEN=sk-ant-oat01-abcdéfghij\n`,
      CRLF: `${good}\r\n`,
      "19 characters": `CLAUDE_CODE_OAUTH_TOKEN=${fakeToken(19)}\n`,
      "513 characters": `CLAUDE_CODE_OAUTH_TOKEN=${fakeToken(513)}\n`,
      "the bare prefix": "CLAUDE_CODE_OAUTH_TOKEN=sk-ant-oat01-\n",
      "an empty value": "CLAUDE_CODE_OAUTH_TOKEN=\n",
      "an empty file": "",
      "a lone newline": "\n",
    };
    for (const [name, content] of Object.entries(malformed)) {
      writeAsUser(user, ENV_FILE, content);
      for (const shell of SHELLS) {
        const run = source(shell, `set -eu; . "$1"; ${SHOW}`);
        t.same(
          { stdout: run.stdout, stderr: run.stderr, status: run.status },
          { stdout: "<unset>\n", stderr: "", status: 0 },
          `${name}: ${shell} exports nothing and says nothing`,
        );
      }
      t.notOk(existsSync(pwned), `${name}: nothing was executed`);
    }
  });

  t.test("well-formed edge cases are accepted", async (t) => {
    const accepted: Record<string, string> = {
      "20 characters": fakeToken(20),
      "512 characters": fakeToken(512),
      "- and _ in the token": "sk-ant-oat01-a-b_c-d_e-f_g",
    };
    for (const [name, value] of Object.entries(accepted)) {
      writeAsUser(user, ENV_FILE, `CLAUDE_CODE_OAUTH_TOKEN=${value}\n`);
      for (const shell of SHELLS)
        t.equal(source(shell, `. "$1"; ${SHOW}`).stdout, `${value}\n`, `${name}: ${shell}`);
    }
    writeAsUser(user, ENV_FILE, `CLAUDE_CODE_OAUTH_TOKEN=${token}`);
    for (const shell of SHELLS) {
      t.equal(source(shell, `. "$1"; ${SHOW}`).stdout, `${token}\n`, `no final newline: ${shell}`);
    }
  });

  t.test("an env file not owned by the user is ignored", async (t) => {
    // As if root had written it into the user's directory, readable: only the ownership check can refuse it.
    chownSync(`${user.home}/${ENV_FILE}`, 0, 0);
    chmodSync(`${user.home}/${ENV_FILE}`, 0o644);
    t.teardown(() => rmSync(`${user.home}/${ENV_FILE}`, { force: true }));
    for (const shell of SHELLS) t.equal(source(shell, `. "$1"; ${SHOW}`).stdout, "<unset>\n", shell);
  });

  t.test("under set -eu an absent env file or an unset HOME is silent and the shell goes on", async (t) => {
    removeAsUser(user, ENV_FILE);
    for (const shell of SHELLS) {
      const absent = source(shell, `set -eu; . "$1"; echo "after $?"`);
      t.same([absent.stdout, absent.stderr, absent.status], ["after 0\n", "", 0], `${shell}: no env file`);
    }
    rmSync(`${user.home}/.config`, { recursive: true, force: true });
    for (const shell of SHELLS) {
      const noDir = source(shell, `set -eu; . "$1"; echo "after $?"`);
      t.same([noDir.stdout, noDir.stderr, noDir.status], ["after 0\n", "", 0], `${shell}: no config dir`);
    }
    writeAsUser(user, ENV_FILE, `CLAUDE_CODE_OAUTH_TOKEN=${token}\n`);
    for (const shell of SHELLS) {
      // zsh fills in an unset HOME from passwd at start-up, so HOME is also unset inside the script.
      const noHome = source(shell, `unset HOME; set -eu; . "$1"; echo "after $?"; ${SHOW}`, {
        HOME: undefined,
      });
      t.same(
        [noHome.stdout, noHome.stderr, noHome.status],
        ["after 0\n<unset>\n", "", 0],
        `${shell}: no HOME`,
      );
    }
  });

  t.test("zsh with nounset, err_exit and unusual options sources it cleanly", async (t) => {
    const run = asUser(user, [
      "zsh",
      "-c",
      `setopt nounset err_exit extended_glob ksh_arrays sh_word_split glob_subst no_case_match; . "$1"; ${SHOW}; rm "$HOME/${ENV_FILE}"; . "$1"; ${SHOW}; echo end`,
      "zsh",
      snippetSh,
    ]);
    t.same([run.stdout, run.stderr, run.status], [`${token}\n<unset>\nend\n`, "", 0]);
  });

  t.test("sourcing leaves no helper variables or functions behind", async (t) => {
    const bashRun = source(
      "bash",
      'compgen -v | sort >/tmp/v0.$$; compgen -A function >/tmp/f0.$$; . "$1"; compgen -v | sort | comm -13 /tmp/v0.$$ -; compgen -A function | comm -13 /tmp/f0.$$ -; rm -f /tmp/v0.$$ /tmp/f0.$$',
    );
    t.same(
      bashRun.stdout.trim().split("\n").sort(),
      ["CLAUDE_AUTH_SYNC_EXPORTED", "CLAUDE_CODE_OAUTH_TOKEN"],
      "bash",
    );
    const zshRun = source(
      "zsh",
      // biome-ignore lint/suspicious/noTemplateCurlyInString: zsh parameter expansion, not a template
      'before=(${(k)parameters} before fns); fns=(${(k)functions}); . "$1"; print -l ${${(k)parameters}:|before}; print -l ${${(k)functions}:|fns}',
    );
    t.same(
      zshRun.stdout.trim().split("\n").sort(),
      ["CLAUDE_AUTH_SYNC_EXPORTED", "CLAUDE_CODE_OAUTH_TOKEN"],
      "zsh",
    );
  });

  t.test("the notice shows on stderr in interactive shells only, once per shell", async (t) => {
    writeAsUser(user, NOTICE_FILE, `${NOTICE}\n`);
    writeAsUser(user, ".bashrc", addBlock(readAsUser(user, ".bashrc"), bash, snippetSh));
    writeAsUser(user, ".zshenv", addBlock("", zsh, snippetSh));
    const count = (text: string) => text.split(NOTICE).length - 1;

    for (const shell of ["bash", "zsh"]) {
      const interactive = asUser(user, [shell, "-i", "-c", "true"]);
      t.equal(count(interactive.stderr), 1, `${shell} -i shows the notice`);
      t.equal(count(interactive.stdout), 0, `${shell} -i keeps stdout clean`);
      const plain = source(shell, '. "$1"');
      t.equal(count(plain.stderr + plain.stdout), 0, `${shell} -c shows nothing`);
      const thrice = asUser(user, [shell, "-i", "-c", '. "$1"; . "$1"', shell, snippetSh]);
      t.equal(count(thrice.stderr), 1, `${shell} -i: rc block plus two more sources show it once`);
    }
    const dashInteractive = asUser(user, ["dash", "-i", "-c", `. "${snippetSh}"`]);
    t.equal(count(dashInteractive.stderr), 1, "dash -i shows the notice");
    const dashPlain = source("dash", '. "$1"');
    t.equal(count(dashPlain.stderr), 0, "dash -c shows nothing");
    removeAsUser(user, NOTICE_FILE);
    removeAsUser(user, ".zshenv");
  });

  t.test("a login shell sourcing it twice (profile.d, then ~/.bashrc) shows the notice once", async (t) => {
    if (!requireMountNamespace(t)) return;
    writeAsUser(user, NOTICE_FILE, `${NOTICE}\n`);
    writeAsUser(user, ".bashrc", addBlock(readAsUser(user, ".bashrc"), bash, snippetSh));
    const count = (text: string) => text.split(NOTICE).length - 1;
    const profileD = stagingDir(t, { "claude-auth.sh": snippetSh });
    const mounts = [{ source: profileD, target: "/etc/profile.d" }];
    const loginInteractive = asUser(user, ["bash", "-l", "-i", "-c", "true"], { mounts });
    t.equal(
      count(loginInteractive.stderr),
      1,
      "bash -l -i (profile.d and ~/.bashrc both source it) shows it once",
    );
    const loginOnly = asUser(user, ["bash", "-l", "-c", "true"], { mounts });
    t.equal(count(loginOnly.stderr), 0, "bash -l -c (non-interactive login) shows nothing");
  });
}
