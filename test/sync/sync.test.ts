// `claude-auth sync` end to end: the built binary, a real user, the Vault stand-in with the host policy.
import { execFileSync, spawnSync } from "node:child_process";
import {
  chmodSync,
  chownSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import t from "tap";
import { fifosTouched, killHungRuns, plantTempFifos, WATCHDOG_SLACK_MS } from "../helpers/metrics-traps.js";
import { requireRoot } from "../helpers/users.js";
import { vaultApi } from "../helpers/vault-api.js";
import { credential, HOUR, metrics, STUB, setupToken, workstation } from "./fixture.js";

const SNIPPET = fileURLToPath(new URL("../../shell/claude-auth.sh", import.meta.url));

const SIBLINGS = {
  vaultwarden_token: 'vw-secret-Ω-"quoted"\n with newline',
  vaultwarden_url: "https://vw.example/",
  vaultwarden_nested: { deep: [1, 2, { x: null }] },
};

t.test("the seed's regression: a backup keeps every sibling key byte-for-byte, without patch", async (t) => {
  if (!requireRoot(t)) return;
  const ws = await workstation(t);
  await ws.seed(SIBLINGS);
  const fresh = credential("fresh", Date.now() + 7 * HOUR);
  ws.writeCredentials({ claudeAiOauth: fresh, mcpOAuth: { srv: { token: "m" } } });
  ws.vault.clearRequests();
  const run = await ws.sync();
  t.equal(run.code, 0, "exit 0", { stderr: run.stderr, stdout: run.stdout });
  const doc = await ws.doc();
  for (const [key, value] of Object.entries(SIBLINGS)) {
    t.equal(JSON.stringify(doc.data?.[key]), JSON.stringify(value), `${key} kept byte-for-byte`);
  }
  t.same(JSON.parse(String(doc.data?.claude_ai_oauth)), fresh, "backup holds the local credential");
  t.ok(doc.data?.claude_ai_oauth_backed_up_at, "backed-up-at recorded");
  t.ok(doc.data?.claude_ai_oauth_host, "host recorded");
  t.equal(doc.version, 2, "exactly one new version");
  t.equal(ws.vault.countRequests({ method: "PATCH" }), 0, "no HTTP PATCH");
  const writes = ws.vault.requests.filter((r) => r.method === "POST" || r.method === "PUT");
  t.equal(writes.length, 1, "one write");
  t.same(
    (writes[0]?.body as { options?: unknown })?.options,
    { cas: 1 },
    "check-and-set on the version read",
  );
});

t.test("steady state: a second sync with nothing changed makes one read and no write", async (t) => {
  if (!requireRoot(t)) return;
  const ws = await workstation(t);
  ws.writeCredentials({ claudeAiOauth: credential("a", Date.now() + 7 * HOUR) });
  t.equal((await ws.sync()).code, 0);
  ws.vault.clearRequests();
  const run = await ws.sync(["--json"]);
  t.equal(run.code, 0);
  t.equal(ws.vault.countRequests({ method: "GET" }), 1, "one read");
  t.equal(ws.vault.requests.length, 1, "and nothing else");
  const result = JSON.parse(run.stdout);
  t.same(result.plan, [], "empty plan");
  t.equal(result.vaultRequests, 1, "the tool counts the same");
});

t.test(
  "setup-token mode: env file content, mode, owner; credentials untouched; no Vault write; valid",
  async (t) => {
    if (!requireRoot(t)) return;
    const ws = await workstation(t);
    const token = setupToken("S");
    await ws.seed({ setup_token: token, ...SIBLINGS });
    const stub = JSON.stringify({ claudeAiOauth: STUB });
    ws.writeCredentials(stub);
    ws.vault.clearRequests();
    const run = await ws.sync();
    t.equal(run.code, 0, "exit 0", { stderr: run.stderr });
    t.equal(readFileSync(ws.envFile, "utf8"), `CLAUDE_CODE_OAUTH_TOKEN=${token}\n`, "one line");
    const stat = statSync(ws.envFile);
    t.equal(stat.mode & 0o777, 0o600, "0600");
    t.equal(stat.uid, ws.user.uid, "owned by the user");
    t.equal(statSync(`${ws.user.home}/.config/claude-auth-sync`).mode & 0o777, 0o700, "directory 0700");
    t.equal(readFileSync(ws.credentialsFile, "utf8"), stub, "the logged-out stub is left alone: no restore");
    t.equal(
      ws.vault.countRequests({ method: "POST" }) + ws.vault.countRequests({ method: "PUT" }),
      0,
      "no Vault write",
    );
    t.match(metrics(ws), /claude_auth_sync_valid\{user="[^"]+"\} 1/, "valid: no alert");
    t.match(metrics(ws), /claude_auth_sync_mode\{user="[^"]+",mode="setup-token"\} 1/);
    t.notMatch(run.stdout + run.stderr + metrics(ws), token, "the token is printed nowhere");
    const mtime = stat.mtimeMs;
    await new Promise((r) => setTimeout(r, 20));
    t.equal((await ws.sync()).code, 0);
    t.equal(statSync(ws.envFile).mtimeMs, mtime, "not rewritten when unchanged");
  },
);

t.test(
  "the copy t3-serve@ loads is root-owned, follows Vault, and ignores links planted in the home",
  async (t) => {
    if (!requireRoot(t)) return;
    const ws = await workstation(t);
    const token = setupToken("T");
    await ws.seed({ setup_token: token });
    t.equal((await ws.sync()).code, 0);
    t.equal(
      readFileSync(ws.serviceEnvFile, "utf8"),
      `CLAUDE_CODE_OAUTH_TOKEN=${token}\n`,
      "same line as the user's file",
    );
    const stat = statSync(ws.serviceEnvFile);
    t.equal(stat.uid, 0, "owned by root");
    t.equal(stat.mode & 0o777, 0o600, "0600");
    // The user swaps their env file for a link to someone else's: the service copy still comes from Vault.
    execFileSync("runuser", ["-u", ws.user.name, "--", "ln", "-sf", "/etc/shadow", ws.envFile]);
    t.equal((await ws.sync()).code, 0);
    t.equal(
      readFileSync(ws.serviceEnvFile, "utf8"),
      `CLAUDE_CODE_OAUTH_TOKEN=${token}\n`,
      "still the user's own token",
    );
    await ws.seed({});
    t.equal((await ws.sync()).code, 0);
    t.notOk(existsSync(ws.serviceEnvFile), "removed with the setup token");
  },
);

t.test("disable in Vault: the next sync removes the env file and returns to the rotating flow", async (t) => {
  if (!requireRoot(t)) return;
  const ws = await workstation(t);
  await ws.seed({ setup_token: setupToken("D"), ...SIBLINGS });
  t.equal((await ws.sync()).code, 0);
  t.ok(existsSync(ws.envFile));
  const fresh = credential("r", Date.now() + 7 * HOUR);
  ws.writeCredentials({ claudeAiOauth: fresh });
  await ws.seed({ ...SIBLINGS });
  const run = await ws.sync();
  t.equal(run.code, 0, "exit 0", { stderr: run.stderr });
  t.notOk(existsSync(ws.envFile), "env file removed");
  t.same(JSON.parse(String((await ws.doc()).data?.claude_ai_oauth)), fresh, "rotating flow backed up");
});

t.test("fail-safe: no setup_token and no credentials: nothing created in the home, exit 0", async (t) => {
  if (!requireRoot(t)) return;
  const ws = await workstation(t);
  await ws.seed({ ...SIBLINGS });
  const before = ws.homeSnapshot();
  const run = await ws.sync();
  t.equal(run.code, 0, "exit 0: not enrolled", { stderr: run.stderr });
  t.same(ws.homeSnapshot(), before, "home unchanged");
  t.match(metrics(ws), /claude_auth_sync_valid\{user="[^"]+"\} 1/, "no alert");
  t.same((await ws.doc()).data, SIBLINGS, "document unchanged");
});

t.test("restore: a logged-out stub is replaced by a usable backup, other keys kept", async (t) => {
  if (!requireRoot(t)) return;
  const ws = await workstation(t);
  const backup = credential("b", Date.now() + 5 * HOUR);
  await ws.seed({ claude_ai_oauth: JSON.stringify(backup), ...SIBLINGS });
  ws.writeCredentials({ claudeAiOauth: STUB, mcpOAuth: { srv: { token: "keep-me" } } });
  const run = await ws.sync();
  t.equal(run.code, 0, "exit 0", { stderr: run.stderr });
  const restored = JSON.parse(readFileSync(ws.credentialsFile, "utf8"));
  t.same(restored.claudeAiOauth, backup, "the backup's credential");
  t.same(restored.mcpOAuth, { srv: { token: "keep-me" } }, "mcpOAuth kept");
  const stat = statSync(ws.credentialsFile);
  t.equal(stat.mode & 0o777, 0o600);
  t.equal(stat.uid, ws.user.uid);
  const doc = await ws.doc();
  t.equal(doc.version, 1, "a restore writes nothing to Vault");
});

t.test(
  "steady state writes nothing in the home; the state file is refreshed hourly and on change",
  async (t) => {
    if (!requireRoot(t)) return;
    const ws = await workstation(t);
    ws.writeCredentials({ claudeAiOauth: credential("a", Date.now() + 7 * HOUR) });
    t.equal((await ws.sync()).code, 0, "first run backs up");
    t.equal((await ws.sync()).code, 0, "second run: steady, its message (backup already current) recorded");
    const statePath = `${ws.user.home}/.config/claude-auth-sync/state.json`;
    const first = JSON.parse(readFileSync(statePath, "utf8"));
    const inode = statSync(statePath).ino;
    const before = ws.homeSnapshot();
    t.equal((await ws.sync()).code, 0);
    t.same(ws.homeSnapshot(), before, "a run with nothing to do changes no file in the home");
    t.equal(statSync(statePath).ino, inode, "state.json not even rewritten");

    // An hour later the state file is refreshed, so `status` never shows a stale last run for long.
    const old = { ...first, lastRunAt: new Date(Date.now() - 2 * HOUR).toISOString() };
    writeFileSync(statePath, JSON.stringify(old));
    t.equal((await ws.sync()).code, 0);
    const refreshed = JSON.parse(readFileSync(statePath, "utf8"));
    t.ok(Date.parse(refreshed.lastRunAt) > Date.now() - 60_000, "refreshed after an hour");
    t.equal(statSync(statePath).uid, ws.user.uid, "still the user's");

    // A change of outcome is written at once: the user logs out, no usable backup -> exit 3 and notice.
    ws.writeCredentials({ claudeAiOauth: STUB });
    await ws.seed({});
    t.equal((await ws.sync()).code, 3);
    t.equal(JSON.parse(readFileSync(statePath, "utf8")).exitCode, 3, "the new outcome is recorded");
    t.ok(existsSync(`${ws.user.home}/.config/claude-auth-sync/notice`), "the notice is written");
  },
);

t.test(
  "a backup that comes back logged out is not restored again (no restore loop), a newer one is",
  async (t) => {
    if (!requireRoot(t)) return;
    const ws = await workstation(t);
    // Its access token looks valid for hours, but its login was revoked: Claude gets a 401, fails to
    // refresh and writes a stub again. Restoring it again would loop (once a minute under watch).
    const revoked = credential("revoked", Date.now() + 5 * HOUR);
    await ws.seed({
      claude_ai_oauth: JSON.stringify(revoked),
      claude_ai_oauth_backed_up_at: "2026-11-30T08:00:00Z",
    });
    const stub = JSON.stringify({ claudeAiOauth: STUB });
    ws.writeCredentials(stub);
    t.equal((await ws.sync()).code, 0, "the first stub: restored");
    t.same(JSON.parse(readFileSync(ws.credentialsFile, "utf8")).claudeAiOauth, revoked);

    ws.writeCredentials(stub); // Claude, after its refresh was refused
    const again = await ws.sync();
    t.equal(again.code, 3, "the same backup again: exit 3, SSO required", { stdout: again.stdout });
    t.equal(readFileSync(ws.credentialsFile, "utf8"), stub, "not restored a second time");
    t.match(again.stdout + again.stderr, /restored here before/, "the reason is given");
    const state = JSON.parse(readFileSync(`${ws.user.home}/.config/claude-auth-sync/state.json`, "utf8"));
    t.match(state.message, /restored here before and was logged out again/, "state.json says why");
    // What the user's next interactive shell prints, through the real snippet.
    const shell = spawnSync(
      "runuser",
      ["-u", ws.user.name, "--", "bash", "--norc", "-i", "-c", `. ${SNIPPET}`],
      { env: { HOME: ws.user.home, PATH: "/usr/sbin:/usr/bin:/bin" }, encoding: "utf8" },
    );
    const shown = shell.stderr.split("\n").filter((line) => line.startsWith("claude-auth-sync:"));
    t.equal(shown.length, 1, "the next shell shows one notice line", { stderr: shell.stderr });
    t.match(
      shown[0],
      /restored here before and was logged out again \(its login was revoked or its refresh token spent\)\. Run `claude auth login`/,
      "the notice says what state.json says",
    );
    t.notMatch(shown[0], /no usable backup exists/, "not that no backup exists");
    t.match(metrics(ws), /claude_auth_sync_valid\{user="[^"]+"\} 0/, "alert metric 0");

    // The user logs in on another machine (or here, then it is backed up): a new backup is restored.
    const fresh = credential("fresh", Date.now() + 8 * HOUR);
    await ws.seed({
      claude_ai_oauth: JSON.stringify(fresh),
      claude_ai_oauth_backed_up_at: "2026-11-30T09:00:00Z",
    });
    t.equal((await ws.sync()).code, 0, "a newer backup: restored");
    t.same(JSON.parse(readFileSync(ws.credentialsFile, "utf8")).claudeAiOauth, fresh);
  },
);

t.test(
  "SSO required: stub and an expired backup -> exit 3, notice, metric 0, nothing restored",
  async (t) => {
    if (!requireRoot(t)) return;
    const ws = await workstation(t);
    const expired = credential("old", Date.now() - HOUR);
    await ws.seed({ claude_ai_oauth: JSON.stringify(expired) });
    const stub = JSON.stringify({ claudeAiOauth: STUB });
    ws.writeCredentials(stub);
    const run = await ws.sync();
    t.equal(run.code, 3, "exit 3", { stdout: run.stdout });
    t.equal(readFileSync(ws.credentialsFile, "utf8"), stub, "the expired backup is not restored");
    const notice = `${ws.user.home}/.config/claude-auth-sync/notice`;
    t.match(readFileSync(notice, "utf8"), /claude auth login/, "a notice for the next shell");
    t.equal(statSync(notice).uid, ws.user.uid);
    t.match(metrics(ws), /claude_auth_sync_valid\{user="[^"]+"\} 0/, "alert metric 0");
    // After an interactive login the next sync backs it up and clears the notice.
    ws.writeCredentials({ claudeAiOauth: credential("new", Date.now() + 8 * HOUR) });
    t.equal((await ws.sync()).code, 0);
    t.notOk(existsSync(notice), "notice cleared");
    t.match(metrics(ws), /claude_auth_sync_valid\{user="[^"]+"\} 1/);
  },
);

t.test("bad setup_token in Vault: exit 6 naming setup_token, nothing written", async (t) => {
  if (!requireRoot(t)) return;
  const ws = await workstation(t);
  for (const bad of [
    `${setupToken()}\nEVIL=1`,
    "sk-ant-oat01-$(touch /tmp/pwned)xxxxxxxxxxxxxxxx",
    42,
    "hunter2",
  ]) {
    await ws.seed({ setup_token: bad, ...SIBLINGS });
    const before = ws.homeSnapshot();
    const run = await ws.sync();
    t.equal(run.code, 6, `exit 6 for ${JSON.stringify(bad).slice(0, 30)}`);
    t.match(run.stdout + run.stderr, /setup_token/, "names the field");
    t.same(ws.homeSnapshot(), before, "nothing written in the home");
  }
  t.notOk(existsSync("/tmp/pwned"), "nothing executed");
});

t.test("malformed Vault answers and wrong types: exit 6, nothing local changed", async (t) => {
  if (!requireRoot(t)) return;
  const ws = await workstation(t);
  ws.writeCredentials({ claudeAiOauth: credential("x", Date.now() + HOUR) });
  const before = ws.homeSnapshot();
  ws.vault.inject({
    kind: "garbage",
    status: 200,
    body: "<html>proxy</html>",
    pathPrefix: "secret/data/",
    times: 1,
  });
  let run = await ws.sync();
  t.equal(run.code, 6, "garbage -> exit 6");
  t.match(run.stdout + run.stderr, /not valid JSON/);
  await ws.seed({ a: 1 });
  ws.vault.inject({ kind: "truncated", pathPrefix: "secret/data/", times: 1 });
  run = await ws.sync();
  t.equal(run.code, 6, "truncated JSON -> exit 6");
  t.same(ws.homeSnapshot(), before, "nothing local changed");
});

t.test(
  "faults: refused, hang, sealed, 5xx, 403 -> exit 4/5 within the budget, nothing local changed",
  async (t) => {
    if (!requireRoot(t)) return;
    const ws = await workstation(t);
    await ws.seed({ setup_token: setupToken("F"), ...SIBLINGS });
    const before = ws.homeSnapshot();
    const cases: Array<[string, () => void, number, RegExp]> = [
      ["hang", () => ws.vault.inject({ kind: "hang", times: 1 }), 4, /did not answer in time/],
      ["sealed", () => ws.vault.seal(), 4, /sealed/],
      // Persistent: a transient answer is retried (see the next test) until half the budget is gone.
      ["500", () => ws.vault.inject({ kind: "status", status: 500 }), 4, /HTTP 500/],
      ["reset", () => ws.vault.inject({ kind: "reset" }), 4, /reset|closed/],
      [
        "403",
        () =>
          ws.vault.inject({ kind: "status", status: 403, body: { errors: ["permission denied"] }, times: 1 }),
        5,
        /permission denied/,
      ],
    ];
    for (const [name, arm, code, message] of cases) {
      arm();
      const run = await ws.sync();
      ws.vault.unseal();
      ws.vault.clearFaults();
      t.equal(run.code, code, `${name}: exit ${code}`, { stdout: run.stdout });
      t.match(run.stdout + run.stderr, message, `${name}: the message names the cause`);
      t.ok(run.ms < 1500 + 1000, `${name}: bounded by the budget (${run.ms} ms)`);
      t.same(ws.homeSnapshot(), before, `${name}: nothing local changed`);
    }
    await ws.vault.close();
    const refused = await ws.sync();
    t.equal(refused.code, 4, "connection refused: exit 4");
    t.match(refused.stdout, /connection refused/);
    t.same(ws.homeSnapshot(), before, "refused: nothing local changed");
  },
);

t.test(
  "a transient answer (500, reset, standby 503, redirect 307, refused) is retried within the budget: the run succeeds",
  async (t) => {
    if (!requireRoot(t)) return;
    const ws = await workstation(t);
    await ws.seed({ setup_token: setupToken("T"), ...SIBLINGS });
    const cases: Array<[string, () => void]> = [
      ["500", () => ws.vault.inject({ kind: "status", status: 500, times: 2 })],
      ["reset", () => ws.vault.inject({ kind: "reset", times: 1 })],
      [
        "standby 503",
        () =>
          ws.vault.inject({ kind: "status", status: 503, body: { errors: ["node not active"] }, times: 2 }),
      ],
      [
        "307 to a dead leader",
        () =>
          ws.vault.inject({
            kind: "status",
            status: 307,
            headers: { Location: "http://127.0.0.1:1/v1/secret/data/x" },
            body: "",
            times: 1,
          }),
      ],
    ];
    for (const [name, arm] of cases) {
      rmSync(ws.envFile, { force: true });
      arm();
      const run = await ws.sync();
      ws.vault.clearFaults();
      t.equal(run.code, 0, `${name}: retried, exit 0`, { stdout: run.stdout, stderr: run.stderr });
      t.ok(existsSync(ws.envFile), `${name}: the env file is written`);
      t.ok(run.ms < 1500 + 1000, `${name}: within the budget (${run.ms} ms)`);
    }
    const persistent = ws.vault.inject({
      kind: "status",
      status: 307,
      headers: { Location: "http://127.0.0.1:1/" },
    });
    const redirected = await ws.sync();
    persistent.clear();
    t.equal(redirected.code, 4, "a standby that keeps redirecting: exit 4 (unavailable), not 1");
    t.match(redirected.stdout, /standby and redirected \(HTTP 307\)/);
    t.ok(redirected.ms < 1500 + 1000, `bounded (${redirected.ms} ms)`);
  },
);

t.test("a token without read on the document: exit 5 with the path and the fix", async (t) => {
  if (!requireRoot(t)) return;
  const ws = await workstation(t);
  const answer = await vaultApi(ws.vault.addr, ws.vault.rootToken, "POST", "auth/token/create", {
    policies: ["default"],
    no_parent: true,
  });
  const weak = (answer.body?.auth as { client_token: string } | undefined)?.client_token ?? "";
  const run = await ws.sync([], { VAULT_TOKEN: weak, CLAUDE_AUTH_SYNC_TOKEN_FILE: "" });
  t.equal(run.code, 5, "exit 5");
  t.match(run.stdout, /permission denied reading secret\/data\/workstation\/claude-users\//);
  t.match(run.stdout, /fix:/);
  t.notMatch(run.stdout + run.stderr, weak, "the token is not printed");
});

t.test("over a soft-deleted document a backup writes with cas = the deleted version", async (t) => {
  if (!requireRoot(t)) return;
  const ws = await workstation(t);
  await ws.seed({ old: "x" });
  await vaultApi(
    ws.vault.addr,
    ws.vault.rootToken,
    "DELETE",
    `secret/data/workstation/claude-users/${ws.user.name}`,
  );
  ws.writeCredentials({ claudeAiOauth: credential("d", Date.now() + 7 * HOUR) });
  ws.vault.clearRequests();
  const run = await ws.sync();
  t.equal(run.code, 0, "exit 0", { stdout: run.stdout });
  const write = ws.vault.requests.find((r) => r.method === "POST");
  t.same((write?.body as { options?: unknown })?.options, { cas: 1 }, "cas names the deleted version");
  const doc = await ws.doc();
  t.equal(doc.version, 2);
  t.notOk(doc.data && "old" in doc.data, "deleted keys stay deleted");
});

t.test("dry run prints the plan and changes nothing", async (t) => {
  if (!requireRoot(t)) return;
  const ws = await workstation(t);
  await ws.seed({ setup_token: setupToken("P") });
  // A killed run's leftover: a real pass sweeps it, a dry run must not.
  const leftover = `${ws.user.home}/.config/claude-auth-sync/.state.json.tmp-${hostname()}-999999-abc`;
  execFileSync("runuser", [
    "-u",
    ws.user.name,
    "--",
    "sh",
    "-c",
    `mkdir -p -m 700 "$(dirname ${leftover})" && echo x > ${leftover}`,
  ]);
  const before = ws.homeSnapshot();
  const run = await ws.sync(["--dry-run"]);
  t.equal(run.code, 0);
  t.match(run.stdout, /write the env file/);
  t.same(ws.homeSnapshot(), before, "home unchanged, the leftover included");
  t.notMatch(run.stdout, /sk-ant-oat01-PPPP/, "no token in the plan");
  t.equal((await ws.sync()).code, 0);
  t.notOk(existsSync(leftover), "the real pass swept the leftover");
});

t.test("only root may sync another user; system users are ignored", async (t) => {
  if (!requireRoot(t)) return;
  const ws = await workstation(t);
  const { runBinary } = await import("../helpers/cli.js");
  const other = await runBinary(["sync", "--user", "root", "--config", ws.config], {
    uid: ws.user.uid,
    gid: ws.user.gid,
  });
  t.equal(other.code, 2, "exit 2 for --user as a non-root user");
  t.match(other.stderr, /only root may act for another user/);
  const system = await runBinary(["sync", "--user", "daemon", "--config", ws.config]);
  t.equal(system.code, 0);
  t.match(system.stdout, /ignored/);
  const bad = await runBinary(["sync", "--user", "../etc", "--config", ws.config]);
  t.equal(bad.code, 6, "a path-like user name is invalid data");
});

t.test(
  "sync --user with a user-writable metrics directory and FIFOs at the next pids' temp names: it finishes, refuses the directory on stderr, the FIFOs untouched",
  async (t) => {
    if (!requireRoot(t)) return;
    // t3-serve's copies go elsewhere: below a user's directory they are refused (and fail the sync) on their own.
    const serviceEnv = mkdtempSync("/var/tmp/cas-service-env-");
    t.teardown(() => rmSync(serviceEnv, { recursive: true, force: true }));
    const ws = await workstation(t, {
      CLAUDE_AUTH_SYNC_TIMEOUT_MS: "1500",
      CLAUDE_AUTH_SYNC_SERVICE_ENV_DIR: serviceEnv,
    });
    t.teardown(() => killHungRuns(ws.config));
    await ws.seed({ setup_token: setupToken("M") });
    const fifos = plantTempFifos(ws.metricsDir, ws.user);
    const { runBinary } = await import("../helpers/cli.js");
    const run = await runBinary(["sync", "--user", ws.user.name, "--config", ws.config], {
      timeoutMs: 1500 + WATCHDOG_SLACK_MS + 5000,
    });
    t.equal(run.code, 0, "the sync succeeds: metrics are secondary", { run });
    t.ok(run.ms < 1500 + WATCHDOG_SLACK_MS, `bounded: ${run.ms} ms`);
    t.ok(existsSync(ws.envFile), "the env file is written");
    t.same(fifosTouched(fifos, ws.user), [], "the planted FIFOs are untouched");
    t.match(
      run.stderr,
      new RegExp(`warning: metrics directory ${ws.metricsDir} refused: it is owned by uid ${ws.user.uid}`),
    );
    t.match(run.stderr, /fix: as root: chown root:root/, "with the fix");
    t.equal(metrics(ws), "", "no metrics written there");
  },
);

t.test(
  "the metrics directory rule: root's, or node_exporter's group; never a user's or everyone's",
  async (t) => {
    if (!requireRoot(t)) return;
    const ws = await workstation(t);
    await ws.seed({ setup_token: setupToken("R") });
    const outcome = async () => {
      rmSync(join(ws.metricsDir, `claude-auth-sync-${ws.user.name}.prom`), { force: true });
      const run = await ws.sync();
      t.equal(run.code, 0, "the sync itself never fails for it", { stderr: run.stderr });
      return { written: metrics(ws) !== "", stderr: run.stderr };
    };
    t.ok((await outcome()).written, "root:root 0755: written");
    const prometheus = Number(execFileSync("getent", ["group", "prometheus"]).toString().split(":")[2]);
    chownSync(ws.metricsDir, 0, prometheus);
    chmodSync(ws.metricsDir, 0o775);
    t.ok((await outcome()).written, "root:prometheus 0775: written");
    chownSync(ws.metricsDir, 0, ws.user.gid);
    const group = await outcome();
    t.notOk(group.written, "writable by the user's group: refused");
    t.match(group.stderr, new RegExp(`group ${ws.user.gid} may write it \\(mode 0775\\)`));
    chownSync(ws.metricsDir, 0, 0);
    chmodSync(ws.metricsDir, 0o777);
    const world = await outcome();
    t.notOk(world.written, "world-writable: refused");
    t.match(world.stderr, /everyone may write it \(mode 0777\)/);
    chmodSync(ws.metricsDir, 0o755);
    const parent = mkdtempSync("/var/tmp/cas-metrics-parent-");
    t.teardown(() => rmSync(parent, { recursive: true, force: true }));
    chownSync(parent, ws.user.uid, ws.user.gid);
    const nested = join(parent, "metrics");
    mkdirSync(nested, { mode: 0o755 });
    const config = readFileSync(ws.config, "utf8").replace(
      `CLAUDE_AUTH_SYNC_METRICS_DIR=${ws.metricsDir}`,
      `CLAUDE_AUTH_SYNC_METRICS_DIR=${nested}`,
    );
    writeFileSync(ws.config, config);
    const ancestor = await ws.sync();
    t.match(
      ancestor.stderr,
      new RegExp(
        `metrics directory ${nested} refused \\(at its ancestor ${parent}\\): it is owned by uid ${ws.user.uid}`,
      ),
      "a user's ancestor could swap the directory: refused, naming the ancestor",
    );
    t.notOk(existsSync(join(nested, `claude-auth-sync-${ws.user.name}.prom`)));
    const link = join(ws.metricsDir, "via-link");
    symlinkSync(nested, link);
    chownSync(parent, 0, 0);
    writeFileSync(ws.config, config.replace(`METRICS_DIR=${nested}`, `METRICS_DIR=${link}`));
    t.equal((await ws.sync()).code, 0);
    t.ok(
      existsSync(join(nested, `claude-auth-sync-${ws.user.name}.prom`)),
      "a root link to a safe directory is fine",
    );
  },
);

t.test(
  "the dead-temp sweep removes only root's regular temps of dead runs, never a planted FIFO, link or directory",
  async (t) => {
    if (!requireRoot(t)) return;
    const ws = await workstation(t);
    await ws.seed({ setup_token: setupToken("W") });
    const name = (suffix: string) =>
      join(ws.metricsDir, `claude-auth-sync-${ws.user.name}.prom.${suffix}.tmp`);
    const dead = name("999999");
    const deadNew = name("999998-abc123");
    writeFileSync(dead, "old run\n");
    writeFileSync(deadNew, "old run\n");
    const fifo = name("999997");
    execFileSync("mkfifo", [fifo]);
    const link = name("999996");
    symlinkSync("/etc/passwd", link);
    const dir = name("999995");
    mkdirSync(dir);
    const users = name("999994");
    writeFileSync(users, "someone else's\n");
    chownSync(users, ws.user.uid, ws.user.gid);
    const run = await ws.sync();
    t.equal(run.code, 0);
    t.notOk(existsSync(dead), "a dead run's temp is removed");
    t.notOk(existsSync(deadNew), "in either name format");
    t.ok(lstatSync(fifo).isFIFO(), "the FIFO is left alone");
    t.ok(lstatSync(link).isSymbolicLink(), "the link is left alone");
    t.ok(lstatSync(dir).isDirectory(), "the directory is left alone");
    t.ok(existsSync(users), "a file that is not root's is left alone");
    t.match(metrics(ws), /claude_auth_sync_valid/, "the metrics file is written");
    t.equal(
      readFileSync("/etc/passwd", "utf8").includes("claude_auth_sync"),
      false,
      "nothing through the link",
    );
    t.same(
      readdirSync(ws.metricsDir).filter((n) => n.endsWith(".tmp") && !/\.99999[4-7]\.tmp$/.test(n)),
      [],
      "no temp of this run left behind",
    );
  },
);
