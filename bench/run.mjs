#!/usr/bin/env node
// npm run bench [-- --quick] [-- --check] [-- --only shell,memory]
// Side-by-side measurements in one run (the machine is shared and noisy: ratios, not absolute times).
// --quick: fewer rounds (CI). --check: exit 1 when a counted figure misses its goal (requests,
// processes spawned); times never fail a run. --only: measure just these row groups (default: all).
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { build } from "esbuild";
import { bundle, singleExecutable } from "../scripts/build.mjs";
import { haStormBench } from "./ha-storm.mjs";
import { realVaultBench } from "./real-vault.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const work = join(root, "bench", ".work");
const quick = process.argv.includes("--quick");
const check = process.argv.includes("--check");
const GROUPS = ["login", "sync", "traffic", "memory", "shell", "fleet", "real"];
const onlyAt = process.argv.indexOf("--only");
const onlyList =
  process.argv.find((arg) => arg.startsWith("--only="))?.slice("--only=".length) ??
  (onlyAt === -1 ? GROUPS.join(",") : (process.argv[onlyAt + 1] ?? ""));
const selected = new Set(onlyList.split(","));
const runs = (...groups) => groups.some((group) => selected.has(group));
const ROUNDS = quick ? 8 : 40;
// --baseline PATH: also measure another build of the login hook (e.g. the previous commit's) in the
// same rounds, so a change's cost is read side by side: login hook / baseline hook.
const baselineAt = process.argv.indexOf("--baseline");
const BASELINE_BUILT = baselineAt === -1 ? undefined : process.argv[baselineAt + 1];
const BUILT = join(root, "dist", "claude-auth");
// What runs is a copy, made the same way as the hello-world's: how a 120 MB executable was last
// written (postject in place, or a copy) changes its start-up time by ~10% and its peak RSS by
// ~20 MB on this machine (the page cache keeps the file in different folio sizes), whatever the code.
const BINARY = join(work, "claude-auth");
const SNIPPET = join(root, "shell", "claude-auth.sh");
const results = { machine: {}, goals: {}, measurements: {} };
const cleanups = [];

/** A new file with the same bytes (both executables are measured as such copies, see BINARY). */
function freshCopy(from, to) {
  rmSync(to, { force: true });
  copyFileSync(from, to);
  chmodSync(to, 0o755);
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}
function percentile(values, p) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

/**
 * Runs a command; `ms` is the time to its exit, which is what pam_exec waits for (`waitpid`; with the
 * installed PAM line, no `stdout` option, it never reads the hook's output). A child the command
 * leaves behind holding its stderr (the login watchdog's bash, until it sees the hook gone) delays
 * only the resolution, for the stderr text, not `ms`.
 */
function run(command, args, options = {}) {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn(command, args, { stdio: ["ignore", "ignore", "pipe"], ...options });
    let stderr = "";
    let ms;
    child.stderr?.on("data", (c) => {
      stderr += c;
    });
    child.on("error", reject);
    child.on("exit", () => {
      ms = Number(process.hrtime.bigint() - started) / 1e6;
    });
    child.on("close", (code) => resolve({ code, ms, stderr }));
  });
}

/** bare, hook and baseline hook in rotating order each round; medians of the per-round ratios. */
async function threeWay(rounds, bare, hook, baseline) {
  const fns = [bare, hook, baseline];
  for (let i = 0; i < 2; i++) for (const fn of fns) await fn();
  const times = [[], [], []];
  const ratios = { hook: [], baseline: [], hookOverBaseline: [] };
  for (let i = 0; i < rounds; i++) {
    const round = [];
    for (let k = 0; k < 3; k++) {
      const index = (i + k) % 3;
      round[index] = await fns[index]();
    }
    for (const [index, ms] of round.entries()) times[index].push(ms);
    ratios.hook.push(round[1] / round[0]);
    ratios.baseline.push(round[2] / round[0]);
    ratios.hookOverBaseline.push(round[1] / round[2]);
  }
  return {
    hookRatio: median(ratios.hook),
    baselineRatio: median(ratios.baseline),
    hookOverBaseline: median(ratios.hookOverBaseline),
    medianBare: median(times[0]),
    medianHook: median(times[1]),
    medianBaseline: median(times[2]),
  };
}

/** Alternates A and B, `rounds` pairs, and returns the median of the per-pair ratios B/A. */
async function sideBySide(rounds, a, b) {
  const ratios = [];
  const as = [];
  const bs = [];
  for (let i = 0; i < 2; i++) {
    await a();
    await b();
  }
  for (let i = 0; i < rounds; i++) {
    const first = i % 2 === 0;
    const ta = first ? await a() : undefined;
    const tb = await b();
    const tA = first ? ta : await a();
    as.push(tA);
    bs.push(tb);
    ratios.push(tb / tA);
  }
  return { ratio: median(ratios), medianA: median(as), medianB: median(bs) };
}

async function loadStandIn() {
  const out = join(work, "standin.mjs");
  await build({
    entryPoints: [join(root, "test", "vault", "standin.ts")],
    outfile: out,
    bundle: true,
    platform: "node",
    format: "esm",
    logLevel: "warning",
  });
  return import(pathToFileURL(out).href);
}

function vaultCall(addr, token, method, path, body) {
  return fetch(new URL(`/v1/${path}`, addr), {
    method,
    headers: { "X-Vault-Token": token, "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  }).then(async (r) => ({ status: r.status, body: await r.text() }));
}

function makeUser() {
  const name = `casbench${randomBytes(3).toString("hex")}`;
  execFileSync("useradd", ["--create-home", "--shell", "/bin/bash", name], { stdio: "ignore" });
  cleanups.push(() => execFileSync("userdel", ["--remove", "--force", name], { stdio: "ignore" }));
  const [, , uid, gid, , home] = execFileSync("getent", ["passwd", name]).toString().trim().split(":");
  return { name, uid: Number(uid), gid: Number(gid), home };
}

function asUser(user, script, input) {
  execFileSync(
    "runuser",
    ["-u", user.name, "--", "sh", "-c", script, "sh", user.home],
    input ? { input } : {},
  );
}

const setupToken = `sk-ant-oat01-${"b".repeat(60)}`;

async function main() {
  if (process.getuid?.() !== 0) {
    console.error(
      "bench: run as root (it creates throwaway users with useradd and runs the login hook as root)",
    );
    process.exit(2);
  }
  const unknown = [...selected].filter((group) => !GROUPS.includes(group));
  if (unknown.length) {
    console.error(`bench: --only takes a comma list of ${GROUPS.join(", ")}; not ${unknown.join(", ")}`);
    process.exit(2);
  }
  mkdirSync(work, { recursive: true });
  // Every group but the shell start-up runs the single executable (against the Vault stand-in, and
  // `real` against a real Vault dev server, bench/real-vault.mjs).
  const needsBinary = runs("login", "sync", "traffic", "memory", "fleet", "real");
  if (needsBinary && !existsSync(BUILT))
    execFileSync("npm", ["run", "build"], { cwd: root, stdio: "inherit" });
  if (needsBinary) freshCopy(BUILT, BINARY);
  results.machine = {
    cpus: (await import("node:os")).cpus().length,
    model: (await import("node:os")).cpus()[0]?.model,
    kernel: (await import("node:os")).release(),
    date: new Date().toISOString(),
    quick,
  };

  // The bare runtime: a hello-world single executable built exactly like ours.
  const hello = join(work, "hello");
  if (runs("login", "sync", "memory")) {
    const helloSource = join(work, "hello.js");
    writeFileSync(helloSource, 'process.stdout.write("hello\\n");\n');
    const helloBundle = join(work, "hello.cjs");
    await bundle(helloSource, helloBundle);
    singleExecutable(helloBundle, `${hello}.built`);
    freshCopy(`${hello}.built`, hello);
  }

  let vault;
  let config;
  if (needsBinary) {
    const { startVaultStandIn } = await loadStandIn();
    vault = await startVaultStandIn();
    cleanups.push(() => vault.close());
    const policy =
      'path "secret/data/workstation/claude-users/*" { capabilities = ["create", "read", "update"] }';
    await vaultCall(vault.addr, vault.rootToken, "PUT", "sys/policies/acl/host", { policy });
    const created = JSON.parse(
      (
        await vaultCall(vault.addr, vault.rootToken, "POST", "auth/token/create", {
          policies: ["host"],
          no_parent: true,
        })
      ).body,
    );
    const configDir = mkdtempSync(join(tmpdir(), "cas-bench-"));
    cleanups.push(() => rmSync(configDir, { recursive: true, force: true }));
    execFileSync("chmod", ["755", configDir]);
    writeFileSync(join(configDir, "token"), `${created.auth.client_token}\n`, { mode: 0o600 });
    config = join(configDir, "config.env");
    writeFileSync(
      config,
      // The host identity, as the baseline builds (which predate user mode) understand it: the same one
      // Vault read per login either way; user mode adds only the token file to the same identity switch.
      `VAULT_ADDR=${vault.addr}\nCLAUDE_AUTH_SYNC_IDENTITY=host\nCLAUDE_AUTH_SYNC_TOKEN_FILE=${join(configDir, "token")}\nCLAUDE_AUTH_SYNC_SERVICE_ENV_DIR=${join(configDir, "service-env")}\nCLAUDE_AUTH_SYNC_RENEW=0\n`,
      { mode: 0o644 },
    );
  }

  // --- login hook, setup-token mode, steady state
  const tokenUser = makeUser();
  const pamEnv = { PAM_USER: tokenUser.name, PAM_TYPE: "open_session" };
  const pam = async () => (await run(BINARY, ["pam", "--config", config], { env: pamEnv })).ms;
  if (needsBinary) {
    await vaultCall(
      vault.addr,
      vault.rootToken,
      "POST",
      `secret/data/workstation/claude-users/${tokenUser.name}`,
      {
        data: { setup_token: setupToken, vaultwarden_x: "kept" },
      },
    );
    await pam();
  }
  const bare = async () => (await run(hello, [])).ms;
  const login = runs("login") ? await sideBySide(ROUNDS, bare, pam) : undefined;
  let versusBaseline;
  if (runs("login") && BASELINE_BUILT) {
    const baseline = join(work, "claude-auth-baseline");
    freshCopy(BASELINE_BUILT, baseline);
    const pamBaseline = async () => (await run(baseline, ["pam", "--config", config], { env: pamEnv })).ms;
    versusBaseline = await threeWay(ROUNDS, bare, pam, pamBaseline);
  }

  // --- steady-state rotating sync (nothing to back up)
  const rotUser = runs("sync", "traffic") ? makeUser() : undefined;
  const sync = async () => (await run(BINARY, ["sync", "--user", rotUser.name, "--config", config])).ms;
  if (rotUser) {
    const credential = {
      accessToken: "sk-ant-oat01-a",
      refreshToken: "sk-ant-ort01-r",
      expiresAt: Date.now() + 8 * 3600e3,
    };
    asUser(
      rotUser,
      'mkdir -p -m 700 "$1/.claude" && umask 077 && cat > "$1/.claude/.credentials.json"',
      JSON.stringify({ claudeAiOauth: credential }),
    );
    await sync();
  }
  const steady = runs("sync") ? await sideBySide(ROUNDS, bare, sync) : undefined;

  // --- Vault traffic (counted); the fleet model counts the steady login's requests too
  let steadyLogin;
  if (runs("traffic", "fleet")) {
    vault.clearRequests();
    await run(BINARY, ["pam", "--config", config], { env: pamEnv });
    steadyLogin = {
      reads: vault.countRequests({ method: "GET" }),
      writes: vault.countRequests({ method: "POST" }) + vault.countRequests({ method: "PUT" }),
    };
  }
  let steadyRotating;
  let enableTraffic;
  if (runs("traffic")) {
    vault.clearRequests();
    await run(BINARY, ["sync", "--user", rotUser.name, "--config", config]);
    steadyRotating = {
      reads: vault.countRequests({ method: "GET" }),
      writes: vault.countRequests({ method: "POST" }) + vault.countRequests({ method: "PUT" }),
    };
    const freshUser = makeUser();
    await vaultCall(
      vault.addr,
      vault.rootToken,
      "POST",
      `secret/data/workstation/claude-users/${freshUser.name}`,
      { data: { vaultwarden_x: "kept" } },
    );
    vault.clearRequests();
    // Asynchronous: the Vault stand-in answers from this very process.
    const enable = await new Promise((resolve) => {
      const child = spawn(BINARY, ["enable", "--user", freshUser.name, "--no-verify", "--config", config], {
        stdio: ["pipe", "ignore", "ignore"],
      });
      child.on("close", (status) => resolve({ status }));
      child.stdin.end(`${setupToken}\n`);
    });
    enableTraffic =
      enable.status === 0
        ? {
            reads: vault.countRequests({ method: "GET" }),
            writes: vault.countRequests({ method: "POST" }) + vault.countRequests({ method: "PUT" }),
          }
        : { unavailable: `enable exited ${enable.status}` };
  }

  // --- memory: peak RSS of the login hook against the bare runtime (GNU time)
  let memory;
  if (runs("memory")) {
    memory = { unavailable: "install GNU time (/usr/bin/time) to measure peak RSS" };
    if (existsSync("/usr/bin/time")) {
      const rss = (args, env) => {
        const r = spawnSync("/usr/bin/time", ["-f", "%M", ...args], { env, encoding: "utf8" });
        return Number(r.stderr.trim().split("\n").at(-1));
      };
      const rounds = quick ? 5 : 15;
      const a = [];
      const b = [];
      for (let i = 0; i < rounds; i++) {
        a.push(rss([hello], {}));
        b.push(rss([BINARY, "pam", "--config", config], pamEnv));
      }
      memory = { bareKiB: median(a), loginHookKiB: median(b), ratio: median(b) / median(a) };
    }
  }

  // --- real Vault dev server, http and https: the seed's vault CLI script and the floor (bench/real-vault.mjs)
  let real;
  if (runs("real")) {
    real = await realVaultBench({
      run,
      median,
      makeUser,
      asUser,
      freshCopy,
      cleanups,
      work,
      binary: BINARY,
      quick,
      setupToken,
    });
    if (real.results.unavailable) console.log(`bench: real Vault rows skipped: ${real.results.unavailable}`);
  }
  // --- the login storm against a real 3-node raft cluster (bench/ha-storm.mjs; full runs only)
  let storm;
  if (runs("real")) {
    storm = await haStormBench({
      run,
      makeUser,
      cleanups,
      work,
      root,
      binary: BINARY,
      quick,
      setupToken,
      writeConfig: (addrs, token) => {
        const dir = mkdtempSync(join(tmpdir(), "cas-bench-ha-"));
        cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
        execFileSync("chmod", ["755", dir]);
        writeFileSync(join(dir, "token"), `${token}\n`, { mode: 0o600 });
        const path = join(dir, "config.env");
        writeFileSync(
          path,
          `VAULT_ADDR=${addrs}\nCLAUDE_AUTH_SYNC_IDENTITY=host\nCLAUDE_AUTH_SYNC_TOKEN_FILE=${join(dir, "token")}\nCLAUDE_AUTH_SYNC_SERVICE_ENV_DIR=${join(dir, "service-env")}\nCLAUDE_AUTH_SYNC_RENEW=0\n`,
          { mode: 0o644 },
        );
        return path;
      },
    });
    if (storm.skipped) console.log(`bench: cluster storm skipped: ${storm.skipped}`);
  }

  // --- shell start-up with and without the snippet (env file present), and processes spawned
  let shells;
  if (runs("shell")) {
    shells = {};
    asUser(
      tokenUser,
      `umask 077; mkdir -p "$1/.config/claude-auth-sync"; printf "CLAUDE_CODE_OAUTH_TOKEN=%s\\n" "${setupToken}" > "$1/.config/claude-auth-sync/claude-oauth.env"`,
    );
    const shellEnv = { HOME: tokenUser.home, PATH: "/usr/bin:/bin", TERM: "dumb" };
    const userOpts = { uid: tokenUser.uid, gid: tokenUser.gid, env: shellEnv, cwd: tokenUser.home };
    // Realistic start-ups: the user's own rc files (Debian's skeleton .bashrc, the system zshrc), with
    // and without one line sourcing the snippet.
    asUser(
      tokenUser,
      `mkdir -p "$1/.bench/zdot-without" "$1/.bench/zdot-with" && printf '. "%s/.bashrc"\\n' "$1" > "$1/.bench/rc-without" && printf '. "%s/.bashrc"\\n. ${SNIPPET}\\n' "$1" > "$1/.bench/rc-with" && : > "$1/.bench/zdot-without/.zshrc" && : > "$1/.bench/zdot-with/.zshrc" && printf '. ${SNIPPET}\\n' > "$1/.bench/zdot-with/.zshenv"`,
    );
    const bench = join(tokenUser.home, ".bench");
    const shellCases = [
      [
        "bash -i",
        "/bin/bash",
        ["--rcfile", join(bench, "rc-without"), "-i", "-c", "exit"],
        ["--rcfile", join(bench, "rc-with"), "-i", "-c", "exit"],
        {},
        {},
      ],
      [
        "zsh -i",
        "/usr/bin/zsh",
        ["-i", "-c", "exit"],
        ["-i", "-c", "exit"],
        { ZDOTDIR: join(bench, "zdot-without") },
        { ZDOTDIR: join(bench, "zdot-with") },
      ],
      // ~/.zshenv is read by every zsh: `ssh host cmd` and zsh scripts pay for the snippet too.
      [
        "zsh -c",
        "/usr/bin/zsh",
        ["-c", "exit"],
        ["-c", "exit"],
        { ZDOTDIR: join(bench, "zdot-without") },
        { ZDOTDIR: join(bench, "zdot-with") },
      ],
    ];
    for (const [name, shell, without, withSnippet, envWithout, envWith] of shellCases) {
      if (!existsSync(shell)) {
        shells[name] = { unavailable: `${shell} missing` };
        continue;
      }
      const a = async () =>
        (await run(shell, without, { ...userOpts, env: { ...shellEnv, ...envWithout } })).ms;
      const b = async () =>
        (await run(shell, withSnippet, { ...userOpts, env: { ...shellEnv, ...envWith } })).ms;
      const timing = await sideBySide(quick ? 20 : 100, a, b);
      let spawned = null;
      if (existsSync("/usr/bin/strace")) {
        const count = (args, env) => {
          const out = join(work, `strace-${randomBytes(3).toString("hex")}`);
          // strace runs as root (it writes the trace) and starts the shell as the user (-u).
          spawnSync(
            "/usr/bin/strace",
            [
              "-f",
              "-qq",
              "-u",
              tokenUser.name,
              "-e",
              "trace=execve,fork,vfork,clone,clone3",
              "-o",
              out,
              shell,
              ...args,
            ],
            { env: { ...shellEnv, ...env }, cwd: tokenUser.home },
          );
          const lines = readFileSync(out, "utf8")
            .split("\n")
            .filter((l) => /\b(fork|vfork|clone3?)\(/.test(l) && !/CLONE_THREAD/.test(l) && !/= -1/.test(l));
          rmSync(out, { force: true });
          return lines.length;
        };
        spawned = count(withSnippet, envWith) - count(without, envWithout);
      }
      shells[name] = { ...timing, processesSpawnedBySnippet: spawned };
    }
  }

  // --- fleet model: 10,000 users on 1,000 hosts, timers every 6 h with a fixed random delay in
  // [0, 30 min), plus a 9 a.m. login storm of 2,000 logins/minute (one read per steady login).
  // With renewal on (the default) a timer run renews the 8 h token it finds inside the 7 h window:
  // one read, then under the lock one re-read and one merge-write of the backup.
  let fleet;
  if (runs("fleet")) {
    const users = 10_000;
    const TIMER_REQUESTS_WITH_RENEWAL = 3;
    const perSecond = new Float64Array(86_400);
    for (let u = 0; u < users; u++) {
      const delay = Math.floor(Math.random() * 1800);
      for (const hour of [0, 6, 12, 18]) perSecond[hour * 3600 + delay] += TIMER_REQUESTS_WITH_RENEWAL;
    }
    const stormStart = 9 * 3600;
    const stormLogins = 2000 * 30; // a 30-minute storm
    for (let i = 0; i < stormLogins; i++)
      perSecond[stormStart + Math.floor(Math.random() * 1800)] += steadyLogin.reads + steadyLogin.writes;
    let peak = 0;
    let total = 0;
    for (const v of perSecond) {
      peak = Math.max(peak, v);
      total += v;
    }
    // Measured: real login hooks at the storm's rate against the stand-in with 5 ms added latency.
    vault.inject({ kind: "delay", ms: 5 });
    const stormSeconds = quick ? 2 : 8;
    const rate = 2000 / 60;
    const durations = [];
    const pending = [];
    const startedAt = Date.now();
    for (let i = 0; i < Math.round(stormSeconds * rate); i++) {
      const due = startedAt + (i * 1000) / rate;
      await new Promise((r) => setTimeout(r, Math.max(0, due - Date.now())));
      pending.push(
        run(BINARY, ["pam", "--config", config], { env: pamEnv }).then((r) => durations.push(r.ms)),
      );
    }
    await Promise.all(pending);
    vault.clearFaults();
    fleet = {
      model: {
        users,
        hosts: 1000,
        timerEveryHours: 6,
        randomizedDelayMin: 30,
        timerRequestsWithRenewal: TIMER_REQUESTS_WITH_RENEWAL,
        stormLoginsPerMinute: 2000,
        stormMinutes: 30,
      },
      vaultRequestsPerSecond: { peak, mean: total / 86_400 },
      measuredStorm: {
        logins: durations.length,
        addedLatencyMs: 5,
        p50Ms: median(durations),
        p99Ms: percentile(durations, 99),
      },
    };
  }

  const goals = {
    login: { loginHookRatio: 1.25 },
    sync: { steadySyncRatio: 1.35 },
    shell: { shellRatio: 1.02, processesSpawned: 0 },
    traffic: { steadySync: { reads: 1, writes: 0 } },
    memory: { memoryRatio: 1.1 },
    // Reported, never failed on (times); the requests are counted and fail --check.
    real: {
      realVault: { hookOverSeedHttps: 0.5, hookOverFloor: 1.1, steadyHookAndSync: { reads: 1, writes: 0 } },
    },
  };
  results.goals = Object.assign(
    {},
    ...Object.entries(goals).flatMap(([group, g]) => (runs(group) ? [g] : [])),
  );
  // Groups left out by --only leave their keys out (JSON.stringify drops undefined).
  results.measurements = {
    loginHook: login,
    loginHookVersusBaseline: versusBaseline,
    steadyRotatingSync: steady,
    shells,
    vaultTraffic: runs("traffic")
      ? { steadyRotatingSync: steadyRotating, steadyLogin, enable: enableTraffic }
      : undefined,
    memory,
    fleet,
    realVault: real?.results,
    clusterStorm: storm,
  };
  writeFileSync(join(root, "bench", "results.json"), `${JSON.stringify(results, null, 2)}\n`);

  const f = (x) => (typeof x === "number" ? x.toFixed(3) : String(x));
  const rows = [];
  if (login)
    rows.push([
      "login hook (pam, setup-token) / bare runtime",
      f(login.ratio),
      "≤ 1.25",
      `${f(login.medianB)} ms vs ${f(login.medianA)} ms`,
    ]);
  if (versusBaseline)
    rows.push(
      [
        "login hook / bare runtime (3-way, with --baseline)",
        f(versusBaseline.hookRatio),
        "≤ 1.25",
        `${f(versusBaseline.medianHook)} ms vs ${f(versusBaseline.medianBare)} ms`,
      ],
      [
        "baseline login hook / bare runtime (same rounds)",
        f(versusBaseline.baselineRatio),
        "",
        `${f(versusBaseline.medianBaseline)} ms vs ${f(versusBaseline.medianBare)} ms`,
      ],
      ["login hook / baseline login hook", f(versusBaseline.hookOverBaseline), "", BASELINE_BUILT],
    );
  if (steady)
    rows.push([
      "steady rotating sync / bare runtime",
      f(steady.ratio),
      "≤ 1.35",
      `${f(steady.medianB)} ms vs ${f(steady.medianA)} ms`,
    ]);
  for (const [name, s] of Object.entries(shells ?? {}))
    rows.push([
      `${name} with / without snippet`,
      f(s.ratio),
      "≤ 1.02",
      s.unavailable ?? `${s.processesSpawnedBySnippet} processes spawned`,
    ]);
  if (memory)
    rows.push([
      "memory: login hook / bare runtime (peak RSS)",
      f(memory.ratio),
      "≤ 1.1",
      memory.unavailable ?? `${memory.loginHookKiB} KiB vs ${memory.bareKiB} KiB`,
    ]);
  if (runs("traffic"))
    rows.push(
      [
        "Vault requests, steady rotating sync",
        `${steadyRotating.reads} read, ${steadyRotating.writes} write`,
        "1 read, 0 writes",
        "",
      ],
      [
        "Vault requests, steady login",
        `${steadyLogin.reads} read, ${steadyLogin.writes} write`,
        "1 read, 0 writes",
        "",
      ],
      [
        "Vault requests, enable",
        enableTraffic.unavailable ?? `${enableTraffic.reads} read, ${enableTraffic.writes} write`,
        "",
        "",
      ],
    );
  if (fleet)
    rows.push(
      [
        "fleet: peak / mean Vault req/s",
        `${fleet.vaultRequestsPerSecond.peak} / ${f(fleet.vaultRequestsPerSecond.mean)}`,
        "",
        "10k users, 1k hosts, 9 a.m. storm",
      ],
      [
        "fleet: measured login p50 / p99 at storm rate (+5 ms)",
        `${f(fleet.measuredStorm.p50Ms)} / ${f(fleet.measuredStorm.p99Ms)} ms`,
        "",
        `${fleet.measuredStorm.logins} logins`,
      ],
    );
  if (real?.results.unavailable) rows.push(["real Vault rows", "skipped", "", real.results.unavailable]);
  rows.push(...(real?.rows ?? []));
  if (storm?.skipped) rows.push(["login storm, real 3-node cluster", "skipped", "", storm.skipped]);
  else if (storm)
    rows.push(
      [
        "login storm, real 3-node cluster: p50 / p99",
        `${f(storm.p50Ms)} / ${f(storm.p99Ms)} ms`,
        "",
        `${storm.logins} logins at ${storm.loginsPerMinute}/min, ${storm.failed} failed, Vault ${storm.server}`,
      ],
      [
        "login storm, real 3-node cluster: Vault CPU",
        `${f(storm.vaultCpuMsPerLogin)} ms/login`,
        "",
        `${f(storm.vaultCoresDuringStorm)} cores during the storm (3 nodes)`,
      ],
    );
  console.log("| measurement | result | goal | detail |\n|---|---|---|---|");
  for (const row of rows) console.log(`| ${row.join(" | ")} |`);

  const failures = [...(real?.failures ?? [])];
  if (runs("traffic")) {
    if (steadyRotating.reads !== 1 || steadyRotating.writes !== 0)
      failures.push("steady rotating sync is not 1 read, 0 writes");
    if (steadyLogin.reads !== 1 || steadyLogin.writes !== 0)
      failures.push("steady login is not 1 read, 0 writes");
  }
  for (const [name, s] of Object.entries(shells ?? {})) {
    if (
      s.processesSpawnedBySnippet !== null &&
      s.processesSpawnedBySnippet !== undefined &&
      s.processesSpawnedBySnippet !== 0
    ) {
      failures.push(`${name}: the snippet spawned ${s.processesSpawnedBySnippet} processes`);
    }
  }
  if (failures.length) {
    console.error(`bench: counted figures missed their goals:\n  ${failures.join("\n  ")}`);
    if (check) process.exitCode = 1;
  } else {
    console.log("bench: counted figures meet their goals (requests, processes spawned)");
  }
}

try {
  await main();
} finally {
  for (const cleanup of cleanups.reverse()) {
    try {
      await cleanup();
    } catch {}
  }
}
