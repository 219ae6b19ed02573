// The host's AppRole login (timer, PAM): one token reused across root runs until near its expiry, kept in
// a root-only file, instead of a fresh login (and a token left alive for its whole TTL) on every run.
import {
  chmodSync,
  chownSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t, { type Test } from "tap";
import { makeConfig, type RunResult, runBinary } from "../helpers/cli.js";
import { createTestUser, requireRoot, type TestUser } from "../helpers/users.js";
import { HOST_POLICY, liveLoginTokens, putPolicy, vaultApi } from "../helpers/vault-api.js";
import { startVaultStandIn, type VaultStandIn } from "../vault/standin.js";
import { setupToken } from "./fixture.js";

const MINUTE = 60_000;

async function api(addr: string, token: string, method: string, path: string, body?: unknown) {
  const answer = await vaultApi(addr, token, method, path, body);
  if (answer.status >= 300)
    throw new Error(`${method} ${path}: ${answer.status} ${JSON.stringify(answer.body)}`);
  return (answer.body ?? {}) as { data?: Record<string, unknown>; auth?: Record<string, unknown> };
}

interface Host {
  vault: VaultStandIn;
  /** The stand-in's clock runs this far ahead of the real one. */
  skew: { ms: number };
  user: TestUser;
  config: string;
  cacheFile: string;
  scratch: string;
  sync(extra?: Record<string, string>): Promise<RunResult>;
  pam(): Promise<RunResult>;
  live(): Promise<string[]>;
  logins(): number;
}

async function approleHost(
  t: Test,
  role: Record<string, unknown> = { token_ttl: "1h" },
  extra: Record<string, string> = {},
): Promise<Host> {
  const skew = { ms: 0 };
  const vault = await startVaultStandIn({ clock: () => Date.now() + skew.ms });
  t.teardown(() => vault.close());
  const root = vault.rootToken;
  await putPolicy(vault.addr, root, "host", HOST_POLICY);
  await api(vault.addr, root, "POST", "sys/auth/approle", { type: "approle" });
  await api(vault.addr, root, "POST", "auth/approle/role/ws", { token_policies: ["host"], ...role });
  const roleId = String((await api(vault.addr, root, "GET", "auth/approle/role/ws/role-id")).data?.role_id);
  const secretId = String(
    (await api(vault.addr, root, "POST", "auth/approle/role/ws/secret-id", {})).data?.secret_id,
  );
  const scratch = mkdtempSync(join(tmpdir(), "cas-host-login-"));
  t.teardown(() => rmSync(scratch, { recursive: true, force: true }));
  const secretFile = join(scratch, "secret-id");
  writeFileSync(secretFile, `${secretId}\n`, { mode: 0o600 });
  const cacheDir = join(scratch, "state");
  mkdirSync(cacheDir, { mode: 0o700 });
  const cacheFile = join(cacheDir, "host-token");
  const user = createTestUser(t);
  await api(vault.addr, root, "POST", `secret/data/workstation/claude-users/${user.name}`, {
    data: { setup_token: setupToken("H"), vaultwarden_x: "kept" },
  });
  const config = makeConfig(t, {
    VAULT_ADDR: vault.addr,
    CLAUDE_AUTH_SYNC_AUTH: "approle",
    CLAUDE_AUTH_SYNC_APPROLE_ROLE_ID: roleId,
    CLAUDE_AUTH_SYNC_APPROLE_SECRET_ID_FILE: secretFile,
    CLAUDE_AUTH_SYNC_HOST_TOKEN_CACHE: cacheFile,
    ...extra,
  }).path;
  return {
    vault,
    skew,
    user,
    config,
    cacheFile,
    scratch,
    sync: (env = {}) => runBinary(["sync", "--user", user.name, "--config", config], { env }),
    pam: () =>
      runBinary(["pam", "--config", config], { env: { PAM_USER: user.name, PAM_TYPE: "open_session" } }),
    live: () => liveLoginTokens(vault.addr, root, "auth/approle/login"),
    logins: () => vault.countRequests({ method: "POST", pathPrefix: "auth/approle/login" }),
  };
}

function envFileOf(user: TestUser): string {
  return readFileSync(join(user.home, ".config/claude-auth-sync/claude-oauth.env"), "utf8");
}

t.test("50 root runs (timer syncs and PAM logins) leave one live AppRole token, not 50", async (t) => {
  if (!requireRoot(t)) return;
  const host = await approleHost(t);
  const runs = 50;
  for (let i = 0; i < runs; i++) {
    const run = i % 2 === 0 ? await host.sync() : await host.pam();
    if (run.code !== 0) t.fail(`run ${i} exit ${run.code}`, { stdout: run.stdout, stderr: run.stderr });
  }
  t.equal(envFileOf(host.user), `CLAUDE_CODE_OAUTH_TOKEN=${setupToken("H")}\n`, "every run synced");
  const live = await host.live();
  t.ok(live.length <= 1, `${runs} runs leave ${live.length} live login token(s) (≤ 1)`);
  t.equal(host.logins(), 1, "one AppRole login for all of them");

  host.vault.clearRequests();
  const steady = await host.pam();
  t.equal(steady.code, 0);
  t.same(
    host.vault.requests.map((r) => `${r.method} ${r.logicalPath}`),
    [`GET secret/data/workstation/claude-users/${host.user.name}`],
    "a steady login makes one Vault request: the document read, no login",
  );
  const stat = lstatSync(host.cacheFile);
  t.ok(stat.isFile(), "the cached token is a regular file");
  t.equal(stat.uid, 0, "owned by root");
  t.equal(stat.mode & 0o777, 0o600, "mode 0600");
  t.notMatch(steady.stdout + steady.stderr, /hvs\./, "no token printed");
});

t.test("root runs at once share the cache: no torn file, and warm runs log in no more", async (t) => {
  if (!requireRoot(t)) return;
  const host = await approleHost(t);
  const others = [createTestUser(t), createTestUser(t), createTestUser(t)];
  for (const other of others)
    await api(
      host.vault.addr,
      host.vault.rootToken,
      "POST",
      `secret/data/workstation/claude-users/${other.name}`,
      {
        data: { setup_token: setupToken("C") },
      },
    );
  const pamFor = (name: string) =>
    runBinary(["pam", "--config", host.config], { env: { PAM_USER: name, PAM_TYPE: "open_session" } });
  const wave = () =>
    Promise.all([host.sync(), host.sync(), ...[host.user, ...others].map((u) => pamFor(u.name))]);
  const cold = await wave();
  t.same(
    cold.map((r) => r.code),
    cold.map(() => 0),
    "six concurrent runs from a cold cache all succeed",
  );
  const coldLogins = host.logins();
  t.ok(coldLogins >= 1 && coldLogins <= cold.length, `${coldLogins} login(s) from a cold cache`);
  JSON.parse(readFileSync(host.cacheFile, "utf8"));
  t.pass("the cache file is whole JSON after concurrent writers");
  for (let i = 0; i < 3; i++) {
    const warm = await wave();
    t.same(
      warm.map((r) => r.code),
      warm.map(() => 0),
      `warm wave ${i + 1} succeeds`,
    );
  }
  t.equal(host.logins(), coldLogins, "warm waves reuse the cached token: no login at all");
  const live = await host.live();
  t.ok(live.length <= coldLogins, `${live.length} live login token(s) after 24 runs`);
});

t.test("near its expiry the cached token is replaced and the old one revoked", async (t) => {
  if (!requireRoot(t)) return;
  const host = await approleHost(t, { token_ttl: "1h", token_max_ttl: "1h" });
  t.equal((await host.sync()).code, 0);
  const [first] = await host.live();
  // Our clock and Vault's agree in life; here the file is aged instead (the stand-in's clock follows).
  const age = (minutes: number) => {
    const record = JSON.parse(readFileSync(host.cacheFile, "utf8")) as { expiresAt: number };
    record.expiresAt -= minutes * MINUTE;
    writeFileSync(host.cacheFile, JSON.stringify(record), { mode: 0o600 });
    host.skew.ms += minutes * MINUTE;
  };
  age(30);
  t.equal((await host.pam()).code, 0);
  t.equal(host.logins(), 1, "half-way through its life the token is still reused");
  age(15);
  host.vault.clearRequests();
  t.equal((await host.pam()).code, 0);
  t.equal(host.logins(), 1, "with a quarter of its life left, a new login");
  t.equal(host.vault.countRequests({ pathPrefix: "auth/token/revoke-self" }), 1, "and one revoke-self");
  const live = await host.live();
  t.equal(live.length, 1, "one live login token");
  t.not(live[0], first, "the new one; the replaced token was revoked");
  age(120);
  host.vault.clearRequests();
  t.equal((await host.pam()).code, 0, "after it expired, a run just logs in again");
  t.same(
    host.vault.requests.map((r) => r.logicalPath),
    ["auth/approle/login", `secret/data/workstation/claude-users/${host.user.name}`],
    "without sending the expired token first",
  );
  t.equal((await host.live()).length, 1);
});

t.test("a cached token revoked behind our back: the same run logs in again and succeeds", async (t) => {
  if (!requireRoot(t)) return;
  const host = await approleHost(t);
  t.equal((await host.sync()).code, 0);
  const [accessor] = await host.live();
  await api(host.vault.addr, host.vault.rootToken, "POST", "auth/token/revoke-accessor", { accessor });
  host.vault.clearRequests();
  const run = await host.pam();
  t.equal(run.code, 0, "exit 0", { stderr: run.stderr });
  t.same(
    host.vault.requests.map((r) => `${r.method} ${r.logicalPath} ${r.status}`),
    [
      `GET secret/data/workstation/claude-users/${host.user.name} 403`,
      "POST auth/approle/login 200",
      `GET secret/data/workstation/claude-users/${host.user.name} 200`,
    ],
    "refused as an invalid token, one login, the read repeated",
  );
  t.equal((await host.live()).length, 1);
});

t.test("token_num_uses: a token spent mid-run is replaced and the run still succeeds", async (t) => {
  if (!requireRoot(t)) return;
  const host = await approleHost(t, { token_ttl: "1h", token_num_uses: 2 });
  for (let i = 0; i < 6; i++) {
    const run = await host.sync();
    t.equal(run.code, 0, `run ${i + 1}`, { stdout: run.stdout });
  }
  t.ok((await host.live()).length <= 1, "spent tokens are gone; at most the current one lives");
  const spent = host.vault.requests.filter((r) => r.status === 403).length;
  t.ok(spent >= 2, `${spent} requests met a spent token`);
  t.equal(
    host.logins(),
    1 + spent,
    "one login at first, then one per spent token, each in the run that met it",
  );
});

t.test("a torn or foreign cache file is treated as absent and replaced", async (t) => {
  if (!requireRoot(t)) return;
  const host = await approleHost(t);
  for (const torn of ['{"v":1,"token":"hvs.', "", "not json at all", '{"v":1}']) {
    writeFileSync(host.cacheFile, torn, { mode: 0o600 });
    const run = await host.pam();
    t.equal(run.code, 0, `${JSON.stringify(torn)}: exit 0`);
    t.doesNotThrow(() => JSON.parse(readFileSync(host.cacheFile, "utf8")), "replaced by a whole file");
  }
  t.equal(host.logins(), 4, "each torn file cost one login, nothing else");
  t.ok((await host.live()).length <= 4);
});

t.test("a token file planted by a non-root user, or a symbolic link, is refused", async (t) => {
  if (!requireRoot(t)) return;
  const host = await approleHost(t);
  t.equal((await host.sync()).code, 0);
  const genuine = readFileSync(host.cacheFile, "utf8");
  const genuineToken = (JSON.parse(genuine) as { token: string }).token;
  const accessor = host.vault.accessorOf(genuineToken);

  // The user's own copy of a working entry, owned by them: it must not be used.
  const mallory = createTestUser(t);
  rmSync(host.cacheFile);
  writeFileSync(host.cacheFile, genuine, { mode: 0o600 });
  chownSync(host.cacheFile, mallory.uid, mallory.gid);
  host.vault.clearRequests();
  const planted = await host.pam();
  t.equal(planted.code, 0);
  t.notOk(
    host.vault.requests.some((r) => r.tokenAccessor === accessor),
    "the planted file's token was never sent",
  );
  t.equal(host.logins(), 1, "a fresh login instead");
  t.equal(lstatSync(host.cacheFile).uid, 0, "the file is root's again");

  // A link to a root-owned file with a working entry: not followed, and its target never written.
  const target = join(host.scratch, "elsewhere");
  writeFileSync(target, readFileSync(host.cacheFile, "utf8"), { mode: 0o600 });
  const targetAccessor = host.vault.accessorOf(
    (JSON.parse(readFileSync(target, "utf8")) as { token: string }).token,
  );
  rmSync(host.cacheFile);
  symlinkSync(target, host.cacheFile);
  const before = readFileSync(target, "utf8");
  host.vault.clearRequests();
  const linked = await host.sync();
  t.equal(linked.code, 0);
  t.notOk(
    host.vault.requests.some((r) => r.tokenAccessor === targetAccessor),
    "the link's token was never sent",
  );
  t.equal(host.logins(), 1, "a fresh login instead");
  t.ok(lstatSync(host.cacheFile).isFile(), "the link is replaced by a regular file");
  t.equal(readFileSync(target, "utf8"), before, "its target is untouched");

  // A directory others may write to: no cache there at all, a warning that says why, the sync unaffected.
  const open = join(host.scratch, "open");
  mkdirSync(open);
  chmodSync(open, 0o777);
  const loose = makeConfig(t, {
    ...Object.fromEntries(
      readFileSync(host.config, "utf8")
        .split("\n")
        .filter((line) => line.includes("=") && !line.startsWith("CLAUDE_AUTH_SYNC_HOST_TOKEN_CACHE"))
        .map((line) => [line.slice(0, line.indexOf("=")), line.slice(line.indexOf("=") + 1)]),
    ),
    CLAUDE_AUTH_SYNC_HOST_TOKEN_CACHE: join(open, "host-token"),
  });
  const liveBefore = (await host.live()).length;
  const refused = await runBinary(["sync", "--user", host.user.name, "--config", loose.path]);
  t.equal(refused.code, 0, "the sync itself succeeds");
  t.match(refused.stderr, new RegExp(`warning: .*${open}.*writable`), "a warning names the directory");
  t.notOk(existsSync(join(open, "host-token")), "nothing written there");
  t.equal(
    (await host.live()).length,
    liveBefore,
    "its one-off login token was revoked at the end of the run",
  );
});

t.test("the run's budget bounds a login behind an expired cached token", async (t) => {
  if (!requireRoot(t)) return;
  const host = await approleHost(t, { token_ttl: "1h" }, { CLAUDE_AUTH_SYNC_TIMEOUT_MS: "800" });
  t.equal((await host.sync()).code, 0);
  const [accessor] = await host.live();
  await api(host.vault.addr, host.vault.rootToken, "POST", "auth/token/revoke-accessor", { accessor });
  host.vault.inject({ kind: "delay", ms: 5_000, method: "POST", pathPrefix: "auth/approle/login" });
  const run = await host.sync();
  t.equal(run.code, 4, "Vault too slow: exit 4", { stdout: run.stdout });
  t.ok(run.ms < 800 + 1_500, `gave up after ${run.ms} ms (budget 800 ms)`);
});
