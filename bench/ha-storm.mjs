// The 9 a.m. login storm (2,000 logins a minute) replayed against a real 3-node Vault cluster with
// integrated storage (test/vault-real/ha-cluster.ts): `claude-auth pam` for setup-token users at the
// storm's rate, VAULT_ADDR listing the three nodes. Reports p50/p99 login time and the CPU the three
// Vault processes spent (from /proc/<pid>/stat), per login and as cores used during the storm.
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { build } from "esbuild";

const LOGINS_PER_MINUTE = 2000;
const CLOCK_TICKS = 100; // USER_HZ on Linux

/** utime + stime of a process, in seconds; 0 when it is gone. */
function cpuSeconds(pid) {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return 0;
  }
}

function percentile(values, p) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/**
 * `context`: the bench's helpers (run, median, makeUser, cleanups, work, binary, quick, setupToken,
 * writeConfig). Quick mode skips the storm with a printed reason: the cluster alone takes ~15 s.
 */
export async function haStormBench(context) {
  const { run, makeUser, cleanups, binary, quick, setupToken, writeConfig } = context;
  if (quick) return { skipped: "quick mode: the 3-node cluster storm runs in the full bench only" };
  // Bundled beside its source: the harness finds vault-bin.sh next to itself (import.meta.url).
  const out = join(context.root, "test", "vault-real", `.ha-cluster.bench-${process.pid}.mjs`);
  cleanups.push(() => rmSync(out, { force: true }));
  await build({
    entryPoints: [join(context.root, "test", "vault-real", "ha-cluster.ts")],
    outfile: out,
    bundle: true,
    platform: "node",
    format: "esm",
    logLevel: "warning",
  });
  let startHaCluster;
  try {
    ({ startHaCluster } = await import(pathToFileURL(out).href));
  } catch (error) {
    return { skipped: `cannot load the cluster harness: ${error.message}` };
  }
  let cluster;
  try {
    cluster = await startHaCluster(3);
  } catch (error) {
    return { skipped: `no real Vault cluster: ${String(error.message).split("\n")[0]}` };
  }
  cleanups.push(() => cluster.close());
  const users = Array.from({ length: 8 }, () => makeUser());
  const leader = await cluster.leader();
  for (const user of users) {
    const answer = await fetch(
      new URL(`/v1/secret/data/workstation/claude-users/${user.name}`, leader.addr),
      {
        method: "POST",
        headers: { "X-Vault-Token": cluster.rootToken, "Content-Type": "application/json" },
        body: JSON.stringify({ data: { setup_token: setupToken, vaultwarden_x: "kept" } }),
      },
    );
    if (!answer.ok) throw new Error(`seeding ${user.name}: HTTP ${answer.status}`);
  }
  const config = writeConfig(cluster.nodes.map((n) => n.addr).join(","), cluster.hostToken);
  const login = (user) =>
    run(binary, ["pam", "--config", config], { env: { PAM_USER: user.name, PAM_TYPE: "open_session" } });
  for (const user of users) await login(user); // steady state: the env files exist
  const seconds = 15;
  const rate = LOGINS_PER_MINUTE / 60;
  const count = Math.round(seconds * rate);
  const cpuBefore = cluster.nodes.reduce((sum, n) => sum + cpuSeconds(n.pid), 0);
  const durations = [];
  let failed = 0;
  const pending = [];
  const startedAt = Date.now();
  for (let i = 0; i < count; i++) {
    const due = startedAt + (i * 1000) / rate;
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, due - Date.now())));
    pending.push(
      login(users[i % users.length]).then((r) => {
        durations.push(r.ms);
        if (r.code !== 0) failed++;
      }),
    );
  }
  await Promise.all(pending);
  const wallSeconds = (Date.now() - startedAt) / 1000;
  const vaultCpuSeconds = cluster.nodes.reduce((sum, n) => sum + cpuSeconds(n.pid), 0) - cpuBefore;
  return {
    server: cluster.version,
    nodes: cluster.nodes.length,
    loginsPerMinute: LOGINS_PER_MINUTE,
    logins: durations.length,
    failed,
    p50Ms: percentile(durations, 50),
    p99Ms: percentile(durations, 99),
    vaultCpuMsPerLogin: (vaultCpuSeconds * 1000) / Math.max(1, durations.length),
    vaultCoresDuringStorm: vaultCpuSeconds / wallSeconds,
  };
}
