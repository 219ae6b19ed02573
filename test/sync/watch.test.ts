// `claude-auth watch`: the built binary reacts to changes of the credentials file within seconds.
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import t, { type Test } from "tap";
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

/** A workstation with renewal on against an OAuth stand-in, and `claude-auth watch` running for it. */
async function watching(t: Test, credentials: object) {
  const oauth = await startOAuthStandIn();
  t.teardown(() => oauth.close());
  const ws = await workstation(t, {
    CLAUDE_AUTH_SYNC_OAUTH_TOKEN_URL: oauth.url,
    CLAUDE_AUTH_SYNC_RENEW: "1",
  });
  ws.writeCredentials(credentials);
  const child = spawn(BINARY, ["watch", "--user", ws.user.name, "--config", ws.config], {
    env: { PATH: "/usr/local/bin:/usr/bin:/bin" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const log = { stderr: "" };
  child.stderr.on("data", (c: Buffer) => {
    log.stderr += c.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)));
  t.teardown(() => {
    child.kill("SIGKILL");
  });
  const backupIs = async (c: object) => (await ws.doc()).data?.claude_ai_oauth === JSON.stringify(c);
  return { oauth, ws, child, log, exited, backupIs };
}

t.test("watch backs up a new credential and repairs a stub within seconds, stops on SIGTERM", async (t) => {
  if (!requireRoot(t)) return;
  const first = credential("first", Date.now() + 8 * HOUR);
  const { oauth, ws, child, log, exited, backupIs } = await watching(t, {
    claudeAiOauth: first,
    mcpOAuth: { a: 1 },
  });
  t.ok((await within(20_000, () => log.stderr.includes("watching"))) !== undefined, "started", {
    stderr: log.stderr,
  });
  t.ok((await within(20_000, () => backupIs(first))) !== undefined, "the initial pass backs up", {
    stderr: log.stderr,
  });

  const second = credential("second", Date.now() + 8 * HOUR);
  ws.writeCredentials({ claudeAiOauth: second, mcpOAuth: { a: 1 } });
  const backedUp = await within(20_000, () => backupIs(second));
  t.ok(backedUp !== undefined, `a new credential is backed up (${backedUp} ms)`, { stderr: log.stderr });

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
  t.ok(restored !== undefined, `a stub is restored from the backup (${restored} ms)`, { stderr: log.stderr });
  t.same(JSON.parse(readFileSync(ws.credentialsFile, "utf8")).mcpOAuth, { a: 1 }, "other keys kept");
  t.equal(oauth.requests.length, 0, "fresh credentials: nothing renewed");
  t.notMatch(log.stderr, /sk-ant-o[ar]t01-/, "no token in the log");

  child.kill("SIGTERM");
  const code = await Promise.race([exited, sleep(10_000).then(() => "timeout" as const)]);
  t.equal(code, 0, "SIGTERM: clean exit 0", { stderr: log.stderr });
});

t.test("watch renews only within its own 1 h window, not the timer's 7 h one", async (t) => {
  if (!requireRoot(t)) return;
  // The configured window is the default 7 h: a watching host must still not renew a 3 h token.
  const threeHours = credential("three-hours", Date.now() + 3 * HOUR);
  const { oauth, ws, child, log, backupIs: backupOf } = await watching(t, { claudeAiOauth: threeHours });
  t.ok(
    (await within(20_000, () => backupOf(threeHours))) !== undefined,
    "the initial pass backs the 3 h token up",
    {
      stderr: log.stderr,
    },
  );
  t.equal(oauth.requests.length, 0, "3 h left: not renewed by the watch");

  const halfHour = credential("half-hour", Date.now() + 30 * 60_000);
  oauth.issue(halfHour.refreshToken);
  ws.writeCredentials({ claudeAiOauth: halfHour });
  const renewed = await within(20_000, () => oauth.requests.length > 0);
  t.ok(renewed !== undefined, `30 min left: renewed on the change (${renewed} ms)`, { stderr: log.stderr });
  const inFile = await within(10_000, () => {
    try {
      return JSON.parse(readFileSync(ws.credentialsFile, "utf8")).claudeAiOauth.accessToken.includes(
        "renewed",
      );
    } catch {
      return false;
    }
  });
  t.ok(inFile !== undefined, "the renewed credential is in the file", { stderr: log.stderr });
  t.equal(oauth.requests.length, 1, "renewed once");
  child.kill("SIGTERM");
});
