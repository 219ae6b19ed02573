// Section 1, fault matrix: every fault the Vault stand-in injects × every mode, through the built
// binary. Each case: the exit code CONTRACT.md names, bounded by the budget, local files unchanged,
// the Vault document unchanged or fully updated (never half), a message naming the cause.
import { chownSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { hostname } from "node:os";
import { dirname } from "node:path";
import t from "tap";
import { type RunResult, runBinary } from "../helpers/cli.js";
import { fileState, inParallel, PARALLEL, Tally } from "../helpers/reliability.js";
import { requireRoot } from "../helpers/users.js";
import { credential, HOUR, STUB, setupToken, type Workstation, workstation } from "../sync/fixture.js";
import type { FaultAction, FaultSpec } from "../vault/standin.js";

const BUDGET_MS = 2000;
/** Start-up, a loaded 2-core machine and teardown on top of the budget: generous, never tight. */
const MARGIN_MS = 2500;

const SIBLINGS = {
  vaultwarden_token: 'vw-secret-Ω-"quoted"\n with newline',
  vaultwarden_nested: { deep: [1, 2, { x: null }] },
};
const TOKEN_A = setupToken("A");
const TOKEN_B = setupToken("B");

type Phase = "read" | "re-read" | "write";
type DocVerdict = "unchanged" | "updated" | "torn";

interface Fault {
  name: string;
  phases: Phase[];
  code: number;
  message: RegExp;
  /** The write reaches Vault's state even though its answer is lost or broken. */
  lands?: boolean;
  spec?: FaultAction;
  /** Instead of a fault: point the run at a port where nothing listens. */
  refused?: boolean;
  /** Every matching request, not just one: a misconfiguration rather than a blip. */
  persistent?: boolean;
  /**
   * An answer the client retries within the budget (src/vault/client.ts): the matrix runs it on every
   * matching request (the failure path) and once (a blip: retried, the run ends as a fault-free one).
   */
  transient?: boolean;
  /** Set on the once-only copy of a transient fault. */
  blip?: boolean;
}

const LISTED_FAULTS: Fault[] = [
  { name: "connection refused", phases: ["read"], code: 4, message: /connection refused/, refused: true },
  {
    name: "hang",
    phases: ["read", "re-read", "write"],
    code: 4,
    message: /did not answer in time/,
    spec: { kind: "hang" },
  },
  {
    name: "hang after the write landed",
    phases: ["write"],
    code: 4,
    message: /did not answer in time/,
    lands: true,
    spec: { kind: "hang", commit: true },
  },
  {
    name: "reset mid-response",
    transient: true,
    phases: ["read", "re-read", "write"],
    code: 4,
    message: /reset|closed mid-response/,
    lands: true,
    spec: { kind: "reset", after: "partial-body" },
  },
  {
    name: "reset before any byte, write landed",
    transient: true,
    phases: ["write"],
    code: 4,
    message: /reset|closed/,
    lands: true,
    spec: { kind: "reset", commit: true },
  },
  {
    name: "HTTP 500",
    transient: true,
    phases: ["read", "re-read", "write"],
    code: 4,
    message: /HTTP 500/,
    spec: { kind: "status", status: 500, body: { errors: ["internal error"] } },
  },
  {
    name: "HTTP 500 after the write landed",
    transient: true,
    phases: ["write"],
    code: 4,
    message: /HTTP 500/,
    lands: true,
    spec: { kind: "status", status: 500, body: { errors: ["internal error"] }, commit: true },
  },
  {
    name: "503 sealed",
    phases: ["read", "re-read", "write"],
    code: 4,
    message: /sealed/,
    spec: { kind: "status", status: 503, body: { errors: ["Vault is sealed"] } },
  },
  {
    name: "429 with Retry-After",
    transient: true,
    phases: ["read", "re-read", "write"],
    code: 4,
    message: /HTTP 429/,
    spec: { kind: "status", status: 429, retryAfter: 1, body: { errors: ["rate limit quota exceeded"] } },
  },
  {
    name: "403 permission denied",
    phases: ["read", "re-read", "write"],
    code: 5,
    message: /permission denied/,
    spec: { kind: "status", status: 403, body: { errors: ["permission denied"] } },
  },
  {
    name: "404 no route (wrong mount)",
    phases: ["read", "write"],
    persistent: true,
    code: 1,
    message: /no handler for route/,
    spec: {
      kind: "status",
      status: 404,
      body: { errors: ['no handler for route "secret/data/x". route entry not found.'] },
    },
  },
  {
    name: "garbage body",
    phases: ["read", "re-read", "write"],
    code: 6,
    message: /not valid JSON/,
    spec: { kind: "garbage" },
  },
  {
    name: "garbage body after the write landed",
    phases: ["write"],
    code: 6,
    message: /not valid JSON/,
    lands: true,
    spec: { kind: "garbage", commit: true },
  },
  {
    name: "truncated JSON",
    phases: ["read", "re-read", "write"],
    code: 6,
    message: /not valid JSON/,
    lands: true,
    spec: { kind: "truncated" },
  },
  {
    name: "slow beyond the budget",
    phases: ["read", "re-read", "write"],
    code: 4,
    message: /did not answer in time|time budget/,
    spec: { kind: "delay", ms: BUDGET_MS + 1500 },
  },
];

/** A transient fault twice: on every request (exit 4 once retries are spent) and once (retried, exit 0). */
const FAULTS: Fault[] = LISTED_FAULTS.flatMap((fault): Fault[] =>
  fault.transient
    ? [
        { ...fault, name: `${fault.name}, every request`, persistent: true },
        { ...fault, name: `${fault.name}, once: retried`, code: 0, message: /./, blip: true },
      ]
    : [fault],
);

/** Modes whose successful run writes the document. */
const WRITING_MODES = new Set(["rotating backup", "enable", "disable"]);

interface Mode {
  name: string;
  phases: Phase[];
  /** Puts the user's files and document in the mode's starting state. */
  prepare(ws: Workstation): Promise<void>;
  run(ws: Workstation, env: Record<string, string>): Promise<RunResult>;
  /** Whether a document is exactly what a successful run writes (every sibling key kept). */
  updated(after: Record<string, unknown>): boolean;
}

const fresh = credential("fresh", Date.now() + 7 * HOUR);
const olderBackup = credential("older", Date.now() + 2 * HOUR);
const usableBackup = credential("backup", Date.now() + 5 * HOUR);

function writeAsUser(ws: Workstation, path: string, content: string): void {
  const dir = dirname(path);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  for (let d = dir; d.startsWith(`${ws.user.home}/`); d = dirname(d)) chownSync(d, ws.user.uid, ws.user.gid);
  writeFileSync(path, content, { mode: 0o600 });
  chownSync(path, ws.user.uid, ws.user.gid);
}

function resetLocal(ws: Workstation): void {
  rmSync(`${ws.user.home}/.config/claude-auth-sync`, { recursive: true, force: true });
  rmSync(`${ws.user.home}/.claude`, { recursive: true, force: true });
  rmSync(ws.serviceEnvFile, { force: true });
}

function writeServiceCopy(ws: Workstation, token: string): void {
  mkdirSync(dirname(ws.serviceEnvFile), { recursive: true, mode: 0o700 });
  writeFileSync(ws.serviceEnvFile, `CLAUDE_CODE_OAUTH_TOKEN=${token}\n`, { mode: 0o600 });
}

const siblingsKept = (doc: Record<string, unknown>) =>
  Object.entries(SIBLINGS).every(([k, v]) => JSON.stringify(doc[k]) === JSON.stringify(v));

const asRoot = (ws: Workstation, command: string, env: Record<string, string>, stdin?: string) =>
  runBinary(
    [
      command,
      "--user",
      ws.user.name,
      "--config",
      ws.config,
      ...(command === "enable" ? ["--no-verify"] : []),
    ],
    {
      env,
      ...(stdin === undefined ? {} : { stdin }),
    },
  );

const MODES: Mode[] = [
  {
    name: "setup-token sync",
    phases: ["read", "re-read"],
    async prepare(ws) {
      resetLocal(ws);
      writeAsUser(ws, ws.envFile, `CLAUDE_CODE_OAUTH_TOKEN=${TOKEN_A}\n`);
      writeServiceCopy(ws, TOKEN_A);
      await ws.seed({ ...SIBLINGS, setup_token: TOKEN_B });
    },
    run: (ws, env) => asRoot(ws, "sync", env),
    updated: () => false,
  },
  {
    name: "rotating backup",
    phases: ["read", "re-read", "write"],
    async prepare(ws) {
      resetLocal(ws);
      writeAsUser(ws, ws.credentialsFile, JSON.stringify({ claudeAiOauth: fresh, mcpOAuth: { s: 1 } }));
      await ws.seed({ ...SIBLINGS, claude_ai_oauth: JSON.stringify(olderBackup) });
    },
    run: (ws, env) => asRoot(ws, "sync", env),
    updated: (doc) =>
      siblingsKept(doc) &&
      typeof doc.claude_ai_oauth === "string" &&
      JSON.stringify(JSON.parse(doc.claude_ai_oauth)) === JSON.stringify(fresh) &&
      typeof doc.claude_ai_oauth_backed_up_at === "string" &&
      typeof doc.claude_ai_oauth_host === "string" &&
      Object.keys(doc).length === Object.keys(SIBLINGS).length + 3,
  },
  {
    name: "rotating restore",
    phases: ["read", "re-read"],
    async prepare(ws) {
      resetLocal(ws);
      writeAsUser(ws, ws.credentialsFile, JSON.stringify({ claudeAiOauth: STUB, mcpOAuth: { s: 1 } }));
      // Backed up on this host: restorable whatever the cross-host rule says.
      await ws.seed({
        ...SIBLINGS,
        claude_ai_oauth: JSON.stringify(usableBackup),
        claude_ai_oauth_backed_up_at: new Date(Date.now() - HOUR).toISOString(),
        claude_ai_oauth_host: hostname(),
      });
    },
    run: (ws, env) => asRoot(ws, "sync", env),
    updated: () => false,
  },
  {
    name: "enable",
    phases: ["read", "re-read", "write"],
    async prepare(ws) {
      resetLocal(ws);
      await ws.seed({ ...SIBLINGS });
    },
    run: (ws, env) => asRoot(ws, "enable", env, `${TOKEN_B}\n`),
    updated: (doc) =>
      siblingsKept(doc) &&
      doc.setup_token === TOKEN_B &&
      typeof doc.setup_token_updated_at === "string" &&
      Object.keys(doc).length === Object.keys(SIBLINGS).length + 2,
  },
  {
    name: "disable",
    phases: ["read", "re-read", "write"],
    async prepare(ws) {
      resetLocal(ws);
      writeAsUser(ws, ws.envFile, `CLAUDE_CODE_OAUTH_TOKEN=${TOKEN_A}\n`);
      writeServiceCopy(ws, TOKEN_A);
      await ws.seed({ ...SIBLINGS, setup_token: TOKEN_A, setup_token_updated_at: "2025-01-01T00:00:00Z" });
    },
    run: (ws, env) => asRoot(ws, "disable", env),
    updated: (doc) => siblingsKept(doc) && Object.keys(doc).length === Object.keys(SIBLINGS).length,
  },
];

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

const localFiles = (ws: Workstation) => ({
  envFile: fileState(ws.envFile),
  credentials: fileState(ws.credentialsFile),
  serviceCopy: fileState(ws.serviceEnvFile),
});

const canonical = (doc: Record<string, unknown> | undefined) =>
  JSON.stringify(Object.fromEntries(Object.entries(doc ?? {}).sort(([a], [b]) => a.localeCompare(b))));

t.test("fault matrix: every injected Vault fault × every mode", async (t) => {
  if (!requireRoot(t)) return;
  const tally = new Tally("1. fault matrix");
  const refusedAddr = `http://127.0.0.1:${await closedPort()}`;
  const work = MODES.flatMap((mode) => mode.phases.map((phase) => ({ mode, phase })));
  await inParallel(work, PARALLEL, async ({ mode, phase }) => {
    const ws = await workstation(t, { CLAUDE_AUTH_SYNC_TIMEOUT_MS: String(BUDGET_MS) });
    for (const fault of FAULTS.filter((f) => f.phases.includes(phase))) {
      const label = `${mode.name} / ${phase} / ${fault.name}`;
      await mode.prepare(ws);
      const before = await ws.doc();
      const local = localFiles(ws);
      ws.vault.clearFaults();
      const method = phase === "write" ? "POST" : "GET";
      // The first read passes untouched, so the fault meets the second one (under the lock, or the
      // local sync that follows enable/disable's write).
      if (phase === "re-read")
        ws.vault.inject({ kind: "delay", ms: 0, method, pathPrefix: "secret/data/", times: 1 });
      if (fault.spec) {
        ws.vault.inject({
          ...fault.spec,
          method,
          pathPrefix: "secret/data/",
          ...(fault.persistent ? {} : { times: 1 }),
        } as FaultSpec);
      }
      const run = await mode.run(ws, fault.refused ? { VAULT_ADDR: refusedAddr } : {});
      ws.vault.clearFaults();
      const after = await ws.doc();
      const output = run.stdout + run.stderr;
      const docVerdict: DocVerdict =
        canonical(after.data) === canonical(before.data) && after.version === before.version
          ? "unchanged"
          : after.data && mode.updated(after.data)
            ? "updated"
            : "torn";
      // enable and disable write first, then sync: a fault on the second read meets that sync.
      const writtenBefore = phase === "re-read" && (mode.name === "enable" || mode.name === "disable");
      const landed = (phase === "write" && fault.lands === true) || writtenBefore;
      // A retried blip ends as a fault-free run: the document written once where the mode writes it,
      // the local files as that run leaves them.
      const expectUpdated = fault.blip ? WRITING_MODES.has(mode.name) : landed;
      const checks = {
        exitCode: run.code === fault.code,
        bounded: run.ms <= BUDGET_MS + MARGIN_MS,
        localUnchanged: fault.blip || JSON.stringify(localFiles(ws)) === JSON.stringify(local),
        document: expectUpdated ? docVerdict === "updated" : docVerdict === "unchanged",
        message: fault.message.test(output),
        noCrash:
          !/unexpected failure|TypeError|RangeError|at .*\.cjs:\d+/.test(output) && run.signal === null,
      };
      const failed = Object.entries(checks)
        .filter(([, ok]) => !ok)
        .map(([k]) => k);
      t.same(failed, [], label, {
        code: run.code,
        expected: fault.code,
        ms: run.ms,
        docVerdict,
        output: output.slice(0, 600),
      });
      tally.record(`${mode.name}, fault on the ${phase}`, {
        survived: failed.length === 0,
        lost: docVerdict === "torn" || !checks.localUnchanged || (fault.blip === true && run.code !== 0),
        note: failed.length ? `${fault.name}: ${failed.join(",")}` : undefined,
      });
      if (landed && !writtenBefore)
        tally.record(
          "of which: writes that landed with the answer lost, document whole",
          { survived: docVerdict === "updated", lost: docVerdict === "torn" },
          { detail: true },
        );
    }
  });
  tally.print(t);
  t.equal(tally.totals().lost, 0, "nothing lost");
});

t.test("a 404 for a missing document is an absent document, not an error", async (t) => {
  if (!requireRoot(t)) return;
  // Vault answers a key that does not exist with 404 and `{"errors":[]}`: the tool must treat it as
  // "no document", which for a backup means create it with cas 0 (and retry when it does exist).
  const ws = await workstation(t, { CLAUDE_AUTH_SYNC_TIMEOUT_MS: String(BUDGET_MS) });
  writeAsUser(ws, ws.credentialsFile, JSON.stringify({ claudeAiOauth: fresh }));
  const run = await ws.sync();
  t.equal(run.code, 0, "backup of a new user's credential", { output: run.stdout + run.stderr });
  const doc = await ws.doc();
  t.equal(doc.version, 1, "created");
  t.same(JSON.parse(String(doc.data?.claude_ai_oauth)), fresh);
});
