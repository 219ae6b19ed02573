// KV v2 read and merge-write. Every write is read-merge-write with check-and-set, so keys other tools
// keep in the same document (vaultwarden_*) survive; never a plain replace, never HTTP PATCH.
import { type Deadline, sleep } from "../deadline.js";
import { AuthSyncError, ExitCode, InvalidDataError } from "../errors.js";
import { unexpectedAnswer, type VaultClient, vaultErrors } from "./client.js";

export type DocumentState = "absent" | "live" | "deleted" | "destroyed";

export interface KvDocument {
  /** Latest version; 0 when the key has never existed. */
  version: number;
  state: DocumentState;
  /** The latest version's keys; empty unless `state` is "live". */
  data: Record<string, unknown>;
}

/** Keys to set (a value) or remove (`undefined`); null when the current document needs no change. */
export type DocumentChange = Record<string, unknown | undefined>;

export interface MergeWriteResult {
  written: boolean;
  version: number;
  attempts: number;
}

const CAS_MISMATCH = /check-and-set parameter did not match/i;
export const MAX_MERGE_ATTEMPTS = 6;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function parseMetadata(where: string, metadata: unknown): { version: number; state: DocumentState } {
  if (!isRecord(metadata) || typeof metadata.version !== "number" || !Number.isInteger(metadata.version)) {
    throw new InvalidDataError(`${where} metadata.version`, "missing or not a whole number");
  }
  const deleted = typeof metadata.deletion_time === "string" && metadata.deletion_time !== "";
  const state: DocumentState = metadata.destroyed === true ? "destroyed" : deleted ? "deleted" : "live";
  return { version: metadata.version, state };
}

export async function readDocument(client: VaultClient, mount: string, path: string): Promise<KvDocument> {
  const where = `${mount}/data/${path}`;
  const response = await client.request("GET", where);
  if (response.status === 404) {
    // A soft-deleted or destroyed latest version is a 404 that still carries its metadata.
    const body = response.body;
    if (
      isRecord(body) &&
      isRecord(body.data) &&
      body.data.metadata !== undefined &&
      body.data.metadata !== null
    ) {
      const { version, state } = parseMetadata(where, body.data.metadata);
      return { version, state: state === "live" ? "deleted" : state, data: {} };
    }
    // A key that does not exist is a 404 without error text; "no handler for route" (a wrong mount
    // or namespace) is not an absent document, and reading it as one would switch setup-token mode off.
    // Nor is a 404 that is not Vault's JSON at all (a proxy's error page).
    if (body === undefined || vaultErrors(body) !== "") unexpectedAnswer(`reading ${where}`, response);
    return { version: 0, state: "absent", data: {} };
  }
  if (response.status !== 200) unexpectedAnswer(`reading ${where}`, response);
  const body = response.body;
  if (!isRecord(body) || !isRecord(body.data))
    throw new InvalidDataError(where, "Vault answer has no data object");
  const { version, state } = parseMetadata(where, body.data.metadata);
  const data = body.data.data;
  if (state !== "live") return { version, state, data: {} };
  if (!isRecord(data)) throw new InvalidDataError(`${where} data`, "is not an object");
  return { version, state, data };
}

/** Applies a change to a document's keys; returns null when nothing would change. */
export function mergeDocument(
  current: Record<string, unknown>,
  change: DocumentChange,
): Record<string, unknown> | null {
  const next: Record<string, unknown> = { ...current };
  let changed = false;
  for (const [key, value] of Object.entries(change)) {
    if (value === undefined) {
      if (key in next) {
        delete next[key];
        changed = true;
      }
    } else if (JSON.stringify(next[key]) !== JSON.stringify(value)) {
      next[key] = value;
      changed = true;
    }
  }
  return changed ? next : null;
}

export interface MergeWriteOptions {
  deadline: Deadline;
  /** The document as already read in this run, to save one read on the first attempt. */
  current?: KvDocument | undefined;
  maxAttempts?: number;
}

/**
 * Read-merge-write with check-and-set. `decide` sees the latest document and returns the keys to
 * change (or null for "nothing to do"); it runs again on every retry, so it can re-check that its
 * change still makes sense against what another writer just stored.
 */
export async function mergeWrite(
  client: VaultClient,
  mount: string,
  path: string,
  decide: (current: KvDocument) => DocumentChange | null,
  options: MergeWriteOptions,
): Promise<MergeWriteResult> {
  const where = `${mount}/data/${path}`;
  const maxAttempts = options.maxAttempts ?? MAX_MERGE_ATTEMPTS;
  let current = options.current ?? (await readDocument(client, mount, path));
  for (let attempt = 1; ; attempt++) {
    const change = decide(current);
    const next = change === null ? null : mergeDocument(current.data, change);
    if (next === null) return { written: false, version: current.version, attempts: attempt };
    // cas 0 only when the key never existed; over a deleted latest version cas must name that version.
    const response = await client.request("POST", where, { data: next, options: { cas: current.version } });
    if (response.status === 200 || response.status === 204) {
      const body = response.body;
      const version =
        isRecord(body) && isRecord(body.data) && typeof body.data.version === "number"
          ? body.data.version
          : current.version + 1;
      return { written: true, version, attempts: attempt };
    }
    if (response.status === 400 && CAS_MISMATCH.test(vaultErrors(response.body))) {
      if (attempt >= maxAttempts) {
        throw new AuthSyncError(
          `gave up writing ${where} after ${attempt} check-and-set conflicts: other writers keep changing it`,
          ExitCode.vaultUnavailable,
          { hint: "nothing was lost; the next run retries" },
        );
      }
      // Jittered backoff so that racing writers spread out instead of colliding again.
      const wait = Math.min(options.deadline.remainingMs(), 10 * attempt + Math.random() * 40 * attempt);
      await sleep(wait);
      options.deadline.check(`retrying the write of ${where}`);
      current = await readDocument(client, mount, path);
      continue;
    }
    unexpectedAnswer(`writing ${where}`, response);
  }
}
