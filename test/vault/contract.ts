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
  /**
   * Moves the server's clock forward (the stand-in's injected clock). Without it the contract really
   * waits, so TTLs in these tests are a few seconds.
   */
  advance?(seconds: number): Promise<void>;
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
  /** A token role at auth/token/roles/<name>, removed at teardown. */
  tokenRole(name: string, settings: Record<string, unknown>): Promise<VaultReply>;
  /** Lets `seconds` pass on the server: its clock moves, or the test sleeps. */
  wait(seconds: number): Promise<void>;
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
    tokenRole: async (name, settings) => {
      const r = await expectOk(call("POST", `auth/token/roles/${name}`, { body: settings }), `role ${name}`);
      cleanups.push(() => call("DELETE", `auth/token/roles/${name}`));
      return r;
    },
    wait: (seconds) =>
      conn.advance ? conn.advance(seconds) : new Promise((resolve) => setTimeout(resolve, seconds * 1000)),
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
    await f.wait(3);
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

  // -------------------------------------------------------------------------------------------------------
  // Per-user identity: periodic login tokens, token roles, expiry (checked against Vault 1.19)

  /** A userpass mount whose users get `self`, a templated policy on `<kv>/data/users/<their name>`. */
  const perUserSetup = async (f: Fixture) => {
    const m = await f.kvMount();
    const { path, accessor } = await f.enableAuth("userpass");
    const self = `self-${f.id}`;
    await f.policy(
      self,
      `path "${m}/data/users/{{identity.entity.aliases.${accessor}.name}}" { capabilities = ["create", "read", "update"] }`,
    );
    const user = async (name: string, settings: Record<string, unknown>) => {
      const r = await f.call("POST", `auth/${path}/users/${name}`, {
        body: { password: `${name}-pw`, ...settings },
      });
      if (r.status !== 204) throw new Error(`user ${name}: HTTP ${r.status} ${r.text}`);
    };
    const login = async (name: string) => {
      const r = await f.call("POST", `auth/${path}/login/${name}`, {
        token: null,
        body: { password: `${name}-pw` },
      });
      if (r.status !== 200) throw new Error(`login ${name}: HTTP ${r.status} ${r.text}`);
      return {
        token: String(field(r.json, "auth", "client_token")),
        entityId: String(field(r.json, "auth", "entity_id")),
        auth: field(r.json, "auth"),
      };
    };
    return { m, path, accessor, self, user, login };
  };
  const invalidToken = { errors: ["2 errors occurred:\n\t* permission denied\n\t* invalid token\n\n"] };

  test("a userpass user with token_period logs in to a periodic token: period in seconds, renew-self back to the period, no max TTL", async (f, t) => {
    const { m, path, self, user, login } = await perUserSetup(f);
    await user("alice", { token_policies: [self], token_period: "72h" });
    const described = await f.call("GET", `auth/${path}/users/alice`);
    t.match(field(described.json, "data"), {
      token_period: 259200,
      token_policies: [self],
      token_ttl: 0,
      token_max_ttl: 0,
      token_explicit_max_ttl: 0,
    });
    t.equal(
      field(described.json, "data", "policies"),
      undefined,
      "no deprecated `policies` unless written so",
    );
    t.equal(field(described.json, "data", "period"), undefined);

    // userpass still takes the deprecated policies/ttl, shows them back, but silently ignores `period`.
    await user("bob", { policies: [self], period: "1h", ttl: "10m" });
    const legacy = await f.call("GET", `auth/${path}/users/bob`);
    t.match(field(legacy.json, "data"), {
      policies: [self],
      token_policies: [self],
      ttl: 600,
      token_ttl: 600,
    });
    t.equal(field(legacy.json, "data", "token_period"), 0, "`period` is not a userpass field");
    t.equal(field((await login("bob")).auth, "lease_duration"), 600);

    // token_max_ttl does not limit a periodic token's life: it caps each period, with a warning, every time.
    await user("ivy", { token_policies: [self], token_period: "1h", token_max_ttl: "30m" });
    const capWarning = [
      'period of "1h" exceeded the effective max_ttl of "30m"; period value is capped accordingly',
    ];
    const ivyLogin = await f.call("POST", `auth/${path}/login/ivy`, {
      token: null,
      body: { password: "ivy-pw" },
    });
    t.equal(field(ivyLogin.json, "auth", "lease_duration"), 1800);
    t.same(field(ivyLogin.json, "warnings"), capWarning);
    const ivy = String(field(ivyLogin.json, "auth", "client_token"));
    t.match(field((await f.call("GET", "auth/token/lookup-self", { token: ivy })).json, "data"), {
      period: 3600,
      creation_ttl: 1800,
      explicit_max_ttl: 0,
    });
    const ivyRenewed = await f.call("POST", "auth/token/renew-self", { token: ivy, body: {} });
    t.equal(field(ivyRenewed.json, "auth", "lease_duration"), 1800);
    t.same(field(ivyRenewed.json, "warnings"), capWarning);
    await user("jo", { token_policies: [self], token_period: "1000h" });
    const joLogin = await f.call("POST", `auth/${path}/login/jo`, {
      token: null,
      body: { password: "jo-pw" },
    });
    t.equal(field(joLogin.json, "auth", "lease_duration"), 768 * 3600, "the system max TTL caps a period");
    t.same(field(joLogin.json, "warnings"), [
      'period of "1000h" exceeded the effective max_ttl of "768h"; period value is capped accordingly',
    ]);

    const alice = await login("alice");
    t.match(alice.auth, { lease_duration: 259200, renewable: true, orphan: true, token_type: "service" });
    t.not(alice.entityId, "");
    const self1 = await f.call("GET", "auth/token/lookup-self", { token: alice.token });
    const data = field(self1.json, "data") as Record<string, unknown>;
    t.match(data, {
      period: 259200,
      creation_ttl: 259200,
      explicit_max_ttl: 0,
      renewable: true,
      orphan: true,
      entity_id: alice.entityId,
      path: `auth/${path}/login/alice`,
      display_name: `${path}-alice`,
    });
    t.type(data.period, "number", "period is a JSON number of seconds, not a duration string");
    const ttl = Number(data.ttl);
    t.ok(ttl > 259190 && ttl <= 259200, `ttl ${ttl} close to the period`);
    t.match(String(data.expire_time), rfc3339Nano);
    const lifetime = Date.parse(String(data.expire_time)) - Date.parse(String(data.issue_time));
    t.ok(Math.abs(lifetime - 259200_000) < 5_000, `expire_time is issue_time + 72h (${lifetime} ms)`);
    t.equal(data.last_renewal, undefined, "no last_renewal before the first renewal");

    for (const body of [{ increment: "1h" }, { increment: "1000h" }, {}]) {
      const renewed = await f.call("POST", "auth/token/renew-self", { token: alice.token, body });
      t.equal(renewed.status, 200);
      t.equal(
        field(renewed.json, "auth", "lease_duration"),
        259200,
        `renew ${JSON.stringify(body)}: the period`,
      );
      t.equal(field(renewed.json, "warnings"), null);
    }
    const after = field((await f.call("GET", "auth/token/lookup-self", { token: alice.token })).json, "data");
    t.match(after, { period: 259200, explicit_max_ttl: 0, last_renewal_time: Number });
    t.match(String(field(after, "last_renewal")), rfc3339Nano);

    t.equal(
      (await f.call("POST", `${m}/data/users/alice`, { token: alice.token, body: { data: { v: 1 } } }))
        .status,
      200,
    );
    t.equal(
      (await f.call("POST", `${m}/data/users/bob`, { token: alice.token, body: { data: { v: 1 } } })).status,
      403,
    );
  });

  test("a periodic token with token_explicit_max_ttl: renewals are capped with Vault's warning, then it is gone", async (f, t) => {
    const { self, user, login } = await perUserSetup(f);
    await user("erin", { token_policies: [self], token_period: "4s", token_explicit_max_ttl: "6s" });
    const erin = await login("erin");
    t.equal(field(erin.auth, "lease_duration"), 4);
    t.match(field((await f.call("GET", "auth/token/lookup-self", { token: erin.token })).json, "data"), {
      period: 4,
      explicit_max_ttl: 6,
      creation_ttl: 4,
    });
    await f.wait(3);
    const capped = await f.call("POST", "auth/token/renew-self", {
      token: erin.token,
      body: { increment: "4s" },
    });
    t.equal(capped.status, 200);
    const lease = Number(field(capped.json, "auth", "lease_duration"));
    t.ok(lease >= 2 && lease <= 3, `capped to what is left of the max TTL (${lease})`);
    t.match(
      String(field(capped.json, "warnings", 0)),
      /^TTL of "4s" exceeded the effective max_ttl of "[23]s"; TTL value is capped accordingly$/,
    );
    await f.wait(4);
    for (const path of ["auth/token/renew-self", "auth/token/revoke-self"]) {
      const r = await f.call("POST", path, { token: erin.token, body: {} });
      t.equal(r.status, 403, `${path} with an expired token`);
      t.same(r.json, invalidToken, `${path}: permission denied + invalid token`);
    }
    t.same((await f.call("GET", "auth/token/lookup-self", { token: erin.token })).json, invalidToken);
  });

  test("renew-self and revoke-self with an expired, a revoked or no token are 403s, never 400s", async (f, t) => {
    const pol = `gone-${f.id}`;
    await f.policy(pol, `path "gone/*" { capabilities = ["read"] }`);
    const brief = await f.tokenWith([pol], { ttl: "2s" });
    const revoked = await f.tokenWith([pol]);
    t.equal((await f.call("POST", "auth/token/revoke-self", { token: revoked })).status, 204);
    await f.wait(3);
    for (const [what, token] of [
      ["expired", brief],
      ["revoked", revoked],
      ["unknown", "hvs.not-a-real-token-at-all"],
    ] as const)
      for (const path of ["auth/token/renew-self", "auth/token/revoke-self"]) {
        const r = await f.call("POST", path, { token, body: {} });
        t.equal(r.status, 403, `${path}, ${what} token`);
        t.same(r.json, invalidToken, `${path}, ${what} token`);
      }
    for (const path of ["auth/token/renew-self", "auth/token/revoke-self"]) {
      const none = await f.call("POST", path, { token: null, body: {} });
      t.equal(none.status, 403);
      t.same(
        none.json,
        { errors: ["permission denied"] },
        `${path} without a token: plain permission denied`,
      );
    }
  });

  test("AppRole roles, token roles and the ldap config take token_period; the deprecated period only where Vault still reads it", async (f, t) => {
    const { path: approle } = await f.enableAuth("approle");
    const pol = `periodic-${f.id}`;
    await f.policy(pol, `path "periodic/*" { capabilities = ["read"] }`);
    t.equal(
      (await f.call("POST", `auth/${approle}/role/old`, { body: { token_policies: [pol], period: "1h" } }))
        .status,
      204,
    );
    t.match(field((await f.call("GET", `auth/${approle}/role/old`)).json, "data"), {
      period: 3600,
      token_period: 3600,
    });
    t.equal(
      (
        await f.call("POST", `auth/${approle}/role/new`, {
          body: { token_policies: [pol], token_period: "2h", token_explicit_max_ttl: "3h" },
        })
      ).status,
      204,
    );
    const fresh = field((await f.call("GET", `auth/${approle}/role/new`)).json, "data");
    t.match(fresh, { token_period: 7200, token_explicit_max_ttl: 10800 });
    t.equal(field(fresh, "period"), undefined);
    t.equal(field(fresh, "policies"), undefined);
    const roleId = String(
      field((await f.call("GET", `auth/${approle}/role/new/role-id`)).json, "data", "role_id"),
    );
    const secretId = String(
      field(
        (await f.call("POST", `auth/${approle}/role/new/secret-id`, { body: {} })).json,
        "data",
        "secret_id",
      ),
    );
    const login = await f.call("POST", `auth/${approle}/login`, {
      token: null,
      body: { role_id: roleId, secret_id: secretId },
    });
    t.equal(field(login.json, "auth", "lease_duration"), 7200);
    const token = String(field(login.json, "auth", "client_token"));
    t.match(field((await f.call("GET", "auth/token/lookup-self", { token })).json, "data"), {
      period: 7200,
      explicit_max_ttl: 10800,
      meta: { role_name: "new" },
    });

    const legacyRole = `old-${f.id}`;
    await f.tokenRole(legacyRole, { allowed_policies: [pol], orphan: true, period: "1h" });
    t.same(field((await f.call("GET", `auth/token/roles/${legacyRole}`)).json, "data"), {
      allowed_entity_aliases: null,
      allowed_policies: [pol],
      allowed_policies_glob: [],
      disallowed_policies: [],
      disallowed_policies_glob: [],
      explicit_max_ttl: 0,
      name: legacyRole,
      orphan: true,
      path_suffix: "",
      period: 3600,
      renewable: true,
      token_explicit_max_ttl: 0,
      token_no_default_policy: false,
      token_period: 3600,
      token_type: "default-service",
    });
    const both = `both-${f.id}`;
    const bothReply = await f.tokenRole(both, { allowed_policies: [pol], token_period: "2h", period: "1h" });
    t.equal(bothReply.status, 200, "a warning turns the 204 into a 200");
    t.same(field(bothReply.json, "warnings"), [
      "Both 'token_period' and deprecated 'period' value supplied, ignoring the deprecated value",
    ]);
    t.match(field((await f.call("GET", `auth/token/roles/${both}`)).json, "data"), {
      period: 0,
      token_period: 7200,
    });
    const listed = field((await f.call("LIST", "auth/token/roles")).json, "data", "keys") as string[];
    t.ok(listed.includes(legacyRole) && listed.includes(both));
    t.same((await f.call("GET", `auth/token/roles/none-${f.id}`)).json, { errors: [] });

    // Root (or sudo) may ask auth/token/create for a period: the token then shows it.
    const periodic = String(
      field(
        (await f.call("POST", "auth/token/create", { body: { policies: [pol], period: "1h" } })).json,
        "auth",
        "client_token",
      ),
    );
    t.match(field((await f.call("GET", "auth/token/lookup-self", { token: periodic })).json, "data"), {
      period: 3600,
      ttl: Number,
    });
    const renewed = await f.call("POST", "auth/token/renew-self", {
      token: periodic,
      body: { increment: "10h" },
    });
    t.equal(field(renewed.json, "auth", "lease_duration"), 3600);

    const { path: ldap } = await f.enableAuth("ldap");
    t.equal(
      (
        await f.call("POST", `auth/${ldap}/config`, {
          body: { url: "ldap://127.0.0.1:1", token_policies: [pol], token_period: "72h" },
        })
      ).status,
      204,
    );
    t.equal((await f.call("POST", `auth/${ldap}/config`, { body: { period: "1h" } })).status, 204);
    t.match(field((await f.call("GET", `auth/${ldap}/config`)).json, "data"), {
      url: "ldap://127.0.0.1:1",
      token_policies: [pol],
      token_period: 259200,
    });
    // ldap users and groups carry policies only: token_* fields there are ignored.
    await f.call("POST", `auth/${ldap}/users/carol`, { body: { policies: [pol], token_period: "1h" } });
    t.same(field((await f.call("GET", `auth/${ldap}/users/carol`)).json, "data"), {
      groups: "",
      policies: [pol],
    });
    await f.call("POST", `auth/${ldap}/users/dan`, { body: { token_policies: [pol], groups: "a,b" } });
    t.same(field((await f.call("GET", `auth/${ldap}/users/dan`)).json, "data"), {
      groups: "a,b",
      policies: [],
    });
    await f.call("POST", `auth/${ldap}/groups/eng`, { body: { policies: [pol], token_period: "1h" } });
    t.same(field((await f.call("GET", `auth/${ldap}/groups/eng`)).json, "data"), { policies: [pol] });
  });

  test("token roles: orphan=true mints a token without entity (the templated policy then denies the user's own document); orphan=false keeps the entity and dies with the login token", async (f, t) => {
    const { m, self, user, login } = await perUserSetup(f);
    const mint = `mint-${f.id}`;
    await f.policy(mint, `path "auth/token/create/*" { capabilities = ["update"] }`);
    await user("dave", { token_policies: [self, mint], token_period: "72h" });
    await f.call("POST", `${m}/data/users/dave`, { body: { data: { v: 1 } } });
    const orph = `orph-${f.id}`;
    const kid = `kid-${f.id}`;
    await f.tokenRole(orph, { allowed_policies: [self], orphan: true, token_period: "1h" });
    await f.tokenRole(kid, { allowed_policies: [self], orphan: false, token_period: "1h" });
    const dave = await login("dave");
    const own = `${m}/data/users/dave`;
    t.equal((await f.call("GET", own, { token: dave.token })).status, 200);

    const orphan = await f.call("POST", `auth/token/create/${orph}`, { token: dave.token, body: {} });
    t.equal(orphan.status, 200);
    t.match(field(orphan.json, "auth"), {
      policies: ["default", self].sort(),
      lease_duration: 3600,
      orphan: true,
      entity_id: "",
    });
    const orphanToken = String(field(orphan.json, "auth", "client_token"));
    f.cleanup(() => f.call("POST", "auth/token/revoke", { body: { token: orphanToken } }));
    const orphanSelf = field(
      (await f.call("GET", "auth/token/lookup-self", { token: orphanToken })).json,
      "data",
    );
    t.match(orphanSelf, {
      role: orph,
      path: `auth/token/create/${orph}`,
      entity_id: "",
      orphan: true,
      explicit_max_ttl: 0,
    });
    t.equal(
      field(orphanSelf, "period"),
      undefined,
      "a role's period is not stored on the token: lookup shows none",
    );
    const denied = await f.call("GET", own, { token: orphanToken });
    t.equal(denied.status, 403, "no entity: the templated path matches nothing, not even the user's own");
    const orphanCaps = await f.call("POST", "sys/capabilities-self", {
      token: orphanToken,
      body: { paths: [own] },
    });
    t.same(field(orphanCaps.json, "data", own), ["deny"]);
    const renewed = await f.call("POST", "auth/token/renew-self", {
      token: orphanToken,
      body: { increment: "10h" },
    });
    t.equal(field(renewed.json, "auth", "lease_duration"), 3600, "yet renewals go back to the role's period");

    const child = await f.call("POST", `auth/token/create/${kid}`, {
      token: dave.token,
      body: { ttl: "10m" },
    });
    t.match(field(child.json, "auth"), { orphan: false, entity_id: dave.entityId, lease_duration: 3600 });
    const childToken = String(field(child.json, "auth", "client_token"));
    t.equal((await f.call("GET", own, { token: childToken })).status, 200, "the child keeps the entity");
    t.equal(
      (await f.call("POST", `auth/token/create/${orph}`, { token: dave.token, body: { policies: [mint] } }))
        .status,
      400,
    );
    const outside = await f.call("POST", `auth/token/create/${kid}`, {
      token: dave.token,
      body: { policies: [mint] },
    });
    t.same(field(outside.json, "errors"), [
      `token policies (${JSON.stringify(["default", mint].sort()).replace(/,/g, " ")}) must be subset of the role's allowed policies (${JSON.stringify(["default", self].sort()).replace(/,/g, " ")}) or glob policies ([])`,
    ]);
    const unknown = await f.call("POST", `auth/token/create/none-${f.id}`, { token: dave.token, body: {} });
    t.equal(unknown.status, 400);
    t.same(field(unknown.json, "errors"), [`unknown role none-${f.id}`]);
    const askPeriod = await f.call("POST", `auth/token/create/${kid}`, {
      token: dave.token,
      body: { period: "10m" },
    });
    t.equal(askPeriod.status, 400);
    t.same(field(askPeriod.json, "errors"), ["root or sudo privileges required to create periodic token"]);

    t.equal((await f.call("POST", "auth/token/revoke-self", { token: dave.token })).status, 204);
    const orphaned = await f.call("GET", "auth/token/lookup-self", { token: childToken });
    t.equal(orphaned.status, 403, "the child went with its parent login token");
    t.same(orphaned.json, invalidToken);
    t.equal(
      (await f.call("GET", "auth/token/lookup-self", { token: orphanToken })).status,
      200,
      "the orphan lives on",
    );

    // The same when the parent is not revoked but expires.
    await user("frank", { token_policies: [self, mint], token_period: "2s" });
    const frank = await login("frank");
    const frankChild = String(
      field(
        (await f.call("POST", `auth/token/create/${kid}`, { token: frank.token, body: {} })).json,
        "auth",
        "client_token",
      ),
    );
    t.equal((await f.call("GET", "auth/token/lookup-self", { token: frankChild })).status, 200);
    await f.wait(4);
    t.same((await f.call("GET", "auth/token/lookup-self", { token: frank.token })).json, invalidToken);
    const expiredChild = await f.call("GET", "auth/token/lookup-self", { token: frankChild });
    t.equal(
      expiredChild.status,
      403,
      "a child with an hour left still goes when its periodic parent expires",
    );
  });

  test("sys/capabilities-self with a templated policy: the user's own path has the capabilities, another user's is deny", async (f, t) => {
    const { m, self, user, login } = await perUserSetup(f);
    await user("alice", { token_policies: [self], token_period: "72h" });
    const alice = await login("alice");
    const own = `${m}/data/users/alice`;
    const other = `${m}/data/users/bob`;
    const caps = await f.call("POST", "sys/capabilities-self", {
      token: alice.token,
      body: { paths: [own, other] },
    });
    t.equal(caps.status, 200);
    t.same(field(caps.json, "data"), { [own]: ["create", "read", "update"], [other]: ["deny"] });
    t.same(field(caps.json, own), ["create", "read", "update"], "also at the top level");
    t.same(field(caps.json, other), ["deny"]);
    const single = await f.call("POST", "sys/capabilities-self", {
      token: alice.token,
      body: { paths: [own] },
    });
    t.same(field(single.json, "data", "capabilities"), ["create", "read", "update"]);
    const prefix = await f.call("POST", "sys/capabilities-self", {
      token: alice.token,
      body: { paths: [`${m}/data/users/alice2`, `${m}/data/users/alice/x`] },
    });
    t.same(
      field(prefix.json, "data"),
      { [`${m}/data/users/alice2`]: ["deny"], [`${m}/data/users/alice/x`]: ["deny"] },
      "an exact path, not a prefix",
    );
  });
}
