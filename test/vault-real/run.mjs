#!/usr/bin/env node
// `npm run test:vault-real`: obtains a real Vault server (vault-bin.sh: VAULT_BIN, vault/bao on PATH, a
// cached build, or a build from the Go module proxy, which takes a while the first time), runs the Vault
// contract and the end-to-end flows against it with tap, and prints which server ran and how many tests
// passed. No server is a failure, never a skip.
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const here = fileURLToPath(new URL(".", import.meta.url));
const repo = join(here, "../..");
const suites = [
  ["contract", "test/vault-real/contract.vault-real.ts"],
  ["flows", "test/vault-real/flows.vault-real.ts"],
  // slapd + nslcd (NSS) + pam_ldap + Vault's ldap auth: the users exist only in the directory.
  ["directory", "test/vault-real/directory.vault-real.ts"],
  // CLAUDE_AUTH_SYNC_IDENTITY=user: enroll, the user's own token for every run, renewal, expiry, unenroll.
  ["identity", "test/vault-real/identity.vault-real.ts"],
  // A 3-node raft cluster: forwarding through a standby, failover under load, step-down, sealed/frozen nodes.
  ["ha", "test/vault-real/ha.vault-real.ts"],
  // The same cluster over TLS (private CA, VAULT_CACERT): leader, standby, the listed cluster losing its leader.
  ["ha-tls", "test/vault-real/ha-tls.vault-real.ts"],
];

console.log("== real Vault server");
const started = Date.now();
const found = spawnSync("sh", [join(here, "vault-bin.sh")], {
  cwd: repo,
  stdio: ["ignore", "pipe", "inherit"],
  encoding: "utf8",
});
const binary = (found.stdout ?? "").trim().split("\n").at(-1) ?? "";
if (found.status !== 0 || !binary || !existsSync(binary)) {
  console.log(
    `vault-real: FAILED: no real Vault server could be obtained (vault-bin.sh exit ${found.status})`,
  );
  process.exit(1);
}
const version = spawnSync(binary, ["version"], { encoding: "utf8" });
const versionLine = ((version.stdout ?? "").trim().split("\n")[0] ?? "").replace(/, built .*/, "");
if (version.status !== 0) {
  console.log(`vault-real: FAILED: ${binary} version: exit ${version.status}\n${version.stderr}`);
  process.exit(1);
}
console.log(
  `vault-real: server ${versionLine} (${binary}), ready in ${((Date.now() - started) / 1000).toFixed(1)} s`,
);

const reports = mkdtempSync(join(tmpdir(), "cas-vault-real-report-"));
const tap = join(repo, "node_modules/.bin/tap");
const testsStarted = Date.now();
const code = await new Promise((resolve) => {
  const child = spawn(tap, ["--timeout=600", ...suites.map(([, file]) => file)], {
    cwd: repo,
    stdio: "inherit",
    env: { ...process.env, CLAUDE_AUTH_SYNC_VAULT_REAL_REPORT_DIR: reports },
  });
  child.on("close", (status) => resolve(status ?? 1));
});
const seconds = ((Date.now() - testsStarted) / 1000).toFixed(0);

let passed = 0;
let failed = 0;
const lines = [];
for (const [suite] of suites) {
  const file = join(reports, `${suite}.json`);
  if (!existsSync(file)) {
    lines.push(`vault-real: ${suite}: no report (the test file did not start: see above)`);
    failed++;
    continue;
  }
  const report = JSON.parse(readFileSync(file, "utf8"));
  passed += report.passed.length;
  failed += report.failed.length;
  lines.push(
    `vault-real: ${suite} tests against ${report.server}: ${report.passed.length} passed, ${report.failed.length} failed`,
  );
  for (const name of report.failed) lines.push(`vault-real:   FAILED ${suite}: ${name}`);
}
rmSync(reports, { recursive: true, force: true });
for (const line of lines) console.log(line);
console.log(`vault-real: tap exit ${code} after ${seconds} s`);
console.log(`${passed} passed, ${failed} failed`);
process.exit(code === 0 && failed === 0 ? 0 : 1);
