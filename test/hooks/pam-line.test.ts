// The shipped PAM line: its text against the contract, then its behaviour in a real PAM stack
// (pamtester + pam_exec.so), with the binary swapped for a stub that records how it was run.
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import t, { type Test } from "tap";
import { createTestUser, requireRoot } from "../helpers/users.js";

const PAM_FILE = join(dirname(fileURLToPath(import.meta.url)), "../../hooks/pam/claude-auth");
const CONTRACT_LINE = "session optional pam_exec.so type=open_session quiet /usr/local/bin/claude-auth pam";
const CONFIG_ARGS = "--config /etc/claude-auth-sync/config.env";
const PAMTESTER = "/usr/bin/pamtester";

/** The lines PAM reads: everything but blank lines and comments. */
function pamLines(text: string): string[] {
  return text
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line !== "" && !line.startsWith("#"));
}

/** The one line of the file, or a reason why the file is not a single contract line. */
function checkPamFile(text: string): { line: string } | { problem: string } {
  const lines = pamLines(text);
  if (lines.length !== 1) return { problem: `${lines.length} non-comment lines, want exactly 1` };
  const line = lines[0] ?? "";
  if (line !== CONTRACT_LINE && !line.startsWith(`${CONTRACT_LINE} `)) {
    return { problem: `${JSON.stringify(line)} does not start with the contract line` };
  }
  return { line };
}

function gate(t: Test) {
  return {
    skip: (why: string) => t.plan(0, why),
    fail: (why: string) => {
      t.fail(why);
    },
  };
}

t.test("the PAM file holds exactly one line: the contract's, with the config path", async (t) => {
  const result = checkPamFile(readFileSync(PAM_FILE, "utf8"));
  t.same(result, { line: `${CONTRACT_LINE} ${CONFIG_ARGS}` });
});

t.test("the checker rejects a second line, a changed control flag and a changed binary", async (t) => {
  const good = `# comment\n${CONTRACT_LINE} ${CONFIG_ARGS}\n`;
  t.same(checkPamFile(good), { line: `${CONTRACT_LINE} ${CONFIG_ARGS}` }, "the good file passes");
  t.match(checkPamFile(`${good}session optional pam_exec.so /bin/true\n`), {
    problem: /2 non-comment lines/,
  });
  t.match(checkPamFile(good.replace("optional", "required")), { problem: /contract line/ });
  t.match(checkPamFile(good.replace("/usr/local/bin/claude-auth", "/usr/bin/claude-auth")), {
    problem: /contract/,
  });
  t.match(checkPamFile(good.replace(" type=open_session", "")), { problem: /contract line/ });
  t.match(checkPamFile("# only comments\n"), { problem: /0 non-comment lines/ });
});

interface Invocation {
  ruid: string;
  args: string;
  env: Record<string, string>;
}

/**
 * Installs the shipped line, binary swapped for a stub, as a PAM service behind pam_permit (as in
 * Debian's common-session), runs pamtester and returns how the stub was run.
 */
function runPamStack(
  t: Test,
  user: string,
  options: { stubExit: number; control?: string },
): { status: number | null; output: string; calls: Invocation[] } {
  const dir = mkdtempSync(join(tmpdir(), "claude-auth-pam-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const log = join(dir, "calls");
  const stub = join(dir, "claude-auth");
  // No PATH in pam_exec's environment: every helper by absolute path.
  writeFileSync(
    stub,
    [
      "#!/bin/sh",
      `{ echo "--- ruid=$(/usr/bin/id -ru) args=$*"; /usr/bin/env; } >> ${log}`,
      `exit ${options.stubExit}`,
      "",
    ].join("\n"),
  );
  chmodSync(stub, 0o755);
  const line = pamLines(readFileSync(PAM_FILE, "utf8"))[0] ?? "";
  let installed = line.replace("/usr/local/bin/claude-auth", stub);
  if (options.control) installed = installed.replace(" optional ", ` ${options.control} `);
  const service = `claude-auth-test-${randomBytes(4).toString("hex")}`;
  const servicePath = join("/etc/pam.d", service);
  writeFileSync(servicePath, `session required pam_permit.so\n${installed}\n`);
  t.teardown(() => rmSync(servicePath, { force: true }));

  const result = spawnSync(PAMTESTER, ["-v", service, user, "open_session", "close_session"], {
    encoding: "utf8",
    timeout: 30_000,
  });
  const calls = existsSync(log)
    ? readFileSync(log, "utf8")
        .split("--- ")
        .filter((chunk) => chunk !== "")
        .map((chunk) => {
          const [head = "", ...envLines] = chunk.trim().split("\n");
          const env = Object.fromEntries(
            envLines.map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
          );
          const match = head.match(/^ruid=(\d+) args=(.*)$/);
          return { ruid: match?.[1] ?? "?", args: match?.[2] ?? "?", env };
        })
    : [];
  return { status: result.status, output: `${result.stdout}${result.stderr}`, calls };
}

function requirePamtester(t: Test): boolean {
  if (existsSync(PAMTESTER)) return true;
  const why = `SKIPPED: ${PAMTESTER} is missing (apt-get install pamtester)`;
  if (process.env.CI === "true") gate(t).fail(`${why}; CI must provide it`);
  else gate(t).skip(why);
  return false;
}

t.test("in a real PAM stack the command runs as root at session open only, with PAM_USER", async (t) => {
  if (!requireRoot(gate(t)) || !requirePamtester(t)) return;
  const user = createTestUser(t);
  const run = runPamStack(t, user.name, { stubExit: 0 });
  t.equal(run.status, 0, "the session opens and closes", { output: run.output });
  t.same(
    run.calls.map((call) => call.env.PAM_TYPE),
    ["open_session"],
    "type=open_session: not run again at close_session, when a later pam_env may have read the user's ~/.pam_environment",
  );
  for (const call of run.calls) {
    t.equal(call.ruid, "0", "real uid 0: the sync can read Vault with the host identity");
    t.equal(call.args, `pam ${CONFIG_ARGS}`, "the config path arrives as an argument");
    t.equal(call.env.PAM_USER, user.name, "PAM_USER names the user logging in");
    t.notOk("PATH" in call.env, "no PATH: helpers need absolute paths");
    t.notOk("HOME" in call.env, "no HOME: the user's home comes from NSS");
  }
});

t.test("a failing command never fails the session; with 'required' it would", async (t) => {
  if (!requireRoot(gate(t)) || !requirePamtester(t)) return;
  const user = createTestUser(t);
  const shipped = runPamStack(t, user.name, { stubExit: 1 });
  t.equal(shipped.calls.length, 1, "the failing command ran", { output: shipped.output });
  t.equal(shipped.status, 0, "optional: the login goes on", { output: shipped.output });

  // Negative control, and the edit CLAUDE_AUTH_SYNC_PAM_STRICT=1 needs to have any effect.
  const strict = runPamStack(t, user.name, { stubExit: 1, control: "required" });
  t.not(strict.status, 0, "required: the same failure fails the session", { output: strict.output });
});
