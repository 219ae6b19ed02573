// Who speaks to Vault: AppRole, userpass and LDAP hosts, a user's own templated identity, token
// renewal, namespaces and TLS with a private CA.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t from "tap";
import { makeConfig, runBinary } from "../helpers/cli.js";
import { createTestUser, requireRoot } from "../helpers/users.js";
import { HOST_POLICY, putPolicy, readDoc, userPolicy, vaultApi } from "../helpers/vault-api.js";
import { startVaultStandIn } from "../vault/standin.js";
import { credential, HOUR, setupToken, workstation } from "./fixture.js";

async function api(addr: string, token: string, method: string, path: string, body?: unknown) {
  const answer = await vaultApi(addr, token, method, path, body);
  if (answer.status >= 300)
    throw new Error(`${method} ${path}: ${answer.status} ${JSON.stringify(answer.body)}`);
  return answer.body ?? {};
}

function secretFile(dir: string, name: string, content: string): string {
  const path = join(dir, name);
  writeFileSync(path, `${content}\n`, { mode: 0o600 });
  return path;
}

t.test("host identities: approle, userpass and ldap logins all sync", async (t) => {
  if (!requireRoot(t)) return;
  const vault = await startVaultStandIn();
  t.teardown(() => vault.close());
  const root = vault.rootToken;
  await putPolicy(vault.addr, root, "host", HOST_POLICY);
  await api(vault.addr, root, "POST", "sys/auth/approle", { type: "approle" });
  await api(vault.addr, root, "POST", "auth/approle/role/workstation", {
    token_policies: ["host"],
    token_ttl: "10m",
  });
  const roleId = (
    (await api(vault.addr, root, "GET", "auth/approle/role/workstation/role-id")).data as { role_id: string }
  ).role_id;
  const secretId = (
    (await api(vault.addr, root, "POST", "auth/approle/role/workstation/secret-id", {})).data as {
      secret_id: string;
    }
  ).secret_id;
  await api(vault.addr, root, "POST", "sys/auth/userpass", { type: "userpass" });
  await api(vault.addr, root, "POST", "auth/userpass/users/host-ws1", {
    password: "pw-userpass",
    token_policies: ["host"],
  });
  await api(vault.addr, root, "POST", "sys/auth/ldap", { type: "ldap" });
  await api(vault.addr, root, "POST", "auth/ldap/users/host-ws1", { policies: ["host"] });
  vault.setLdapPassword("ldap", "host-ws1", "pw-ldap");

  const scratch = mkdtempSync(join(tmpdir(), "cas-ids-"));
  t.teardown(() => rmSync(scratch, { recursive: true, force: true }));
  const methods: Array<[string, Record<string, string>]> = [
    [
      "approle",
      {
        CLAUDE_AUTH_SYNC_AUTH: "approle",
        CLAUDE_AUTH_SYNC_APPROLE_ROLE_ID: roleId,
        CLAUDE_AUTH_SYNC_APPROLE_SECRET_ID_FILE: secretFile(scratch, "secret-id", secretId),
      },
    ],
    [
      "userpass",
      {
        CLAUDE_AUTH_SYNC_AUTH: "userpass",
        CLAUDE_AUTH_SYNC_USERNAME: "host-ws1",
        CLAUDE_AUTH_SYNC_PASSWORD_FILE: secretFile(scratch, "userpass-pw", "pw-userpass"),
      },
    ],
    [
      "ldap",
      {
        CLAUDE_AUTH_SYNC_AUTH: "ldap",
        CLAUDE_AUTH_SYNC_USERNAME: "host-ws1",
        CLAUDE_AUTH_SYNC_PASSWORD_FILE: secretFile(scratch, "ldap-pw", "pw-ldap"),
      },
    ],
  ];
  for (const [name, settings] of methods) {
    const user = createTestUser(t);
    const config = makeConfig(t, { VAULT_ADDR: vault.addr, ...settings });
    await api(vault.addr, root, "POST", `secret/data/workstation/claude-users/${user.name}`, {
      data: { setup_token: setupToken(name[0]?.toUpperCase()), vaultwarden_x: "kept" },
    });
    vault.clearRequests();
    const run = await runBinary(["sync", "--user", user.name, "--config", config.path]);
    t.equal(run.code, 0, `${name}: exit 0`, { stdout: run.stdout, stderr: run.stderr });
    t.match(
      readFileSync(join(user.home, ".config/claude-auth-sync/claude-oauth.env"), "utf8"),
      /^CLAUDE_CODE_OAUTH_TOKEN=/,
    );
    t.ok(
      vault.requests.some((r) => r.method === "POST" && r.logicalPath.startsWith(`auth/${name}/login`)),
      `${name}: logged in at auth/${name}/login`,
    );
    t.notMatch(run.stdout + run.stderr, /pw-|secret_id/, `${name}: no secret printed`);
  }
  const wrong = makeConfig(t, {
    VAULT_ADDR: vault.addr,
    CLAUDE_AUTH_SYNC_AUTH: "userpass",
    CLAUDE_AUTH_SYNC_USERNAME: "host-ws1",
    CLAUDE_AUTH_SYNC_PASSWORD_FILE: secretFile(scratch, "bad-pw", "wrong"),
  });
  const user = createTestUser(t);
  const denied = await runBinary(["sync", "--user", user.name, "--config", wrong.path]);
  t.equal(denied.code, 5, "a wrong password is permission denied (exit 5)");
  t.match(denied.stdout, /login refused/);
});

t.test("a user syncs with their own identity under a templated policy, and cannot read others", async (t) => {
  if (!requireRoot(t)) return;
  const vault = await startVaultStandIn();
  t.teardown(() => vault.close());
  const root = vault.rootToken;
  await api(vault.addr, root, "POST", "sys/auth/userpass", { type: "userpass" });
  const mounts = (await api(vault.addr, root, "GET", "sys/auth")).data as Record<
    string,
    { accessor: string }
  >;
  const accessor = mounts["userpass/"]?.accessor ?? "";
  await putPolicy(vault.addr, root, "claude-user", userPolicy(accessor));
  const alice = createTestUser(t);
  const bob = createTestUser(t);
  await api(vault.addr, root, "POST", `auth/userpass/users/${alice.name}`, {
    password: "a-pw",
    token_policies: ["claude-user"],
  });
  const login = await api(vault.addr, "", "POST", `auth/userpass/login/${alice.name}`, { password: "a-pw" });
  const aliceToken = (login.auth as { client_token: string }).client_token;
  const asAlice = (script: string, input?: string) =>
    execFileSync(
      "runuser",
      ["-u", alice.name, "--", "sh", "-c", script, "sh", alice.home],
      input ? { input } : {},
    );
  asAlice('umask 077; cat > "$1/.vault-token"', aliceToken);
  await api(vault.addr, root, "POST", `secret/data/workstation/claude-users/${bob.name}`, {
    data: { bob_secret: "b" },
  });
  const config = makeConfig(t, { VAULT_ADDR: vault.addr });
  asAlice('mkdir -p -m 700 "$1/.claude"');
  const fresh = credential("alice", Date.now() + 7 * HOUR);
  asAlice('umask 077; cat > "$1/.claude/.credentials.json"', JSON.stringify({ claudeAiOauth: fresh }));
  const run = await runBinary(["sync", "--config", config.path], {
    uid: alice.uid,
    gid: alice.gid,
    env: { HOME: alice.home, USER: alice.name },
  });
  t.equal(run.code, 0, "alice syncs with her own token", { stdout: run.stdout, stderr: run.stderr });
  t.same(JSON.parse(String((await readDoc(vault.addr, root, alice.name)).data?.claude_ai_oauth)), fresh);
  const peek = await vaultApi(
    vault.addr,
    aliceToken,
    "GET",
    `secret/data/workstation/claude-users/${bob.name}`,
  );
  t.equal(peek.status, 403, "alice cannot read bob's document");
  const overwrite = await vaultApi(
    vault.addr,
    aliceToken,
    "POST",
    `secret/data/workstation/claude-users/${bob.name}`,
    {
      data: { setup_token: setupToken("E") },
    },
  );
  t.equal(overwrite.status, 403, "nor write it");
});

t.test("--renew-token renews a renewable token whose TTL runs low; the login path does not", async (t) => {
  if (!requireRoot(t)) return;
  const ws = await workstation(t);
  const short = await api(ws.vault.addr, ws.vault.rootToken, "POST", "auth/token/create", {
    policies: ["claude-auth-sync-host"],
    ttl: "30s",
    renewable: true,
    no_parent: true,
  });
  const token = (short.auth as { client_token: string }).client_token;
  await ws.seed({ setup_token: setupToken("R") });
  ws.vault.clearRequests();
  const plain = await ws.sync([], { VAULT_TOKEN: token, CLAUDE_AUTH_SYNC_TOKEN_FILE: "" });
  t.equal(plain.code, 0);
  t.equal(ws.vault.countRequests({ pathPrefix: "auth/token/" }), 0, "no token traffic without the flag");
  const renewing = await ws.sync(["--renew-token"], { VAULT_TOKEN: token, CLAUDE_AUTH_SYNC_TOKEN_FILE: "" });
  t.equal(renewing.code, 0);
  t.equal(ws.vault.countRequests({ pathPrefix: "auth/token/renew-self" }), 1, "renewed once");
});

t.test("VAULT_NAMESPACE is sent on every request", async (t) => {
  if (!requireRoot(t)) return;
  const ws = await workstation(t, { VAULT_NAMESPACE: "team-a" });
  await ws.seed({ setup_token: setupToken("N") });
  ws.vault.clearRequests();
  t.equal((await ws.sync()).code, 0);
  t.ok(ws.vault.requests.length > 0 && ws.vault.requests.every((r) => r.namespace === "team-a"));
});

t.test("TLS: a private CA works with VAULT_CACERT and fails closed without it", async (t) => {
  if (!requireRoot(t)) return;
  const dir = mkdtempSync(join(tmpdir(), "cas-tls-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const ssl = (...args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: "pipe" });
  ssl(
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-keyout",
    "ca.key",
    "-out",
    "ca.pem",
    "-days",
    "2",
    "-subj",
    "/CN=test-ca",
  );
  ssl(
    "req",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-keyout",
    "vault.key",
    "-out",
    "vault.csr",
    "-subj",
    "/CN=127.0.0.1",
  );
  writeFileSync(join(dir, "ext.cnf"), "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
  ssl(
    "x509",
    "-req",
    "-in",
    "vault.csr",
    "-CA",
    "ca.pem",
    "-CAkey",
    "ca.key",
    "-CAcreateserial",
    "-out",
    "vault.pem",
    "-days",
    "2",
    "-extfile",
    "ext.cnf",
  );
  const vault = await startVaultStandIn({
    tls: { cert: readFileSync(join(dir, "vault.pem")), key: readFileSync(join(dir, "vault.key")) },
  });
  t.teardown(() => vault.close());
  t.match(vault.addr, /^https:/);
  const user = createTestUser(t);
  const withCa = makeConfig(
    t,
    { VAULT_ADDR: vault.addr, VAULT_CACERT: join(dir, "ca.pem") },
    vault.rootToken,
  );
  const ok = await runBinary(["sync", "--user", user.name, "--config", withCa.path]);
  t.equal(ok.code, 0, "verified against the private CA", { stdout: ok.stdout });
  const without = makeConfig(t, { VAULT_ADDR: vault.addr }, vault.rootToken);
  const refused = await runBinary(["sync", "--user", user.name, "--config", without.path], {
    env: { NODE_TLS_REJECT_UNAUTHORIZED: "0" },
  });
  t.equal(refused.code, 4, "without the CA: exit 4, even with NODE_TLS_REJECT_UNAUTHORIZED=0");
  t.match(refused.stdout, /TLS verification failed/);
  t.match(refused.stdout, /VAULT_CACERT/);
});
