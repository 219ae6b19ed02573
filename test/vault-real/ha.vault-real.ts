// The built binary (dist/claude-auth) against a real 3-node Vault HA cluster (integrated storage, raft;
// ha-cluster.ts): sync and pam through the active node and through a standby (request forwarding), then
// failover under load (the leader SIGKILLed, a new one elected, the old one restarted and rejoined;
// sys/step-down; a sealed node; a frozen leader), with every run's exit code, wall time and message
// recorded. What must hold whatever the cluster does: no run outlives CLAUDE_AUTH_SYNC_TIMEOUT_MS plus a
// margin, no env file is removed or torn, no sibling key and no acknowledged backup is lost, runs
// succeed again soon after an election.
//
// Tests named "needs retry" or "needs address list" hold the expectation a client change gives (a
// bounded retry within the budget on refused / 503 / 307 / 500 "local node not active"; VAULT_ADDR
// listing every node, tried in order, with a per-node timeout below the budget): they fail on a client
// without it, by design.
import { execFile } from "node:child_process";
import { mkdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import t, { type Test } from "tap";
import { makeConfig, type RunResult, runBinary } from "../helpers/cli.js";
import { createTestUser, requireRoot, type TestUser } from "../helpers/users.js";
import { documentPath } from "../helpers/vault-api.js";
import { credential, HOUR, setupToken } from "../sync/fixture.js";
import type { RealVault } from "./bootstrap.js";
import { call, type HaNode, type NodeState, startHaCluster } from "./ha-cluster.js";
import { counting } from "./report.js";

const run$ = promisify(execFile);
const TIMEOUT_MS = 3000;
const MARGIN_MS = 500;
const SIBLINGS = {
  vaultwarden_token: 'vw-secret-Ω-"quoted"\n with newline',
  vaultwarden_url: "https://vw.example/",
  vaultwarden_nested: { deep: [1, 2, { x: null }] },
};
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? Number.NaN : (s[Math.floor((s.length - 1) / 2)] as number);
};

const cluster = await startHaCluster();
t.teardown(() => cluster.close());
const metricsDir = join("/var/tmp", `cas-metrics-ha-${process.pid}`);
mkdirSync(metricsDir, { recursive: true });
t.teardown(() => rmSync(metricsDir, { recursive: true, force: true }));
const asVault = {
  addr: cluster.nodes[0]?.addr ?? "",
  rootToken: cluster.rootToken,
  binary: cluster.binary,
  version: cluster.version,
} as unknown as RealVault;
t.comment(
  `real Vault HA cluster: ${cluster.binary.version}, 3 raft nodes: ${cluster.nodes.map((n) => `${n.id} ${n.addr}`).join(", ")}`,
);
const ha = counting(t, "ha", asVault);

// ---- users, documents, runs

type Mode = "setup-token" | "rotating";
interface Account {
  user: TestUser;
  mode: Mode;
  token: string;
  envFile: string;
  credentialsFile: string;
  /** Rotating: the last credential number written locally, and the last one a run acknowledged (exit 0). */
  written: number;
  acked: number;
}

async function rootCall(method: string, path: string, body?: unknown) {
  for (let attempt = 0; attempt < 50; attempt++) {
    try {
      const lead = await cluster.leader(10_000);
      const answer = await call(lead.addr, cluster.rootToken, method, path, body, 3000);
      if (answer.status < 500) return answer;
    } catch {}
    await sleep(200);
  }
  throw new Error(`root ${method} ${path}: no answer from the cluster`);
}

async function readDocument(user: string) {
  const answer = await rootCall("GET", documentPath(user));
  return (answer.body?.data as { data?: Record<string, unknown> } | undefined)?.data;
}

async function writeCredentials(account: Account, n: number) {
  const dir = join(account.user.home, ".claude");
  const text = JSON.stringify({
    claudeAiOauth: credential(`${account.user.name}-${n}`, Date.now() + 7 * HOUR + n * 1000),
    mcpOAuth: { srv: { token: "m" } },
  });
  await run$("runuser", [
    "-u",
    account.user.name,
    "--",
    "sh",
    "-c",
    `mkdir -p -m 700 "$1" && umask 077 && printf '%s' "$3" > "$2.tmp" && mv "$2.tmp" "$2"`,
    "sh",
    dir,
    account.credentialsFile,
    text,
  ]);
  account.written = n;
}

function backupNumber(doc: Record<string, unknown> | undefined, account: Account): number {
  try {
    const backup = JSON.parse(String(doc?.claude_ai_oauth)) as { accessToken?: string };
    const match = new RegExp(`-access-${account.user.name}-(\\d+)$`).exec(backup.accessToken ?? "");
    return match ? Number(match[1]) : -1;
  } catch {
    return -1;
  }
}

async function account(t: Test, mode: Mode): Promise<Account> {
  const user = createTestUser(t, "casha");
  const token = setupToken(mode === "setup-token" ? "H" : "R");
  const a: Account = {
    user,
    mode,
    token,
    envFile: join(user.home, ".config/claude-auth-sync/claude-oauth.env"),
    credentialsFile: join(user.home, ".claude/.credentials.json"),
    written: 0,
    acked: 0,
  };
  const data: Record<string, unknown> = { ...SIBLINGS };
  if (mode === "setup-token") {
    data.setup_token = token;
    data.setup_token_updated_at = new Date().toISOString();
  }
  const answer = await rootCall("POST", documentPath(user.name), { data });
  if (answer.status >= 300) throw new Error(`seed ${user.name}: HTTP ${answer.status}`);
  if (mode === "rotating") await writeCredentials(a, 1);
  return a;
}

const configs = new Map<string, string>();
function configFor(addr: string): string {
  let path = configs.get(addr);
  if (!path) {
    path = makeConfig(
      t,
      {
        VAULT_ADDR: addr,
        CLAUDE_AUTH_SYNC_TIMEOUT_MS: String(TIMEOUT_MS),
        // pam reports its real outcome (it still never blocks a login beyond the budget).
        CLAUDE_AUTH_SYNC_PAM_STRICT: "1",
        CLAUDE_AUTH_SYNC_METRICS_DIR: metricsDir,
        CLAUDE_AUTH_SYNC_SERVICE_ENV_DIR: join(metricsDir, "service-env"),
      },
      cluster.hostToken,
    ).path;
    configs.set(addr, path);
  }
  return path;
}
const allNodes = () => cluster.nodes.map((n) => n.addr).join(",");

type Command = "sync" | "pam";
interface Outcome {
  phase: string;
  command: Command;
  user: string;
  mode: Mode;
  /** The node VAULT_ADDR names (or "list"), and its state when the run started. */
  target: string;
  targetState: string;
  startedAt: number;
  code: number | null;
  ms: number;
  message: string;
}

function message(run: RunResult): string {
  const lines = `${run.stderr}\n${run.stdout}`
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "");
  const error = lines.find((l) => /^claude-auth/.test(l)) ?? lines[0] ?? "";
  return error.slice(0, 220);
}

function kindOf(o: Pick<Outcome, "code" | "message">): string {
  if (o.code === 0) return "ok";
  const m = o.message;
  if (/HTTP 30[78]|redirect/i.test(m)) return "307 redirect";
  if (/did not answer in time|timed out|deadline/i.test(m)) return "timeout";
  if (/connection refused/.test(m)) return "refused";
  if (/sealed/i.test(m)) return "sealed";
  if (/local node not active|HTTP 5\d\d/.test(m)) return "500";
  if (/connection reset/.test(m)) return "reset";
  if (/VAULT_ADDR/.test(m)) return "config";
  return "other";
}

async function runOnce(
  a: Account,
  command: Command,
  addr: string,
  phaseAt: string | (() => string),
  target: string,
  stateAt: string | (() => string),
): Promise<Outcome> {
  let n = 0;
  if (a.mode === "rotating") {
    n = a.written + 1;
    await writeCredentials(a, n);
  }
  // Read when the run starts (after the credentials are written), not when it was queued.
  const phase = typeof phaseAt === "function" ? phaseAt() : phaseAt;
  const targetState = typeof stateAt === "function" ? stateAt() : stateAt;
  const config = configFor(addr);
  const startedAt = Date.now();
  const run =
    command === "sync"
      ? await runBinary(["sync", "--user", a.user.name, "--config", config], { timeoutMs: 20_000 })
      : await runBinary(["pam", "--config", config], {
          env: { PAM_USER: a.user.name, PAM_TYPE: "open_session" },
          timeoutMs: 20_000,
        });
  if (run.code === 0 && a.mode === "rotating") a.acked = Math.max(a.acked, n);
  return {
    phase,
    command,
    user: a.user.name,
    mode: a.mode,
    target,
    targetState,
    startedAt,
    code: run.code,
    ms: run.ms,
    message: run.code === 0 ? "" : message(run),
  };
}

function envFileOk(a: Account): boolean {
  try {
    return readFileSync(a.envFile, "utf8") === `CLAUDE_CODE_OAUTH_TOKEN=${a.token}\n`;
  } catch {
    return false;
  }
}

/** Siblings byte-for-byte, setup_token kept, no acknowledged backup lost: read with the root token. */
async function checkDocuments(t: Test, accounts: Account[]) {
  for (const a of accounts) {
    const doc = await readDocument(a.user.name);
    for (const [key, value] of Object.entries(SIBLINGS))
      t.equal(JSON.stringify(doc?.[key]), JSON.stringify(value), `${a.user.name}: ${key} kept`);
    if (a.mode === "setup-token") {
      t.equal(doc?.setup_token, a.token, `${a.user.name}: setup_token kept`);
      t.ok(envFileOk(a), `${a.user.name}: env file present and whole`);
    } else {
      const n = backupNumber(doc, a);
      t.ok(
        n >= a.acked,
        `${a.user.name}: the backup (credential ${n}) is the last acknowledged one (${a.acked}) or newer`,
      );
    }
  }
}

function table(title: string, outcomes: Outcome[], key: (o: Outcome) => string): string {
  const rows = new Map<string, Outcome[]>();
  for (const o of outcomes) {
    const k = key(o);
    rows.set(k, [...(rows.get(k) ?? []), o]);
  }
  const lines = [
    `${title}`,
    "| phase / target | runs | exit 0 | exit 4 | exit 1 | other exit | kinds | median ms | max ms |",
    "| --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: |",
  ];
  for (const [k, list] of rows) {
    const kinds = new Map<string, number>();
    for (const o of list) if (o.code !== 0) kinds.set(kindOf(o), (kinds.get(kindOf(o)) ?? 0) + 1);
    const count = (c: number) => list.filter((o) => o.code === c).length;
    lines.push(
      `| ${k} | ${list.length} | ${count(0)} | ${count(4)} | ${count(1)} | ${list.length - count(0) - count(4) - count(1)} | ${[...kinds].map(([kk, v]) => `${kk} ${v}`).join(", ") || "-"} | ${median(list.map((o) => o.ms))} | ${Math.max(...list.map((o) => o.ms))} |`,
    );
  }
  return lines.join("\n");
}

function failuresOf(list: Outcome[]): string[] {
  return list
    .filter((o) => o.code !== 0)
    .map((o) => `${o.command} ${o.target}(${o.targetState}) exit ${o.code} ${o.ms} ms: ${o.message}`);
}

/** The cluster back to 3 healthy voters, every node running and unsealed. */
async function heal() {
  for (const node of cluster.nodes) {
    if (!node.running) await node.restart();
    else {
      await node.kill("SIGCONT");
      if ((await node.state(2000)) === "sealed") await node.unseal();
    }
  }
  await cluster.settle(60_000);
}

/**
 * The next active node after `old` lost leadership. With `sameMayWin` (a step-down: the node stepping
 * down is a candidate in the election that follows) `old` counts once it has been seen not active.
 */
async function newLeader(old: HaNode, timeoutMs = 20_000, sameMayWin = false): Promise<HaNode> {
  const until = Date.now() + timeoutMs;
  let oldLeft = false;
  const began = Date.now();
  while (Date.now() < until) {
    // A step-down may be over (the same node elected again) between two looks: after 2 s any active node.
    if (sameMayWin && Date.now() - began > 2000) oldLeft = true;
    for (const node of cluster.nodes) {
      const state = await node.state(300);
      if (node === old) {
        if (state !== "active") oldLeft = true;
        else if (sameMayWin && oldLeft) return node;
        continue;
      }
      if (state === "active") return node;
    }
    await sleep(50);
  }
  throw new Error(`no new leader within ${timeoutMs} ms`);
}

// ---- (a) through the leader and through a standby

ha.test(
  "sync and pam through the leader and through a standby (request forwarding), both modes",
  async (t) => {
    if (!requireRoot(t)) return;
    const token = await account(t, "setup-token");
    const rotating = await account(t, "rotating");
    const leader = await cluster.leader();
    const standby = (await cluster.standbys())[0] as HaNode;
    t.ok(standby, "a standby");
    for (const [role, node] of [
      ["leader", leader],
      ["standby", standby],
    ] as const) {
      for (const command of ["sync", "pam"] as const) {
        const a = await runOnce(token, command, node.addr, role, node.id, role);
        t.equal(a.code, 0, `setup-token ${command} through the ${role}: exit 0`, { outcome: a });
        t.ok(envFileOk(token), `setup-token ${command} through the ${role}: env file written`);
        const b = await runOnce(rotating, command, node.addr, role, node.id, role);
        t.equal(b.code, 0, `rotating ${command} through the ${role}: exit 0`, { outcome: b });
        const doc = await readDocument(rotating.user.name);
        t.equal(
          backupNumber(doc, rotating),
          rotating.written,
          `rotating ${command} through the ${role}: backed up`,
        );
      }
    }
    await checkDocuments(t, [token, rotating]);

    // The standby's extra latency: N runs each, interleaved, medians.
    const N = 7;
    const times: Record<string, number[]> = {};
    for (let i = 0; i < N; i++) {
      for (const [role, node] of [
        ["leader", leader],
        ["standby", standby],
      ] as const) {
        for (const [label, a] of [
          ["setup-token sync", token],
          ["rotating sync", rotating],
        ] as const) {
          const o = await runOnce(a, "sync", node.addr, role, node.id, role);
          t.equal(o.code, 0, `${label} through the ${role} (${i + 1})`, { outcome: o });
          const key = `${label} via ${role}`;
          times[key] = [...(times[key] ?? []), o.ms];
        }
      }
    }
    const lines = [`latency, median of ${N} runs each (ms):`];
    for (const label of ["setup-token sync", "rotating sync"]) {
      const l = median(times[`${label} via leader`] ?? []);
      const s = median(times[`${label} via standby`] ?? []);
      lines.push(`  ${label}: leader ${l}, standby ${s}, standby extra ${s - l}`);
    }
    t.comment(lines.join("\n"));
  },
);

// ---- (b) failover under load

const load: Outcome[] = [];
let stepDownWindow: Outcome[] = [];
let restartedUnsealedAt = 0;
let restartedNode = "";

ha.test(
  "failover under load: leader SIGKILL, restart and rejoin, step-down, a sealed node, a frozen leader",
  async (t) => {
    if (!requireRoot(t)) return;
    const accounts = [
      await account(t, "setup-token"),
      await account(t, "setup-token"),
      await account(t, "rotating"),
      await account(t, "rotating"),
    ];
    // Every run names one node (round robin); the env files must exist and be whole before the load.
    for (const a of accounts) {
      const o = await runOnce(a, "sync", (await cluster.leader()).addr, "prepare", "leader", "active");
      t.equal(o.code, 0, `prepare ${a.user.name}`, { outcome: o });
    }
    const states = new Map<string, NodeState>();
    let stop = false;
    const poller = (async () => {
      while (!stop) {
        await Promise.all(cluster.nodes.map(async (n) => states.set(n.id, await n.state(300))));
        await sleep(150);
      }
    })();
    let badReads = 0;
    const badSeen: string[] = [];
    const watcher = (async () => {
      while (!stop) {
        for (const a of accounts) {
          if (a.mode === "setup-token" && !envFileOk(a)) {
            badReads++;
            if (badSeen.length < 5) badSeen.push(`${a.user.name} at ${Date.now()}`);
          }
        }
        await sleep(25);
      }
    })();
    let phase = "baseline";
    const workers = accounts.map(async (a, i) => {
      let k = i;
      while (!stop) {
        const node = cluster.nodes[k % cluster.nodes.length] as HaNode;
        const command: Command = Math.floor(k / cluster.nodes.length) % 2 === 0 ? "sync" : "pam";
        // Every third run lists the whole cluster in VAULT_ADDR, this node first: the address list's case.
        const listed = Math.floor(k / (2 * cluster.nodes.length)) % 3 === 2;
        const addr = listed
          ? [node, ...cluster.nodes.filter((n) => n !== node)].map((n) => n.addr).join(",")
          : node.addr;
        k++;
        load.push(
          await runOnce(
            a,
            command,
            addr,
            () => phase,
            listed ? `${node.id}+list` : node.id,
            () => states.get(node.id) ?? "?",
          ),
        );
      }
    });

    const events: string[] = [];
    const started = Date.now();
    const mark = (what: string) => events.push(`${((Date.now() - started) / 1000).toFixed(1)} s: ${what}`);
    let electedAt = 0;
    let killed: HaNode | undefined;
    let staleActive = "";
    try {
      await sleep(3000);
      // 1. The leader crashes.
      killed = await cluster.leader();
      phase = "leader SIGKILLed";
      mark(`SIGKILL ${killed.id} (leader)`);
      const killedAt = Date.now();
      await killed.kill("SIGKILL");
      const elected = await newLeader(killed);
      electedAt = Date.now();
      mark(`${elected.id} elected after ${electedAt - killedAt} ms`);
      await sleep(Math.max(0, electedAt + 10_000 - Date.now()));
      phase = "≥10 s after election";
      await sleep(3000);
      // 2. The old leader comes back and rejoins.
      phase = "old leader restarted";
      mark(`restart ${killed.id}`);
      await killed.restart();
      restartedUnsealedAt = Date.now();
      restartedNode = killed.id;
      mark(`${killed.id} unsealed`);
      await cluster.settle(30_000);
      mark(`${killed.id} rejoined, 3 voters healthy`);
      await sleep(1500);
      // 3. Step-down.
      const before = await cluster.leader();
      phase = "step-down";
      const stepAt = Date.now();
      mark(`sys/step-down on ${before.id}`);
      const answer = await before.stepDown();
      t.equal(answer.status, 204, "sys/step-down accepted");
      const after = await newLeader(before, 20_000, true);
      mark(`${after.id} active after ${Date.now() - stepAt} ms`);
      await sleep(3000);
      // 4. A sealed standby.
      phase = "a standby sealed";
      const sealed = (await cluster.standbys())[0] as HaNode;
      mark(`seal ${sealed.id}`);
      await sealed.seal();
      await sleep(3000);
      await sealed.unseal();
      mark(`unseal ${sealed.id}`);
      phase = "after unseal";
      await cluster.settle(30_000);
      await sleep(1500);
      // 5. A frozen leader (SIGSTOP), thawed after the election.
      const frozen = await cluster.leader();
      phase = "leader frozen (SIGSTOP)";
      const frozenAt = Date.now();
      mark(`SIGSTOP ${frozen.id} (leader)`);
      await frozen.kill("SIGSTOP");
      const next = await newLeader(frozen);
      mark(`${next.id} elected after ${Date.now() - frozenAt} ms`);
      await sleep(3000);
      await frozen.kill("SIGCONT");
      phase = "thawed";
      mark(`SIGCONT ${frozen.id}`);
      // Seen here: the thawed old leader can go on reporting itself active (sys/health 200, standby
      // false) beside the new one for over a minute. It is recorded, then restarted so the suite goes on.
      const thawedAt = Date.now();
      let stillActive = true;
      while (Date.now() < thawedAt + 10_000) {
        if ((await frozen.state(500)) !== "active") {
          stillActive = false;
          break;
        }
        await sleep(100);
      }
      if (stillActive) {
        staleActive = `${frozen.id} still reported active 10 s after SIGCONT, beside ${next.id}`;
        mark(`${staleActive}: restarted`);
        await frozen.restart();
      } else mark(`${frozen.id} standby ${Date.now() - thawedAt} ms after SIGCONT`);
      await cluster.settle(30_000);
      mark("settled");
      await sleep(1500);
    } catch (error) {
      mark(`FAILED: ${(error as Error).message.slice(0, 600)}`);
      t.fail(`the scenario broke off: ${(error as Error).message.slice(0, 600)}`);
    } finally {
      stop = true;
      await Promise.all(workers);
      await poller;
      await watcher;
      t.comment(`timeline:\n  ${events.join("\n  ")}`);
      await heal();
    }
    t.comment(table(`failover under load: ${load.length} runs, by phase`, load, (o) => o.phase));
    t.comment(
      table("by phase and the named node's state at start", load, (o) => `${o.phase} / ${o.targetState}`),
    );

    if (staleActive) t.comment(`FINDING: ${staleActive} (see the "thawed" rows)`);
    const byKind = new Map<string, string[]>();
    for (const o of load)
      if (o.code !== 0)
        byKind.set(kindOf(o), [
          ...(byKind.get(kindOf(o)) ?? []),
          `${o.phase}: ${o.command} ${o.target}(${o.targetState}) exit ${o.code} ${o.ms} ms: ${o.message}`,
        ]);
    t.comment(
      `failures by kind (first 3 each):\n  ${[...byKind].flatMap(([k, list]) => [`${k}: ${list.length}`, ...list.slice(0, 3).map((l) => `    ${l}`)]).join("\n  ")}`,
    );
    const slow = load.filter((o) => o.ms > TIMEOUT_MS + MARGIN_MS);
    t.same(
      slow.map((o) => `${o.phase}: ${o.command} ${o.target}(${o.targetState}) ${o.ms} ms exit ${o.code}`),
      [],
      `no run outlives CLAUDE_AUTH_SYNC_TIMEOUT_MS (${TIMEOUT_MS}) + ${MARGIN_MS} ms (max ${Math.max(...load.map((o) => o.ms))} ms)`,
    );
    t.equal(badReads, 0, "no env file ever missing or torn during the load", { badSeen });
    t.same(
      load.filter((o) => o.code === null).map((o) => o.message),
      [],
      "every run exited by itself",
    );
    await checkDocuments(t, accounts);
    const recovered = load.filter(
      (o) =>
        o.startedAt >= electedAt + 10_000 && o.phase === "≥10 s after election" && o.target !== killed?.id,
    );
    t.ok(recovered.length > 0, "runs at live nodes from 10 s after the election on");
    t.same(failuresOf(recovered), [], "runs at live nodes succeed again within 10 s of the election");
    stepDownWindow = load.filter((o) => o.phase === "step-down");
  },
);

// ---- 3. what a client with retries and an address list must do

ha.test("needs retry: runs during a step-down succeed (≥ 95% exit 0)", async (t) => {
  if (!requireRoot(t)) return;
  t.ok(stepDownWindow.length >= 10, `runs during the step-down: ${stepDownWindow.length}`);
  const ok = stepDownWindow.filter((o) => o.code === 0).length;
  t.comment(table("during the step-down", stepDownWindow, (o) => `${o.command} at ${o.targetState}`));
  t.ok(ok >= 0.95 * stepDownWindow.length, `${ok} of ${stepDownWindow.length} succeeded`, {
    failures: failuresOf(stepDownWindow),
  });
});

ha.test(
  "needs retry: a standby that cannot forward (leader dead) answers 307: the run exits 4 or succeeds, never 1",
  async (t) => {
    if (!requireRoot(t)) return;
    const a = await account(t, "setup-token");
    const b = await account(t, "rotating");
    const dead = await cluster.leader();
    const standbys = await cluster.standbys();
    const outcomes: Outcome[] = [];
    const statuses = new Map<string, number>();
    let location = "";
    let stop = false;
    const probe = (async () => {
      while (!stop) {
        for (const s of standbys) {
          try {
            const answer = await call(
              s.addr,
              cluster.hostToken,
              "GET",
              documentPath(a.user.name),
              undefined,
              1000,
            );
            const key = `HTTP ${answer.status}`;
            statuses.set(key, (statuses.get(key) ?? 0) + 1);
            if (answer.status === 307) location = String(answer.headers.location ?? "");
          } catch (error) {
            const key = /timeout/.test((error as Error).message) ? "timeout" : "error";
            statuses.set(key, (statuses.get(key) ?? 0) + 1);
          }
        }
        await sleep(30);
      }
    })();
    let electedAt = 0;
    const hammer = [a, b].map(async (acc, i) => {
      let k = i;
      while (!stop) {
        const s = standbys[k++ % standbys.length] as HaNode;
        outcomes.push(await runOnce(acc, k % 2 ? "sync" : "pam", s.addr, "leader dead", s.id, "standby"));
      }
    });
    try {
      await sleep(300);
      await dead.kill("SIGKILL");
      await newLeader(dead);
      electedAt = Date.now();
      await sleep(1500);
    } finally {
      stop = true;
      await Promise.all([...hammer, probe]);
      await heal();
    }
    const early = outcomes.filter((o) => o.startedAt < electedAt);
    t.comment(
      `probe answers from the standbys: ${[...statuses].map(([k, v]) => `${k} ×${v}`).join(", ")}${location ? `; 307 Location: ${location} (the dead leader ${dead.addr})` : ""}`,
    );
    t.comment(
      table("runs at standbys while the leader is dead, then after the election", outcomes, (o) =>
        o.startedAt < electedAt ? "before election" : "after election",
      ),
    );
    t.ok(early.length > 0, `runs before the election: ${early.length}`);
    t.same(
      outcomes.filter((o) => o.code !== 0 && o.code !== 4).map((o) => `exit ${o.code}: ${o.message}`),
      [],
      "every run exits 0 or 4 (unavailable), none 1 (other error)",
    );
    await checkDocuments(t, [a, b]);
  },
);

ha.test(
  "needs address list: VAULT_ADDR lists all three nodes; a sealed or killed first node does not fail the run",
  async (t) => {
    if (!requireRoot(t)) return;
    const a = await account(t, "setup-token");
    const b = await account(t, "rotating");
    const first = (await cluster.standbys())[0] as HaNode;
    const others = cluster.nodes.filter((n) => n !== first);
    const list = [first, ...others].map((n) => n.addr).join(",");
    const outcomes: Outcome[] = [];
    try {
      await first.seal();
      for (let i = 0; i < 3; i++)
        for (const acc of [a, b])
          for (const command of ["sync", "pam"] as const)
            outcomes.push(await runOnce(acc, command, list, "first sealed", "list", "sealed"));
      await first.unseal();
      await first.kill("SIGKILL");
      for (let i = 0; i < 3; i++)
        for (const acc of [a, b])
          for (const command of ["sync", "pam"] as const)
            outcomes.push(await runOnce(acc, command, list, "first killed", "list", "down"));
    } finally {
      await heal();
    }
    t.comment(table("VAULT_ADDR = all three nodes", outcomes, (o) => o.phase));
    t.same(failuresOf(outcomes), [], "every run exits 0");
    t.ok(
      outcomes.every((o) => o.ms <= TIMEOUT_MS),
      "each within the budget",
    );
    await checkDocuments(t, [a, b]);
  },
);

ha.test(
  "needs address list: a frozen (SIGSTOP) first node: the run succeeds well within the budget (per-node timeout)",
  async (t) => {
    if (!requireRoot(t)) return;
    const a = await account(t, "setup-token");
    const b = await account(t, "rotating");
    const first = (await cluster.standbys())[0] as HaNode;
    const list = [first, ...cluster.nodes.filter((n) => n !== first)].map((n) => n.addr).join(",");
    const outcomes: Outcome[] = [];
    try {
      await first.kill("SIGSTOP");
      for (let i = 0; i < 2; i++)
        for (const acc of [a, b])
          for (const command of ["sync", "pam"] as const)
            outcomes.push(await runOnce(acc, command, list, "first frozen", "list", "unresponsive"));
    } finally {
      await first.kill("SIGCONT");
      await heal();
    }
    t.comment(table("VAULT_ADDR = all three nodes, the first frozen", outcomes, (o) => o.phase));
    t.same(failuresOf(outcomes), [], "every run exits 0");
    const bound = TIMEOUT_MS - 500;
    t.same(
      outcomes.filter((o) => o.ms > bound).map((o) => `${o.command} ${o.ms} ms`),
      [],
      `each within ${bound} ms (budget ${TIMEOUT_MS})`,
    );
    await checkDocuments(t, [a, b]);
  },
);

ha.test("needs retry / address list: a node just unsealed (answering 500 for a while)", async (t) => {
  if (!requireRoot(t)) return;
  const a = await account(t, "setup-token");
  const b = await account(t, "rotating");
  const node = (await cluster.standbys())[0] as HaNode;
  const outcomes: Outcome[] = [];
  const statuses = new Map<string, number>();
  let stop = false;
  try {
    await node.restart({ unseal: false });
    await node.unseal();
    const unsealedAt = Date.now();
    const probe = (async () => {
      while (!stop) {
        try {
          const answer = await call(
            node.addr,
            cluster.hostToken,
            "GET",
            documentPath(a.user.name),
            undefined,
            1000,
          );
          const key = `HTTP ${answer.status}${answer.status >= 500 ? ` ${JSON.stringify(answer.body?.errors ?? "")}` : ""}`;
          statuses.set(key, (statuses.get(key) ?? 0) + 1);
        } catch (error) {
          const key = /timeout/.test((error as Error).message) ? "timeout" : "connection error";
          statuses.set(key, (statuses.get(key) ?? 0) + 1);
        }
        await sleep(50);
      }
    })();
    const hammer = [a, b].map(async (acc, i) => {
      let k = i;
      while (Date.now() < unsealedAt + 5000)
        outcomes.push(
          await runOnce(acc, k++ % 2 ? "sync" : "pam", node.addr, "just unsealed", node.id, "standby"),
        );
    });
    await Promise.all(hammer);
    stop = true;
    await probe;
  } finally {
    stop = true;
    await heal();
  }
  t.comment(
    `probe answers in the 5 s after the unseal: ${[...statuses].map(([k, v]) => `${k} ×${v}`).join(", ")}`,
  );
  t.comment(table("runs at a node in the 5 s after its unseal", outcomes, (o) => `${o.command}`));
  t.ok(outcomes.length > 0, "runs made");
  t.same(failuresOf(outcomes), [], "every run exits 0");
  // The node restarted under load (failover test) after being down for a while answered 500
  // ("local node not active but active cluster node not found") until it found the active node.
  // With that node as the only address, seconds of 500 can outlast the retries (two thirds of the
  // budget): such a run must end as "unavailable" within the budget, never as another error. With the
  // cluster listed (that node first), the next node answers: every run succeeds.
  const underLoad = load.filter(
    (o) =>
      o.target.startsWith(restartedNode) &&
      o.startedAt >= restartedUnsealedAt &&
      o.phase === "old leader restarted",
  );
  t.comment(
    table(
      "under load: runs at the restarted node after its unseal",
      underLoad,
      (o) => `${o.command} ${o.target}`,
    ),
  );
  const alone = underLoad.filter((o) => o.target === restartedNode);
  const listedRuns = underLoad.filter((o) => o.target !== restartedNode);
  t.same(
    alone.filter((o) => o.code !== 0 && o.code !== 4).map((o) => `${o.command} exit ${o.code}: ${o.message}`),
    [],
    "the node alone: exit 0, or 4 (unavailable) once its 500s outlast the retries",
  );
  t.same(failuresOf(listedRuns), [], "the cluster listed, that node first: every run exits 0");
  await checkDocuments(t, [a, b]);
});

t.comment(`configs: ${allNodes()}`);
