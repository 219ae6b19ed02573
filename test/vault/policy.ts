// Vault ACL policies: parsing (the HCL subset real policies use, and the JSON form) and evaluation.
// Semantics follow https://developer.hashicorp.com/vault/docs/concepts/policies (priority matching,
// templated policies, capabilities) and vault/acl.go.
import type { Operation } from "./wire.js";

export const capabilities = ["create", "read", "update", "patch", "delete", "list", "sudo", "deny"] as const;
export type Capability = (typeof capabilities)[number];

export interface PathRule {
  /** As written, possibly with `{{identity...}}` templates, a `+` segment or a trailing `*`. */
  path: string;
  capabilities: Capability[];
}

export interface Policy {
  name: string;
  rules: PathRule[];
  /** The text the policy was written with (returned by GET sys/policies/acl/<name>). */
  raw: string;
}

export class PolicyParseError extends Error {
  override readonly name = "PolicyParseError";
}

// Old-style `policy = "..."` values, mapped as Vault does (vault/policy.go).
const legacyPolicy: Record<string, Capability[]> = {
  deny: ["deny"],
  read: ["read", "list"],
  write: ["read", "list", "create", "update", "delete"],
  sudo: ["read", "list", "create", "update", "delete", "sudo"],
};
const ruleKeys = new Set([
  "capabilities",
  "policy",
  "allowed_parameters",
  "denied_parameters",
  "required_parameters",
  "min_wrapping_ttl",
  "max_wrapping_ttl",
  "mfa_methods",
  "control_group",
  "subscribe_event_types",
]);

export function parsePolicy(name: string, text: string): Policy {
  const tree = text.trimStart().startsWith("{") ? parseJsonPolicy(text) : parseHcl(text);
  const rules: PathRule[] = [];
  for (const item of tree) {
    if (item.key === "name") continue;
    if (item.key !== "path") throw new PolicyParseError(`invalid key "${item.key}" on line ${item.line}`);
    const entries: Array<[string, HclValue]> =
      item.labels.length === 1 && item.value.type === "object"
        ? [[item.labels[0] ?? "", item.value]]
        : item.labels.length === 0 && item.value.type === "object"
          ? item.value.items.map((i) => [i.key, i.value] as [string, HclValue])
          : [];
    if (entries.length === 0)
      throw new PolicyParseError(`path on line ${item.line}: expected path "..." { ... }`);
    for (const [rawPath, body] of entries) {
      if (body.type !== "object") throw new PolicyParseError(`path "${rawPath}": expected a block`);
      rules.push(parseRule(rawPath, body));
    }
  }
  return { name, rules, raw: text };
}

function parseRule(rawPath: string, body: Extract<HclValue, { type: "object" }>): PathRule {
  const caps = new Set<Capability>();
  for (const entry of body.items) {
    if (!ruleKeys.has(entry.key))
      throw new PolicyParseError(`path "${rawPath}": invalid key "${entry.key}" on line ${entry.line}`);
    if (entry.key === "capabilities") {
      if (entry.value.type !== "list")
        throw new PolicyParseError(`path "${rawPath}": capabilities must be a list`);
      for (const v of entry.value.items) {
        if (v.type !== "string" || !(capabilities as readonly string[]).includes(v.value))
          throw new PolicyParseError(`path "${rawPath}": invalid capability ${JSON.stringify(hclPlain(v))}`);
        caps.add(v.value as Capability);
      }
    } else if (entry.key === "policy") {
      const legacy = entry.value.type === "string" ? legacyPolicy[entry.value.value] : undefined;
      if (!legacy)
        throw new PolicyParseError(
          `path "${rawPath}": invalid policy ${JSON.stringify(hclPlain(entry.value))}`,
        );
      for (const c of legacy) caps.add(c);
    }
  }
  return { path: rawPath.replace(/^\/+/, ""), capabilities: [...caps] };
}

// ---------------------------------------------------------------------------------------------------------
// HCL subset: `key "label" { ... }`, `key = value`, strings, numbers, bools, lists, objects, comments.

type HclValue =
  | { type: "string"; value: string }
  | { type: "number"; value: number }
  | { type: "bool"; value: boolean }
  | { type: "list"; items: HclValue[] }
  | { type: "object"; items: HclItem[] };
interface HclItem {
  key: string;
  labels: string[];
  value: HclValue;
  line: number;
}
interface Token {
  kind: "string" | "word" | "punct";
  text: string;
  line: number;
}

function hclPlain(v: HclValue): unknown {
  switch (v.type) {
    case "list":
      return v.items.map(hclPlain);
    case "object":
      return Object.fromEntries(v.items.map((i) => [i.key, hclPlain(i.value)]));
    default:
      return v.value;
  }
}

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  let line = 1;
  while (i < text.length) {
    const c = text[i] ?? "";
    if (c === "\n") {
      line++;
      i++;
    } else if (/\s/.test(c)) {
      i++;
    } else if (c === "#" || (c === "/" && text[i + 1] === "/")) {
      while (i < text.length && text[i] !== "\n") i++;
    } else if (c === "/" && text[i + 1] === "*") {
      const end = text.indexOf("*/", i + 2);
      if (end < 0) throw new PolicyParseError(`unterminated comment on line ${line}`);
      line += (text.slice(i, end).match(/\n/g) ?? []).length;
      i = end + 2;
    } else if (c === '"') {
      let value = "";
      i++;
      for (;;) {
        const d = text[i];
        if (d === undefined || d === "\n") throw new PolicyParseError(`unterminated string on line ${line}`);
        if (d === '"') break;
        if (d === "\\") {
          const e = text[i + 1];
          const simple: Record<string, string> = {
            n: "\n",
            t: "\t",
            r: "\r",
            '"': '"',
            "\\": "\\",
            "/": "/",
          };
          if (e !== undefined && simple[e] !== undefined) {
            value += simple[e];
            i += 2;
          } else if (e === "u") {
            value += String.fromCharCode(Number.parseInt(text.slice(i + 2, i + 6), 16));
            i += 6;
          } else throw new PolicyParseError(`invalid escape on line ${line}`);
          continue;
        }
        value += d;
        i++;
      }
      i++;
      tokens.push({ kind: "string", text: value, line });
    } else if ("{}[]=,:".includes(c)) {
      tokens.push({ kind: "punct", text: c, line });
      i++;
    } else if (/[A-Za-z0-9_.\-+]/.test(c)) {
      const start = i;
      while (i < text.length && /[A-Za-z0-9_.\-+]/.test(text[i] ?? "")) i++;
      tokens.push({ kind: "word", text: text.slice(start, i), line });
    } else {
      throw new PolicyParseError(`unexpected character ${JSON.stringify(c)} on line ${line}`);
    }
  }
  return tokens;
}

function parseHcl(text: string): HclItem[] {
  const tokens = tokenize(text);
  let pos = 0;
  const peek = () => tokens[pos];
  const fail = (what: string): never => {
    const t = peek();
    throw new PolicyParseError(
      t ? `${what} on line ${t.line}, found ${JSON.stringify(t.text)}` : `${what} at end of input`,
    );
  };
  const isPunct = (p: string) => peek()?.kind === "punct" && peek()?.text === p;

  function parseBody(closing: string | null): HclItem[] {
    const items: HclItem[] = [];
    for (;;) {
      const t = peek();
      if (!t) {
        if (closing) fail(`expected "${closing}"`);
        return items;
      }
      if (closing && isPunct(closing)) {
        pos++;
        return items;
      }
      if (isPunct(",")) {
        pos++;
        continue;
      }
      if (t.kind === "punct") fail("expected a key");
      pos++;
      const labels: string[] = [];
      while (peek()?.kind === "string" || peek()?.kind === "word") labels.push(tokens[pos++]?.text ?? "");
      let value: HclValue;
      if (isPunct("=") || isPunct(":")) {
        pos++;
        value = parseValue();
      } else if (isPunct("{")) {
        pos++;
        value = { type: "object", items: parseBody("}") };
      } else value = fail(`expected "=" or "{" after ${JSON.stringify(t.text)}`);
      items.push({ key: t.text, labels, value, line: t.line });
    }
  }

  function parseValue(): HclValue {
    const t = peek() ?? fail("expected a value");
    pos++;
    if (t.kind === "string") return { type: "string", value: t.text };
    if (t.kind === "word") {
      if (t.text === "true" || t.text === "false") return { type: "bool", value: t.text === "true" };
      const n = Number(t.text);
      if (!Number.isNaN(n)) return { type: "number", value: n };
      return fail("expected a value");
    }
    if (t.text === "[") {
      const items: HclValue[] = [];
      while (!isPunct("]")) {
        items.push(parseValue());
        if (isPunct(",")) pos++;
        else if (!isPunct("]")) fail('expected "," or "]"');
      }
      pos++;
      return { type: "list", items };
    }
    if (t.text === "{") return { type: "object", items: parseBody("}") };
    return fail("expected a value");
  }

  return parseBody(null);
}

function parseJsonPolicy(text: string): HclItem[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new PolicyParseError(`invalid JSON policy: ${(error as Error).message}`);
  }
  const toValue = (v: unknown): HclValue => {
    if (typeof v === "string") return { type: "string", value: v };
    if (typeof v === "number") return { type: "number", value: v };
    if (typeof v === "boolean") return { type: "bool", value: v };
    if (Array.isArray(v)) return { type: "list", items: v.map(toValue) };
    if (v && typeof v === "object")
      return {
        type: "object",
        items: Object.entries(v).map(([key, value]) => ({ key, labels: [], value: toValue(value), line: 1 })),
      };
    throw new PolicyParseError(`invalid JSON policy value ${JSON.stringify(v)}`);
  };
  const root = toValue(parsed);
  if (root.type !== "object") throw new PolicyParseError("JSON policy must be an object");
  return root.items;
}

// ---------------------------------------------------------------------------------------------------------
// Templates: {{identity.entity.id}}, {{identity.entity.name}}, {{identity.entity.metadata.<key>}},
// {{identity.entity.aliases.<mount accessor>.id|name|metadata.<key>}}. A rule whose template cannot be
// resolved for the token is skipped, as Vault does (docs: "Templated policies").

export interface IdentityContext {
  entity?: {
    id: string;
    name: string;
    metadata?: Record<string, string> | null;
    aliases: Array<{
      id: string;
      name: string;
      mountAccessor: string;
      metadata?: Record<string, string> | null;
    }>;
  };
}

export function resolveTemplates(path: string, identity: IdentityContext): string | undefined {
  let unresolved = false;
  const out = path.replace(/\{\{\s*([^}]+?)\s*\}\}/g, (_all, expr: string) => {
    const value = resolveParameter(expr, identity);
    if (value === undefined || value === "") unresolved = true;
    return value ?? "";
  });
  return unresolved ? undefined : out;
}

function resolveParameter(expr: string, identity: IdentityContext): string | undefined {
  const entity = identity.entity;
  if (!entity) return undefined;
  if (expr === "identity.entity.id") return entity.id;
  if (expr === "identity.entity.name") return entity.name;
  if (expr.startsWith("identity.entity.metadata.")) return entity.metadata?.[expr.slice(25)];
  const alias = /^identity\.entity\.aliases\.([^.]+)\.(id|name|metadata\.(.+))$/.exec(expr);
  if (alias) {
    const found = entity.aliases.find((a) => a.mountAccessor === alias[1]);
    if (!found) return undefined;
    if (alias[2] === "id") return found.id;
    if (alias[2] === "name") return found.name;
    return found.metadata?.[alias[3] ?? ""];
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------------------
// Evaluation.

interface CompiledRule {
  /** The resolved pattern as written (with its `*`), used for merging and priority. */
  pattern: string;
  /** Pattern without the trailing `*`. */
  body: string;
  glob: boolean;
  /** Present when the pattern has `+` segments. */
  segments?: string[];
  caps: Set<Capability>;
}

export class Acl {
  readonly root: boolean;
  private readonly exact = new Map<string, CompiledRule>();
  private readonly wildcard = new Map<string, CompiledRule>();

  constructor(policies: Policy[], identity: IdentityContext = {}) {
    this.root = policies.some((p) => p.name === "root");
    for (const policy of policies) {
      for (const rule of policy.rules) {
        const pattern = resolveTemplates(rule.path, identity);
        if (pattern === undefined) continue;
        const glob = pattern.endsWith("*");
        const body = glob ? pattern.slice(0, -1) : pattern;
        const segmented = body.split("/").includes("+");
        const table = glob || segmented ? this.wildcard : this.exact;
        let compiled = table.get(pattern);
        if (!compiled) {
          compiled = { pattern, body, glob, caps: new Set() };
          if (segmented) compiled.segments = body.split("/");
          table.set(pattern, compiled);
        }
        // The same pattern in several policies: the union of capabilities (deny wins, below).
        for (const c of rule.capabilities) compiled.caps.add(c);
      }
    }
  }

  /** The rule that governs `path`: an exact match, else the highest-priority wildcard match. */
  private governing(path: string, operation?: Operation): CompiledRule | undefined {
    const exact = this.exact.get(path);
    if (exact) return exact;
    // LIST requests carry a trailing slash; a rule written without it also applies.
    const trimmed = path.endsWith("/") ? path.slice(0, -1) : undefined;
    if (operation === "list" && trimmed !== undefined) {
      const exactTrimmed = this.exact.get(trimmed);
      if (exactTrimmed) return exactTrimmed;
    }
    const best = this.bestWildcard(path);
    if (best || operation !== "list" || trimmed === undefined) return best;
    return this.bestWildcard(trimmed); // Vault >= 1.15 (VAULT-3825): same for wildcard rules.
  }

  private bestWildcard(path: string): CompiledRule | undefined {
    let best: CompiledRule | undefined;
    for (const rule of this.wildcard.values()) {
      if (!matches(rule, path)) continue;
      if (!best || comparePriority(rule, best) > 0) best = rule;
    }
    return best;
  }

  /** Capabilities as sys/capabilities-self reports them: sorted, `["deny"]` if none, `["root"]` for root. */
  capabilities(path: string): string[] {
    if (this.root) return ["root"];
    const rule = this.governing(path);
    if (!rule || rule.caps.has("deny") || rule.caps.size === 0) return ["deny"];
    return [...rule.caps].sort();
  }

  allows(operation: Operation, path: string, options: { sudo?: boolean } = {}): boolean {
    if (this.root) return true;
    const rule = this.governing(path, operation);
    if (!rule || rule.caps.has("deny")) return false;
    if (options.sudo && !rule.caps.has("sudo")) return false;
    return rule.caps.has(operation);
  }

  /** True when some rule could grant anything under `prefix` (used by sys/internal/ui/mounts). */
  hasAnyUnder(prefix: string): boolean {
    if (this.root) return true;
    for (const rule of [...this.exact.values(), ...this.wildcard.values()]) {
      if (rule.caps.has("deny") || rule.caps.size === 0) continue;
      if (rule.body.startsWith(prefix) || (rule.glob && prefix.startsWith(rule.body))) return true;
      if (rule.segments && prefix.split("/")[0] === rule.segments[0]) return true;
    }
    return false;
  }
}

function matches(rule: CompiledRule, path: string): boolean {
  if (!rule.segments) return rule.glob ? path.startsWith(rule.body) : path === rule.body;
  const parts = path.split("/");
  const segs = rule.segments;
  if (rule.glob ? parts.length < segs.length : parts.length !== segs.length) return false;
  return segs.every((seg, i) => {
    const part = parts[i] ?? "";
    if (rule.glob && i === segs.length - 1) return seg === "+" || part.startsWith(seg);
    return seg === "+" || seg === part;
  });
}

/**
 * > 0 when `a` has higher priority than `b`. The documented rules, for two matching patterns P1, P2:
 * 1. the first wildcard (`+`) or glob (`*`) earlier in P1 → P1 lower;
 * 2. P1 ends in `*` and P2 does not → P1 lower;
 * 3. P1 has more `+` segments → P1 lower;
 * 4. P1 is shorter → P1 lower;
 * 5. P1 is smaller lexicographically → P1 lower.
 */
export function comparePriority(a: CompiledRuleLike, b: CompiledRuleLike): number {
  const fa = firstWildcard(a.pattern);
  const fb = firstWildcard(b.pattern);
  if (fa !== fb) return fa - fb;
  const ga = a.pattern.endsWith("*");
  const gb = b.pattern.endsWith("*");
  if (ga !== gb) return ga ? -1 : 1;
  const pa = plusSegments(a.pattern);
  const pb = plusSegments(b.pattern);
  if (pa !== pb) return pb - pa;
  if (a.pattern.length !== b.pattern.length) return a.pattern.length - b.pattern.length;
  return a.pattern < b.pattern ? -1 : a.pattern > b.pattern ? 1 : 0;
}
type CompiledRuleLike = { pattern: string };

function firstWildcard(pattern: string): number {
  const segs = pattern.split("/");
  let offset = 0;
  for (const seg of segs) {
    if (seg === "+" || seg === "+*") return offset;
    offset += seg.length + 1;
  }
  return pattern.endsWith("*") ? pattern.length - 1 : Number.POSITIVE_INFINITY;
}

function plusSegments(pattern: string): number {
  return pattern.split("/").filter((s) => s === "+" || s === "+*").length;
}

// Vault's built-in default policy (vault/policy_store.go), attached to every non-root token.
export const defaultPolicyText = `# Allow tokens to look up their own properties
path "auth/token/lookup-self" {
    capabilities = ["read"]
}

# Allow tokens to renew themselves
path "auth/token/renew-self" {
    capabilities = ["update"]
}

# Allow tokens to revoke themselves
path "auth/token/revoke-self" {
    capabilities = ["update"]
}

# Allow a token to look up its own capabilities on a path
path "sys/capabilities-self" {
    capabilities = ["update"]
}

# Allow a token to look up its own entity by id or name
path "identity/entity/id/{{identity.entity.id}}" {
  capabilities = ["read"]
}
path "identity/entity/name/{{identity.entity.name}}" {
  capabilities = ["read"]
}

# Allow a token to look up its resultant ACL from all policies
path "sys/internal/ui/resultant-acl" {
    capabilities = ["read"]
}

# Allow a token to renew a lease via lease_id in the request body
path "sys/renew" {
    capabilities = ["update"]
}
path "sys/leases/renew" {
    capabilities = ["update"]
}

# Allow looking up lease properties
path "sys/leases/lookup" {
    capabilities = ["update"]
}

# Allow a token to manage its own cubbyhole
path "cubbyhole/*" {
    capabilities = ["create", "read", "update", "delete", "list"]
}

# Allow a token to wrap arbitrary values in a response-wrapping token
path "sys/wrapping/wrap" {
    capabilities = ["update"]
}

# Allow a token to look up the creation time and TTL of a given response-wrapping token
path "sys/wrapping/lookup" {
    capabilities = ["update"]
}

# Allow a token to unwrap a response-wrapping token
path "sys/wrapping/unwrap" {
    capabilities = ["update"]
}

# Allow general purpose tools
path "sys/tools/hash" {
    capabilities = ["update"]
}
path "sys/tools/hash/*" {
    capabilities = ["update"]
}

# Allow a token to make requests to the Authorization Endpoint for OIDC providers.
path "identity/oidc/provider/+/authorize" {
    capabilities = ["read", "update"]
}
`;
