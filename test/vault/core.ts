// The Vault stand-in's core: turns one HTTP request into Vault's logical request, authenticates it,
// applies ACLs, routes it to sys/, auth/, identity/ or a secrets engine and renders Vault's JSON.
// Request handling follows http/logical.go, http/handler.go and sdk/logical/response_util.go.
import { randomBytes } from "node:crypto";
import type { IncomingHttpHeaders } from "node:http";
import {
  type AuthMount,
  type AuthRoute,
  authMethodRoute,
  customTokenIdError,
  customTokenIdWarning,
  describeTokenRole,
  IdentityStore,
  type LoginGrant,
  newAuthMount,
  readTokenRole,
  type TokenEntry,
  type TokenRole,
  TokenStore,
} from "./auth.js";
import { type EngineRequest, KvV1Engine, KvV2Engine, type Route, type SecretsEngine } from "./kv.js";
import { Acl, defaultPolicyText, type Policy, PolicyParseError, parsePolicy } from "./policy.js";
import {
  asBool,
  asInt,
  errInvalidToken,
  errPermissionDenied,
  isObject,
  type JsonObject,
  type JsonValue,
  mountAccessor,
  multiError,
  nil,
  normalizePolicyNames,
  type Operation,
  type Outcome,
  parseDurationSeconds,
  respond,
  sortedUnique,
  stringList,
  uuid,
  VaultError,
} from "./wire.js";

export const standInVersion = "1.17.0";

export interface HttpInput {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

export interface HttpOutput {
  status: number;
  headers: Record<string, string>;
  /** Empty for 204. */
  body: string;
}

/** What the core learned about a request, for the request log. */
export interface RequestFacts {
  logicalPath: string;
  query: Record<string, string>;
  operation: Operation | null;
  tokenAccessor: string | null;
  policies: string[] | null;
  parsedBody: JsonValue | undefined;
}

export interface SecretMount {
  path: string;
  type: string;
  engine: SecretsEngine | null;
  accessor: string;
  uuid: string;
  description: string;
  options: Record<string, string> | null;
}

/** A request after routing, as handlers see it. */
export interface CoreRequest extends EngineRequest {
  fullPath: string;
  token: TokenEntry | null;
  acl: Acl | null;
  headers: IncomingHttpHeaders;
}

interface CoreRoute {
  operations: Operation[];
  exists?: () => boolean;
  handle: (req: CoreRequest) => Outcome;
  mountType: string;
  unauthenticated?: boolean;
  /** sudo required in addition to the operation's capability ("root paths"). */
  rootProtected?: boolean;
  login?: AuthRoute["login"];
  loginMount?: AuthMount;
  injectTopLevel?: boolean;
}

const reservedMountPrefixes = ["sys/", "auth/", "identity/", "cubbyhole/"];

export class VaultCore {
  sealed = false;
  readonly unsealKey = randomBytes(32).toString("base64");
  readonly tokens: TokenStore;
  readonly identity = new IdentityStore();
  readonly policies = new Map<string, Policy>();
  readonly secretMounts = new Map<string, SecretMount>();
  readonly authMounts = new Map<string, AuthMount>();
  /** auth/token/roles/<name>. */
  readonly tokenRoles = new Map<string, TokenRole>();
  readonly rootToken: TokenEntry;
  private readonly clusterName = `vault-cluster-${randomBytes(4).toString("hex")}`;
  private readonly clusterId = uuid();
  private readonly systemAccessor = mountAccessor("system");
  private readonly identityAccessor = mountAccessor("identity");

  constructor(
    readonly now: () => number,
    rootTokenId?: string,
  ) {
    this.tokens = new TokenStore(now);
    this.policies.set("default", parsePolicy("default", defaultPolicyText));
    this.authMounts.set("token/", newAuthMount("token/", "token", "token based credentials"));
    this.mount("secret/", "kv", { version: "2" }, "key/value secret storage");
    // `vault server -dev -dev-root-token-id=ID` creates its root token through auth/token/create with
    // that id: the same rules for the id, and lookup-self then says path auth/token/create, display
    // name "token". Without an id it is the root token init generates: auth/token/root, "root".
    const idError = rootTokenId === undefined ? undefined : customTokenIdError(rootTokenId);
    if (idError) throw new Error(`failed to create root token with ID "${rootTokenId}": ${idError}`);
    this.rootToken = this.tokens.create({
      ...(rootTokenId === undefined ? {} : { id: rootTokenId }),
      policies: ["root"],
      path: rootTokenId === undefined ? "auth/token/root" : "auth/token/create",
      displayName: rootTokenId === undefined ? "root" : "token",
      ttl: 0,
      renewable: false,
      parent: null,
    });
  }

  mount(path: string, type: string, options: Record<string, string> | null, description = ""): SecretMount {
    const version = type === "kv-v2" ? "2" : (options?.version ?? "1");
    const engine = version === "2" ? new KvV2Engine() : new KvV1Engine();
    const m: SecretMount = {
      path,
      type: "kv",
      engine,
      accessor: mountAccessor("kv"),
      uuid: uuid(),
      description,
      options: { ...(options ?? {}), version },
    };
    this.secretMounts.set(path, m);
    return m;
  }

  // -------------------------------------------------------------------------------------------------------
  // The pipeline

  handle(input: HttpInput): { output: HttpOutput; facts: RequestFacts } {
    const url = new URL(input.url, "http://stand-in");
    const facts: RequestFacts = {
      logicalPath: "",
      query: Object.fromEntries(url.searchParams),
      operation: null,
      tokenAccessor: null,
      policies: null,
      parsedBody: undefined,
    };
    const requestId = uuid();
    try {
      const output = this.process(input, url, facts, requestId);
      return { output, facts };
    } catch (error) {
      if (error instanceof VaultError) return { output: errorOutput(error.status, error.errors), facts };
      return { output: errorOutput(500, [`internal error: ${(error as Error).message}`]), facts };
    }
  }

  private process(input: HttpInput, url: URL, facts: RequestFacts, requestId: string): HttpOutput {
    if (!url.pathname.startsWith("/v1/") || url.pathname === "/v1/") throw new VaultError(404);
    let path: string;
    try {
      path = decodeURIComponent(url.pathname.slice(4));
    } catch {
      throw new VaultError(400, "invalid URL escape in path");
    }
    const method = input.method.toUpperCase();
    let operation: Operation;
    switch (method) {
      case "GET":
      case "HEAD":
        operation = "read";
        if (url.searchParams.has("list")) {
          const list = url.searchParams.get("list") ?? "";
          if (!/^(1|0|t|f|true|false|TRUE|FALSE|True|False)$/.test(list)) throw new VaultError(400);
          if (/^(1|t|true)$/i.test(list)) operation = "list";
        }
        break;
      case "POST":
      case "PUT":
        operation = "update";
        break;
      case "PATCH": {
        const contentType = (input.headers["content-type"] ?? "").split(";")[0]?.trim() ?? "";
        if (contentType !== "application/merge-patch+json")
          throw new VaultError(
            415,
            `PATCH requires Content-Type of application/merge-patch+json, provided ${contentType}`,
          );
        operation = "patch";
        break;
      }
      case "DELETE":
        operation = "delete";
        break;
      case "LIST":
        operation = "list";
        break;
      default:
        throw new VaultError(405);
    }
    if (operation === "list" && !path.endsWith("/")) path += "/";
    facts.logicalPath = path;

    let data: JsonObject | null = null;
    if (input.body.length > 0) {
      const text = input.body.toString("utf8");
      let parsed: JsonValue = null;
      try {
        parsed = JSON.parse(text) as JsonValue;
        facts.parsedBody = parsed;
      } catch {
        facts.parsedBody = text;
        if (method === "POST" || method === "PUT" || method === "PATCH")
          throw new VaultError(400, "error parsing JSON");
      }
      if (method === "POST" || method === "PUT" || method === "PATCH") {
        if (!isObject(parsed)) throw new VaultError(400, "error parsing JSON");
        data = parsed;
      }
    }

    // Unauthenticated sys endpoints that also answer while sealed.
    if (path === "sys/health") return this.health(url, method === "HEAD");
    if (path === "sys/seal-status" && operation === "read") return jsonOutput(200, this.sealStatus());
    if (path === "sys/unseal" && operation === "update") return this.unseal(data ?? {});
    if (this.sealed) throw new VaultError(503, "Vault is sealed");

    const route = this.route(path);
    const now = this.now();
    const base = { path, data, query: facts.query, now, fullPath: path, headers: input.headers };

    if (route?.unauthenticated) {
      if (!route.operations.includes(operation)) throw new VaultError(405, "unsupported operation");
      facts.operation = operation;
      const request: CoreRequest = { ...base, operation, token: null, acl: null, path: route.subPath };
      return this.finish(route, request, this.runHandler(route, request), requestId);
    }

    const token = this.authenticate(input.headers);
    facts.tokenAccessor = token.accessor;
    facts.policies = token.policies;
    const acl = this.aclFor(token);

    if (operation === "update" && route?.exists) operation = route.exists() ? "update" : "create";
    facts.operation = operation;
    if (!acl.allows(operation, path, { sudo: route?.rootProtected ?? false }))
      throw new VaultError(403, multiError(errPermissionDenied));
    if (this.tokens.use(token)) queueMicrotask(() => this.tokens.revoke(token.id));

    if (!route)
      throw new VaultError(404, `no handler for route ${JSON.stringify(path)}. route entry not found.`);
    if (route.unsupported) throw new VaultError(404, "unsupported path");
    if (!route.operations.includes(operation)) throw new VaultError(405, "unsupported operation");
    const request: CoreRequest = { ...base, operation, token, acl, path: route.subPath };
    return this.finish(route, request, this.runHandler(route, request), requestId);
  }

  private runHandler(route: CoreRoute, request: CoreRequest): Outcome {
    if (route.login) return this.login(route, route.login(request), request);
    return route.handle(request);
  }

  private finish(route: CoreRoute, request: CoreRequest, outcome: Outcome, requestId: string): HttpOutput {
    if (outcome.kind === "nil") {
      // RespondErrorCommon: a nil response to a read, list or patch is Vault's bare 404.
      if (request.operation === "read" || request.operation === "list" || request.operation === "patch")
        return errorOutput(404, []);
      return { status: 204, headers: baseHeaders(), body: "" };
    }
    if (outcome.kind === "raw") {
      if (outcome.data === null) return { status: outcome.status, headers: baseHeaders(), body: "" };
      const raw = { ...envelopeOf(requestId, outcome.data, null, null), mount_type: "" };
      // json.Marshal, not json.Encoder: no trailing newline.
      return { status: outcome.status, headers: baseHeaders(), body: JSON.stringify(raw) };
    }
    if (request.operation === "list") {
      const keys = outcome.data?.keys;
      if (!Array.isArray(keys) || keys.length === 0) return errorOutput(404, []);
    }
    const envelope: JsonObject = {
      ...envelopeOf(requestId, outcome.data, outcome.warnings ?? null, outcome.auth ?? null),
      mount_type: route.mountType,
    };
    let body: JsonObject = envelope;
    if ((route.injectTopLevel || outcome.injectTopLevel) && outcome.data) {
      body = { ...envelope };
      for (const [key, value] of Object.entries(outcome.data)) if (!(key in envelope)) body[key] = value;
    }
    return jsonOutput(200, body);
  }

  private authenticate(headers: IncomingHttpHeaders): TokenEntry {
    const header = headers["x-vault-token"];
    let id = Array.isArray(header) ? header[0] : header;
    const authorization = headers.authorization;
    if (!id && typeof authorization === "string" && /^Bearer /i.test(authorization))
      id = authorization.slice(7).trim();
    const found = this.tokens.lookup(id);
    // fetchACLTokenEntryAndEntity: no token is a plain "permission denied"; an unknown, revoked or expired
    // one is a multierror of "permission denied" and "invalid token" (docs: concepts/tokens, Error responses).
    if (found.status === "missing") throw new VaultError(403, errPermissionDenied);
    if (found.status === "invalid")
      throw new VaultError(403, multiError(errPermissionDenied, errInvalidToken));
    return found.entry;
  }

  aclFor(token: TokenEntry): Acl {
    const entity = token.entityId ? this.identity.entities.get(token.entityId) : undefined;
    const names = sortedUnique([...token.policies, ...(entity?.policies ?? [])]);
    const policies: Policy[] = names.flatMap((name) => {
      if (name === "root") return [{ name: "root", rules: [], raw: "" }];
      const p = this.policies.get(name);
      return p ? [p] : [];
    });
    return new Acl(policies, this.identity.context(token.entityId));
  }

  private login(route: CoreRoute, grant: LoginGrant, request: CoreRequest): Outcome {
    const mount = route.loginMount;
    if (!mount) throw new VaultError(500, "login route without mount");
    const entity = this.identity.forLogin(mount, grant.aliasName, grant.aliasMetadata, request.now);
    const tokenPolicies = sortedUnique(
      normalizePolicyNames([...(grant.token.noDefaultPolicy ? [] : ["default"]), ...grant.token.policies]),
    );
    const warnings: string[] = [];
    const entry = this.tokens.create({
      policies: tokenPolicies,
      path: grant.loginPath,
      meta: grant.meta,
      displayName: grant.displayName,
      ttl: grant.token.ttl,
      maxTtl: grant.token.maxTtl,
      explicitMaxTtl: grant.token.explicitMaxTtl,
      period: grant.token.period,
      renewable: true,
      numUses: grant.token.numUses,
      parent: null,
      entityId: entity.id,
      warnings,
    });
    return respond(null, { auth: this.tokens.authBlock(entry, tokenPolicies, entity.policies), warnings });
  }

  // -------------------------------------------------------------------------------------------------------
  // Routing

  private route(path: string): (CoreRoute & { subPath: string; unsupported?: boolean }) | undefined {
    if (path.startsWith("sys/")) {
      const sub = path.slice(4);
      const r = this.sysRoute(sub);
      return r ? { ...r, subPath: sub } : undefined;
    }
    if (path.startsWith("identity/")) {
      const sub = path.slice(9);
      const r = this.identityRoute(sub);
      return r
        ? { ...r, subPath: sub }
        : { operations: [], handle: () => nil, mountType: "identity", subPath: sub, unsupported: true };
    }
    if (path.startsWith("auth/")) {
      const mount = longestPrefix(this.authMounts, path.slice(5));
      if (!mount) return undefined;
      const sub = path.slice(5 + mount.path.length);
      if (mount.type === "token") {
        const r = this.tokenRoute(sub);
        return r
          ? { ...r, subPath: sub }
          : { operations: [], handle: () => nil, mountType: "token", subPath: sub, unsupported: true };
      }
      const r = authMethodRoute(mount, sub);
      if (!r)
        return { operations: [], handle: () => nil, mountType: mount.type, subPath: sub, unsupported: true };
      return { ...r, mountType: mount.type, loginMount: mount, subPath: sub };
    }
    const mount = longestPrefix(this.secretMounts, path);
    if (!mount?.engine) return undefined;
    const sub = path.slice(mount.path.length);
    const r: Route | undefined = mount.engine.route(sub);
    if (!r)
      return { operations: [], handle: () => nil, mountType: mount.type, subPath: sub, unsupported: true };
    return { ...r, mountType: mount.type, subPath: sub };
  }

  private sysRoute(sub: string): CoreRoute | undefined {
    const sys = (route: Omit<CoreRoute, "mountType">): CoreRoute => ({ mountType: "system", ...route });
    if (sub === "mounts")
      return sys({
        operations: ["read"],
        injectTopLevel: true,
        handle: () => respond(this.describeMounts()),
      });
    if (sub.startsWith("mounts/")) {
      const path = normalizeMountPath(sub.slice(7));
      return sys({
        operations: ["read", "update", "delete"],
        injectTopLevel: true,
        handle: (r) => this.mountsPath(r, path),
      });
    }
    if (sub === "auth")
      return sys({ operations: ["read"], injectTopLevel: true, handle: () => respond(this.describeAuth()) });
    if (sub.startsWith("auth/")) {
      const path = normalizeMountPath(sub.slice(5));
      return sys({
        operations: ["read", "update", "delete"],
        rootProtected: true,
        injectTopLevel: true,
        handle: (r) => this.authPath(r, path),
      });
    }
    if (sub === "policies/acl" || sub === "policies/acl/")
      return sys({ operations: ["list"], handle: () => respond({ keys: this.policyNames() }) });
    if (sub.startsWith("policies/acl/")) {
      const name = sub.slice(13).toLowerCase();
      return sys({
        operations: ["read", "update", "delete"],
        handle: (r) => this.policyPath(r, name, "acl"),
      });
    }
    if (sub === "policy" || sub === "policy/")
      return sys({
        operations: ["read", "list"],
        injectTopLevel: true,
        handle: () => respond({ keys: this.policyNames(), policies: this.policyNames() }),
      });
    if (sub.startsWith("policy/")) {
      const name = sub.slice(7).toLowerCase();
      return sys({
        operations: ["read", "update", "delete"],
        injectTopLevel: true,
        handle: (r) => this.policyPath(r, name, "legacy"),
      });
    }
    if (sub === "capabilities-self")
      return sys({ operations: ["update"], injectTopLevel: true, handle: (r) => this.capabilitiesSelf(r) });
    if (sub === "seal")
      return sys({
        operations: ["update"],
        rootProtected: true,
        handle: () => {
          this.sealed = true;
          return nil;
        },
      });
    if (sub.startsWith("internal/ui/mounts/"))
      return sys({
        operations: ["read"],
        unauthenticated: true,
        handle: (r) => this.uiMount(r, sub.slice(19)),
      });
    return undefined;
  }

  private tokenRoute(sub: string): CoreRoute | undefined {
    const tokens = this.tokens;
    const route = (operations: Operation[], handle: (r: CoreRequest) => Outcome): CoreRoute => ({
      mountType: "token",
      operations,
      handle,
    });
    const caller = (r: CoreRequest): TokenEntry => {
      if (!r.token) throw new VaultError(403, errPermissionDenied);
      return r.token;
    };
    if (sub === "roles" || sub === "roles/")
      return route(["list"], () => respond({ keys: [...this.tokenRoles.keys()].sort() }));
    const roleMatch = /^(roles|create)\/([^/]+)$/.exec(sub);
    if (roleMatch?.[1] === "roles") {
      const name = (roleMatch[2] ?? "").toLowerCase();
      return {
        ...route(["read", "create", "update", "delete"], (r) => {
          if (r.operation === "read") {
            const found = this.tokenRoles.get(name);
            return found ? respond(describeTokenRole(found)) : nil;
          }
          if (r.operation === "delete") {
            this.tokenRoles.delete(name);
            return nil;
          }
          const { role, warnings } = readTokenRole(name, r.data ?? {}, this.tokenRoles.get(name));
          this.tokenRoles.set(name, role);
          return warnings.length > 0 ? respond(null, { warnings }) : nil;
        }),
        exists: () => this.tokenRoles.has(name),
      };
    }
    if (roleMatch?.[1] === "create")
      return route(["update"], (r) => this.createToken(r, false, roleMatch[2] ?? ""));
    switch (sub) {
      case "create":
      case "create-orphan":
        return route(["update"], (r) => this.createToken(r, sub === "create-orphan"));
      case "lookup-self":
        return route(["read", "update"], (r) => respond(tokens.lookupData(caller(r))));
      case "renew-self":
        return route(["update"], (r) => {
          const entry = caller(r);
          const warnings: string[] = [];
          tokens.renew(entry, parseDurationSeconds(r.data?.increment, "increment"), warnings);
          return respond(null, { auth: tokens.authBlock(entry, entry.policies), warnings });
        });
      case "accessors":
      case "accessors/":
        // token_store.go: PathsSpecial.Root "accessors*" (sudo), keys = accessors of live tokens.
        return { ...route(["list"], () => respond({ keys: tokens.accessors() })), rootProtected: true };
      case "revoke-self":
        return route(["update"], (r) => {
          tokens.revoke(caller(r).id);
          return nil;
        });
      case "lookup":
      case "lookup-accessor":
      case "revoke":
      case "revoke-accessor":
        return route(["update"], (r) => {
          const byAccessor = sub.endsWith("-accessor");
          const key = r.data?.[byAccessor ? "accessor" : "token"];
          if (typeof key !== "string" || key === "")
            throw new VaultError(400, `missing ${byAccessor ? "accessor" : "token"}`);
          const entry = byAccessor
            ? tokens.byAccessorId(key)
            : (() => {
                const found = tokens.lookup(key);
                return found.status === "valid" ? found.entry : undefined;
              })();
          if (sub.startsWith("revoke")) {
            if (entry) tokens.revoke(entry.id);
            return nil;
          }
          if (!entry) throw new VaultError(403, multiError(errPermissionDenied, errInvalidToken));
          const data = tokens.lookupData(entry);
          if (byAccessor) data.id = "";
          return respond(data);
        });
      default:
        return undefined;
    }
  }

  private identityRoute(sub: string): CoreRoute | undefined {
    const m = /^entity\/(id|name)\/([^/]+)$/.exec(sub);
    if (!m) return undefined;
    return {
      mountType: "identity",
      operations: ["read"],
      handle: () => {
        const entity = [...this.identity.entities.values()].find(
          (e) => (m[1] === "id" ? e.id : e.name) === m[2],
        );
        return entity ? respond(this.identity.describe(entity)) : nil;
      },
    };
  }

  // -------------------------------------------------------------------------------------------------------
  // Handlers

  /**
   * auth/token/create, create-orphan and create/<role> (token_store.go handleCreateCommon). Through a role:
   * the role decides orphan-ness (no sudo needed), the policies must lie within its allowed_policies (not
   * the parent's), its token_period sets the TTL now and at every renewal (a requested ttl is ignored) and
   * its token_explicit_max_ttl caps the token. An orphan has no entity, whoever created it.
   */
  private createToken(r: CoreRequest, orphanPath: boolean, roleName?: string): Outcome {
    const parent = r.token;
    if (!parent || !r.acl) throw new VaultError(403, errPermissionDenied);
    const d = r.data ?? {};
    let role: TokenRole | undefined;
    if (roleName !== undefined) {
      role = this.tokenRoles.get(roleName.toLowerCase());
      if (!role) throw new VaultError(400, `unknown role ${roleName}`);
    }
    const parentIsRoot = parent.policies.includes("root");
    const sudo = () => parentIsRoot || r.acl?.allows("update", r.fullPath, { sudo: true }) === true;
    const noParent = role ? role.orphan : orphanPath || asBool(d.no_parent, false);
    if (!role && noParent && !sudo())
      throw new VaultError(400, "root or sudo privileges required to create orphan token");
    const period = parseDurationSeconds(d.period, "period") ?? 0;
    if (period > 0 && !sudo())
      throw new VaultError(400, "root or sudo privileges required to create periodic token");
    // No (or an empty list of) policies: the child inherits its parent's (a role's: its allowed policies),
    // so root begets root.
    const requested = stringList(d.policies) ?? [];
    const noDefault = asBool(d.no_default_policy, role?.tokenNoDefaultPolicy ?? false);
    const withDefault = (list: string[]) =>
      sortedUnique(
        noDefault ? list.filter((p) => p !== "default") : list.includes("root") ? list : [...list, "default"],
      );
    let policies: string[];
    if (role && role.allowedPolicies.length > 0) {
      policies = withDefault(requested.length > 0 ? normalizePolicyNames(requested) : role.allowedPolicies);
      const allowed = sortedUnique([...role.allowedPolicies, "default"]);
      if (!policies.every((p) => allowed.includes(p)))
        throw new VaultError(
          400,
          `token policies (${goStrings(policies)}) must be subset of the role's allowed policies (${goStrings(allowed)}) or glob policies ([])`,
        );
    } else {
      policies = requested.length > 0 ? normalizePolicyNames(requested) : [...parent.policies];
      if (requested.length > 0 && !parentIsRoot) {
        const allowed = new Set([...parent.policies, "default"]);
        if (!policies.every((p) => allowed.has(p)))
          throw new VaultError(400, "child policies must be subset of parent");
      }
      policies = withDefault(policies);
    }
    if (role) policies = policies.filter((p) => !role.disallowedPolicies.includes(p));
    if (policies.length === 0) throw new VaultError(400, "token must have at least one policy");
    if (d.id !== undefined && !parentIsRoot)
      throw new VaultError(400, "root or sudo privileges required to specify token id");
    const customId = typeof d.id === "string" && d.id !== "" ? d.id : undefined;
    if (customId !== undefined) {
      const idError = customTokenIdError(customId);
      if (idError) throw new VaultError(400, idError);
      if (this.tokens.has(customId)) throw new VaultError(400, "cannot create a token with a duplicate ID");
    }
    const meta = isObject(d.meta)
      ? Object.fromEntries(Object.entries(d.meta).map(([k, v]) => [k, String(v)]))
      : null;
    const displayName =
      typeof d.display_name === "string" && d.display_name !== ""
        ? `token-${d.display_name}`.replace(/[^a-zA-Z0-9-]/g, "-").replace(/-+$/, "")
        : "token";
    const warnings: string[] = customId === undefined ? [] : [customTokenIdWarning];
    const rolePeriod = role?.tokenPeriod ?? 0;
    const entry = this.tokens.create({
      ...(customId === undefined ? {} : { id: customId }),
      policies,
      path: role ? `auth/token/create/${role.name}` : `auth/token/${orphanPath ? "create-orphan" : "create"}`,
      meta,
      displayName,
      ttl: parseDurationSeconds(d.ttl ?? d.lease, "ttl") ?? 0,
      explicitMaxTtl: parseDurationSeconds(d.explicit_max_ttl, "explicit_max_ttl") ?? 0,
      // A role's period wins over a requested one and is not stored on the token.
      period: rolePeriod > 0 ? 0 : period,
      rolePeriod,
      roleExplicitMaxTtl: role?.tokenExplicitMaxTtl ?? 0,
      ...(role ? { role: role.name } : {}),
      renewable: asBool(d.renewable, true) && (role?.renewable ?? true),
      numUses: asInt(d.num_uses, "num_uses") ?? 0,
      parent: noParent ? null : parent.id,
      entityId: noParent ? "" : parent.entityId,
      warnings,
    });
    return respond(null, { auth: this.tokens.authBlock(entry, policies), warnings });
  }

  private mountsPath(r: CoreRequest, path: string): Outcome {
    if (r.operation === "read") {
      const m = this.secretMounts.get(path);
      return m ? respond(describeSecretMount(m)) : nil;
    }
    if (r.operation === "delete") {
      this.secretMounts.delete(path);
      return nil;
    }
    const d = r.data ?? {};
    const type = typeof d.type === "string" ? d.type : "";
    if (type === "") throw new VaultError(400, "backend type must be specified as a string");
    if (type !== "kv" && type !== "kv-v2")
      throw new VaultError(400, `plugin not found in the catalog: ${type}`);
    if (reservedMountPrefixes.some((p) => path.startsWith(p)) || path === "/")
      throw new VaultError(400, `cannot mount '${path}' of type '${type}': path is reserved`);
    for (const existing of this.secretMounts.keys())
      if (path.startsWith(existing) || existing.startsWith(path))
        throw new VaultError(400, `path is already in use at ${existing}`);
    const options = isObject(d.options)
      ? Object.fromEntries(Object.entries(d.options).map(([k, v]) => [k, String(v)]))
      : null;
    this.mount(path, type, options, typeof d.description === "string" ? d.description : "");
    return nil;
  }

  private authPath(r: CoreRequest, path: string): Outcome {
    if (r.operation === "read") {
      const m = this.authMounts.get(path);
      return m ? respond(describeAuthMount(m)) : nil;
    }
    if (r.operation === "delete") {
      if (path === "token/") throw new VaultError(400, "token credential backend cannot be disabled");
      this.authMounts.delete(path);
      return nil;
    }
    const type = r.data?.type;
    if (type !== "approle" && type !== "userpass" && type !== "ldap")
      throw new VaultError(400, `plugin not found in the catalog: ${String(type ?? "")}`);
    if (this.authMounts.has(path)) throw new VaultError(400, `path is already in use at auth/${path}`);
    const description = typeof r.data?.description === "string" ? r.data.description : "";
    this.authMounts.set(path, newAuthMount(path, type, description));
    return nil;
  }

  private policyNames(): string[] {
    return sortedUnique([...this.policies.keys(), "root"]);
  }

  private policyPath(r: CoreRequest, name: string, flavour: "acl" | "legacy"): Outcome {
    if (r.operation === "read") {
      if (name === "root") return respond(flavour === "acl" ? { name, policy: "" } : { name, rules: "" });
      const p = this.policies.get(name);
      if (!p) return nil;
      return respond(flavour === "acl" ? { name, policy: p.raw } : { name, rules: p.raw });
    }
    if (r.operation === "delete") {
      if (name === "root" || name === "default") throw new VaultError(400, `cannot delete "${name}" policy`);
      this.policies.delete(name);
      return nil;
    }
    if (name === "root") throw new VaultError(400, 'cannot update "root" policy');
    const text = r.data?.policy ?? r.data?.rules;
    if (typeof text !== "string" || text.trim() === "")
      throw new VaultError(400, "'policy' parameter not supplied or empty");
    try {
      this.policies.set(name, parsePolicy(name, text));
    } catch (error) {
      if (error instanceof PolicyParseError)
        throw new VaultError(400, `failed to parse policy: ${error.message}`);
      throw error;
    }
    return nil;
  }

  private capabilitiesSelf(r: CoreRequest): Outcome {
    if (!r.acl) throw new VaultError(403, errPermissionDenied);
    const paths = stringList(r.data?.paths) ?? (typeof r.data?.path === "string" ? [r.data.path] : []);
    if (paths.length === 0) throw new VaultError(400, "paths must be supplied");
    const data: JsonObject = {};
    for (const p of paths) data[p] = r.acl.capabilities(p.replace(/^\/+/, ""));
    // Backwards compatibility: a single path is also reported as `capabilities`.
    if (paths.length === 1) data.capabilities = data[paths[0] ?? ""] ?? [];
    return respond(data);
  }

  private uiMount(r: CoreRequest, path: string): Outcome {
    const token = this.tokens.lookup(headerToken(r.headers));
    if (token.status !== "valid") throw new VaultError(403, errPermissionDenied);
    const mount = longestPrefix(this.secretMounts, path.endsWith("/") ? path : `${path}/`);
    if (!mount) throw new VaultError(400, `No secret engine mount at ${path}`);
    if (!this.aclFor(token.entry).hasAnyUnder(mount.path)) throw new VaultError(403, errPermissionDenied);
    return respond({ ...describeSecretMount(mount), path: mount.path });
  }

  // -------------------------------------------------------------------------------------------------------
  // Status

  private health(url: URL, head: boolean): HttpOutput {
    const q = url.searchParams;
    const code = (name: string, fallback: number) => {
      const v = q.get(name);
      return v !== null && /^\d+$/.test(v) ? Number(v) : fallback;
    };
    const status = this.sealed ? code("sealedcode", 503) : code("activecode", 200);
    const body: JsonObject = {
      initialized: true,
      sealed: this.sealed,
      standby: this.sealed,
      performance_standby: false,
      replication_performance_mode: this.sealed ? "unknown" : "disabled",
      replication_dr_mode: this.sealed ? "unknown" : "disabled",
      server_time_utc: Math.floor(this.now() / 1000),
      version: standInVersion,
      enterprise: false,
      echo_duration_ms: 0,
      clock_skew_ms: 0,
      replication_primary_canary_age_ms: 0,
      removed_from_cluster: false,
    };
    if (!this.sealed) Object.assign(body, { cluster_name: this.clusterName, cluster_id: this.clusterId });
    if (head) return { status, headers: baseHeaders(), body: "" };
    return jsonOutput(status, body);
  }

  sealStatus(): JsonObject {
    const body: JsonObject = {
      type: "shamir",
      initialized: true,
      sealed: this.sealed,
      t: 1,
      n: 1,
      progress: 0,
      nonce: "",
      version: standInVersion,
      build_date: "2024-06-10T10:11:34Z",
      migration: false,
      recovery_seal: false,
      storage_type: "inmem",
      removed_from_cluster: false,
    };
    if (!this.sealed) Object.assign(body, { cluster_name: this.clusterName, cluster_id: this.clusterId });
    return body;
  }

  private unseal(data: JsonObject): HttpOutput {
    if (data.reset === true) return jsonOutput(200, this.sealStatus());
    const key = data.key;
    if (typeof key !== "string" || key === "")
      throw new VaultError(400, "'key' must be specified in request body as JSON, or 'reset' set to true");
    if (key !== this.unsealKey)
      throw new VaultError(400, "Error unsealing: cipher: message authentication failed");
    this.sealed = false;
    return jsonOutput(200, this.sealStatus());
  }

  describeMounts(): JsonObject {
    const out: JsonObject = {};
    for (const m of [...this.secretMounts.values()].sort((a, b) => a.path.localeCompare(b.path)))
      out[m.path] = describeSecretMount(m);
    out["identity/"] = builtinMount("identity", this.identityAccessor, "identity store");
    out["sys/"] = builtinMount(
      "system",
      this.systemAccessor,
      "system endpoints used for control, policy and debugging",
    );
    return out;
  }

  describeAuth(): JsonObject {
    const out: JsonObject = {};
    for (const m of [...this.authMounts.values()].sort((a, b) => a.path.localeCompare(b.path)))
      out[m.path] = describeAuthMount(m);
    return out;
  }
}

/** Go's %q of a []string: ["a" "b"]. */
function goStrings(list: string[]): string {
  return `[${list.map((p) => JSON.stringify(p)).join(" ")}]`;
}

function headerToken(headers: IncomingHttpHeaders): string | undefined {
  const header = headers["x-vault-token"];
  return Array.isArray(header) ? header[0] : header;
}

function longestPrefix<T>(table: Map<string, T>, path: string): T | undefined {
  let best: string | undefined;
  for (const key of table.keys()) if (path.startsWith(key) && (!best || key.length > best.length)) best = key;
  return best === undefined ? undefined : table.get(best);
}

function normalizeMountPath(raw: string): string {
  const trimmed = raw.replace(/^\/+|\/+$/g, "");
  return `${trimmed}/`;
}

function describeSecretMount(m: SecretMount): JsonObject {
  return {
    accessor: m.accessor,
    config: { default_lease_ttl: 0, force_no_cache: false, max_lease_ttl: 0 },
    deprecation_status: "supported",
    description: m.description,
    external_entropy_access: false,
    local: false,
    options: m.options,
    plugin_version: "",
    running_plugin_version: "v0.20.0+builtin",
    running_sha256: "",
    seal_wrap: false,
    type: m.type,
    uuid: m.uuid,
  };
}

function builtinMount(type: string, accessor: string, description: string): JsonObject {
  return {
    accessor,
    config: {
      default_lease_ttl: 0,
      force_no_cache: false,
      max_lease_ttl: 0,
      passthrough_request_headers: ["Accept"],
    },
    description,
    external_entropy_access: false,
    local: false,
    options: null,
    plugin_version: "",
    running_plugin_version: `v${standInVersion}+builtin.vault`,
    running_sha256: "",
    seal_wrap: type === "system",
    type,
    uuid: uuid(),
  };
}

function describeAuthMount(m: AuthMount): JsonObject {
  return {
    accessor: m.accessor,
    config: { default_lease_ttl: 0, force_no_cache: false, max_lease_ttl: 0, token_type: "default-service" },
    deprecation_status: "supported",
    description: m.description,
    external_entropy_access: false,
    local: false,
    options: null,
    plugin_version: "",
    running_plugin_version: m.type === "token" ? `v${standInVersion}+builtin.vault` : "v0.18.0+builtin",
    running_sha256: "",
    seal_wrap: false,
    type: m.type,
    uuid: m.uuid,
  };
}

/** logical.HTTPResponse, in its field order. */
function envelopeOf(
  requestId: string,
  data: JsonObject | null,
  warnings: string[] | null,
  auth: JsonObject | null,
): JsonObject {
  return {
    request_id: requestId,
    lease_id: "",
    renewable: false,
    lease_duration: 0,
    data,
    wrap_info: null,
    warnings: warnings && warnings.length > 0 ? warnings : null,
    auth,
  };
}

function baseHeaders(): Record<string, string> {
  return { "Content-Type": "application/json", "Cache-Control": "no-store" };
}

export function jsonOutput(status: number, body: JsonValue): HttpOutput {
  // Go's json.Encoder ends every document with a newline.
  return { status, headers: baseHeaders(), body: `${JSON.stringify(body)}\n` };
}

export function errorOutput(status: number, errors: string[]): HttpOutput {
  return jsonOutput(status, { errors });
}
