// How a sync result is shown: one log line, a human summary, or JSON. Never a secret: actions are
// reduced to their kind and what they touched.
import { FIX_SEPARATOR } from "../errors.js";
import type { Action } from "../sync/plan.js";
import type { SyncResult } from "../sync/run.js";
import { terminalLines } from "../system/terminal-text.js";

function describeAction(action: Action): string {
  switch (action.kind) {
    case "write-env-file":
      return "write the env file";
    case "remove-env-file":
      return "remove the env file";
    case "write-service-env-file":
      return "write the copy t3-serve@ loads";
    case "remove-service-env-file":
      return "remove the copy t3-serve@ loads";
    case "backup-credential":
      return "back up the local credential to Vault";
    case "renew-credential":
      return "renew the credential at the OAuth token endpoint, then back it up to Vault";
    case "restore-credential":
      return action.setAside
        ? "set the unreadable credentials file aside and restore the backup"
        : "restore the backup";
  }
}

/** The result as JSON-safe data: no token, refresh token or setup token anywhere. */
export function publicResult(result: SyncResult) {
  return {
    user: result.user,
    exitCode: result.exitCode,
    dryRun: result.dryRun,
    mode: result.plan?.mode ?? null,
    outcome: result.plan?.outcome ?? null,
    plan:
      result.plan?.actions.map((action) => ({ action: action.kind, description: describeAction(action) })) ??
      [],
    reasons: result.plan?.reasons ?? [],
    applied: result.applied,
    credentialExpiresAt: result.plan?.credentialExpiresAt
      ? new Date(result.plan.credentialExpiresAt).toISOString()
      : null,
    message: result.message,
    vaultRequests: result.vaultRequests,
    durationMs: result.durationMs,
  };
}

/** One line for logs (PAM, journal). */
export function logLine(result: SyncResult, via: string): string {
  const actions = result.plan?.actions.map((a) => a.kind).join(",") || "none";
  // No plan and exit 0: a run with nothing to act on (`user` identity mode, nothing enrolled).
  const skipped = !result.plan && result.exitCode === 0;
  const outcome = result.plan?.outcome ?? (skipped ? "skipped" : "failed");
  const said = result.message.split("\n")[0]?.replace(/"/g, "'");
  const detail = skipped ? ` note="${said}"` : result.exitCode === 0 ? "" : ` error="${said}"`;
  return `claude-auth-sync: via=${via} user=${result.user} mode=${result.plan?.mode ?? "unknown"} outcome=${outcome} actions=${actions}${result.dryRun ? " dry-run" : ""} exit=${result.exitCode} vault_requests=${result.vaultRequests} ms=${result.durationMs}${detail}`;
}

export function humanResult(result: SyncResult): string {
  const lines: string[] = [];
  const head = result.plan
    ? `${result.user}: ${result.plan.mode}, ${result.plan.outcome}`
    : result.exitCode === 0
      ? `${result.user}: ${result.message}`
      : `${result.user}: sync failed`;
  lines.push(head);
  if (result.plan) {
    if (result.dryRun) {
      lines.push(
        result.plan.actions.length ? "plan (dry run, nothing changed):" : "plan (dry run): nothing to do",
      );
      for (const action of result.plan.actions) lines.push(`  - ${describeAction(action)}`);
    } else {
      for (const line of result.applied) lines.push(`  ${line}`);
    }
    for (const reason of result.plan.reasons) lines.push(`  · ${reason}`);
  }
  if (result.exitCode === 0) return terminalLines(lines);
  // The message is one line whatever it quotes; a fix below it is ours and may span lines.
  const fixAt = result.message.indexOf(FIX_SEPARATOR);
  if (fixAt < 0) return terminalLines([...lines, result.message]);
  return `${terminalLines([...lines, result.message.slice(0, fixAt)])}${result.message.slice(fixAt)}`;
}
