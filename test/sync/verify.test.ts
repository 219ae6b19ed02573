// Timer runs verify the credential in use against an API stand-in; the login path never does.
import { existsSync, readFileSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import t from "tap";
import { startAnthropicStandIn } from "../e2e/anthropic-standin.js";
import { runBinary } from "../helpers/cli.js";
import { requireRoot } from "../helpers/users.js";
import { credential, HOUR, metrics, setupToken, workstation } from "./fixture.js";

async function alertmanager(t: { teardown(fn: () => void): void }) {
  const posts: Array<Array<{ labels: Record<string, string>; endsAt: string }>> = [];
  const server = http.createServer((request, response) => {
    let body = "";
    request.on("data", (c) => {
      body += c;
    });
    request.on("end", () => {
      if (request.url === "/api/v2/alerts") posts.push(JSON.parse(body));
      response.end("");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.teardown(() => server.close());
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, posts };
}

t.test(
  "a rejected setup token: metric 0, a notice with the fix, Alertmanager told; unknown never alerts",
  async (t) => {
    if (!requireRoot(t)) return;
    const api = await startAnthropicStandIn();
    t.teardown(() => api.close());
    const am = await alertmanager(t);
    const ws = await workstation(t, {
      CLAUDE_AUTH_SYNC_ANTHROPIC_BASE_URL: api.url,
      CLAUDE_AUTH_SYNC_ALERTMANAGER_URL: am.url,
    });
    const token = setupToken("W");
    await ws.seed({
      setup_token: token,
      setup_token_updated_at: new Date(Date.now() - 340 * 86_400_000).toISOString(),
    });
    api.setAnswer(token, { kind: "accept" });
    let run = await ws.sync(["--verify"]);
    t.equal(run.code, 0, "exit 0", { stdout: run.stdout, stderr: run.stderr });
    t.equal(api.messageRequests().length, 1, "one verification request");
    t.equal(api.messageRequests()[0]?.authorization, `Bearer ${token}`);
    t.match(metrics(ws), /claude_auth_sync_valid\{user="[^"]+"\} 1/);
    t.match(metrics(ws), /claude_auth_sync_verification_result\{user="[^"]+",result="valid"\} 1/);
    t.match(metrics(ws), /claude_auth_sync_setup_token_expiry_timestamp_seconds/);
    const expiring = am.posts
      .at(-1)
      ?.find((a) => a.labels.alertname === "WorkstationClaudeSetupTokenExpiring");
    t.ok(expiring && Date.parse(expiring.endsAt) > Date.now(), "340 days old: the expiring alert fires");

    run = await ws.sync(["--verify"]);
    t.equal(api.messageRequests().length, 1, "within the interval: no second request");

    // The token is revoked in the Claude settings; a new verification is due (force by a fresh interval).
    api.setAnswer(token, { kind: "reject" });
    run = await ws.sync(["--verify"], { CLAUDE_AUTH_SYNC_VERIFY_INTERVAL_S: "60" });
    t.equal(api.messageRequests().length, 1, "still within 60 s: not due");
    const verification = join(ws.user.home, ".config/claude-auth-sync/verification.json");
    const stale = JSON.parse(readFileSync(verification, "utf8"));
    stale.at = new Date(Date.now() - 2 * 60_000).toISOString();
    const { writeFileSync, chownSync } = await import("node:fs");
    writeFileSync(verification, JSON.stringify(stale));
    chownSync(verification, ws.user.uid, ws.user.gid);
    run = await ws.sync(["--verify"], { CLAUDE_AUTH_SYNC_VERIFY_INTERVAL_S: "60" });
    t.equal(run.code, 0, "the sync itself succeeded");
    t.equal(api.messageRequests().length, 2, "verified again once due");
    t.match(metrics(ws), /claude_auth_sync_valid\{user="[^"]+"\} 0/, "the alert metric drops to 0");
    const notice = readFileSync(join(ws.user.home, ".config/claude-auth-sync/notice"), "utf8");
    t.match(notice, /`claude setup-token`, then `claude-auth rotate`/, "the notice says exactly what to do");
    const invalid = am.posts.at(-1)?.find((a) => a.labels.alertname === "WorkstationClaudeAuthInvalid");
    t.ok(invalid && Date.parse(invalid.endsAt) > Date.now(), "Alertmanager gets the firing alert");
    t.notMatch(JSON.stringify(am.posts) + run.stdout + run.stderr + metrics(ws), token, "no token anywhere");

    // A rotated token is not judged by the old verdict.
    const rotated = setupToken("Z");
    await ws.seed({ setup_token: rotated, setup_token_updated_at: new Date().toISOString() });
    api.setAnswer(rotated, { kind: "unavailable" });
    run = await ws.sync(["--verify"]);
    t.equal(run.code, 0);
    t.match(metrics(ws), /claude_auth_sync_valid\{user="[^"]+"\} 1/, "503: unknown, never reported invalid");
    t.match(metrics(ws), /result="unknown"\} 1/);
    t.notOk(existsSync(join(ws.user.home, ".config/claude-auth-sync/notice")), "the notice is cleared");
  },
);

t.test("rotating mode verifies the access token; the login path never verifies", async (t) => {
  if (!requireRoot(t)) return;
  const api = await startAnthropicStandIn();
  t.teardown(() => api.close());
  const ws = await workstation(t, { CLAUDE_AUTH_SYNC_ANTHROPIC_BASE_URL: api.url });
  const live = credential("v", Date.now() + 7 * HOUR);
  ws.writeCredentials({ claudeAiOauth: live });
  api.setAnswer(live.accessToken, { kind: "reject" });
  const login = await runBinary(["pam", "--config", ws.config], {
    env: { PAM_USER: ws.user.name, PAM_TYPE: "open_session" },
  });
  t.equal(login.code, 0);
  t.equal(api.requests.length, 0, "no API request during a login");
  const run = await ws.sync(["--verify"]);
  t.equal(run.code, 0);
  t.equal(api.messageRequests().at(-1)?.authorization, `Bearer ${live.accessToken}`);
  t.match(metrics(ws), /claude_auth_sync_valid\{user="[^"]+"\} 0/);
  t.match(readFileSync(join(ws.user.home, ".config/claude-auth-sync/notice"), "utf8"), /claude auth login/);
});
