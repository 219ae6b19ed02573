// The admin commands (yargs, execa and everything behind enable, status, doctor, …) are a second
// bundle, dist/claude-auth-cli.cjs, embedded in the single executable as an asset with its own V8
// code cache. The login path (`pam`, `sync`) never loads, parses or deserializes that code: a login
// pays only for what it runs (bench/README.md: about 3 ms a login, ~7% of the hook).
import { createRequire } from "node:module";
import { dirname, join } from "node:path";

export const CLI_ASSET = "claude-auth-cli.cjs";
export const CLI_CACHE_ASSET = "claude-auth-cli.cache";

export interface CliModule {
  runCli(argv: string[]): Promise<number>;
}

const load = createRequire(import.meta.url);

/** The CommonJS wrapper both the build (for the code cache) and this loader compile: they must match. */
export function wrapCli(source: string): string {
  return `(function (exports, require, module, __filename, __dirname) {${source}\n})`;
}

export function loadCli(): CliModule {
  const sea = load("node:sea") as typeof import("node:sea");
  if (!sea.isSea()) {
    // `node dist/claude-auth.cjs …`: the second bundle lies next to the first.
    return load(join(dirname(process.argv[1] ?? "."), CLI_ASSET)) as CliModule;
  }
  const vm = load("node:vm") as typeof import("node:vm");
  const source = sea.getAsset(CLI_ASSET, "utf8");
  let cachedData: Buffer | undefined;
  try {
    cachedData = Buffer.from(sea.getAsset(CLI_CACHE_ASSET));
  } catch {
    cachedData = undefined; // built without a cache: compiled from source, only slower
  }
  const script = new vm.Script(wrapCli(source), { filename: CLI_ASSET, cachedData });
  const module = { exports: {} as CliModule };
  const run = script.runInThisContext() as (...args: unknown[]) => void;
  run(module.exports, createRequire(process.execPath), module, CLI_ASSET, dirname(process.execPath));
  return module.exports;
}
