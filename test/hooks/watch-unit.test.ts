// The optional user service for `claude-auth watch`: parsed by systemd's own verifier.
import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import t from "tap";

const UNIT = join(dirname(fileURLToPath(import.meta.url)), "../../hooks/systemd/claude-auth-watch.service");
const SYSTEMD_ANALYZE = "/usr/bin/systemd-analyze";
const INSTALLED_BINARY = "/usr/local/bin/claude-auth";

function verify(text: string): { ok: boolean; output: string } {
  const dir = mkdtempSync(join(tmpdir(), "claude-auth-watch-unit-"));
  try {
    const binary = join(dir, "claude-auth");
    writeFileSync(binary, "#!/bin/sh\nexit 0\n");
    chmodSync(binary, 0o755);
    const unit = join(dir, "claude-auth-watch.service");
    writeFileSync(unit, text.replaceAll(INSTALLED_BINARY, binary));
    const result = spawnSync(SYSTEMD_ANALYZE, ["verify", "--man=no", unit], {
      cwd: dir,
      env: { ...process.env, SYSTEMD_LOG_COLOR: "0" },
      encoding: "utf8",
      timeout: 60_000,
    });
    const output = `${result.stdout}${result.stderr}`;
    // verify only warns (exit 0) about an unknown directive: any line naming our unit fails too.
    const ours = output.split("\n").filter((line) => line.includes("claude-auth-watch"));
    return { ok: result.status === 0 && ours.length === 0, output };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

t.test(
  "claude-auth-watch.service passes systemd-analyze verify; a misspelt directive does not",
  async (t) => {
    if (!existsSync(SYSTEMD_ANALYZE)) {
      if (process.env.CI === "true") t.fail(`${SYSTEMD_ANALYZE} is missing; CI must provide it`);
      else t.plan(0, `SKIPPED: ${SYSTEMD_ANALYZE} is missing (apt-get install systemd)`);
      return;
    }
    const text = readFileSync(UNIT, "utf8");
    const clean = verify(text);
    t.ok(clean.ok, "verifies cleanly", { output: clean.output });
    const broken = verify(text.replace("RestartSec=", "RestartSek="));
    t.notOk(broken.ok, "the negative control is caught", { output: broken.output });
  },
);

t.test(
  "the unit runs the watch command as the user, restarts on failure, starts with the session",
  async (t) => {
    const text = readFileSync(UNIT, "utf8");
    t.match(
      text,
      /^ExecStart=\/usr\/local\/bin\/claude-auth watch --config \/etc\/claude-auth-sync\/config\.env$/m,
    );
    t.match(text, /^Type=simple$/m);
    t.match(text, /^Restart=on-failure$/m);
    t.match(text, /^WantedBy=default\.target$/m, "a user unit: enabled per user");
    t.notMatch(text, /^User=/m, "no User=: a user service runs as its user");
  },
);
