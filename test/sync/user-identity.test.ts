// CLAUDE_AUTH_SYNC_IDENTITY=user (the default): each user's document is read and written only with the
// token that user enrolled (~/.config/claude-auth-sync/vault-token); the host holds no Vault identity at
// all here. enroll, unenroll, enable's enrollment, renewal, expiry, and the no-op for the unenrolled.
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import t, { type Test } from "tap";
import { makeConfig, runBinary } from "../helpers/cli.js";
import { createTestUser, requireRoot, type TestUser } from "../helpers/users.js";
import { putPolicy, readDoc, userPolicy, vaultApi } from "../helpers/vault-api.js";
import { startVaultStandIn, type VaultStandIn } from "../vault/standin.js";
import { setupToken } from "./fixture.js";

const TOKEN_FILE = ".config/claude-auth-sync/vault-token";

async function api(addr: string, token: string, method: string, path: string, body?: unknown) {
  const answer = await vaultApi(addr, token, method, path, body);
  if (answer.status >= 300)
    throw new Error(`${method} ${path}: ${answer.status} ${JSON.stringify(answer.body)}`);
  return (answer.body ?? {}) as Record<string, unknown>;
}

interface Site {
  vault: VaultStandIn;
  config: string;
  metricsDir: string;
  /** Creates a user with a userpass login (password `pw-<name>`) whose token has the per-user policy. */
  user(extraPolicies?: string[], period?: string): Promise<TestUser>;
  login(user: TestUser): Promise<string>;
  asUser(
    user: TestUser,
    args: string[],
    stdin?: string,
    env?: Record<string, string>,
  ): ReturnType<typeof runBinary>;
  asRoot(args: string[]): ReturnType<typeof runBinary>;
}

async function site(t: Test, extra: Record<string, string> = {}): Promise<Site> {
  const vault = await startVaultStandIn();
  t.teardown(() => vault.close());
  const root = vault.rootToken;
  await api(vault.addr, root, "POST", "sys/auth/userpass", { type: "userpass" });
  const mounts = (await api(vault.addr, root, "GET", "sys/auth")).data as Record<
    string,
    { accessor: string }
  >;
  await putPolicy(vault.addr, root, "claude-user", userPolicy(mounts["userpass/"]?.accessor ?? ""));
  await putPolicy(
    vault.addr,
    root,
    "every-user",
    'path "secret/data/workstation/claude-users/*" { capabilities = ["create", "read", "update"] }',
  );
  const metricsDir = join("/var/tmp", `cas-uid-metrics-${process.pid}-${Date.now()}`);
  mkdirSync(metricsDir, { recursive: true });
  t.teardown(() => execFileSync("rm", ["-rf", metricsDir]));
  // No host token at all: in user mode the host needs none.
  const config = makeConfig(t, {
    VAULT_ADDR: vault.addr,
    CLAUDE_AUTH_SYNC_IDENTITY: "user",
    CLAUDE_AUTH_SYNC_USER_AUTH: "userpass",
    CLAUDE_AUTH_SYNC_METRICS_DIR: metricsDir,
    CLAUDE_AUTH_SYNC_TIMEOUT_MS: "3000",
    ...extra,
  }).path;
  const asUser = (user: TestUser, args: string[], stdin?: string, env: Record<string, string> = {}) =>
    runBinary([...args, "--config", config], {
      uid: user.uid,
      gid: user.gid,
      env: { HOME: user.home, USER: user.name, ...env },
      ...(stdin === undefined ? {} : { stdin }),
    });
  return {
    vault,
    config,
    metricsDir,
    async user(extraPolicies = [], period = "72h") {
      const user = createTestUser(t);
      await api(vault.addr, root, "POST", `auth/userpass/users/${user.name}`, {
        password: `pw-${user.name}`,
        token_policies: ["claude-user", ...extraPolicies],
        token_period: period,
      });
      return user;
    },
    async login(user) {
      const answer = await api(vault.addr, "", "POST", `auth/userpass/login/${user.name}`, {
        password: `pw-${user.name}`,
      });
      return (answer.auth as { client_token: string }).client_token;
    },
    asUser,
    asRoot: (args) => runBinary([...args, "--config", config]),
  };
}

function asUserShell(user: TestUser, script: string, input?: string): void {
  execFileSync(
    "runuser",
    ["-u", user.name, "--", "sh", "-c", script, "sh", user.home],
    input ? { input } : {},
  );
}

t.test("an unenrolled user: root's sync is a no-op that asks Vault nothing and writes nothing", async (t) => {
  if (!requireRoot(t)) return;
  const s = await site(t);
  const user = await s.user();
  await api(s.vault.addr, s.vault.rootToken, "POST", `secret/data/workstation/claude-users/${user.name}`, {
    data: { setup_token: setupToken("U") },
  });
  s.vault.clearRequests();
  const run = await s.asRoot(["sync", "--user", user.name]);
  t.equal(run.code, 0, "exit 0", { stdout: run.stdout, stderr: run.stderr });
  t.match(run.stdout, /not enrolled/, "says why nothing happened");
  t.match(run.stdout, /claude-auth enroll/, "and how to enroll");
  t.equal(s.vault.requests.length, 0, "no Vault request");
  t.notOk(existsSync(join(user.home, ".config/claude-auth-sync")), "nothing written in the home");
  t.notOk(existsSync(join(s.metricsDir, `claude-auth-sync-${user.name}.prom`)), "no metrics file");
  const status = await s.asUser(user, ["status"]);
  t.match(status.stdout, /identity\s+not enrolled: .*claude-auth enroll/, "status says how to enroll");
});

t.test(
  "enroll --method userpass stores the user's own token; root's runs then use it, never a host's",
  async (t) => {
    if (!requireRoot(t)) return;
    const s = await site(t);
    const user = await s.user();
    await api(s.vault.addr, s.vault.rootToken, "POST", `secret/data/workstation/claude-users/${user.name}`, {
      data: { setup_token: setupToken("E"), vaultwarden_x: "kept" },
    });
    const enrolled = await s.asUser(user, ["enroll", "--method", "userpass"], `pw-${user.name}\n`);
    t.equal(enrolled.code, 0, "enroll succeeds", { stdout: enrolled.stdout, stderr: enrolled.stderr });
    t.match(enrolled.stdout, /enrolled: a fresh userpass login/);
    t.match(enrolled.stdout, /lifetime: periodic \(3 days\)/, "says how long it lives");
    t.notMatch(enrolled.stdout + enrolled.stderr, new RegExp(`pw-${user.name}|hvs\\.`), "no secret printed");
    const file = join(user.home, TOKEN_FILE);
    const stat = statSync(file);
    t.equal(stat.mode & 0o777, 0o600, "0600");
    t.equal(stat.uid, user.uid, "owned by the user");
    const token = readFileSync(file, "utf8").trim();
    const accessor = s.vault.accessorOf(token);
    t.ok(accessor, "a token Vault issued");

    s.vault.clearRequests();
    const run = await s.asRoot(["sync", "--user", user.name]);
    t.equal(run.code, 0, "root's sync works with no host identity", {
      stdout: run.stdout,
      stderr: run.stderr,
    });
    t.equal(
      readFileSync(join(user.home, ".config/claude-auth-sync/claude-oauth.env"), "utf8"),
      `CLAUDE_CODE_OAUTH_TOKEN=${setupToken("E")}\n`,
    );
    const onDocument = s.vault.requests.filter((r) => r.logicalPath.includes(`claude-users/${user.name}`));
    t.ok(onDocument.length > 0, "the document was read");
    t.ok(
      onDocument.every((r) => r.tokenAccessor === accessor),
      "every request on it carried the user's own token",
    );
    const status = await s.asUser(user, ["status"]);
    t.match(status.stdout, /identity\s+your own token .*periodic 3 days/, "status shows the identity");
  },
);

t.test(
  "enroll refuses root, --user, a token without entity; warns for one that reaches everyone",
  async (t) => {
    if (!requireRoot(t)) return;
    const s = await site(t);
    const asRoot = await runBinary(["enroll", "--config", s.config]);
    t.equal(asRoot.code, 2, "root cannot enroll: it takes the user's own identity");
    const user = await s.user();
    const withUser = await s.asUser(user, ["enroll", "--user", user.name]);
    t.equal(withUser.code, 2, "--user is refused");

    const orphan = await api(s.vault.addr, s.vault.rootToken, "POST", "auth/token/create-orphan", {
      policies: ["claude-user"],
    });
    const orphanToken = (orphan.auth as { client_token: string }).client_token;
    const refused = await s.asUser(user, ["enroll"], undefined, { VAULT_TOKEN: orphanToken });
    t.equal(refused.code, 5, "a token without entity cannot serve (exit 5)", { stderr: refused.stderr });
    t.match(refused.stderr, /no identity entity/);
    t.match(refused.stderr, /nothing was stored/);
    t.notOk(existsSync(join(user.home, TOKEN_FILE)), "nothing stored");

    const wide = await s.user(["every-user"]);
    const wideToken = await s.login(wide);
    asUserShell(wide, 'umask 077; cat > "$1/.vault-token"', wideToken);
    const warned = await s.asUser(wide, ["enroll"]);
    t.equal(warned.code, 0, "stored", { stderr: warned.stderr });
    t.match(warned.stdout, /warning: the token also reaches other users' documents/);
    t.match(warned.stdout, /enrolled: .*\.vault-token/, "taken from ~/.vault-token");
  },
);

t.test("a revoked enrolled token: exit 5 saying how to re-enroll, a shell notice, metric 0", async (t) => {
  if (!requireRoot(t)) return;
  const s = await site(t);
  const user = await s.user();
  t.equal((await s.asUser(user, ["enroll", "--method", "userpass"], `pw-${user.name}`)).code, 0);
  const first = await s.asRoot(["sync", "--user", user.name]);
  t.equal(first.code, 0);
  const token = readFileSync(join(user.home, TOKEN_FILE), "utf8").trim();
  await api(s.vault.addr, s.vault.rootToken, "POST", "auth/token/revoke", { token });
  const run = await s.asRoot(["sync", "--user", user.name]);
  t.equal(run.code, 5, "permission denied", { stdout: run.stdout, stderr: run.stderr });
  t.match(run.stdout, /has expired or was revoked/);
  t.match(run.stdout, /claude-auth enroll/, "says how to re-enroll");
  t.match(
    readFileSync(join(user.home, ".config/claude-auth-sync/notice"), "utf8"),
    /Vault token .* expired or was revoked/,
  );
  t.match(
    readFileSync(join(s.metricsDir, `claude-auth-sync-${user.name}.prom`), "utf8"),
    new RegExp(`claude_auth_sync_identity_expiry_timestamp_seconds\\{user="${user.name}"\\} 0\\n`),
  );
  const status = await s.asUser(user, ["status"]);
  t.match(status.stdout, /expired or was revoked/, "status shows it");
});

t.test("timer runs renew the user's token once less than half its period is left", async (t) => {
  if (!requireRoot(t)) return;
  const s = await site(t);
  const user = await s.user([], "6s");
  await api(s.vault.addr, s.vault.rootToken, "POST", `secret/data/workstation/claude-users/${user.name}`, {
    data: { setup_token: setupToken("R") },
  });
  t.equal((await s.asUser(user, ["enroll", "--method", "userpass"], `pw-${user.name}`)).code, 0);
  s.vault.clearRequests();
  t.equal((await s.asRoot(["sync", "--user", user.name, "--renew-token"])).code, 0);
  t.equal(s.vault.countRequests({ pathPrefix: "auth/token/renew-self" }), 0, "fresh: not renewed");
  await new Promise((resolve) => setTimeout(resolve, 3600));
  const run = await s.asRoot(["sync", "--user", user.name, "--renew-token"]);
  t.equal(run.code, 0, "", { stdout: run.stdout, stderr: run.stderr });
  t.equal(
    s.vault.countRequests({ pathPrefix: "auth/token/renew-self" }),
    1,
    "renewed once past half its period",
  );
  const state = JSON.parse(readFileSync(join(user.home, ".config/claude-auth-sync/state.json"), "utf8"));
  t.ok(state.identity.valid && state.identity.expiresAt > Date.now() + 4000, "its new expiry is recorded");
  t.match(
    readFileSync(join(s.metricsDir, `claude-auth-sync-${user.name}.prom`), "utf8"),
    /claude_auth_sync_identity_expiry_timestamp_seconds\{user="[^"]+"\} [1-9]\d{9}\n/,
    "and exported",
  );
  s.vault.clearRequests();
  t.equal((await s.asRoot(["sync", "--user", user.name])).code, 0);
  t.equal(s.vault.countRequests({ pathPrefix: "auth/token/" }), 0, "the login path never renews");
});

t.test("unenroll revokes the token and removes it; then runs do nothing; a CLI token is kept", async (t) => {
  if (!requireRoot(t)) return;
  const s = await site(t);
  const user = await s.user();
  t.equal((await s.asUser(user, ["enroll", "--method", "userpass"], `pw-${user.name}`)).code, 0);
  const token = readFileSync(join(user.home, TOKEN_FILE), "utf8").trim();
  const gone = await s.asUser(user, ["unenroll"]);
  t.equal(gone.code, 0, "", { stdout: gone.stdout, stderr: gone.stderr });
  t.match(gone.stdout, /unenrolled: revoked the token/);
  t.notOk(existsSync(join(user.home, TOKEN_FILE)), "file removed");
  t.equal(
    (await vaultApi(s.vault.addr, token, "GET", "auth/token/lookup-self")).status,
    403,
    "token revoked",
  );
  s.vault.clearRequests();
  const after = await s.asRoot(["sync", "--user", user.name]);
  t.equal(after.code, 0);
  t.equal(s.vault.requests.length, 0, "the next run asks Vault nothing");
  t.match(
    (await s.asUser(user, ["unenroll"])).stdout,
    /not enrolled: .*nothing to do/,
    "again: nothing to do",
  );

  const cli = await s.login(user);
  asUserShell(user, 'umask 077; cat > "$1/.vault-token"', cli);
  t.equal((await s.asUser(user, ["enroll"])).code, 0);
  const kept = await s.asUser(user, ["unenroll"]);
  t.match(kept.stdout, /not revoked: it is also your Vault CLI token/);
  t.equal(
    (await vaultApi(s.vault.addr, cli, "GET", "auth/token/lookup-self")).status,
    200,
    "the CLI token still works",
  );
});

t.test("enable in user mode enrolls the user's current token first", async (t) => {
  if (!requireRoot(t)) return;
  const s = await site(t);
  const user = await s.user();
  asUserShell(user, 'umask 077; cat > "$1/.vault-token"', await s.login(user));
  const enabled = await s.asUser(user, ["enable", "--no-verify"], `${setupToken("N")}\n`);
  t.equal(enabled.code, 0, "", { stdout: enabled.stdout, stderr: enabled.stderr });
  t.match(enabled.stderr, /enrolled: .*vault-token/, "says it enrolled");
  t.ok(existsSync(join(user.home, TOKEN_FILE)), "the token is enrolled");
  t.equal((await readDoc(s.vault.addr, s.vault.rootToken, user.name)).data?.setup_token, setupToken("N"));
  const unenrolledRoot = await runBinary([
    "enable",
    "--no-verify",
    "--user",
    "nobody-here",
    "--config",
    s.config,
  ]);
  t.not(unenrolledRoot.code, 0);
});
