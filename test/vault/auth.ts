// Tokens, identity and auth methods of the Vault stand-in.
// Token store: https://developer.hashicorp.com/vault/api-docs/auth/token
// AppRole: https://developer.hashicorp.com/vault/api-docs/auth/approle
// Userpass: https://developer.hashicorp.com/vault/api-docs/auth/userpass
// LDAP: https://developer.hashicorp.com/vault/api-docs/auth/ldap (no directory: passwords are set through
//   the stand-in's back door `setLdapPassword`, since there is no LDAP server to bind against)
// Identity: https://developer.hashicorp.com/vault/docs/concepts/identity (an entity + alias per login)
import { randomBytes } from "node:crypto";
import type { EngineRequest, Route } from "./kv.js";
import type { IdentityContext } from "./policy.js";
import {
  asBool,
  asInt,
  defaultLeaseTtlSeconds,
  goDuration,
  isObject,
  type JsonObject,
  type JsonValue,
  mountAccessor,
  nil,
  normalizePolicyNames,
  type Outcome,
  parseDurationSeconds,
  randomBase62,
  respond,
  rfc3339Nano,
  sortedUnique,
  stringList,
  uuid,
  VaultError,
} from "./wire.js";

export interface TokenEntry {
  id: string;
  accessor: string;
  policies: string[];
  path: string;
  meta: Record<string, string> | null;
  displayName: string;
  creationMs: number;
  /** Current TTL in seconds; 0 = never expires (root tokens). */
  ttl: number;
  creationTtl: number;
  expireMs: number | null;
  /** Hard limit from explicit_max_ttl or the system max TTL; null = none. */
  maxExpireMs: number | null;
  explicitMaxTtl: number;
  renewable: boolean;
  numUses: number;
  orphan: boolean;
  parent: string | null;
  entityId: string;
  /** The token's own period (te.Period: a periodic login, or `period` on auth/token/create); lookup shows it. */
  period: number;
  /**
   * The period a renewal resets the TTL to: the token's own, or its token role's `token_period`. A token
   * role's period is applied at creation and renewal but never stored on the token: lookup shows no `period`.
   */
  renewPeriod: number;
  /**
   * The most a period may give at once: the auth method's token_max_ttl (else the system max). Not a limit
   * on the token's life: a periodic login with token_max_ttl 30m and token_period 1h gets 30m at login and
   * at every renewal (with a warning each time), forever.
   */
  periodMax: number;
  /** The token role it was created through (auth/token/create/<role>); lookup shows it as `role`. */
  role: string | null;
  lastRenewalMs: number | null;
}

export type TokenLookup =
  | { status: "valid"; entry: TokenEntry }
  | { status: "missing" }
  | { status: "invalid" };

/**
 * Vault's rules for a custom token id (token_store.go handleCreateCommon), in its order: the service
 * token prefixes are reserved, then no '.' at all (which also covers `hvb.`/`b.`). Undefined when fine.
 */
export function customTokenIdError(id: string): string | undefined {
  if (id.startsWith("hvs.")) return "custom token ID cannot have the 'hvs.' prefix";
  if (id.startsWith("s.")) return "custom token ID cannot have the 's.' prefix";
  if (id.includes(".")) return "custom token ID cannot have a '.' in the value";
  return undefined;
}

/** The warning Vault attaches to a token created with a custom id. */
export const customTokenIdWarning =
  "Supplying a custom ID for the token uses the weaker SHA1 hashing instead of the more secure SHA2-256 HMAC for token obfuscation. SHA1 hashed tokens on the wire leads to less secure lookups.";

export class TokenStore {
  private readonly byId = new Map<string, TokenEntry>();
  private readonly byAccessor = new Map<string, TokenEntry>();

  constructor(private readonly now: () => number) {}

  create(spec: {
    id?: string;
    policies: string[];
    path: string;
    meta?: Record<string, string> | null;
    displayName: string;
    ttl: number;
    /** The auth method's max TTL (e.g. a role's token_max_ttl); 0 = the system max. */
    maxTtl?: number;
    explicitMaxTtl?: number;
    renewable: boolean;
    numUses?: number;
    parent: string | null;
    entityId?: string;
    /** te.Period: shown by lookup, used by renewals. */
    period?: number;
    /** A token role's period: sets the TTL now and at each renewal, not shown by lookup. */
    rolePeriod?: number;
    /** A token role's token_explicit_max_ttl: caps the token's life, but lookup's explicit_max_ttl stays 0. */
    roleExplicitMaxTtl?: number;
    role?: string;
    /** Receives Vault's warnings (a period capped by the max TTL). */
    warnings?: string[];
  }): TokenEntry {
    const now = this.now();
    const isRoot = spec.policies.includes("root");
    const explicitMax = spec.explicitMaxTtl ?? 0;
    const period = spec.period ?? 0;
    const renewPeriod = spec.rolePeriod && spec.rolePeriod > 0 ? spec.rolePeriod : period;
    const cap = minPositive(explicitMax, spec.roleExplicitMaxTtl ?? 0);
    const periodMax =
      spec.maxTtl && spec.maxTtl > 0 ? Math.min(spec.maxTtl, defaultLeaseTtlSeconds) : defaultLeaseTtlSeconds;
    let maxTtl: number;
    let ttl: number;
    if (renewPeriod > 0) {
      // A periodic token has no max TTL unless an explicit one is set: the system max caps only the period.
      let p = renewPeriod;
      if (p > periodMax) {
        spec.warnings?.push(periodCappedWarning(p, periodMax));
        p = periodMax;
      }
      if (cap > 0 && p > cap) {
        spec.warnings?.push(periodCappedWarning(p, cap));
        p = cap;
      }
      maxTtl = cap;
      ttl = p;
    } else {
      maxTtl =
        spec.maxTtl && spec.maxTtl > 0
          ? Math.min(spec.maxTtl, defaultLeaseTtlSeconds)
          : defaultLeaseTtlSeconds;
      if (cap > 0) maxTtl = Math.min(maxTtl, cap);
      // A root token created without a TTL never expires.
      if (isRoot && spec.ttl === 0 && cap === 0) maxTtl = 0;
      ttl = maxTtl > 0 ? Math.min(spec.ttl > 0 ? spec.ttl : maxTtl, maxTtl) : spec.ttl;
    }
    const entry: TokenEntry = {
      id: spec.id ?? `hvs.${randomBase62(24)}`,
      accessor: randomBase62(24),
      policies: spec.policies,
      path: spec.path,
      meta: spec.meta ?? null,
      displayName: spec.displayName,
      creationMs: now,
      ttl,
      creationTtl: ttl,
      expireMs: ttl > 0 ? now + ttl * 1000 : null,
      maxExpireMs: maxTtl > 0 ? now + maxTtl * 1000 : null,
      explicitMaxTtl: explicitMax,
      renewable: spec.renewable && ttl > 0,
      numUses: spec.numUses ?? 0,
      orphan: spec.parent === null,
      parent: spec.parent,
      entityId: spec.entityId ?? "",
      period,
      renewPeriod,
      periodMax,
      role: spec.role ?? null,
      lastRenewalMs: null,
    };
    this.byId.set(entry.id, entry);
    this.byAccessor.set(entry.accessor, entry);
    return entry;
  }

  /** A token with this id exists (expired or not): a custom id may not reuse it. */
  has(id: string): boolean {
    return this.byId.has(id);
  }

  lookup(id: string | undefined): TokenLookup {
    if (!id) return { status: "missing" };
    this.expireDue();
    const entry = this.byId.get(id);
    if (!entry) return { status: "invalid" };
    return { status: "valid", entry };
  }

  /**
   * Vault's expiration manager: a token past its TTL is revoked, and with it every token created under it
   * (a child outlives its own TTL never, its parent's never either).
   */
  private expireDue(): void {
    const now = this.now();
    for (const entry of [...this.byId.values()])
      if (entry.expireMs !== null && now >= entry.expireMs && this.byId.has(entry.id)) this.revoke(entry.id);
  }

  byAccessorId(accessor: string): TokenEntry | undefined {
    return this.byAccessor.get(accessor);
  }

  /** `LIST auth/token/accessors`: every live token; one past its TTL is revoked first, as Vault's expiration manager does. */
  accessors(): string[] {
    for (const entry of [...this.byId.values()]) this.lookup(entry.id);
    return [...this.byAccessor.keys()];
  }

  /** Revokes a token and, as Vault does for non-orphans, every token created under it. */
  revoke(id: string): void {
    const entry = this.byId.get(id);
    if (!entry) return;
    this.byId.delete(id);
    this.byAccessor.delete(entry.accessor);
    for (const child of [...this.byId.values()]) if (child.parent === id) this.revoke(child.id);
  }

  /** Counts one use of a limited-use token; the last use revokes it after the request. */
  use(entry: TokenEntry): boolean {
    if (entry.numUses <= 0) return false;
    entry.numUses -= 1;
    return entry.numUses === 0;
  }

  /**
   * renew-self / renew: a periodic token goes back to its period whatever the increment; any other to the
   * increment (or its creation TTL). Either is capped by what is left of its max TTL, with Vault's warning.
   */
  renew(entry: TokenEntry, incrementSeconds: number | undefined, warnings: string[] = []): void {
    if (!entry.renewable) throw new VaultError(400, "lease is not renewable");
    const now = this.now();
    let ttl = incrementSeconds && incrementSeconds > 0 ? incrementSeconds : entry.creationTtl;
    if (entry.renewPeriod > 0) {
      ttl = entry.renewPeriod;
      if (ttl > entry.periodMax) {
        warnings.push(periodCappedWarning(ttl, entry.periodMax));
        ttl = entry.periodMax;
      }
    }
    if (entry.maxExpireMs !== null) {
      const left = Math.max(0, Math.round((entry.maxExpireMs - now) / 1000));
      if (left < ttl) {
        warnings.push(
          `TTL of ${JSON.stringify(humanDuration(ttl))} exceeded the effective max_ttl of ${JSON.stringify(humanDuration(left))}; TTL value is capped accordingly`,
        );
        ttl = left;
      }
    }
    entry.ttl = ttl;
    entry.expireMs = now + ttl * 1000;
    entry.lastRenewalMs = now;
  }

  remainingTtl(entry: TokenEntry): number {
    if (entry.expireMs === null) return 0;
    return Math.max(0, Math.floor((entry.expireMs - this.now()) / 1000));
  }

  /** The `auth` block of a login or token-create response. */
  authBlock(entry: TokenEntry, tokenPolicies: string[], identityPolicies: string[] = []): JsonObject {
    const block: JsonObject = {
      client_token: entry.id,
      accessor: entry.accessor,
      policies: sortedUnique([...tokenPolicies, ...identityPolicies]),
      token_policies: tokenPolicies,
      metadata: entry.meta,
      lease_duration: entry.ttl,
      renewable: entry.renewable,
      entity_id: entry.entityId,
      token_type: "service",
      orphan: entry.orphan,
      mfa_requirement: null,
      num_uses: entry.numUses,
    };
    if (identityPolicies.length > 0) block.identity_policies = identityPolicies;
    return block;
  }

  lookupData(entry: TokenEntry): JsonObject {
    return {
      accessor: entry.accessor,
      creation_time: Math.floor(entry.creationMs / 1000),
      creation_ttl: entry.creationTtl,
      display_name: entry.displayName,
      entity_id: entry.entityId,
      expire_time: entry.expireMs === null ? null : rfc3339Nano(entry.expireMs),
      explicit_max_ttl: entry.explicitMaxTtl,
      id: entry.id,
      issue_time: rfc3339Nano(entry.creationMs),
      ...(entry.lastRenewalMs === null
        ? {}
        : {
            last_renewal: rfc3339Nano(entry.lastRenewalMs),
            last_renewal_time: Math.floor(entry.lastRenewalMs / 1000),
          }),
      meta: entry.meta,
      num_uses: entry.numUses,
      orphan: entry.orphan,
      path: entry.path,
      // Seconds, a JSON number; only a token with its own period has the field at all.
      ...(entry.period > 0 ? { period: entry.period } : {}),
      policies: entry.policies,
      renewable: entry.renewable,
      ...(entry.role === null ? {} : { role: entry.role }),
      ttl: this.remainingTtl(entry),
      type: "service",
    };
  }
}

function minPositive(a: number, b: number): number {
  if (a > 0 && b > 0) return Math.min(a, b);
  return a > 0 ? a : b;
}

/** Vault's humanDuration (sdk/framework): Go's Duration.String() without the zero minutes and seconds: "1h", "90m" is "1h30m". */
export function humanDuration(seconds: number): string {
  let s = goDuration(seconds);
  if (s.endsWith("m0s")) s = s.slice(0, -2);
  const idx = s.indexOf("h0m");
  if (idx > 0) s = s.slice(0, idx + 1) + s.slice(idx + 3);
  return s;
}

function periodCappedWarning(period: number, max: number): string {
  return `period of ${JSON.stringify(humanDuration(period))} exceeded the effective max_ttl of ${JSON.stringify(humanDuration(max))}; period value is capped accordingly`;
}

// ---------------------------------------------------------------------------------------------------------
// Identity

export interface EntityAlias {
  id: string;
  name: string;
  mountAccessor: string;
  mountType: string;
  mountPath: string;
  metadata: Record<string, string> | null;
  creationMs: number;
}
export interface Entity {
  id: string;
  name: string;
  metadata: Record<string, string> | null;
  policies: string[];
  aliases: EntityAlias[];
  creationMs: number;
}

export class IdentityStore {
  readonly entities = new Map<string, Entity>();

  /** The entity behind a login: found by (mount accessor, alias name), created on first login. */
  forLogin(
    mount: AuthMount,
    aliasName: string,
    metadata: Record<string, string> | null,
    now: number,
  ): Entity {
    for (const entity of this.entities.values()) {
      const alias = entity.aliases.find((a) => a.mountAccessor === mount.accessor && a.name === aliasName);
      if (alias) {
        alias.metadata = metadata;
        return entity;
      }
    }
    const entity: Entity = {
      id: uuid(),
      name: `entity_${randomBytes(4).toString("hex")}`,
      metadata: null,
      policies: [],
      aliases: [],
      creationMs: now,
    };
    entity.aliases.push({
      id: uuid(),
      name: aliasName,
      mountAccessor: mount.accessor,
      mountType: mount.type,
      mountPath: `auth/${mount.path}`,
      metadata,
      creationMs: now,
    });
    this.entities.set(entity.id, entity);
    return entity;
  }

  context(entityId: string): IdentityContext {
    const entity = this.entities.get(entityId);
    if (!entity) return {};
    return {
      entity: {
        id: entity.id,
        name: entity.name,
        metadata: entity.metadata,
        aliases: entity.aliases.map((a) => ({
          id: a.id,
          name: a.name,
          mountAccessor: a.mountAccessor,
          metadata: a.metadata,
        })),
      },
    };
  }

  describe(entity: Entity): JsonObject {
    return {
      id: entity.id,
      name: entity.name,
      metadata: entity.metadata,
      policies: entity.policies,
      disabled: false,
      namespace_id: "root",
      creation_time: rfc3339Nano(entity.creationMs),
      last_update_time: rfc3339Nano(entity.creationMs),
      direct_group_ids: [],
      group_ids: [],
      inherited_group_ids: [],
      merged_entity_ids: null,
      aliases: entity.aliases.map((a) => ({
        id: a.id,
        canonical_id: entity.id,
        name: a.name,
        mount_accessor: a.mountAccessor,
        mount_type: a.mountType,
        mount_path: a.mountPath,
        metadata: a.metadata,
        creation_time: rfc3339Nano(a.creationMs),
        last_update_time: rfc3339Nano(a.creationMs),
        local: false,
        custom_metadata: null,
      })),
    };
  }
}

// ---------------------------------------------------------------------------------------------------------
// Auth methods

/** Token settings shared by roles and users (the "tokenutil" fields). */
export interface TokenSettings {
  policies: string[];
  ttl: number;
  maxTtl: number;
  /** token_period: a login token is periodic (te.Period), its TTL the period, no max TTL. */
  period: number;
  explicitMaxTtl: number;
  noDefaultPolicy: boolean;
  numUses: number;
  /**
   * Deprecated names (policies, ttl, max_ttl, period) this entry was ever written with: tokenutil.UpgradeValue
   * keeps them in sync with the token_* value, and a read shows them only then.
   */
  legacy: LegacyField[];
}

type LegacyField = "policies" | "ttl" | "max_ttl" | "period";
const legacyNames: Record<LegacyField, keyof TokenSettings> = {
  policies: "policies",
  ttl: "ttl",
  max_ttl: "maxTtl",
  period: "period",
};

/**
 * Which deprecated names each method still accepts (Vault 1.19, checked against the real server): userpass
 * takes `policies`, `ttl` and `max_ttl` but silently ignores `period`; AppRole takes `policies` and `period`;
 * the ldap config takes none of them (ldap users and groups have no token settings at all, only `policies`).
 */
export const legacyTokenFields: Record<"userpass" | "approle" | "ldap", LegacyField[]> = {
  userpass: ["policies", "ttl", "max_ttl"],
  approle: ["policies", "period"],
  ldap: [],
};

function readTokenSettings(
  d: JsonObject,
  previous?: TokenSettings,
  legacyAllowed: LegacyField[] = [],
): TokenSettings {
  const old = (name: LegacyField) => (legacyAllowed.includes(name) ? d[name] : undefined);
  const legacy = new Set(previous?.legacy ?? []);
  for (const name of legacyAllowed) if (d[name] !== undefined && d[name] !== null) legacy.add(name);
  const policies = stringList(d.token_policies) ?? stringList(old("policies"));
  return {
    policies: policies ? normalizePolicyNames(policies) : (previous?.policies ?? []),
    ttl: parseDurationSeconds(d.token_ttl ?? old("ttl"), "token_ttl") ?? previous?.ttl ?? 0,
    maxTtl: parseDurationSeconds(d.token_max_ttl ?? old("max_ttl"), "token_max_ttl") ?? previous?.maxTtl ?? 0,
    period: parseDurationSeconds(d.token_period ?? old("period"), "token_period") ?? previous?.period ?? 0,
    explicitMaxTtl:
      parseDurationSeconds(d.token_explicit_max_ttl, "token_explicit_max_ttl") ??
      previous?.explicitMaxTtl ??
      0,
    noDefaultPolicy: asBool(d.token_no_default_policy, previous?.noDefaultPolicy ?? false),
    numUses: asInt(d.token_num_uses, "token_num_uses") ?? previous?.numUses ?? 0,
    legacy: [...legacy],
  };
}

export function defaultTokenSettings(): TokenSettings {
  return readTokenSettings({});
}

function describeTokenSettings(s: TokenSettings): JsonObject {
  const out: JsonObject = {
    token_bound_cidrs: [],
    token_explicit_max_ttl: s.explicitMaxTtl,
    token_max_ttl: s.maxTtl,
    token_no_default_policy: s.noDefaultPolicy,
    token_num_uses: s.numUses,
    token_period: s.period,
    token_policies: s.policies,
    token_ttl: s.ttl,
    token_type: "default",
  };
  for (const name of s.legacy) out[name] = s[legacyNames[name]] as JsonValue;
  return out;
}

interface AppRole {
  name: string;
  roleId: string;
  bindSecretId: boolean;
  secretIdTtl: number;
  secretIdNumUses: number;
  token: TokenSettings;
  secretIds: Map<
    string,
    { accessor: string; expireMs: number | null; usesLeft: number; metadata: JsonObject | null }
  >;
}
interface PasswordUser {
  name: string;
  password: string | undefined;
  groups: string[];
  token: TokenSettings;
}

export interface AuthMount {
  /** With trailing slash, e.g. `userpass/`. */
  path: string;
  type: "token" | "approle" | "userpass" | "ldap";
  accessor: string;
  uuid: string;
  description: string;
  roles: Map<string, AppRole>;
  users: Map<string, PasswordUser>;
  groups: Map<string, string[]>;
  ldapConfig: JsonObject;
  /** LDAP only: the token settings of auth/ldap/config (token_policies, token_period, ...). */
  ldapToken: TokenSettings;
  /** LDAP only: the directory Vault would bind against (set through the stand-in's back door). */
  directory: Map<string, { password: string; groups: string[] }>;
}

export function newAuthMount(path: string, type: AuthMount["type"], description = ""): AuthMount {
  return {
    path,
    type,
    accessor: mountAccessor(`auth_${type}`),
    uuid: uuid(),
    description,
    roles: new Map(),
    users: new Map(),
    groups: new Map(),
    ldapConfig: {},
    ldapToken: defaultTokenSettings(),
    directory: new Map(),
  };
}

/** What a successful login asks the core to mint. */
export interface LoginGrant {
  aliasName: string;
  aliasMetadata: Record<string, string> | null;
  token: TokenSettings;
  displayName: string;
  meta: Record<string, string> | null;
  loginPath: string;
}

export interface AuthRoute extends Route {
  /** Login endpoints are reachable without a token. */
  unauthenticated?: boolean;
  login?: (req: EngineRequest) => LoginGrant;
}

/** Routes of an approle/userpass/ldap mount; `sub` is the path inside the mount. */
export function authMethodRoute(mount: AuthMount, sub: string): AuthRoute | undefined {
  switch (mount.type) {
    case "approle":
      return appRoleRoute(mount, sub);
    case "userpass":
    case "ldap":
      return passwordRoute(mount, sub);
    default:
      return undefined;
  }
}

function listKeys(names: Iterable<string>): Outcome {
  return respond({ keys: [...names].sort() });
}

function appRoleRoute(mount: AuthMount, sub: string): AuthRoute | undefined {
  if (sub === "login")
    return {
      operations: ["update"],
      unauthenticated: true,
      handle: () => nil,
      login: (r) => {
        const roleId = r.data?.role_id;
        if (typeof roleId !== "string" || roleId === "") throw new VaultError(400, "missing role_id");
        const role = [...mount.roles.values()].find((x) => x.roleId === roleId);
        if (!role) throw new VaultError(400, "invalid role or secret ID");
        if (role.bindSecretId) {
          const secretId = r.data?.secret_id;
          if (typeof secretId !== "string" || secretId === "") throw new VaultError(400, "missing secret_id");
          const secret = role.secretIds.get(secretId);
          if (!secret || (secret.expireMs !== null && r.now >= secret.expireMs))
            throw new VaultError(400, "invalid role or secret ID");
          if (secret.usesLeft > 0 && --secret.usesLeft === 0) role.secretIds.delete(secretId);
        }
        const meta = { role_name: role.name };
        // AppRole's entity alias is named after the role ID, not the role name.
        return {
          aliasName: role.roleId,
          aliasMetadata: meta,
          token: role.token,
          displayName: "approle",
          meta,
          loginPath: `auth/${mount.path}login`,
        };
      },
    };
  if (sub === "role" || sub === "role/")
    return { operations: ["list"], handle: () => listKeys(mount.roles.keys()) };
  const m = /^role\/([^/]+)(?:\/(role-id|secret-id))?\/?$/.exec(sub);
  if (!m) return undefined;
  const name = (m[1] ?? "").toLowerCase();
  const role = () => {
    const found = mount.roles.get(name);
    if (!found) throw new VaultError(400, `role "${name}" does not exist`);
    return found;
  };
  if (m[2] === "role-id")
    return {
      operations: ["read", "update"],
      handle: (r) => {
        if (r.operation === "read") {
          const found = mount.roles.get(name);
          return found ? respond({ role_id: found.roleId }) : nil;
        }
        const roleId = r.data?.role_id;
        if (typeof roleId !== "string" || roleId === "") throw new VaultError(400, "missing role_id");
        role().roleId = roleId;
        return nil;
      },
    };
  if (m[2] === "secret-id")
    return {
      operations: ["update", "list"],
      handle: (r) => {
        const target = role();
        if (r.operation === "list") return listKeys([...target.secretIds.values()].map((s) => s.accessor));
        const secretId = uuid();
        const ttl = parseDurationSeconds(r.data?.ttl, "ttl") ?? target.secretIdTtl;
        const numUses = asInt(r.data?.num_uses, "num_uses") ?? target.secretIdNumUses;
        const accessor = uuid();
        target.secretIds.set(secretId, {
          accessor,
          expireMs: ttl > 0 ? r.now + ttl * 1000 : null,
          usesLeft: numUses,
          metadata: isObject(r.data?.metadata) ? r.data.metadata : null,
        });
        return respond({
          secret_id: secretId,
          secret_id_accessor: accessor,
          secret_id_ttl: ttl,
          secret_id_num_uses: numUses,
        });
      },
    };
  return {
    operations: ["read", "create", "update", "delete"],
    exists: () => mount.roles.has(name),
    handle: (r) => {
      if (r.operation === "delete") {
        mount.roles.delete(name);
        return nil;
      }
      if (r.operation === "read") {
        const found = mount.roles.get(name);
        if (!found) return nil;
        return respond({
          ...describeTokenSettings(found.token),
          bind_secret_id: found.bindSecretId,
          secret_id_ttl: found.secretIdTtl,
          secret_id_num_uses: found.secretIdNumUses,
          secret_id_bound_cidrs: null,
          local_secret_ids: false,
        });
      }
      const d = r.data ?? {};
      const previous = mount.roles.get(name);
      const next: AppRole = {
        name,
        roleId: previous?.roleId ?? (typeof d.role_id === "string" ? d.role_id : uuid()),
        bindSecretId: asBool(d.bind_secret_id, previous?.bindSecretId ?? true),
        secretIdTtl: parseDurationSeconds(d.secret_id_ttl, "secret_id_ttl") ?? previous?.secretIdTtl ?? 0,
        secretIdNumUses: asInt(d.secret_id_num_uses, "secret_id_num_uses") ?? previous?.secretIdNumUses ?? 0,
        token: readTokenSettings(d, previous?.token, legacyTokenFields.approle),
        secretIds: previous?.secretIds ?? new Map(),
      };
      mount.roles.set(name, next);
      return nil;
    },
  };
}

function passwordRoute(mount: AuthMount, sub: string): AuthRoute | undefined {
  const isLdap = mount.type === "ldap";
  const login = /^login\/([^/]+)$/.exec(sub);
  if (login)
    return {
      operations: ["update"],
      unauthenticated: true,
      handle: () => nil,
      login: (r) => {
        const typed = login[1] ?? "";
        const username = isLdap ? typed : typed.toLowerCase();
        const password = r.data?.password;
        if (typeof password !== "string" || password === "")
          throw new VaultError(400, isLdap ? "password cannot be empty" : "missing password");
        const user = mount.users.get(username.toLowerCase());
        let groups: string[];
        let settings: TokenSettings;
        if (isLdap) {
          // A directory user needs no Vault-side entry; one adds policies and groups (path_login.go).
          const entry = mount.directory.get(username.toLowerCase());
          if (!entry || entry.password !== password)
            throw new VaultError(400, "ldap operation failed: failed to bind as user");
          groups = [...entry.groups, ...(user?.groups ?? [])];
          // The token settings are the config's; a Vault-side user or group only adds policies.
          settings = { ...mount.ldapToken, policies: user?.token.policies ?? [] };
        } else {
          if (!user || user.password === undefined || user.password !== password)
            throw new VaultError(400, "invalid username or password");
          groups = [];
          settings = user.token;
        }
        const groupPolicies = groups.flatMap((g) => mount.groups.get(g.toLowerCase()) ?? []);
        const configPolicies = isLdap ? mount.ldapToken.policies : [];
        const meta = { username };
        return {
          aliasName: username,
          aliasMetadata: isLdap ? null : meta,
          token: { ...settings, policies: [...settings.policies, ...groupPolicies, ...configPolicies] },
          displayName: `${mount.path.replace(/\/$/, "").replaceAll("/", "-")}-${username}`,
          meta,
          loginPath: `auth/${mount.path}login/${username}`,
        };
      },
    };
  if (isLdap && sub === "config")
    return {
      operations: ["read", "update"],
      handle: (r) => {
        if (r.operation === "read")
          return respond({ ...mount.ldapConfig, ...describeTokenSettings(mount.ldapToken) });
        const d = r.data ?? {};
        mount.ldapToken = readTokenSettings(d, mount.ldapToken, legacyTokenFields.ldap);
        for (const [key, value] of Object.entries(d))
          if (!key.startsWith("token_") && !["policies", "ttl", "max_ttl", "period"].includes(key))
            mount.ldapConfig[key] = value;
        return nil;
      },
    };
  if (isLdap && (sub === "groups" || sub === "groups/"))
    return { operations: ["list"], handle: () => listKeys(mount.groups.keys()) };
  const group = isLdap ? /^groups\/([^/]+)$/.exec(sub) : null;
  if (group) {
    const name = (group[1] ?? "").toLowerCase();
    return {
      operations: ["read", "create", "update", "delete"],
      exists: () => mount.groups.has(name),
      handle: (r) => {
        if (r.operation === "delete") mount.groups.delete(name);
        else if (r.operation === "read") {
          const policies = mount.groups.get(name);
          return policies ? respond({ policies }) : nil;
        } else mount.groups.set(name, normalizePolicyNames(stringList(r.data?.policies) ?? []));
        return nil;
      },
    };
  }
  if (sub === "users" || sub === "users/")
    return { operations: ["list"], handle: () => listKeys(mount.users.keys()) };
  const user = /^users\/([^/]+?)(\/password|\/policies)?$/.exec(sub);
  if (!user) return undefined;
  const name = (user[1] ?? "").toLowerCase();
  if (user[2] === "/password" && !isLdap)
    return {
      operations: ["update"],
      handle: (r) => {
        const found = mount.users.get(name);
        if (!found) throw new VaultError(400, "username does not exist");
        const password = r.data?.password;
        if (typeof password !== "string" || password === "") throw new VaultError(400, "missing password");
        found.password = password;
        return nil;
      },
    };
  if (user[2]) return undefined;
  return {
    operations: ["read", "create", "update", "delete"],
    exists: () => mount.users.has(name),
    handle: (r) => {
      if (r.operation === "delete") {
        mount.users.delete(name);
        return nil;
      }
      if (r.operation === "read") {
        const found = mount.users.get(name);
        if (!found) return nil;
        // An ldap user is only groups and policies; token_* fields there are ignored.
        if (isLdap) return respond({ groups: found.groups.join(","), policies: found.token.policies });
        return respond(describeTokenSettings(found.token));
      }
      const d = r.data ?? {};
      const previous = mount.users.get(name);
      // LDAP users have no password field: the directory holds it.
      const password =
        !isLdap && typeof d.password === "string" && d.password !== "" ? d.password : previous?.password;
      if (!isLdap && r.operation === "create" && password === undefined)
        throw new VaultError(400, "missing password");
      mount.users.set(name, {
        name,
        password,
        groups: stringList(d.groups) ?? previous?.groups ?? [],
        token: isLdap
          ? {
              ...defaultTokenSettings(),
              policies: normalizePolicyNames(stringList(d.policies) ?? previous?.token.policies ?? []),
            }
          : readTokenSettings(d, previous?.token, legacyTokenFields.userpass),
      });
      return nil;
    },
  };
}

// ---------------------------------------------------------------------------------------------------------
// Token roles (auth/token/roles/<name>, token_store.go)

export interface TokenRole {
  name: string;
  allowedPolicies: string[];
  disallowedPolicies: string[];
  orphan: boolean;
  renewable: boolean;
  pathSuffix: string;
  /** The deprecated `period`: set only when written without token_period (then both carry it). */
  period: number;
  tokenPeriod: number;
  /** The deprecated `explicit_max_ttl`, kept like `period`. */
  explicitMaxTtl: number;
  tokenExplicitMaxTtl: number;
  tokenNoDefaultPolicy: boolean;
}

/** A write to auth/token/roles/<name>: the role and Vault's warnings. */
export function readTokenRole(
  name: string,
  d: JsonObject,
  previous: TokenRole | undefined,
): { role: TokenRole; warnings: string[] } {
  const warnings: string[] = [];
  const pair = (newKey: string, oldKey: string, prevNew: number, prevOld: number): [number, number] => {
    const fresh = parseDurationSeconds(d[newKey], newKey);
    const legacy = parseDurationSeconds(d[oldKey], oldKey);
    if (fresh !== undefined && legacy !== undefined)
      warnings.push(
        `Both '${newKey}' and deprecated '${oldKey}' value supplied, ignoring the deprecated value`,
      );
    if (fresh !== undefined) return [fresh, prevOld];
    if (legacy !== undefined) return [legacy, legacy];
    return [prevNew, prevOld];
  };
  const [tokenPeriod, period] = pair(
    "token_period",
    "period",
    previous?.tokenPeriod ?? 0,
    previous?.period ?? 0,
  );
  const [tokenExplicitMaxTtl, explicitMaxTtl] = pair(
    "token_explicit_max_ttl",
    "explicit_max_ttl",
    previous?.tokenExplicitMaxTtl ?? 0,
    previous?.explicitMaxTtl ?? 0,
  );
  const allowed = stringList(d.allowed_policies);
  const disallowed = stringList(d.disallowed_policies);
  return {
    role: {
      name,
      allowedPolicies: allowed
        ? sortedUnique(normalizePolicyNames(allowed))
        : (previous?.allowedPolicies ?? []),
      disallowedPolicies: disallowed
        ? sortedUnique(normalizePolicyNames(disallowed))
        : (previous?.disallowedPolicies ?? []),
      orphan: asBool(d.orphan, previous?.orphan ?? false),
      renewable: asBool(d.renewable, previous?.renewable ?? true),
      pathSuffix: typeof d.path_suffix === "string" ? d.path_suffix : (previous?.pathSuffix ?? ""),
      period,
      tokenPeriod,
      explicitMaxTtl,
      tokenExplicitMaxTtl,
      tokenNoDefaultPolicy: asBool(d.token_no_default_policy, previous?.tokenNoDefaultPolicy ?? false),
    },
    warnings,
  };
}

/** A read of auth/token/roles/<name>, with Vault 1.19's fields (no token_ttl/token_policies here). */
export function describeTokenRole(role: TokenRole): JsonObject {
  return {
    allowed_entity_aliases: null,
    allowed_policies: role.allowedPolicies,
    allowed_policies_glob: [],
    disallowed_policies: role.disallowedPolicies,
    disallowed_policies_glob: [],
    explicit_max_ttl: role.explicitMaxTtl,
    name: role.name,
    orphan: role.orphan,
    path_suffix: role.pathSuffix,
    period: role.period,
    renewable: role.renewable,
    token_explicit_max_ttl: role.tokenExplicitMaxTtl,
    token_no_default_policy: role.tokenNoDefaultPolicy,
    token_period: role.tokenPeriod,
    token_type: "default-service",
  };
}
