// Shared types and formatting for the Vault stand-in: what a request and a reply look like once the
// HTTP layer is peeled off, and the small formats Vault uses on the wire (times, durations, ids).
import { randomBytes, randomInt, randomUUID } from "node:crypto";

export type JsonValue = null | boolean | number | string | JsonValue[] | JsonObject;
export type JsonObject = { [key: string]: JsonValue };

/** Vault's logical operations; POST/PUT become create or update after the existence check. */
export type Operation = "read" | "list" | "create" | "update" | "patch" | "delete";

/** A failure that Vault reports as `{"errors":[...]}`; an empty list is Vault's bare 404. */
export class VaultError extends Error {
  readonly status: number;
  readonly errors: string[];
  constructor(status: number, ...errors: string[]) {
    super(errors.join("; ") || `HTTP ${status}`);
    this.status = status;
    this.errors = errors;
  }
}

/** What a handler produces. `nil` is Go's nil response: 404 for read/list/patch, 204 otherwise. */
export type Outcome =
  | { kind: "nil" }
  | {
      kind: "response";
      data: JsonObject | null;
      auth?: JsonObject | null;
      warnings?: string[] | null;
      /** sys/ endpoints whose data Vault also copies to the top level (http/handler.go injectDataIntoTopRoutes). */
      injectTopLevel?: boolean;
    }
  /**
   * logical.RespondWithStatusCode: a status of the handler's choosing whose body is the marshalled
   * envelope (mount_type empty: the router never sees it), or nothing at all when `data` is null.
   */
  | { kind: "raw"; status: number; data: JsonObject | null };

export const nil: Outcome = { kind: "nil" };
export function respond(
  data: JsonObject | null,
  extra: Omit<Extract<Outcome, { kind: "response" }>, "kind" | "data"> = {},
): Outcome {
  return { kind: "response", data, ...extra };
}
export function respondWithStatus(status: number, data: JsonObject | null): Outcome {
  return { kind: "raw", status, data };
}

/** Vault's multierror rendering, used where Vault wraps an error in go-multierror. */
export function multiError(...messages: string[]): string {
  const noun = messages.length === 1 ? "error" : "errors";
  return `${messages.length} ${noun} occurred:\n${messages.map((m) => `\t* ${m}`).join("\n")}\n\n`;
}

export const errPermissionDenied = "permission denied";
export const errInvalidToken = "invalid token";

/** A point in time as Vault prints it: RFC3339 with nanoseconds, trailing zeros trimmed (Go RFC3339Nano). */
export interface Stamp {
  ms: number;
  text: string;
}

export function stamp(ms: number): Stamp {
  // The clock has millisecond resolution; Vault's has nanoseconds. Invent the sub-millisecond digits so
  // clients meet the real variable-length fraction instead of a tidy ".123Z".
  const nanosWithinMs = randomInt(1, 1_000_000);
  return { ms, text: rfc3339Nano(ms, nanosWithinMs) };
}

export function rfc3339Nano(ms: number, nanosWithinMs = 0): string {
  const iso = new Date(ms).toISOString(); // 2024-01-02T03:04:05.678Z
  const whole = iso.slice(0, 19);
  const fraction = `${iso.slice(20, 23)}${String(nanosWithinMs).padStart(6, "0")}`.replace(/0+$/, "");
  return fraction === "" ? `${whole}Z` : `${whole}.${fraction}Z`;
}

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
export function randomBase62(length: number): string {
  const bytes = randomBytes(length);
  let out = "";
  for (const byte of bytes) out += base62[byte % 62];
  return out;
}

export function uuid(): string {
  return randomUUID();
}

/** Mount accessors look like `kv_1a2b3c4d` and `auth_userpass_1a2b3c4d`. */
export function mountAccessor(prefix: string): string {
  return `${prefix}_${randomBytes(4).toString("hex")}`;
}

/** Parses Vault's duration fields: integer seconds or a Go duration string ("1h30m", "90s", "2d"). */
export function parseDurationSeconds(value: JsonValue | undefined, field: string): number | undefined {
  if (value === undefined || value === null || value === "") return undefined;
  if (typeof value === "number" && Number.isFinite(value)) return Math.floor(value);
  if (typeof value === "string") {
    if (/^-?\d+$/.test(value)) return Number.parseInt(value, 10);
    const units: Record<string, number> = {
      ns: 1e-9,
      us: 1e-6,
      µs: 1e-6,
      ms: 1e-3,
      s: 1,
      m: 60,
      h: 3600,
      d: 86400,
    };
    const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h|d)/gy;
    let total = 0;
    let consumed = 0;
    for (let match = re.exec(value); match; match = re.exec(value)) {
      total += Number.parseFloat(match[1] ?? "0") * (units[match[2] ?? "s"] ?? 1);
      consumed = re.lastIndex;
    }
    if (consumed === value.length && consumed > 0) return Math.floor(total);
  }
  throw new VaultError(
    400,
    `error converting input ${JSON.stringify(value)} for field "${field}": time: invalid duration ${JSON.stringify(value)}`,
  );
}

/** Go's time.Duration.String() for whole seconds: "0s", "30s", "1h0m0s". */
export function goDuration(seconds: number): string {
  if (seconds === 0) return "0s";
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  if (h > 0) return `${h}h${m}m${s}s`;
  if (m > 0) return `${m}m${s}s`;
  return `${s}s`;
}

/** Vault's string-list fields accept a JSON list or a comma-separated string. */
export function stringList(value: JsonValue | undefined): string[] | undefined {
  if (value === undefined || value === null) return undefined;
  if (Array.isArray(value)) return value.map((v) => String(v).trim()).filter((v) => v !== "");
  if (typeof value === "string")
    return value
      .split(",")
      .map((v) => v.trim())
      .filter((v) => v !== "");
  throw new VaultError(400, `expected a list of strings, got ${JSON.stringify(value)}`);
}

export function isObject(value: JsonValue | undefined): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

export function asBool(value: JsonValue | undefined, fallback: boolean): boolean {
  if (value === undefined || value === null) return fallback;
  if (typeof value === "boolean") return value;
  if (value === "true" || value === "1" || value === 1) return true;
  if (value === "false" || value === "0" || value === 0) return false;
  throw new VaultError(400, `cannot parse ${JSON.stringify(value)} as bool`);
}

export function asInt(value: JsonValue | undefined, field: string): number | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === "number" && Number.isInteger(value)) return value;
  if (typeof value === "string" && /^-?\d+$/.test(value)) return Number.parseInt(value, 10);
  throw new VaultError(400, `error converting input ${JSON.stringify(value)} for field "${field}"`);
}

export function sortedUnique(values: Iterable<string>): string[] {
  return [...new Set(values)].sort();
}

/** Policy names are case-insensitive in Vault and stored lower-cased. */
export function normalizePolicyNames(names: Iterable<string>): string[] {
  return [...names].map((n) => n.trim().toLowerCase()).filter((n) => n !== "");
}

export const defaultLeaseTtlSeconds = 768 * 3600; // Vault's system default and max TTL: 32 days.
