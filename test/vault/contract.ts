// Contract tests for "a Vault server", speaking only Vault's HTTP API with the root token. They run
// against the stand-in now and against a real Vault later: every name (mount, policy, auth path) is
// unique per test and removed afterwards, so a shared long-lived server is fine.
import { randomBytes } from "node:crypto";
import type { Test } from "tap";
import { field, type VaultReply, vaultCall } from "./http.js";

export interface VaultConnection {
  addr: string;
  rootToken: string;
  close(): Promise<void>;
  /** CA certificate for an https address. */
  ca?: string | Buffer;
}

type TapLike = Pick<Test, "test">;

const rfc3339Nano = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$/;

interface Fixture {
  id: string;
  root: string;
  call(
    method: string,
    path: string,
    options?: { token?: string | null; body?: unknown; headers?: Record<string, string> },
  ): Promise<VaultReply>;
  /** A fresh KV v2 mount, removed at teardown. */
  kvMount(): Promise<string>;
  policy(name: string, text: string): Promise<void>;
  /** A child token of root carrying exactly these policies (plus default). */
  tokenWith(policies: string[], extra?: Record<string, unknown>): Promise<string>;
  enableAuth(type: string): Promise<{ path: string; accessor: string }>;
  cleanup(fn: () => Promise<unknown>): void;
}

async function fixture(t: Test, connect: () => Promise<VaultConnection>): Promise<Fixture> {
  const conn = await connect();
  const cleanups: Array<() => Promise<unknown>> = [];
  t.teardown(async () => {
    for (const fn of cleanups.reverse()) await fn().catch(() => undefined);
    await conn.close();
  });
  const id = randomBytes(4).toString("hex");
  const call: Fixture["call"] = (method, path, options = {}) =>
    vaultCall(conn.addr, {
      method,
      path,
      ...(options.token === null ? {} : { token: options.token ?? conn.rootToken }),
      body: options.body,
      ...(options.headers ? { headers: options.headers } : {}),
      ...(conn.ca === undefined ? {} : { ca: conn.ca }),
      timeoutMs: 10_000,
    });
  const expectOk = async (reply: Promise<VaultReply>, what: string) => {
    const r = await reply;
    if (r.status >= 300) throw new Error(`${what}: HTTP ${r.status} ${r.text}`);
    return r;
  };
  let mounts = 0;
  return {
    id,
    root: conn.rootToken,
    call,
    cleanup: (fn) => cleanups.push(fn),
    kvMount: async () => {
      const mount = `kv-${id}-${mounts++}`;
      await expectOk(
        call("POST", `sys/mounts/${mount}`, { body: { type: "kv", options: { version: "2" } } }),
        "mount",
      );
      cleanups.push(() => call("DELETE", `sys/mounts/${mount}`));
      return mount;
    },
    policy: async (name, text) => {
      await expectOk(call("PUT", `sys/policies/acl/${name}`, { body: { policy: text } }), `policy ${name}`);
      cleanups.push(() => call("DELETE", `sys/policies/acl/${name}`));
    },
    tokenWith: async (policies, extra = {}) => {
      const r = await expectOk(
        call("POST", "auth/token/create", { body: { policies, ttl: "1h", ...extra } }),
        "token",
      );
      return String(field(r.json, "auth", "client_token"));
    },
    enableAuth: async (type) => {
      const path = `${type}-${id}`;
      await expectOk(call("POST", `sys/auth/${path}`, { body: { type } }), `enable ${type}`);
      cleanups.push(() => call("DELETE", `sys/auth/${path}`));
      const list = await expectOk(call("GET", "sys/auth"), "sys/auth");
      return { path, accessor: String(field(list.json, "data", `${path}/`, "accessor")) };
    },
  };
}

function errorsOf(reply: VaultReply): string {
  const errors = field(reply.json, "errors");
  return Array.isArray(errors) ? errors.join("\n") : "";
}

export function vaultContract(t: TapLike, connect: () => Promise<VaultConnection>): void {
  const test = (name: string, body: (f: Fixture, t: Test) => Promise<void>) =>
    t.test(name, async (t) => body(await fixture(t, connect), t));

  test("sys/health and sys/seal-status describe an initialized, unsealed, active server", async (f, t) => {
    const health = await f.call("GET", "sys/health", { token: null });
    t.equal(health.status, 200);
    t.match(health.json, { initialized: true, sealed: false, standby: false, version: String });
    const seal = await f.call("GET", "sys/seal-status", { token: null });
    t.equal(seal.status, 200);
    t.match(seal.json, { sealed: false, initialized: true, t: Number, n: Number, type: String });
  });

  test("a KV v2 write answers with version metadata inside Vault's response envelope", async (f, t) => {
    const m = await f.kvMount();
    const write = await f.call("POST", `${m}/data/doc`, { body: { data: { a: "1" } } });
    t.equal(write.status, 200);
    t.match(write.json, {
      request_id: String,
      lease_id: "",
      renewable: false,
      lease_duration: 0,
      wrap_info: null,
      warnings: null,
      auth: null,
      data: { version: 1, deletion_time: "", destroyed: false, custom_metadata: null },
    });
    t.match(String(field(write.json, "data", "created_time")), rfc3339Nano);
    const read = await f.call("GET", `${m}/data/doc`);
    t.equal(read.status, 200);
    t.same(field(read.json, "data", "data"), { a: "1" });
    t.match(field(read.json, "data", "metadata"), { version: 1, deletion_time: "", destroyed: false });
  });

  test("a plain KV v2 write replaces the whole document: sibling keys vanish", async (f, t) => {
    const m = await f.kvMount();
    await f.call("POST", `${m}/data/user`, {
      body: { data: { setup_token: "a", vaultwarden_key: "keep me" } },
    });
    const second = await f.call("POST", `${m}/data/user`, { body: { data: { setup_token: "b" } } });
    t.equal(field(second.json, "data", "version"), 2);
    const read = await f.call("GET", `${m}/data/user`);
    t.same(field(read.json, "data", "data"), { setup_token: "b" }, "the write is a replace, not a merge");
  });

  test("check-and-set: cas 0 creates only when absent, a stale version is refused with Vault's message", async (f, t) => {
    const m = await f.kvMount();
    const create = await f.call("POST", `${m}/data/doc`, { body: { data: { v: 1 }, options: { cas: 0 } } });
    t.equal(create.status, 200);
    const again = await f.call("POST", `${m}/data/doc`, { body: { data: { v: 2 }, options: { cas: 0 } } });
    t.equal(again.status, 400);
    t.same(field(again.json, "errors"), ["check-and-set parameter did not match the current version"]);
    const update = await f.call("POST", `${m}/data/doc`, { body: { data: { v: 2 }, options: { cas: 1 } } });
    t.equal(field(update.json, "data", "version"), 2);
    const stale = await f.call("POST", `${m}/data/doc`, { body: { data: { v: 3 }, options: { cas: 1 } } });
    t.equal(stale.status, 400);
    t.same(field(stale.json, "errors"), ["check-and-set parameter did not match the current version"]);
  });

  test("cas_required, on the mount or on one key, refuses a write without cas", async (f, t) => {
    const m = await f.kvMount();
    t.equal((await f.call("POST", `${m}/config`, { body: { cas_required: true } })).status, 204);
    t.match((await f.call("GET", `${m}/config`)).json, { data: { cas_required: true, max_versions: 0 } });
    const bare = await f.call("POST", `${m}/data/doc`, { body: { data: { v: 1 } } });
    t.equal(bare.status, 400);
    t.same(field(bare.json, "errors"), ["check-and-set parameter required for this call"]);
    t.equal(
      (await f.call("POST", `${m}/data/doc`, { body: { data: { v: 1 }, options: { cas: 0 } } })).status,
      200,
    );

    const other = await f.kvMount();
    await f.call("POST", `${other}/metadata/locked`, { body: { cas_required: true } });
    t.equal((await f.call("POST", `${other}/data/locked`, { body: { data: { v: 1 } } })).status, 400);
    t.equal((await f.call("POST", `${other}/data/free`, { body: { data: { v: 1 } } })).status, 200);
  });

  test("a key that never existed is a 404 whose body is exactly an empty errors list", async (f, t) => {
    const m = await f.kvMount();
    const read = await f.call("GET", `${m}/data/nobody`);
    t.equal(read.status, 404);
    t.same(read.json, { errors: [] });
  });

  test("a soft-deleted latest version is a 404 that still carries metadata; only cas = that version writes over it", async (f, t) => {
    const m = await f.kvMount();
    await f.call("POST", `${m}/data/doc`, { body: { data: { a: 1 } } });
    const del = await f.call("DELETE", `${m}/data/doc`);
    t.equal(del.status, 204);
    t.equal(del.text, "");
    const read = await f.call("GET", `${m}/data/doc`);
    t.equal(read.status, 404);
    t.equal(field(read.json, "data", "data"), null);
    t.match(field(read.json, "data", "metadata"), { version: 1, destroyed: false });
    t.match(String(field(read.json, "data", "metadata", "deletion_time")), rfc3339Nano);
    const casZero = await f.call("POST", `${m}/data/doc`, { body: { data: { a: 2 }, options: { cas: 0 } } });
    t.equal(casZero.status, 400, "cas 0 means absent, and a deleted key is not absent");
    const casOne = await f.call("POST", `${m}/data/doc`, { body: { data: { a: 2 }, options: { cas: 1 } } });
    t.equal(field(casOne.json, "data", "version"), 2);
  });

  test("delete, undelete and destroy act on the versions named", async (f, t) => {
    const m = await f.kvMount();
    await f.call("POST", `${m}/data/doc`, { body: { data: { v: 1 } } });
    await f.call("POST", `${m}/data/doc`, { body: { data: { v: 2 } } });
    t.equal((await f.call("POST", `${m}/delete/doc`, { body: {} })).status, 400, "versions are required");
    t.equal((await f.call("POST", `${m}/delete/doc`, { body: { versions: [1] } })).status, 204);
    const deleted = await f.call("GET", `${m}/data/doc?version=1`);
    t.equal(deleted.status, 404);
    t.not(field(deleted.json, "data", "metadata", "deletion_time"), "");
    t.equal((await f.call("GET", `${m}/data/doc`)).status, 200, "the latest version is untouched");
    t.equal((await f.call("POST", `${m}/undelete/doc`, { body: { versions: [1] } })).status, 204);
    t.same(field((await f.call("GET", `${m}/data/doc?version=1`)).json, "data", "data"), { v: 1 });
    t.equal((await f.call("POST", `${m}/destroy/doc`, { body: { versions: [1] } })).status, 204);
    const destroyed = await f.call("GET", `${m}/data/doc?version=1`);
    t.equal(destroyed.status, 404);
    t.equal(field(destroyed.json, "data", "metadata", "destroyed"), true);
    const meta = await f.call("GET", `${m}/metadata/doc`);
    t.equal(field(meta.json, "data", "versions", "1", "destroyed"), true);
  });

  test("metadata describes the versions and custom_metadata, which data reads carry too", async (f, t) => {
    const m = await f.kvMount();
    await f.call("POST", `${m}/data/doc`, { body: { data: { v: 1 } } });
    const set = await f.call("POST", `${m}/metadata/doc`, {
      body: { custom_metadata: { owner: "alice" }, max_versions: 5 },
    });
    t.equal(set.status, 204);
    const meta = await f.call("GET", `${m}/metadata/doc`);
    t.equal(meta.status, 200);
    t.match(field(meta.json, "data"), {
      cas_required: false,
      current_version: 1,
      oldest_version: 0,
      max_versions: 5,
      delete_version_after: "0s",
      custom_metadata: { owner: "alice" },
      versions: { "1": { deletion_time: "", destroyed: false } },
    });
    t.match(String(field(meta.json, "data", "updated_time")), rfc3339Nano);
    const read = await f.call("GET", `${m}/data/doc`);
    t.same(field(read.json, "data", "metadata", "custom_metadata"), { owner: "alice" });
  });

  test("max_versions keeps only the newest versions", async (f, t) => {
    const m = await f.kvMount();
    await f.call("POST", `${m}/metadata/doc`, { body: { max_versions: 2 } });
    for (const v of [1, 2, 3]) await f.call("POST", `${m}/data/doc`, { body: { data: { v } } });
    const meta = await f.call("GET", `${m}/metadata/doc`);
    t.same(Object.keys(field(meta.json, "data", "versions") as object).sort(), ["2", "3"]);
    t.equal(field(meta.json, "data", "oldest_version"), 2);
    const gone = await f.call("GET", `${m}/data/doc?version=1`);
    t.equal(gone.status, 404);
    t.same(gone.json, { errors: [] });

    const mountWide = await f.kvMount();
    t.equal((await f.call("POST", `${mountWide}/config`, { body: { max_versions: 2 } })).status, 204);
    for (const v of [1, 2, 3]) await f.call("POST", `${mountWide}/data/doc`, { body: { data: { v } } });
    const wide = await f.call("GET", `${mountWide}/metadata/doc`);
    t.same(
      Object.keys(field(wide.json, "data", "versions") as object).sort(),
      ["2", "3"],
      "the mount's max_versions applies too",
    );
  });

  test("LIST on metadata names children, folders with a trailing slash, by LIST or GET ?list=true", async (f, t) => {
    const m = await f.kvMount();
    for (const p of ["team/a/x", "team/b", "other"])
      await f.call("POST", `${m}/data/${p}`, { body: { data: { p } } });
    const listed = await f.call("LIST", `${m}/metadata/team`);
    t.equal(listed.status, 200);
    t.same(field(listed.json, "data", "keys"), ["a/", "b"]);
    const viaGet = await f.call("GET", `${m}/metadata/team/?list=true`);
    t.same(field(viaGet.json, "data", "keys"), ["a/", "b"]);
    const empty = await f.call("LIST", `${m}/metadata/nothing-here`);
    t.equal(empty.status, 404);
    t.same(empty.json, { errors: [] });
  });

  test("DELETE on metadata removes the key with every version", async (f, t) => {
    const m = await f.kvMount();
    await f.call("POST", `${m}/data/doc`, { body: { data: { v: 1 } } });
    t.equal((await f.call("DELETE", `${m}/metadata/doc`)).status, 204);
    const read = await f.call("GET", `${m}/data/doc`);
    t.equal(read.status, 404);
    t.same(read.json, { errors: [] });
    t.equal(
      (await f.call("POST", `${m}/data/doc`, { body: { data: { v: 1 }, options: { cas: 0 } } })).status,
      200,
    );
  });

  test("PATCH is a JSON merge patch that keeps siblings, and only with application/merge-patch+json", async (f, t) => {
    const m = await f.kvMount();
    await f.call("POST", `${m}/data/doc`, { body: { data: { a: 1, nested: { c: 1, d: 2 }, keep: "x" } } });
    const mergePatch = { "Content-Type": "application/merge-patch+json" };
    const patched = await f.call("PATCH", `${m}/data/doc`, {
      body: { data: { a: 2, nested: { c: null } } },
      headers: mergePatch,
    });
    t.equal(patched.status, 200);
    t.equal(field(patched.json, "data", "version"), 2);
    t.same(field((await f.call("GET", `${m}/data/doc`)).json, "data", "data"), {
      a: 2,
      nested: { d: 2 },
      keep: "x",
    });
    const wrongType = await f.call("PATCH", `${m}/data/doc`, { body: { data: { a: 3 } } });
    t.equal(wrongType.status, 415);
    const absent = await f.call("PATCH", `${m}/data/absent`, {
      body: { data: { a: 1 } },
      headers: mergePatch,
    });
    t.equal(absent.status, 404);
    const stale = await f.call("PATCH", `${m}/data/doc`, {
      body: { data: { a: 3 }, options: { cas: 1 } },
      headers: mergePatch,
    });
    t.equal(stale.status, 400);
    await f.call("DELETE", `${m}/data/doc`);
    const overDeleted = await f.call("PATCH", `${m}/data/doc`, {
      body: { data: { a: 4 } },
      headers: mergePatch,
    });
    t.equal(overDeleted.status, 404, "a deleted latest version cannot be patched");
  });

  test("create and update are separate capabilities; a key with metadata or a deleted version already exists", async (f, t) => {
    const m = await f.kvMount();
    await f.policy(`create-${f.id}`, `path "${m}/data/*" { capabilities = ["create", "read"] }`);
    await f.policy(`update-${f.id}`, `path "${m}/data/*" { capabilities = ["update", "read"] }`);
    const creator = await f.tokenWith([`create-${f.id}`]);
    const updater = await f.tokenWith([`update-${f.id}`]);

    t.equal(
      (await f.call("POST", `${m}/data/one`, { token: creator, body: { data: { v: 1 } } })).status,
      200,
    );
    const overwrite = await f.call("POST", `${m}/data/one`, { token: creator, body: { data: { v: 2 } } });
    t.equal(overwrite.status, 403, "create does not cover writing over an existing key");
    const fresh = await f.call("POST", `${m}/data/two`, { token: updater, body: { data: { v: 1 } } });
    t.equal(fresh.status, 403, "update does not cover creating a key");
    t.equal(
      (await f.call("POST", `${m}/data/one`, { token: updater, body: { data: { v: 2 } } })).status,
      200,
    );

    await f.call("POST", `${m}/metadata/three`, { body: { custom_metadata: { owner: "x" } } });
    const overMetadata = await f.call("POST", `${m}/data/three`, {
      token: updater,
      body: { data: { v: 1 } },
    });
    t.equal(overMetadata.status, 200, "a key whose metadata exists counts as existing");
    const creatorOverMetadata = await f.call("POST", `${m}/data/three`, {
      token: creator,
      body: { data: { v: 1 } },
    });
    t.equal(creatorOverMetadata.status, 403);

    await f.call("DELETE", `${m}/data/one`);
    const overDeleted = await f.call("POST", `${m}/data/one`, {
      token: creator,
      body: { data: { v: 3 }, options: { cas: 2 } },
    });
    t.equal(overDeleted.status, 403, "a soft-deleted key still exists: writing over it needs update");
  });

  test("PATCH needs the patch capability; read-merge-write with cas needs only read and update", async (f, t) => {
    const m = await f.kvMount();
    await f.call("POST", `${m}/data/doc`, {
      body: { data: { setup_token: "old", vaultwarden_key: "keep" } },
    });
    await f.policy(`rw-${f.id}`, `path "${m}/data/*" { capabilities = ["create", "read", "update"] }`);
    await f.policy(`patch-${f.id}`, `path "${m}/data/*" { capabilities = ["read", "patch"] }`);
    const rw = await f.tokenWith([`rw-${f.id}`]);
    const patcher = await f.tokenWith([`patch-${f.id}`]);
    const mergePatch = { "Content-Type": "application/merge-patch+json" };

    const denied = await f.call("PATCH", `${m}/data/doc`, {
      token: rw,
      body: { data: { setup_token: "new" } },
      headers: mergePatch,
    });
    t.equal(denied.status, 403);
    const read = await f.call("GET", `${m}/data/doc`, { token: rw });
    const version = field(read.json, "data", "metadata", "version");
    const merged = { ...(field(read.json, "data", "data") as object), setup_token: "new" };
    const written = await f.call("POST", `${m}/data/doc`, {
      token: rw,
      body: { data: merged, options: { cas: version } },
    });
    t.equal(written.status, 200);
    t.same(field((await f.call("GET", `${m}/data/doc`)).json, "data", "data"), {
      setup_token: "new",
      vaultwarden_key: "keep",
    });
    const allowed = await f.call("PATCH", `${m}/data/doc`, {
      token: patcher,
      body: { data: { setup_token: "p" } },
      headers: mergePatch,
    });
    t.equal(allowed.status, 200);
  });

  test("no token, an unknown token and a token without the capability are all 403 permission denied", async (f, t) => {
    const m = await f.kvMount();
    await f.call("POST", `${m}/data/doc`, { body: { data: { v: 1 } } });
    await f.policy(`ro-${f.id}`, `path "${m}/data/*" { capabilities = ["read"] }`);
    const reader = await f.tokenWith([`ro-${f.id}`]);

    const none = await f.call("GET", `${m}/data/doc`, { token: null });
    t.equal(none.status, 403);
    t.match(errorsOf(none), /permission denied/);
    const bogus = await f.call("GET", `${m}/data/doc`, { token: "hvs.not-a-real-token-at-all" });
    t.equal(bogus.status, 403);
    t.match(errorsOf(bogus), /permission denied/);
    t.match(errorsOf(bogus), /invalid token/);
    t.equal((await f.call("GET", `${m}/data/doc`, { token: reader })).status, 200);
    const write = await f.call("POST", `${m}/data/doc`, { token: reader, body: { data: { v: 2 } } });
    t.equal(write.status, 403);
    t.match(errorsOf(write), /permission denied/);
    t.notMatch(errorsOf(write), /invalid token/, "a valid token lacking a capability is not called invalid");
  });

  test("ACL policies round-trip through sys/policies/acl", async (f, t) => {
    const name = `roundtrip-${f.id}`;
    const text = `# comment\npath "secret/data/x" {\n  capabilities = ["read"]\n}\n`;
    await f.policy(name, text);
    const read = await f.call("GET", `sys/policies/acl/${name}`);
    t.match(read.json, { data: { name, policy: text } });
    const list = await f.call("LIST", "sys/policies/acl");
    t.ok((field(list.json, "data", "keys") as string[]).includes(name));
    const broken = await f.call("PUT", `sys/policies/acl/broken-${f.id}`, {
      body: { policy: 'path "x" { capabilities = ' },
    });
    t.equal(broken.status, 400);
    t.equal((await f.call("DELETE", `sys/policies/acl/${name}`)).status, 204);
    t.equal((await f.call("GET", `sys/policies/acl/${name}`)).status, 404);
  });

  test("sys/capabilities-self reports sorted capabilities per path, `capabilities` for a single path", async (f, t) => {
    const p = `caps-${f.id}`;
    await f.policy(p, `path "${p}/data/*" { capabilities = ["update", "read", "create"] }`);
    const token = await f.tokenWith([p]);
    const one = await f.call("POST", "sys/capabilities-self", { token, body: { paths: [`${p}/data/x`] } });
    t.equal(one.status, 200);
    t.same(field(one.json, "data", "capabilities"), ["create", "read", "update"]);
    t.same(field(one.json, "data", `${p}/data/x`), ["create", "read", "update"]);
    t.same(field(one.json, "capabilities"), ["create", "read", "update"], "also at the top level");
    const two = await f.call("POST", "sys/capabilities-self", {
      token,
      body: { paths: [`${p}/data/x`, `${p}/metadata/x`] },
    });
    t.same(field(two.json, "data", `${p}/metadata/x`), ["deny"]);
    t.equal(field(two.json, "data", "capabilities"), undefined);
    const root = await f.call("POST", "sys/capabilities-self", { body: { paths: ["anything/at/all"] } });
    t.same(field(root.json, "data", "capabilities"), ["root"]);
  });

  test("policy priority: exact beats glob, the later wildcard wins, deny wins on the same pattern", async (f, t) => {
    const p = `pri-${f.id}`;
    await f.policy(
      `${p}-a`,
      `path "${p}/*" { capabilities = ["read"] }
       path "${p}/team/*" { capabilities = ["list"] }
       path "${p}/team/+/secret" { capabilities = ["update"] }
       path "${p}/team/alpha/secret" { capabilities = ["delete"] }
       path "${p}/team/+/deny*" { capabilities = ["create"] }
       path "${p}/shared" { capabilities = ["read"] }
       path "${p}/union" { capabilities = ["read"] }`,
    );
    await f.policy(
      `${p}-b`,
      `path "${p}/shared" { capabilities = ["deny"] }
       path "${p}/union" { capabilities = ["list"] }`,
    );
    const token = await f.tokenWith([`${p}-a`, `${p}-b`]);
    const expected: Record<string, string[]> = {
      [`${p}/other`]: ["read"],
      [`${p}/team/x`]: ["list"],
      [`${p}/team/beta/secret`]: ["update"],
      [`${p}/team/alpha/secret`]: ["delete"],
      [`${p}/team/beta/denyall`]: ["list"],
      [`${p}/shared`]: ["deny"],
      [`${p}/union`]: ["list", "read"],
    };
    const r = await f.call("POST", "sys/capabilities-self", {
      token,
      body: { paths: Object.keys(expected) },
    });
    for (const [path, caps] of Object.entries(expected)) t.same(field(r.json, "data", path), caps, path);
  });

  test("a templated policy confines a userpass user to the document named after them", async (f, t) => {
    const m = await f.kvMount();
    const { path, accessor } = await f.enableAuth("userpass");
    t.match(accessor, /^auth_userpass_[0-9a-f]{8}$/);
    const pol = `self-${f.id}`;
    await f.policy(
      pol,
      `path "${m}/data/users/{{identity.entity.aliases.${accessor}.name}}" { capabilities = ["create", "read", "update"] }`,
    );
    for (const user of ["alice", "bob"])
      await f.call("POST", `auth/${path}/users/${user}`, {
        body: { password: `${user}-pw`, token_policies: [pol] },
      });
    const bad = await f.call("POST", `auth/${path}/login/alice`, {
      token: null,
      body: { password: "wrong" },
    });
    t.equal(bad.status, 400);
    const login = await f.call("POST", `auth/${path}/login/alice`, {
      token: null,
      body: { password: "alice-pw" },
    });
    t.equal(login.status, 200);
    t.match(field(login.json, "auth"), {
      policies: ["default", pol].sort(),
      token_policies: ["default", pol].sort(),
      renewable: true,
      metadata: { username: "alice" },
    });
    const token = String(field(login.json, "auth", "client_token"));
    const entityId = String(field(login.json, "auth", "entity_id"));
    t.not(entityId, "");
    t.equal((await f.call("POST", `${m}/data/users/alice`, { token, body: { data: { v: 1 } } })).status, 200);
    t.equal((await f.call("POST", `${m}/data/users/bob`, { token, body: { data: { v: 1 } } })).status, 403);
    const entity = await f.call("GET", `identity/entity/id/${entityId}`, { token });
    t.equal(entity.status, 200, "the default policy lets a token read its own entity");
    t.match(field(entity.json, "data", "aliases", 0), { name: "alice", mount_accessor: accessor });
  });

  test("AppRole login mints a token with the role's policies and TTL", async (f, t) => {
    const m = await f.kvMount();
    const { path } = await f.enableAuth("approle");
    const pol = `approle-${f.id}`;
    await f.policy(pol, `path "${m}/data/*" { capabilities = ["read"] }`);
    t.equal(
      (await f.call("POST", `auth/${path}/role/host`, { body: { token_policies: [pol], token_ttl: "1h" } }))
        .status,
      204,
    );
    const roleId = String(
      field((await f.call("GET", `auth/${path}/role/host/role-id`)).json, "data", "role_id"),
    );
    const secret = await f.call("POST", `auth/${path}/role/host/secret-id`, { body: {} });
    const secretId = String(field(secret.json, "data", "secret_id"));
    t.match(field(secret.json, "data"), { secret_id: String, secret_id_accessor: String });
    const wrong = await f.call("POST", `auth/${path}/login`, {
      token: null,
      body: { role_id: roleId, secret_id: "nope" },
    });
    t.equal(wrong.status, 400);
    t.match(errorsOf(wrong), /invalid (role or )?secret id/i);
    const login = await f.call("POST", `auth/${path}/login`, {
      token: null,
      body: { role_id: roleId, secret_id: secretId },
    });
    t.equal(login.status, 200);
    t.match(field(login.json, "auth"), {
      policies: ["default", pol].sort(),
      lease_duration: 3600,
      renewable: true,
      metadata: { role_name: "host" },
    });
    const token = String(field(login.json, "auth", "client_token"));
    await f.call("POST", `${m}/data/doc`, { body: { data: { v: 1 } } });
    t.equal((await f.call("GET", `${m}/data/doc`, { token })).status, 200);
  });

  test("token lifecycle: lookup-self, renew-self with an increment, revoke-self", async (f, t) => {
    const pol = `life-${f.id}`;
    await f.policy(pol, `path "life/*" { capabilities = ["read"] }`);
    const token = await f.tokenWith([pol], { display_name: "lifecycle", meta: { purpose: "test" } });
    const self = await f.call("GET", "auth/token/lookup-self", { token });
    t.equal(self.status, 200);
    t.match(field(self.json, "data"), {
      policies: ["default", pol].sort(),
      renewable: true,
      display_name: "token-lifecycle",
      meta: { purpose: "test" },
      type: "service",
      expire_time: String,
    });
    const ttl = Number(field(self.json, "data", "ttl"));
    t.ok(ttl > 3500 && ttl <= 3600, `ttl ${ttl} close to 1h`);
    const renewed = await f.call("POST", "auth/token/renew-self", { token, body: { increment: "2h" } });
    t.equal(renewed.status, 200);
    t.equal(field(renewed.json, "auth", "lease_duration"), 7200);
    t.equal(field(renewed.json, "auth", "client_token"), token);
    t.equal((await f.call("POST", "auth/token/revoke-self", { token })).status, 204);
    const after = await f.call("GET", "auth/token/lookup-self", { token });
    t.equal(after.status, 403);
    const fixed = await f.tokenWith([pol], { renewable: false });
    t.equal((await f.call("POST", "auth/token/renew-self", { token: fixed, body: {} })).status, 400);
  });

  test("login tokens stay live until revoked or spent: accessors, token_num_uses, revoke-self, token_ttl", async (f, t) => {
    const m = await f.kvMount();
    await f.call("POST", `${m}/data/doc`, { body: { data: { v: 1 } } });
    const { path } = await f.enableAuth("approle");
    const pol = `uses-${f.id}`;
    await f.policy(pol, `path "${m}/data/*" { capabilities = ["read"] }`);
    const role = (settings: Record<string, unknown>) =>
      f.call("POST", `auth/${path}/role/host`, { body: { token_policies: [pol], ...settings } });
    t.equal((await role({ token_ttl: "1h", token_num_uses: 2 })).status, 204);
    const roleId = String(
      field((await f.call("GET", `auth/${path}/role/host/role-id`)).json, "data", "role_id"),
    );
    const secretId = String(
      field(
        (await f.call("POST", `auth/${path}/role/host/secret-id`, { body: {} })).json,
        "data",
        "secret_id",
      ),
    );
    const login = async () => {
      const reply = await f.call("POST", `auth/${path}/login`, {
        token: null,
        body: { role_id: roleId, secret_id: secretId },
      });
      t.equal(reply.status, 200, "login");
      return {
        token: String(field(reply.json, "auth", "client_token")),
        accessor: String(field(reply.json, "auth", "accessor")),
        numUses: field(reply.json, "auth", "num_uses"),
      };
    };
    const live = async () => {
      const list = await f.call("LIST", "auth/token/accessors");
      t.equal(list.status, 200, "root lists the accessors of live tokens");
      return field(list.json, "data", "keys") as string[];
    };
    const read = (token: string) => f.call("GET", `${m}/data/doc`, { token });

    const limited = await login();
    t.equal(limited.numUses, 2, "the login answer carries token_num_uses");
    t.ok((await live()).includes(limited.accessor), "a new login token is live");
    const described = await f.call("POST", "auth/token/lookup-accessor", {
      body: { accessor: limited.accessor },
    });
    t.match(field(described.json, "data"), { path: `auth/${path}/login`, num_uses: 2, id: "" });
    t.equal((await read(limited.token)).status, 200, "first use");
    t.equal((await read(limited.token)).status, 200, "last use");
    const spent = await read(limited.token);
    t.equal(spent.status, 403, "a spent token is refused");
    t.match(errorsOf(spent), /invalid token/);
    t.notOk((await live()).includes(limited.accessor), "and revoked");

    t.equal((await role({ token_num_uses: 0 })).status, 204);
    const unlimited = await login();
    t.equal(unlimited.numUses, 0);
    t.equal((await read(unlimited.token)).status, 200);
    t.ok((await live()).includes(unlimited.accessor), "unused by nobody, it stays live");
    t.equal((await f.call("POST", "auth/token/revoke-self", { token: unlimited.token })).status, 204);
    t.notOk((await live()).includes(unlimited.accessor), "revoke-self removes it");
    t.match(errorsOf(await read(unlimited.token)), /invalid token/, "a revoked token is an invalid token");

    const plain = await f.tokenWith([pol]);
    t.equal(
      (await f.call("LIST", "auth/token/accessors", { token: plain })).status,
      403,
      "listing needs sudo",
    );

    t.equal((await role({ token_ttl: "2s", token_max_ttl: "2s" })).status, 204);
    const brief = await login();
    t.equal((await read(brief.token)).status, 200);
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    const expired = await read(brief.token);
    t.equal(expired.status, 403, "past its TTL the token is refused");
    t.match(errorsOf(expired), /invalid token/);
  });

  test("a custom token id: root only, no 'hvs.'/'s.' prefix, no '.', no duplicate, with a warning", async (f, t) => {
    const pol = `custom-${f.id}`;
    await f.policy(pol, `path "auth/token/create" { capabilities = ["update"] }`);
    const plain = await f.tokenWith([pol]);
    const notRoot = await f.call("POST", "auth/token/create", { token: plain, body: { id: `mine${f.id}` } });
    t.equal(notRoot.status, 400);
    t.same(field(notRoot.json, "errors"), ["root or sudo privileges required to specify token id"]);
    const refused: Array<[string, string]> = [
      [`hvs.${f.id}`, "custom token ID cannot have the 'hvs.' prefix"],
      [`s.${f.id}`, "custom token ID cannot have the 's.' prefix"],
      [`hvb.${f.id}`, "custom token ID cannot have a '.' in the value"],
      [`a.${f.id}`, "custom token ID cannot have a '.' in the value"],
    ];
    for (const [id, message] of refused) {
      const r = await f.call("POST", "auth/token/create", { body: { id, policies: [pol] } });
      t.equal(r.status, 400, id);
      t.same(field(r.json, "errors"), [message], id);
    }
    const id = `custom-${f.id}`;
    const made = await f.call("POST", "auth/token/create", { body: { id, policies: [pol] } });
    t.equal(made.status, 200);
    t.equal(field(made.json, "auth", "client_token"), id);
    t.match(String(field(made.json, "warnings", 0)), /custom ID for the token uses the weaker SHA1 hashing/);
    f.cleanup(() => f.call("POST", "auth/token/revoke", { body: { token: id } }));
    const again = await f.call("POST", "auth/token/create", { body: { id, policies: [pol] } });
    t.equal(again.status, 400);
    t.same(field(again.json, "errors"), ["cannot create a token with a duplicate ID"]);
  });

  test("a child token inherits its parent's policies unless given a subset of them", async (f, t) => {
    await f.policy(`parent-${f.id}`, `path "a/*" { capabilities = ["read"] }`);
    await f.policy(`other-${f.id}`, `path "b/*" { capabilities = ["read"] }`);
    await f.policy(`creator-${f.id}`, `path "auth/token/create" { capabilities = ["update"] }`);
    const parent = await f.tokenWith([`parent-${f.id}`, `creator-${f.id}`]);
    const escalate = await f.call("POST", "auth/token/create", {
      token: parent,
      body: { policies: [`other-${f.id}`] },
    });
    t.equal(escalate.status, 400);
    const subset = await f.call("POST", "auth/token/create", {
      token: parent,
      body: { policies: [`parent-${f.id}`] },
    });
    t.equal(subset.status, 200);
    t.same(field(subset.json, "auth", "policies"), ["default", `parent-${f.id}`].sort());
    const inherited = await f.call("POST", "auth/token/create", { token: parent, body: { ttl: "1h" } });
    t.same(
      field(inherited.json, "auth", "policies"),
      ["default", `creator-${f.id}`, `parent-${f.id}`].sort(),
    );
    const fromRoot = await f.call("POST", "auth/token/create", { body: { ttl: "1h" } });
    t.same(field(fromRoot.json, "auth", "policies"), ["root"], "root begets root");
  });

  test("sys/mounts lists a new KV v2 mount and refuses the same path twice", async (f, t) => {
    const m = await f.kvMount();
    const list = await f.call("GET", "sys/mounts");
    t.match(field(list.json, "data", `${m}/`), { type: "kv", options: { version: "2" } });
    t.match(String(field(list.json, "data", `${m}/`, "accessor")), /^kv_[0-9a-f]{8}$/);
    const twice = await f.call("POST", `sys/mounts/${m}`, {
      body: { type: "kv", options: { version: "2" } },
    });
    t.equal(twice.status, 400);
    t.match(errorsOf(twice), /path is already in use/);
  });

  test("LIST needs the list capability on the metadata path", async (f, t) => {
    const m = await f.kvMount();
    await f.call("POST", `${m}/data/users/alice`, { body: { data: { v: 1 } } });
    await f.policy(`dataonly-${f.id}`, `path "${m}/data/*" { capabilities = ["read", "list"] }`);
    await f.policy(`lister-${f.id}`, `path "${m}/metadata/users/*" { capabilities = ["list"] }`);
    const dataOnly = await f.tokenWith([`dataonly-${f.id}`]);
    const lister = await f.tokenWith([`lister-${f.id}`]);
    t.equal((await f.call("LIST", `${m}/metadata/users`, { token: dataOnly })).status, 403);
    const listed = await f.call("LIST", `${m}/metadata/users`, { token: lister });
    t.equal(listed.status, 200);
    t.same(field(listed.json, "data", "keys"), ["alice"]);
  });
}
