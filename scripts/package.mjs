#!/usr/bin/env node
// `npm run package`: dist/claude-auth-sync_<version>_amd64.deb with Debian's own dpkg-deb, from the
// built binary (npm run build, from the lock file) and the files in hooks/, shell/ and docs/. The layout
// is Debian's: /usr/bin, units under /usr/lib/systemd, the config template a conffile, PAM through a
// pam-auth-update profile, man pages and completions where man and the shells look. Reproducible: every
// timestamp is the last commit's (SOURCE_DATE_EPOCH), owners root:root, modes set here, not by umask.
//
//   node scripts/package.mjs [--version X.Y.Z] [--out DIR] [--binary PATH] [--man-dir DIR (pages already made)]
import { execFileSync, spawnSync } from "node:child_process";
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { parseArgs } from "node:util";
import { gzipSync } from "node:zlib";

const repo = join(dirname(new URL(import.meta.url).pathname), "..");
const { values } = parseArgs({
  options: {
    version: { type: "string" },
    out: { type: "string" },
    binary: { type: "string" },
    "man-dir": { type: "string" },
  },
  strict: true,
});
const pkg = JSON.parse(readFileSync(join(repo, "package.json"), "utf8"));
const version = values.version ?? pkg.version;
if (!/^\d+\.\d+\.\d+([~+.][A-Za-z0-9.~+]+)?$/.test(version)) throw new Error(`bad version ${version}`);
const outDir = values.out ?? join(repo, "dist");
const binary = values.binary ?? join(repo, "dist/claude-auth");
if (!existsSync(binary)) throw new Error(`no binary at ${binary}: run npm run build first`);

const epoch = Number(
  process.env.SOURCE_DATE_EPOCH ??
    (spawnSync("git", ["log", "-1", "--format=%ct"], { cwd: repo, encoding: "utf8" }).stdout.trim() ||
      "1796256000"),
);
const stage = mkdtempSync(join(tmpdir(), "cas-deb-"));
const root = join(stage, "root");

/** Paths the shipped files name for install.sh's default prefix, and the package's. */
const fromLocal = (text) =>
  text
    .replaceAll("/usr/local/bin/claude-auth", "/usr/bin/claude-auth")
    .replaceAll("/usr/local/bin/start-claude", "/usr/bin/start-claude")
    .replaceAll("/usr/local/share/", "/usr/share/");

function put(path, content, mode = 0o644) {
  const target = join(root, path);
  mkdirSync(dirname(target), { recursive: true });
  writeFileSync(target, content);
  chmodSync(target, mode);
}
const source = (path) => readFileSync(join(repo, path), "utf8");
const gz = (text) => gzipSync(Buffer.from(text), { level: 9 }); // no name, mtime 0: reproducible

// --- programs
mkdirSync(join(root, "usr/bin"), { recursive: true });
copyFileSync(binary, join(root, "usr/bin/claude-auth"));
chmodSync(join(root, "usr/bin/claude-auth"), 0o755);
put("usr/bin/start-claude", fromLocal(source("shell/start-claude.sh")), 0o755);

// --- shells: the snippets (conffiles in /etc, and the copy start-claude reads) and completions
put("etc/profile.d/claude-auth.sh", source("shell/claude-auth.sh"));
put("etc/fish/conf.d/claude-auth.fish", source("shell/claude-auth.fish"));
put("usr/share/claude-auth-sync/claude-auth.sh", source("shell/claude-auth.sh"));
const completion = (shell) => execFileSync(binary, ["completion", shell], { encoding: "utf8" });
put("usr/share/bash-completion/completions/claude-auth", completion("bash"));
put("usr/share/zsh/vendor-completions/_claude-auth", completion("zsh"));
put("usr/share/fish/vendor_completions.d/claude-auth.fish", completion("fish"));

// --- configuration, units, PAM, alerting, docs
put("etc/claude-auth-sync/config.env", source("hooks/config/config.env"));
for (const unit of ["claude-auth-sync@.service", "claude-auth-sync@.timer"]) {
  put(`usr/lib/systemd/system/${unit}`, fromLocal(source(`hooks/systemd/${unit}`)));
}
put(
  "usr/lib/systemd/system/t3-serve@.service.d/claude-auth.conf",
  fromLocal(source("hooks/systemd/t3-serve@.service.d/claude-auth.conf")),
);
put(
  "usr/lib/systemd/user/claude-auth-watch.service",
  fromLocal(source("hooks/systemd/claude-auth-watch.service")),
);
put("usr/share/pam-configs/claude-auth-sync", source("hooks/pam/pam-configs"));
put(
  "usr/share/claude-auth-sync/prometheus/claude-auth-sync.rules.yml",
  source("hooks/prometheus/claude-auth-sync.rules.yml"),
);
put("usr/share/claude-auth-sync/runbook.md", source("docs/runbook.md"));
put("usr/share/doc/claude-auth-sync/copyright", source("hooks/debian/copyright"));
put(
  "usr/share/doc/claude-auth-sync/changelog.gz",
  gz(
    `claude-auth-sync (${version}) unstable; urgency=medium\n\n  * Release ${version}.\n\n -- ${maintainer()}  ${new Date(epoch * 1000).toUTCString().replace("GMT", "+0000")}\n`,
  ),
);
put("usr/share/lintian/overrides/claude-auth-sync", source("hooks/debian/lintian-overrides"));

// --- man pages (scripts/man.mjs: generated from the same sources as --help and the README tables)
const manDir = values["man-dir"] ?? join(stage, "man");
if (!values["man-dir"]) {
  mkdirSync(manDir);
  const man = spawnSync(process.execPath, [join(repo, "scripts/man.mjs"), manDir], {
    stdio: "inherit",
    env: { ...process.env, CLAUDE_AUTH_SYNC_MAN_VERSION: version, SOURCE_DATE_EPOCH: String(epoch) },
  });
  if (man.status !== 0) throw new Error("scripts/man.mjs failed");
}
put("usr/share/man/man1/claude-auth.1.gz", gz(readFileSync(join(manDir, "claude-auth.1"), "utf8")));
put(
  "usr/share/man/man5/claude-auth-sync.conf.5.gz",
  gz(readFileSync(join(manDir, "claude-auth-sync.conf.5"), "utf8")),
);
// start-claude is a program in /usr/bin too (Debian policy 12.1: every program has a page): its own page
// when the generator makes one, else a .so link to claude-auth(1), which describes the env file it loads.
put(
  "usr/share/man/man1/start-claude.1.gz",
  gz(
    existsSync(join(manDir, "start-claude.1"))
      ? readFileSync(join(manDir, "start-claude.1"), "utf8")
      : ".so man1/claude-auth.1\n",
  ),
);

// --- control area
function maintainer() {
  return "Workstation Platform Team <claude-auth-sync@lists.example.org>";
}
function bytesBelow(dir) {
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    total += entry.isDirectory() ? bytesBelow(path) : statSync(path).size;
  }
  return total;
}
function installedSizeKiB(dir) {
  return Math.ceil(bytesBelow(dir) / 1024);
}
const control = join(root, "DEBIAN");
mkdirSync(control);
put(
  "DEBIAN/control",
  [
    "Package: claude-auth-sync",
    `Version: ${version}`,
    "Architecture: amd64",
    `Maintainer: ${maintainer()}`,
    `Installed-Size: ${installedSizeKiB(root)}`,
    // The binary is Node 24 as one executable: it links libc, libm, libstdc++ and libgcc_s (ldd).
    "Depends: libc6 (>= 2.28), libgcc-s1 (>= 3.0), libstdc++6 (>= 9), libpam-runtime (>= 1.0.1-6)",
    "Suggests: prometheus-node-exporter",
    "Section: admin",
    "Priority: optional",
    "Homepage: https://github.com/claude-auth-sync/claude-auth-sync",
    "Description: keeps workstation users' Claude Code logins valid",
    " claude-auth-sync keeps each workstation user's Claude Code login valid under",
    " their own identity: it materializes an opt-in long-lived setup token, or backs",
    " up and restores the rotating OAuth credential in the user's own Vault KV v2",
    " document (merge writes with check-and-set, sibling keys kept), at login",
    " (pam_exec), from a systemd timer and on demand (claude-auth).",
    " .",
    " PAM is switched on with `pam-auth-update --enable claude-auth-sync`.",
    "",
  ].join("\n"),
);
put(
  "DEBIAN/conffiles",
  [
    "/etc/claude-auth-sync/config.env",
    "/etc/fish/conf.d/claude-auth.fish",
    "/etc/profile.d/claude-auth.sh",
    "",
  ].join("\n"),
);
for (const script of ["postinst", "prerm", "postrm"])
  put(`DEBIAN/${script}`, source(`hooks/debian/${script}`), 0o755);

// --- reproducible: one timestamp, directories 0755
function normalize(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      chmodSync(path, 0o755);
      normalize(path);
    }
    utimesSync(path, epoch, epoch);
  }
}
chmodSync(root, 0o755);
normalize(root);
utimesSync(root, epoch, epoch);

mkdirSync(outDir, { recursive: true });
const deb = join(outDir, `claude-auth-sync_${version}_amd64.deb`);
execFileSync("dpkg-deb", ["--root-owner-group", "-Zxz", "-z3", "--build", root, deb], {
  env: { ...process.env, SOURCE_DATE_EPOCH: String(epoch) },
  stdio: ["ignore", "ignore", "inherit"],
});
rmSync(stage, { recursive: true, force: true });
console.log(deb);
