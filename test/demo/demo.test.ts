// `npm run demo` (scripts/demo.mjs): the walk-through runs to the end on this machine, shows what it
// promises, never prints a token, and leaves nothing behind (user, home, scratch files).
import { spawn, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import t from "tap";
import { requireRoot } from "../helpers/users.js";

const DEMO = fileURLToPath(new URL("../../scripts/demo.mjs", import.meta.url));

function runDemo(): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [DEMO], {
      env: { PATH: process.env.PATH ?? "/usr/local/bin:/usr/bin:/bin", HOME: process.env.HOME ?? "/root" },
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
    const timer = setTimeout(() => child.kill("SIGINT"), 120_000);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

t.test("the demo walks through enable, login, status and disable, and cleans up", async (t) => {
  if (!requireRoot(t)) return;
  const { code, stdout, stderr } = await runDemo();
  if (code !== 0) t.comment(`demo output:\n${stdout}\n${stderr}`);
  t.equal(code, 0, "exit 0");
  const user = /== \d+\. A throwaway user ==\n {2}(casdemo[0-9a-f]+) \(uid/.exec(stdout)?.[1];
  t.ok(user, "names the throwaway user");
  const scratch = /removed the scratch directory (\S+)/.exec(stdout)?.[1];
  for (const heading of [
    "A Vault stand-in on loopback",
    "claude-auth enable",
    "A login: claude-auth pam",
    "claude-auth status",
    "The env file Claude Code reads",
    "The other tool's key survived",
    "claude-auth disable",
    "Clean up",
  ]) {
    t.match(stdout, new RegExp(`== \\d+\\. ${heading.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}`), heading);
  }
  t.match(stdout, /via=pam user=casdemo\w+ mode=setup-token outcome=valid .*exit=0/, "the login synced");
  t.match(stdout, /claude-oauth\.env 0600 casdemo\w+\n/, "env file is 0600 and the user's");
  t.match(stdout, /claude-auth-sync\/ 0700 casdemo\w+\n/, "its directory is 0700");
  t.match(stdout, /CLAUDE_CODE_OAUTH_TOKEN=sk-ant-oat01-….{4} \(masked\)/, "the env line, masked");
  t.match(stdout, /vaultwarden_demo=demo-[0-9a-f]+: unchanged/, "the sibling key survived enable");
  t.match(stdout, /HTTP PATCH requests: 0/, "no HTTP PATCH");
  t.match(stdout, /env file: gone/, "disable removed the env file");
  t.match(stdout, /keys now: vaultwarden_demo\n/, "only the sibling key is left after disable");
  t.match(stdout, /Demo finished: every step worked\./);
  t.notMatch(stdout + stderr, /sk-ant-oat01-[A-Za-z0-9_-]{8,}/, "no setup token is ever printed");
  if (user) t.not(spawnSync("getent", ["passwd", user]).status, 0, "the user is gone");
  if (user) t.notOk(existsSync(`/home/${user}`), "its home is gone");
  t.ok(scratch && !existsSync(scratch), "the scratch directory is gone");
});
