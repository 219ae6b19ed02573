// The shipped systemd units, checked by systemd's own tools: `systemd-analyze verify` parses them
// like PID 1 would, `systemd-analyze condition --unit` loads a unit with its drop-ins and expands
// specifiers (%I, %h) exactly as the service manager does, `security --offline` scores the sandbox.
import { spawnSync } from "node:child_process";
import {
  chmodSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import t, { type Test } from "tap";
import { removeServiceEnvFile, SERVICE_ENV_DIR, writeServiceEnvFile } from "../../src/system/service-env.js";
import { createTestUser, requireRoot } from "../helpers/users.js";

const HOOKS = join(dirname(fileURLToPath(import.meta.url)), "../../hooks/systemd");
const SYSTEMD_ANALYZE = "/usr/bin/systemd-analyze";
const INSTALLED_BINARY = "/usr/local/bin/claude-auth";
const SERVICE = "claude-auth-sync@.service";
const TIMER = "claude-auth-sync@.timer";
const DROPIN_NAME = "claude-auth.conf";
const TEMPLATE_DROPIN = join("t3-serve@.service.d", DROPIN_NAME);
const ENV_FILE_IN_HOME = ".config/claude-auth-sync/claude-oauth.env";

interface Run {
  status: number | null;
  output: string;
}

function run(args: string[], options: { cwd: string; env?: NodeJS.ProcessEnv }): Run {
  const result = spawnSync(SYSTEMD_ANALYZE, args, {
    cwd: options.cwd,
    env: { ...process.env, SYSTEMD_LOG_COLOR: "0", ...options.env },
    encoding: "utf8",
    timeout: 60_000,
  });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

/** A loud skip outside CI, a failure inside it: the reason shows in the output either way. */
function gate(t: Test) {
  return {
    skip: (why: string) => t.plan(0, why),
    fail: (why: string) => {
      t.fail(why);
    },
  };
}

/** systemd-analyze is part of the `systemd` package; without it nothing here can be proven. */
function requireSystemdAnalyze(t: Test): boolean {
  if (existsSync(SYSTEMD_ANALYZE)) return true;
  const why = `SKIPPED: ${SYSTEMD_ANALYZE} is missing (apt-get install systemd)`;
  if (process.env.CI === "true") gate(t).fail(`${why}; CI must provide it`);
  else gate(t).skip(why);
  return false;
}

/**
 * Copies the shipped units into a fresh directory, with ExecStart pointing at a real executable
 * (verify refuses a missing binary) and a stub t3-serve@.service for the drop-in to apply to.
 */
function stageUnits(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), "claude-auth-units-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  cpSync(HOOKS, dir, { recursive: true });
  const binary = join(dir, "claude-auth");
  writeFileSync(binary, "#!/bin/sh\nexit 0\n");
  chmodSync(binary, 0o755);
  const service = join(dir, SERVICE);
  const text = readFileSync(service, "utf8");
  if (!text.includes(INSTALLED_BINARY)) throw new Error(`${SERVICE} no longer runs ${INSTALLED_BINARY}`);
  writeFileSync(service, text.replaceAll(INSTALLED_BINARY, binary));
  const dropIn = join(dir, TEMPLATE_DROPIN);
  writeFileSync(dropIn, readFileSync(dropIn, "utf8").replaceAll(INSTALLED_BINARY, binary));
  writeFileSync(
    join(dir, "t3-serve@.service"),
    `[Unit]\nDescription=stand-in for the t3 server\n[Service]\nUser=%I\nExecStart=${binary}\n`,
  );
  return dir;
}

/**
 * `systemd-analyze verify` only warns (exit 0) about an unknown or misspelt directive, so any message
 * naming one of our files counts as a failure too. Messages about the host's own units are ignored.
 */
function verify(dir: string, units: string[]): { ok: boolean; output: string } {
  const result = run(["verify", "--man=no", ...units.map((unit) => join(dir, unit))], { cwd: dir });
  const ours = result.output
    .split("\n")
    .filter((line) => line.includes(dir) || /claude-auth-sync@|t3-serve@/.test(line));
  return { ok: result.status === 0 && ours.length === 0, output: result.output };
}

/**
 * A probe tree in which every EnvironmentFile= of a drop-in becomes AssertPathExists= with the same
 * value, in a file of the same name and directory: systemd then applies its own drop-in precedence
 * and specifier expansion and `condition` prints the resulting path and whether it exists.
 */
function probeTree(t: Test, dropIns: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), "claude-auth-probe-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(
    join(dir, "t3-serve@.service"),
    "[Unit]\nDescription=probe\n[Service]\nUser=%I\nExecStart=/bin/true\n",
  );
  for (const [relative, text] of Object.entries(dropIns)) {
    const lines = text.split("\n");
    if (!lines.some((line) => line.startsWith("EnvironmentFile=")))
      throw new Error(`${relative}: no EnvironmentFile=`);
    const probe = lines
      .filter((line) => !line.startsWith("ExecStartPre="))
      .map((line) => (line === "[Service]" ? "[Unit]" : line))
      .map((line) => line.replace(/^EnvironmentFile=-?/, "AssertPathExists="));
    mkdirSync(join(dir, dirname(relative)), { recursive: true });
    writeFileSync(join(dir, relative), probe.join("\n"));
  }
  return dir;
}

/** The env-file paths systemd resolved for the instance, and whether all of them exist. */
function resolveEnvFiles(
  probeDir: string,
  unit: string,
): { paths: string[]; allExist: boolean; output: string } {
  // Only the probe tree is searched (no trailing ":"), so units installed on this host cannot interfere.
  const result = run(["condition", `--unit=${unit}`], {
    cwd: probeDir,
    env: { SYSTEMD_UNIT_PATH: probeDir },
  });
  const paths = [...result.output.matchAll(/AssertPathExists=(.+) (?:succeeded|failed)\.$/gm)].map(
    (m) => m[1] ?? "",
  );
  return { paths, allExist: result.status === 0, output: result.output };
}

const shippedDropIn = () => readFileSync(join(HOOKS, TEMPLATE_DROPIN), "utf8");

t.test("service, timer and t3-serve drop-in pass systemd-analyze verify without a warning", async (t) => {
  if (!requireSystemdAnalyze(t)) return;
  const dir = stageUnits(t);
  for (const unit of [
    "claude-auth-sync@alice.service",
    "claude-auth-sync@alice.timer",
    "t3-serve@alice.service",
  ]) {
    const result = verify(dir, [unit]);
    t.ok(result.ok, `${unit} verifies cleanly`, { output: result.output });
  }
});

t.test(
  "the verify helper fails on a misspelt directive, a missing binary and a broken drop-in",
  async (t) => {
    if (!requireSystemdAnalyze(t)) return;
    const breakages: { what: string; file: string; edit: (text: string) => string; unit: string }[] = [
      {
        what: "misspelt hardening directive",
        file: SERVICE,
        edit: (text) => text.replace("ProtectSystem=full", "ProtectSytem=full"),
        unit: "claude-auth-sync@alice.service",
      },
      {
        what: "ExecStart binary that does not exist",
        file: SERVICE,
        edit: (text) => text.replace(/^ExecStart=\S+/m, "ExecStart=/nonexistent/claude-auth"),
        unit: "claude-auth-sync@alice.service",
      },
      {
        what: "misspelt timer directive",
        file: TIMER,
        edit: (text) => text.replace("Persistent=", "Persistant="),
        unit: "claude-auth-sync@alice.timer",
      },
      {
        what: "misspelt directive in the drop-in (proves the drop-in is applied to t3-serve@)",
        file: TEMPLATE_DROPIN,
        edit: (text) => text.replace(/^EnvironmentFile=/m, "EnvironmentFil="),
        unit: "t3-serve@alice.service",
      },
    ];
    for (const breakage of breakages) {
      const dir = stageUnits(t);
      const path = join(dir, breakage.file);
      const original = readFileSync(path, "utf8");
      const broken = breakage.edit(original);
      t.not(broken, original, `${breakage.what}: the edit applies`);
      writeFileSync(path, broken);
      const result = verify(dir, [breakage.unit]);
      t.notOk(result.ok, `${breakage.what} is caught`, { output: result.output });
    }
  },
);

t.test("the hardening keeps systemd's exposure score at 3.0 or below", async (t) => {
  if (!requireSystemdAnalyze(t)) return;
  const dir = stageUnits(t);
  const score = (unit: string) =>
    run(["security", "--offline=true", "--threshold=30", join(dir, unit)], { cwd: dir });
  const hardened = score("claude-auth-sync@alice.service");
  t.equal(hardened.status, 0, "exposure <= 3.0", {
    output: hardened.output.split("\n").slice(-3).join("\n"),
  });

  // Negative control: the same unit without its hardening block scores above the threshold.
  const text = readFileSync(join(dir, SERVICE), "utf8");
  writeFileSync(join(dir, "bare@.service"), text.split("\n# Hardening.")[0] ?? "");
  const bare = score("bare@alice.service");
  t.not(bare.status, 0, "the unhardened unit fails the same threshold", {
    output: bare.output.split("\n").slice(-3).join("\n"),
  });
});

t.test(
  "the timer fires every 6 hours with a stable random delay and catches up after downtime",
  async (t) => {
    if (!requireSystemdAnalyze(t)) return;
    const timer = readFileSync(join(HOOKS, TIMER), "utf8");
    const value = (key: string) => timer.match(new RegExp(`^${key}=(.*)$`, "m"))?.[1];
    const onCalendar = value("OnCalendar");
    t.ok(onCalendar, "OnCalendar= is set");
    const calendar = run(
      ["calendar", "--iterations=5", "--base-time=2026-11-30 01:00:00 UTC", onCalendar ?? ""],
      {
        cwd: "/",
        env: { TZ: "UTC" },
      },
    );
    t.equal(calendar.status, 0, "systemd parses OnCalendar=", { output: calendar.output });
    const elapses = [
      ...calendar.output.matchAll(/(?:Next elapse|Iter\. #\d+): \w+ (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)/g),
    ].map((m) => Date.parse(`${m[1]?.replace(" ", "T")}Z`));
    t.equal(elapses.length, 5, "five elapses listed", { output: calendar.output });
    const gaps = elapses.slice(1).map((at, i) => (at - (elapses[i] ?? 0)) / 3_600_000);
    t.same(gaps, [6, 6, 6, 6], "6 h between runs");

    const delay = run(["timespan", value("RandomizedDelaySec") ?? ""], { cwd: "/" });
    const delayMicros = Number(delay.output.match(/μs: (\d+)/)?.[1]);
    t.ok(delayMicros > 0 && delayMicros <= 3_600_000_000, "a randomized delay of at most 1 h", {
      output: delay.output,
    });
    t.equal(value("Persistent"), "true", "missed runs happen after boot");
    t.equal(value("FixedRandomDelay"), "yes", "the delay is stable per machine and user");
    t.match(timer, /^WantedBy=timers\.target$/m, "enable hooks it into timers.target");

    // WorkstationClaudeAuthSyncStale fires after 13 h without a successful run: one missed run
    // (two intervals plus the largest delay) must stay below that, two missed runs must exceed it.
    const oneMissedRunHours = 2 * 6 + delayMicros / 3_600_000_000;
    t.ok(oneMissedRunHours < 13, `one missed run (${oneMissedRunHours} h) does not look stale`);
    t.ok(3 * 6 > 13, "two missed runs do");
  },
);

t.test("the service runs the contract's command line, as root, with the user as instance", async (t) => {
  const service = readFileSync(join(HOOKS, SERVICE), "utf8");
  t.match(
    service,
    /^ExecStart=\/usr\/local\/bin\/claude-auth sync --user %I --renew-token --verify --config \/etc\/claude-auth-sync\/config\.env$/m,
  );
  t.match(service, /^Type=oneshot$/m);
  t.notMatch(
    service,
    /^(User|DynamicUser|ProtectHome|MemoryDenyWriteExecute|PrivateUsers)=/m,
    "nothing that breaks the job",
  );
  t.match(service, /^Wants=network-online\.target$/m);
  t.match(service, /^After=network-online\.target$/m);
  t.match(service, /^TimeoutStartSec=\S+$/m, "a run is time-bounded");
  // Every active hardening line has its one-line reason right above it.
  const lines = service.split("\n");
  const start = lines.findIndex((line) => line.startsWith("# Hardening."));
  for (const [i, line] of lines.entries()) {
    if (i > start && /^[A-Z]\w+=/.test(line))
      t.match(lines[i - 1] ?? "", /^# /, `${line.split("=")[0]} is explained`);
  }
});

t.test("why not %h: in a system unit it is root's home even with User= set", async (t) => {
  if (!requireSystemdAnalyze(t)) return;
  const probe = probeTree(t, {
    [TEMPLATE_DROPIN]: `[Service]\nEnvironmentFile=-%h/${ENV_FILE_IN_HOME}\n`,
  });
  const resolved = resolveEnvFiles(probe, "t3-serve@alice.service");
  t.same(resolved.paths, [`/root/${ENV_FILE_IN_HOME}`], "%h resolves to /root", { output: resolved.output });
});

t.test(
  "the shipped drop-in is optional, root-owned-path only, and unescapes the instance name",
  async (t) => {
    if (!requireSystemdAnalyze(t)) return;
    t.match(
      shippedDropIn(),
      /^EnvironmentFile=-\/var\/lib\/claude-auth-sync\/env\/%I\.env$/m,
      "optional copy",
    );
    t.notMatch(shippedDropIn(), /^EnvironmentFile=.*(%h|\/home)/m, "never a path inside a home");
    t.match(
      shippedDropIn(),
      /^ExecStartPre=-\+\/usr\/local\/bin\/claude-auth sync --user %I --config \/etc\/claude-auth-sync\/config\.env$/m,
      "a privileged, non-fatal sync refreshes the copy before each start",
    );
    const probe = probeTree(t, { [TEMPLATE_DROPIN]: shippedDropIn() });
    const resolved = resolveEnvFiles(probe, "t3-serve@alice\\x2dsmith.service");
    t.same(resolved.paths, [`${SERVICE_ENV_DIR}/alice-smith.env`], "escaped instance", {
      output: resolved.output,
    });
  },
);

t.test("for a real user whose home is outside /home, the drop-in finds the copy a sync keeps", async (t) => {
  if (!requireSystemdAnalyze(t) || !requireRoot(gate(t))) return;
  const user = createTestUser(t);
  const probe = probeTree(t, { [TEMPLATE_DROPIN]: shippedDropIn() });
  const unit = `t3-serve@${user.name}.service`;
  t.notOk(resolveEnvFiles(probe, unit).allExist, "no copy yet: nothing to load (it can fail)");
  writeServiceEnvFile(user.name, "CLAUDE_CODE_OAUTH_TOKEN=sk-ant-oat01-test\n");
  t.teardown(() => removeServiceEnvFile(user.name));
  const present = resolveEnvFiles(probe, unit);
  t.same(present.paths, [`${SERVICE_ENV_DIR}/${user.name}.env`], `${unit} loads the root-owned copy`, {
    output: present.output,
  });
  t.ok(present.allExist, "and systemd finds it", { output: present.output });
});
