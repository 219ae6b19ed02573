// KV secrets engines. Version 2 follows https://developer.hashicorp.com/vault/api-docs/secret/kv/kv-v2
// and hashicorp/vault-plugin-secrets-kv (path_data.go, path_metadata.go); version 1 is the minimal
// passthrough (https://developer.hashicorp.com/vault/api-docs/secret/kv/kv-v1).
import {
  asBool,
  asInt,
  goDuration,
  isObject,
  type JsonObject,
  type JsonValue,
  nil,
  type Operation,
  type Outcome,
  parseDurationSeconds,
  respond,
  respondWithStatus,
  type Stamp,
  stamp,
  VaultError,
} from "./wire.js";

export interface EngineRequest {
  operation: Operation;
  /** Path inside the mount, e.g. `data/users/alice` or `metadata/users/` for a LIST. */
  path: string;
  data: JsonObject | null;
  query: Record<string, string>;
  now: number;
}

export interface Route {
  operations: Operation[];
  /** Present on paths with an existence check: POST/PUT becomes update when it returns true, else create. */
  exists?: () => boolean;
  handle: (req: EngineRequest) => Outcome;
}

export interface SecretsEngine {
  readonly mountType: string;
  route(path: string): Route | undefined;
}

export const unsupportedPath = () => new VaultError(404, "unsupported path");

// ---------------------------------------------------------------------------------------------------------
// KV version 2

export interface KvVersion {
  version: number;
  created: Stamp;
  deletion: Stamp | null;
  destroyed: boolean;
  /** null once destroyed. */
  data: JsonObject | null;
}

export interface KvKey {
  created: Stamp;
  updated: Stamp;
  currentVersion: number;
  oldestVersion: number;
  maxVersions: number;
  casRequired: boolean;
  deleteVersionAfter: number;
  customMetadata: Record<string, string> | null;
  versions: Map<number, KvVersion>;
}

/** Everything the stand-in knows about one key, for tests that inspect state directly. */
export interface RawDocument {
  currentVersion: number;
  oldestVersion: number;
  maxVersions: number;
  casRequired: boolean;
  customMetadata: Record<string, string> | null;
  createdTime: string;
  updatedTime: string;
  versions: Array<{
    version: number;
    createdTime: string;
    deletionTime: string;
    destroyed: boolean;
    data: JsonObject | null;
  }>;
}

const defaultMaxVersions = 10;

export class KvV2Engine implements SecretsEngine {
  readonly mountType = "kv";
  readonly config = { casRequired: false, maxVersions: 0, deleteVersionAfter: 0 };
  readonly keys = new Map<string, KvKey>();

  route(path: string): Route | undefined {
    if (path === "config")
      return {
        operations: ["read", "update"],
        handle: (r) => (r.operation === "read" ? this.readConfig() : this.writeConfig(r)),
      };
    const [head, ...rest] = path.split("/");
    const key = rest.join("/");
    switch (head) {
      case "data":
        // Pattern `data/(?P<path>.*?[^/]$)`: a key never ends in a slash.
        if (key === "" || key.endsWith("/")) return undefined;
        return {
          operations: ["read", "create", "update", "patch", "delete"],
          // A key whose metadata exists counts as existing (dataExistenceCheck): writing over a
          // metadata-only or soft-deleted key needs `update`, not `create`.
          exists: () => this.keys.has(key),
          handle: (r) => this.data(r, key),
        };
      case "metadata":
        return {
          operations: ["read", "create", "update", "patch", "delete", "list"],
          exists: () => this.keys.has(key),
          handle: (r) => this.metadata(r, key),
        };
      case "delete":
      case "undelete":
      case "destroy":
        if (key === "") return undefined;
        return { operations: ["update"], handle: (r) => this.versionsOp(head, r, key) };
      case "subkeys":
        if (key === "") return undefined;
        return { operations: ["read"], handle: (r) => this.subkeys(r, key) };
      default:
        return undefined;
    }
  }

  raw(key: string): RawDocument | undefined {
    const k = this.keys.get(key);
    if (!k) return undefined;
    return {
      currentVersion: k.currentVersion,
      oldestVersion: k.oldestVersion,
      maxVersions: k.maxVersions,
      casRequired: k.casRequired,
      customMetadata: k.customMetadata ? { ...k.customMetadata } : null,
      createdTime: k.created.text,
      updatedTime: k.updated.text,
      versions: [...k.versions.values()]
        .sort((a, b) => a.version - b.version)
        .map((v) => ({
          version: v.version,
          createdTime: v.created.text,
          deletionTime: v.deletion?.text ?? "",
          destroyed: v.destroyed,
          data: v.data ? structuredClone(v.data) : null,
        })),
    };
  }

  private readConfig(): Outcome {
    return respond({
      cas_required: this.config.casRequired,
      delete_version_after: goDuration(this.config.deleteVersionAfter),
      max_versions: this.config.maxVersions,
    });
  }

  private writeConfig(r: EngineRequest): Outcome {
    const d = r.data ?? {};
    if (d.cas_required !== undefined) this.config.casRequired = asBool(d.cas_required, false);
    const max = asInt(d.max_versions, "max_versions");
    if (max !== undefined) this.config.maxVersions = max;
    const dva = parseDurationSeconds(d.delete_version_after, "delete_version_after");
    if (dva !== undefined) this.config.deleteVersionAfter = dva;
    return nil;
  }

  private isDeleted(v: KvVersion, now: number): boolean {
    // Vault compares deletion_time < now with nanosecond clocks; with a millisecond clock, "at or before".
    return v.deletion !== null && v.deletion.ms <= now;
  }

  private versionMetadata(k: KvKey, v: KvVersion): JsonObject {
    return {
      created_time: v.created.text,
      custom_metadata: k.customMetadata,
      deletion_time: v.deletion?.text ?? "",
      destroyed: v.destroyed,
      version: v.version,
    };
  }

  private data(r: EngineRequest, key: string): Outcome {
    switch (r.operation) {
      case "read":
        return this.readData(r, key);
      case "create":
      case "update":
        return this.writeData(r, key);
      case "patch":
        return this.patchData(r, key);
      case "delete":
        return this.softDeleteLatest(r, key);
      default:
        throw new VaultError(405, "unsupported operation");
    }
  }

  private readData(r: EngineRequest, key: string): Outcome {
    const k = this.keys.get(key);
    if (!k) return nil;
    const requested = asInt(r.query.version, "version") ?? 0;
    const v = k.versions.get(requested > 0 ? requested : k.currentVersion);
    if (!v) return nil;
    const metadata = this.versionMetadata(k, v);
    // A deleted or destroyed version is a 404 that still carries its metadata (pathDataRead).
    if (this.isDeleted(v, r.now) || v.destroyed) return respondWithStatus(404, { data: null, metadata });
    return respond({ data: structuredClone(v.data), metadata });
  }

  private checkAndSet(r: EngineRequest, k: KvKey | undefined): void {
    const options = r.data?.options;
    const casRaw = isObject(options) ? options.cas : undefined;
    const current = k?.currentVersion ?? 0;
    if (casRaw !== undefined && casRaw !== null) {
      const cas = typeof casRaw === "number" ? casRaw : Number(casRaw);
      if (!Number.isInteger(cas)) throw new VaultError(400, "error parsing check-and-set parameter");
      if (cas !== current)
        throw new VaultError(400, "check-and-set parameter did not match the current version");
    } else if (this.config.casRequired || k?.casRequired) {
      throw new VaultError(400, "check-and-set parameter required for this call");
    }
  }

  private addVersion(k: KvKey, data: JsonObject, now: number): KvVersion {
    const created = stamp(now);
    const dva = k.deleteVersionAfter > 0 ? k.deleteVersionAfter : this.config.deleteVersionAfter;
    const v: KvVersion = {
      version: k.currentVersion + 1,
      created,
      deletion: dva > 0 ? stamp(now + dva * 1000) : null,
      destroyed: false,
      data: structuredClone(data),
    };
    k.currentVersion = v.version;
    k.versions.set(v.version, v);
    k.updated = created;
    // Sliding window (KeyMetadata.AddVersion): the larger of key and mount max_versions, else 10.
    const max = Math.max(k.maxVersions, this.config.maxVersions) || defaultMaxVersions;
    if (k.currentVersion - k.oldestVersion >= max) {
      const toDelete = k.currentVersion - max;
      for (let i = k.oldestVersion; i <= toDelete; i++) k.versions.delete(i);
      k.oldestVersion = toDelete + 1;
    }
    return v;
  }

  private newKey(now: number): KvKey {
    const created = stamp(now);
    return {
      created,
      updated: created,
      currentVersion: 0,
      oldestVersion: 0,
      maxVersions: 0,
      casRequired: false,
      deleteVersionAfter: 0,
      customMetadata: null,
      versions: new Map(),
    };
  }

  private writeData(r: EngineRequest, key: string): Outcome {
    const data = r.data?.data;
    if (data === undefined || data === null) throw new VaultError(400, "no data provided");
    if (!isObject(data))
      throw new VaultError(
        400,
        `error converting input for field "data": expected a map, got ${JSON.stringify(data)}`,
      );
    const existing = this.keys.get(key);
    this.checkAndSet(r, existing);
    const k = existing ?? this.newKey(r.now);
    const v = this.addVersion(k, data, r.now);
    this.keys.set(key, k);
    return respond(this.versionMetadata(k, v));
  }

  private patchData(r: EngineRequest, key: string): Outcome {
    const patch = r.data?.data;
    if (patch === undefined) throw new VaultError(400, "no data provided");
    const k = this.keys.get(key);
    // RespondWithStatusCode(nil, req, 404): a 404 with an empty body, not `{"errors":[]}`.
    if (!k) return respondWithStatus(404, null);
    this.checkAndSet(r, k);
    const latest = k.versions.get(k.currentVersion);
    if (!latest) return respondWithStatus(404, null);
    if (this.isDeleted(latest, r.now) || latest.destroyed)
      // pathDataPatch answers 404 with the flat version metadata (not nested like a read).
      return respondWithStatus(404, this.versionMetadata(k, latest));
    const merged = mergePatch(latest.data ?? {}, patch);
    if (!isObject(merged)) throw new VaultError(400, "patched data is not a map");
    const v = this.addVersion(k, merged, r.now);
    return respond(this.versionMetadata(k, v));
  }

  private softDeleteLatest(r: EngineRequest, key: string): Outcome {
    const k = this.keys.get(key);
    const latest = k?.versions.get(k.currentVersion);
    if (!latest || latest.destroyed || this.isDeleted(latest, r.now)) return nil;
    latest.deletion = stamp(r.now);
    return nil;
  }

  private versionsOp(op: "delete" | "undelete" | "destroy", r: EngineRequest, key: string): Outcome {
    const raw = r.data?.versions;
    const versions = (Array.isArray(raw) ? raw : raw === undefined || raw === null ? [] : [raw]).map((v) =>
      asInt(v, "versions"),
    );
    if (versions.length === 0) throw new VaultError(400, "no version number provided");
    const k = this.keys.get(key);
    if (!k) return nil;
    for (const n of versions) {
      const v = n === undefined ? undefined : k.versions.get(n);
      if (!v || v.destroyed) continue;
      if (op === "delete" && !this.isDeleted(v, r.now)) v.deletion = stamp(r.now);
      if (op === "undelete") v.deletion = null;
      if (op === "destroy") {
        v.destroyed = true;
        v.data = null;
      }
    }
    return nil;
  }

  private metadata(r: EngineRequest, key: string): Outcome {
    switch (r.operation) {
      case "list":
        return this.list(key);
      case "read": {
        const k = this.keys.get(key);
        if (!k) return nil;
        const versions: JsonObject = {};
        for (const v of k.versions.values())
          versions[String(v.version)] = {
            created_time: v.created.text,
            deletion_time: v.deletion?.text ?? "",
            destroyed: v.destroyed,
          };
        return respond({
          cas_required: k.casRequired,
          created_time: k.created.text,
          current_version: k.currentVersion,
          custom_metadata: k.customMetadata,
          delete_version_after: goDuration(k.deleteVersionAfter),
          max_versions: k.maxVersions,
          oldest_version: k.oldestVersion,
          updated_time: k.updated.text,
          versions,
        });
      }
      case "create":
      case "update":
      case "patch":
        return this.writeMetadata(r, key);
      case "delete":
        this.keys.delete(key);
        return nil;
      default:
        throw new VaultError(405, "unsupported operation");
    }
  }

  private writeMetadata(r: EngineRequest, key: string): Outcome {
    if (key === "") throw new VaultError(400, "missing path");
    const d = r.data ?? {};
    const fields = ["max_versions", "cas_required", "delete_version_after", "custom_metadata"];
    // pathMetadataWrite's fast path: nothing to set, nothing stored (the key is not created).
    if (!fields.some((f) => d[f] !== undefined)) return nil;
    let k = this.keys.get(key);
    if (!k) {
      if (r.operation === "patch") return respondWithStatus(404, null);
      k = this.newKey(r.now);
      this.keys.set(key, k);
    }
    const max = asInt(d.max_versions, "max_versions");
    if (max !== undefined) k.maxVersions = max;
    if (d.cas_required !== undefined) k.casRequired = asBool(d.cas_required, false);
    const dva = parseDurationSeconds(d.delete_version_after, "delete_version_after");
    if (dva !== undefined) k.deleteVersionAfter = dva;
    if (d.custom_metadata !== undefined) {
      if (!isObject(d.custom_metadata))
        throw new VaultError(400, "custom_metadata validation failed: not a map");
      const next: Record<string, string> = r.operation === "patch" ? { ...(k.customMetadata ?? {}) } : {};
      for (const [name, value] of Object.entries(d.custom_metadata)) {
        if (value === null && r.operation === "patch") delete next[name];
        else next[name] = String(value);
      }
      k.customMetadata = next;
    }
    if (this.config.casRequired && d.cas_required === false)
      return respond(null, {
        warnings: [
          '"cas_required" set to false, but is mandated by backend config. This value will be ignored.',
        ],
      });
    return nil;
  }

  private list(prefix: string): Outcome {
    const keys = new Set<string>();
    for (const name of this.keys.keys()) {
      if (!name.startsWith(prefix)) continue;
      const rest = name.slice(prefix.length);
      const slash = rest.indexOf("/");
      keys.add(slash < 0 ? rest : rest.slice(0, slash + 1));
    }
    keys.delete("");
    return respond({ keys: [...keys].sort() });
  }

  private subkeys(r: EngineRequest, key: string): Outcome {
    const read = this.readData(r, key);
    if (read.kind !== "response") return read;
    const data = read.data?.data;
    const depth = asInt(r.query.depth, "depth") ?? 0;
    const shape = (value: JsonValue, level: number): JsonValue => {
      if (!isObject(value) || (depth > 0 && level >= depth)) return null;
      return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, shape(v, level + 1)]));
    };
    return respond({ subkeys: isObject(data) ? shape(data, 0) : {}, metadata: read.data?.metadata ?? null });
  }
}

/** RFC 7396 JSON merge patch, as framework.HandlePatchOperation applies it. */
export function mergePatch(target: JsonValue, patch: JsonValue): JsonValue {
  if (!isObject(patch)) return structuredClone(patch);
  const out: JsonObject = isObject(target) ? structuredClone(target) : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete out[key];
    else out[key] = mergePatch(out[key] ?? null, value);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// KV version 1: a plain map, each write replaces.

export class KvV1Engine implements SecretsEngine {
  readonly mountType = "kv";
  readonly entries = new Map<string, JsonObject>();

  route(path: string): Route | undefined {
    return {
      operations: ["read", "create", "update", "delete", "list"],
      exists: () => this.entries.has(path),
      handle: (r) => {
        switch (r.operation) {
          case "read": {
            const value = this.entries.get(path);
            return value ? respond(structuredClone(value)) : nil;
          }
          case "create":
          case "update":
            if (path === "" || path.endsWith("/")) throw unsupportedPath();
            this.entries.set(path, structuredClone(r.data ?? {}));
            return nil;
          case "delete":
            this.entries.delete(path);
            return nil;
          case "list": {
            const keys = new Set<string>();
            for (const name of this.entries.keys()) {
              if (!name.startsWith(path)) continue;
              const rest = name.slice(path.length);
              const slash = rest.indexOf("/");
              keys.add(slash < 0 ? rest : rest.slice(0, slash + 1));
            }
            keys.delete("");
            return respond({ keys: [...keys].sort() });
          }
          default:
            throw new VaultError(405, "unsupported operation");
        }
      },
    };
  }
}
