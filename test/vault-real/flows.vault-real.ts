// The end-to-end flows through the built binary (dist/claude-auth), for real users, against a real Vault
// server configured as the runbook says: host and per-user policies without `patch`. What the server
// did is read from its audit log (raw), so "one write, check-and-set on the version read, never PATCH"
// is what Vault itself recorded. Same fixtures as the stand-in flows (test/sync, test/commands).
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t, { type Test } from "tap";
import { tokenWorkstation } from "../commands/setup-token-fixture.js";
import { makeConfig, runBinary } from "../helpers/cli.js";
import { createTestUser, requireRoot } from "../helpers/users.js";
import { documentPath, liveLoginTokens, readDoc, vaultApi } from "../helpers/vault-api.js";
import { credential, HOUR, STUB, setupToken, workstation } from "../sync/fixture.js";
import { type AuditEntry, describe, HOST_POLICY_NAME, type RealVault, startRealVault } from "./bootstrap.js";
import { counting } from "./report.js";

interface Finding {
  id: string;
  status: string;
  message: string;
}

const SIBLINGS = {
  vaultwarden_token: 'vw-secret-Ω-"quoted"\n with newline',
  vaultwarden_url: "https://vw.example/",
  vaultwarden_nested: { deep: [1, 2, { x: null }] },
};

const vault = await startRealVault();
t.teardown(() => vault.close());
t.comment(`real Vault server: ${describe(vault)}`);
const flows = counting(t, "flows", vault);

/** What the server recorded for one user's document since `mark`, the test's own root reads left out. */
function onDocument(vault: RealVault, mark: number, user: string): AuditEntry[] {
  return vault.auditSince(mark).filter((e) => e.path === documentPath(user) && !e.policies.includes("root"));
}

function writesOf(entries: AuditEntry[]): AuditEntry[] {
  return entries.filter((e) => e.operation === "create" || e.operation === "update");
}

function noPatchNoDelete(t: Test, vault: RealVault, mark: number) {
  const ops = vault.auditSince(mark).map((e) => e.operation);
  t.notOk(ops.includes("patch"), "the server saw no PATCH");
  t.notOk(ops.includes("delete"), "nor a delete");
}

flows.test("sync backs up with read-merge-write: sibling keys kept, one CAS write, no PATCH", async (t) => {
  if (!requireRoot(t)) return;
  const ws = await workstation(t, {}, { vault });
  await ws.seed(SIBLINGS);
  const fresh = credential("fresh", Date.now() + 7 * HOUR);
  ws.writeCredentials({ claudeAiOauth: fresh, mcpOAuth: { srv: { token: "m" } } });
  const mark = vault.auditMark();
  const run = await ws.sync();
  t.equal(run.code, 0, "exit 0", { stderr: run.stderr, stdout: run.stdout });
  const doc = await ws.doc();
  for (const [key, value] of Object.entries(SIBLINGS))
    t.equal(JSON.stringify(doc.data?.[key]), JSON.stringify(value), `${key} kept byte-for-byte`);
  t.same(JSON.parse(String(doc.data?.claude_ai_oauth)), fresh, "the backup holds the local credential");
  t.ok(doc.data?.claude_ai_oauth_backed_up_at, "backed-up-at recorded");
  t.ok(doc.data?.claude_ai_oauth_host, "host recorded");
  t.equal(doc.version, 2, "exactly one new version");
  const seen = onDocument(vault, mark, ws.user.name);
  const writes = writesOf(seen);
  t.equal(writes.length, 1, "one write", { seen });
  t.equal(writes[0]?.operation, "update", "an update of the existing document");
  t.same((writes[0]?.data as { options?: unknown } | null)?.options, { cas: 1 }, "cas = the version read");
  t.same(writes[0]?.policies, [HOST_POLICY_NAME, "default"], "with the host policy, which has no patch");
  t.equal(writes[0]?.error, "");
  noPatchNoDelete(t, vault, mark);

  const steadyMark = vault.auditMark();
  t.equal((await ws.sync()).code, 0);
  const steady = onDocument(vault, steadyMark, ws.user.name);
  t.same(
    steady.map((e) => e.operation),
    ["read"],
    "steady state: one read, no write",
  );
});

flows.test("a first backup creates the document with cas 0", async (t) => {
  if (!requireRoot(t)) return;
  const ws = await workstation(t, {}, { vault });
  const fresh = credential("first", Date.now() + 7 * HOUR);
  ws.writeCredentials({ claudeAiOauth: fresh });
  const mark = vault.auditMark();
  const run = await ws.sync();
  t.equal(run.code, 0, "exit 0", { stderr: run.stderr, stdout: run.stdout });
  const doc = await ws.doc();
  t.equal(doc.version, 1);
  t.same(JSON.parse(String(doc.data?.claude_ai_oauth)), fresh);
  const writes = writesOf(onDocument(vault, mark, ws.user.name));
  t.same(
    writes.map((w) => [w.operation, (w.data as { options?: unknown } | null)?.options]),
    [["create", { cas: 0 }]],
    "one create, cas 0",
  );
});

flows.test(
  "setup-token on and off (enable/disable --no-verify as root): siblings survive both",
  async (t) => {
    if (!requireRoot(t)) return;
    const ws = await tokenWorkstation(t, {}, { vault });
    await ws.seed(SIBLINGS);
    const token = setupToken("E");
    const mark = vault.auditMark();
    const on = await ws.asRoot("enable", ["--no-verify"], `${token}\n`);
    t.equal(on.code, 0, "enable: exit 0", { stdout: on.stdout, stderr: on.stderr });
    let doc = await ws.doc();
    t.equal(doc.data?.setup_token, token, "setup_token stored");
    t.ok(doc.data?.setup_token_updated_at, "with its timestamp");
    for (const [key, value] of Object.entries(SIBLINGS)) t.same(doc.data?.[key], value, `${key} kept`);
    t.equal(readFileSync(ws.envFile, "utf8"), `CLAUDE_CODE_OAUTH_TOKEN=${token}\n`, "env file written");
    t.equal(statSync(ws.envFile).mode & 0o777, 0o600);
    t.equal(statSync(ws.envFile).uid, ws.user.uid);
    const enableWrites = writesOf(onDocument(vault, mark, ws.user.name));
    t.same(
      enableWrites.map((w) => (w.data as { options?: unknown } | null)?.options),
      [{ cas: 1 }],
      "one CAS write",
    );

    t.equal((await ws.sync()).code, 0, "a sync in setup-token mode");
    t.equal(readFileSync(ws.envFile, "utf8"), `CLAUDE_CODE_OAUTH_TOKEN=${token}\n`, "env file unchanged");

    const offMark = vault.auditMark();
    const off = await ws.asRoot("disable");
    t.equal(off.code, 0, "disable: exit 0", { stdout: off.stdout, stderr: off.stderr });
    doc = await ws.doc();
    t.same(doc.data, SIBLINGS, "setup_token and its timestamp gone, every other key kept");
    t.notOk(existsSync(ws.envFile), "env file removed");
    t.match(off.stdout, /back on the rotating per-user SSO flow/);
    t.same(
      writesOf(onDocument(vault, offMark, ws.user.name)).map(
        (w) => (w.data as { options?: unknown })?.options,
      ),
      [{ cas: 2 }],
      "one CAS write on the version read",
    );
    noPatchNoDelete(t, vault, mark);
    t.notOk((on.stdout + on.stderr + off.stdout + off.stderr).includes(token), "the token is never printed");
  },
);

flows.test(
  "enable, rotate, disable with the user's own identity (userpass login, ~/.vault-token)",
  async (t) => {
    if (!requireRoot(t)) return;
    const ws = await tokenWorkstation(t, {}, { vault });
    await ws.giveOwnIdentity();
    await ws.seed(SIBLINGS);
    const mark = vault.auditMark();
    const first = setupToken("U");
    const on = await ws.asUser("enable", ["--no-verify"], first);
    t.equal(on.code, 0, "enable as the user: exit 0", { stdout: on.stdout, stderr: on.stderr });
    t.equal((await ws.doc()).data?.setup_token, first);
    t.equal(readFileSync(ws.envFile, "utf8"), `CLAUDE_CODE_OAUTH_TOKEN=${first}\n`);

    const next = setupToken("R");
    const rotated = await ws.asUser("rotate", ["--no-verify"], next);
    t.equal(rotated.code, 0, "rotate as the user: exit 0", {
      stdout: rotated.stdout,
      stderr: rotated.stderr,
    });
    t.equal((await ws.doc()).data?.setup_token, next, "the new token stored");
    t.equal(readFileSync(ws.envFile, "utf8"), `CLAUDE_CODE_OAUTH_TOKEN=${next}\n`, "env file follows");

    const off = await ws.asUser("disable");
    t.equal(off.code, 0, "disable as the user: exit 0", { stdout: off.stdout, stderr: off.stderr });
    const doc = await ws.doc();
    t.same(doc.data, SIBLINGS, "every other key kept");
    t.equal(doc.version, 4, "three writes: enable, rotate, disable");
    t.notOk(existsSync(ws.envFile));

    const writes = writesOf(onDocument(vault, mark, ws.user.name));
    t.same(
      writes.map((w) => (w.data as { options?: unknown })?.options),
      [{ cas: 1 }, { cas: 2 }, { cas: 3 }],
      "each a CAS write on the version read",
    );
    for (const w of writes) {
      t.equal(w.displayName, `userpass-${ws.user.name}`, "made with the user's own token");
      t.same(w.metadata, { username: ws.user.name });
      t.same(w.policies, ["claude-user", "default"], "under the templated policy, which has no patch");
    }
    noPatchNoDelete(t, vault, mark);
  },
);

flows.test("restore: a logged-out stub is replaced by a usable backup, nothing written", async (t) => {
  if (!requireRoot(t)) return;
  const ws = await workstation(t, {}, { vault });
  const backup = credential("b", Date.now() + 5 * HOUR);
  await ws.seed({ claude_ai_oauth: JSON.stringify(backup), ...SIBLINGS });
  ws.writeCredentials({ claudeAiOauth: STUB, mcpOAuth: { srv: { token: "keep-me" } } });
  const mark = vault.auditMark();
  const run = await ws.sync();
  t.equal(run.code, 0, "exit 0", { stderr: run.stderr, stdout: run.stdout });
  const restored = JSON.parse(readFileSync(ws.credentialsFile, "utf8"));
  t.same(restored.claudeAiOauth, backup, "the backup's credential");
  t.same(restored.mcpOAuth, { srv: { token: "keep-me" } }, "mcpOAuth kept");
  t.equal(statSync(ws.credentialsFile).mode & 0o777, 0o600);
  t.equal(statSync(ws.credentialsFile).uid, ws.user.uid);
  t.equal((await ws.doc()).version, 1, "a restore writes nothing to Vault");
  t.same(
    onDocument(vault, mark, ws.user.name).map((e) => e.operation),
    ["read", "read"],
    "the server saw reads only (the stand-in sees the same two GETs)",
  );
});

flows.test("another user's document is denied (403): by the API and through the binary", async (t) => {
  if (!requireRoot(t)) return;
  const ws = await tokenWorkstation(t, {}, { vault });
  const own = await ws.giveOwnIdentity();
  const bob = createTestUser(t);
  await vaultApi(vault.addr, vault.rootToken, "POST", documentPath(bob.name), {
    data: { bob_secret: "b" },
  });
  const peek = await vaultApi(vault.addr, own, "GET", documentPath(bob.name));
  t.equal(peek.status, 403, "reading bob's document");
  t.match(JSON.stringify(peek.body), /permission denied/);
  const overwrite = await vaultApi(vault.addr, own, "POST", documentPath(bob.name), {
    data: { setup_token: setupToken("X") },
    options: { cas: 1 },
  });
  t.equal(overwrite.status, 403, "writing it");
  const caps = await vaultApi(vault.addr, own, "POST", "sys/capabilities-self", {
    paths: [documentPath(bob.name), documentPath(ws.user.name)],
  });
  t.same((caps.body?.data as Record<string, unknown>)?.[documentPath(bob.name)], ["deny"]);
  t.same((caps.body?.data as Record<string, unknown>)?.[documentPath(ws.user.name)], [
    "create",
    "read",
    "update",
  ]);

  const run = await ws.asUser("sync", [], undefined);
  t.equal(run.code, 0, "their own document is fine", { stdout: run.stdout, stderr: run.stderr });
  // The binary insists on {user} in the path; a document that is not the user's own is denied all the same.
  const pointed = await runBinary(["sync", "--config", ws.config], {
    uid: ws.user.uid,
    gid: ws.user.gid,
    env: {
      HOME: ws.user.home,
      USER: ws.user.name,
      CLAUDE_AUTH_SYNC_PATH: "workstation/claude-users/{user}-not-mine",
    },
  });
  t.equal(pointed.code, 5, "pointed at a document not their own: exit 5, permission denied", {
    stdout: pointed.stdout,
    stderr: pointed.stderr,
  });
  t.match(pointed.stdout + pointed.stderr, /denied/i);
  t.same((await readDoc(vault.addr, vault.rootToken, bob.name)).data, { bob_secret: "b" }, "bob's untouched");
  const enable = await ws.asUser("enable", ["--no-verify"], setupToken("Y"));
  t.equal(enable.code, 0, "enable on their own document still works");
});

flows.test("an AppRole host identity syncs; a wrong secret-id is permission denied", async (t) => {
  if (!requireRoot(t)) return;
  const role = `workstation-${Math.random().toString(16).slice(2, 8)}`;
  const root = vault.rootToken;
  const api = async (method: string, path: string, body?: unknown) => {
    const answer = await vaultApi(vault.addr, root, method, path, body);
    if (answer.status >= 300) throw new Error(`${method} ${path}: ${answer.status}`);
    return (answer.body?.data ?? {}) as Record<string, string>;
  };
  await api("POST", `auth/approle/role/${role}`, { token_policies: [HOST_POLICY_NAME], token_ttl: "10m" });
  const roleId = (await api("GET", `auth/approle/role/${role}/role-id`)).role_id ?? "";
  const secretId = (await api("POST", `auth/approle/role/${role}/secret-id`, {})).secret_id ?? "";
  const scratch = mkdtempSync(join(tmpdir(), "cas-approle-"));
  t.teardown(() => rmSync(scratch, { recursive: true, force: true }));
  const secretFile = join(scratch, "secret-id");
  writeFileSync(secretFile, `${secretId}\n`, { mode: 0o600 });
  const user = createTestUser(t);
  await vaultApi(vault.addr, root, "POST", documentPath(user.name), {
    data: { setup_token: setupToken("A"), ...SIBLINGS },
  });
  const config = makeConfig(t, {
    VAULT_ADDR: vault.addr,
    CLAUDE_AUTH_SYNC_AUTH: "approle",
    CLAUDE_AUTH_SYNC_APPROLE_ROLE_ID: roleId,
    CLAUDE_AUTH_SYNC_APPROLE_SECRET_ID_FILE: secretFile,
  });
  const mark = vault.auditMark();
  const run = await runBinary(["sync", "--user", user.name, "--config", config.path]);
  t.equal(run.code, 0, "exit 0", { stdout: run.stdout, stderr: run.stderr });
  t.equal(
    readFileSync(join(user.home, ".config/claude-auth-sync/claude-oauth.env"), "utf8"),
    `CLAUDE_CODE_OAUTH_TOKEN=${setupToken("A")}\n`,
  );
  t.ok(
    vault.auditSince(mark).some((e) => e.path === "auth/approle/login" && e.error === ""),
    "logged in at auth/approle/login",
  );
  writeFileSync(secretFile, "00000000-0000-0000-0000-000000000000\n");
  const cached = await runBinary(["sync", "--user", user.name, "--config", config.path]);
  t.equal(cached.code, 0, "while the cached host token lives, the secret id is not needed", {
    stdout: cached.stdout,
  });
  rmSync(join(config.dir, "host-login-token"));
  const denied = await runBinary(["sync", "--user", user.name, "--config", config.path]);
  t.equal(denied.code, 5, "a login with a wrong secret-id: exit 5", { stdout: denied.stdout });
  t.notMatch(run.stdout + run.stderr + denied.stdout + denied.stderr, secretId, "no secret printed");
});

flows.test(
  "50 AppRole root runs leave at most 2 live login tokens; a revoked one is replaced in the run",
  async (t) => {
    if (!requireRoot(t)) return;
    const role = `reuse-${Math.random().toString(16).slice(2, 8)}`;
    const root = vault.rootToken;
    const api = async (method: string, path: string, body?: unknown) => {
      const answer = await vaultApi(vault.addr, root, method, path, body);
      if (answer.status >= 300) throw new Error(`${method} ${path}: ${answer.status}`);
      return (answer.body?.data ?? {}) as Record<string, string>;
    };
    // The runbook's role settings.
    await api("POST", `auth/approle/role/${role}`, {
      token_policies: [HOST_POLICY_NAME],
      token_ttl: "1h",
      token_max_ttl: "4h",
      token_num_uses: 0,
      secret_id_num_uses: 0,
    });
    const roleId = (await api("GET", `auth/approle/role/${role}/role-id`)).role_id ?? "";
    const secretId = (await api("POST", `auth/approle/role/${role}/secret-id`, {})).secret_id ?? "";
    const scratch = mkdtempSync(join(tmpdir(), "cas-approle-reuse-"));
    t.teardown(() => rmSync(scratch, { recursive: true, force: true }));
    const secretFile = join(scratch, "secret-id");
    writeFileSync(secretFile, `${secretId}\n`, { mode: 0o600 });
    const user = createTestUser(t);
    await vaultApi(vault.addr, root, "POST", documentPath(user.name), {
      data: { setup_token: setupToken("R"), ...SIBLINGS },
    });
    const config = makeConfig(t, {
      VAULT_ADDR: vault.addr,
      CLAUDE_AUTH_SYNC_AUTH: "approle",
      CLAUDE_AUTH_SYNC_APPROLE_ROLE_ID: roleId,
      CLAUDE_AUTH_SYNC_APPROLE_SECRET_ID_FILE: secretFile,
    });
    const live = () => liveLoginTokens(vault.addr, root, "auth/approle/login", role);
    const logins = (mark: number) =>
      vault.auditSince(mark).filter((e) => e.path === "auth/approle/login" && e.metadata.role_name === role)
        .length;
    const mark = vault.auditMark();
    const runs = 50;
    for (let i = 0; i < runs; i++) {
      const run =
        i % 2 === 0
          ? await runBinary(["sync", "--user", user.name, "--config", config.path])
          : await runBinary(["pam", "--config", config.path], {
              env: { PAM_USER: user.name, PAM_TYPE: "open_session" },
            });
      if (run.code !== 0) t.fail(`run ${i} exit ${run.code}`, { stdout: run.stdout, stderr: run.stderr });
    }
    const alive = await live();
    t.ok(alive.length <= 2, `${runs} runs (timer and PAM) leave ${alive.length} live login token(s) (≤ 2)`);
    t.equal(logins(mark), 1, "one AppRole login recorded by the server for all of them");

    const [accessor] = alive;
    await api("POST", "auth/token/revoke-accessor", { accessor });
    const revokedMark = vault.auditMark();
    const again = await runBinary(["pam", "--config", config.path], {
      env: { PAM_USER: user.name, PAM_TYPE: "open_session" },
    });
    t.equal(again.code, 0, "the run behind a revoked cached token succeeds", { stderr: again.stderr });
    // A request refused for its token is audited as a request only: the answers show the login, then the read.
    const answered = vault
      .auditSince(revokedMark)
      .filter(
        (e) => e.error === "" && (e.path === documentPath(user.name) || e.path === "auth/approle/login"),
      )
      .map((e) => e.path);
    t.same(
      answered,
      ["auth/approle/login", documentPath(user.name)],
      "one login after the refusal, then the document read, in the same run",
    );
    t.equal((await live()).length, 1, "one live login token");
  },
);

flows.test(
  "doctor reads the capabilities from the real server: create, read, update; no patch",
  async (t) => {
    if (!requireRoot(t)) return;
    const ws = await workstation(t, {}, { vault });
    await ws.seed({ setup_token: setupToken("D"), setup_token_updated_at: new Date().toISOString() });
    t.equal((await ws.sync()).code, 0, "sync");
    const run = await runBinary(["doctor", "--json", "--user", ws.user.name, "--config", ws.config]);
    const findings = (JSON.parse(run.stdout || "{}") as { findings?: Finding[] }).findings ?? [];
    const byId = (id: string) => findings.find((f) => f.id === id);
    for (const id of ["vault-health", "vault-auth", "vault-capabilities", "vault-document"])
      t.equal(byId(id)?.status, "ok", `${id}: ok`, { finding: byId(id) });
    t.match(byId("vault-capabilities")?.message, /may create, read and update .* \(patch is not needed\)/);
  },
);
