// What root prints: a user writes terminal escapes, bidi overrides, a carriage return and a newline
// with a forged line into every field of theirs that root's `status`, `doctor` and `sync` show (the
// Vault document's backup host and time, state.json, the notice). The built binary, run as root, must
// print none of those bytes raw: each shows escaped (`\x1b`, `\u202e`), and no forged line appears.
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import t, { type Test } from "tap";
import { type RunResult, runBinary } from "../helpers/cli.js";
import { requireRoot } from "../helpers/users.js";
import { credential, HOUR, STUB, type Workstation, workstation } from "../sync/fixture.js";

/** Every kind of hostile byte at once: OSC retitle, clear screen, 8-bit CSI, RLO, DEL, CR rewrite, LF forge. */
const hostile = (tag: string) =>
  `${tag}\x1b]0;pwned\x07\x1b[2J\u009b31m\u202egnp.exe\u2066\x7f\rREWRITTEN ${tag}\nFORGED ${tag}`;

/** Anything a terminal or log viewer acts on, but newline (and tab, which we keep). */
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it finds
const RAW_CONTROL = /[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]/;

function assertNothingRaw(t: Test, run: RunResult, what: string) {
  for (const [stream, text] of [
    ["stdout", run.stdout],
    ["stderr", run.stderr],
  ] as const) {
    const raw = RAW_CONTROL.exec(text);
    t.notOk(
      raw,
      `${what} ${stream}: no raw control character${raw ? ` (found U+${raw[0].charCodeAt(0).toString(16).padStart(4, "0")})` : ""}`,
    );
    t.notMatch(text, /^FORGED/m, `${what} ${stream}: a newline in a user value forges no line`);
  }
}

/** The escaped form is on screen, so the administrator sees that something odd was written. */
function assertShownEscaped(t: Test, text: string, tag: string, what: string) {
  t.ok(
    text.includes(`${tag}\\x1b]0;pwned\\x07\\x1b[2J\\x9b31m\\u202egnp.exe\\u2066\\x7f\\rREWRITTEN ${tag}`),
    `${what}: ${tag} is shown escaped`,
  );
}

/** A logged-out user whose Vault backup names a hostile host and time, with a hostile state.json and notice. */
async function hostileUser(t: Test): Promise<Workstation> {
  const ws = await workstation(t);
  await ws.seed({
    claude_ai_oauth: JSON.stringify(credential("hostile", Date.now() + 5 * HOUR)),
    claude_ai_oauth_backed_up_at: hostile("backedUpAt"),
    claude_ai_oauth_host: hostile("host"),
  });
  ws.writeCredentials({ claudeAiOauth: STUB });
  return ws;
}

function writeAsUser(ws: Workstation, name: string, content: string) {
  const dir = join(ws.user.home, ".config/claude-auth-sync");
  execFileSync("runuser", ["-u", ws.user.name, "--", "mkdir", "-p", "-m", "700", dir]);
  execFileSync(
    "runuser",
    ["-u", ws.user.name, "--", "sh", "-c", 'umask 077 && cat > "$1"', "sh", join(dir, name)],
    {
      input: content,
    },
  );
}

function writeHostileState(ws: Workstation) {
  writeAsUser(
    ws,
    "state.json",
    JSON.stringify({
      lastRunAt: new Date().toISOString(),
      exitCode: 4,
      outcome: "sso-required",
      message: hostile("message"),
      host: hostile("stateHost"),
    }),
  );
  writeAsUser(ws, "notice", hostile("notice"));
}

t.test("sync --user as root: the backup's host in the plan's reasons is shown escaped", async (t) => {
  if (!requireRoot(t)) return;
  const ws = await hostileUser(t);
  const text = await ws.sync();
  assertNothingRaw(t, text, "sync");
  assertShownEscaped(t, text.stdout, "host", "sync");

  const dry = await ws.sync(["--dry-run"]);
  assertNothingRaw(t, dry, "sync --dry-run");
  assertShownEscaped(t, dry.stdout, "host", "sync --dry-run");

  const json = await ws.sync(["--json"]);
  assertNothingRaw(t, json, "sync --json");
  const result = JSON.parse(json.stdout) as { reasons: string[] };
  t.ok(
    result.reasons.some((reason) => reason.includes(hostile("host"))),
    "sync --json: the same value once parsed",
  );
});

t.test("status as root: Vault document fields, state.json and the notice are shown escaped", async (t) => {
  if (!requireRoot(t)) return;
  const ws = await hostileUser(t);
  await ws.sync();
  writeHostileState(ws);
  const args = ["status", "--user", ws.user.name, "--config", ws.config];

  const text = await runBinary(args);
  assertNothingRaw(t, text, "status");
  for (const tag of ["host", "backedUpAt", "message", "notice"])
    assertShownEscaped(t, text.stdout, tag, "status");

  const json = await runBinary([...args, "--json"]);
  assertNothingRaw(t, json, "status --json");
  const report = JSON.parse(json.stdout);
  t.equal(report.backup.host, hostile("host"), "status --json: backup host, same value once parsed");
  t.equal(report.backup.backedUpAt, hostile("backedUpAt"), "status --json: backup time");
  t.equal(report.lastSync.message, hostile("message"), "status --json: state.json message");
  t.equal(report.lastSync.host, hostile("stateHost"), "status --json: state.json host");
  t.equal(report.notice, hostile("notice").split("\n")[0], "status --json: the notice's first line");
});

t.test("doctor as root: nothing the user wrote reaches the terminal raw", async (t) => {
  if (!requireRoot(t)) return;
  const ws = await hostileUser(t);
  await ws.sync();
  writeHostileState(ws);
  const args = ["doctor", "--user", ws.user.name, "--config", ws.config];
  assertNothingRaw(t, await runBinary(args), "doctor");
  const json = await runBinary([...args, "--json"]);
  assertNothingRaw(t, json, "doctor --json");
  t.ok(JSON.parse(json.stdout).findings.length > 0, "doctor --json is still JSON");
});
