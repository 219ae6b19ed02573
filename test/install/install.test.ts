// install.sh, driven the way an admin runs it: into throwaway staging roots (--root), and once for
// real on this machine (CI runs as root on a throwaway machine) with a real PAM login through pamtester.
import { spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import {
  chmodSync,
  cpSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmdirSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parse as parseDotenv } from "dotenv";
import t, { type Test } from "tap";
import { CONFIG_KEYS, parseConfig } from "../../src/config.js";
import { BINARY } from "../helpers/cli.js";
import { isRoot, requireRoot } from "../helpers/users.js";
import { setupToken, workstation } from "../sync/fixture.js";

const REPO = fileURLToPath(new URL("../../", import.meta.url));
const INSTALL = join(REPO, "install.sh");
const MANIFEST = "/var/lib/claude-auth-sync/install-manifest";
const CONFIG = "/etc/claude-auth-sync/config.env";
const PAMTESTER = "/usr/bin/pamtester";
const SYSTEMD_ANALYZE = "/usr/bin/systemd-analyze";
const SHELLCHECK = "/usr/bin/shellcheck";
const PAM_LINE = (prefix: string) =>
  `session optional pam_exec.so type=open_session quiet ${prefix}/bin/claude-auth pam --config /etc/claude-auth-sync/config.env`;

/** The contract's install layout for a prefix, with the mode each file must have. */
function layout(prefix = "/usr/local"): Record<string, number> {
  return {
    [`${prefix}/bin/claude-auth`]: 0o755,
    [`${prefix}/bin/start-claude`]: 0o755,
    [`${prefix}/share/claude-auth-sync/claude-auth.sh`]: 0o644,
    [`${prefix}/share/claude-auth-sync/prometheus/claude-auth-sync.rules.yml`]: 0o644,
    "/etc/profile.d/claude-auth.sh": 0o644,
    "/etc/fish/conf.d/claude-auth.fish": 0o644,
    [CONFIG]: 0o644,
    "/etc/systemd/system/claude-auth-sync@.service": 0o644,
    "/etc/systemd/system/claude-auth-sync@.timer": 0o644,
    "/etc/systemd/system/t3-serve@.service.d/claude-auth.conf": 0o644,
  };
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Runs a program asynchronously (the Vault stand-in of the real test lives in this process). */
function run(command: string, args: string[], env: Record<string, string> = {}): Promise<Run> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: REPO,
      env: { PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => {
      stdout += c.toString();
    });
    child.stderr.on("data", (c: Buffer) => {
      stderr += c.toString();
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), 120_000);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, ms: Date.now() - started });
    });
  });
}

const install = (args: string[], script = INSTALL) => run(script, args);

/**
 * A private copy of the built binary for the staging-root tests (`--binary`): a rebuild of dist/
 * while they run must not look like a change between two installs. Only the first test and the
 * real install use dist/claude-auth itself, as an admin would.
 */
const releaseDir = mkdtempSync(join(tmpdir(), "cas-release-"));
t.teardown(() => rmSync(releaseDir, { recursive: true, force: true }));
const RELEASE = join(releaseDir, "claude-auth");
cpSync(BINARY, RELEASE);
chmodSync(RELEASE, 0o755);
const installRelease = (args: string[], script = INSTALL) => install([...args, "--binary", RELEASE], script);

function stagingRoot(t: Test): string {
  const root = mkdtempSync(join(tmpdir(), "cas-install-"));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  return root;
}

const sha256 = (path: string) => createHash("sha256").update(readFileSync(path)).digest("hex");

/** Every entry below root: type, mode, owner and content hash, to prove "nothing changed". */
function snapshot(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      const path = join(dir, name);
      const rel = path.slice(root.length);
      const stat = lstatSync(path);
      const attrs = `${(stat.mode & 0o7777).toString(8)} ${stat.uid}:${stat.gid}`;
      if (stat.isSymbolicLink()) out[rel] = `link ${readlinkSync(path)}`;
      else if (stat.isDirectory()) {
        out[`${rel}/`] = `dir ${attrs}`;
        walk(path);
      } else out[rel] = `file ${attrs} ${sha256(path)}`;
    }
  };
  walk(root);
  return out;
}

const modeOf = (path: string) => statSync(path).mode & 0o7777;
const read = (path: string) => readFileSync(path, "utf8");

/** A staging root that already holds a system: a Debian-like PAM session file and unrelated files. */
function populatedRoot(t: Test): { root: string; pamText: string } {
  const root = stagingRoot(t);
  const pamText = [
    "# /etc/pam.d/common-session (test copy)",
    "session\t[default=1]\t\t\tpam_permit.so",
    "session\trequisite\t\t\tpam_deny.so",
    "session\trequired\t\t\tpam_permit.so",
    "session\trequired\tpam_unix.so ",
    "session optional pam_mkhomedir.so skel=/etc/skel umask=0077",
    "session\toptional\tpam_systemd.so ",
    "# no newline at the end of this file",
  ].join("\n");
  mkdirSync(join(root, "etc/pam.d"), { recursive: true });
  writeFileSync(join(root, "etc/pam.d/common-session"), pamText);
  chmodSync(join(root, "etc/pam.d/common-session"), 0o640);
  mkdirSync(join(root, "etc/profile.d"), { recursive: true });
  writeFileSync(join(root, "etc/profile.d/other.sh"), "export OTHER=1\n");
  mkdirSync(join(root, "usr/local/bin"), { recursive: true });
  writeFileSync(join(root, "usr/local/bin/other-tool"), "#!/bin/sh\n", { mode: 0o755 });
  mkdirSync(join(root, "etc/systemd/system"), { recursive: true });
  writeFileSync(join(root, "etc/systemd/system/other.service"), "[Service]\nExecStart=/bin/true\n");
  return { root, pamText };
}

t.test("into an empty staging root: every contract path, sane modes, a binary that runs", async (t) => {
  const root = stagingRoot(t);
  const result = await install(["--root", root]);
  t.equal(result.code, 0, "install succeeds", { output: result.stdout + result.stderr });
  for (const [path, mode] of Object.entries(layout())) {
    const full = join(root, path);
    t.ok(existsSync(full), `${path} exists`);
    if (!existsSync(full)) continue;
    t.equal(modeOf(full).toString(8), mode.toString(8), `${path} has mode ${mode.toString(8)}`);
    if (isRoot) t.same([statSync(full).uid, statSync(full).gid], [0, 0], `${path} belongs to root:root`);
  }
  const same = (installed: string, source: string) =>
    t.equal(sha256(join(root, installed)), sha256(join(REPO, source)), `${installed} is ${source}`);
  same("/etc/profile.d/claude-auth.sh", "shell/claude-auth.sh");
  same("/usr/local/share/claude-auth-sync/claude-auth.sh", "shell/claude-auth.sh");
  same("/etc/fish/conf.d/claude-auth.fish", "shell/claude-auth.fish");
  same("/usr/local/bin/start-claude", "shell/start-claude.sh");
  same("/etc/systemd/system/claude-auth-sync@.service", "hooks/systemd/claude-auth-sync@.service");
  same("/etc/systemd/system/claude-auth-sync@.timer", "hooks/systemd/claude-auth-sync@.timer");
  same(
    "/etc/systemd/system/t3-serve@.service.d/claude-auth.conf",
    "hooks/systemd/t3-serve@.service.d/claude-auth.conf",
  );
  same(
    "/usr/local/share/claude-auth-sync/prometheus/claude-auth-sync.rules.yml",
    "hooks/prometheus/claude-auth-sync.rules.yml",
  );
  t.match(
    result.stdout,
    /Prometheus rules: \/usr\/local\/share\/claude-auth-sync\/prometheus\/claude-auth-sync\.rules\.yml/,
    "the output says where the Prometheus rules went",
  );
  t.ok(existsSync(join(root, MANIFEST)), "a manifest records the install");

  const version = await run(join(root, "usr/local/bin/claude-auth"), ["--version"]);
  t.equal(version.code, 0, "the installed binary runs");
  t.match(version.stdout, /^claude-auth \d+\.\d+\.\d+/, "and prints its version");
});

t.test("the installed start-claude finds the snippet in $PREFIX/share and loads the token", async (t) => {
  const root = stagingRoot(t);
  t.equal((await installRelease(["--root", root])).code, 0);
  const home = join(root, "home/ada");
  mkdirSync(join(home, ".config/claude-auth-sync"), { recursive: true });
  const token = setupToken("S");
  writeFileSync(
    join(home, ".config/claude-auth-sync/claude-oauth.env"),
    `CLAUDE_CODE_OAUTH_TOKEN=${token}\n`,
    {
      mode: 0o600,
    },
  );
  const fakeBin = join(root, "fake-bin");
  mkdirSync(fakeBin);
  writeFileSync(
    join(fakeBin, "claude"),
    '#!/bin/sh\nprintf "token=%s args=%s\\n" "$CLAUDE_CODE_OAUTH_TOKEN" "$*"\n',
    {
      mode: 0o755,
    },
  );
  const started = await run(join(root, "usr/local/bin/start-claude"), ["-p", "ping"], {
    HOME: home,
    PATH: `${fakeBin}:/usr/bin:/bin`,
  });
  t.equal(started.code, 0, "claude was started", { stderr: started.stderr });
  t.equal(started.stdout, `token=${token} args=-p ping\n`, "with the token from the env file");
});

t.test("the config template lists every key with its default, and sets nothing", async (t) => {
  const root = stagingRoot(t);
  t.equal((await installRelease(["--root", root])).code, 0);
  const text = read(join(root, CONFIG));
  for (const key of CONFIG_KEYS) t.match(text, new RegExp(`^#${key}=`, "m"), `${key} is listed`);
  t.same(parseDotenv(text), {}, "as installed, every line is a comment: the built-in defaults apply");
  const uncommented = parseDotenv(text.replace(/^#([A-Z_]+=)/gm, "$1"));
  t.same(Object.keys(uncommented).sort(), [...CONFIG_KEYS].sort(), "uncommented, exactly the program's keys");
  const source = { path: CONFIG, found: true };
  t.same(
    parseConfig(uncommented, source),
    parseConfig({}, source),
    "and the values shown are the defaults the program uses",
  );
});

t.test("a second install changes nothing and says so", async (t) => {
  const { root } = populatedRoot(t);
  t.equal((await installRelease(["--root", root, "--pam"])).code, 0);
  const first = snapshot(root);
  const again = await installRelease(["--root", root, "--pam"]);
  t.equal(again.code, 0);
  t.same(snapshot(root), first, "paths, modes, owners and contents are the same");
  t.match(again.stdout, /Nothing to do: claude-auth-sync is already installed/);
  t.notMatch(again.stdout, /\b(installed|created|edited|updated|replaced)\s+\//, "no action reported");
});

t.test("--uninstall returns an empty staging root to its exact prior state", async (t) => {
  const root = stagingRoot(t);
  const before = snapshot(root);
  t.equal((await installRelease(["--root", root])).code, 0);
  t.not(Object.keys(snapshot(root)).length, 0, "the install wrote files");
  const removed = await install(["--root", root, "--uninstall"]);
  t.equal(removed.code, 0, "uninstall succeeds", { output: removed.stdout + removed.stderr });
  t.same(snapshot(root), before, "nothing left: files, directories, manifest");
  const twice = await install(["--root", root, "--uninstall"]);
  t.equal(twice.code, 0, "a second uninstall is not an error: both directions can be repeated");
  t.match(twice.stdout, /Nothing to uninstall .*no install manifest/);
  t.same(snapshot(root), before, "and it changes nothing");
});

t.test("--uninstall disables every enabled timer of ours; no link is left dangling", async (t) => {
  const root = stagingRoot(t);
  const wants = join(root, "etc/systemd/system/timers.target.wants");
  mkdirSync(wants, { recursive: true });
  // Someone else's enablement in the same directory stays.
  symlinkSync("/lib/systemd/system/apt-daily.timer", join(wants, "apt-daily.timer"));
  const before = snapshot(root);
  t.equal((await installRelease(["--root", root])).code, 0);
  for (const user of ["alice", "bob"]) {
    symlinkSync("/etc/systemd/system/claude-auth-sync@.timer", join(wants, `claude-auth-sync@${user}.timer`));
  }
  const removed = await install(["--root", root, "--uninstall"]);
  t.equal(removed.code, 0, "uninstall succeeds", { output: removed.stdout + removed.stderr });
  t.match(
    removed.stdout,
    /disabled\s+\/etc\/systemd\/system\/timers\.target\.wants\/claude-auth-sync@alice\.timer/,
  );
  t.match(removed.stdout, /claude-auth-sync@bob\.timer/);
  t.same(readdirSync(wants), ["apt-daily.timer"], "only the other package's timer is still enabled");
  t.same(snapshot(root), before, "the tree is as before the install");
});

t.test("a second --uninstall still names timers of ours that something enabled since", async (t) => {
  const root = stagingRoot(t);
  const wants = join(root, "etc/systemd/system/timers.target.wants");
  mkdirSync(wants, { recursive: true });
  symlinkSync("/etc/systemd/system/claude-auth-sync@.timer", join(wants, "claude-auth-sync@carol.timer"));
  const run = await install(["--root", root, "--uninstall"]);
  t.equal(run.code, 0);
  t.match(
    run.stderr,
    /still enabled: \/etc\/systemd\/system\/timers\.target\.wants\/claude-auth-sync@carol\.timer/,
  );
});

t.test(
  "--pam edits common-session after pam_mkhomedir; --uninstall restores every touched file byte-for-byte",
  async (t) => {
    const { root, pamText } = populatedRoot(t);
    // An older hand-made copy at one of our paths: replaced, and given back on uninstall.
    writeFileSync(join(root, "etc/profile.d/claude-auth.sh"), "# old hand-made snippet\n");
    const before = snapshot(root);
    const result = await installRelease(["--root", root, "--pam"]);
    t.equal(result.code, 0, "install --pam succeeds", { output: result.stdout + result.stderr });
    const pamPath = join(root, "etc/pam.d/common-session");
    const lines = read(pamPath).split("\n");
    const ours = lines.indexOf(PAM_LINE("/usr/local"));
    t.ok(ours > 0, "the PAM line is in the session file", { lines });
    t.match(lines[ours - 1] ?? "", /pam_mkhomedir\.so/, "right after pam_mkhomedir, so the home exists");
    t.equal(lines.filter((line) => line.includes("claude-auth")).length, 1, "exactly once");
    t.equal(
      read(pamPath).replace(`${PAM_LINE("/usr/local")}\n`, ""),
      `${pamText}\n`,
      "nothing else in the file changed",
    );
    t.equal(modeOf(pamPath), 0o640, "the file keeps its mode");
    t.equal(read(join(root, "etc/profile.d/other.sh")), "export OTHER=1\n", "unrelated files untouched");
    t.match(result.stdout, /replaced\s+\/etc\/profile\.d\/claude-auth\.sh/, "the replaced file is named");

    const removed = await install(["--root", root, "--uninstall"]);
    t.equal(removed.code, 0, "uninstall succeeds", { output: removed.stdout + removed.stderr });
    t.same(snapshot(root), before, "the tree is exactly as before, PAM file and old snippet included");
  },
);

t.test(
  "on a pam-auth-update file the line goes after its managed block, which the tool rewrites",
  async (t) => {
    const root = stagingRoot(t);
    const debian = [
      '# here are the per-package modules (the "Primary" block)',
      "session\t[default=1]\t\t\tpam_permit.so",
      "session\trequisite\t\t\tpam_deny.so",
      "session\trequired\t\t\tpam_permit.so",
      "session\trequired\tpam_unix.so ",
      "session\toptional\tpam_mkhomedir.so ",
      "session\toptional\tpam_systemd.so ",
      "# end of pam-auth-update config",
      "",
    ].join("\n");
    mkdirSync(join(root, "etc/pam.d"), { recursive: true });
    writeFileSync(join(root, "etc/pam.d/common-session"), debian);
    t.equal((await installRelease(["--root", root, "--pam"])).code, 0);
    t.equal(read(join(root, "etc/pam.d/common-session")), `${debian}${PAM_LINE("/usr/local")}\n`);
  },
);

t.test(
  "--pam-auth puts the auth line after Debian's password block in common-auth; uninstall gives the file back",
  async (t) => {
    const root = stagingRoot(t);
    const debianAuth = [
      '# here are the per-package modules (the "Primary" block)',
      "auth\t[success=1 default=ignore]\tpam_unix.so nullok",
      "# here's the fallback if no module succeeds",
      "auth\trequisite\t\t\tpam_deny.so",
      "auth\trequired\t\t\tpam_permit.so",
      "# end of pam-auth-update config",
      "",
    ].join("\n");
    mkdirSync(join(root, "etc/pam.d"), { recursive: true });
    writeFileSync(join(root, "etc/pam.d/common-session"), "session\trequired\tpam_unix.so\n");
    writeFileSync(join(root, "etc/pam.d/common-auth"), debianAuth);
    const before = snapshot(root);
    const result = await installRelease(["--root", root, "--pam", "--pam-auth"]);
    t.equal(result.code, 0, "install --pam --pam-auth succeeds", { output: result.stdout + result.stderr });
    const authLine =
      "auth optional pam_exec.so expose_authtok type=auth quiet /usr/local/bin/claude-auth pam --config /etc/claude-auth-sync/config.env";
    t.equal(
      read(join(root, "etc/pam.d/common-auth")),
      `${debianAuth}${authLine}\n`,
      "after pam_permit: it runs only once the password was accepted, and never prompts itself",
    );
    t.match(read(join(root, "etc/pam.d/common-session")), PAM_LINE("/usr/local"), "the session line too");
    const again = await installRelease(["--root", root, "--pam", "--pam-auth"]);
    t.equal(
      read(join(root, "etc/pam.d/common-auth")).split(authLine).length,
      2,
      "a second install adds no second line",
    );
    t.equal(again.code, 0);
    const removed = await install(["--root", root, "--uninstall"]);
    t.equal(removed.code, 0, "uninstall succeeds", { output: removed.stdout + removed.stderr });
    t.same(snapshot(root), before, "common-auth and common-session are exactly as before");
    const same = await installRelease([
      "--root",
      root,
      "--pam-file",
      "/etc/pam.d/x",
      "--pam-auth-file",
      "/etc/pam.d/x",
    ]);
    t.equal(same.code, 2, "one file for both stacks is a usage error");
  },
);

/** The line releases before type=open_session shipped: it ran again at close_session. */
const OLD_PAM_LINE = (prefix: string) => PAM_LINE(prefix).replace(" type=open_session", "");

/** Rewrites an install into one made by a release that shipped the old line (file and manifest). */
function downgradeToOldLine(root: string, pamPath: string): void {
  writeFileSync(pamPath, read(pamPath).replace(PAM_LINE("/usr/local"), OLD_PAM_LINE("/usr/local")));
  const manifestPath = join(root, MANIFEST.slice(1));
  const sum = createHash("sha256").update(readFileSync(pamPath)).digest("hex");
  writeFileSync(
    manifestPath,
    read(manifestPath)
      .split("\n")
      .map((line) =>
        line.startsWith("edit\t")
          ? line
              .replace(/^edit\t[0-9a-f]+\t/, `edit\t${sum}\t`)
              .replace(PAM_LINE("/usr/local"), OLD_PAM_LINE("/usr/local"))
          : line,
      )
      .join("\n"),
  );
}

t.test(
  "an old line (no type=open_session) from an earlier install is upgraded in place, even without --pam; uninstall still restores byte-for-byte",
  async (t) => {
    const { root } = populatedRoot(t);
    const before = snapshot(root);
    t.equal((await installRelease(["--root", root, "--pam"])).code, 0);
    const pamPath = join(root, "etc/pam.d/common-session");
    downgradeToOldLine(root, pamPath);
    const oldText = read(pamPath);
    t.ok(oldText.split("\n").includes(OLD_PAM_LINE("/usr/local")), "the old release's line is in place");

    const upgraded = await installRelease(["--root", root]);
    t.equal(upgraded.code, 0, "the re-install succeeds", { output: upgraded.stdout + upgraded.stderr });
    t.match(upgraded.stdout, /upgraded in place to type=open_session/, "the upgrade is named");
    t.equal(
      read(pamPath),
      oldText.replace(OLD_PAM_LINE("/usr/local"), PAM_LINE("/usr/local")),
      "the line changed where it stood; nothing else in the file did",
    );
    t.equal(modeOf(pamPath), 0o640, "the file keeps its mode");
    const again = await installRelease(["--root", root, "--pam"]);
    t.equal(again.code, 0);
    t.equal(read(pamPath).split("claude-auth pam").length - 1, 1, "a second install adds no second line");

    const removed = await install(["--root", root, "--uninstall"]);
    t.equal(removed.code, 0, "uninstall succeeds", { output: removed.stdout + removed.stderr });
    t.same(snapshot(root), before, "the tree is exactly as before the first install");
  },
);

t.test("a hand-added old line is upgraded by --pam, and uninstall puts the admin's file back", async (t) => {
  const { root, pamText } = populatedRoot(t);
  const pamPath = join(root, "etc/pam.d/common-session");
  writeFileSync(pamPath, `${pamText}\n${OLD_PAM_LINE("/usr/local")}\n`);
  const handMade = read(pamPath);
  const result = await installRelease(["--root", root, "--pam"]);
  t.equal(result.code, 0, "install --pam succeeds", { output: result.stdout + result.stderr });
  t.equal(read(pamPath), `${pamText}\n${PAM_LINE("/usr/local")}\n`, "upgraded in place, not added twice");
  t.equal((await install(["--root", root, "--uninstall"])).code, 0);
  t.equal(read(pamPath), handMade, "byte-for-byte the file as the admin had it");
});

t.test("a PAM file changed after install: --uninstall removes only our line", async (t) => {
  const { root, pamText } = populatedRoot(t);
  t.equal((await installRelease(["--root", root, "--pam"])).code, 0);
  const pamPath = join(root, "etc/pam.d/common-session");
  const adminLine = "session optional pam_motd.so";
  writeFileSync(pamPath, `${read(pamPath)}${adminLine}\n`);
  const removed = await install(["--root", root, "--uninstall"]);
  t.equal(removed.code, 0);
  t.equal(read(pamPath), `${pamText}\n${adminLine}\n`, "the admin's change stays, our line is gone");
  t.match(removed.stdout, /changed since install: only the claude-auth line removed/);
});

t.test("an edited config.env survives a re-install and is kept on uninstall, with a message", async (t) => {
  const root = stagingRoot(t);
  t.equal((await installRelease(["--root", root])).code, 0);
  const config = join(root, CONFIG);
  const edited = `${read(config)}VAULT_ADDR=https://vault.example.com:8200\n`;
  writeFileSync(config, edited);
  const again = await installRelease(["--root", root]);
  t.equal(again.code, 0);
  t.equal(read(config), edited, "a re-install does not overwrite it");
  t.match(again.stdout, /kept\s+\/etc\/claude-auth-sync\/config\.env \(exists; never overwritten\)/);
  const removed = await install(["--root", root, "--uninstall"]);
  t.equal(removed.code, 0);
  t.equal(read(config), edited, "uninstall keeps the admin's settings");
  t.match(
    removed.stdout,
    /kept\s+\/etc\/claude-auth-sync\/config\.env \(edited since install/,
    "and says so",
  );
  t.same(
    Object.keys(snapshot(root)).sort(),
    ["/etc/", "/etc/claude-auth-sync/", CONFIG],
    "everything else is gone",
  );
});

t.test("a config.env that was there before install is neither replaced nor removed", async (t) => {
  const root = stagingRoot(t);
  mkdirSync(join(root, "etc/claude-auth-sync"), { recursive: true });
  writeFileSync(join(root, CONFIG), "VAULT_ADDR=https://vault.example.com\n");
  const before = snapshot(root);
  t.equal((await installRelease(["--root", root])).code, 0);
  t.equal(read(join(root, CONFIG)), "VAULT_ADDR=https://vault.example.com\n");
  t.equal((await install(["--root", root, "--uninstall"])).code, 0);
  t.same(snapshot(root), before);
});

t.test("--dry-run prints each action and changes nothing, for install and uninstall", async (t) => {
  const { root } = populatedRoot(t);
  const before = snapshot(root);
  const dry = await installRelease(["--root", root, "--pam", "--dry-run"]);
  t.equal(dry.code, 0, "dry run succeeds", { output: dry.stdout + dry.stderr });
  t.same(snapshot(root), before, "install --dry-run changed nothing");
  t.match(dry.stdout, /would install\s+\/usr\/local\/bin\/claude-auth/);
  t.match(dry.stdout, /would edit\s+\/etc\/pam\.d\/common-session/);
  t.match(dry.stdout, /Dry run: nothing was changed/);

  t.equal((await installRelease(["--root", root, "--pam"])).code, 0);
  const installed = snapshot(root);
  const dryRemove = await install(["--root", root, "--uninstall", "--dry-run"]);
  t.equal(dryRemove.code, 0);
  t.same(snapshot(root), installed, "uninstall --dry-run changed nothing");
  t.match(dryRemove.stdout, /would restore\s+\/etc\/pam\.d\/common-session/);
  t.match(dryRemove.stdout, /would remove\s+\/usr\/local\/bin\/claude-auth/);
});

t.test("it refuses before touching anything when a check fails", async (t) => {
  const { root } = populatedRoot(t);
  const before = snapshot(root);
  const scratch = stagingRoot(t);
  const broken = join(scratch, "broken-binary");
  writeFileSync(broken, "#!/bin/sh\necho 'exec format error' >&2\nexit 1\n", { mode: 0o755 });
  // A source tree missing one shipped file, with its own copy of install.sh.
  const tree = join(scratch, "tree");
  mkdirSync(tree);
  cpSync(INSTALL, join(tree, "install.sh"));
  cpSync(join(REPO, "shell"), join(tree, "shell"), { recursive: true });
  cpSync(join(REPO, "hooks"), join(tree, "hooks"), { recursive: true });
  rmSync(join(tree, "hooks/systemd/claude-auth-sync@.timer"));
  const emptyTree = join(scratch, "no-build");
  mkdirSync(emptyTree);
  cpSync(join(tree, "install.sh"), join(emptyTree, "install.sh"));
  cpSync(join(REPO, "shell"), join(emptyTree, "shell"), { recursive: true });
  cpSync(join(REPO, "hooks"), join(emptyTree, "hooks"), { recursive: true });

  const cases: { what: string; args: string[]; script?: string; message: RegExp }[] = [
    {
      what: "a --binary that does not exist",
      args: ["--binary", join(scratch, "nope")],
      message: /--binary .*nope does not exist/,
    },
    {
      what: "no built binary in the tree",
      args: [],
      script: join(emptyTree, "install.sh"),
      message: /no built binary at .*dist\/claude-auth[\s\S]*npm run build/,
    },
    { what: "a binary that does not run", args: ["--binary", broken], message: /--version failed/ },
    {
      what: "a missing source file",
      args: ["--binary", BINARY],
      script: join(tree, "install.sh"),
      message: /source files missing: .*claude-auth-sync@\.timer/,
    },
    {
      what: "a PAM file that does not exist",
      args: ["--binary", RELEASE, "--pam-file", "/etc/pam.d/nonexistent"],
      message: /PAM file .*nonexistent does not exist/,
    },
  ];
  for (const c of cases) {
    const result = await install(["--root", root, "--pam", ...c.args], c.script);
    t.equal(result.code, 1, `${c.what}: exit 1`);
    t.match(result.stderr, c.message, `${c.what}: says why`);
    t.same(snapshot(root), before, `${c.what}: nothing changed`);
  }

  const usage = await install(["--root", root, "--frobnicate"]);
  t.equal(usage.code, 2, "an unknown option is a usage error");
  t.match(usage.stderr, /unknown option: --frobnicate/);
  const help = await install(["--help"]);
  t.equal(help.code, 0);
  t.match(help.stdout, /--uninstall/);
  t.same(snapshot(root), before, "nothing changed by any of them");
});

t.test("without root it names every target it cannot write, and changes nothing", async (t) => {
  if (!requireRoot(t)) return;
  const { root } = populatedRoot(t);
  chmodSync(root, 0o755);
  // A copy of the tree and the binary that the unprivileged user can read and run.
  const tree = mkdtempSync(join(tmpdir(), "cas-tree-"));
  t.teardown(() => rmSync(tree, { recursive: true, force: true }));
  chmodSync(tree, 0o755);
  for (const part of ["install.sh", "shell", "hooks"])
    cpSync(join(REPO, part), join(tree, part), { recursive: true });
  cpSync(RELEASE, join(tree, "claude-auth"));
  const asNobody = (args: string[]) =>
    run("/usr/sbin/runuser", ["-u", "nobody", "--", join(tree, "install.sh"), "--root", root, ...args]);
  const before = snapshot(root);
  const refused = await asNobody(["--binary", join(tree, "claude-auth")]);
  t.equal(refused.code, 1, "install refuses");
  t.match(refused.stderr, /nothing was changed, because:/);
  t.match(refused.stderr, /\/etc\/profile\.d is not writable/, "names a directory it cannot write");
  t.match(refused.stderr, /\/usr\/local\/bin is not writable/);
  t.match(refused.stderr, /run it as root/, "and says how to fix it");
  t.same(snapshot(root), before, "nothing changed");

  t.equal((await installRelease(["--root", root])).code, 0, "as root it installs");
  const installed = snapshot(root);
  const refusedRemove = await asNobody(["--uninstall"]);
  t.equal(refusedRemove.code, 1, "uninstall refuses too");
  t.match(refusedRemove.stderr, /nothing was changed, because:/);
  t.same(snapshot(root), installed, "nothing removed half-way");
});

t.test(
  "--prefix /opt/cas: the binary, the units' ExecStart, the drop-in and the PAM line follow",
  async (t) => {
    const { root } = populatedRoot(t);
    const result = await installRelease(["--root", root, "--prefix", "/opt/cas", "--pam"]);
    t.equal(result.code, 0, "install succeeds", { output: result.stdout + result.stderr });
    for (const path of Object.keys(layout("/opt/cas"))) t.ok(existsSync(join(root, path)), `${path} exists`);
    t.notOk(existsSync(join(root, "usr/local/bin/claude-auth")), "nothing under /usr/local");
    const service = read(join(root, "etc/systemd/system/claude-auth-sync@.service"));
    t.match(
      service,
      /^ExecStart=\/opt\/cas\/bin\/claude-auth sync --user %I --renew-token --verify --config \/etc\/claude-auth-sync\/config\.env$/m,
    );
    const dropIn = read(join(root, "etc/systemd/system/t3-serve@.service.d/claude-auth.conf"));
    t.match(dropIn, /^ExecStartPre=-\+\/opt\/cas\/bin\/claude-auth sync --user %I /m);
    const pam = read(join(root, "etc/pam.d/common-session"));
    t.ok(pam.split("\n").includes(PAM_LINE("/opt/cas")), "the PAM line runs /opt/cas/bin/claude-auth");
    for (const [name, text] of [
      ["service", service],
      ["drop-in", dropIn],
      ["PAM file", pam],
    ] as const)
      t.notMatch(text, /\/usr\/local\/bin/, `${name} no longer names /usr/local/bin`);

    const other = await installRelease(["--root", root, "--prefix", "/usr/local"]);
    t.equal(other.code, 1, "a second install with another prefix is refused");
    t.match(other.stderr, /installed with --prefix \/opt\/cas/);
  },
);

t.test("shellcheck finds nothing in install.sh", async (t) => {
  if (!existsSync(SHELLCHECK)) {
    if (process.env.CI === "true") t.fail(`${SHELLCHECK} is missing; CI must provide it`);
    else t.plan(0, `SKIPPED: ${SHELLCHECK} is missing (apt-get install shellcheck)`);
    return;
  }
  const clean = await run(SHELLCHECK, ["--severity=info", INSTALL]);
  t.equal(clean.code, 0, "clean", { output: clean.stdout });
  // Negative control: the same check reports an unquoted expansion in a copy of the script.
  const dir = stagingRoot(t);
  const copy = join(dir, "install.sh");
  writeFileSync(copy, read(INSTALL).replace('rm -f "$ROOT$MANIFEST"', "rm -f $ROOT$MANIFEST"));
  const dirty = await run(SHELLCHECK, ["--severity=info", copy]);
  t.not(dirty.code, 0, "an unquoted variable is caught");
});

t.test("systemd-analyze verify passes on the units as installed, pointed at the staged binary", async (t) => {
  if (!existsSync(SYSTEMD_ANALYZE)) {
    if (process.env.CI === "true") t.fail(`${SYSTEMD_ANALYZE} is missing; CI must provide it`);
    else t.plan(0, `SKIPPED: ${SYSTEMD_ANALYZE} is missing (apt-get install systemd)`);
    return;
  }
  const root = stagingRoot(t);
  t.equal((await installRelease(["--root", root, "--prefix", "/opt/cas"])).code, 0);
  const staged = join(root, "opt/cas/bin/claude-auth");
  // verify resolves ExecStart= on this host and refuses a missing binary: point the installed units
  // (in a copy of the staged unit directory) at the staged binary.
  const units = join(stagingRoot(t), "units");
  cpSync(join(root, "etc/systemd/system"), units, { recursive: true });
  for (const file of ["claude-auth-sync@.service", "t3-serve@.service.d/claude-auth.conf"]) {
    const path = join(units, file);
    const text = read(path);
    t.match(text, "/opt/cas/bin/claude-auth", `${file} names the installed binary`);
    writeFileSync(path, text.replaceAll("/opt/cas/bin/claude-auth", staged));
  }
  writeFileSync(
    join(units, "t3-serve@.service"),
    `[Unit]\nDescription=stand-in for the t3 server\n[Service]\nUser=%I\nExecStart=${staged}\n`,
  );
  const verify = async () => {
    const result = await run(
      SYSTEMD_ANALYZE,
      [
        "verify",
        "--man=no",
        ...["claude-auth-sync@alice.service", "claude-auth-sync@alice.timer", "t3-serve@alice.service"].map(
          (unit) => join(units, unit),
        ),
      ],
      { SYSTEMD_LOG_COLOR: "0" },
    );
    const output = result.stdout + result.stderr;
    // verify only warns (exit 0) about unknown directives: any line about our files is a failure.
    const ours = output
      .split("\n")
      .filter((line) => line.includes(units) || /claude-auth-sync@|t3-serve@/.test(line));
    return { ok: result.code === 0 && ours.length === 0, output };
  };
  const good = await verify();
  t.ok(good.ok, "service, timer and drop-in verify cleanly", { output: good.output });
  rmSync(staged);
  const missing = await verify();
  t.notOk(missing.ok, "and verify does look at the staged binary: without it, it fails", {
    output: missing.output,
  });
});

/** pamtester runs asynchronously: the Vault stand-in lives in this process and must keep answering. */
function openSession(service: string, user: string): Promise<Run> {
  return run(PAMTESTER, ["-v", service, user, "open_session"]);
}

/** What the real install may touch on this machine: each path, and a hash if it is a file. */
function machineState(paths: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const path of paths) {
    const stat = statSync(path, { throwIfNoEntry: false });
    out[path] = !stat
      ? "absent"
      : stat.isDirectory()
        ? `dir ${(stat.mode & 0o7777).toString(8)}`
        : `file ${(stat.mode & 0o7777).toString(8)} ${sha256(path)}`;
  }
  return out;
}

t.test(
  "a real install: a login through the installed PAM line syncs the user; --uninstall puts the machine back",
  async (t) => {
    if (!requireRoot(t)) return;
    if (!existsSync(PAMTESTER)) {
      const why = `SKIPPED: ${PAMTESTER} is missing (apt-get install pamtester)`;
      if (process.env.CI === "true") t.fail(`${why}; CI must provide it`);
      else t.plan(0, why);
      return;
    }
    const contract = Object.keys(layout());
    const taken = [MANIFEST, ...contract].filter((path) => existsSync(path));
    if (taken.length > 0) {
      // A real installation (or an admin's config) is never overwritten or removed by a test.
      const why = `SKIPPED: this machine already has ${taken.join(", ")}; the real-install test only runs on a clean machine`;
      if (process.env.CI === "true") t.fail(why);
      else t.plan(0, why);
      return;
    }
    const watched = [
      ...contract,
      ...contract.map((path) => dirname(path)),
      MANIFEST,
      dirname(MANIFEST),
      "/usr/local/share/claude-auth-sync/prometheus",
      "/etc/fish",
    ];
    const before = machineState(watched);

    const ws = await workstation(t);
    const token = setupToken("I");
    await ws.seed({ setup_token: token, vaultwarden_token: "vw" });

    const service = `cas-install-${randomBytes(4).toString("hex")}`;
    const pamPath = `/etc/pam.d/${service}`;
    const pamText = [
      "auth required pam_permit.so",
      "account required pam_permit.so",
      "# session: install.sh --pam-file adds claude-auth below",
      "",
    ].join("\n");
    writeFileSync(pamPath, pamText);
    t.teardown(() => rmSync(pamPath, { force: true }));

    // The test's config: written only because none exists (checked above), removed at the end.
    const configDirExisted = existsSync(dirname(CONFIG));
    mkdirSync(dirname(CONFIG), { recursive: true, mode: 0o755 });
    writeFileSync(CONFIG, read(ws.config), { mode: 0o644 });
    chmodSync(CONFIG, 0o644);
    t.teardown(() => {
      rmSync(CONFIG, { force: true });
      if (!configDirExisted && existsSync(dirname(CONFIG))) rmdirSync(dirname(CONFIG));
    });
    // Whatever happens below, the machine does not keep the install.
    t.teardown(async () => {
      if (existsSync(MANIFEST)) await install(["--uninstall"]);
    });

    const installed = await install(["--pam", "--pam-file", pamPath]);
    t.equal(installed.code, 0, "./install.sh --pam --pam-file succeeds", {
      output: installed.stdout + installed.stderr,
    });
    for (const path of contract) t.ok(existsSync(path), `${path} is installed`);
    t.match(installed.stdout, /kept\s+\/etc\/claude-auth-sync\/config\.env \(exists; never overwritten\)/);
    t.equal(read(CONFIG), read(ws.config), "the existing config was not overwritten");
    t.ok(read(pamPath).split("\n").includes(PAM_LINE("/usr/local")), "the PAM line is in the test's stack");
    const version = await run("/usr/local/bin/claude-auth", ["--version"]);
    t.equal(version.code, 0, "/usr/local/bin/claude-auth runs");

    t.notOk(existsSync(ws.envFile), "no env file before the login");
    const session = await openSession(service, ws.user.name);
    t.equal(session.code, 0, "the session opens", { output: session.stdout + session.stderr });
    t.equal(
      existsSync(ws.envFile) ? read(ws.envFile) : "",
      `CLAUDE_CODE_OAUTH_TOKEN=${token}\n`,
      "the login wrote the user's env file through the installed binary",
    );
    t.equal(statSync(ws.envFile, { throwIfNoEntry: false })?.uid, ws.user.uid, "owned by the user");

    const removed = await install(["--uninstall"]);
    t.equal(removed.code, 0, "./install.sh --uninstall succeeds", {
      output: removed.stdout + removed.stderr,
    });
    t.equal(read(pamPath), pamText, "the PAM file is back byte-for-byte");
    t.equal(read(CONFIG), read(ws.config), "the config it did not install is left alone");
    rmSync(CONFIG);
    if (!configDirExisted) rmdirSync(dirname(CONFIG));
    t.same(machineState(watched), before, "every contract path is as it was before the install");
  },
);
