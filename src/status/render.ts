// `claude-auth status` for people: one line per fact, warnings last. Only what StatusReport holds, so
// the text can carry no more than the JSON (and neither carries a secret).
import { terminalLines } from "../system/terminal-text.js";
import { tokenTtl } from "../vault/token-ttl.js";
import type { StatusReport } from "./collect.js";

function relative(iso: string | null, now: string): string {
  if (!iso) return "";
  const ms = Date.parse(iso) - Date.parse(now);
  // A user's document may hold anything in a time field: say so rather than "NaN days ago".
  if (!Number.isFinite(ms)) return "not a valid time";
  const abs = Math.abs(ms);
  const amount =
    abs < 120_000
      ? `${Math.round(abs / 1000)}s`
      : abs < 7_200_000
        ? `${Math.round(abs / 60_000)}m`
        : abs < 172_800_000
          ? `${Math.round(abs / 3_600_000)}h`
          : `${Math.round(abs / 86_400_000)} days`;
  return ms >= 0 ? `in ${amount}` : `${amount} ago`;
}

function fileFacts(mode: string | null, owner: string | null): string {
  return [mode ? `mode ${mode}` : "", owner ? `owner ${owner}` : ""].filter(Boolean).join(", ");
}

const LABEL_WIDTH = 14;
const line = (label: string, text: string) => `  ${label.padEnd(LABEL_WIDTH)}${text}`;

export function renderStatus(report: StatusReport): string {
  const now = report.checkedAt;
  const lines: string[] = [];
  const source =
    report.modeSource === "vault"
      ? "as the Vault document says"
      : "from the local files: Vault could not be asked";
  // "not-enrolled" is both the mode and the outcome: said once, in words.
  const headline =
    report.mode === "not-enrolled"
      ? "not enrolled"
      : `${report.mode} mode${report.outcome ? `, ${report.outcome}` : ""}`;
  lines.push(`${report.user}: ${headline} (${source})`);

  if (report.setupToken?.present) {
    const token = report.setupToken;
    const age =
      token.updatedAt !== undefined
        ? `, stored ${token.updatedAt} (${token.ageDays} days ago), expires about ${token.estimatedExpiresAt?.slice(0, 10)} (${(token.daysLeft ?? 0) >= 0 ? `in ${token.daysLeft} days` : `${-(token.daysLeft ?? 0)} days ago`})`
        : ", age unknown";
    lines.push(line("setup token", `${token.tokenHint}${age}`));
  }

  const env = report.envFile;
  const envText =
    env.state === "absent"
      ? "absent"
      : [
          env.state,
          fileFacts(env.mode, env.owner),
          env.directoryMode ? `directory ${env.directoryMode}` : "",
          env.tokenHint ?? "",
          env.matchesVault === true
            ? "matches Vault"
            : env.matchesVault === false
              ? "differs from Vault"
              : "",
          env.problem ?? "",
        ]
          .filter(Boolean)
          .join(", ");
  lines.push(line("env file", `${envText} (${env.path})`));

  const service = report.serviceEnvFile;
  if (service) {
    const serviceText =
      service.state === "absent"
        ? "absent"
        : [
            service.state,
            fileFacts(service.mode, service.owner),
            service.matchesEnvFile === true
              ? "matches the env file"
              : service.matchesEnvFile === false
                ? "differs from the env file"
                : "",
          ]
            .filter(Boolean)
            .join(", ");
    lines.push(line("service copy", `${serviceText} (${service.path})`));
  }

  const credentials = report.credentials;
  const credentialsText = [
    credentials.state,
    fileFacts(credentials.mode, credentials.owner),
    credentials.accessTokenExpiresAt
      ? `access token ${credentials.accessTokenExpired ? "expired" : "expires"} ${credentials.accessTokenExpiresAt} (${relative(credentials.accessTokenExpiresAt, now)})`
      : "",
    credentials.problem ?? "",
  ]
    .filter(Boolean)
    .join(", ");
  lines.push(line("credentials", `${credentialsText} (${credentials.path})`));

  const backup = report.backup;
  if (backup) {
    const backupText = !backup.present
      ? "none in Vault"
      : [
          backup.usable ? "present, usable" : "present, not usable",
          backup.backedUpAt ? `backed up ${backup.backedUpAt} (${relative(backup.backedUpAt, now)})` : "",
          backup.host ? `from ${backup.host}` : "",
          backup.problem ?? "",
        ]
          .filter(Boolean)
          .join(", ");
    lines.push(line("backup", backupText));
  } else {
    lines.push(line("backup", "unknown (Vault could not be asked)"));
  }

  const last = report.lastSync;
  lines.push(
    line(
      "last sync",
      last
        ? `${last.at} (${relative(last.at, now)}), exit ${last.exitCode}${last.outcome ? `, ${last.outcome}` : ""}${last.message ? `: ${last.message}` : ""}`
        : "never recorded",
    ),
  );

  const vault = report.vault;
  let vaultText: string;
  if (vault.error) {
    vaultText = `${vault.address ?? "not configured"}: ${vault.error.split("\n")[0]}`;
  } else {
    const who = vault.identity
      ? `, token "${vault.identity.displayName}" (policies ${vault.identity.policies.join(", ") || "none"}; TTL ${tokenTtl(vault.identity.ttlSeconds)})`
      : "";
    vaultText = `${vault.address} reachable${who}, document ${vault.documentPath} ${vault.documentVersion ? `version ${vault.documentVersion}` : "absent"}`;
  }
  lines.push(line("vault", vaultText));
  lines.push(line("identity", identityText(vault)));
  if (vault.tokenSource) lines.push(line("", `token from ${vault.tokenSource}`));
  if (vault.error?.includes("\n")) lines.push(line("", vault.error.split("\n").slice(1).join(" ").trim()));

  if (report.pendingChanges.length > 0) lines.push(line("next sync", report.pendingChanges.join("; ")));
  if (report.notice) lines.push(line("notice", report.notice));
  for (const warning of report.warnings) lines.push(`warning: ${warning}`);
  return terminalLines(lines);
}

/** Whose Vault token reads the document: the host's, the user's own (and how long it lives), or none yet. */
function identityText(vault: StatusReport["vault"]): string {
  if (vault.identityMode === "host") return "the host's (CLAUDE_AUTH_SYNC_IDENTITY=host)";
  if (vault.enrolled === false)
    return "not enrolled: no ~/.config/claude-auth-sync/vault-token; log in with your password or run `claude-auth enroll`";
  const life =
    vault.identityPeriodSeconds !== null
      ? `periodic ${tokenTtl(vault.identityPeriodSeconds)}, renewed by the timer`
      : vault.identityExpiresAt !== null
        ? `expires ${vault.identityExpiresAt}`
        : "";
  return `your own token (~/.config/claude-auth-sync/vault-token)${life ? `, ${life}` : ""}`;
}
