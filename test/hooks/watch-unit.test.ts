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

t.test("every file the unit's Documentation= names is one install.sh installs", async (t) => {
  const text = readFileSync(UNIT, "utf8");
  const docs = [...text.matchAll(/^Documentation=(.*)$/gm)].flatMap((m) => (m[1] ?? "").split(/\s+/));
  const files = docs.filter((uri) => uri.startsWith("file:")).map((uri) => uri.replace(/^file:(\/\/)?/, ""));
  t.ok(docs.length > 0, "the unit points somewhere", { docs });
  t.same(
    docs.filter((uri) => !uri.startsWith("file:")),
    [],
    "no URL (workstations may have no web access) and no man page (none is shipped)",
  );
  const root = mkdtempSync(join(tmpdir(), "claude-auth-watch-docs-"));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  const repo = fileURLToPath(new URL("../../", import.meta.url));
  const installed = spawnSync(join(repo, "install.sh"), ["--root", root], {
    cwd: repo,
    env: { PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" },
    encoding: "utf8",
    timeout: 120_000,
  });
  t.equal(installed.status, 0, "install.sh into a staging root", { stderr: installed.stderr });
  for (const path of files) {
    t.ok(existsSync(join(root, path)), `${path} is installed`);
    const source = join(repo, "docs", path.split("/").pop() ?? "");
    if (existsSync(source) && existsSync(join(root, path)))
      t.equal(readFileSync(join(root, path), "utf8"), readFileSync(source, "utf8"));
  }
});
