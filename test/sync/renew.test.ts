// Proactive renewal end to end: the built binary, a real user, the Vault stand-in and a stand-in for
// Claude's OAuth token endpoint (refresh-token rotation).

import { execFileSync } from "node:child_process";
import { readFileSync, statSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import t, { type Test } from "tap";
import { runBinary } from "../helpers/cli.js";
import { requireRoot } from "../helpers/users.js";
import { type OAuthStandIn, startOAuthStandIn } from "../oauth/standin.js";
import { credential, HOUR, metrics, workstation } from "./fixture.js";

const SIBLINGS = { vaultwarden_token: "vw-keep-me" };
const MCP = { server: { accessToken: "mcp-keep-me" } };

async function setUp(t: Test, extra: Record<string, string> = {}) {
  const oauth = await startOAuthStandIn();
  t.teardown(() => oauth.close());
  const ws = await workstation(t, {
    CLAUDE_AUTH_SYNC_OAUTH_TOKEN_URL: oauth.url,
    CLAUDE_AUTH_SYNC_RENEW: "1",
    ...extra,
  });
  return { ws, oauth };
}

/** A credential about to expire (inside the default 7 h window), known to the token endpoint. */
function expiring(oauth: OAuthStandIn, tag: string, inMs = HOUR) {
  const c = credential(tag, Date.now() + inMs);
  oauth.issue(c.refreshToken);
  return c;
}

const readJson = (path: string) => JSON.parse(readFileSync(path, "utf8"));

t.test("a credential inside the window is renewed once, written atomically, backed up at once", async (t) => {
  if (!requireRoot(t)) return;
  const { ws, oauth } = await setUp(t);
  const old = expiring(oauth, "old");
  await ws.seed({ ...SIBLINGS, claude_ai_oauth: JSON.stringify(old) });
  ws.writeCredentials({ claudeAiOauth: old, mcpOAuth: MCP });
  const run = await ws.sync(["--json"]);
  t.equal(run.code, 0, "exit 0", { stderr: run.stderr, stdout: run.stdout });
  t.equal(oauth.requests.length, 1, "one refresh");
  t.same(
    oauth.requests[0]?.body,
    {
      grant_type: "refresh_token",
      refresh_token: old.refreshToken,
      client_id: "9d1c250a-e61b-44d9-88ed-5944d1962f5e",
      scope: "user:inference user:profile",
    },
    "the request Claude Code makes",
  );
  const file = readJson(ws.credentialsFile);
  t.match(file.claudeAiOauth.accessToken, /^sk-ant-oat01-renewed-/, "new access token");
  t.match(file.claudeAiOauth.refreshToken, /^sk-ant-ort01-renewed-/, "new refresh token");
  t.ok(file.claudeAiOauth.expiresAt > Date.now() + 7 * HOUR, "expires in ~8 h");
  t.equal(file.claudeAiOauth.subscriptionType, "max", "other fields of claudeAiOauth kept");
  t.same(file.mcpOAuth, MCP, "other keys kept");
  const stat = statSync(ws.credentialsFile);
  t.equal(stat.mode & 0o777, 0o600, "0600");
  t.equal(stat.uid, ws.user.uid, "owned by the user");
  const doc = await ws.doc();
  t.same(JSON.parse(String(doc.data?.claude_ai_oauth)), file.claudeAiOauth, "Vault backup is the new one");
  t.equal(doc.data?.claude_ai_oauth_host, hostname(), "from this host");
  t.equal(doc.data?.vaultwarden_token, "vw-keep-me", "sibling key kept");
  const result = JSON.parse(run.stdout);
  t.same(
    result.plan.map((p: { action: string }) => p.action),
    ["renew-credential"],
  );
  t.match(result.applied.join("\n"), /renewed .*backed up the credential/);
  t.notMatch(run.stdout + run.stderr, /sk-ant-o[ar]t01-(renewed|access|refresh)/, "no token printed");
  t.equal(result.credentialExpiresAt, new Date(file.claudeAiOauth.expiresAt).toISOString());

  const again = await ws.sync(["--json"]);
  t.equal(again.code, 0);
  t.equal(oauth.requests.length, 1, "the next run finds it fresh: no second refresh");
});

t.test(
  "outside the window, with CLAUDE_AUTH_SYNC_RENEW=0, and on the login path: never renewed",
  async (t) => {
    if (!requireRoot(t)) return;
    const { ws, oauth } = await setUp(t);
    const fresh = credential("fresh", Date.now() + 8 * HOUR);
    oauth.issue(fresh.refreshToken);
    ws.writeCredentials({ claudeAiOauth: fresh });
    t.equal((await ws.sync()).code, 0);
    t.equal(oauth.requests.length, 0, "fresh: nothing to renew");

    const old = expiring(oauth, "soon");
    ws.writeCredentials({ claudeAiOauth: old });
    const off = await ws.sync([], { CLAUDE_AUTH_SYNC_RENEW: "0" });
    t.equal(off.code, 0, off.stderr);
    // (the environment overrides config.env for sync, never for pam: the pam run below has RENEW=1)
    t.equal(oauth.requests.length, 0, "CLAUDE_AUTH_SYNC_RENEW=0: no refresh");

    const before = readFileSync(ws.credentialsFile, "utf8");
    const pam = await runBinary(["pam", "--config", ws.config], {
      env: { PAM_USER: ws.user.name, PAM_TYPE: "open_session" },
    });
    t.equal(pam.code, 0, pam.stderr);
    t.equal(oauth.requests.length, 0, "claude-auth pam never renews");
    t.equal(readFileSync(ws.credentialsFile, "utf8"), before, "the file is untouched by the login");
  },
);

t.test("the renewal runs under the per-user lock and re-reads the file after taking it", async (t) => {
  if (!requireRoot(t)) return;
  const { ws, oauth } = await setUp(t, { CLAUDE_AUTH_SYNC_TIMEOUT_MS: "8000" });
  const old = expiring(oauth, "locked");
  await ws.seed({ claude_ai_oauth: JSON.stringify(old) });
  ws.writeCredentials({ claudeAiOauth: old, mcpOAuth: MCP });
  // Another run holds the lock (a live process on this host: us).
  const lock = join(ws.user.home, ".config/claude-auth-sync/sync.lock");
  execFileSync("runuser", ["-u", ws.user.name, "--", "mkdir", "-p", "-m", "700", join(lock, "..")]);
  writeFileSync(lock, `${process.pid} ${hostname()} ${Date.now()}\n`, { mode: 0o600 });
  execFileSync("chown", [`${ws.user.uid}:${ws.user.gid}`, lock]);
  ws.vault.clearRequests();
  const running = ws.sync(["--json"]);
  // Wait until it has read Vault (the plan is made, renewal planned), then let "the other run"
  // renew the file and release the lock.
  for (let i = 0; i < 200 && ws.vault.countRequests({ method: "GET" }) < 1; i++) await sleep(25);
  await sleep(400);
  t.equal(oauth.requests.length, 0, "nothing is sent while another run holds the lock");
  const renewedByOther = credential("renewed-by-other", Date.now() + 8 * HOUR);
  ws.writeCredentials({ claudeAiOauth: renewedByOther, mcpOAuth: MCP });
  execFileSync("rm", ["-f", lock]);
  const run = await running;
  t.equal(run.code, 0, "exit 0", { stderr: run.stderr, stdout: run.stdout });
  t.equal(oauth.requests.length, 0, "the re-read under the lock saw the renewed file: no second refresh");
  t.same(readJson(ws.credentialsFile).claudeAiOauth, renewedByOther, "the other run's credential stays");
  t.same(
    JSON.parse(String((await ws.doc()).data?.claude_ai_oauth)),
    renewedByOther,
    "and it is what gets backed up",
  );
});

t.test("a failed refresh (503, timeout) leaves the file exactly as it was and says so", async (t) => {
  if (!requireRoot(t)) return;
  const { ws, oauth } = await setUp(t, { CLAUDE_AUTH_SYNC_TIMEOUT_MS: "2500" });
  const old = expiring(oauth, "fail");
  await ws.seed({ ...SIBLINGS, claude_ai_oauth: JSON.stringify(old) });
  ws.writeCredentials({ claudeAiOauth: old, mcpOAuth: MCP });
  const before = readFileSync(ws.credentialsFile);
  const mtime = statSync(ws.credentialsFile).mtimeMs;
  const version = (await ws.doc()).version;

  oauth.failNext({ status: 503, body: { error: "overloaded" } });
  const run = await ws.sync(["--json"]);
  t.equal(run.code, 0, "still valid: exit 0", { stderr: run.stderr });
  const result = JSON.parse(run.stdout);
  t.match(result.message, /renewal failed \(the token endpoint answered HTTP 503 \(overloaded\)\)/);
  t.same(readFileSync(ws.credentialsFile), before, "file byte-for-byte unchanged");
  t.equal(statSync(ws.credentialsFile).mtimeMs, mtime, "not even rewritten");
  t.equal((await ws.doc()).version, version, "no Vault write");
  t.match(metrics(ws), /claude_auth_sync_valid\{user="[^"]+"\} 1/, "no alert");

  oauth.failNext({ delayMs: 10_000 });
  const slow = await ws.sync(["--json"]);
  t.equal(slow.code, 0, slow.stderr);
  t.match(
    JSON.parse(slow.stdout).message,
    /no answer from .* within \d+ ms; the refresh token may have been spent/,
  );
  t.same(readFileSync(ws.credentialsFile), before, "a timed-out refresh writes nothing either");
  t.ok(slow.ms < 8000, `bounded by the run's budget (${slow.ms} ms)`);
});

t.test("invalid_grant: restore a newer backup, else SSO required with the file left alone", async (t) => {
  if (!requireRoot(t)) return;
  const { ws, oauth } = await setUp(t);
  // Spent elsewhere: the endpoint does not know this refresh token (any more).
  const spent = credential("spent", Date.now() + HOUR);
  const newer = credential("newer", Date.now() + 7 * HOUR);
  await ws.seed({ ...SIBLINGS, claude_ai_oauth: JSON.stringify(newer), claude_ai_oauth_host: hostname() });
  ws.writeCredentials({ claudeAiOauth: spent, mcpOAuth: MCP });
  const run = await ws.sync(["--json"]);
  t.equal(run.code, 0, "restored: exit 0", { stderr: run.stderr, stdout: run.stdout });
  t.equal(oauth.requests.length, 1, "one refresh attempt");
  const file = readJson(ws.credentialsFile);
  t.same(file.claudeAiOauth, newer, "the newer backup is restored");
  t.same(file.mcpOAuth, MCP, "other keys kept");
  t.match(
    JSON.parse(run.stdout).reasons.join("\n"),
    /rejected \(invalid_grant\): restoring the newer backup/,
  );

  // Same rejected token in the backup: nothing to restore. Exit 3, alert, and no stub.
  await ws.seed({ ...SIBLINGS, claude_ai_oauth: JSON.stringify(spent), claude_ai_oauth_host: hostname() });
  ws.writeCredentials({ claudeAiOauth: spent, mcpOAuth: MCP });
  const before = readFileSync(ws.credentialsFile);
  const sso = await ws.sync(["--json"]);
  t.equal(sso.code, 3, "interactive SSO required", { stderr: sso.stderr });
  t.same(readFileSync(ws.credentialsFile), before, "file left exactly as it was (never a stub)");
  t.match(metrics(ws), /claude_auth_sync_valid\{user="[^"]+"\} 0/, "the alert's gauge is 0");
  t.equal((await ws.doc()).data?.vaultwarden_token, "vw-keep-me");
});
