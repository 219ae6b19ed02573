// Several syncs and several other writers on one document at once: check-and-set loses no key.
import t from "tap";
import { Deadline } from "../../src/deadline.js";
import { VaultClient } from "../../src/vault/client.js";
import { mergeWrite } from "../../src/vault/kv.js";
import { requireRoot } from "../helpers/users.js";
import { credential, HOUR, workstation } from "./fixture.js";

const WRITERS = 4;
const INCREMENTS = 12;
const ROUNDS = 8;

t.test(
  "concurrent syncs and outside read-merge-write writers: no key lost, newest backup wins",
  async (t) => {
    if (!requireRoot(t)) return;
    const ws = await workstation(t, { CLAUDE_AUTH_SYNC_TIMEOUT_MS: "8000" });
    await ws.seed({ vaultwarden_token: "vw", vaultwarden_url: "https://vw.example/" });
    const path = `workstation/claude-users/${ws.user.name}`;

    const writer = async (id: number) => {
      let done = 0;
      while (done < INCREMENTS) {
        const client = new VaultClient({
          addrs: [new URL(ws.vault.addr)],
          deadline: new Deadline(10_000),
          token: ws.vault.rootToken,
        });
        try {
          await mergeWrite(
            client,
            "secret",
            path,
            (current) => ({ [`other_tool_${id}`]: Number(current.data[`other_tool_${id}`] ?? 0) + 1 }),
            { deadline: new Deadline(10_000), maxAttempts: 50 },
          );
          done++;
        } finally {
          client.close();
        }
      }
    };

    const base = Date.now() + 6 * HOUR;
    const syncs = async () => {
      const codes: number[] = [];
      for (let round = 0; round < ROUNDS; round++) {
        ws.writeCredentials({ claudeAiOauth: credential(`r${round}`, base + round * 1000) });
        const runs = await Promise.all([ws.sync(), ws.sync(), ws.sync()]);
        codes.push(...runs.map((r) => r.code ?? -1));
      }
      return codes;
    };

    const [codes] = await Promise.all([syncs(), ...Array.from({ length: WRITERS }, (_, i) => writer(i))]);
    // A sync may give up after repeated conflicts (exit 4) or find the lock held (exit 1); it never corrupts.
    t.ok(
      codes.every((c) => c === 0 || c === 4 || c === 1),
      `every sync finished with 0, 1 or 4 (${codes.join(",")})`,
    );
    t.ok(codes.filter((c) => c === 0).length >= ROUNDS, "most syncs succeeded");
    // One final quiet sync settles the backup.
    t.equal((await ws.sync()).code, 0);
    const doc = await ws.doc();
    for (let id = 0; id < WRITERS; id++)
      t.equal(doc.data?.[`other_tool_${id}`], INCREMENTS, `writer ${id}: no increment lost`);
    t.equal(doc.data?.vaultwarden_token, "vw", "sibling kept");
    t.equal(doc.data?.vaultwarden_url, "https://vw.example/", "sibling kept");
    const backup = JSON.parse(String(doc.data?.claude_ai_oauth));
    t.equal(backup.expiresAt, base + (ROUNDS - 1) * 1000, "the newest credential is the backup");
    t.equal(ws.vault.countRequests({ method: "PATCH" }), 0, "never PATCH");
  },
);
