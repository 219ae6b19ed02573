// The user's own Vault token expiry in the metrics file (user identity mode): the series the
// WorkstationClaudeAuthIdentityExpiring alert reads (hooks/prometheus/claude-auth-sync.rules.yml).
import t from "tap";
import { renderMetrics, type SyncReport } from "../../src/alert/metrics.js";

const NOW = Date.parse("2026-12-03T12:00:00Z");
const HOUR = 3_600_000;
const NAME = "claude_auth_sync_identity_expiry_timestamp_seconds";

const report = (fields: Partial<SyncReport>): SyncReport => ({
  user: "alice",
  mode: "rotating",
  valid: true,
  exitCode: 0,
  runAt: new Date(NOW),
  succeeded: true,
  credentialExpiresAt: undefined,
  ...fields,
});

/** The sample lines and HELP/TYPE lines of the identity-expiry metric. */
const identityLines = (text: string) => text.split("\n").filter((line) => line.includes(NAME));

t.test("a future expiry is rendered in whole seconds since the epoch, per user", async (t) => {
  const expiresAt = NOW + 72 * HOUR + 999; // milliseconds are dropped, not rounded up
  const text = renderMetrics(report({ identityExpiresAt: expiresAt }), new Date(NOW));
  t.same(identityLines(text), [
    `# HELP ${NAME} When the user's own Vault token for claude-auth-sync expires; 0 once Vault refused it as expired or revoked.`,
    `# TYPE ${NAME} gauge`,
    `${NAME}{user="alice"} ${Math.floor((NOW + 72 * HOUR) / 1000)}`,
  ]);
  t.match(text, new RegExp(`^${NAME}\\{user="alice"\\} 1796558400$`, "m"), "72 h after 2026-12-03 12:00 UTC");
  t.ok(text.endsWith("\n"), "the file ends with a newline");
});

t.test("a token Vault refused (identityExpiresAt: 0) is rendered as 0", async (t) => {
  const text = renderMetrics(report({ identityExpiresAt: 0, exitCode: 5, succeeded: false }), undefined);
  const samples = identityLines(text).filter((line) => !line.startsWith("#"));
  t.same(samples, [`${NAME}{user="alice"} 0`]);
});

t.test(
  "no series without an identity expiry (not enrolled, host mode, a token that never expires)",
  async (t) => {
    const cases: [string, Partial<SyncReport>][] = [
      ["identityExpiresAt: undefined", { identityExpiresAt: undefined }],
      ["no identityExpiresAt field (host mode)", {}],
      ["not enrolled", { mode: "not-enrolled", valid: false }],
      ["setup-token mode", { mode: "setup-token" }],
    ];
    for (const [what, fields] of cases) {
      const text = renderMetrics(report(fields), new Date(NOW));
      t.same(identityLines(text), [], `absent: ${what}`);
      t.match(text, /^claude_auth_sync_valid\{user="alice"\} [01]$/m, "the other metrics are still there");
    }
  },
);

t.test("the series carries the user label, escaped like the others", async (t) => {
  const text = renderMetrics(report({ user: "bob.smith@corp", identityExpiresAt: NOW + HOUR }), undefined);
  t.match(text, new RegExp(`^${NAME}\\{user="bob\\.smith@corp"\\} ${Math.floor((NOW + HOUR) / 1000)}$`, "m"));
  t.notMatch(text, /user="alice"/);
});
