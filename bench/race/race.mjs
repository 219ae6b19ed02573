#!/usr/bin/env node
// npm run race  (node bench/race/race.mjs [--seeds 1,2,3] [--days 30] [--modes watch,…]
//                [--renew-window-h 7] [--json PATH] [--quick])
//
// The logout race, reproduced and measured as a discrete-event simulation (simulated time, so 30 days
// take about a second per run). Everything the tool decides comes from the real pure `plan()` of
// src/sync/plan.ts, bundled with esbuild; what the tool does (read and write the credentials file,
// refresh at the token endpoint, merge-write the Vault backup) is simulated around it, as are the
// OAuth server and the Claude Code clients. See docs/race.md for the model, the table and the policy.
import { createHash } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { build } from "esbuild";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const work = join(root, "bench", ".work", "race");

// ---- parameters (docs/race.md explains each) -------------------------------------------------------
const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
const P = {
  days: 30,
  clients: 12, // claude processes per workstation (agents + t3-serve)
  tokenLife: 8 * HOUR, // access-token lifetime
  claudeRefreshBefore: 5 * MIN, // Claude refreshes when the access token expires within this
  requestMean: 30_000, // mean time between two API requests of one client (exponential)
  latency: [300, 2500], // refresh round trip, uniform; the server decides half-way
  noticeMean: 20 * MIN, // a logged-out workstation: the user notices and logs in interactively
  timerEvery: 6 * HOUR, // claude-auth-sync@.timer
  timerDelayMax: 30 * MIN, // RandomizedDelaySec with FixedRandomDelay: a fixed offset per host
  loginHour: 9, // a daily desktop login runs `claude-auth pam` (never renews)
  watchDelay: [200, 2000], // fs.watch event to the end of the watch pass
  watchPoll: 60_000, // the watch service's periodic check
  watchRenewWindow: 1 * HOUR, // its own renewal window (src/sync/watch.ts WATCH_RENEW_WINDOW_MS)
  renewWindow: 7 * HOUR, // CLAUDE_AUTH_SYNC_RENEW_WINDOW_S default
  restoreMargin: 5 * MIN, // CLAUDE_AUTH_SYNC_RESTORE_MARGIN_S default
};

const args = process.argv.slice(2);
const arg = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : fallback;
};
const SEEDS = arg("--seeds", args.includes("--quick") ? "1" : "1,2,3")
  .split(",")
  .map(Number);
P.days = Number(arg("--days", P.days));
P.renewWindow = Number(arg("--renew-window-h", P.renewWindow / HOUR)) * HOUR;
const ONLY = arg("--modes", undefined)?.split(",");
const JSON_OUT = arg("--json", undefined);

// ---- the real decision ----------------------------------------------------------------------------
async function loadPlan() {
  mkdirSync(work, { recursive: true });
  const out = join(work, "plan.mjs");
  await build({
    stdin: {
      contents:
        'export { plan } from "./src/sync/plan.ts";\nexport { parseUserDocument } from "./src/sync/user-document.ts";\nexport { parseCredentialsFile } from "./src/claude/credentials.ts";\n',
      resolveDir: root,
      loader: "ts",
    },
    outfile: out,
    bundle: true,
    platform: "node",
    format: "esm",
    logLevel: "warning",
  });
  return import(pathToFileURL(out).href);
}

// ---- seeded randomness: one stream per source (common random numbers) ----------------------------
// Every source of randomness draws from its own stream, keyed by (seed, workstation, client, purpose)
// and by nothing else: what the tool does cannot shift what a client or the user draws, so every mode
// (and reuse detection on or off) replays the same clients and the same user, and a difference
// between two modes in one seed is an effect, not noise. sfc32, 128-bit state seeded from SHA-256.
function stream(...key) {
  const digest = createHash("sha256").update(key.join("/")).digest();
  let a = digest.readUInt32LE(0);
  let b = digest.readUInt32LE(4);
  let c = digest.readUInt32LE(8);
  let d = digest.readUInt32LE(12);
  const next = () => {
    const t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    return (t >>> 0) / 4294967296;
  };
  for (let i = 0; i < 12; i++) next();
  return next;
}
const exp = (random, mean) => -mean * Math.log(1 - random());
const uniform = (random, [a, b]) => a + (b - a) * random();

// ---- event queue (binary heap on time, FIFO among equal times) -------------------------------------
class Queue {
  constructor() {
    this.heap = [];
    this.seq = 0;
  }
  push(at, fn) {
    const item = { at, seq: this.seq++, fn };
    const h = this.heap;
    h.push(item);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (less(h[p], item)) break;
      h[i] = h[p];
      i = p;
    }
    h[i] = item;
  }
  pop() {
    const h = this.heap;
    const top = h[0];
    const last = h.pop();
    if (h.length > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= h.length) break;
        const r = l + 1;
        const c = r < h.length && less(h[r], h[l]) ? r : l;
        if (less(last, h[c])) break;
        h[i] = h[c];
        i = c;
      }
      h[i] = last;
    }
    return top;
  }
  get size() {
    return this.heap.length;
  }
}
const less = (a, b) => a.at < b.at || (a.at === b.at && a.seq < b.seq);

// ---- the stand-in OAuth server: refresh-token rotation, optional reuse detection -------------------
class OAuthServer {
  constructor(reuseDetection) {
    this.reuseDetection = reuseDetection;
    this.refreshTokens = new Map(); // rt -> { family, spent }
    this.accessTokens = new Map(); // at -> { family, expiresAt }
    this.revoked = new Set();
    this.next = 0;
    this.stats = { refreshes: 0, rejected: 0, familiesRevoked: 0 };
  }
  issue(family, now) {
    const id = ++this.next;
    const credential = {
      accessToken: `sk-ant-oat01-sim${id}`,
      refreshToken: `sk-ant-ort01-sim${id}`,
      expiresAt: now + P.tokenLife,
      scopes: ["user:inference", "user:profile"],
      subscriptionType: "max",
    };
    this.refreshTokens.set(credential.refreshToken, { family, spent: false });
    this.accessTokens.set(credential.accessToken, { family, expiresAt: credential.expiresAt });
    return credential;
  }
  login(now) {
    return this.issue(++this.next, now);
  }
  refresh(refreshToken, now) {
    this.stats.refreshes++;
    const entry = this.refreshTokens.get(refreshToken);
    if (!entry || this.revoked.has(entry.family)) {
      this.stats.rejected++;
      return { error: "invalid_grant" };
    }
    if (entry.spent) {
      this.stats.rejected++;
      if (this.reuseDetection && !this.revoked.has(entry.family)) {
        // A spent refresh token presented again: assume theft, revoke the whole login.
        this.revoked.add(entry.family);
        this.stats.familiesRevoked++;
      }
      return { error: "invalid_grant" };
    }
    entry.spent = true;
    return { credential: this.issue(entry.family, now) };
  }
  accessValid(accessToken, now) {
    if (accessToken.startsWith("setup:")) return true;
    const entry = this.accessTokens.get(accessToken);
    return !!entry && entry.expiresAt > now && !this.revoked.has(entry.family);
  }
}

const STUB = { accessToken: "", refreshToken: "", expiresAt: 0 };
const loggedIn = (c) => !!c && c.accessToken !== "" && c.refreshToken !== "";

// Why plan() refused to restore (outcome sso-required on a logged-out file or a rejected renewal).
function refusalOf(reasons) {
  const last = reasons[reasons.length - 1] ?? "";
  if (last.includes("restored here before")) return "restored-before";
  if (last.includes("another host")) return "cross-host";
  if (last.includes("access token has expired")) return "backup-expired";
  if (last.includes("same rejected refresh token")) return "same-rejected-token";
  if (last.includes("no usable backup")) return "no-backup";
  if (last.includes("logged-out credential")) return "backup-logged-out";
  return "other";
}

// ---- one simulated user with one or two workstations ----------------------------------------------
function simulate({ mode, hosts: hostCount, reuseDetection, crossHost, seed }, lib) {
  const queue = new Queue();
  const server = new OAuthServer(reuseDetection);
  const end = P.days * DAY;
  const tool = usesTool(mode);
  const renew = mode === "sync+renew" || mode === "watch";
  const watch = mode === "watch" || mode === "watch-only";
  // The user's Vault document, shared by the workstations (KV v2 data as the tool stores it).
  const vault = { data: {}, version: 0 };
  const counts = {
    logins: 0, // forced interactive logins: the table
    stubs: 0, // logged-out credentials persisted by a losing client
    repaired: 0, // the user looked at a logged-out workstation and found it logged in again
    clientRefreshes: 0, // refresh requests sent by Claude Code
    restores: 0,
    restoredOnto: {}, // what each restore replaced: logged-out, absent (before the first login), rejected
    restoresSkipped: 0, // planned, but apply found the file valid again
    refused: {}, // passes on a logged-out (or rejected) credential where plan() restored nothing, by reason
    renewals: 0,
    rejectedRenewals: 0,
    backups: 0,
  };
  // A fingerprint of what the clients and the user did (every write of theirs, with its time): equal
  // fingerprints in two modes mean the tool changed no client's fate.
  let trace = 0x811c9dc5;
  const record = (text) => {
    for (let i = 0; i < text.length; i++) trace = Math.imul(trace ^ text.charCodeAt(i), 0x01000193);
  };

  const hosts = [];
  for (let h = 0; h < hostCount; h++) {
    const name = `ws-${String.fromCharCode(97 + h)}`;
    hosts.push({
      name,
      file: { credential: STUB, mtime: 0 },
      clients: [],
      noticePending: false,
      renewing: false,
      watchPending: false,
      random: {
        start: stream(seed, name, "-", "first-login"),
        notice: stream(seed, name, "-", "user-notice"),
        timer: stream(seed, name, "-", "timer-offset"),
        desktopLogin: stream(seed, name, "-", "desktop-login"),
        renewal: stream(seed, name, "-", "renewal-latency"),
        watch: stream(seed, name, "-", "watch-delay"),
      },
    });
  }

  const writeFile = (host, credential, now) => {
    host.file = { credential, mtime: now };
    if (!loggedIn(credential)) {
      counts.stubs++;
      if (!host.noticePending) {
        host.noticePending = true;
        queue.push(now + exp(host.random.notice, P.noticeMean), notice(host));
      }
    }
    if (watch && !host.watchPending) {
      host.watchPending = true;
      queue.push(now + uniform(host.random.watch, P.watchDelay), (t) => {
        host.watchPending = false;
        syncPass(host, t, true);
      });
    }
  };

  // The user finds the workstation logged out: an interactive login, unless something repaired it.
  const notice = (host) => (now) => {
    host.noticePending = false;
    if (loggedIn(host.file.credential)) {
      counts.repaired++;
      return;
    }
    counts.logins++;
    record(`${host.name} login ${now}\n`);
    writeFile(host, server.login(now), now);
  };

  // ---- Claude Code, as the public reports describe it ----
  const clientRequest = (host, client) => (now) => {
    if (now >= end) return;
    // Drawn for every request, used only if it refreshes: request n always gets the same latency.
    const latency = uniform(client.latencies, P.latency);
    queue.push(now + exp(client.requests, P.requestMean), clientRequest(host, client));
    if (host.file.mtime !== client.seenMtime) {
      client.memory = host.file.credential; // re-read on mtime change
      client.seenMtime = host.file.mtime;
    }
    if (mode === "setup-token" || client.refreshing || !loggedIn(client.memory)) return;
    const c = client.memory;
    const due = c.expiresAt - now <= P.claudeRefreshBefore;
    if (!due && server.accessValid(c.accessToken, now)) return; // a normal API call
    // Refresh on expiry, or on a 401. Several processes may do this at once: the race.
    client.refreshing = true;
    counts.clientRefreshes++;
    queue.push(now + latency / 2, (t) => {
      const answer = server.refresh(c.refreshToken, t);
      queue.push(t + latency / 2, (t2) => {
        client.refreshing = false;
        if (answer.credential) {
          client.memory = answer.credential;
          writeFile(host, answer.credential, t2);
          record(`${host.name} ${client.index} refreshed ${t2}\n`);
        } else {
          client.memory = STUB;
          writeFile(host, STUB, t2); // the loser persists a logged-out credential
          record(`${host.name} ${client.index} stub ${t2}\n`);
        }
        client.seenMtime = host.file.mtime;
      });
    });
  };

  // ---- the tool: the real plan(), simulated apply ----
  const documentOf = () => lib.parseUserDocument({ version: vault.version, state: "live", data: vault.data });
  const localOf = (host, renewal) => ({
    envFile: { kind: "absent" },
    credentials: loggedIn(host.file.credential)
      ? { kind: "valid", file: { claudeAiOauth: host.file.credential }, credential: host.file.credential }
      : host.file.mtime === 0
        ? { kind: "absent" }
        : { kind: "logged-out", file: { claudeAiOauth: host.file.credential } },
    ...(renewal ? { renewal } : {}),
    // state.json: the backup this host restored last (never restored onto a stub twice)
    ...(host.lastRestore ? { lastRestore: host.lastRestore } : {}),
  });
  const backup = (host, credential, now) => {
    const stored = documentOf().backup?.credential;
    if (stored && stored.expiresAt > credential.expiresAt) return;
    vault.data = {
      ...vault.data,
      claude_ai_oauth: JSON.stringify(credential),
      claude_ai_oauth_backed_up_at: new Date(now).toISOString(),
      claude_ai_oauth_host: host.name,
    };
    vault.version++;
    counts.backups++;
  };
  // allowRenew: false (the login path), true (the timer: the configured window), or a window in ms.
  const policyFor = (host, allowRenew) => ({
    restoreMarginMs: P.restoreMargin,
    renew:
      renew && allowRenew
        ? { windowMs: typeof allowRenew === "number" ? allowRenew : P.renewWindow }
        : undefined,
    host: host.name,
    crossHostRestore: crossHost,
  });
  const planFor = (host, now, allowRenew, renewal) => {
    const local = localOf(host, renewal);
    const decided = lib.plan(documentOf(), local, now, policyFor(host, allowRenew));
    const broken = local.credentials.kind === "logged-out" || renewal?.kind === "rejected";
    if (broken && decided.outcome === "sso-required") {
      const reason = refusalOf(decided.reasons);
      counts.refused[reason] = (counts.refused[reason] ?? 0) + 1;
    }
    return decided;
  };

  function performPlan(host, now, decided, allowRenew) {
    for (const action of decided.actions) {
      if (action.kind === "backup-credential") backup(host, action.credential, now);
      else if (action.kind === "restore-credential") {
        const current = host.file.credential;
        const rejectedStill =
          action.rejectedRefreshToken !== undefined && current.refreshToken === action.rejectedRefreshToken;
        if (loggedIn(current) && !rejectedStill) {
          counts.restoresSkipped++; // became valid meanwhile
          continue;
        }
        counts.restores++;
        const onto =
          action.rejectedRefreshToken !== undefined
            ? "rejected"
            : host.file.mtime === 0
              ? "absent"
              : "logged-out";
        counts.restoredOnto[onto] = (counts.restoredOnto[onto] ?? 0) + 1;
        host.lastRestore = {
          expiresAt: action.credential.expiresAt,
          backedUpAt: vault.data.claude_ai_oauth_backed_up_at,
        };
        writeFile(host, action.credential, now);
      } else if (action.kind === "renew-credential") {
        if (host.renewing) continue; // the per-user lock is held by another pass
        host.renewing = true;
        const sent = action.credential;
        const latency = uniform(host.random.renewal, P.latency);
        queue.push(now + latency / 2, (t) => {
          // apply re-reads the file right before the request
          if (host.file.credential.refreshToken !== sent.refreshToken) {
            host.renewing = false;
            return;
          }
          const answer = server.refresh(sent.refreshToken, t);
          queue.push(t + latency / 2, (t2) => {
            host.renewing = false;
            if (answer.credential) {
              counts.renewals++;
              writeFile(host, answer.credential, t2);
              backup(host, answer.credential, t2);
              return;
            }
            counts.rejectedRenewals++;
            const again = planFor(host, t2, allowRenew, {
              kind: "rejected",
              refreshToken: sent.refreshToken,
            });
            performPlan(host, t2, again, allowRenew);
          });
        });
      }
    }
  }

  function syncPass(host, now, allowRenew) {
    if (host.renewing) return;
    performPlan(host, now, planFor(host, now, allowRenew), allowRenew);
  }

  // ---- set-up: each workstation logs in once, then the month runs ----
  for (const [h, host] of hosts.entries()) {
    const start = h * 3 * HOUR + host.random.start() * HOUR; // the second workstation is logged into later
    queue.push(start, (now) => {
      const credential =
        mode === "setup-token"
          ? { accessToken: "setup:token", refreshToken: "x", expiresAt: end + DAY }
          : server.login(now);
      writeFile(host, credential, now);
      for (let i = 0; i < P.clients; i++) {
        const client = {
          index: i,
          memory: STUB,
          seenMtime: -1,
          refreshing: false,
          requests: stream(seed, host.name, i, "request-gap"),
          latencies: stream(seed, host.name, i, "refresh-latency"),
        };
        host.clients.push(client);
        queue.push(now + exp(client.requests, P.requestMean), clientRequest(host, client));
      }
    });
    if (tool) {
      const offset = host.random.timer() * P.timerDelayMax;
      for (let t = offset; t < end; t += P.timerEvery) queue.push(t, (now) => syncPass(host, now, true));
      for (let d = 0; d < P.days; d++) {
        const at = d * DAY + P.loginHour * HOUR + host.random.desktopLogin() * HOUR;
        queue.push(at, (now) => syncPass(host, now, false));
      }
    }
    if (watch) {
      for (let t = start + P.watchPoll; t < end; t += P.watchPoll)
        queue.push(t, (now) => syncPass(host, now, Math.min(P.renewWindow, P.watchRenewWindow)));
    }
  }

  while (queue.size > 0) {
    const event = queue.pop();
    if (event.at > end) break;
    event.fn(event.at);
  }
  return { ...counts, server: server.stats, trace: (trace >>> 0).toString(16).padStart(8, "0") };
}

// watch-only: the watch service with CLAUDE_AUTH_SYNC_RENEW=0 (backup/restore reacting to changes),
// not one of the issue's modes: it shows what backup/restore can do when it sees the race.
const MODES = ["no-tool", "sync", "watch-only", "sync+renew", "watch", "setup-token"];
const usesTool = (mode) => mode !== "no-tool" && mode !== "setup-token";

// Sync without renewal against no tool, seed by seed: the streams make these differences exact effects.
function pairedWithNoTool(rows) {
  const out = [];
  for (const row of rows.filter((r) => r.mode === "sync" || r.mode === "watch-only")) {
    const base = rows.find((r) => r.mode === "no-tool" && r.hosts === row.hosts);
    if (!base) continue;
    const side = (key) => {
      const perSeed = row.perMonth[key].perSeed.map((n, i) => n - base.perMonth[key].perSeed[i]);
      const sameTrace = row.detail[key].filter((r, i) => r.trace === base.detail[key][i].trace).length;
      const meanDiff = perSeed.reduce((a, b) => a + b, 0) / perSeed.length / (P.days / 30);
      return { meanDiff, perSeed, sameTrace };
    };
    out.push({
      mode: row.mode,
      hosts: row.hosts,
      crossHost: row.crossHost,
      noReuse: side("noReuse"),
      reuse: side("reuse"),
    });
  }
  return out;
}

async function main() {
  const lib = await loadPlan();
  const started = Date.now();
  const rows = [];
  for (const hosts of [1, 2]) {
    for (const mode of MODES.filter((m) => !ONLY || ONLY.includes(m))) {
      const policies = hosts === 2 && usesTool(mode) ? ["any", "same-host"] : ["any"];
      for (const crossHost of policies) {
        const label = hosts === 2 && usesTool(mode) ? crossHost : "-";
        const row = { mode, hosts, crossHost: label, perMonth: {}, detail: {} };
        for (const reuseDetection of [false, true]) {
          const logins = [];
          const detail = [];
          for (const seed of SEEDS) {
            const r = simulate({ mode, hosts, reuseDetection, crossHost, seed }, lib);
            logins.push(r.logins);
            detail.push(r);
          }
          const mean = logins.reduce((a, b) => a + b, 0) / logins.length / (P.days / 30);
          row.perMonth[reuseDetection ? "reuse" : "noReuse"] = { mean, perSeed: logins };
          row.detail[reuseDetection ? "reuse" : "noReuse"] = detail;
        }
        rows.push(row);
      }
    }
  }
  const seconds = (Date.now() - started) / 1000;
  const fmt = (x) => x.mean.toFixed(1).padStart(5);
  console.log(
    `Forced interactive logins per user-month (${P.days} simulated days, ${P.clients} clients per workstation, 8 h tokens, renewal window ${P.renewWindow / HOUR} h, seeds ${SEEDS.join(",")})`,
  );
  console.log("workstations  mode         cross-host  no reuse detection   reuse detection");
  for (const row of rows) {
    console.log(
      `${`${String(row.hosts).padEnd(13)} ${row.mode.padEnd(12)} ${row.crossHost.padEnd(11)} ${fmt(row.perMonth.noReuse)} [${row.perMonth.noReuse.perSeed.join(",")}]`.padEnd(
        62,
      )}${fmt(row.perMonth.reuse)} [${row.perMonth.reuse.perSeed.join(",")}]`,
    );
  }
  console.log(`\nCounters, summed over the seeds (no reuse detection / reuse detection)`);
  for (const row of rows) {
    const sum = (key, f) => row.detail[key].reduce((a, r) => a + f(r), 0);
    const both = (f) => `${sum("noReuse", f)}/${sum("reuse", f)}`;
    const refused = (key) => {
      const by = {};
      for (const r of row.detail[key])
        for (const [why, n] of Object.entries(r.refused)) by[why] = (by[why] ?? 0) + n;
      return (
        Object.entries(by)
          .map(([why, n]) => `${why} ${n}`)
          .join(", ") || "none"
      );
    };
    console.log(
      `${String(row.hosts).padEnd(13)} ${row.mode.padEnd(12)} ${row.crossHost.padEnd(11)} stubs ${both((r) => r.stubs)}, restores ${both((r) => r.restores)}, renewals ${both((r) => r.renewals)} (rejected ${both((r) => r.rejectedRenewals)}), families revoked ${both((r) => r.server.familiesRevoked)}; restore refused: ${refused("noReuse")} / ${refused("reuse")}`,
    );
  }
  const paired = pairedWithNoTool(rows);
  if (paired.length > 0) {
    console.log(
      "\nPaired with no tool, same seeds (mode minus no tool, per seed; trace = runs whose clients and user",
    );
    console.log("did exactly what they did without the tool)");
    for (const p of paired) {
      const side = (x) =>
        `${x.meanDiff.toFixed(1).padStart(5)} [${x.perSeed.join(",")}] trace ${x.sameTrace}/${x.perSeed.length}`;
      console.log(
        `${`${String(p.hosts).padEnd(13)} ${p.mode.padEnd(12)} ${p.crossHost.padEnd(11)} ${side(p.noReuse)}`.padEnd(62)}${side(p.reuse)}`,
      );
    }
  }
  console.log(`(${rows.length * 2 * SEEDS.length} runs in ${seconds.toFixed(1)} s)`);
  if (JSON_OUT)
    writeFileSync(JSON_OUT, `${JSON.stringify({ parameters: P, seeds: SEEDS, rows, paired }, null, 2)}\n`);
}

await main();
