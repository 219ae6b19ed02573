// Credential verification decisions and the Alertmanager push, without the network to Anthropic.
import http from "node:http";
import type { AddressInfo } from "node:net";
import t from "tap";
import { alertsFor, pushAlerts } from "../../src/alert/alertmanager.js";
import { renderMetrics } from "../../src/alert/metrics.js";
import type { LiveCheck } from "../../src/claude/api-check.js";
import {
  credentialToVerify,
  fingerprint,
  knownInvalid,
  readVerification,
  verdictFrom,
  verificationDue,
  verifyCredential,
} from "../../src/sync/verify.js";
import { UserHome } from "../../src/system/home.js";
import { createTestUser, requireRoot } from "../helpers/users.js";

const NOW = Date.parse("2026-11-30T09:00:00Z");
const HOUR = 3_600_000;
const SETUP = `sk-ant-oat01-${"V".repeat(40)}`;
const policy = { intervalMs: 6 * HOUR, retryMs: HOUR / 2 };
const valid = (expiresAt: number) =>
  ({
    kind: "valid",
    file: {},
    credential: { accessToken: "sk-ant-oat01-acc", refreshToken: "sk-ant-ort01-r", expiresAt },
  }) as const;

t.test("which credential is verified: the setup token first, else a live access token", async (t) => {
  t.same(credentialToVerify({ kind: "present", token: SETUP }, valid(NOW + HOUR), NOW), {
    kind: "setup-token",
    secret: SETUP,
  });
  t.same(credentialToVerify({ kind: "absent" }, valid(NOW + HOUR), NOW), {
    kind: "access-token",
    secret: "sk-ant-oat01-acc",
  });
  t.match(
    credentialToVerify({ kind: "absent" }, valid(NOW - 1), NOW),
    { skip: /expired/ },
    "never refreshes to verify",
  );
  t.match(credentialToVerify({ kind: "absent" }, { kind: "absent" }, NOW), { skip: /no usable/ });
  t.match(credentialToVerify({ kind: "present", token: null }, { kind: "logged-out", file: {} }, NOW), {
    skip: /no usable/,
  });
});

t.test(
  "at most one verification per interval; sooner after an unknown; always for a new credential",
  async (t) => {
    const print = fingerprint(SETUP);
    const at = (ms: number, verdict: "valid" | "invalid" | "unknown" = "valid") => ({
      at: new Date(ms).toISOString(),
      verdict,
      credential: "setup-token" as const,
      fingerprint: print,
      reason: "",
    });
    t.equal(verificationDue(undefined, print, NOW, policy), true, "never verified");
    t.equal(verificationDue(at(NOW - HOUR), print, NOW, policy), false, "1 h ago: not due");
    t.equal(verificationDue(at(NOW - 7 * HOUR), print, NOW, policy), true, "7 h ago: due");
    t.equal(verificationDue(at(NOW - HOUR, "unknown"), print, NOW, policy), true, "unknown 1 h ago: retried");
    t.equal(
      verificationDue(at(NOW - 10 * 60_000, "unknown"), print, NOW, policy),
      false,
      "unknown 10 min ago: not yet",
    );
    t.equal(verificationDue(at(NOW - HOUR), fingerprint("other"), NOW, policy), true, "another credential");
    t.equal(knownInvalid(at(NOW, "invalid"), print), true);
    t.equal(
      knownInvalid(at(NOW, "invalid"), fingerprint("rotated")),
      false,
      "a rotated token is not judged by the old verdict",
    );
    t.notMatch(print, /V{4}/, "the fingerprint does not reveal the token");
  },
);

t.test(
  "verdicts: accepted valid, 401/403 invalid, anything else unknown (never a false alert)",
  async (t) => {
    const cases: Array<[LiveCheck, string]> = [
      [{ verdict: "accepted", status: 200 }, "valid"],
      [{ verdict: "rejected", status: 401, reason: "HTTP 401" }, "invalid"],
      [{ verdict: "rejected", status: 403, reason: "HTTP 403" }, "invalid"],
      [{ verdict: "unknown", reason: "rate limited (HTTP 429)" }, "unknown"],
      [{ verdict: "unknown", reason: "the API is unavailable (HTTP 503)" }, "unknown"],
      [{ verdict: "unknown", reason: "no answer within 3000 ms" }, "unknown"],
    ];
    for (const [check, verdict] of cases) t.equal(verdictFrom(check).verdict, verdict, JSON.stringify(check));
  },
);

t.test("verifyCredential keeps the verdict in the user's directory and skips when recent", async (t) => {
  if (!requireRoot(t)) return;
  const user = createTestUser(t);
  const home = new UserHome(user);
  let calls = 0;
  const reject = async (): Promise<LiveCheck> => {
    calls++;
    return { verdict: "rejected", status: 401, reason: "HTTP 401" };
  };
  const options = { baseUrl: new URL("http://127.0.0.1:9"), timeoutMs: 100, now: new Date(NOW), policy };
  const first = await verifyCredential(
    home,
    { kind: "present", token: SETUP },
    { kind: "absent" },
    options,
    reject,
  );
  t.match(first, { ran: true, verification: { verdict: "invalid", credential: "setup-token" } });
  const stored = readVerification(home);
  t.equal(stored?.verdict, "invalid");
  t.notMatch(JSON.stringify(stored), SETUP, "the stored verdict holds no token");
  const second = await verifyCredential(
    home,
    { kind: "present", token: SETUP },
    { kind: "absent" },
    options,
    reject,
  );
  t.match(second, { ran: false, reason: "verified recently" });
  t.equal(calls, 1, "one request per interval");
  await verifyCredential(
    home,
    { kind: "present", token: SETUP },
    { kind: "absent" },
    { ...options, force: true },
    reject,
  );
  t.equal(calls, 2, "--verify forces a check");
});

t.test("metrics carry the setup token's age and expiry and the verification verdict", async (t) => {
  const text = renderMetrics(
    {
      user: "alice",
      mode: "setup-token",
      valid: true,
      exitCode: 0,
      runAt: new Date(NOW),
      succeeded: true,
      credentialExpiresAt: undefined,
      setupTokenUpdatedAt: new Date(NOW - 340 * 86_400_000),
      verification: { at: new Date(NOW), verdict: "valid" },
    },
    new Date(NOW),
  );
  const stored = Math.floor((NOW - 340 * 86_400_000) / 1000);
  t.match(text, `claude_auth_sync_setup_token_updated_timestamp_seconds{user="alice"} ${stored}`);
  t.match(
    text,
    `claude_auth_sync_setup_token_expiry_timestamp_seconds{user="alice"} ${stored + 365 * 86_400}`,
  );
  t.match(text, 'claude_auth_sync_verification_result{user="alice",result="valid"} 1');
  t.match(text, 'claude_auth_sync_verification_result{user="alice",result="invalid"} 0');
});

t.test("Alertmanager: firing and resolved alerts, posted to /api/v2/alerts, bounded", async (t) => {
  const firing = alertsFor(
    { user: "alice", invalid: true, setupTokenExpiresAt: NOW + 10 * 86_400_000, now: new Date(NOW) },
    "ws1",
  );
  t.same(
    firing.map((a) => [a.labels.alertname, Date.parse(a.endsAt) > NOW]),
    [
      ["WorkstationClaudeAuthInvalid", true],
      ["WorkstationClaudeSetupTokenExpiring", true],
    ],
  );
  const healthy = alertsFor(
    { user: "alice", invalid: false, setupTokenExpiresAt: NOW + 300 * 86_400_000, now: new Date(NOW) },
    "ws1",
  );
  t.ok(
    healthy.every((a) => Date.parse(a.endsAt) === NOW),
    "a healthy run resolves both",
  );
  const received: unknown[] = [];
  const server = http.createServer((request, response) => {
    let body = "";
    request.on("data", (c) => {
      body += c;
    });
    request.on("end", () => {
      received.push({ path: request.url, alerts: JSON.parse(body) });
      response.end("");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.teardown(() => server.close());
  const port = (server.address() as AddressInfo).port;
  const result = await pushAlerts(new URL(`http://127.0.0.1:${port}/`), firing, 2000);
  t.match(result, /pushed 2 alerts/);
  t.match(received[0], {
    path: "/api/v2/alerts",
    alerts: [{ labels: { alertname: "WorkstationClaudeAuthInvalid", user: "alice" } }],
  });
  const hang = http.createServer(() => undefined);
  await new Promise<void>((resolve) => hang.listen(0, "127.0.0.1", resolve));
  t.teardown(() => hang.closeAllConnections?.() ?? hang.close());
  const started = Date.now();
  const slow = await pushAlerts(
    new URL(`http://127.0.0.1:${(hang.address() as AddressInfo).port}`),
    firing,
    300,
  );
  t.match(slow, /did not answer within 300 ms/);
  t.ok(Date.now() - started < 2000, "bounded");
  hang.close();
});
