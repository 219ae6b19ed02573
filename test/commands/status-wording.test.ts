// How status and doctor word what they found: a user who is not enrolled reads "not enrolled" once,
// and a Vault token's TTL reads the same in both commands (32 days, not "46080 minutes").
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { runBinary } from "../helpers/cli.js";
import { requireRoot } from "../helpers/users.js";
import { createToken } from "../helpers/vault-api.js";
import { credential, HOUR, STUB, workstation } from "../sync/fixture.js";

t.test("status says a user who is not enrolled is not enrolled, once", async (t) => {
  if (!requireRoot(t)) return;
  const ws = await workstation(t);
  const status = await runBinary(["status", "--user", ws.user.name, "--config", ws.config]);
  t.equal(status.code, 0);
  const head = status.stdout.split("\n")[0] ?? "";
  t.equal(head, `${ws.user.name}: not enrolled (as the Vault document says)`, { stdout: status.stdout });
  t.notMatch(status.stdout, /not-enrolled mode|not-enrolled, not-enrolled/);
  const json = JSON.parse(
    (await runBinary(["status", "--json", "--user", ws.user.name, "--config", ws.config])).stdout,
  );
  t.equal(json.mode, "not-enrolled", "--json keeps its stable value");
});

t.test("a 32-day token TTL reads the same in status and doctor", async (t) => {
  if (!requireRoot(t)) return;
  const ws = await workstation(t);
  const token = await createToken(ws.vault.addr, ws.vault.rootToken, ["claude-auth-sync-host"], "768h");
  const dir = mkdtempSync("/tmp/cas-ttl-");
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const tokenFile = join(dir, "token");
  writeFileSync(tokenFile, token, { mode: 0o600 });
  const env = { CLAUDE_AUTH_SYNC_TOKEN_FILE: tokenFile };
  const status = await runBinary(["status", "--user", ws.user.name, "--config", ws.config], { env });
  const doctor = await runBinary(["doctor", "--user", ws.user.name, "--config", ws.config], { env });
  t.match(status.stdout, /TTL 32 days\)/, "status", { stdout: status.stdout });
  t.match(doctor.stdout, /TTL 32 days\b/, "doctor says it the same way", { stdout: doctor.stdout });
  t.notMatch(doctor.stdout, /minutes/);
});

t.test(
  "status never promises a restore the sync would refuse, and says when a time field is not a time",
  async (t) => {
    if (!requireRoot(t)) return;
    const ws = await workstation(t);
    ws.writeCredentials({ claudeAiOauth: STUB });
    await ws.seed({
      claude_ai_oauth: JSON.stringify(credential("other", Date.now() + 5 * HOUR)),
      claude_ai_oauth_backed_up_at: "yesterday-ish",
      claude_ai_oauth_host: "some-other-host",
    });
    const status = await runBinary(["status", "--user", ws.user.name, "--config", ws.config]);
    t.notMatch(status.stdout, /next sync .*restore the backup/, "no restore promised", {
      stdout: status.stdout,
    });
    t.match(
      status.stdout,
      /another host \(some-other-host\)/,
      "the backup line says why it will not be used",
    );
    t.match(status.stdout, /not a valid time/, "a malformed backed_up_at is named, not NaN");
    t.notMatch(status.stdout, /NaN/);
    const sync = await ws.sync();
    t.equal(sync.code, 3, "and the sync indeed refuses it (SSO required)");
  },
);
