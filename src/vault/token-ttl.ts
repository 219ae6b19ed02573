// A Vault token's TTL as status and doctor both print it: one wording for one fact.

/** `no expiry` for 0 (a root or periodic token without TTL), else minutes, hours or days. */
export function tokenTtl(seconds: number): string {
  if (seconds <= 0) return "no expiry";
  if (seconds < 7200) return plural(Math.max(1, Math.round(seconds / 60)), "minute");
  if (seconds < 172_800) return plural(Math.round(seconds / 3600), "hour");
  return plural(Math.round(seconds / 86_400), "day");
}

function plural(count: number, unit: string): string {
  return `${count} ${unit}${count === 1 ? "" : "s"}`;
}
