// The real-server rows of `npm run bench` (group `real`): our login hook and steady sync against a
// real `vault server -dev`, over http and over https (-dev-tls, the CA given as VAULT_CACERT), side by
// side with
//   - the seed's way: a shell script calling the real `vault` CLI, as the old tooling did at login
//     (`vault kv get -format=json`) and for a backup (`vault kv patch -method=rw`);
//   - the floor: a minimal Node 24 single executable, built like ours (scripts/build.mjs), that makes
//     the hook's one Vault request (a KV read over node:net, or node:tls with the same CA) and exits.
// Every round runs all five commands in rotating order; the ratios are medians of per-round ratios.
// Peak RSS is GNU time's %M, the commands interleaved. The requests each command makes are counted
// from the server's file audit device (after the timed rounds, so the audit log costs them nothing).
import { execFileSync, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { delimiter, dirname, join } from "node:path";
import { bundle, singleExecutable } from "../scripts/build.mjs";

const DOC = "secret/workstation/claude-users";

/** VAULT_BIN, `vault` on PATH, or test:vault-real's cached build; never builds one (that takes minutes). */
export function findVaultBinary() {
  const cacheRoot = process.env.CLAUDE_AUTH_SYNC_VAULT_CACHE ?? "/var/cache/claude-auth-sync";
  const version = process.env.CLAUDE_AUTH_SYNC_VAULT_VERSION ?? "v1.19.0";
  const candidates = [
    process.env.VAULT_BIN,
    ...(process.env.PATH ?? "").split(delimiter).map((dir) => dir && join(dir, "vault")),
    join(cacheRoot, `vault-${version}`, "vault"),
  ];
  for (const candidate of candidates) {
    if (!candidate || !existsSync(candidate)) continue;
    const probe = spawnSync(candidate, ["version"], { encoding: "utf8" });
    if (probe.status === 0)
      return { path: candidate, version: probe.stdout.trim().replace(/, built .*/, "") };
  }
  return {
    unavailable: `no real Vault binary (VAULT_BIN, vault on PATH, ${join(cacheRoot, `vault-${version}`, "vault")}); \`sh test/vault-real/vault-bin.sh\` builds one`,
  };
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** `vault server -dev` on 127.0.0.1 (https with -dev-tls); its CLI, as root, for the setup. */
async function startServer(vaultBin, tls, cleanups) {
  const dir = mkdtempSync(join(tmpdir(), `cas-bench-vault-${tls ? "https" : "http"}-`));
  chmodSync(dir, 0o755);
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const certs = join(dir, "certs");
  mkdirSync(certs);
  const rootToken = `bench-root-${randomBytes(8).toString("hex")}`;
  const port = await freePort();
  const addr = `${tls ? "https" : "http"}://127.0.0.1:${port}`;
  const log = join(dir, "server.log");
  const fd = openSync(log, "w");
  const { spawn } = await import("node:child_process");
  const child = spawn(
    vaultBin,
    [
      "server",
      "-dev",
      `-dev-root-token-id=${rootToken}`,
      `-dev-listen-address=127.0.0.1:${port}`,
      ...(tls ? ["-dev-tls", `-dev-tls-cert-dir=${certs}`] : []),
      "-log-level=warn",
    ],
    // HOME is scratch: dev mode writes its root token to ~/.vault-token.
    { env: { PATH: "/usr/bin:/bin", HOME: dir }, stdio: ["ignore", fd, fd] },
  );
  cleanups.push(
    () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once("exit", resolve);
        child.kill("SIGTERM");
      }),
  );
  const cacert = tls ? join(certs, "vault-ca.pem") : undefined;
  const env = {
    PATH: `${dirname(vaultBin)}:/usr/bin:/bin`,
    HOME: dir,
    VAULT_ADDR: addr,
    VAULT_TOKEN: rootToken,
    ...(cacert ? { VAULT_CACERT: cacert } : {}),
  };
  const cli = (args, input) =>
    execFileSync(vaultBin, args, { env, encoding: "utf8", input, stdio: ["pipe", "pipe", "pipe"] });
  const until = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null)
      throw new Error(`vault server exited ${child.exitCode}:\n${readFileSync(log, "utf8")}`);
    if (!tls || existsSync(cacert)) {
      try {
        cli(["status", "-format=json"]);
        break;
      } catch {}
    }
    if (Date.now() > until) throw new Error(`vault server not ready in 30 s:\n${readFileSync(log, "utf8")}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return { addr, dir, cacert, rootToken, cli };
}

/** The seed's two scripts and the floor's source (one KV read, then exit). */
function writeSources(work, vaultBin) {
  const seedLogin = join(work, "seed-login.sh");
  writeFileSync(
    seedLogin,
    `#!/bin/sh
# The seed's login step: read the user's document with the vault CLI.
set -eu
VAULT_TOKEN=$(cat "$SEED_TOKEN_FILE")
export VAULT_TOKEN
exec >/dev/null
${vaultBin} kv get -format=json "${DOC}/$PAM_USER"
`,
    { mode: 0o755 },
  );
  const seedBackup = join(work, "seed-backup.sh");
  writeFileSync(
    seedBackup,
    `#!/bin/sh
# The seed's backup step: merge the credentials file into the user's document (a read, then a write).
set -eu
VAULT_TOKEN=$(cat "$SEED_TOKEN_FILE")
export VAULT_TOKEN
exec >/dev/null
${vaultBin} kv patch -method=rw "${DOC}/$SEED_DOC" "claude_credentials=@$SEED_CREDENTIALS"
`,
    { mode: 0o755 },
  );
  const floor = join(work, "floor.js");
  writeFileSync(
    floor,
    `// The floor: the login hook's one Vault request (a KV v2 read) and nothing else.
const { readFileSync } = require("node:fs");
const url = new URL(process.env.FLOOR_ADDR);
const token = readFileSync(process.env.FLOOR_TOKEN_FILE, "utf8").trim();
const tls = url.protocol === "https:";
const port = Number(url.port) || (tls ? 443 : 80);
const socket = tls
  ? require("node:tls").connect({ host: url.hostname, port, ca: readFileSync(process.env.FLOOR_CACERT) })
  : require("node:net").connect({ host: url.hostname, port });
socket.once(tls ? "secureConnect" : "connect", () => {
  socket.end(
    "GET /v1/${DOC.replace("secret/", "secret/data/")}/" + process.env.PAM_USER + " HTTP/1.1\\r\\nHost: " + url.host +
      "\\r\\nConnection: close\\r\\nX-Vault-Token: " + token + "\\r\\n\\r\\n",
  );
});
const chunks = [];
socket.on("data", (chunk) => chunks.push(chunk));
socket.on("error", () => process.exit(2));
socket.on("end", () => {
  const text = Buffer.concat(chunks).toString("utf8");
  const ok = text.startsWith("HTTP/1.1 200") && JSON.parse(text.slice(text.indexOf("\\r\\n\\r\\n") + 4)).data.data;
  process.exit(ok ? 0 : 1);
});
`,
  );
  return { seedLogin, seedBackup, floor };
}

/** Runs every fn once per round, in rotating order; medians of per-round ratios named in `pairs`. */
async function rotating(rounds, fns, pairs, median) {
  const names = Object.keys(fns);
  for (let i = 0; i < 2; i++) for (const name of names) await fns[name]();
  const times = Object.fromEntries(names.map((n) => [n, []]));
  const ratios = Object.fromEntries(Object.keys(pairs).map((p) => [p, []]));
  for (let i = 0; i < rounds; i++) {
    const round = {};
    for (let k = 0; k < names.length; k++) {
      const name = names[(i + k) % names.length];
      round[name] = await fns[name]();
    }
    for (const name of names) times[name].push(round[name]);
    for (const [pair, [b, a]] of Object.entries(pairs)) ratios[pair].push(round[b] / round[a]);
  }
  return {
    rounds,
    ratios: Object.fromEntries(Object.entries(ratios).map(([p, v]) => [p, median(v)])),
    medianMs: Object.fromEntries(names.map((n) => [n, median(times[n])])),
  };
}

/** The response entries of the audit log since `mark` lines, as { reads, writes, paths }. */
function auditSince(file, mark) {
  const lines = existsSync(file) ? readFileSync(file, "utf8").split("\n").filter(Boolean) : [];
  const entries = lines
    .slice(mark)
    .map((line) => JSON.parse(line))
    .filter((e) => e.type === "response");
  return {
    reads: entries.filter((e) => e.request?.operation === "read").length,
    writes: entries.filter((e) => ["create", "update", "patch", "delete"].includes(e.request?.operation))
      .length,
    paths: entries.map((e) => `${e.request?.operation} ${e.request?.path}`),
    mark: lines.length,
  };
}

/**
 * Measures the real-server rows. `h`: the harness of bench/run.mjs (run, median, makeUser, asUser,
 * freshCopy, cleanups, work, binary, quick, setupToken). Returns { results, rows, failures }.
 */
export async function realVaultBench(h) {
  const found = findVaultBinary();
  if (found.unavailable) return { results: { unavailable: found.unavailable }, rows: [], failures: [] };
  const { run, median, work, binary, quick } = h;
  const rounds = quick ? 3 : 40;
  const rssRounds = quick ? 2 : 10;
  const { seedLogin, seedBackup, floor } = writeSources(work, found.path);

  const floorBundle = join(work, "floor.cjs");
  await bundle(floor, floorBundle);
  singleExecutable(floorBundle, join(work, "floor.built"));
  const floorBin = join(work, "floor");
  h.freshCopy(join(work, "floor.built"), floorBin);

  const loginUser = h.makeUser();
  const syncUser = h.makeUser();
  const credential = {
    accessToken: "sk-ant-oat01-a",
    refreshToken: "sk-ant-ort01-r",
    expiresAt: Date.now() + 8 * 3600e3,
  };
  const credentials = JSON.stringify({ claudeAiOauth: credential });
  h.asUser(
    syncUser,
    'mkdir -p -m 700 "$1/.claude" && umask 077 && cat > "$1/.claude/.credentials.json"',
    credentials,
  );
  // The seed read the same file as root; a copy of it here, merged into a document of its own (a field
  // the seed wrote must not look like a change to our sync's document).
  const seedCredentials = join(work, "seed-credentials.json");
  writeFileSync(seedCredentials, credentials, { mode: 0o600 });

  const results = { vault: found.version, rounds, rssRounds };
  const rows = [];
  const failures = [];
  const f = (x) => (typeof x === "number" ? x.toFixed(3) : String(x));
  for (const tls of [false, true]) {
    const transport = tls ? "https" : "http";
    const server = await startServer(found.path, tls, h.cleanups);
    server.cli(
      ["policy", "write", "host", "-"],
      `path "${DOC.replace("secret/", "secret/data/")}/*" { capabilities = ["create", "read", "update"] }\n`,
    );
    const hostToken = server.cli(["token", "create", "-policy=host", "-orphan", "-field=token"]).trim();
    const tokenFile = join(server.dir, "token");
    writeFileSync(tokenFile, `${hostToken}\n`, { mode: 0o600 });
    server.cli([
      "kv",
      "put",
      `${DOC}/${loginUser.name}`,
      `setup_token=${h.setupToken}`,
      "vaultwarden_x=kept",
    ]);
    server.cli(["kv", "put", `${DOC}/${syncUser.name}`, "vaultwarden_x=kept"]);
    server.cli(["kv", "put", `${DOC}/${syncUser.name}-seed`, "vaultwarden_x=kept"]);
    const config = join(server.dir, "config.env");
    writeFileSync(
      config,
      `VAULT_ADDR=${server.addr}\n${server.cacert ? `VAULT_CACERT=${server.cacert}\n` : ""}CLAUDE_AUTH_SYNC_IDENTITY=host\nCLAUDE_AUTH_SYNC_TOKEN_FILE=${tokenFile}\nCLAUDE_AUTH_SYNC_SERVICE_ENV_DIR=${join(server.dir, "service-env")}\nCLAUDE_AUTH_SYNC_RENEW=0\n`,
      { mode: 0o644 },
    );
    const seedEnv = {
      PATH: "/usr/bin:/bin",
      HOME: server.dir,
      VAULT_ADDR: server.addr,
      ...(server.cacert ? { VAULT_CACERT: server.cacert } : {}),
      SEED_TOKEN_FILE: tokenFile,
      PAM_USER: loginUser.name,
      PAM_TYPE: "open_session",
      SEED_DOC: `${syncUser.name}-seed`,
      SEED_CREDENTIALS: seedCredentials,
    };
    const floorEnv = {
      FLOOR_ADDR: server.addr,
      FLOOR_TOKEN_FILE: tokenFile,
      ...(server.cacert ? { FLOOR_CACERT: server.cacert } : {}),
      PAM_USER: loginUser.name,
    };
    const pamEnv = { PAM_USER: loginUser.name, PAM_TYPE: "open_session" };
    const commands = {
      seedGet: ["/bin/sh", [seedLogin], seedEnv],
      floor: [floorBin, [], floorEnv],
      hook: [binary, ["pam", "--config", config], pamEnv],
      seedPatch: ["/bin/sh", [seedBackup], seedEnv],
      sync: [binary, ["sync", "--user", syncUser.name, "--config", config], {}],
    };
    const fns = {};
    const statuses = {};
    for (const [name, [cmd, args, env]] of Object.entries(commands)) {
      fns[name] = async () => {
        const r = await run(cmd, args, { env });
        if (r.code !== 0) statuses[name] = `exited ${r.code}: ${r.stderr.trim().split("\n").at(-1)}`;
        return r.ms;
      };
    }
    // The first sync backs the credential up; from then on it is the steady state (1 read, no write).
    await fns.sync();
    await fns.hook();
    const timing = await rotating(
      rounds,
      fns,
      {
        hookOverSeed: ["hook", "seedGet"],
        hookOverFloor: ["hook", "floor"],
        floorOverSeed: ["floor", "seedGet"],
        syncOverSeedBackup: ["sync", "seedPatch"],
      },
      median,
    );
    let memory = { unavailable: "install GNU time (/usr/bin/time) to measure peak RSS" };
    if (existsSync("/usr/bin/time")) {
      const kib = Object.fromEntries(Object.keys(commands).map((n) => [n, []]));
      for (let i = 0; i < rssRounds; i++)
        for (const [name, [cmd, args, env]] of Object.entries(commands)) {
          const r = spawnSync("/usr/bin/time", ["-f", "%M", cmd, ...args], { env, encoding: "utf8" });
          kib[name].push(Number(r.stderr.trim().split("\n").at(-1)));
        }
      memory = Object.fromEntries(Object.entries(kib).map(([n, v]) => [`${n}KiB`, median(v)]));
    }
    // Counted: the requests each makes, from the audit device (enabled only now).
    const audit = join(server.dir, "audit.log");
    server.cli(["audit", "enable", "file", `file_path=${audit}`]);
    let mark = auditSince(audit, 0).mark;
    const requests = {};
    for (const name of Object.keys(commands)) {
      await fns[name]();
      const seen = auditSince(audit, mark);
      mark = seen.mark;
      requests[name] = { reads: seen.reads, writes: seen.writes, paths: seen.paths };
    }
    for (const [name, status] of Object.entries(statuses))
      failures.push(`real Vault ${transport}: ${name} ${status}`);
    for (const name of ["hook", "sync"])
      if (requests[name].reads !== 1 || requests[name].writes !== 0)
        failures.push(
          `real Vault ${transport}: steady ${name} made ${requests[name].reads} reads, ${requests[name].writes} writes (goal 1, 0)`,
        );
    results[transport] = { addr: server.addr, ...timing, memory, requests, failed: statuses };

    const ms = timing.medianMs;
    const goalSeed = tls ? "≤ 0.5 (goal)" : "";
    rows.push(
      [
        `real Vault ${transport}: login hook / seed (vault kv get)`,
        f(timing.ratios.hookOverSeed),
        goalSeed,
        `${f(ms.hook)} ms vs ${f(ms.seedGet)} ms${tls ? (timing.ratios.hookOverSeed <= 0.5 ? ", met" : ", not met") : ""}`,
      ],
      [
        `real Vault ${transport}: login hook / floor (one KV read)`,
        f(timing.ratios.hookOverFloor),
        "≤ 1.1 (goal)",
        `${f(ms.hook)} ms vs ${f(ms.floor)} ms, ${timing.ratios.hookOverFloor <= 1.1 ? "met" : "not met"}`,
      ],
      [
        `real Vault ${transport}: steady sync / seed (vault kv patch -method=rw)`,
        f(timing.ratios.syncOverSeedBackup),
        "",
        `${f(ms.sync)} ms vs ${f(ms.seedPatch)} ms`,
      ],
      [
        `real Vault ${transport}: peak RSS hook / seed / floor`,
        memory.unavailable ?? `${memory.hookKiB} / ${memory.seedGetKiB} / ${memory.floorKiB} KiB`,
        "",
        memory.unavailable ? "" : `hook / seed ${f(memory.hookKiB / memory.seedGetKiB)}`,
      ],
      [
        `real Vault ${transport}: requests hook / sync / seed get / seed patch`,
        ["hook", "sync", "seedGet", "seedPatch"]
          .map((n) => `${requests[n].reads}r${requests[n].writes}w`)
          .join(" / "),
        "hook, sync: 1r0w",
        "audit device",
      ],
    );
  }
  return { results, rows, failures };
}
