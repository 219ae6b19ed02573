// `claude-auth status` through the built binary: a real user, the Vault stand-in, each mode, text and
// JSON; no secret anywhere in the output; local facts still shown when Vault is down.
import { execFileSync } from "node:child_process";
import t, { type Test } from "tap";
import { startAnthropicStandIn } from "../e2e/anthropic-standin.js";
import { makeConfig, type RunResult, runBinary } from "../helpers/cli.js";
import { requireRoot } from "../helpers/users.js";
import { createToken } from "../helpers/vault-api.js";
import { credential, HOUR, STUB, setupToken, type Workstation, workstation } from "../sync/fixture.js";

const DAY = 24 * HOUR;

function status(ws: Workstation, extra: string[] = []): Promise<RunResult> {
  return runBinary(["status", "--user", ws.user.name, "--config", ws.config, ...extra]);
}

/** A secret must appear nowhere: not whole, and not a long slice of it either. */
function assertNoSecret(t: Test, run: RunResult, secrets: string[]) {
  const output = run.stdout + run.stderr;
  for (const secret of secrets) {
    t.notOk(output.includes(secret), `the secret ${secret.slice(0, 16)}… is not printed`);
    t.notOk(output.includes(secret.slice(12, 32)), "nor a 20-character slice of it");
  }
}

t.test(
  "setup-token mode: text and JSON show mode, env file, service copy, token age, Vault identity; no secret",
  async (t) => {
    if (!requireRoot(t)) return;
    const ws = await workstation(t);
    const token = setupToken("Qz7");
    await ws.seed({
      setup_token: token,
      setup_token_updated_at: new Date(Date.now() - 10 * DAY).toISOString(),
      vaultwarden_token: "vw-sibling-secret-value-123456789",
    });
    t.equal((await ws.sync()).code, 0, "sync writes the env file");

    const json = await status(ws, ["--json"]);
    t.equal(json.code, 0, "exit 0", { stderr: json.stderr });
    const report = JSON.parse(json.stdout);
    t.equal(report.user, ws.user.name);
    t.equal(report.mode, "setup-token");
    t.equal(report.modeSource, "vault");
    t.equal(report.outcome, "valid");
    t.same(report.pendingChanges, [], "a sync now would change nothing");
    t.equal(report.envFile.state, "present");
    t.equal(report.envFile.mode, "0600");
    t.equal(report.envFile.owner, ws.user.name);
    t.equal(report.envFile.directoryMode, "0700");
    t.equal(report.envFile.matchesVault, true);
    t.equal(report.envFile.tokenHint, `sk-ant-oat01-…${token.slice(-4)}`, "only the hint");
    t.equal(report.serviceEnvFile.state, "present", "root sees the copy t3-serve@ loads");
    t.equal(report.serviceEnvFile.owner, "root");
    t.equal(report.serviceEnvFile.matchesEnvFile, true);
    t.equal(report.setupToken.present, true);
    t.equal(report.setupToken.ageDays, 10);
    t.equal(report.setupToken.daysLeft, 355);
    t.same(report.warnings, [], "nothing to warn about");
    t.equal(report.lastSync.exitCode, 0, "last sync recorded");
    t.equal(report.vault.reachable, true);
    t.ok(report.vault.identity.policies.includes("claude-auth-sync-host"), "lookup-self policies");
    t.ok(report.vault.identity.ttlSeconds > 0, "token TTL");
    t.equal(report.vault.documentPath, `secret/data/workstation/claude-users/${ws.user.name}`);
    t.equal(report.exitCode, 0);
    assertNoSecret(t, json, [token, ws.hostToken, "vw-sibling-secret-value-123456789"]);

    const text = await status(ws);
    t.equal(text.code, 0);
    t.match(
      text.stdout,
      new RegExp(`^${ws.user.name}: setup-token mode, valid \\(as the Vault document says\\)`),
    );
    t.match(text.stdout, /env file\s+present, mode 0600, owner \w+, directory 0700, sk-ant-oat01-…/);
    t.match(text.stdout, /setup token\s+sk-ant-oat01-….*10 days ago.*in 355 days/);
    t.match(text.stdout, /service copy\s+present, mode 0600, owner root, matches the env file/);
    t.match(
      text.stdout,
      /vault\s+http:\/\/127\.0\.0\.1:\d+ reachable, token "[^"]+" \(policies [^)]*claude-auth-sync-host/,
    );
    t.match(text.stdout, /last sync\s+\S+ \(\d+s ago\), exit 0/);
    t.notMatch(text.stdout, /warning:/);
    assertNoSecret(t, text, [token, ws.hostToken]);
  },
);

t.test(
  "rotating mode: credentials state with expiry, backup usable with time and host; no token printed",
  async (t) => {
    if (!requireRoot(t)) return;
    const ws = await workstation(t);
    const local = credential("rotating-local-secret", Date.now() + 5 * HOUR);
    ws.writeCredentials({ claudeAiOauth: local });
    t.equal((await ws.sync()).code, 0, "sync backs it up");

    const json = await status(ws, ["--json"]);
    t.equal(json.code, 0, "exit 0", { stderr: json.stderr });
    const report = JSON.parse(json.stdout);
    t.equal(report.mode, "rotating");
    t.equal(report.outcome, "valid");
    t.equal(report.envFile.state, "absent");
    t.equal(report.credentials.state, "valid");
    t.equal(report.credentials.mode, "0600");
    t.equal(report.credentials.accessTokenExpiresAt, new Date(local.expiresAt).toISOString());
    t.equal(report.credentials.accessTokenExpired, false);
    t.equal(report.backup.present, true);
    t.equal(report.backup.usable, true);
    t.ok(report.backup.backedUpAt, "backed-up-at");
    t.equal(report.backup.host, execFileSync("hostname").toString().trim(), "host");
    t.equal(report.setupToken.present, false);
    assertNoSecret(t, json, [local.accessToken, local.refreshToken, ws.hostToken]);

    const text = await status(ws);
    t.match(text.stdout, /: rotating mode, valid/);
    t.match(text.stdout, /credentials\s+valid, mode 0600, owner \w+, access token expires \S+ \(in 5h\)/);
    t.match(text.stdout, /backup\s+present, usable, backed up \S+ \(\d+s ago\), from \S+/);
    assertNoSecret(t, text, [local.accessToken, local.refreshToken]);
  },
);

t.test(
  "rotating mode, logged out with no backup: SSO required is reported with exit 0 and the pending notice",
  async (t) => {
    if (!requireRoot(t)) return;
    const ws = await workstation(t);
    ws.writeCredentials({ claudeAiOauth: STUB });
    t.equal((await ws.sync()).code, 3, "sync: SSO required");
    const json = await status(ws, ["--json"]);
    t.equal(json.code, 0, "status could report: exit 0");
    const report = JSON.parse(json.stdout);
    t.equal(report.outcome, "sso-required");
    t.equal(report.credentials.state, "logged-out");
    t.equal(report.lastSync.exitCode, 3);
    t.match(report.notice, /claude auth login/, "the notice the next shell shows");
    t.match(report.warnings.join("\n"), /no usable Claude login: run `claude auth login`/);
    const text = await status(ws);
    t.match(
      text.stdout,
      /notice\s+claude-auth-sync: your Claude Code login here no longer works: credentials file is logged out and no usable backup\./,
    );
    t.match(text.stdout, /warning: no usable Claude login/);
  },
);

t.test("not enrolled: no document, no files", async (t) => {
  if (!requireRoot(t)) return;
  const ws = await workstation(t);
  const json = await status(ws, ["--json"]);
  t.equal(json.code, 0);
  const report = JSON.parse(json.stdout);
  t.equal(report.mode, "not-enrolled");
  t.equal(report.envFile.state, "absent");
  t.equal(report.credentials.state, "absent");
  t.equal(report.backup.present, false);
  t.equal(report.lastSync, null);
  t.equal(report.vault.documentVersion, 0, "no document in Vault");
  const text = await status(ws);
  t.match(text.stdout, /: not enrolled \(/);
  t.match(text.stdout, /last sync\s+never recorded/);
});

t.test("the setup-token expiry warning: stored 340 days ago, about 25 days left", async (t) => {
  if (!requireRoot(t)) return;
  const ws = await workstation(t);
  await ws.seed({
    setup_token: setupToken("Old"),
    setup_token_updated_at: new Date(Date.now() - 340 * DAY).toISOString(),
  });
  t.equal((await ws.sync()).code, 0);
  const json = await status(ws, ["--json"]);
  t.equal(json.code, 0, "a warning is not a failure");
  const report = JSON.parse(json.stdout);
  t.equal(report.setupToken.ageDays, 340);
  t.equal(report.setupToken.daysLeft, 25);
  t.match(report.setupToken.warning, /expires in about 25 days/);
  t.match(report.warnings.join("\n"), /expires in about 25 days.*claude setup-token.*claude-auth rotate/);
  const text = await status(ws);
  t.match(
    text.stdout,
    /warning: the setup token expires in about 25 days: create a new one with `claude setup-token`, then `claude-auth rotate`/,
  );

  // Well inside the year: no warning (the test would pass for the wrong reason if it always warned).
  await ws.seed({
    setup_token: setupToken("Old"),
    setup_token_updated_at: new Date(Date.now() - 300 * DAY).toISOString(),
  });
  const fresh = JSON.parse((await status(ws, ["--json"])).stdout);
  t.equal(fresh.setupToken.warning, undefined, "65 days left: no warning");
});

t.test(
  "Vault down: exit 4, and the local facts are still printed with the mode from the local files",
  async (t) => {
    if (!requireRoot(t)) return;
    const ws = await workstation(t);
    const token = setupToken("Down");
    await ws.seed({ setup_token: token, setup_token_updated_at: new Date().toISOString() });
    t.equal((await ws.sync()).code, 0);
    await ws.vault.close();

    const json = await status(ws, ["--json"]);
    t.equal(json.code, 4, "exit 4: Vault unreachable");
    const report = JSON.parse(json.stdout);
    t.equal(report.mode, "setup-token", "from the env file");
    t.equal(report.modeSource, "local-files");
    t.equal(report.envFile.state, "present");
    t.equal(report.envFile.mode, "0600");
    t.equal(report.lastSync.exitCode, 0);
    t.equal(report.vault.reachable, false);
    t.match(report.vault.error, /cannot reach Vault \(connection refused\)/);
    t.equal(report.backup, null, "unknown, not guessed");
    t.equal(report.exitCode, 4);
    assertNoSecret(t, json, [token, ws.hostToken]);

    const text = await status(ws);
    t.equal(text.code, 4);
    t.match(text.stdout, /setup-token mode \(from the local files: Vault could not be asked\)/);
    t.match(text.stdout, /env file\s+present, mode 0600/);
    t.match(text.stdout, /vault\s+http:\/\/127\.0\.0\.1:\d+: cannot reach Vault/);
    t.match(text.stdout, /backup\s+unknown/);
  },
);

t.test("Vault denies the token: exit 5, local facts still printed", async (t) => {
  if (!requireRoot(t)) return;
  const ws = await workstation(t);
  ws.writeCredentials({ claudeAiOauth: credential("denied", Date.now() + 3 * HOUR) });
  const bad = makeConfig(
    t,
    { VAULT_ADDR: ws.vault.addr, CLAUDE_AUTH_SYNC_TIMEOUT_MS: "1500" },
    "hvs.not-a-real-token",
  );
  const run = await runBinary(["status", "--user", ws.user.name, "--config", bad.path, "--json"]);
  t.equal(run.code, 5, "exit 5: permission denied");
  const report = JSON.parse(run.stdout);
  t.equal(report.mode, "rotating", "from the credentials file");
  t.equal(report.modeSource, "local-files");
  t.equal(report.credentials.state, "valid");
  t.match(report.vault.error, /permission denied/);
  t.notOk(run.stdout.includes("hvs.not-a-real-token"), "the Vault token is not printed");
});

t.test("a user runs status for themselves with their own Vault token", async (t) => {
  if (!requireRoot(t)) return;
  const ws = await workstation(t);
  const token = setupToken("Self");
  await ws.seed({ setup_token: token, setup_token_updated_at: new Date().toISOString() });
  t.equal((await ws.sync()).code, 0);
  const userToken = await createToken(ws.vault.addr, ws.vault.rootToken, ["claude-auth-sync-host"]);
  const run = await runBinary(["status", "--json", "--config", ws.config], {
    uid: ws.user.uid,
    gid: ws.user.gid,
    env: { HOME: ws.user.home, USER: ws.user.name, VAULT_TOKEN: userToken },
  });
  t.equal(run.code, 0, "exit 0", { stderr: run.stderr });
  const report = JSON.parse(run.stdout);
  t.equal(report.user, ws.user.name);
  t.equal(report.mode, "setup-token");
  t.equal(report.serviceEnvFile, null, "the root-owned copy is root's business");
  t.equal(report.vault.tokenSource, "VAULT_TOKEN", "where the token came from, not the token");
  assertNoSecret(t, run, [token, userToken]);

  const other = await runBinary(["status", "--user", "root", "--config", ws.config], {
    uid: ws.user.uid,
    gid: ws.user.gid,
    env: { HOME: ws.user.home },
  });
  t.equal(other.code, 2, "only root may ask about another user");
});

t.test(
  "--verify asks the API: accepted, rejected (with the fix), unavailable (unknown), hang (bounded)",
  async (t) => {
    if (!requireRoot(t)) return;
    const api = await startAnthropicStandIn();
    t.teardown(() => api.close());
    const ws = await workstation(t, {
      CLAUDE_AUTH_SYNC_ANTHROPIC_BASE_URL: api.url,
      CLAUDE_AUTH_SYNC_TIMEOUT_MS: "1500",
    });
    const token = setupToken("Q");
    await ws.seed({ setup_token: token });
    t.equal((await ws.sync()).code, 0);
    api.setAnswer(token, { kind: "accept" });
    let run = await status(ws, ["--verify"]);
    t.equal(run.code, 0);
    t.match(run.stdout, /verification: setup-token valid/);
    t.equal(api.messageRequests().at(-1)?.authorization, `Bearer ${token}`, "the setup token was checked");
    api.setAnswer(token, { kind: "reject" });
    run = await status(ws, ["--verify", "--json"]);
    const report = JSON.parse(run.stdout);
    t.match(report.verification, { ran: true, verdict: "invalid", credential: "setup-token" });
    run = await status(ws, ["--verify"]);
    t.match(run.stdout, /claude setup-token`, then `claude-auth rotate/, "says exactly what to do");
    api.setAnswer(token, { kind: "unavailable" });
    run = await status(ws, ["--verify"]);
    t.match(run.stdout, /verification: setup-token unknown/, "5xx is unknown, never invalid");
    api.setAnswer(token, { kind: "rate-limit", retryAfterSeconds: 30 });
    run = await status(ws, ["--verify"]);
    t.match(
      run.stdout,
      /verification: setup-token unknown — rate limited \(HTTP 429/,
      "429: unknown, asked again later",
    );
    api.setAnswer(token, { kind: "hang" });
    const started = Date.now();
    run = await status(ws, ["--verify"]);
    t.match(run.stdout, /unknown — no answer within 1500 ms/);
    t.ok(Date.now() - started < 6000, "the hang is bounded");
    t.notMatch(run.stdout + run.stderr, token, "never prints the token");
    const help = await runBinary(["status", "--help"]);
    t.match(help.stdout, /Exit codes: 0 reported/);
  },
);
