// Our KV v2 merge-write against the stand-in: removal by merge, create with cas 0, retry on conflict.
import t from "tap";
import { Deadline } from "../../src/deadline.js";
import { VaultClient } from "../../src/vault/client.js";
import { mergeDocument, mergeWrite, readDocument } from "../../src/vault/kv.js";
import { startVaultStandIn } from "./standin.js";

async function setup(t: { teardown(fn: () => unknown): void }) {
  const vault = await startVaultStandIn();
  t.teardown(() => vault.close());
  const client = new VaultClient({
    addrs: [new URL(vault.addr)],
    deadline: new Deadline(5000),
    token: vault.rootToken,
  });
  t.teardown(() => client.close());
  return { vault, client };
}

t.test("mergeDocument: sets, removes, and reports no change as null", async (t) => {
  t.same(mergeDocument({ a: 1, b: 2 }, { b: undefined, c: 3 }), { a: 1, c: 3 });
  t.equal(mergeDocument({ a: 1 }, { a: 1 }), null, "same value: no change");
  t.equal(mergeDocument({ a: 1 }, { z: undefined }), null, "removing an absent key: no change");
});

t.test("create uses cas 0; a removal keeps every other key; nothing to change writes nothing", async (t) => {
  const { vault, client } = await setup(t);
  const deadline = new Deadline(5000);
  let result = await mergeWrite(client, "secret", "u/alice", () => ({ setup_token: "x", other: "keep" }), {
    deadline,
  });
  t.same(result, { written: true, version: 1, attempts: 1 });
  t.same(
    (vault.requests.at(-1)?.body as { options?: unknown } | undefined)?.options,
    { cas: 0 },
    "cas 0 only to create",
  );
  result = await mergeWrite(client, "secret", "u/alice", () => ({ setup_token: undefined }), { deadline });
  t.equal(result.written, true);
  t.same(
    (await readDocument(client, "secret", "u/alice")).data,
    { other: "keep" },
    "only setup_token removed",
  );
  vault.clearRequests();
  result = await mergeWrite(client, "secret", "u/alice", () => ({ setup_token: undefined }), { deadline });
  t.equal(result.written, false, "already absent");
  t.equal(vault.countRequests({ method: "POST" }), 0, "no write");
});

t.test("a check-and-set conflict re-reads, re-decides and keeps the other writer's key", async (t) => {
  const { vault, client } = await setup(t);
  const deadline = new Deadline(5000);
  await mergeWrite(client, "secret", "u/bob", () => ({ a: 1 }), { deadline });
  const stale = await readDocument(client, "secret", "u/bob");
  // Another writer lands between our read and our write.
  await mergeWrite(client, "secret", "u/bob", () => ({ intruder: "kept" }), { deadline });
  let decisions = 0;
  const result = await mergeWrite(
    client,
    "secret",
    "u/bob",
    () => {
      decisions++;
      return { mine: "x" };
    },
    { deadline, current: stale },
  );
  t.equal(result.attempts, 2, "one conflict, one retry");
  t.equal(decisions, 2, "decided again on the fresh document");
  t.same((await readDocument(client, "secret", "u/bob")).data, { a: 1, intruder: "kept", mine: "x" });
  t.equal(vault.countRequests({ method: "PATCH" }), 0);
});

t.test("endless conflicts give up with exit 4 after the bounded attempts, losing nothing", async (t) => {
  const { vault, client } = await setup(t);
  const deadline = new Deadline(5000);
  await mergeWrite(client, "secret", "u/carol", () => ({ a: 1 }), { deadline });
  vault.inject({
    kind: "status",
    method: "POST",
    status: 400,
    body: { errors: ["check-and-set parameter did not match the current version"] },
  });
  await t.rejects(
    mergeWrite(client, "secret", "u/carol", () => ({ b: 2 }), { deadline, maxAttempts: 3 }),
    { exitCode: 4, message: /after 3 check-and-set conflicts/ },
  );
  vault.clearFaults();
  t.same((await readDocument(client, "secret", "u/carol")).data, { a: 1 });
});
