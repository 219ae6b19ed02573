// `claude-auth watch`: the built binary reacts to changes of the credentials file within seconds.
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import t from "tap";
import { BINARY } from "../helpers/cli.js";
import { requireRoot } from "../helpers/users.js";
import { startOAuthStandIn } from "../oauth/standin.js";
import { credential, HOUR, STUB, workstation } from "./fixture.js";

/** Polls until `check` is true; generous bound (the machine is shared), returns the time it took. */
async function within(ms: number, check: () => Promise<boolean> | boolean): Promise<number | undefined> {
  const started = Date.now();
  while (Date.now() - started < ms) {
    if (await check()) return Date.now() - started;
    await sleep(100);
  }
  return undefined;
}

t.test("watch backs up a new credential and repairs a stub within seconds, stops on SIGTERM", async (t) => {
  if (!requireRoot(t)) return;
  const oauth = await startOAuthStandIn();
  t.teardown(() => oauth.close());
  const ws = await workstation(t, {
    CLAUDE_AUTH_SYNC_OAUTH_TOKEN_URL: oauth.url,
    CLAUDE_AUTH_SYNC_RENEW: "1",
  });
  const first = credential("first", Date.now() + 8 * HOUR);
  ws.writeCredentials({ claudeAiOauth: first, mcpOAuth: { a: 1 } });
  const child = spawn(BINARY, ["watch", "--user", ws.user.name, "--config", ws.config], {
    env: { PATH: "/usr/local/bin:/usr/bin:/bin" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (c: Buffer) => {
    stderr += c.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)));
  t.teardown(() => {
    child.kill("SIGKILL");
  });
  const backupIs = async (c: object) => {
    const doc = await ws.doc();
    return doc.data?.claude_ai_oauth === JSON.stringify(c);
  };
  t.ok(await within(20_000, () => stderr.includes("watching")), "started", { stderr });
  t.ok(await within(20_000, () => backupIs(first)), "the initial pass backs up", { stderr });

  const second = credential("second", Date.now() + 8 * HOUR);
  ws.writeCredentials({ claudeAiOauth: second, mcpOAuth: { a: 1 } });
  const backedUp = await within(20_000, () => backupIs(second));
  t.ok(backedUp !== undefined, `a new credential is backed up (${backedUp} ms)`, { stderr });

  ws.writeCredentials({ claudeAiOauth: STUB, mcpOAuth: { a: 1 } });
  const restored = await within(20_000, () => {
    try {
      return (
        JSON.parse(readFileSync(ws.credentialsFile, "utf8")).claudeAiOauth.accessToken === second.accessToken
      );
    } catch {
      return false;
    }
  });
  t.ok(restored !== undefined, `a stub is restored from the backup (${restored} ms)`, { stderr });
  t.same(JSON.parse(readFileSync(ws.credentialsFile, "utf8")).mcpOAuth, { a: 1 }, "other keys kept");
  t.equal(oauth.requests.length, 0, "fresh credentials: nothing renewed");
  t.notMatch(stderr, /sk-ant-o[ar]t01-/, "no token in the log");

  child.kill("SIGTERM");
  const code = await Promise.race([exited, sleep(10_000).then(() => "timeout" as const)]);
  t.equal(code, 0, "SIGTERM: clean exit 0", { stderr });
});
