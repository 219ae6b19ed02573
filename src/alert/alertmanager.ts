// Optional push of the same alerts to Alertmanager's v2 API (CLAUDE_AUTH_SYNC_ALERTMANAGER_URL), for
// hosts without node_exporter. Firing alerts carry an end time two timer periods ahead, so a host
// that stops reporting lets them resolve on their own; a healthy run resolves them at once.
import { hostname } from "node:os";
import { postJson } from "../system/post-json.js";

export interface AlertState {
  user: string;
  /** Interactive SSO required, or the credential in use was rejected by the API. */
  invalid: boolean;
  /** Estimated setup-token expiry, epoch ms (setup-token mode). */
  setupTokenExpiresAt: number | undefined;
  now: Date;
}

export interface AmAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt: string;
}

const TIMER_PERIOD_MS = 6 * 3_600_000;
const EXPIRY_WARNING_MS = 30 * 86_400_000;

/** The alerts to post for one user: each rule either firing or resolved (pure). */
export function alertsFor(state: AlertState, host = hostname()): AmAlert[] {
  const now = state.now.getTime();
  const window = (firing: boolean) => ({
    startsAt: state.now.toISOString(),
    endsAt: new Date(firing ? now + 2 * TIMER_PERIOD_MS : now).toISOString(),
  });
  const labels = (alertname: string, severity: string) => ({
    alertname,
    severity,
    user: state.user,
    instance: host,
  });
  const expiring =
    state.setupTokenExpiresAt !== undefined && state.setupTokenExpiresAt - now < EXPIRY_WARNING_MS;
  return [
    {
      labels: labels("WorkstationClaudeAuthInvalid", "warning"),
      annotations: {
        summary: `Claude Code login of ${state.user} on ${host} needs an interactive login`,
        description: `As ${state.user}, run \`claude auth login\`, or \`claude setup-token\` then \`claude-auth enable\` (or \`rotate\`).`,
        runbook_url: "docs/runbook.md#workstationclaudeauthinvalid",
      },
      ...window(state.invalid),
    },
    {
      labels: labels("WorkstationClaudeSetupTokenExpiring", "info"),
      annotations: {
        summary: `Claude setup token of ${state.user} on ${host} expires within 30 days`,
        description: `As ${state.user}, run \`claude setup-token\`, then \`claude-auth rotate\`.`,
        runbook_url: "docs/runbook.md#workstationclaudesetuptokenexpiring",
      },
      ...window(expiring),
    },
  ];
}

/** POSTs to <url>/api/v2/alerts; resolves to a one-line result, never throws, bounded by `timeoutMs`. */
export async function pushAlerts(url: URL, alerts: AmAlert[], timeoutMs: number): Promise<string> {
  const target = new URL(`${url.pathname.replace(/\/+$/, "")}/api/v2/alerts`, url);
  const outcome = await postJson(target, alerts, { timeoutMs });
  switch (outcome.kind) {
    case "answer":
      return outcome.status === 200
        ? `pushed ${alerts.length} alerts to ${target.origin}`
        : `Alertmanager answered HTTP ${outcome.status}`;
    case "cut":
      return `Alertmanager answered HTTP ${outcome.status} but the answer was cut off`;
    case "timeout":
      return `Alertmanager did not answer within ${timeoutMs} ms`;
    case "error":
      return `cannot reach Alertmanager at ${target.origin} (${outcome.code})`;
  }
}
