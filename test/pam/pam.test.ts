// The login path for real: a PAM service with the real pam_exec line running the built binary,
// real users, driven by pamtester open_session.
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import t, { type Test } from "tap";
import { BINARY, runBinary } from "../helpers/cli.js";
import {
  DEFAULT_BUDGET_MS,
  fifosTouched,
  killHungRuns,
  plantTempFifos,
  WATCHDOG_SLACK_MS,
} from "../helpers/metrics-traps.js";
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
function pamService(t: Test, ws: Workstation, control = "optional", logFile?: string): string {
  const name = `cas-test-${randomBytes(4).toString("hex")}`;
  const path = `/etc/pam.d/${name}`;
  writeFileSync(
    path,
    [
      "auth required pam_permit.so",
      "account required pam_permit.so",
      `session ${control} pam_exec.so type=open_session quiet${logFile ? ` log=${logFile}` : ""} ${BINARY} pam --config ${ws.config}`,
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
  timeoutMs = 30_000,
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
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
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

/** A root-only scratch file for pam_exec's log= (what our hook wrote to stdout/stderr). */
function pamLog(t: Test): string {
  const dir = mkdtempSync("/var/tmp/cas-pamlog-");
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return join(dir, "pam_exec.log");
}

t.test(
  "a user-writable metrics directory with FIFOs at the next pids' temp names: the login ends within the budget, the FIFOs untouched, the refusal logged",
  async (t) => {
    if (!requireRoot(t) || !requirePamtester(t)) return;
    const ws = await workstation(t, { CLAUDE_AUTH_SYNC_TIMEOUT_MS: String(BUDGET_MS) });
    t.teardown(() => killHungRuns(ws.config));
    await ws.seed({ setup_token: setupToken("F") });
    const log = pamLog(t);
    const service = pamService(t, ws, "optional", log);
    const fifos = plantTempFifos(ws.metricsDir, ws.user);
    const session = await openSession(service, ws.user.name, BUDGET_MS + WATCHDOG_SLACK_MS + 5000);
    const output = existsSync(log) ? readFileSync(log, "utf8") : "";
    t.equal(session.status, 0, "the session opens", { output: session.output });
    t.ok(session.ms < BUDGET_MS + WATCHDOG_SLACK_MS, `bounded: ${session.ms} ms`);
    t.same(fifosTouched(fifos, ws.user), [], `the ${fifos.length} planted FIFOs are untouched`);
    t.match(output, /metrics directory .*refused/, "the refusal is logged", { output });
    t.match(output, new RegExp(ws.metricsDir), "it names the directory");
    t.ok(existsSync(ws.envFile), "the sync itself still ran: metrics are secondary");
  },
);

/**
 * The built binary under strace, with every open of `path` held in the kernel for `delayMs`. strace
 * reaps its tracee only once the delay is over, so what is timed is the tracee's death (a zombie or
 * gone), seen in /proc: the moment a login without strace would continue.
 */
function runWithBlockedOpen(
  path: string,
  delayMs: number,
  args: string[],
  env: Record<string, string>,
  timeoutMs: number,
): Promise<{ deadMs: number | undefined; stderr: string }> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    // env -i: tap adds NODE_OPTIONS to every child's environment, which the hook would refuse.
    const child = spawn(
      "/usr/bin/env",
      [
        ...["-i", ...Object.entries(env).map(([k, v]) => `${k}=${v}`), "/usr/bin/strace"],
        ...["-f", "-qq", "-o", "/dev/null", "-P", path, "-e", "trace=openat,open"],
        ...["-e", `inject=openat,open:delay_enter=${delayMs * 1000}`, BINARY, ...args],
      ],
      { stdio: ["ignore", "ignore", "pipe"] },
    );
    let stderr = "";
    child.stderr.on("data", (c: Buffer) => {
      stderr += c.toString();
    });
    let tracee: number | undefined;
    let deadMs: number | undefined;
    // Dead: gone, a zombie, or SIGKILLed (strace holds a killed tracee's last thread in its delay,
    // but nothing of it runs again: SIGKILL is pending, its other threads are gone).
    const dead = (pid: number) => {
      try {
        const status = readFileSync(`/proc/${pid}/status`, "utf8");
        if (/^State:\s+Z/m.test(status)) return true;
        return ["SigPnd", "ShdPnd"].some(
          (key) =>
            (BigInt(`0x${new RegExp(`^${key}:\\s+([0-9a-f]+)`, "m").exec(status)?.[1] ?? "0"}`) & 0x100n) !==
            0n,
        );
      } catch {
        return true;
      }
    };
    const poll = setInterval(() => {
      if (tracee === undefined) {
        try {
          // env execs strace in place: the tracee is strace's (env's pid's) first child.
          const children = readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, "utf8").trim();
          if (children) tracee = Number(children.split(" ")[0]);
        } catch {}
        return;
      }
      const gone = dead(tracee);
      if (gone || Date.now() - started > timeoutMs) {
        if (gone) deadMs = Date.now() - started;
        clearInterval(poll);
        child.kill("SIGKILL");
      }
    }, 20);
    child.on("error", reject);
    child.on("close", () => {
      clearInterval(poll);
      resolve({ deadMs, stderr });
    });
  });
}

t.test(
  "the config file's read blocks (strace holds its open): the hook is gone within the default budget",
  async (t) => {
    if (!requireRoot(t)) return;
    if (!existsSync("/usr/bin/strace")) return t.plan(0, "SKIPPED: strace is missing");
    const ws = await workstation(t, { CLAUDE_AUTH_SYNC_TIMEOUT_MS: String(BUDGET_MS) });
    t.teardown(() => killHungRuns(ws.config));
    const run = await runWithBlockedOpen(
      ws.config,
      DEFAULT_BUDGET_MS + WATCHDOG_SLACK_MS + 10_000,
      ["pam", "--config", ws.config],
      { PAM_USER: ws.user.name, PAM_TYPE: "open_session" },
      DEFAULT_BUDGET_MS + WATCHDOG_SLACK_MS + 5000,
    );
    t.ok(
      run.deadMs !== undefined && run.deadMs < DEFAULT_BUDGET_MS + WATCHDOG_SLACK_MS,
      `gone in ${run.deadMs} ms`,
      { run },
    );
    t.match(run.stderr, /gave up/, "a line says it gave up", { stderr: run.stderr });
  },
);

t.test(
  "a file call inside the sync blocks past the budget (strace holds the metrics directory's open): the hook is gone within budget plus margin",
  async (t) => {
    if (!requireRoot(t)) return;
    if (!existsSync("/usr/bin/strace")) return t.plan(0, "SKIPPED: strace is missing");
    const ws = await workstation(t, { CLAUDE_AUTH_SYNC_TIMEOUT_MS: String(BUDGET_MS) });
    t.teardown(() => killHungRuns(ws.config));
    await ws.seed({ setup_token: setupToken("S") });
    const run = await runWithBlockedOpen(
      ws.metricsDir,
      BUDGET_MS + WATCHDOG_SLACK_MS + 10_000,
      ["pam", "--config", ws.config],
      { PAM_USER: ws.user.name, PAM_TYPE: "open_session" },
      BUDGET_MS + WATCHDOG_SLACK_MS + 5000,
    );
    t.ok(run.deadMs !== undefined && run.deadMs < BUDGET_MS + WATCHDOG_SLACK_MS, `gone in ${run.deadMs} ms`, {
      run,
    });
    t.match(run.stderr, /gave up/, "a line says it gave up", { stderr: run.stderr });
    t.ok(existsSync(ws.envFile), "what came before the blocked call was done");
  },
);
