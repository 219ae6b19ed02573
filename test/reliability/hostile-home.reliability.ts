// Section 5, hostile home: root runs `sync --user` (the timer, PAM) over homes a user has booby-trapped.
// Traced with strace: nothing is written outside the home (but root's own metrics and t3-serve
// directories), no file under the home becomes root's, no root-owned target changes, no hang, and a
// refusal names the path.
import { execFileSync } from "node:child_process";
import {
  chmodSync,
  chownSync,
  linkSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { hostname } from "node:os";
import { dirname, join } from "node:path";
import t from "tap";
import { fifosTouched, killHungRuns, plantTempFifos } from "../helpers/metrics-traps.js";
import { inParallel, ownedBy, PARALLEL, pathsChanged, runTraced, Tally } from "../helpers/reliability.js";
import { requireRoot } from "../helpers/users.js";
import { credential, HOUR, STUB, setupToken, type Workstation, workstation } from "../sync/fixture.js";

const BUDGET_MS = 3000;
const MARGIN_MS = 5000;
const TOKEN = setupToken("H");

type Mode = "setup-token" | "restore" | "backup" | "sso-notice";

interface Trap {
  name: string;
  mode: Mode;
  /** Plants the trap; `target` is a root-owned directory outside the home holding `secret`. */
  plant(ws: Workstation, target: string): void;
  /** A metrics directory other than the fixture's (written into config.env before planting). */
  metricsDir?(ws: Workstation): string;
  /** What the trap planted is still there as planted (FIFOs at temp names, say). */
  intact?(ws: Workstation): boolean;
}

const asUser = (ws: Workstation, script: string) =>
  execFileSync("runuser", ["-u", ws.user.name, "--", "sh", "-c", script], { stdio: "pipe" });
const cfg = (ws: Workstation) => join(ws.user.home, ".config/claude-auth-sync");
const claudeDir = (ws: Workstation) => join(ws.user.home, ".claude");
const asRootIn = (path: string, fn: () => void) => {
  mkdirSync(dirname(path), { recursive: true });
  fn();
};

/** FIFOs planted at the next pids' metrics temp names, per workstation, to check they stay as planted. */
const plantedFifos = new Map<string, string[]>();
const fifosIntact = (ws: Workstation) =>
  fifosTouched(plantedFifos.get(ws.user.name) ?? [], ws.user).length === 0;

const TRAPS: Trap[] = [
  {
    name: "config directory is a symlink to a root directory",
    mode: "setup-token",
    plant: (ws, target) => asUser(ws, `mkdir -p ~/.config && ln -s ${target} ~/.config/claude-auth-sync`),
  },
  {
    name: "env file is a symlink to a root-only file",
    mode: "setup-token",
    plant: (ws, target) =>
      asUser(
        ws,
        `mkdir -p -m 700 ~/.config/claude-auth-sync && ln -s ${target}/secret ~/.config/claude-auth-sync/claude-oauth.env`,
      ),
  },
  {
    name: "~/.claude is a symlink to a root directory",
    mode: "restore",
    plant: (ws, target) => asUser(ws, `ln -s ${target} ~/.claude`),
  },
  {
    name: "credentials file is a symlink to a root-only file",
    mode: "restore",
    plant: (ws, target) =>
      asUser(ws, `mkdir -p ~/.claude && ln -s ${target}/secret ~/.claude/.credentials.json`),
  },
  {
    name: "credentials file is a symlink (backup mode)",
    mode: "backup",
    plant: (ws, target) =>
      asUser(ws, `mkdir -p ~/.claude && ln -s ${target}/secret ~/.claude/.credentials.json`),
  },
  {
    name: "credentials file is a hard link to a root-only file",
    mode: "restore",
    plant: (ws, target) => {
      asUser(ws, "mkdir -p -m 700 ~/.claude");
      linkSync(join(target, "secret"), join(claudeDir(ws), ".credentials.json"));
    },
  },
  {
    name: "env file is a hard link to a root-only file",
    mode: "setup-token",
    plant: (ws, target) => {
      asUser(ws, "mkdir -p -m 700 ~/.config/claude-auth-sync");
      linkSync(join(target, "secret"), join(cfg(ws), "claude-oauth.env"));
    },
  },
  {
    name: "credentials file is a FIFO",
    mode: "restore",
    plant: (ws) => asUser(ws, "mkdir -p ~/.claude && mkfifo ~/.claude/.credentials.json"),
  },
  {
    name: "env file is a FIFO",
    mode: "setup-token",
    plant: (ws) =>
      asUser(ws, "mkdir -p ~/.config/claude-auth-sync && mkfifo ~/.config/claude-auth-sync/claude-oauth.env"),
  },
  {
    name: "env file is a directory",
    mode: "setup-token",
    plant: (ws) => asUser(ws, "mkdir -p ~/.config/claude-auth-sync/claude-oauth.env"),
  },
  {
    name: "credentials file is a directory",
    mode: "restore",
    plant: (ws) => asUser(ws, "mkdir -p ~/.claude/.credentials.json"),
  },
  {
    name: "credentials file is 50 MB",
    mode: "restore",
    plant: (ws) => asUser(ws, "mkdir -p ~/.claude && truncate -s 50M ~/.claude/.credentials.json"),
  },
  {
    name: "env file is 50 MB",
    mode: "setup-token",
    plant: (ws) =>
      asUser(
        ws,
        "mkdir -p ~/.config/claude-auth-sync && truncate -s 50M ~/.config/claude-auth-sync/claude-oauth.env",
      ),
  },
  {
    name: "~/.config owned by root",
    mode: "setup-token",
    plant: (ws) => {
      mkdirSync(join(ws.user.home, ".config"), { mode: 0o755 });
    },
  },
  {
    name: "~/.claude owned by root",
    mode: "restore",
    plant: (ws) => {
      mkdirSync(claudeDir(ws), { mode: 0o755 });
      writeFileSync(join(claudeDir(ws), ".credentials.json"), JSON.stringify({ claudeAiOauth: STUB }), {
        mode: 0o644,
      });
    },
  },
  {
    name: "credentials file owned by root, world-readable",
    mode: "backup",
    plant: (ws) => {
      asUser(ws, "mkdir -p -m 700 ~/.claude");
      writeFileSync(
        join(claudeDir(ws), ".credentials.json"),
        JSON.stringify({ claudeAiOauth: credential("r", Date.now() + 7 * HOUR) }),
        { mode: 0o644 },
      );
    },
  },
  {
    name: "config directory mode 0777",
    mode: "setup-token",
    plant: (ws) => asUser(ws, "mkdir -p ~/.config/claude-auth-sync && chmod 777 ~/.config/claude-auth-sync"),
  },
  {
    name: "sync.lock is a symlink to a root-only file",
    mode: "setup-token",
    plant: (ws, target) =>
      asUser(
        ws,
        `mkdir -p -m 700 ~/.config/claude-auth-sync && ln -s ${target}/secret ~/.config/claude-auth-sync/sync.lock`,
      ),
  },
  {
    name: "sync.lock is a FIFO",
    mode: "setup-token",
    plant: (ws) =>
      asUser(ws, "mkdir -p -m 700 ~/.config/claude-auth-sync && mkfifo ~/.config/claude-auth-sync/sync.lock"),
  },
  {
    name: "state file is a symlink to a root-only file",
    mode: "setup-token",
    plant: (ws, target) =>
      asUser(
        ws,
        `mkdir -p -m 700 ~/.config/claude-auth-sync && ln -s ${target}/secret ~/.config/claude-auth-sync/state.json`,
      ),
  },
  {
    name: "notice file is a symlink to a root-only file",
    mode: "sso-notice",
    plant: (ws, target) =>
      asUser(
        ws,
        `mkdir -p -m 700 ~/.config/claude-auth-sync && ln -s ${target}/secret ~/.config/claude-auth-sync/notice`,
      ),
  },
  {
    name: "~/.config is a regular file",
    mode: "setup-token",
    plant: (ws) => asUser(ws, "echo x > ~/.config"),
  },
  {
    name: "metrics directory owned by the user, FIFOs at the next pids' temp names",
    mode: "setup-token",
    plant: (ws) => plantedFifos.set(ws.user.name, plantTempFifos(ws.metricsDir, ws.user)),
    intact: fifosIntact,
  },
  {
    name: "metrics directory world-writable (0777), FIFOs at the next pids' temp names",
    mode: "restore",
    plant: (ws) => {
      chmodSync(ws.metricsDir, 0o777);
      const fifos = plantTempFifos(ws.metricsDir, ws.user);
      chownSync(ws.metricsDir, 0, 0);
      plantedFifos.set(ws.user.name, fifos);
    },
    intact: fifosIntact,
  },
  {
    name: "metrics directory below a directory of the user's (root-owned itself)",
    mode: "setup-token",
    metricsDir: (ws) => join(ws.user.home, "metrics", "node-exporter"),
    plant: (ws) => {
      asUser(ws, "mkdir -p ~/metrics");
      mkdirSync(join(ws.user.home, "metrics", "node-exporter"), { mode: 0o755 });
    },
    intact: (ws) => readdirSync(join(ws.user.home, "metrics", "node-exporter")).length === 0,
  },
  {
    name: "the home directory itself owned by root (0755)",
    mode: "setup-token",
    plant: (ws) => {
      chownSync(ws.user.home, 0, 0);
      asRootIn(ws.user.home, () => undefined);
    },
  },
];

async function seedFor(ws: Workstation, mode: Mode): Promise<void> {
  const fresh = credential("vault", Date.now() + 5 * HOUR);
  switch (mode) {
    case "setup-token":
      return ws.seed({ setup_token: TOKEN, vaultwarden: "keep" });
    case "restore":
      return ws.seed({
        claude_ai_oauth: JSON.stringify(fresh),
        claude_ai_oauth_backed_up_at: new Date().toISOString(),
        claude_ai_oauth_host: hostname(),
        vaultwarden: "keep",
      });
    case "backup":
      return ws.seed({ vaultwarden: "keep" });
    case "sso-notice":
      asUser(
        ws,
        `mkdir -p -m 700 ~/.claude && printf '%s' '${JSON.stringify({ claudeAiOauth: STUB })}' > ~/.claude/.credentials.json`,
      );
      return ws.seed({
        claude_ai_oauth: JSON.stringify(credential("old", Date.now() - HOUR)),
        vaultwarden: "keep",
      });
  }
}

function targetState(dir: string): string {
  return readdirSync(dir)
    .sort()
    .map((n) => {
      const s = statSync(join(dir, n));
      return `${n} ${s.uid} ${(s.mode & 0o7777).toString(8)} ${s.isFile() ? readFileSync(join(dir, n), "utf8") : "dir"}`;
    })
    .join("\n");
}

t.test("root-run syncs over hostile homes", async (t) => {
  if (!requireRoot(t)) return;
  const tally = new Tally("5. hostile home (root-run `sync --user`, traced)");
  await inParallel(TRAPS, PARALLEL, async (trap) => {
    // t3-serve's copies outside the metrics directory: a trap on one must not fail the other.
    const serviceEnv = mkdtempSync("/var/tmp/cas-hostile-service-env-");
    t.teardown(() => rmSync(serviceEnv, { recursive: true, force: true }));
    const ws = await workstation(t, {
      CLAUDE_AUTH_SYNC_TIMEOUT_MS: String(BUDGET_MS),
      CLAUDE_AUTH_SYNC_SERVICE_ENV_DIR: serviceEnv,
    });
    t.teardown(() => killHungRuns(ws.config));
    const metricsDir = trap.metricsDir?.(ws) ?? ws.metricsDir;
    if (trap.metricsDir) {
      const config = readFileSync(ws.config, "utf8");
      writeFileSync(ws.config, config.replace(`METRICS_DIR=${ws.metricsDir}`, `METRICS_DIR=${metricsDir}`));
    }
    const target = `/var/tmp/cas-hostile-${ws.user.name}`;
    mkdirSync(target, { mode: 0o700 });
    t.teardown(() => rmSync(target, { recursive: true, force: true }));
    writeFileSync(join(target, "secret"), "ROOT ONLY\n", { mode: 0o600 });
    mkdirSync(join(target, "sub"), { mode: 0o700 });
    await seedFor(ws, trap.mode);
    trap.plant(ws, target);
    const plantedRootOwned = ownedBy(ws.user.home, 0);
    const before = targetState(target);
    const run = await runTraced(
      ["sync", "--user", ws.user.name, "--config", ws.config],
      "openat,open,creat,rename,renameat,renameat2,unlink,unlinkat,mkdir,mkdirat,rmdir,symlink,symlinkat,link,linkat,chmod,fchmodat,chown,fchownat,lchown,truncate",
      { timeoutMs: 60_000 },
    );
    const output = run.stdout + run.stderr;
    const allowed = [`${ws.user.home}/`, `${ws.metricsDir}/`, `${serviceEnv}/`, "/dev/null"];
    const outside = pathsChanged(run.trace).filter(
      (p) => !allowed.some((a) => p === a.replace(/\/$/, "") || p.startsWith(a)),
    );
    const newRootOwned = ownedBy(ws.user.home, 0).filter((p) => !plantedRootOwned.includes(p));
    const checks = {
      "exit 0, 1, 3 or 6": [0, 1, 3, 6].includes(run.code ?? -1),
      "no hang": run.ms < BUDGET_MS + MARGIN_MS,
      "target untouched": targetState(target) === before,
      "nothing written outside the home": outside.length === 0,
      "nothing root-owned created in the home": newRootOwned.length === 0,
      "a refusal names the path": run.code === 0 || run.code === 3 || output.includes(ws.user.home),
      "no crash": !/unexpected failure|TypeError|\.cjs:\d+/.test(output),
      ...(trap.intact ? { "planted things intact": trap.intact(ws) } : {}),
      ...(metricsDir !== ws.metricsDir || trap.intact
        ? {
            "metrics refusal names the directory": output.includes(`metrics directory ${metricsDir} refused`),
          }
        : {}),
    };
    const failed = Object.entries(checks)
      .filter(([, ok]) => !ok)
      .map(([k]) => k);
    t.same(failed, [], trap.name, {
      code: run.code,
      ms: run.ms,
      outside,
      newRootOwned,
      output: output.slice(0, 500),
    });
    const metricsRefusal =
      /warning: metrics directory \S+ refused(?: \(at its ancestor [^)]*\))?: ([^;]*)/.exec(output)?.[1];
    tally.record(trap.name, {
      survived: failed.length === 0,
      lost:
        !checks["target untouched"] ||
        outside.length > 0 ||
        newRootOwned.length > 0 ||
        checks["planted things intact"] === false,
      note: `exit ${run.code}${run.code ? `: ${(/\n?([^\n]*(?:symbolic link|owned by|not a directory|not a regular|larger than|is a directory|refus)[^\n]*)/.exec(output)?.[1] ?? output.split("\n")[1] ?? "").trim().slice(0, 90)}` : ""}${metricsRefusal ? `: metrics refused: ${metricsRefusal}` : ""}`,
    });
  });
  tally.print(t);
  t.equal(tally.totals().lost, 0, "nothing lost");
});
