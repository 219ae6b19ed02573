#!/usr/bin/env node
// Writes the man pages: `node scripts/man.mjs <outdir>` -> <outdir>/claude-auth.1 and
// <outdir>/claude-auth-sync.conf.5, plain roff, uncompressed. The pages are made by src/docs/man.ts,
// bundled here with the build's own esbuild settings into a temporary file (no network).
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { bundle } from "./build.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const outdir = process.argv[2];
if (!outdir || process.argv.length > 3) {
  process.stderr.write("usage: node scripts/man.mjs <outdir>\n");
  process.exit(2);
}

/** The footer date: SOURCE_DATE_EPOCH, else the last commit's (a reproducible package), else today. */
function pageDate() {
  let epoch = process.env.SOURCE_DATE_EPOCH;
  if (!epoch || !/^\d+$/.test(epoch)) {
    const git = spawnSync("git", ["log", "-1", "--format=%ct"], { cwd: root, encoding: "utf8" });
    epoch = git.status === 0 ? git.stdout.trim() : "";
  }
  const when = /^\d+$/.test(epoch) ? new Date(Number(epoch) * 1000) : new Date();
  return when.toISOString().slice(0, 10);
}

const scratch = mkdtempSync(join(tmpdir(), "claude-auth-man-"));
try {
  const bundled = join(scratch, "man.cjs");
  await bundle(join(root, "src", "docs", "man.ts"), bundled);
  const { manPages } = createRequire(import.meta.url)(bundled);
  // The package build names the version it packages (scripts/package.mjs --version).
  const version =
    process.env.CLAUDE_AUTH_SYNC_MAN_VERSION ??
    JSON.parse(readFileSync(join(root, "package.json"), "utf8")).version;
  const target = resolve(outdir);
  mkdirSync(target, { recursive: true });
  for (const [name, text] of Object.entries(manPages({ version, date: pageDate() }))) {
    writeFileSync(join(target, name), text, { mode: 0o644 });
    process.stdout.write(`${join(target, name)}\n`);
  }
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
