import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t, { type Test } from "tap";
import { vaultContract } from "./contract.js";
import { field, type VaultCall, vaultCall } from "./http.js";
import { type StandInOptions, startVaultStandIn, type VaultStandIn } from "./standin.js";

t.test("Vault contract against the stand-in", async (t) => {
  // Each server gets its own clock, which the contract moves forward instead of sleeping.
  vaultContract(t, async () => {
    let offsetMs = 0;
    const vault = await startVaultStandIn({ clock: () => Date.now() + offsetMs });
    return {
      addr: vault.addr,
      rootToken: vault.rootToken,
      close: () => vault.close(),
      advance: async (seconds) => {
        offsetMs += seconds * 1000;
      },
    };
  });
});

async function started(t: Test, options: StandInOptions = {}): Promise<VaultStandIn> {
  const vault = await startVaultStandIn(options);
  t.teardown(() => vault.close());
  return vault;
}

function as(vault: VaultStandIn, token: string = vault.rootToken) {
  return (method: string, path: string, body?: unknown, extra: Partial<VaultCall> = {}) =>
    vaultCall(vault.addr, { method, path, token, body, timeoutMs: 5000, ...extra });
}

async function tokenWith(
  vault: VaultStandIn,
  policy: string,
  body: Record<string, unknown> = {},
): Promise<string> {
  const root = as(vault);
  await root("PUT", "sys/policies/acl/p", { policy });
  const created = await root("POST", "auth/token/create", { policies: ["p"], ...body });
  return String(field(created.json, "auth", "client_token"));
}

t.test("request log", async (t) => {
  t.test(
    "a steady-state read is one GET and no POST, logged with the token's accessor, never the token",
    async (t) => {
      const vault = await started(t);
      await as(vault)("POST", "secret/data/users/alice", { data: { setup_token: "sk-ant-oat01-x" } });
      const token = await tokenWith(vault, `path "secret/data/users/*" { capabilities = ["read"] }`);
      vault.clearRequests();
      const read = await as(vault, token)("GET", "secret/data/users/alice?version=1", undefined, {
        headers: { "X-Vault-Namespace": "team-a" },
      });
      t.equal(read.status, 200);
      t.equal(vault.countRequests({ method: "GET", pathPrefix: "/v1/secret/data/" }), 1);
      t.equal(vault.countRequests({ method: "POST" }), 0);
      t.equal(vault.requests.length, 1);
      const entry = vault.requests[0];
      t.match(entry, {
        seq: Number,
        method: "GET",
        path: "/v1/secret/data/users/alice",
        logicalPath: "secret/data/users/alice",
        query: { version: "1" },
        operation: "read",
        status: 200,
        namespace: "team-a",
        policies: ["default", "p"],
        fault: null,
      });
      t.equal(entry?.tokenAccessor, vault.accessorOf(token));
      t.type(entry?.durationMs, "number");
      t.notMatch(JSON.stringify(vault.requests), token, "the token itself is never logged");
    },
  );

  t.test("writes are logged with their body and the create/update decision", async (t) => {
    const vault = await started(t);
    const root = as(vault);
    await root("POST", "secret/data/doc", { data: { a: 1 } });
    await root("POST", "secret/data/doc", { data: { a: 2 }, options: { cas: 1 } });
    await root("LIST", "secret/metadata/");
    t.same(
      vault.requests.map((r) => [r.method, r.operation, r.status]),
      [
        ["POST", "create", 200],
        ["POST", "update", 200],
        ["LIST", "list", 200],
      ],
    );
    t.same(vault.requests[1]?.body, { data: { a: 2 }, options: { cas: 1 } });
    t.equal(vault.requests[2]?.logicalPath, "secret/metadata/", "LIST gets its trailing slash, as in Vault");
    vault.clearRequests();
    t.equal(vault.requests.length, 0);
  });
});

t.test("faults", async (t) => {
  t.test("hang: no answer until the client gives up; the next request is answered", async (t) => {
    const vault = await started(t);
    const handle = vault.inject({ kind: "hang", pathPrefix: "secret/", times: 1 });
    await t.rejects(as(vault)("GET", "secret/data/x", undefined, { timeoutMs: 200 }), /timed out/);
    t.equal(handle.hits, 1);
    t.equal((await as(vault)("GET", "secret/data/x")).status, 404);
    t.match(vault.requests[0], { fault: "hang", status: null });
  });

  t.test("reset before any byte: the client sees a connection error and nothing is written", async (t) => {
    const vault = await started(t);
    vault.inject({ kind: "reset", method: "POST", times: 1 });
    await t.rejects(as(vault)("POST", "secret/data/doc", { data: { a: 1 } }), { code: /ECONNRESET|EPIPE/ });
    t.equal(vault.rawDocument("secret", "doc"), undefined);
  });

  t.test("reset with commit: the write lands although its answer is lost", async (t) => {
    const vault = await started(t);
    vault.inject({ kind: "reset", method: "POST", times: 1, commit: true });
    await t.rejects(as(vault)("POST", "secret/data/doc", { data: { a: 1 } }));
    t.equal(vault.rawDocument("secret", "doc")?.currentVersion, 1);
    const retry = await as(vault)("POST", "secret/data/doc", { data: { a: 1 }, options: { cas: 0 } });
    t.equal(retry.status, 400, "a blind retry with the old cas now conflicts");
  });

  t.test("reset mid-response: headers and half the body arrive, then the connection drops", async (t) => {
    const vault = await started(t);
    await as(vault)("POST", "secret/data/doc", { data: { a: "x".repeat(200) } });
    vault.inject({ kind: "reset", after: "partial-body", method: "GET", times: 1 });
    await t.rejects(as(vault)("GET", "secret/data/doc"), /aborted|ECONNRESET|socket hang up/);
    vault.inject({ kind: "reset", after: "headers", method: "GET", times: 1 });
    await t.rejects(as(vault)("GET", "secret/data/doc"), /aborted|ECONNRESET|socket hang up/);
    t.equal((await as(vault)("GET", "secret/data/doc")).status, 200);
  });

  t.test("status: 5xx, 429 with Retry-After, 403 and 404 with a custom body", async (t) => {
    const vault = await started(t);
    const get = () => as(vault)("GET", "secret/data/doc");
    vault.inject({ kind: "status", status: 503, times: 1 });
    t.equal((await get()).status, 503);
    vault.inject({ kind: "status", status: 429, retryAfter: 7, times: 1 });
    const limited = await get();
    t.equal(limited.status, 429);
    t.equal(limited.headers["retry-after"], "7");
    vault.inject({ kind: "status", status: 403, body: { errors: ["permission denied"] }, times: 1 });
    t.same((await get()).json, { errors: ["permission denied"] });
    vault.inject({ kind: "status", status: 404, body: "not json at all", times: 1 });
    const custom = await get();
    t.equal(custom.status, 404);
    t.equal(custom.text, "not json at all");
    t.equal((await get()).status, 404, "faults used up: the real answer");
    t.same((await get()).json, { errors: [] });
  });

  t.test("garbage and truncated bodies", async (t) => {
    const vault = await started(t);
    await as(vault)("POST", "secret/data/doc", { data: { a: 1 } });
    vault.inject({ kind: "garbage", times: 1 });
    const garbage = await as(vault)("GET", "secret/data/doc");
    t.equal(garbage.status, 200);
    t.equal(garbage.json, undefined);
    t.throws(() => JSON.parse(garbage.text));
    vault.inject({ kind: "truncated", times: 1 });
    const truncated = await as(vault)("GET", "secret/data/doc");
    t.equal(truncated.status, 200);
    t.equal(
      Number(truncated.headers["content-length"]),
      Buffer.byteLength(truncated.text),
      "a complete HTTP message",
    );
    t.ok(truncated.text.startsWith('{"request_id"'));
    t.throws(() => JSON.parse(truncated.text));
  });

  t.test("delay: the answer is normal, only late", async (t) => {
    const vault = await started(t);
    vault.inject({ kind: "delay", ms: 150, times: 1 });
    const before = Date.now();
    const reply = await as(vault)("GET", "sys/health", undefined, { token: "" });
    t.ok(Date.now() - before >= 140, "answered after the delay");
    t.equal(reply.status, 200);
    t.ok((vault.requests[0]?.durationMs ?? 0) >= 140);
  });

  t.test("faults match by method and path prefix, for N requests or until cleared", async (t) => {
    const vault = await started(t);
    const root = as(vault);
    const limited = vault.inject({
      kind: "status",
      status: 500,
      method: "POST",
      pathPrefix: "/v1/secret/data/",
      times: 2,
    });
    t.equal((await root("GET", "secret/data/doc")).status, 404, "GET is not matched");
    t.equal(
      (await root("POST", "secret/metadata/doc", { max_versions: 3 })).status,
      204,
      "another prefix is not matched",
    );
    t.equal((await root("POST", "secret/data/doc", { data: {} })).status, 500);
    t.equal((await root("POST", "secret/data/doc", { data: {} })).status, 500);
    t.equal((await root("POST", "secret/data/doc", { data: {} })).status, 200);
    t.equal(limited.hits, 2);
    t.equal(limited.remaining, 0);
    const forever = vault.inject({ kind: "status", status: 502 });
    for (let i = 0; i < 3; i++) t.equal((await root("GET", "sys/mounts")).status, 502);
    forever.clear();
    t.equal((await root("GET", "sys/mounts")).status, 200);
    vault.inject({ kind: "status", status: 502 });
    vault.clearFaults();
    t.equal((await root("GET", "sys/mounts")).status, 200);
  });
});

t.test("seal", async (t) => {
  t.test(
    "a sealed stand-in answers 503 Vault is sealed, except sys/health and sys/seal-status",
    async (t) => {
      const vault = await started(t);
      vault.seal();
      t.equal(vault.sealed, true);
      const read = await as(vault)("GET", "secret/data/doc");
      t.equal(read.status, 503);
      t.same(read.json, { errors: ["Vault is sealed"] });
      const health = await as(vault)("GET", "sys/health", undefined, { token: "" });
      t.equal(health.status, 503);
      t.match(health.json, { sealed: true, initialized: true });
      const status = await as(vault)("GET", "sys/seal-status");
      t.equal(status.status, 200);
      t.match(status.json, { sealed: true });
      vault.unseal();
      t.equal((await as(vault)("GET", "secret/data/doc")).status, 404);
    },
  );

  t.test("sys/seal needs sudo; sys/unseal takes the unseal key", async (t) => {
    const vault = await started(t);
    const plain = await tokenWith(vault, `path "sys/seal" { capabilities = ["update"] }`);
    t.equal((await as(vault, plain)("PUT", "sys/seal")).status, 403);
    t.equal((await as(vault)("PUT", "sys/seal")).status, 204);
    t.equal(vault.sealed, true);
    t.equal((await as(vault)("PUT", "sys/unseal", { key: "d3Jvbmc=" })).status, 400);
    const unsealed = await as(vault)("PUT", "sys/unseal", { key: vault.unsealKey });
    t.match(unsealed.json, { sealed: false });
    t.equal(vault.sealed, false);
  });
});

t.test("the injected clock drives token expiry and timestamps", async (t) => {
  let now = Date.parse("2030-01-01T00:00:00Z");
  const vault = await started(t, { clock: () => now });
  const write = await as(vault)("POST", "secret/data/doc", { data: { a: 1 } });
  t.match(String(field(write.json, "data", "created_time")), /^2030-01-01T00:00:00(\.\d+)?Z$/);
  const token = await tokenWith(vault, `path "secret/data/*" { capabilities = ["read"] }`, {
    ttl: "60s",
    explicit_max_ttl: "90s",
  });
  now += 30_000;
  t.equal(field((await as(vault, token)("GET", "auth/token/lookup-self")).json, "data", "ttl"), 30);
  const renewed = await as(vault, token)("POST", "auth/token/renew-self", { increment: "1h" });
  t.equal(field(renewed.json, "auth", "lease_duration"), 60, "capped by explicit_max_ttl");
  now += 61_000;
  const expired = await as(vault, token)("GET", "secret/data/doc");
  t.equal(expired.status, 403);
  t.match(String(field(expired.json, "errors", 0)), /invalid token/);
});

t.test(
  "a periodic login token lives past the system max TTL while renewed, and dies 72h after the last renewal",
  async (t) => {
    let now = Date.parse("2030-01-01T00:00:00Z");
    const vault = await started(t, { clock: () => now });
    const root = as(vault);
    await root("POST", "sys/auth/userpass", { type: "userpass" });
    await root("PUT", "sys/policies/acl/mint", {
      policy: `path "auth/token/create/*" { capabilities = ["update"] }`,
    });
    await root("POST", "auth/userpass/users/alice", {
      password: "pw",
      token_policies: ["mint"],
      token_period: "72h",
    });
    await root("POST", "auth/token/roles/kid", { allowed_policies: ["mint"], orphan: false });
    const login = await as(vault, "")("POST", "auth/userpass/login/alice", { password: "pw" });
    const token = String(field(login.json, "auth", "client_token"));
    const mint = async () =>
      String(
        field((await as(vault, token)("POST", "auth/token/create/kid", {})).json, "auth", "client_token"),
      );
    const early = await mint();
    let child = early;
    for (let day = 2; day <= 40; day += 2) {
      now += 48 * 3600_000;
      const renewed = await as(vault, token)("POST", "auth/token/renew-self", { increment: "1h" });
      t.equal(renewed.status, 200, `day ${day}`);
      t.equal(field(renewed.json, "auth", "lease_duration"), 259200);
      if (day === 38) child = await mint();
    }
    t.equal(
      (await as(vault, early)("GET", "auth/token/lookup-self")).status,
      403,
      "a child's own TTL (the system's 768h) still ends it",
    );
    const self = field((await as(vault, token)("GET", "auth/token/lookup-self")).json, "data");
    t.match(self, { period: 259200, ttl: 259200, explicit_max_ttl: 0, last_renewal: "2030-02-10T00:00:00Z" });
    t.equal(field(self, "expire_time"), "2030-02-13T00:00:00Z");
    t.equal(
      (await as(vault, child)("GET", "auth/token/lookup-self")).status,
      200,
      "a child minted on day 38",
    );
    now += 72 * 3600_000 - 1000;
    t.equal((await as(vault, token)("GET", "auth/token/lookup-self")).status, 200, "a second before the end");
    now += 1000;
    t.equal(
      (await as(vault, token)("POST", "auth/token/renew-self")).status,
      403,
      "72h after the last renewal",
    );
    t.equal((await as(vault, child)("GET", "auth/token/lookup-self")).status, 403, "its child went with it");
  },
);

t.test("a token with num_uses stops working after its last use", async (t) => {
  const vault = await started(t);
  const token = await tokenWith(vault, `path "secret/data/*" { capabilities = ["read"] }`, { num_uses: 2 });
  t.equal((await as(vault, token)("GET", "secret/data/doc")).status, 404);
  t.equal((await as(vault, token)("GET", "secret/data/doc")).status, 404);
  t.equal((await as(vault, token)("GET", "secret/data/doc")).status, 403);
});

t.test("HTTPS with a private CA", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "vault-standin-tls-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const ssl = (...args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: "pipe" });
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  ssl(
    "req",
    "-x509",
    ...ec,
    "-keyout",
    "ca.key",
    "-out",
    "ca.crt",
    "-days",
    "1",
    "-subj",
    "/CN=stand-in test CA",
  );
  ssl("req", ...ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1");
  writeFileSync(
    join(dir, "ext.cnf"),
    "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n",
  );
  ssl(
    "x509",
    "-req",
    "-in",
    "server.csr",
    "-CA",
    "ca.crt",
    "-CAkey",
    "ca.key",
    "-CAcreateserial",
    "-out",
    "server.crt",
    "-days",
    "1",
    "-extfile",
    "ext.cnf",
  );
  const ca = readFileSync(join(dir, "ca.crt"));
  const vault = await started(t, {
    tls: { cert: readFileSync(join(dir, "server.crt")), key: readFileSync(join(dir, "server.key")) },
  });
  t.match(vault.addr, /^https:\/\/127\.0\.0\.1:\d+$/);
  const health = await vaultCall(vault.addr, { path: "sys/health", ca });
  t.equal(health.status, 200);
  const list = await vaultCall(vault.addr, {
    method: "LIST",
    path: "sys/policies/acl",
    token: vault.rootToken,
    ca,
  });
  t.same(field(list.json, "data", "keys"), ["default", "root"], "LIST works over TLS too");
  await t.rejects(vaultCall(vault.addr, { path: "sys/health" }), /self.signed|unable to verify|certificate/i);
});

t.test("LDAP login binds against the back-door directory and gets user and group policies", async (t) => {
  const vault = await started(t);
  const root = as(vault);
  t.equal((await root("POST", "sys/auth/ldap", { type: "ldap" })).status, 204);
  const accessor = String(field((await root("GET", "sys/auth")).json, "data", "ldap/", "accessor"));
  t.match(accessor, /^auth_ldap_[0-9a-f]{8}$/);
  await root("PUT", "sys/policies/acl/self", {
    policy: `path "secret/data/users/{{identity.entity.aliases.${accessor}.name}}" { capabilities = ["create", "read", "update"] }`,
  });
  await root("PUT", "sys/policies/acl/staff", {
    policy: `path "secret/data/shared" { capabilities = ["read"] }`,
  });
  await root("POST", "auth/ldap/users/carol", { policies: "self" });
  await root("POST", "auth/ldap/groups/staff", { policies: ["staff"] });
  vault.setLdapPassword("ldap", "carol", "carol-pw", ["staff"]);
  const wrong = await root("POST", "auth/ldap/login/carol", { password: "nope" }, { token: "" });
  t.equal(wrong.status, 400);
  t.match(String(field(wrong.json, "errors", 0)), /ldap operation failed/);
  const login = await as(vault, "")("POST", "auth/ldap/login/carol", { password: "carol-pw" });
  t.equal(login.status, 200);
  t.same(field(login.json, "auth", "policies"), ["default", "self", "staff"]);
  const token = String(field(login.json, "auth", "client_token"));
  t.equal((await as(vault, token)("POST", "secret/data/users/carol", { data: { a: 1 } })).status, 200);
  t.equal((await as(vault, token)("POST", "secret/data/users/dave", { data: { a: 1 } })).status, 403);
  t.throws(() => vault.setLdapPassword("secret", "x", "y"), /no ldap auth mount/);
});

t.test(
  "LDAP tokens take their settings from auth/ldap/config: token_period there makes every login periodic",
  async (t) => {
    const vault = await started(t);
    const root = as(vault);
    await root("POST", "sys/auth/ldap", { type: "ldap" });
    await root("PUT", "sys/policies/acl/self", {
      policy: `path "secret/data/x" { capabilities = ["read"] }`,
    });
    await root("POST", "auth/ldap/config", {
      url: "ldap://127.0.0.1:1",
      token_policies: ["self"],
      token_period: "72h",
    });
    // Ignored, as by Vault: users and groups have no token settings, the config no deprecated `period`.
    await root("POST", "auth/ldap/users/carol", { token_period: "1h", token_ttl: "5m" });
    await root("POST", "auth/ldap/config", { period: "1h" });
    vault.setLdapPassword("ldap", "carol", "carol-pw");
    const login = await as(vault, "")("POST", "auth/ldap/login/carol", { password: "carol-pw" });
    t.match(field(login.json, "auth"), {
      lease_duration: 259200,
      policies: ["default", "self"],
      renewable: true,
    });
    const token = String(field(login.json, "auth", "client_token"));
    t.match(field((await as(vault, token)("GET", "auth/token/lookup-self")).json, "data"), {
      period: 259200,
      path: "auth/ldap/login/carol",
    });
  },
);

t.test("rawDocument shows every version, including soft-deleted data and destroyed versions", async (t) => {
  const vault = await started(t);
  const root = as(vault);
  await root("POST", "secret/data/doc", { data: { v: 1 } });
  await root("POST", "secret/data/doc", { data: { v: 2 } });
  await root("DELETE", "secret/data/doc");
  await root("POST", "secret/destroy/doc", { versions: [1] });
  await root("POST", "secret/metadata/doc", { custom_metadata: { owner: "alice" } });
  const doc = vault.rawDocument("secret/", "doc");
  t.match(doc, {
    currentVersion: 2,
    customMetadata: { owner: "alice" },
    versions: [
      { version: 1, destroyed: true, data: null },
      { version: 2, destroyed: false, data: { v: 2 } },
    ],
  });
  t.not(doc?.versions[1]?.deletionTime, "");
  t.equal(vault.rawDocument("secret", "absent"), undefined);
  t.equal(vault.rawDocument("no-such-mount", "doc"), undefined);
});

t.test("a KV v1 mount stores plain maps, and sys/internal/ui/mounts tells the versions apart", async (t) => {
  const vault = await started(t);
  const root = as(vault);
  t.equal((await root("POST", "sys/mounts/legacy", { type: "kv" })).status, 204);
  await root("POST", "legacy/app", { password: "x" });
  const read = await root("GET", "legacy/app");
  t.same(field(read.json, "data"), { password: "x" });
  t.equal(
    field((await root("GET", "sys/internal/ui/mounts/legacy/app")).json, "data", "options", "version"),
    "1",
  );
  const token = await tokenWith(vault, `path "secret/data/users/*" { capabilities = ["read"] }`);
  const mine = await as(vault, token)("GET", "sys/internal/ui/mounts/secret/data/users/x");
  t.equal(field(mine.json, "data", "options", "version"), "2");
  t.equal(field(mine.json, "data", "path"), "secret/");
  t.equal((await as(vault, token)("GET", "sys/internal/ui/mounts/legacy/app")).status, 403);
});

t.test("an unknown route is 404 for root and 403 for a token without access, as in Vault", async (t) => {
  const vault = await started(t);
  const nowhere = await as(vault)("GET", "nowhere/at/all");
  t.equal(nowhere.status, 404);
  t.match(String(field(nowhere.json, "errors", 0)), /no handler for route/);
  const token = await tokenWith(vault, `path "secret/*" { capabilities = ["read"] }`);
  t.equal((await as(vault, token)("GET", "nowhere/at/all")).status, 403);
  t.equal(
    (
      await as(vault)("POST", "secret/data/doc", "{not json", {
        headers: { "Content-Type": "application/json" },
      })
    ).status,
    400,
  );
});

t.test("a fixed root token and listen address can be chosen, as with vault server -dev", async (t) => {
  const vault = await started(t, { rootToken: "fixed-root", host: "127.0.0.1" });
  t.equal(vault.rootToken, "fixed-root");
  const self = await as(vault)("GET", "auth/token/lookup-self");
  t.match(
    field(self.json, "data"),
    { policies: ["root"], ttl: 0, expire_time: null, display_name: "token", path: "auth/token/create" },
    "-dev-root-token-id makes the root token through auth/token/create",
  );
  const generated = await started(t);
  t.match(field((await as(generated)("GET", "auth/token/lookup-self")).json, "data"), {
    display_name: "root",
    path: "auth/token/root",
  });
  await t.rejects(
    startVaultStandIn({ rootToken: "hvs.fixed-root" }),
    /custom token ID cannot have the 'hvs\.' prefix/,
    "real Vault refuses a custom id with a service-token prefix",
  );
});

t.test(
  "sys/policy is the legacy alias of sys/policies/acl, with its data also at the top level",
  async (t) => {
    const vault = await started(t);
    const root = as(vault);
    t.equal(
      (await root("PUT", "sys/policy/legacy", { policy: 'path "a/*" { capabilities = ["read"] }' })).status,
      204,
    );
    const read = await root("GET", "sys/policy/legacy");
    t.match(read.json, { name: "legacy", rules: String, data: { name: "legacy", rules: String } });
    t.same(
      field((await root("GET", "sys/policies/acl/legacy")).json, "data", "policy"),
      'path "a/*" { capabilities = ["read"] }',
    );
    t.match(field((await root("GET", "sys/policy")).json, "policies"), ["default", "legacy", "root"]);
    t.equal((await root("DELETE", "sys/policy/default")).status, 400, "the default policy cannot be deleted");
    t.equal((await root("PUT", "sys/policy/root", { policy: "" })).status, 400);
  },
);

t.test("handler-chosen 404s are rendered like RespondWithStatusCode", async (t) => {
  const vault = await started(t);
  const root = as(vault);
  const patch = { headers: { "Content-Type": "application/merge-patch+json" } };
  const absent = await root("PATCH", "secret/data/absent", { data: { a: 1 } }, patch);
  t.equal(absent.status, 404);
  t.equal(absent.text, "", "PATCH on a missing key: an empty body, not an errors list");
  await root("POST", "secret/data/doc", { data: { a: 1 } });
  await root("DELETE", "secret/data/doc");
  const deleted = await root("GET", "secret/data/doc");
  t.match(deleted.json, {
    request_id: String,
    data: { data: null, metadata: { version: 1 } },
    mount_type: "",
  });
  t.notOk(deleted.text.endsWith("\n"), "json.Marshal: no trailing newline");
  const patchDeleted = await root("PATCH", "secret/data/doc", { data: { a: 2 } }, patch);
  t.match(patchDeleted.json, { data: { version: 1, destroyed: false } }, "flat version metadata");
});

t.test("orphans need root or sudo; revoking a parent revokes its children", async (t) => {
  const vault = await started(t);
  const parent = await tokenWith(vault, `path "auth/token/create" { capabilities = ["update"] }`);
  const orphanAttempt = await as(vault, parent)("POST", "auth/token/create", { no_parent: true });
  t.equal(orphanAttempt.status, 400);
  t.match(String(field(orphanAttempt.json, "errors", 0)), /root or sudo privileges required/);
  const orphan = await as(vault)("POST", "auth/token/create", { no_parent: true, policies: ["p"] });
  t.equal(field(orphan.json, "auth", "orphan"), true);
  const child = String(
    field((await as(vault, parent)("POST", "auth/token/create", {})).json, "auth", "client_token"),
  );
  t.equal((await as(vault, child)("GET", "auth/token/lookup-self")).status, 200);
  t.equal((await as(vault, parent)("POST", "auth/token/revoke-self")).status, 204);
  t.equal(
    (await as(vault, child)("GET", "auth/token/lookup-self")).status,
    403,
    "the child went with its parent",
  );
});

t.test("close() does not wait for hung or delayed requests", async (t) => {
  const vault = await startVaultStandIn();
  vault.inject({ kind: "hang", pathPrefix: "sys/mounts" });
  vault.inject({ kind: "delay", ms: 60_000, pathPrefix: "sys/auth" });
  const hung = as(vault)("GET", "sys/mounts", undefined, { timeoutMs: 60_000 });
  const delayed = as(vault)("GET", "sys/auth", undefined, { timeoutMs: 60_000 });
  const outcomes = [t.rejects(hung), t.rejects(delayed)];
  while (vault.requests.length < 2) await new Promise((resolve) => setTimeout(resolve, 5));
  const before = Date.now();
  await vault.close();
  t.ok(Date.now() - before < 1000, "closed promptly");
  await Promise.all(outcomes);
});
