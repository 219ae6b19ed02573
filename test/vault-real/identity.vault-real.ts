// Per-user Vault identity (CLAUDE_AUTH_SYNC_IDENTITY=user) end to end through the built binary, against a
// real Vault server set up as the runbook's "Vault setup for user mode" says: a userpass mount of its own
// whose users log in to periodic tokens (token_period) under a policy templated on that mount's accessor,
// and a host token whose policy reaches no user's document at all. Who made each request is read from the
// server's audit log (display name, metadata, policies), so "with the user's own token, never the host's"
// is what Vault itself recorded. The period is short (PERIOD_S) so renewal and expiry happen in seconds.
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import t, { type Test } from "tap";
import { makeConfig, type RunResult, runBinary } from "../helpers/cli.js";
import { createTestUser, requireRoot, type TestUser } from "../helpers/users.js";
import { createToken, documentPath, putPolicy, readDoc, userPolicy, vaultApi } from "../helpers/vault-api.js";
import { credential, HOUR, setupToken } from "../sync/fixture.js";
import { type AuditEntry, describe, startRealVault } from "./bootstrap.js";
import { counting } from "./report.js";

/** The users' login method: a mount of its own, named in CLAUDE_AUTH_SYNC_USER_AUTH_MOUNT. */
const MOUNT = "userpass-claude";
/** The per-user policy, templated on MOUNT's accessor (bootstrap's claude-user is on auth/userpass). */
const USER_POLICY = "claude-user-own";
/** The host's policy in user mode: something of its own, nothing of the users' tree. */
const HOST_POLICY = "claude-auth-sync-host-no-users";
const HOST_POLICY_TEXT = `
path "secret/data/workstation/host-only/*" {
  capabilities = ["read"]
}
`;
/** token_period of the users' logins, in seconds: short, so the timer's half-life rule is seen quickly. */
const PERIOD_S = 20;
const PASSWORD = "pw-own-Ω";

const vault = await startRealVault();
t.teardown(() => vault.close());
t.comment(`real Vault server: ${describe(vault)}`);
const suite = counting(t, "identity", vault);

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function must(method: string, path: string, body?: unknown): Promise<Record<string, unknown>> {
  const answer = await vaultApi(vault.addr, vault.rootToken, method, path, body);
  if (answer.status >= 300)
    throw new Error(`setup: ${method} ${path}: HTTP ${answer.status} ${JSON.stringify(answer.body)}`);
  return answer.body ?? {};
}

/** The token as root sees it (`auth/token/lookup`, which neither renews nor uses it). */
async function lookup(token: string) {
  const answer = await vaultApi(vault.addr, vault.rootToken, "POST", "auth/token/lookup", { token });
  const data = (answer.body?.data ?? {}) as {
    ttl?: number;
    period?: number;
    display_name?: string;
    meta?: Record<string, string> | null;
    policies?: string[];
    entity_id?: string;
  };
  return { status: answer.status, ...data, errors: answer.body?.errors };
}

/** The server's entries for one user's document since `mark`, the test's own root reads left out. */
function onDocument(mark: number, user: string): AuditEntry[] {
  return vault.auditSince(mark).filter((e) => e.path === documentPath(user) && !e.policies.includes("root"));
}

function writesOf(entries: AuditEntry[]): AuditEntry[] {
  return entries.filter((e) => e.operation === "create" || e.operation === "update");
}

interface Home {
  user: TestUser;
  tokenFile: string;
  envFile: string;
  stateFile: string;
  noticeFile: string;
  credentialsFile: string;
  metricsFile: string;
}

function homeOf(user: TestUser, metricsDir: string): Home {
  const dir = join(user.home, ".config/claude-auth-sync");
  return {
    user,
    tokenFile: join(dir, "vault-token"),
    envFile: join(dir, "claude-oauth.env"),
    stateFile: join(dir, "state.json"),
    noticeFile: join(dir, "notice"),
    credentialsFile: join(user.home, ".claude/.credentials.json"),
    metricsFile: join(metricsDir, `claude-auth-sync-${user.name}.prom`),
  };
}

function writeCredentials(home: Home, content: unknown): void {
  const { user } = home;
  execFileSync("runuser", ["-u", user.name, "--", "mkdir", "-p", "-m", "700", join(user.home, ".claude")]);
  execFileSync(
    "runuser",
    ["-u", user.name, "--", "sh", "-c", 'umask 077 && cat > "$1"', "sh", home.credentialsFile],
    { input: JSON.stringify(content) },
  );
}

function state(
  home: Home,
): { identity?: { valid: boolean; expiresAt: number | null } } & Record<string, unknown> {
  return existsSync(home.stateFile) ? JSON.parse(readFileSync(home.stateFile, "utf8")) : {};
}

function metric(home: Home, name: string): number | undefined {
  if (!existsSync(home.metricsFile)) return undefined;
  const line = readFileSync(home.metricsFile, "utf8")
    .split("\n")
    .find((l) => l.startsWith(`${name}{user="${home.user.name}"}`));
  return line === undefined ? undefined : Number(line.split(" ").at(-1));
}

/** Polls root's lookup of `token` until `until` holds; the last lookup. */
async function waitFor(
  token: string,
  until: (l: Awaited<ReturnType<typeof lookup>>) => boolean,
  timeoutMs: number,
) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const seen = await lookup(token);
    if (until(seen) || Date.now() > deadline) return seen;
    await sleep(250);
  }
}

const out = (run: RunResult) => ({ code: run.code, stdout: run.stdout, stderr: run.stderr });

if (requireRoot(t)) {
  // --- Vault: the users' mount, its templated policy, a host token that reaches no user's document.
  await must("POST", `sys/auth/${MOUNT}`, { type: "userpass" });
  const auths = (await must("GET", "sys/auth")).data as Record<string, { accessor: string }>;
  const accessor = auths[`${MOUNT}/`]?.accessor ?? "";
  await putPolicy(vault.addr, vault.rootToken, USER_POLICY, userPolicy(accessor));
  await putPolicy(vault.addr, vault.rootToken, HOST_POLICY, HOST_POLICY_TEXT);
  const hostToken = await createToken(vault.addr, vault.rootToken, [HOST_POLICY]);

  // --- The workstation: U (the user under test), V (another user), W (a token left to expire).
  const metricsDir = join("/var/tmp", `cas-metrics-identity-${process.pid}`);
  mkdirSync(metricsDir, { recursive: true });
  t.teardown(() => execFileSync("rm", ["-rf", metricsDir]));
  const base = {
    VAULT_ADDR: vault.addr,
    CLAUDE_AUTH_SYNC_TIMEOUT_MS: "5000",
    CLAUDE_AUTH_SYNC_METRICS_DIR: metricsDir,
    CLAUDE_AUTH_SYNC_SERVICE_ENV_DIR: join(metricsDir, "service-env"),
  };
  const config = makeConfig(
    t,
    {
      ...base,
      CLAUDE_AUTH_SYNC_IDENTITY: "user",
      CLAUDE_AUTH_SYNC_USER_AUTH: "userpass",
      CLAUDE_AUTH_SYNC_USER_AUTH_MOUNT: MOUNT,
    },
    hostToken,
  ).path;
  const U = homeOf(createTestUser(t, "casid"), metricsDir);
  const V = homeOf(createTestUser(t, "casid"), metricsDir);
  const W = homeOf(createTestUser(t, "casid"), metricsDir);
  for (const home of [U, W]) {
    await must("POST", `auth/${MOUNT}/users/${home.user.name}`, {
      password: PASSWORD,
      token_policies: [USER_POLICY],
      token_period: `${PERIOD_S}s`,
    });
  }
  const displayName = (home: Home) => `${MOUNT}-${home.user.name}`;

  const asUser = (home: Home, args: string[], stdin?: string) =>
    runBinary([...args, "--config", config], {
      uid: home.user.uid,
      gid: home.user.gid,
      env: { HOME: home.user.home, USER: home.user.name, LOGNAME: home.user.name },
      ...(stdin === undefined ? {} : { stdin }),
    });
  const asRoot = (args: string[]) => runBinary([...args, "--config", config]);
  const sync = (home: Home, extra: string[] = []) => asRoot(["sync", "--user", home.user.name, ...extra]);
  const pam = (home: Home) =>
    runBinary(["pam", "--config", config], { env: { PAM_USER: home.user.name, PAM_TYPE: "open_session" } });
  const enrolledToken = (home: Home) => readFileSync(home.tokenFile, "utf8").trim();

  let uToken = "";
  let wToken = "";
  let wEnrolledAt = 0;

  suite.test(
    "(1) enroll --method userpass (password on stdin) stores the user's token 0600, theirs",
    async (t: Test) => {
      const mark = vault.auditMark();
      const run = await asUser(U, ["enroll", "--method", "userpass", "--json"], `${PASSWORD}\n`);
      t.equal(run.code, 0, "enroll as the user: exit 0", out(run));
      t.ok(existsSync(U.tokenFile), "~/.config/claude-auth-sync/vault-token exists");
      const stat = statSync(U.tokenFile);
      t.equal(stat.mode & 0o777, 0o600, "0600");
      t.equal(stat.uid, U.user.uid, "owned by the user");
      t.equal(stat.gid, U.user.gid, "their group");
      uToken = enrolledToken(U);
      const info = await lookup(uToken);
      t.equal(info.status, 200, "a live token");
      t.equal(info.display_name, displayName(U), "from the user's own login");
      t.same(info.meta, { username: U.user.name });
      t.same([...(info.policies ?? [])].sort(), [USER_POLICY, "default"].sort(), "the per-user policy only");
      t.equal(info.period, PERIOD_S, "periodic");
      t.ok(info.entity_id, "with an identity entity (what the templated policy matches)");
      t.ok(
        vault.auditSince(mark).some((e) => e.path === `auth/${MOUNT}/login/${U.user.name}` && e.error === ""),
        `logged in at auth/${MOUNT}/login (CLAUDE_AUTH_SYNC_USER_AUTH_MOUNT)`,
      );
      let report: Record<string, unknown> = {};
      try {
        report = JSON.parse(run.stdout);
      } catch {}
      t.equal(report.enrolled, true, "JSON: enrolled");
      t.equal(report.periodSeconds, PERIOD_S, "JSON: the period");
      t.same(report.capabilities, ["create", "read", "update"], "JSON: the user's document's capabilities");
      t.notOk((run.stdout + run.stderr).includes(uToken), "the token is never printed");
      t.notOk((run.stdout + run.stderr).includes(PASSWORD), "nor the password");
      t.notOk(
        vault.auditSince(mark).some((e) => e.policies.includes(HOST_POLICY)),
        "the host token was not used",
      );

      // W: enrolled the same way and synced once (so it has a state file), then left alone: case 5.
      const w = await asUser(W, ["enroll", "--method", "userpass"], `${PASSWORD}\n`);
      wEnrolledAt = Date.now();
      t.equal(w.code, 0, "W enrolls too", out(w));
      wToken = existsSync(W.tokenFile) ? enrolledToken(W) : "";
      await must("POST", documentPath(W.user.name), {
        data: { setup_token: setupToken("W"), setup_token_updated_at: new Date().toISOString() },
      });
      const first = await sync(W);
      t.equal(first.code, 0, "W's first sync (no --renew-token: nothing renews W's token)", out(first));
      t.ok(existsSync(W.stateFile), "W has a state file");
    },
  );

  suite.test(
    "(2) root sync --user and pam read and write the user's document with the user's own token",
    async (t: Test) => {
      const mark = vault.auditMark();
      const fresh = credential("own", Date.now() + 7 * HOUR);
      writeCredentials(U, { claudeAiOauth: fresh });
      const backup = await sync(U);
      t.equal(backup.code, 0, "root sync --user: exit 0", out(backup));
      const doc = await readDoc(vault.addr, vault.rootToken, U.user.name);
      t.equal(doc.status, 200, "the document exists (read through the root token)");
      t.same(
        JSON.parse(String(doc.data?.claude_ai_oauth ?? "null")),
        fresh,
        "the rotating credential backed up",
      );
      t.ok(doc.data?.claude_ai_oauth_backed_up_at, "with its backed-up-at");
      const backupWrites = writesOf(onDocument(mark, U.user.name));
      t.same(
        backupWrites.map((w) => [w.operation, (w.data as { options?: unknown } | null)?.options]),
        [["create", { cas: 0 }]],
        "one create, cas 0",
      );

      // The setup-token path, at a login (pam_exec as root at session open).
      const token = setupToken("U");
      await must("POST", documentPath(U.user.name), {
        data: { ...doc.data, setup_token: token, setup_token_updated_at: new Date().toISOString() },
        options: { cas: doc.version },
      });
      const login = await pam(U);
      t.equal(login.code, 0, "pam open_session: exit 0", out(login));
      t.equal(
        existsSync(U.envFile) ? readFileSync(U.envFile, "utf8") : "",
        `CLAUDE_CODE_OAUTH_TOKEN=${token}\n`,
        "the env file holds the seeded setup-token",
      );
      if (existsSync(U.envFile)) {
        t.equal(statSync(U.envFile).mode & 0o777, 0o600);
        t.equal(statSync(U.envFile).uid, U.user.uid);
      }

      const seen = onDocument(mark, U.user.name);
      t.ok(seen.length >= 3, "the server saw the runs' requests on U's document", { seen: seen.length });
      for (const e of seen) {
        t.equal(e.displayName, displayName(U), `${e.operation}: U's token (display name)`);
        t.same(e.metadata, { username: U.user.name }, `${e.operation}: U's login`);
        t.same([...e.policies].sort(), [USER_POLICY, "default"].sort(), `${e.operation}: U's policies`);
      }
      const hostSeen = vault
        .auditSince(mark)
        .filter(
          (e) =>
            !e.policies.includes("root") && (e.policies.includes(HOST_POLICY) || e.displayName === "token"),
        );
      t.same(hostSeen, [], "no request at all carried the host token");
      t.notOk(
        vault.auditSince(mark).some((e) => e.path === "auth/token/renew-self"),
        "no renewal without --renew-token",
      );
    },
  );

  suite.test(
    "(3) the host token alone is denied U's document; U's token is denied V's document",
    async (t: Test) => {
      await must("POST", documentPath(V.user.name), { data: { v_secret: "v" } });
      const hostRead = await vaultApi(vault.addr, hostToken, "GET", documentPath(U.user.name));
      t.equal(hostRead.status, 403, "host token: read U's document → 403");
      const hostWrite = await vaultApi(vault.addr, hostToken, "POST", documentPath(U.user.name), {
        data: { setup_token: setupToken("H") },
      });
      t.equal(hostWrite.status, 403, "host token: write U's document → 403");
      const hostCaps = await vaultApi(vault.addr, hostToken, "POST", "sys/capabilities-self", {
        paths: [documentPath(U.user.name)],
      });
      t.same((hostCaps.body?.data as Record<string, unknown>)?.[documentPath(U.user.name)], ["deny"]);

      const peek = await vaultApi(vault.addr, uToken, "GET", documentPath(V.user.name));
      t.equal(peek.status, 403, "U's token: read V's document → 403");
      t.match(JSON.stringify(peek.body), /permission denied/);
      const overwrite = await vaultApi(vault.addr, uToken, "POST", documentPath(V.user.name), {
        data: { setup_token: setupToken("X") },
        options: { cas: 1 },
      });
      t.equal(overwrite.status, 403, "U's token: write V's document → 403");
      const caps = await vaultApi(vault.addr, uToken, "POST", "sys/capabilities-self", {
        paths: [documentPath(V.user.name), documentPath(U.user.name)],
      });
      const data = (caps.body?.data ?? {}) as Record<string, unknown>;
      t.same(data[documentPath(V.user.name)], ["deny"], "U's capabilities on V's document");
      t.same(data[documentPath(U.user.name)], ["create", "read", "update"], "and on their own");
      t.same(
        (await readDoc(vault.addr, vault.rootToken, V.user.name)).data,
        { v_secret: "v" },
        "V's untouched",
      );

      // The same host token in host mode: the binary is refused too (exit 5), nothing written.
      const hostConfig = makeConfig(t, { ...base, CLAUDE_AUTH_SYNC_IDENTITY: "host" }, hostToken).path;
      const before = (await readDoc(vault.addr, vault.rootToken, U.user.name)).version;
      const hostRun = await runBinary(["sync", "--user", U.user.name, "--config", hostConfig]);
      t.equal(hostRun.code, 5, "CLAUDE_AUTH_SYNC_IDENTITY=host with that host token: exit 5", out(hostRun));
      t.match(hostRun.stdout + hostRun.stderr, /denied/i);
      t.equal((await readDoc(vault.addr, vault.rootToken, U.user.name)).version, before, "nothing written");
    },
  );

  suite.test(
    "(4) sync --renew-token renews U's token once less than half its period is left",
    async (t: Test) => {
      const early = await lookup(uToken);
      t.equal(early.status, 200, "U's token lives");
      if ((early.ttl ?? 0) > PERIOD_S / 2 + 2) {
        const mark = vault.auditMark();
        const run = await sync(U, ["--renew-token"]);
        t.equal(run.code, 0, "more than half left: exit 0", out(run));
        t.notOk(
          vault.auditSince(mark).some((e) => e.path === "auth/token/renew-self"),
          "more than half left: no renew-self",
        );
        t.equal(state(U).identity?.valid, true, "state.json: identity valid");
      } else t.comment(`U's token had ${early.ttl}s left already: the "no renewal yet" step is skipped`);

      const low = await waitFor(uToken, (l) => (l.ttl ?? PERIOD_S) < PERIOD_S / 2 - 1, PERIOD_S * 1000);
      t.ok((low.ttl ?? PERIOD_S) < PERIOD_S / 2, `less than half the period left (${low.ttl}s)`);
      const mark = vault.auditMark();
      const started = Date.now();
      const run = await sync(U, ["--renew-token"]);
      t.equal(run.code, 0, "sync --user U --renew-token: exit 0", out(run));
      const after = await lookup(uToken);
      t.equal(after.status, 200);
      t.ok((after.ttl ?? 0) >= PERIOD_S - 3, `renewed: ttl back near the period (${after.ttl}s)`, {
        before: low.ttl,
      });
      const renewals = vault.auditSince(mark).filter((e) => e.path === "auth/token/renew-self");
      t.equal(renewals.length, 1, "the server saw one auth/token/renew-self");
      t.equal(renewals[0]?.displayName, displayName(U), "made with U's token");
      t.equal(renewals[0]?.error, "", "and granted");
      const identity = state(U).identity;
      t.equal(identity?.valid, true, "state.json: identity valid");
      t.ok(
        typeof identity?.expiresAt === "number" && identity.expiresAt >= started + (PERIOD_S - 4) * 1000,
        "state.json: the renewed expiry",
        { identity },
      );
      const expiry = metric(U, "claude_auth_sync_identity_expiry_timestamp_seconds") ?? 0;
      t.ok(expiry >= Math.floor(started / 1000) + PERIOD_S - 4, `identity-expiry metric renewed (${expiry})`);
    },
  );

  suite.test(
    "(5) an expired token: sync exits 5, says re-enroll, leaves a notice, identity invalid, metric 0",
    async (t: Test) => {
      t.ok(wToken, "W has an enrolled token");
      const gone = await waitFor(
        wToken,
        (l) => l.status !== 200,
        wEnrolledAt + PERIOD_S * 1000 + 10_000 - Date.now(),
      );
      t.not(gone.status, 200, "W's token expired (root's lookup no longer finds it)", { gone });
      const mark = vault.auditMark();
      const run = await sync(W, ["--renew-token", "--json"]);
      t.equal(run.code, 5, "sync --user W --renew-token: exit 5", out(run));
      const said = run.stdout + run.stderr;
      t.match(said, /expired or was revoked/, "says the enrolled token expired");
      t.match(said, /claude-auth enroll/, "and how to enroll again");
      t.notOk(
        vault.auditSince(mark).some((e) => e.policies.includes(HOST_POLICY)),
        "no fallback to the host token",
      );
      t.ok(existsSync(W.noticeFile), "a notice for W's next shell");
      if (existsSync(W.noticeFile)) {
        const notice = readFileSync(W.noticeFile, "utf8");
        t.match(notice, /expired or was revoked/);
        t.match(notice, /claude-auth enroll/);
        t.equal(statSync(W.noticeFile).uid, W.user.uid, "the notice is W's");
      }
      t.equal(state(W).identity?.valid, false, "state.json: identity {valid: false}", { state: state(W) });
      t.equal(
        metric(W, "claude_auth_sync_identity_expiry_timestamp_seconds"),
        0,
        'claude_auth_sync_identity_expiry_timestamp_seconds{user="W"} 0',
      );
      const login = await pam(W);
      t.equal(login.code, 0, "a login is never blocked by it (pam exit 0)", out(login));
    },
  );

  suite.test(
    "(6) unenroll revokes the token and removes the file; then runs are no-ops without Vault",
    async (t: Test) => {
      const run = await asUser(U, ["unenroll", "--json"]);
      t.equal(run.code, 0, "unenroll as the user: exit 0", out(run));
      let report: Record<string, unknown> = {};
      try {
        report = JSON.parse(run.stdout);
      } catch {}
      t.equal(report.revocation, "revoked", "JSON: revoked");
      t.not((await lookup(uToken)).status, 200, "root's lookup no longer finds the token");
      t.notOk(existsSync(U.tokenFile), "vault-token removed");

      const mark = vault.auditMark();
      const after = await sync(U, ["--renew-token", "--json"]);
      t.equal(after.code, 0, "sync --user U afterwards: exit 0", out(after));
      let result: Record<string, unknown> = {};
      try {
        result = JSON.parse(after.stdout);
      } catch {}
      t.match(String(result.message ?? after.stdout), /not enrolled/, "says not enrolled");
      t.equal(result.vaultRequests, 0, "no Vault request");
      const login = await pam(U);
      t.equal(login.code, 0, "pam afterwards: exit 0", out(login));
      t.same(onDocument(mark, U.user.name), [], "the server saw nothing on U's document");
      t.same(
        vault.auditSince(mark).map((e) => e.path),
        [],
        "nor any request at all",
      );
    },
  );
}
