// The login path for real: a PAM service with the real pam_exec line running the built binary,
// real users, driven by pamtester open_session.
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import t, { type Test } from "tap";
import { BINARY, runBinary } from "../helpers/cli.js";
import { requireRoot } from "../helpers/users.js";
import { credential, HOUR, setupToken, type Workstation, workstation } from "../sync/fixture.js";

const PAMTESTER = "/usr/bin/pamtester";
const BUDGET_MS = 1500;

function requirePamtester(t: Test): boolean {
  if (existsSync(PAMTESTER)) return true;
  const why = `SKIPPED: ${PAMTESTER} is missing (apt-get install pamtester)`;
  if (process.env.CI === "true") t.fail(`${why}; CI must provide it`);
  else t.plan(0, why);
  return false;
}

/** A PAM service whose session stack is exactly the shipped line, pointed at the built binary. */
function pamService(t: Test, ws: Workstation, control = "optional"): string {
  const name = `cas-test-${randomBytes(4).toString("hex")}`;
  const path = `/etc/pam.d/${name}`;
  writeFileSync(
    path,
    [
      "auth required pam_permit.so",
      "account required pam_permit.so",
      `session ${control} pam_exec.so quiet ${BINARY} pam --config ${ws.config}`,
      "",
    ].join("\n"),
  );
  t.teardown(() => rmSync(path, { force: true }));
  return name;
}

/** pamtester runs asynchronously: the Vault stand-in lives in this process and must keep answering. */
function openSession(
  service: string,
  user: string,
): Promise<{ status: number | null; ms: number; output: string }> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(PAMTESTER, ["-v", service, user, "open_session"], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout.on("data", (c: Buffer) => {
      output += c.toString();
    });
    child.stderr.on("data", (c: Buffer) => {
      output += c.toString();
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
    child.on("error", reject);
    child.on("close", (status) => {
      clearTimeout(timer);
      resolve({ status, ms: Date.now() - started, output });
    });
  });
}

t.test("a login materializes the setup token: the user's file, 0600, owned by the user", async (t) => {
  if (!requireRoot(t) || !requirePamtester(t)) return;
  const ws = await workstation(t, { CLAUDE_AUTH_SYNC_TIMEOUT_MS: String(BUDGET_MS) });
  const token = setupToken("L");
  await ws.seed({ setup_token: token, vaultwarden_token: "vw" });
  const service = pamService(t, ws);
  const session = await openSession(service, ws.user.name);
  t.equal(session.status, 0, "the session opens", { output: session.output });
  t.equal(readFileSync(ws.envFile, "utf8"), `CLAUDE_CODE_OAUTH_TOKEN=${token}\n`);
  const stat = statSync(ws.envFile);
  t.equal(stat.uid, ws.user.uid, "owned by the user");
  t.equal(stat.gid, ws.user.gid);
  t.equal(stat.mode & 0o777, 0o600);
  t.equal((await ws.doc()).data?.vaultwarden_token, "vw", "the document is untouched");
  t.notMatch(session.output, token, "nothing secret in PAM's output");
});

t.test("a login restores a logged-out credential from a usable backup", async (t) => {
  if (!requireRoot(t) || !requirePamtester(t)) return;
  const ws = await workstation(t);
  const backup = credential("pam", Date.now() + 5 * HOUR);
  await ws.seed({ claude_ai_oauth: JSON.stringify(backup) });
  ws.writeCredentials({ claudeAiOauth: { accessToken: "", refreshToken: "", expiresAt: 0 } });
  t.equal((await openSession(pamService(t, ws), ws.user.name)).status, 0);
  t.same(JSON.parse(readFileSync(ws.credentialsFile, "utf8")).claudeAiOauth, backup);
});

t.test("Vault hanging or down: the session still opens, within the budget plus start-up", async (t) => {
  if (!requireRoot(t) || !requirePamtester(t)) return;
  const ws = await workstation(t, { CLAUDE_AUTH_SYNC_TIMEOUT_MS: String(BUDGET_MS) });
  await ws.seed({ setup_token: setupToken("H") });
  const service = pamService(t, ws);
  ws.vault.inject({ kind: "hang" });
  const hung = await openSession(service, ws.user.name);
  t.equal(hung.status, 0, "opens with Vault hanging", { output: hung.output });
  t.ok(hung.ms < BUDGET_MS + 1000, `bounded: ${hung.ms} ms`);
  t.notOk(existsSync(ws.envFile), "nothing written");
  ws.vault.clearFaults();
  await ws.vault.close();
  const down = await openSession(service, ws.user.name);
  t.equal(down.status, 0, "opens with Vault down", { output: down.output });
  t.ok(down.ms < BUDGET_MS + 1000, `bounded: ${down.ms} ms`);
});

t.test(
  "CLAUDE_AUTH_SYNC_PAM_STRICT=1 with a 'required' line fails the session when Vault is down",
  async (t) => {
    if (!requireRoot(t) || !requirePamtester(t)) return;
    const ws = await workstation(t, { CLAUDE_AUTH_SYNC_PAM_STRICT: "1" });
    await ws.seed({ setup_token: setupToken("X") });
    const service = pamService(t, ws, "required");
    t.equal((await openSession(service, ws.user.name)).status, 0, "Vault up: opens");
    await ws.vault.close();
    t.not((await openSession(service, ws.user.name)).status, 0, "Vault down: strict fails the session");
  },
);

t.test("system users and other PAM phases are ignored", async (t) => {
  if (!requireRoot(t) || !requirePamtester(t)) return;
  const ws = await workstation(t);
  ws.vault.clearRequests();
  t.equal((await openSession(pamService(t, ws), "daemon")).status, 0);
  const close = await runBinary(["pam", "--config", ws.config], {
    env: { PAM_USER: ws.user.name, PAM_TYPE: "close_session" },
  });
  t.equal(close.code, 0);
  t.equal(ws.vault.requests.length, 0, "no Vault traffic for a system user or close_session");
});

t.test("the PAM environment cannot redirect the root-run sync (no env overrides)", async (t) => {
  if (!requireRoot(t)) return;
  const ws = await workstation(t);
  await ws.seed({ setup_token: setupToken("E") });
  const run = await runBinary(["pam", "--config", ws.config], {
    env: {
      PAM_USER: ws.user.name,
      PAM_TYPE: "open_session",
      VAULT_ADDR: "http://127.0.0.1:9",
      CLAUDE_AUTH_SYNC_TOKEN_FILE: "/nonexistent",
      CLAUDE_AUTH_SYNC_PATH: "evil/{user}",
    },
  });
  t.equal(run.code, 0);
  t.match(run.stderr, /outcome=valid/, "synced against the configured Vault", { stderr: run.stderr });
  t.ok(existsSync(ws.envFile));
});

t.test("a hostile PAM_USER is refused without touching anything", async (t) => {
  if (!requireRoot(t)) return;
  const ws = await workstation(t);
  ws.vault.clearRequests();
  for (const user of ["../../etc", "root/..", "%00", "a b"]) {
    const run = await runBinary(["pam", "--config", ws.config], {
      env: { PAM_USER: user, PAM_TYPE: "open_session" },
    });
    t.equal(run.code, 0, `${JSON.stringify(user)}: the login is not blocked`);
    t.match(run.stderr, /not a valid login name/);
  }
  t.equal(ws.vault.requests.length, 0, "no Vault traffic");
});
