// The shipped Prometheus rules, checked by promtool: syntax (check rules), behaviour (test rules,
// with the shipped unit tests and with metrics rendered by the tool's own writer), and negative
// controls showing that a wrong expectation or a weakened rule makes promtool fail.
import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import t, { type Test } from "tap";
import { renderMetrics, type SyncReport } from "../../src/alert/metrics.js";

const HOOKS = join(dirname(fileURLToPath(import.meta.url)), "../../hooks/prometheus");
const RULES = "claude-auth-sync.rules.yml";
const RULE_TESTS = "claude-auth-sync.rules.test.yml";
const PROMTOOL = "/usr/bin/promtool";

function promtool(args: string[], cwd: string): { status: number | null; output: string } {
  const result = spawnSync(PROMTOOL, args, { cwd, encoding: "utf8", timeout: 120_000 });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

/** promtool comes with Debian's `prometheus` package; without it nothing here can be proven. */
function requirePromtool(t: Test): boolean {
  if (existsSync(PROMTOOL)) return true;
  const why = `SKIPPED: ${PROMTOOL} is missing (apt-get install --no-install-recommends prometheus)`;
  if (process.env.CI === "true") t.fail(`${why}; CI must provide it`);
  else t.plan(0, why);
  return false;
}

/** A scratch copy of the rules and their tests, edited by `edits` (file name -> text transform). */
function scratch(t: Test, edits: Record<string, (text: string) => string> = {}): string {
  const dir = mkdtempSync(join(tmpdir(), "claude-auth-rules-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  for (const file of [RULES, RULE_TESTS]) {
    const edit = edits[file];
    if (!edit) {
      copyFileSync(join(HOOKS, file), join(dir, file));
      continue;
    }
    const original = readFileSync(join(HOOKS, file), "utf8");
    const edited = edit(original);
    if (edited === original) throw new Error(`the edit of ${file} changed nothing`);
    writeFileSync(join(dir, file), edited);
  }
  return dir;
}

const alertNames = (text: string) => [...text.matchAll(/^\s*- alert: (\S+)$/gm)].map((m) => m[1]);

t.test("promtool check rules accepts the shipped rules", async (t) => {
  if (!requirePromtool(t)) return;
  const result = promtool(["check", "rules", RULES], HOOKS);
  t.equal(result.status, 0, "valid", { output: result.output });
  t.match(result.output, /SUCCESS: 4 rules found/);
});

t.test(
  "the rules are the contract's alert plus the stale-sync and expiry alerts, each with tests",
  async (t) => {
    const rules = readFileSync(join(HOOKS, RULES), "utf8");
    const tests = readFileSync(join(HOOKS, RULE_TESTS), "utf8");
    t.same(alertNames(rules), [
      "WorkstationClaudeAuthInvalid",
      "WorkstationClaudeAuthSyncStale",
      "WorkstationClaudeSetupTokenExpiring",
      "WorkstationClaudeAuthIdentityExpiring",
    ]);
    for (const name of alertNames(rules)) {
      t.match(
        tests,
        new RegExp(`alertname: ${name}\\n\\s+exp_alerts:\\n\\s+- exp_labels`),
        `${name} is tested firing`,
      );
      t.match(
        rules,
        new RegExp(`runbook_url: docs/runbook\\.md#${name?.toLowerCase()}`),
        `${name} links its runbook`,
      );
    }
  },
);

t.test("promtool test rules passes the shipped rule tests", async (t) => {
  if (!requirePromtool(t)) return;
  const result = promtool(["test", "rules", RULE_TESTS], HOOKS);
  t.equal(result.status, 0, "all cases pass", { output: result.output });
  t.match(result.output, /SUCCESS/);
});

t.test(
  "negative controls: promtool fails on a wrong expectation, a weakened rule, a broken expression",
  async (t) => {
    if (!requirePromtool(t)) return;
    const early = scratch(t, {
      // Expect the invalid alert one minute before its `for:` window is over.
      [RULE_TESTS]: (text) => text.replace("      - eval_time: 18m\n", "      - eval_time: 17m\n"),
    });
    const earlyRun = promtool(["test", "rules", RULE_TESTS], early);
    t.not(earlyRun.status, 0, "firing expected too early fails", { output: earlyRun.output });
    t.match(earlyRun.output, /WorkstationClaudeAuthInvalid/);

    const wrongText = scratch(t, {
      [RULE_TESTS]: (text) => text.replace("`claude-auth enable`.", "`claude-auth rotate`."),
    });
    const wrongTextRun = promtool(["test", "rules", RULE_TESTS], wrongText);
    t.not(wrongTextRun.status, 0, "a different fix in the description fails", {
      output: wrongTextRun.output,
    });

    const impatient = scratch(t, { [RULES]: (text) => text.replace("for: 15m", "for: 5m") });
    const impatientRun = promtool(["test", "rules", RULE_TESTS], impatient);
    t.not(impatientRun.status, 0, "a rule that fires on a short flap fails the tests", {
      output: impatientRun.output,
    });

    // The identity alert: a threshold over the 36 h half period fires on a healthy, renewed token;
    // a short `for:` fires on a dip the next run repairs.
    const eager = scratch(t, {
      [RULES]: (text) => text.replace("time() < 86400\n", "time() < 1.5 * 86400\n"),
    });
    const eagerRun = promtool(["test", "rules", RULE_TESTS], eager);
    t.not(eagerRun.status, 0, "an identity threshold over half the period fails the tests", {
      output: eagerRun.output,
    });
    t.match(eagerRun.output, /WorkstationClaudeAuthIdentityExpiring/);
    const hasty = scratch(t, {
      [RULES]: (text) => text.replace("time() < 86400\n        for: 1h", "time() < 86400\n        for: 20m"),
    });
    const hastyRun = promtool(["test", "rules", RULE_TESTS], hasty);
    t.not(hastyRun.status, 0, "an identity alert that fires on a short dip fails the tests", {
      output: hastyRun.output,
    });

    const broken = scratch(t, {
      [RULES]: (text) => text.replace("expr: claude_auth_sync_valid == 0", "expr: claude_auth_sync_valid =="),
    });
    const brokenRun = promtool(["check", "rules", RULES], broken);
    t.not(brokenRun.status, 0, "check rules rejects a broken expression", { output: brokenRun.output });
  },
);

/** The metrics file the tool writes, turned into promtool input series as scraped from `instance`. */
function seriesFromMetricsFile(text: string, minutes: number): { series: string; values: string }[] {
  return text
    .split("\n")
    .filter((line) => line !== "" && !line.startsWith("#"))
    .map((line) => {
      const match = line.match(/^(\w+)\{(.*)\} (\S+)$/);
      if (!match) throw new Error(`unexpected metrics line: ${line}`);
      return {
        series: `${match[1]}{${match[2]},instance="ws1:9100",job="node"}`,
        values: `${match[3]}x${minutes}`,
      };
    });
}

t.test("the rules fire on the metrics file the tool itself writes", async (t) => {
  if (!requirePromtool(t)) return;
  const at = new Date(0); // promtool's clock starts at the epoch
  const report = (user: string, fields: Partial<SyncReport>): SyncReport => ({
    user,
    mode: "rotating",
    valid: true,
    exitCode: 0,
    runAt: at,
    succeeded: true,
    credentialExpiresAt: undefined,
    ...fields,
  });
  const ssoRequired = renderMetrics(report("alice", { valid: false, exitCode: 3 }), at);
  const setupToken = renderMetrics(report("bob", { mode: "setup-token" }), at);
  const noAlert = (alertname: string, eval_time: string) => ({ eval_time, alertname, exp_alerts: [] });
  const tests = readFileSync(join(HOOKS, RULE_TESTS), "utf8");
  // User identity mode: kate's token was refused (0), ivan's expires in 3 days, olga is not enrolled.
  const refused = renderMetrics(report("kate", { identityExpiresAt: 0 }), at);
  const renewed = renderMetrics(report("ivan", { identityExpiresAt: 3 * 86_400_000 }), at);
  const notEnrolled = renderMetrics(
    report("olga", { mode: "not-enrolled", identityExpiresAt: undefined }),
    at,
  );
  const ruleTest = {
    rule_files: [join(HOOKS, RULES)],
    evaluation_interval: "1m",
    tests: [
      {
        interval: "1m",
        input_series: [...seriesFromMetricsFile(ssoRequired, 30), ...seriesFromMetricsFile(setupToken, 30)],
        alert_rule_test: [
          noAlert("WorkstationClaudeAuthInvalid", "14m"),
          {
            eval_time: "15m",
            alertname: "WorkstationClaudeAuthInvalid",
            exp_alerts: [
              {
                exp_labels: { severity: "warning", instance: "ws1:9100", job: "node", user: "alice" },
                exp_annotations: expectedAnnotations(tests, "Claude Code login of alice on ws1:9100"),
              },
            ],
          },
          noAlert("WorkstationClaudeAuthSyncStale", "15m"),
        ],
      },
      {
        interval: "1m",
        input_series: [
          ...seriesFromMetricsFile(refused, 90),
          ...seriesFromMetricsFile(renewed, 90),
          ...seriesFromMetricsFile(notEnrolled, 90),
        ],
        alert_rule_test: [
          noAlert("WorkstationClaudeAuthIdentityExpiring", "59m"),
          {
            eval_time: "60m",
            alertname: "WorkstationClaudeAuthIdentityExpiring",
            exp_alerts: [
              {
                exp_labels: { severity: "warning", instance: "ws1:9100", job: "node", user: "kate" },
                exp_annotations: expectedAnnotations(tests, "Vault token of kate for claude-auth-sync"),
              },
            ],
          },
          noAlert("WorkstationClaudeAuthInvalid", "60m"),
        ],
      },
    ],
  };
  const dir = mkdtempSync(join(tmpdir(), "claude-auth-rules-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  // JSON is YAML: promtool reads this file as it reads the shipped one.
  writeFileSync(join(dir, "writer.test.yml"), JSON.stringify(ruleTest, null, 2));
  const result = promtool(["test", "rules", "writer.test.yml"], dir);
  t.equal(result.status, 0, "alice (SSO required) and kate (identity refused) alert, the others never", {
    output: result.output,
  });
});

/** The annotations the shipped tests expect in their first alert whose summary starts with `summary` (folded YAML unfolded). */
function expectedAnnotations(tests: string, summary: string): Record<string, string> {
  const block =
    [...tests.matchAll(/exp_annotations:\n([\s\S]*?runbook_url: \S+)/g)]
      .map((match) => match[1] ?? "")
      .find((text) => text.includes(`summary: "${summary}`)) ?? "";
  const description = block.match(/description: >-\n([\s\S]*?)\n\s+runbook_url:/)?.[1] ?? "";
  return {
    summary: block.match(/summary: "(.*)"/)?.[1] ?? "",
    description: description
      .split("\n")
      .map((line) => line.trim())
      .join(" "),
    runbook_url: block.match(/runbook_url: (\S+)/)?.[1] ?? "",
  };
}
