// Section 7, TLS: the Vault stand-in over HTTPS with a private CA. Works with VAULT_CACERT; fails
// closed (exit 4, "TLS verification failed") without it, with another CA, or with a certificate for
// another name; and no setting — environment, config file or the PAM environment — turns checking off.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import https from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t from "tap";
import { makeConfig, runBinary } from "../helpers/cli.js";
import { Tally } from "../helpers/reliability.js";
import { createTestUser, requireRoot } from "../helpers/users.js";
import { setupToken } from "../sync/fixture.js";
import { startVaultStandIn } from "../vault/standin.js";

function pki(dir: string) {
  const ssl = (...args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: "pipe" });
  const ca = (name: string) =>
    ssl(
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-keyout",
      `${name}.key`,
      "-out",
      `${name}.pem`,
      "-days",
      "2",
      "-subj",
      `/CN=${name}`,
    );
  const leaf = (name: string, san: string, signer: string) => {
    ssl(
      "req",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-keyout",
      `${name}.key`,
      "-out",
      `${name}.csr`,
      "-subj",
      `/CN=${name}`,
    );
    writeFileSync(join(dir, `${name}.cnf`), `subjectAltName=${san}\n`);
    ssl(
      "x509",
      "-req",
      "-in",
      `${name}.csr`,
      "-CA",
      `${signer}.pem`,
      "-CAkey",
      `${signer}.key`,
      "-CAcreateserial",
      "-out",
      `${name}.pem`,
      "-days",
      "2",
      "-extfile",
      `${name}.cnf`,
    );
  };
  ca("private-ca");
  ca("other-ca");
  leaf("vault", "IP:127.0.0.1,DNS:localhost", "private-ca");
  leaf("wrong-name", "DNS:vault.elsewhere.example", "private-ca");
  const pair = (name: string) => ({
    cert: readFileSync(join(dir, `${name}.pem`)),
    key: readFileSync(join(dir, `${name}.key`)),
  });
  return {
    ca: join(dir, "private-ca.pem"),
    otherCa: join(dir, "other-ca.pem"),
    vault: pair("vault"),
    wrongName: pair("wrong-name"),
  };
}

t.test("TLS fails closed; nothing turns verification off", async (t) => {
  if (!requireRoot(t)) return;
  const tally = new Tally("7. TLS (HTTPS stand-in, private CA)");
  const dir = mkdtempSync(join(tmpdir(), "cas-tls-rel-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const keys = pki(dir);
  const vault = await startVaultStandIn({ tls: keys.vault });
  t.teardown(() => vault.close());
  const wrong = await startVaultStandIn({ tls: keys.wrongName });
  t.teardown(() => wrong.close());
  const user = createTestUser(t);
  // The helpers speak plain http; seed the document over https with the CA.
  const agent = new https.Agent({ ca: readFileSync(keys.ca) });
  await new Promise<void>((resolve, reject) => {
    const body = JSON.stringify({ data: { setup_token: setupToken("T"), vaultwarden: "keep" } });
    const req = https.request(
      new URL(`/v1/secret/data/workstation/claude-users/${user.name}`, vault.addr),
      {
        method: "POST",
        agent,
        headers: { "X-Vault-Token": vault.rootToken, "Content-Type": "application/json" },
      },
      (res) => {
        res.resume();
        res.on("end", () =>
          res.statusCode === 200 ? resolve() : reject(new Error(`seed: ${res.statusCode}`)),
        );
      },
    );
    req.on("error", reject);
    req.end(body);
  });

  const config = (values: Record<string, string>) =>
    makeConfig(t, { CLAUDE_AUTH_SYNC_TIMEOUT_MS: "4000", ...values }, vault.rootToken).path;
  const withCa = config({ VAULT_ADDR: vault.addr, VAULT_CACERT: keys.ca });
  const noCa = config({ VAULT_ADDR: vault.addr });
  const cases: Array<{
    name: string;
    args: string[];
    env?: Record<string, string>;
    expect: 0 | 4;
    refused?: true;
  }> = [
    {
      name: "VAULT_CACERT names the private CA",
      args: ["sync", "--user", user.name, "--config", withCa],
      expect: 0,
    },
    { name: "no VAULT_CACERT", args: ["sync", "--user", user.name, "--config", noCa], expect: 4 },
    {
      name: "no VAULT_CACERT, NODE_TLS_REJECT_UNAUTHORIZED=0 in the environment",
      args: ["sync", "--user", user.name, "--config", noCa],
      env: { NODE_TLS_REJECT_UNAUTHORIZED: "0" },
      expect: 4,
    },
    {
      name: "NODE_TLS_REJECT_UNAUTHORIZED=0 in config.env",
      args: [
        "sync",
        "--user",
        user.name,
        "--config",
        config({ VAULT_ADDR: vault.addr, NODE_TLS_REJECT_UNAUTHORIZED: "0" }),
      ],
      expect: 4,
    },
    {
      name: "VAULT_SKIP_VERIFY=1 in the environment (the vault CLI's switch)",
      args: ["sync", "--user", user.name, "--config", noCa],
      env: { VAULT_SKIP_VERIFY: "1" },
      expect: 4,
    },
    {
      name: "VAULT_SKIP_VERIFY=true in config.env",
      args: [
        "sync",
        "--user",
        user.name,
        "--config",
        config({ VAULT_ADDR: vault.addr, VAULT_SKIP_VERIFY: "true" }),
      ],
      expect: 4,
    },
    {
      name: "NODE_OPTIONS=--use-openssl-ca --tls-min-v1.0 (ignored by the binary)",
      args: ["sync", "--user", user.name, "--config", noCa],
      env: { NODE_OPTIONS: "--use-openssl-ca --tls-min-v1.0", NODE_TLS_REJECT_UNAUTHORIZED: "0" },
      expect: 4,
    },
    {
      name: "VAULT_CACERT names another CA",
      args: [
        "sync",
        "--user",
        user.name,
        "--config",
        config({ VAULT_ADDR: vault.addr, VAULT_CACERT: keys.otherCa }),
      ],
      expect: 4,
    },
    {
      name: "right CA, certificate for another host name",
      args: [
        "sync",
        "--user",
        user.name,
        "--config",
        config({ VAULT_ADDR: wrong.addr, VAULT_CACERT: keys.ca }),
      ],
      expect: 4,
    },
    {
      name: "status without the CA reports Vault unreachable, not fine",
      args: ["status", "--user", user.name, "--config", noCa, "--json"],
      env: { NODE_TLS_REJECT_UNAUTHORIZED: "0" },
      expect: 4,
    },
    {
      name: "pam (strict) with NODE_TLS_REJECT_UNAUTHORIZED=0 in the PAM environment",
      args: ["pam", "--config", config({ VAULT_ADDR: vault.addr, CLAUDE_AUTH_SYNC_PAM_STRICT: "1" })],
      env: {
        PAM_TYPE: "open_session",
        PAM_USER: user.name,
        NODE_TLS_REJECT_UNAUTHORIZED: "0",
        VAULT_SKIP_VERIFY: "1",
      },
      expect: 0,
      refused: true,
    },
    {
      name: "pam (strict): NODE_EXTRA_CA_CERTS in the PAM environment must not add trust for root",
      args: ["pam", "--config", config({ VAULT_ADDR: vault.addr, CLAUDE_AUTH_SYNC_PAM_STRICT: "1" })],
      env: { PAM_TYPE: "open_session", PAM_USER: user.name, NODE_EXTRA_CA_CERTS: keys.ca },
      // Refused before any connection (a loader variable in the PAM environment): exit 0, nothing done.
      expect: 0,
      refused: true,
    },
  ];
  for (const c of cases) {
    const run = await runBinary(c.args, { ...(c.env ? { env: c.env } : {}), timeoutMs: 20_000 });
    const output = run.stdout + run.stderr;
    const named = c.refused
      ? /refused: the PAM environment sets NODE_/.test(output)
      : c.expect === 0 || /TLS verification failed|certificate|altnames|TLS/.test(output);
    // status exits 0 with "unreachable" in its report, or 4: either way it must not say Vault is fine.
    const ok = c.name.startsWith("status")
      ? /TLS verification failed|unreachable|cannot reach/i.test(output)
      : run.code === c.expect && named;
    t.ok(ok, c.name, { code: run.code, output: output.slice(0, 400) });
    tally.record(c.name, {
      survived: ok,
      lost: (c.expect === 4 || c.refused === true) && run.code === 0 && !named,
      note: `exit ${run.code}`,
    });
  }
  tally.print(t);
  t.equal(tally.totals().lost, 0, "verification never turned off");
});
