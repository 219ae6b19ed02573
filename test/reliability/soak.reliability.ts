// Section 3, concurrency soak: dozens of runs at once for one user and for many users — the login
// hook (`pam`), the timer (`sync --user --renew-token`), manual syncs, enable and disable — while
// outside tools read-merge-write the same documents with check-and-set and Claude Code replaces the
// credentials file. Zero lost keys, zero torn files, every run finishes within a bound.
import { chownSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import t from "tap";
import { parseCredentialsFile } from "../../src/claude/credentials.js";
import { Deadline } from "../../src/deadline.js";
import { VaultClient } from "../../src/vault/client.js";
import { mergeWrite } from "../../src/vault/kv.js";
import { type RunResult, runBinary } from "../helpers/cli.js";
import { scaled, Tally } from "../helpers/reliability.js";
import { createTestUser, requireRoot, type TestUser } from "../helpers/users.js";
import { readDoc, writeDoc } from "../helpers/vault-api.js";
import { credential, HOUR, setupToken, workstation } from "../sync/fixture.js";

/** Under dozens of processes on 2 shared cores a run is slow, not stuck: a wide budget, a wider bound. */
const BUDGET_MS = 30_000;
const BOUND_MS = BUDGET_MS + 30_000;
const ONE_USER_ROUNDS = scaled(5);
const MANY_USERS = 8;
const MANY_ROUNDS = scaled(3);
const SIBLINGS = { vaultwarden_token: "vw-keep", vaultwarden_url: "https://vw.example/" };
const TOKENS = [setupToken("P"), setupToken("Q"), setupToken("R")];
const envLine = (token: string) => `CLAUDE_CODE_OAUTH_TOKEN=${token}\n`;
/** 0 ok; 1 the lock stayed held beyond the budget; 4 gave up after repeated check-and-set conflicts. */
const ALLOWED_CODES = new Set([0, 1, 4]);

interface Station {
  addr: string;
  root: string;
  config: string;
  serviceEnvDir: string;
}

type Kind = "sync" | "pam" | "timer" | "enable" | "disable";

function runKind(station: Station, user: TestUser, kind: Kind, token: string): Promise<RunResult> {
  const base = ["--config", station.config];
  const options = { timeoutMs: BOUND_MS };
  switch (kind) {
    case "sync":
      return runBinary(["sync", "--user", user.name, ...base], options);
    case "timer":
      return runBinary(["sync", "--user", user.name, "--renew-token", ...base], options);
    case "pam":
      return runBinary(["pam", ...base], {
        ...options,
        env: { PAM_TYPE: "open_session", PAM_USER: user.name, PAM_SERVICE: "sshd" },
      });
    case "enable":
      return runBinary(["enable", "--user", user.name, "--no-verify", ...base], {
        ...options,
        stdin: `${token}\n`,
      });
    case "disable":
      return runBinary(["disable", "--user", user.name, ...base], options);
  }
}

/** An outside tool: read-merge-write with cas on its own key, retried until it lands. */
async function outsideWriter(station: Station, user: string, key: string, times: number): Promise<number> {
  let done = 0;
  while (done < times) {
    const client = new VaultClient({
      addrs: [new URL(station.addr)],
      deadline: new Deadline(60_000),
      token: station.root,
    });
    try {
      await mergeWrite(
        client,
        "secret",
        `workstation/claude-users/${user}`,
        (current) => ({ [key]: Number(current.data[key] ?? 0) + 1 }),
        { deadline: new Deadline(60_000), maxAttempts: 200 },
      );
      done++;
    } finally {
      client.close();
    }
  }
  return done;
}

/** Claude Code replacing its credentials file atomically with a newer credential. */
function claudeWrites(user: TestUser, tag: string, expiresAt: number): string {
  const path = join(user.home, ".claude/.credentials.json");
  const text = JSON.stringify({
    claudeAiOauth: credential(tag, expiresAt),
    mcpOAuth: { srv: { token: "keep" } },
  });
  const temp = `${path}.claude-${tag}`;
  writeFileSync(temp, text, { mode: 0o600 });
  chownSync(temp, user.uid, user.gid);
  renameSync(temp, path);
  return text;
}

/** What must hold for one user after a round: whole files and every key. */
async function checkUser(
  station: Station,
  user: TestUser,
  credentialTexts: Set<string>,
  counters: Record<string, number>,
): Promise<{ torn: string[]; lostKeys: string[] }> {
  const torn: string[] = [];
  const envPath = join(user.home, ".config/claude-auth-sync/claude-oauth.env");
  if (existsSync(envPath)) {
    const text = readFileSync(envPath, "utf8");
    if (!TOKENS.some((tok) => text === envLine(tok)))
      torn.push(`env file torn: ${JSON.stringify(text).slice(0, 60)}`);
  }
  const servicePath = join(station.serviceEnvDir, `${user.name}.env`);
  if (existsSync(servicePath)) {
    const text = readFileSync(servicePath, "utf8");
    if (!TOKENS.some((tok) => text === envLine(tok))) torn.push("t3-serve copy torn");
  }
  const credText = readFileSync(join(user.home, ".claude/.credentials.json"), "utf8");
  const state = parseCredentialsFile(credText);
  if (state.kind !== "valid" || !credentialTexts.has(credText)) torn.push(`credentials file: ${state.kind}`);
  const doc = (await readDoc(station.addr, station.root, user.name)).data ?? {};
  const lostKeys: string[] = [];
  for (const [k, v] of Object.entries(SIBLINGS)) if (doc[k] !== v) lostKeys.push(k);
  for (const [k, v] of Object.entries(counters))
    if (doc[k] !== v) lostKeys.push(`${k}=${String(doc[k])} (expected ${v})`);
  if (typeof doc.claude_ai_oauth === "string") {
    try {
      JSON.parse(doc.claude_ai_oauth);
    } catch {
      lostKeys.push("claude_ai_oauth torn");
    }
  }
  return { torn, lostKeys };
}

/** After the storm, one quiet sync: the env file follows the document exactly. */
async function settle(station: Station, user: TestUser): Promise<string[]> {
  const run = await runBinary(["sync", "--user", user.name, "--config", station.config]);
  const problems = run.code === 0 ? [] : [`quiet sync exit ${run.code}: ${run.stdout.slice(0, 200)}`];
  const doc = (await readDoc(station.addr, station.root, user.name)).data ?? {};
  const envPath = join(user.home, ".config/claude-auth-sync/claude-oauth.env");
  const env = existsSync(envPath) ? readFileSync(envPath, "utf8") : undefined;
  const expected = typeof doc.setup_token === "string" ? envLine(doc.setup_token) : undefined;
  if (env !== expected)
    problems.push(`env file ${env === undefined ? "absent" : "present"} but document says otherwise`);
  return problems;
}

function summarize(tally: Tally, row: string, runs: RunResult[], kinds: Kind[]): string[] {
  const problems: string[] = [];
  const codes: Record<string, number> = {};
  let slowest = 0;
  runs.forEach((run, i) => {
    const key = `${kinds[i]}:${run.code ?? run.signal}`;
    codes[key] = (codes[key] ?? 0) + 1;
    slowest = Math.max(slowest, run.ms);
    if (run.signal !== null)
      problems.push(`${kinds[i]} killed by ${run.signal} after ${run.ms} ms (deadlock?)`);
    else if (!ALLOWED_CODES.has(run.code ?? -1))
      problems.push(`${kinds[i]} exit ${run.code}: ${(run.stdout + run.stderr).slice(0, 200)}`);
  });
  tally.note(row, `slowest run ${slowest} ms`);
  tally.note(
    row,
    Object.entries(codes)
      .map(([k, n]) => `${k}×${n}`)
      .join(" "),
  );
  return problems;
}

t.test("one user: 24 runs at once (login, timer, manual, enable, disable) + 4 outside writers", async (t) => {
  if (!requireRoot(t)) return;
  const tally = new Tally("3a. concurrency soak, one user");
  const ws = await workstation(t, { CLAUDE_AUTH_SYNC_TIMEOUT_MS: String(BUDGET_MS) });
  const station: Station = {
    addr: ws.vault.addr,
    root: ws.vault.rootToken,
    config: ws.config,
    serviceEnvDir: dirname(ws.serviceEnvFile),
  };
  await ws.seed({ ...SIBLINGS });
  ws.writeCredentials({
    claudeAiOauth: credential("start", Date.now() + 6 * HOUR),
    mcpOAuth: { srv: { token: "keep" } },
  });
  const credentialTexts = new Set<string>();
  const counters: Record<string, number> = {};
  const kinds: Kind[] = [
    ...Array<Kind>(8).fill("sync"),
    ...Array<Kind>(6).fill("pam"),
    ...Array<Kind>(4).fill("timer"),
    ...Array<Kind>(3).fill("enable"),
    ...Array<Kind>(3).fill("disable"),
  ];
  for (let round = 0; round < ONE_USER_ROUNDS; round++) {
    credentialTexts.add(claudeWrites(ws.user, `r${round}-0`, Date.now() + 7 * HOUR + round * 10));
    const shuffled = [...kinds].sort(() => Math.random() - 0.5);
    const runsP = Promise.all(
      shuffled.map((kind, i) => runKind(station, ws.user, kind, TOKENS[i % TOKENS.length] as string)),
    );
    const writersP = Promise.all(
      Array.from({ length: 4 }, (_, w) => outsideWriter(station, ws.user.name, `other_tool_${w}`, 8)),
    );
    // Claude Code refreshes mid-storm, twice.
    await new Promise((r) => setTimeout(r, 300));
    credentialTexts.add(claudeWrites(ws.user, `r${round}-1`, Date.now() + 7 * HOUR + round * 10 + 1));
    await new Promise((r) => setTimeout(r, 300));
    credentialTexts.add(claudeWrites(ws.user, `r${round}-2`, Date.now() + 7 * HOUR + round * 10 + 2));
    const [runs, written] = await Promise.all([runsP, writersP]);
    written.forEach((n, w) => {
      counters[`other_tool_${w}`] = (counters[`other_tool_${w}`] ?? 0) + n;
    });
    const problems = summarize(tally, "one user, 24 runs per round", runs, shuffled);
    const { torn, lostKeys } = await checkUser(station, ws.user, credentialTexts, counters);
    const settled = await settle(station, ws.user);
    const all = [...problems, ...torn, ...lostKeys, ...settled];
    t.same(all, [], `round ${round}`);
    for (const run of runs)
      tally.record("one user, 24 runs per round", {
        survived: run.signal === null && ALLOWED_CODES.has(run.code ?? -1),
      });
    tally.record("rounds checked (files whole; every sibling key and all 4 × 8 outside increments kept)", {
      survived: torn.length + lostKeys.length + settled.length === 0,
      lost: torn.length + lostKeys.length > 0,
    });
  }
  tally.print(t);
  t.equal(tally.totals().lost, 0, "nothing lost");
});

t.test(`many users: ${MANY_USERS} users × 4 runs at once + one outside writer each`, async (t) => {
  if (!requireRoot(t)) return;
  const tally = new Tally("3b. concurrency soak, many users");
  const ws = await workstation(t, { CLAUDE_AUTH_SYNC_TIMEOUT_MS: String(BUDGET_MS) });
  const station: Station = {
    addr: ws.vault.addr,
    root: ws.vault.rootToken,
    config: ws.config,
    serviceEnvDir: dirname(ws.serviceEnvFile),
  };
  const users = [ws.user, ...Array.from({ length: MANY_USERS - 1 }, () => createTestUser(t))];
  const credentialTexts = new Map<string, Set<string>>();
  const counters = new Map<string, Record<string, number>>();
  for (const [u, user] of users.entries()) {
    await writeDoc(station.addr, station.root, user.name, {
      ...SIBLINGS,
      ...(u % 2 ? { setup_token: TOKENS[0] } : {}),
    });
    if (!existsSync(join(user.home, ".claude"))) {
      mkdirSync(join(user.home, ".claude"), { mode: 0o700 });
      chownSync(join(user.home, ".claude"), user.uid, user.gid);
    }
    credentialTexts.set(user.name, new Set([claudeWrites(user, "start", Date.now() + 6 * HOUR)]));
    counters.set(user.name, { other_tool: 0 });
  }
  for (let round = 0; round < MANY_ROUNDS; round++) {
    const jobs = users.flatMap((user, u) =>
      (["pam", "timer", "sync", (u + round) % 2 ? "enable" : "disable"] as Kind[]).map((kind) => ({
        user,
        kind,
        u,
      })),
    );
    const runsP = Promise.all(
      jobs.map((j) => runKind(station, j.user, j.kind, TOKENS[(j.u + round) % TOKENS.length] as string)),
    );
    const writersP = Promise.all(users.map((user) => outsideWriter(station, user.name, "other_tool", 5)));
    await new Promise((r) => setTimeout(r, 400));
    for (const user of users)
      credentialTexts.get(user.name)?.add(claudeWrites(user, `r${round}`, Date.now() + 7 * HOUR + round));
    const [runs, written] = await Promise.all([runsP, writersP]);
    users.forEach((user, u) => {
      const c = counters.get(user.name) as Record<string, number>;
      c.other_tool = (c.other_tool ?? 0) + (written[u] ?? 0);
    });
    const problems = summarize(
      tally,
      `${MANY_USERS} users × 4 runs per round`,
      runs,
      jobs.map((j) => j.kind),
    );
    const perUser = await Promise.all(
      users.map(async (user) => {
        const { torn, lostKeys } = await checkUser(
          station,
          user,
          credentialTexts.get(user.name) as Set<string>,
          counters.get(user.name) as Record<string, number>,
        );
        return { torn, lostKeys, settled: await settle(station, user) };
      }),
    );
    const broken = perUser.flatMap((p) => [...p.torn, ...p.lostKeys]);
    t.same([...problems, ...broken, ...perUser.flatMap((p) => p.settled)], [], `round ${round}`);
    for (const run of runs)
      tally.record(`${MANY_USERS} users × 4 runs per round`, {
        survived: run.signal === null && ALLOWED_CODES.has(run.code ?? -1),
      });
    for (const p of perUser)
      tally.record("users checked after a round (files whole, every key kept)", {
        survived: p.torn.length + p.lostKeys.length + p.settled.length === 0,
        lost: p.torn.length + p.lostKeys.length > 0,
      });
  }
  tally.print(t);
  t.equal(tally.totals().lost, 0, "nothing lost");
});
