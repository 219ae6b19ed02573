// The pure parts of enable/rotate/disable: the document change, the t3-serve restart decision, the
// live check's verdicts, and the hidden prompt's key handling. Table-driven, no I/O but one loopback call.
import t from "tap";
import { apiErrorMessage, checkSetupTokenLive, verdictOf } from "../../src/claude/api-check.js";
import { parseConfig } from "../../src/config.js";
import type { AuthSyncError } from "../../src/errors.js";
import { setupTokenDecision, storedToken } from "../../src/sync/setup-token-mode.js";
import { keyEffects, trimOneNewline } from "../../src/system/secret-input.js";
import { decideRestart, restartCommand, systemdEscape, t3ServeUnit } from "../../src/system/t3-serve.js";
import { startAnthropicStandIn } from "../e2e/anthropic-standin.js";
import { setupToken } from "../sync/fixture.js";

const NOW = new Date("2026-05-01T12:00:00.000Z");
const A = setupToken("A");
const B = setupToken("B");
const none = { present: false, value: undefined };
const stored = (value: string) => ({ present: true, value });

t.test("document change for enable, rotate and disable", async (t) => {
  t.same(setupTokenDecision("enable", none, A, NOW), {
    setup_token: A,
    setup_token_updated_at: NOW.toISOString(),
  });
  t.same(setupTokenDecision("enable", stored(B), A, NOW)?.setup_token, A, "enable replaces another token");
  t.equal(setupTokenDecision("enable", stored(A), A, NOW), null, "the same token: nothing to write");
  t.same(
    setupTokenDecision("enable", { present: true, value: undefined }, A, NOW)?.setup_token,
    A,
    "a malformed stored value is replaced",
  );
  t.same(setupTokenDecision("rotate", stored(B), A, NOW)?.setup_token, A);
  t.throws(() => setupTokenDecision("rotate", none, A, NOW), /no setup token to rotate/);
  t.throws(() => setupTokenDecision("rotate", stored(A), A, NOW), /already stored/);
  try {
    setupTokenDecision("rotate", none, A, NOW);
  } catch (error) {
    t.equal((error as AuthSyncError).exitCode, 1);
    t.match((error as AuthSyncError).hint, /claude-auth enable/);
  }
  t.same(setupTokenDecision("disable", stored(A), undefined, NOW), {
    setup_token: undefined,
    setup_token_updated_at: undefined,
  });
  t.equal(setupTokenDecision("disable", none, undefined, NOW), null, "nothing to disable");
});

t.test("the stored token as the merge-write sees it", async (t) => {
  t.same(storedToken({ version: 0, state: "absent", data: {} }), none);
  t.same(storedToken({ version: 3, state: "deleted", data: {} }), none, "a deleted version holds nothing");
  t.same(storedToken({ version: 1, state: "live", data: { setup_token: A } }), stored(A));
  t.same(storedToken({ version: 1, state: "live", data: { setup_token: "" } }), none);
  t.same(storedToken({ version: 1, state: "live", data: { setup_token: 7 } }), {
    present: true,
    value: undefined,
  });
});

t.test("t3-serve restart: who does it, and the exact command otherwise", async (t) => {
  const base = { user: "alice", root: true, systemctl: "/usr/bin/systemctl", active: undefined };
  t.same(decideRestart(base), { kind: "ask-active", unit: "t3-serve@alice.service" });
  t.same(decideRestart({ ...base, active: true }), { kind: "restart", unit: "t3-serve@alice.service" });
  t.same(decideRestart({ ...base, active: false }), { kind: "not-running", unit: "t3-serve@alice.service" });
  const user = decideRestart({ ...base, root: false, systemctl: undefined });
  t.equal(user.kind, "tell");
  t.equal(user.kind === "tell" && user.command, "sudo systemctl restart t3-serve@alice.service");
  const missing = decideRestart({ ...base, systemctl: undefined });
  t.equal(missing.kind === "tell" && missing.command, "sudo systemctl restart t3-serve@alice.service");
  t.match(missing.kind === "tell" && missing.why, /systemctl was not found/);
  t.equal(systemdEscape("alice-smith"), "alice\\x2dsmith", "as systemd-escape does");
  t.equal(systemdEscape("j.doe@corp"), "j.doe\\x40corp");
  t.equal(systemdEscape(".hidden"), "\\x2ehidden");
  t.equal(t3ServeUnit("alice-smith"), "t3-serve@alice\\x2dsmith.service");
  t.equal(restartCommand("alice-smith"), "sudo systemctl restart 't3-serve@alice\\x2dsmith.service'");
});

t.test("live check verdicts", async (t) => {
  t.same(verdictOf(200, ""), { verdict: "accepted", status: 200 });
  t.equal(verdictOf(401, "Invalid bearer token").verdict, "rejected");
  t.equal(verdictOf(403, "").verdict, "rejected");
  for (const status of [429, 500, 503, 529, 400, 404]) t.equal(verdictOf(status, "").verdict, "unknown");
  t.equal(
    apiErrorMessage(JSON.stringify({ error: { message: "bad sk-ant-oat01-secretvalue here" } })),
    "bad sk-ant-… here",
    "a token echoed by the API is masked",
  );
  t.equal(apiErrorMessage("<html>"), "");
});

t.test("live check against the stand-in: headers, and a hang bounded by the timeout", async (t) => {
  const api = await startAnthropicStandIn({ answers: { [B]: { kind: "hang" } } });
  t.teardown(() => api.close());
  const ok = await checkSetupTokenLive(A, { baseUrl: new URL(api.url), timeoutMs: 2000 });
  t.equal(ok.verdict, "accepted");
  const request = api.messageRequests()[0];
  t.equal(request?.authorization, `Bearer ${A}`);
  t.equal(request?.anthropicBeta, "oauth-2025-04-20");
  t.equal(request?.stream, undefined, "not streamed");
  const started = Date.now();
  const hung = await checkSetupTokenLive(B, { baseUrl: new URL(api.url), timeoutMs: 300 });
  t.same(hung, { verdict: "unknown", reason: "no answer within 300 ms" });
  t.ok(Date.now() - started < 1500);
});

t.test("hidden prompt keys and input trimming", async (t) => {
  t.same(keyEffects("abc\r"), [{ kind: "append", text: "abc" }, { kind: "done" }]);
  t.same(keyEffects("ab\u007fc"), [
    { kind: "append", text: "ab" },
    { kind: "erase" },
    { kind: "append", text: "c" },
  ]);
  t.same(keyEffects("x\u0003y"), [{ kind: "append", text: "x" }, { kind: "cancel" }]);
  t.same(keyEffects("\u0004"), [{ kind: "done" }]);
  t.same(keyEffects("ab\u0015cd"), [{ kind: "clear" }, { kind: "append", text: "cd" }]);
  t.same(keyEffects("\u001b[A"), [{ kind: "append", text: "[A" }], "escape itself is dropped");
  t.equal(trimOneNewline("x\n"), "x");
  t.equal(trimOneNewline("x\r\n"), "x");
  t.equal(trimOneNewline("x\n\n"), "x\n", "only one");
  t.equal(trimOneNewline(" x "), " x ", "nothing else");
});

t.test("CLAUDE_AUTH_SYNC_ANTHROPIC_BASE_URL: https by default, plain http only to loopback", async (t) => {
  const source = { path: "/x", found: true };
  t.equal(parseConfig({}, source).anthropicBaseUrl.href, "https://api.anthropic.com/");
  t.equal(
    parseConfig({ CLAUDE_AUTH_SYNC_ANTHROPIC_BASE_URL: "http://127.0.0.1:8080" }, source).anthropicBaseUrl
      .port,
    "8080",
  );
  t.throws(
    () => parseConfig({ CLAUDE_AUTH_SYNC_ANTHROPIC_BASE_URL: "http://proxy.example" }, source),
    /CLAUDE_AUTH_SYNC_ANTHROPIC_BASE_URL: refusing plain http/,
    "the token never crosses the network unencrypted",
  );
  t.throws(() => parseConfig({ CLAUDE_AUTH_SYNC_ANTHROPIC_BASE_URL: "nope" }, source), /not a URL/);
});
