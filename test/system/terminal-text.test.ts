// What root prints, the pure part: the one escaping function, its JSON form, the syslog line, and the
// line structure of errors and sync summaries when a user value holds control characters.
import t from "tap";
import { humanResult, logLine } from "../../src/commands/report.js";
import { AuthSyncError, ExitCode, formatError } from "../../src/errors.js";
import type { SyncResult } from "../../src/sync/run.js";
import { syslogLine } from "../../src/system/syslog.js";
import { terminalJson, terminalLine, terminalLines, terminalText } from "../../src/system/terminal-text.js";

// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it finds
const RAW_CONTROL = /[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]/;
const HOSTILE = "a\x1b]0;pwned\x07\x1b[2J\u009b31m\u202eb\u2066\u200f\u061c\x7f\rREWRITTEN\nFORGED";

t.test("terminalText shows every control but newline and tab visibly", async (t) => {
  t.equal(
    terminalText(HOSTILE),
    "a\\x1b]0;pwned\\x07\\x1b[2J\\x9b31m\\u202eb\\u2066\\u200f\\u061c\\x7f\\rREWRITTEN\nFORGED",
  );
  t.equal(terminalText("our\ttable\nand lines\n"), "our\ttable\nand lines\n", "our own layout is kept");
  t.equal(
    terminalText("\u2028\u2029\u202a\u202d\u2069\x00\x1f"),
    "\\u2028\\u2029\\u202a\\u202d\\u2069\\x00\\x1f",
  );
  t.equal(
    terminalText("héllo ü € 日本 \\x1b"),
    "héllo ü € 日本 \\x1b",
    "printable text, backslashes too, untouched",
  );
  t.equal(terminalText(terminalText(HOSTILE)), terminalText(HOSTILE), "escaping twice changes nothing");
  for (let code = 0; code < 0x3000; code++) {
    const char = String.fromCharCode(code);
    if (char === "\n" || char === "\t") continue;
    if (RAW_CONTROL.test(terminalText(char))) t.fail(`U+${code.toString(16)} passes raw`);
  }
});

t.test("terminalLine and terminalLines: a newline inside a value cannot start a line", async (t) => {
  t.equal(terminalLine("host\nFORGED\tx"), "host\\nFORGED\\tx");
  t.equal(terminalLines(["one", "two\nFORGED", "three\r"]), "one\ntwo\\nFORGED\nthree\\r");
});

t.test("terminalJson escapes DEL, C1 and bidi as \\uXXXX: still JSON, the same value", async (t) => {
  const value = { host: HOSTILE, nested: [HOSTILE], plain: "ok" };
  const json = terminalJson(value);
  t.notOk(RAW_CONTROL.test(json), "no raw control character");
  t.same(JSON.parse(json), value, "parses back to the same value");
  t.match(json, /\\u009b31m\\u202eb\\u2066\\u200f\\u061c\\u007f/);
  t.equal(terminalJson({ a: 1 }), JSON.stringify({ a: 1 }, null, 2), "plain data: exactly JSON.stringify");
});

t.test("the syslog line is one line with every control escaped", async (t) => {
  const line = syslogLine(`claude-auth-sync: via=pam failed: ${HOSTILE}`);
  t.ok(line.endsWith("\n"));
  t.equal(line.indexOf("\n"), line.length - 1, "a single line");
  t.notOk(RAW_CONTROL.test(line.slice(0, -1)), "no raw control character");
  t.match(line, /\\x1b\]0;pwned\\x07\\x1b\[2J\\x9b31m\\u202eb.*\\rREWRITTEN FORGED/);
  t.equal(syslogLine("our error\n  fix: do this"), "our error   fix: do this\n", "our own newlines: a space");
});

t.test("formatError: the message is one line whatever it quotes, our fix below it", async (t) => {
  const error = new AuthSyncError(`Vault said: ${HOSTILE}`, ExitCode.vaultDenied, {
    hint: "ask\nyour admin",
  });
  const text = formatError(error);
  t.equal(text.split("\n").length, 3, "message, fix, the fix's own second line");
  t.match(text, /^Vault said: a\\x1b.*\\rREWRITTEN\\nFORGED\n {2}fix: ask\nyour admin$/);
  t.equal(formatError(new SyntaxError(`Unexpected token, "${HOSTILE}"`)).includes("\n"), false);
});

t.test("a sync summary and its log line: a hostile reason stays on its line", async (t) => {
  const reason = `the backup was taken on another host (${HOSTILE})`;
  const result: SyncResult = {
    user: "alice",
    exitCode: ExitCode.ssoRequired,
    plan: {
      mode: "rotating",
      outcome: "sso-required",
      actions: [],
      reasons: [reason],
      credentialExpiresAt: undefined,
    } as unknown as SyncResult["plan"],
    applied: [],
    message: reason,
    vaultRequests: 1,
    durationMs: 3,
    dryRun: false,
  };
  const human = humanResult(result);
  t.notMatch(human, /^FORGED/m, "no forged line");
  t.equal(human.split("\n").length, 3, "head, reason, message");
  t.notOk(RAW_CONTROL.test(terminalText(human)), "clean once through the output sink");
  t.notMatch(logLine(result, "pam"), /\n/, "the log line is one line");

  const failed = {
    ...result,
    plan: undefined,
    message: formatError(new AuthSyncError("x", 4, { hint: "a\nb" })),
  };
  t.equal(humanResult(failed), "alice: sync failed\nx\n  fix: a\nb", "our fix keeps its lines");
});
