// Programmable faults for the Vault stand-in: what goes wrong, for which requests, how many times.
import type { JsonValue } from "./wire.js";

export interface FaultMatch {
  /** HTTP method(s), e.g. "GET" or ["POST", "PUT"]. Omitted: any. */
  method?: string | string[];
  /** Logical path prefix, with or without the leading `/v1/`, e.g. "secret/data/". Omitted: any path. */
  pathPrefix?: string;
  /** How many matching requests the fault applies to; omitted: until cleared. */
  times?: number;
}

/**
 * - `hang`: never answer (the socket stays open until the client gives up or the stand-in closes).
 * - `reset`: destroy the connection. `after` picks how much is sent first: nothing (default), the status
 *   line and headers only, or the headers and half the body ("reset mid-response").
 * - `status`: answer with this status (5xx, 429, 403, 404...), body and headers; `retryAfter` sets
 *   `Retry-After`. The default body is `{"errors":[]}`.
 * - `garbage`: a complete response whose body is not JSON.
 * - `truncated`: a complete HTTP response whose JSON body is cut in half (Content-Length matches).
 * - `delay`: wait `ms`, then answer normally.
 *
 * `commit: true` makes `hang`, `reset` (before any byte), `status` and `garbage` still perform the request
 * against the stand-in's state, e.g. a write that lands while its answer is lost. `reset` with `after`
 * and `truncated` always perform it: they need the real answer to cut.
 */
export type FaultAction =
  | { kind: "hang"; commit?: boolean }
  | { kind: "reset"; after?: "nothing" | "headers" | "partial-body"; commit?: boolean }
  | {
      kind: "status";
      status: number;
      body?: JsonValue | string;
      headers?: Record<string, string>;
      retryAfter?: number;
      commit?: boolean;
    }
  | { kind: "garbage"; status?: number; body?: string; contentType?: string; commit?: boolean }
  | { kind: "truncated" }
  | { kind: "delay"; ms: number };

export type FaultSpec = FaultMatch & FaultAction;
export type FaultKind = FaultAction["kind"];

export interface FaultHandle {
  /** Requests this fault has been applied to so far. */
  readonly hits: number;
  /** Applications left; Infinity when unlimited. */
  readonly remaining: number;
  clear(): void;
}

interface ActiveFault {
  spec: FaultSpec;
  hits: number;
  remaining: number;
}

export class FaultTable {
  private faults: ActiveFault[] = [];

  add(spec: FaultSpec): FaultHandle {
    const fault: ActiveFault = { spec, hits: 0, remaining: spec.times ?? Number.POSITIVE_INFINITY };
    this.faults.push(fault);
    return {
      get hits() {
        return fault.hits;
      },
      get remaining() {
        return fault.remaining;
      },
      clear: () => {
        this.faults = this.faults.filter((f) => f !== fault);
      },
    };
  }

  clear(): void {
    this.faults = [];
  }

  /** The first active fault matching this request, consumed by one application. */
  take(method: string, logicalPath: string): FaultSpec | undefined {
    for (const fault of this.faults) {
      if (fault.remaining <= 0) continue;
      if (!matchesMethod(fault.spec.method, method)) continue;
      if (
        fault.spec.pathPrefix !== undefined &&
        !logicalPath.startsWith(normalizePrefix(fault.spec.pathPrefix))
      )
        continue;
      fault.hits += 1;
      fault.remaining -= 1;
      if (fault.remaining <= 0) this.faults = this.faults.filter((f) => f !== fault);
      return fault.spec;
    }
    return undefined;
  }
}

function matchesMethod(wanted: string | string[] | undefined, method: string): boolean {
  if (wanted === undefined) return true;
  const list = Array.isArray(wanted) ? wanted : [wanted];
  return list.some((m) => m.toUpperCase() === method.toUpperCase());
}

export function normalizePrefix(prefix: string): string {
  return prefix.replace(/^\/?(v1\/)?/, "");
}
