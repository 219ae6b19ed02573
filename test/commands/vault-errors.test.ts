// Vault's errors as Vault 1.19 sends them: go-multierror text with newlines and tabs
// (`{"errors":["1 error occurred:\n\t* permission denied\n\n"]}`). status, doctor, sync and the pam log
// line must each show the cause on one line, not a broken line or a line cut before the cause.
import t, { type Test } from "tap";
import { runBinary } from "../helpers/cli.js";
import { requireRoot } from "../helpers/users.js";
import { workstation } from "../sync/fixture.js";

const ONE = { errors: ["1 error occurred:\n\t* permission denied\n\n"] };
const TWO = { errors: ["2 errors occurred:\n\t* permission denied\n\t* invalid token\n\n"] };

async function deniedWorkstation(t: Test, body: unknown) {
  const ws = await workstation(t);
  await ws.seed({ vaultwarden_note: "kept" });
  ws.vault.inject({ kind: "status", status: 403, body: body as never, pathPrefix: "secret/" });
  return ws;
}

t.test("a one-error multierror is the plain cause everywhere, on one line", async (t) => {
  if (!requireRoot(t)) return;
  const ws = await deniedWorkstation(t, ONE);
  const where = `secret/data/workstation/claude-users/${ws.user.name}`;

  const sync = await ws.sync();
  t.equal(sync.code, 5, "sync: permission denied is exit 5");
  t.match(sync.stderr, new RegExp(`permission denied reading ${where} at http://127\\.0\\.0\\.1:\\d+"?\\n`));
  t.notMatch(sync.stderr, /error occurred|\\t|\t/, "no multierror framing, no tab");

  const pam = await runBinary(["pam", "--config", ws.config], {
    env: { PAM_USER: ws.user.name, PAM_TYPE: "open_session" },
  });
  const line = pam.stderr.split("\n").find((l) => l.startsWith("claude-auth-sync: via=pam")) ?? "";
  t.match(
    line,
    new RegExp(`exit=5 .*error="permission denied reading ${where} at http://127\\.0\\.0\\.1:\\d+"$`),
    {
      stderr: pam.stderr,
    },
  );

  const status = await runBinary(["status", "--user", ws.user.name, "--config", ws.config]);
  t.equal(status.code, 5, "status: exit 5");
  const vaultLines = status.stdout.split("\n").filter((l) => /permission denied/.test(l));
  t.ok(vaultLines.length > 0, "status names the denial", { stdout: status.stdout });
  for (const l of vaultLines) t.notMatch(l, /error occurred|\(\s*$|\\n|\\t/, `one clean line: ${l}`);
  t.notMatch(status.stdout, /^\s*\* permission denied/m, "no orphaned bullet line");
  const json = JSON.parse(
    (await runBinary(["status", "--json", "--user", ws.user.name, "--config", ws.config])).stdout,
  );
  t.notMatch(JSON.stringify(json), /error occurred|\\n\\t/, "--json carries the flat text too");

  const doctor = await runBinary(["doctor", "--user", ws.user.name, "--config", ws.config]);
  const denied = doctor.stdout.split("\n").filter((l) => /permission denied/.test(l));
  t.ok(denied.length > 0, "doctor names the denial", { stdout: doctor.stdout });
  for (const l of denied) t.notMatch(l, /error occurred|\\n|\\t/, `one clean line: ${l}`);
});

t.test("several errors keep Vault's count and every cause, joined on one line", async (t) => {
  if (!requireRoot(t)) return;
  const ws = await deniedWorkstation(t, TWO);
  const sync = await ws.sync();
  t.equal(sync.code, 5);
  t.match(
    sync.stderr,
    /permission denied reading \S+ at \S+ \(2 errors occurred: permission denied; invalid token\)"?\n/,
  );
  const pam = await runBinary(["pam", "--config", ws.config], {
    env: { PAM_USER: ws.user.name, PAM_TYPE: "open_session" },
  });
  t.match(
    pam.stderr,
    /error="permission denied reading \S+ at \S+ \(2 errors occurred: permission denied; invalid token\)"/,
  );
});

t.test("doctor says a sealed Vault is sealed, and how to unseal it", async (t) => {
  if (!requireRoot(t)) return;
  const ws = await workstation(t);
  ws.vault.seal();
  const doctor = await runBinary(["doctor", "--user", ws.user.name, "--config", ws.config]);
  t.equal(doctor.code, 1, "a FAIL");
  const health = doctor.stdout.split("\n").find((l) => /vault-health/.test(l)) ?? "";
  t.match(health, /FAIL\s+vault-health: .*\(sys\/health\): Vault is unavailable \(Vault is sealed\)/, {
    stdout: doctor.stdout,
  });
  t.notMatch(doctor.stdout, /service unavailable/);
  t.match(doctor.stdout, /vault operator unseal/, "the fix names the unseal");
});
