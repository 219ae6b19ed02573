// The Debian package's whole life on this machine, with the real dpkg, apt-get, lintian, man,
// systemd-analyze, pam-auth-update and a real PAM login (pamtester): build, install an old version,
// upgrade keeping the admin's edit, switch PAM on and log in, remove, purge, and nothing of ours left.
//
// `npm run test:package` (tap test/package) only; it is not named *.test.ts, so `npm test` never runs
// it: it installs into /usr, rewrites /etc/pam.d/common-* and creates a user. Root only. Everything it
// changes is undone at teardown (registered before the first change): purge, the PAM profile removed,
// /etc/pam.d/common-* and /var/lib/pam restored byte for byte from copies taken at the start.
import { randomBytes } from "node:crypto";
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t from "tap";
import { makeConfig } from "../helpers/cli.js";
import { isRoot } from "../helpers/users.js";
import { hostToken, writeDoc } from "../helpers/vault-api.js";
import { setupToken } from "../sync/fixture.js";
import { startVaultStandIn } from "../vault/standin.js";
import {
  buildDeb,
  diffSnapshots,
  PACKAGE,
  packageStatus,
  type Ran,
  REPO,
  sh,
  shAsync,
  snapshotTree,
  sourceDateEpoch,
  stubManPages,
} from "./fixtures/deb.js";

const VERSION = (JSON.parse(readFileSync(join(REPO, "package.json"), "utf8")) as { version: string }).version;
const OLD_VERSION = "0.0.1";
const CONFIG = "/etc/claude-auth-sync/config.env";
const STATE_DIR = "/var/lib/claude-auth-sync";
const PAM_FILES = [
  "common-auth",
  "common-account",
  "common-password",
  "common-session",
  "common-session-noninteractive",
].map((name) => `/etc/pam.d/${name}`);
const PAM_STATE = "/var/lib/pam";
const PAM_LINE = /pam_exec\.so .*\/usr\/bin\/claude-auth pam --config \/etc\/claude-auth-sync\/config\.env/;

/** The package's layout: every file with its mode (all root:root). */
const LAYOUT: Array<[string, number]> = [
  ["/usr/bin/claude-auth", 0o755],
  ["/usr/bin/start-claude", 0o755],
  [CONFIG, 0o644],
  ["/etc/profile.d/claude-auth.sh", 0o644],
  ["/etc/fish/conf.d/claude-auth.fish", 0o644],
  ["/usr/lib/systemd/system/claude-auth-sync@.service", 0o644],
  ["/usr/lib/systemd/system/claude-auth-sync@.timer", 0o644],
  ["/usr/lib/systemd/system/t3-serve@.service.d/claude-auth.conf", 0o644],
  ["/usr/lib/systemd/user/claude-auth-watch.service", 0o644],
  ["/usr/share/pam-configs/claude-auth-sync", 0o644],
  ["/usr/share/claude-auth-sync/claude-auth.sh", 0o644],
  ["/usr/share/claude-auth-sync/prometheus/claude-auth-sync.rules.yml", 0o644],
  ["/usr/share/claude-auth-sync/runbook.md", 0o644],
  ["/usr/share/bash-completion/completions/claude-auth", 0o644],
  ["/usr/share/zsh/vendor-completions/_claude-auth", 0o644],
  ["/usr/share/fish/vendor_completions.d/claude-auth.fish", 0o644],
  ["/usr/share/man/man1/claude-auth.1.gz", 0o644],
  ["/usr/share/man/man1/start-claude.1.gz", 0o644],
  ["/usr/share/man/man5/claude-auth-sync.conf.5.gz", 0o644],
  ["/usr/share/doc/claude-auth-sync/copyright", 0o644],
  ["/usr/share/doc/claude-auth-sync/changelog.gz", 0o644],
  ["/usr/share/lintian/overrides/claude-auth-sync", 0o644],
];

/** What the snapshot walks: everything the package, its maintainer scripts and pam-auth-update may touch. */
const SNAPSHOT_ROOTS = [
  "/etc",
  "/usr/bin",
  "/usr/lib/systemd",
  "/usr/share/man",
  "/usr/share/pam-configs",
  "/usr/share/claude-auth-sync",
  "/usr/share/doc/claude-auth-sync",
  "/usr/share/bash-completion",
  "/usr/share/zsh",
  "/usr/share/fish",
  "/usr/share/lintian",
  "/var/lib",
];
/**
 * Skipped, and why:
 * - /var/lib/dpkg, /var/lib/apt: dpkg's and apt's own records (status, available, info/<pkg>.*,
 *   triggers, lists, extended_states): they must change when anything is installed; dpkg-query
 *   proves the package is gone instead. /var/cache is not walked at all (man-db's index, apt's
 *   archives: caches, rebuilt by triggers).
 * - /etc/{passwd,group,shadow,gshadow,subuid,subgid} and their "-" backups and .pwd.lock: rewritten by
 *   useradd/userdel of the test user (getent proves the user is gone).
 * - /var/lib/postgresql, /var/lib/ldap, /var/lib/prometheus, /var/lib/systemd/{random-seed,timers},
 *   /var/lib/private, /var/lib/PackageKit, /var/lib/dbus: state of daemons that may run on the machine
 *   and write whenever they like; nothing of ours lives there.
 */
const SKIPPED = new Set([
  "/var/lib/dpkg",
  "/var/lib/apt",
  "/var/lib/postgresql",
  "/var/lib/ldap",
  "/var/lib/prometheus",
  "/var/lib/systemd/random-seed",
  "/var/lib/systemd/timers",
  "/var/lib/private",
  "/var/lib/PackageKit",
  "/var/lib/dbus",
  "/etc/.pwd.lock",
  ...["passwd", "group", "shadow", "gshadow", "subuid", "subgid"].flatMap((f) => [`/etc/${f}`, `/etc/${f}-`]),
]);
// Other suites' PAM services (test/pam, test/reliability: /etc/pam.d/cas-test-*, cas-pamenv-*, made and
// removed by those tests, which may run at the same time on a developer's machine); the package makes none.
const skip = (path: string) => SKIPPED.has(path) || path.startsWith("/etc/pam.d/cas-");

const ok = (ran: Ran) => ({
  status: ran.status,
  stdout: ran.stdout.slice(-4000),
  stderr: ran.stderr.slice(-4000),
});
const pamLines = () => Object.fromEntries(PAM_FILES.map((f) => [f, readFileSync(f, "utf8").split("\n")]));
const ourPamLines = () =>
  PAM_FILES.flatMap((f) =>
    readFileSync(f, "utf8")
      .split("\n")
      .filter((line) => /claude-auth/.test(line))
      .map((line) => `${f}: ${line}`),
  );

if (!isRoot) {
  if (process.env.CI === "true")
    t.fail("test:package needs root (dpkg -i, pam-auth-update, useradd); CI runs as root");
  else t.plan(0, "SKIPPED: test:package needs root (dpkg -i, pam-auth-update, useradd)");
} else {
  for (const tool of [
    "/usr/bin/dpkg",
    "/usr/bin/lintian",
    "/usr/bin/pamtester",
    "/usr/sbin/pam-auth-update",
    "/usr/bin/man",
    "/usr/bin/systemd-analyze",
  ])
    if (!existsSync(tool)) throw new Error(`${tool} is missing: .ci/run installs it (apt-get install)`);
  if (packageStatus() !== "")
    throw new Error(`${PACKAGE} is already known to dpkg (${packageStatus()}): not a clean machine`);
  if (existsSync("/usr/share/pam-configs/claude-auth-sync"))
    throw new Error(
      "/usr/share/pam-configs/claude-auth-sync exists outside the package: not a clean machine",
    );

  // --- what the teardown restores, taken before anything changes
  const scratch = mkdtempSync(join(tmpdir(), "cas-package-"));
  const pamCopy = new Map(PAM_FILES.map((f) => [f, readFileSync(f)]));
  cpSync(PAM_STATE, join(scratch, "pam-state"), { recursive: true, preserveTimestamps: true });
  // Root's state from earlier runs of the binary (other suites): purge deletes the directory, so keep it.
  const hadStateDir = existsSync(STATE_DIR);
  if (hadStateDir)
    cpSync(STATE_DIR, join(scratch, "state-dir"), { recursive: true, preserveTimestamps: true });
  const pamService = `cas-pkg-${randomBytes(4).toString("hex")}`;
  const testUser = `caspkg${randomBytes(3).toString("hex")}`;

  t.teardown(() => {
    if (packageStatus() !== "") sh("dpkg", ["--purge", PACKAGE]);
    sh("pam-auth-update", ["--package", "--remove", PACKAGE]);
    for (const [file, bytes] of pamCopy) writeFileSync(file, bytes);
    rmSync(PAM_STATE, { recursive: true, force: true });
    cpSync(join(scratch, "pam-state"), PAM_STATE, { recursive: true, preserveTimestamps: true });
    if (hadStateDir) {
      rmSync(STATE_DIR, { recursive: true, force: true });
      cpSync(join(scratch, "state-dir"), STATE_DIR, { recursive: true, preserveTimestamps: true });
    }
    rmSync(`/etc/pam.d/${pamService}`, { force: true });
    sh("pkill", ["-KILL", "-u", testUser]);
    if (sh("getent", ["passwd", testUser]).status === 0) sh("userdel", ["--remove", "--force", testUser]);
    rmSync(scratch, { recursive: true, force: true });
  });

  // --- the builds. dpkg-deb's xz of the 128 MB executable is most of this suite's time, so they run in
  // the background: the current and the old version first, then lintian and the reproducibility rebuild
  // while the install steps run. The man pages come from the real generator (package.mjs runs
  // scripts/man.mjs) when it exists; stub pages (.TH/.SH NAME) only until it does.
  const epoch = sourceDateEpoch();
  const manDir = existsSync(join(REPO, "scripts/man.mjs")) ? undefined : stubManPages(join(scratch, "man"));
  const started = Date.now();
  const [current, old] = await Promise.all([
    buildDeb({ out: join(scratch, "current"), epoch, manDir }),
    buildDeb({ out: join(scratch, "old"), epoch, manDir, version: OLD_VERSION }),
  ]);
  const buildsMs = Date.now() - started;
  const lintian =
    current.status === 0 ? shAsync("lintian", ["--fail-on", "error,warning", current.deb]) : undefined;
  const rebuild = current.status === 0 ? buildDeb({ out: join(scratch, "again"), epoch, manDir }) : undefined;

  t.test(`build: ${PACKAGE}_${VERSION} and ${PACKAGE}_${OLD_VERSION}`, async (t) => {
    t.comment(
      `both built in ${buildsMs} ms (in parallel); man pages: ${manDir ? "stubs" : "scripts/man.mjs"}`,
    );
    t.equal(current.status, 0, "the current version builds", { output: current.output.slice(-4000) });
    t.equal(old.status, 0, "the old version builds", { output: old.output.slice(-4000) });
    t.equal(current.deb, join(scratch, "current", `${PACKAGE}_${VERSION}_amd64.deb`));
    t.equal(old.deb, join(scratch, "old", `${PACKAGE}_${OLD_VERSION}_amd64.deb`));
    const fields = sh("dpkg-deb", ["-f", current.deb, "Package", "Version", "Architecture"]);
    t.equal(fields.stdout, `Package: ${PACKAGE}\nVersion: ${VERSION}\nArchitecture: amd64\n`);
    const listing = sh("dpkg-deb", ["-c", current.deb]).stdout;
    for (const [path, mode] of LAYOUT) {
      const line = listing.split("\n").find((l) => l.endsWith(` .${path}`));
      t.match(
        line,
        new RegExp(`^-${mode === 0o755 ? "rwxr-xr-x" : "rw-r--r--"} root/root `),
        `${path} in the archive`,
      );
    }
    const listed = sh("sh", [
      "-c",
      'dpkg-deb --ctrl-tarfile "$1" | tar -xO ./conffiles',
      "sh",
      current.deb,
    ]).stdout;
    t.same(
      listed.trim().split("\n").sort(),
      [CONFIG, "/etc/fish/conf.d/claude-auth.fish", "/etc/profile.d/claude-auth.sh"].sort(),
      "the three files in /etc are conffiles",
    );
  });

  let before = new Map<string, string>();
  t.test("snapshot of the file system before the first install", async (t) => {
    const ran = Date.now();
    before = snapshotTree(SNAPSHOT_ROOTS, skip);
    t.ok(before.size > 1000, `${before.size} entries in ${Date.now() - ran} ms`);
    for (const [path] of LAYOUT) t.notOk(before.has(path), `${path} is not there yet`);
  });

  const edit = `# site edit ${randomBytes(4).toString("hex")}\nCLAUDE_AUTH_SYNC_MIN_UID=1000\n`;
  let edited = "";
  t.test(
    "install the old version, edit config.env, upgrade: the edit survives, the layout is right",
    async (t) => {
      const first = sh("dpkg", ["-i", old.deb]);
      t.equal(first.status, 0, `dpkg -i ${OLD_VERSION}`, ok(first));
      t.equal(packageStatus(), `install ok installed ${OLD_VERSION}`);
      t.ok(statSync(STATE_DIR).isDirectory(), "postinst made the state directory");
      edited = `${readFileSync(CONFIG, "utf8")}${edit}`;
      writeFileSync(CONFIG, edited);

      // Without --force-conf*: the package's config.env did not change between the versions, so dpkg keeps
      // the edited file without asking (stdin is /dev/null: a question would fail the install).
      const upgrade = sh("dpkg", ["-i", current.deb]);
      t.equal(upgrade.status, 0, `dpkg -i ${VERSION} (upgrade, no --force-conf*)`, ok(upgrade));
      t.notMatch(upgrade.stdout, /Configuration file .* modified/, "no conffile question");
      t.equal(packageStatus(), `install ok installed ${VERSION}`);
      t.equal(readFileSync(CONFIG, "utf8"), edited, "the edit survives the upgrade");
      // What configuration management does: --force-confold, here for a reinstall of the same version.
      const again = sh("dpkg", ["--force-confold", "-i", current.deb]);
      t.equal(again.status, 0, "dpkg --force-confold -i (reinstall)", ok(again));
      t.equal(readFileSync(CONFIG, "utf8"), edited, "the edit survives --force-confold");

      for (const [path, mode] of LAYOUT) {
        const stat = statSync(path, { throwIfNoEntry: false });
        t.ok(stat?.isFile(), `${path} exists`);
        if (!stat) continue;
        t.equal(
          `${(stat.mode & 0o7777).toString(8)} ${stat.uid}:${stat.gid}`,
          `${mode.toString(8)} 0:0`,
          `${path}: mode and owner`,
        );
      }
      const verify = sh("dpkg", ["-V", PACKAGE]);
      t.same(
        verify.stdout.trim().split("\n"),
        [`??5?????? c ${CONFIG}`],
        "dpkg -V: only the edited conffile",
        ok(verify),
      );

      t.equal(
        sh("man", ["-w", "claude-auth"]).stdout.trim(),
        "/usr/share/man/man1/claude-auth.1.gz",
        "man -w claude-auth",
      );
      t.equal(
        sh("man", ["-w", "claude-auth-sync.conf"]).stdout.trim(),
        "/usr/share/man/man5/claude-auth-sync.conf.5.gz",
        "man -w claude-auth-sync.conf",
      );
      const page = sh("sh", ["-c", "man claude-auth | head -n 20"], {
        env: { MANPAGER: "cat", PAGER: "cat", MANWIDTH: "80" },
      });
      t.match(page.stdout, /CLAUDE-AUTH/i, "man claude-auth renders", ok(page));
      t.match(page.stdout, /NAME\s+claude-auth/, "with its NAME section");
      t.notMatch(page.stderr, /warning|error|can't/i, "without a roff warning", ok(page));
      const conf = sh("sh", ["-c", "man 5 claude-auth-sync.conf | head -n 20"], {
        env: { MANPAGER: "cat", PAGER: "cat" },
      });
      t.match(conf.stdout, /NAME\s+claude-auth-sync\.conf/, "man 5 claude-auth-sync.conf renders", ok(conf));

      const version = sh("/usr/bin/claude-auth", ["--version"]);
      t.equal(version.status, 0, "/usr/bin/claude-auth --version", ok(version));
      t.match(version.stdout, VERSION);

      for (const unit of ["claude-auth-sync@alice.service", "claude-auth-sync@alice.timer"]) {
        const analyze = sh("systemd-analyze", ["verify", "--man=no", `/usr/lib/systemd/system/${unit}`]);
        const ours = `${analyze.stdout}${analyze.stderr}`.split("\n").filter((l) => /claude-auth/.test(l));
        t.ok(analyze.status === 0 && ours.length === 0, `systemd-analyze verify ${unit}`, ok(analyze));
      }
      const units = readFileSync("/usr/lib/systemd/system/claude-auth-sync@.service", "utf8");
      t.match(units, /^ExecStart=\/usr\/bin\/claude-auth sync /m, "the service runs /usr/bin/claude-auth");
      t.notMatch(
        [
          "/usr/lib/systemd/system/claude-auth-sync@.service",
          "/usr/lib/systemd/system/t3-serve@.service.d/claude-auth.conf",
          "/usr/lib/systemd/user/claude-auth-watch.service",
          "/usr/bin/start-claude",
        ]
          .map((f) => readFileSync(f, "utf8"))
          .join("\n"),
        /\/usr\/local\//,
        "no installed file names /usr/local",
      );
      // The drop-in, applied by systemd's own search path to a stand-in t3-serve@.service.
      const stub = join(scratch, "t3-serve@.service");
      writeFileSync(
        stub,
        "[Unit]\nDescription=stand-in t3 server\n[Service]\nUser=%i\nExecStart=/bin/true\n",
      );
      const dropIn = sh("systemd-analyze", ["verify", "--man=no", join(scratch, "t3-serve@alice.service")]);
      const ours = `${dropIn.stdout}${dropIn.stderr}`
        .split("\n")
        .filter((l) => /claude-auth|t3-serve/.test(l));
      t.ok(
        dropIn.status === 0 && ours.length === 0,
        "systemd-analyze verify t3-serve@alice.service with the drop-in",
        ok(dropIn),
      );
      const watch = sh("systemd-analyze", [
        "verify",
        "--man=no",
        "/usr/lib/systemd/user/claude-auth-watch.service",
      ]);
      const watchOurs = `${watch.stdout}${watch.stderr}`.split("\n").filter((l) => /claude-auth/.test(l));
      t.ok(
        watch.status === 0 && watchOurs.length === 0,
        "systemd-analyze verify claude-auth-watch.service",
        ok(watch),
      );
    },
  );

  t.test(
    "PAM: off by default; pam-auth-update --enable puts the lines in place; a real login syncs",
    async (t) => {
      t.same(ourPamLines(), [], "installed, but no claude-auth line in /etc/pam.d/common-* (Default: no)");
      const mkhomedirWasOn = /pam_mkhomedir/.test(readFileSync("/etc/pam.d/common-session", "utf8"));
      const enable = sh("pam-auth-update", ["--enable", "mkhomedir", PACKAGE]);
      t.equal(enable.status, 0, "pam-auth-update --enable mkhomedir claude-auth-sync", ok(enable));
      const lines = pamLines();
      const session = lines["/etc/pam.d/common-session"] ?? [];
      const ourSession = session.findIndex(
        (l) => /^session\s+optional\s+pam_exec\.so type=open_session /.test(l) && PAM_LINE.test(l),
      );
      const mkhomedir = session.findIndex((l) => /^session\s.*pam_mkhomedir\.so/.test(l));
      t.ok(ourSession >= 0, "common-session has the session line", { session });
      t.ok(
        mkhomedir >= 0 && ourSession > mkhomedir,
        "after pam_mkhomedir (the home exists when the sync writes into it)",
        { session },
      );
      t.notOk(
        (lines["/etc/pam.d/common-session-noninteractive"] ?? []).some((l) => PAM_LINE.test(l)),
        "not in the non-interactive sessions",
      );
      const auth = lines["/etc/pam.d/common-auth"] ?? [];
      const ourAuth = auth.findIndex(
        (l) => /^auth\s+optional\s+pam_exec\.so expose_authtok type=auth /.test(l) && PAM_LINE.test(l),
      );
      const additional = auth.findIndex((l) => /and here are more per-package modules/.test(l));
      const permit = auth.findIndex((l) => /^auth\s+required\s+pam_permit\.so/.test(l));
      t.ok(ourAuth >= 0, "common-auth has the auth line", { auth });
      t.ok(
        additional >= 0 && permit >= 0 && ourAuth > additional && ourAuth > permit,
        "in the Additional block, after pam_permit",
        { auth },
      );

      // A real login: a user without a home (mkhomedir makes it), a password, a Vault stand-in with the
      // user's setup token, the installed config pointed at it (host identity, a root-only token file),
      // then pamtester authenticate + open_session through a service that includes common-*.
      const vault = await startVaultStandIn();
      t.teardown(() => vault.close());
      const token = await hostToken(vault.addr, vault.rootToken);
      const scratchConfig = makeConfig(
        t,
        {
          VAULT_ADDR: vault.addr,
          CLAUDE_AUTH_SYNC_TIMEOUT_MS: "10000",
          CLAUDE_AUTH_SYNC_SERVICE_ENV_DIR: join(scratch, "service-env"),
        },
        token,
      );
      const ourConfig = readFileSync(scratchConfig.path, "utf8");
      writeFileSync(CONFIG, `${edited}${ourConfig}`);
      t.teardown(() => writeFileSync(CONFIG, edited));
      t.equal(
        sh("useradd", ["--shell", "/bin/bash", testUser]).status,
        0,
        `useradd ${testUser} (no home yet)`,
      );
      t.teardown(() => {
        sh("pkill", ["-KILL", "-u", testUser]);
        sh("userdel", ["--remove", "--force", testUser]);
      });
      const password = `pw-${randomBytes(6).toString("hex")}`;
      t.equal(sh("chpasswd", [], { input: `${testUser}:${password}\n` }).status, 0, "chpasswd");
      const home = sh("getent", ["passwd", testUser]).stdout.trim().split(":")[5] ?? "";
      t.notOk(existsSync(home), `${home} does not exist before the login`);
      const setup = setupToken("K");
      await writeDoc(vault.addr, vault.rootToken, testUser, { setup_token: setup, vaultwarden_token: "vw" });
      t.teardown(() => rmSync(`/etc/pam.d/${pamService}`, { force: true }));
      writeFileSync(
        `/etc/pam.d/${pamService}`,
        "# claude-auth-sync test:package: a login through the common stacks\n@include common-auth\n@include common-account\n@include common-session\n",
      );
      vault.clearRequests();
      const login = await shAsync(
        "env",
        ["-u", "NODE_OPTIONS", "pamtester", "-v", pamService, testUser, "authenticate", "open_session"],
        {
          input: `${password}\n`,
          timeoutMs: 60_000,
        },
      );
      t.equal(login.status, 0, "pamtester authenticate open_session", ok(login));
      t.match(login.stdout + login.stderr, /successfully authenticated/);
      t.ok(existsSync(home), "pam_mkhomedir made the home");
      const envFile = join(home, ".config/claude-auth-sync/claude-oauth.env");
      t.equal(
        existsSync(envFile) ? readFileSync(envFile, "utf8") : "(missing)",
        `CLAUDE_CODE_OAUTH_TOKEN=${setup}\n`,
        "the login materialized the setup token",
        { requests: vault.requests.length },
      );
      if (existsSync(envFile)) {
        const stat = statSync(envFile);
        const uid = Number(sh("id", ["-u", testUser]).stdout.trim());
        t.equal(`${stat.uid} ${(stat.mode & 0o777).toString(8)}`, `${uid} 600`, "owned by the user, 0600");
      }
      t.notMatch(login.stdout + login.stderr, setup, "no secret in the login's output");
      t.ok(vault.countRequests({ pathPrefix: "secret/data/" }) >= 1, "the sync read the user's document");

      if (!mkhomedirWasOn) {
        const off = sh("pam-auth-update", ["--disable", "mkhomedir"]);
        t.equal(off.status, 0, "mkhomedir switched off again", ok(off));
      }
      t.ok(ourPamLines().length >= 2, "claude-auth-sync stays on for the removal");
    },
  );

  t.test(
    "remove: the PAM lines and the binary go, config.env stays; purge: nothing of ours is left",
    async (t) => {
      t.ok(ourPamLines().length >= 2, "the PAM lines are there before the removal");
      const remove = sh("apt-get", ["remove", "-y", "-q", PACKAGE], { timeoutMs: 180_000 });
      t.equal(remove.status, 0, "apt-get remove -y claude-auth-sync", ok(remove));
      t.same(ourPamLines(), [], "prerm took the lines out of /etc/pam.d/common-*");
      t.notOk(existsSync("/usr/bin/claude-auth"), "/usr/bin/claude-auth is gone");
      t.notOk(existsSync("/usr/share/pam-configs/claude-auth-sync"), "the PAM profile is gone");
      t.equal(
        existsSync(CONFIG) ? readFileSync(CONFIG, "utf8") : "(missing)",
        edited,
        "config.env stays, with the edit",
      );
      t.equal(packageStatus(), `deinstall ok config-files ${VERSION}`);

      const purge = sh("dpkg", ["--purge", PACKAGE]);
      t.equal(purge.status, 0, "dpkg --purge", ok(purge));
      t.equal(packageStatus(), "", "dpkg knows nothing of the package");
      t.notOk(existsSync("/etc/claude-auth-sync"), "/etc/claude-auth-sync is gone");
      t.notOk(existsSync(STATE_DIR), `${STATE_DIR} is gone`);
      t.notOk(sh("getent", ["passwd", testUser]).status === 0, "the test user is gone");

      const after = snapshotTree(SNAPSHOT_ROOTS, skip);
      // The one expected difference: purge deletes root's state directory, which other runs of the binary
      // on this machine may have made before (restored at teardown).
      const diff = diffSnapshots(before, after).filter(
        (line) => !(hadStateDir && line.startsWith(`- ${STATE_DIR}`)),
      );
      t.same(diff, [], `the file system is as before the first install (${after.size} entries)`);
    },
  );

  t.test(
    "lintian: no error, no warning (overrides justified in hooks/debian/lintian-overrides)",
    async (t) => {
      if (!lintian) return t.fail("no package to check");
      const ran = await lintian;
      t.comment(`lintian took ${ran.ms} ms`);
      const findings = `${ran.stdout}${ran.stderr}`.split("\n").filter((l) => /^[EW]: /.test(l));
      t.same(findings, [], "no E: or W: line", ok(ran));
      t.equal(ran.status, 0, "lintian exits 0", ok(ran));
      const overrides = readFileSync(join(REPO, "hooks/debian/lintian-overrides"), "utf8").split("\n");
      overrides.forEach((line, i) => {
        if (!line.startsWith(`${PACKAGE}:`)) return;
        t.match(overrides[i - 1] ?? "", /^#/, `justified: ${line}`);
      });
    },
  );

  t.test("reproducible: the same version from the same binary, built twice, is the same bytes", async (t) => {
    if (!rebuild) return t.fail("no first build");
    const second = await rebuild;
    t.comment(`rebuilt in ${second.ms} ms`);
    t.equal(second.status, 0, "the second build", { output: second.output.slice(-4000) });
    const cmp = sh("cmp", [current.deb, second.deb]);
    t.equal(cmp.status, 0, "cmp: identical", ok(cmp));
  });
}
