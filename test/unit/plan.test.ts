// Table-driven tests of the pure sync decision: every rule of "restore, back up or leave alone".
import t from "tap";
import type { CredentialsFileState, RotatingCredential } from "../../src/claude/credentials.js";
import { parseCredentialsFile } from "../../src/claude/credentials.js";
import { type EnvFileState, type LocalState, plan } from "../../src/sync/plan.js";
import { parseUserDocument, type UserDocument } from "../../src/sync/user-document.js";
import type { KvDocument } from "../../src/vault/kv.js";

const NOW = Date.parse("2026-11-30T09:00:00Z");
const HOUR = 3_600_000;
const policy = { restoreMarginMs: 5 * 60_000 };
const SETUP = `sk-ant-oat01-${"A".repeat(40)}`;
const OTHER_SETUP = `sk-ant-oat01-${"B".repeat(40)}`;

function credential(
  name: string,
  expiresAt: number,
  refreshToken = `sk-ant-ort01-${name}`,
): RotatingCredential {
  return {
    accessToken: `sk-ant-oat01-${name}`,
    refreshToken,
    expiresAt,
    scopes: ["user:inference"],
    subscriptionType: "max",
  };
}

function doc(data: Record<string, unknown> | null, state: KvDocument["state"] = "live"): UserDocument {
  if (data === null) return parseUserDocument({ version: 0, state: "absent", data: {} });
  return parseUserDocument({ version: 3, state, data });
}

function backedUp(c: RotatingCredential, extra: Record<string, unknown> = {}) {
  return {
    claude_ai_oauth: JSON.stringify(c),
    claude_ai_oauth_backed_up_at: "2026-11-30T08:00:00Z",
    ...extra,
  };
}

function local(credentials: CredentialsFileState, envFile: EnvFileState = { kind: "absent" }): LocalState {
  return { envFile, credentials };
}

const valid = (c: RotatingCredential): CredentialsFileState => ({
  kind: "valid",
  file: { claudeAiOauth: c },
  credential: c,
});
const STUB = parseCredentialsFile(
  JSON.stringify({ claudeAiOauth: { accessToken: "", refreshToken: "", expiresAt: 0 } }),
);
const EMPTY_REFRESH = parseCredentialsFile(
  JSON.stringify({
    claudeAiOauth: { accessToken: "sk-ant-oat01-x", refreshToken: "", expiresAt: NOW + HOUR },
  }),
);
const UNREADABLE: CredentialsFileState = { kind: "unreadable", reason: "not valid JSON" };

interface Row {
  name: string;
  document: UserDocument;
  local: LocalState;
  mode: string;
  outcome: string;
  actions: string[];
}

const fresh = credential("fresh", NOW + 7 * HOUR);
const older = credential("older", NOW + 2 * HOUR);
const expiredBackup = credential("expired", NOW - HOUR);
const almostExpired = credential("almost", NOW + 60_000);

const rows: Row[] = [
  {
    name: "setup token present, no env file: write it",
    document: doc({ setup_token: SETUP }),
    local: local(STUB),
    mode: "setup-token",
    outcome: "valid",
    actions: ["write-env-file"],
  },
  {
    name: "setup token present and env file current: nothing to do",
    document: doc({ setup_token: SETUP }),
    local: local({ kind: "absent" }, { kind: "present", token: SETUP }),
    mode: "setup-token",
    outcome: "valid",
    actions: [],
  },
  {
    name: "setup token rotated in Vault: rewrite the env file",
    document: doc({ setup_token: OTHER_SETUP }),
    local: local({ kind: "absent" }, { kind: "present", token: SETUP }),
    mode: "setup-token",
    outcome: "valid",
    actions: ["write-env-file"],
  },
  {
    name: "setup token present, env file garbled: rewrite it",
    document: doc({ setup_token: SETUP }),
    local: local({ kind: "absent" }, { kind: "present", token: null }),
    mode: "setup-token",
    outcome: "valid",
    actions: ["write-env-file"],
  },
  {
    name: "setup-token mode with a logged-out stub: no restore, no alert",
    document: doc({ setup_token: SETUP, ...backedUp(fresh) }),
    local: local(STUB, { kind: "present", token: SETUP }),
    mode: "setup-token",
    outcome: "valid",
    actions: [],
  },
  {
    name: "setup-token mode with a valid newer local credential: no backup",
    document: doc({ setup_token: SETUP, ...backedUp(older) }),
    local: local(valid(fresh), { kind: "present", token: SETUP }),
    mode: "setup-token",
    outcome: "valid",
    actions: [],
  },
  {
    name: "setup token removed (disable): remove the env file, then the rotating flow",
    document: doc({ ...backedUp(fresh) }),
    local: local(valid(fresh), { kind: "present", token: SETUP }),
    mode: "rotating",
    outcome: "valid",
    actions: ["remove-env-file"],
  },
  {
    name: "no document, no credentials: not enrolled, nothing written",
    document: doc(null),
    local: local({ kind: "absent" }),
    mode: "not-enrolled",
    outcome: "not-enrolled",
    actions: [],
  },
  {
    name: "document with only other tools' keys and no credentials: not enrolled",
    document: doc({ vaultwarden_token: "x" }),
    local: local({ kind: "absent" }),
    mode: "not-enrolled",
    outcome: "not-enrolled",
    actions: [],
  },
  {
    name: "soft-deleted document and no credentials: not enrolled",
    document: doc({}, "deleted"),
    local: local({ kind: "absent" }),
    mode: "not-enrolled",
    outcome: "not-enrolled",
    actions: [],
  },
  {
    name: "valid local, no backup: back up",
    document: doc({ vaultwarden_token: "x" }),
    local: local(valid(fresh)),
    mode: "rotating",
    outcome: "valid",
    actions: ["backup-credential"],
  },
  {
    name: "valid local, no document at all: back up (creates it)",
    document: doc(null),
    local: local(valid(fresh)),
    mode: "rotating",
    outcome: "valid",
    actions: ["backup-credential"],
  },
  {
    name: "valid local newer than the backup: back up",
    document: doc(backedUp(older)),
    local: local(valid(fresh)),
    mode: "rotating",
    outcome: "valid",
    actions: ["backup-credential"],
  },
  {
    name: "valid local equal to the backup: steady state, nothing",
    document: doc(backedUp(fresh)),
    local: local(valid(fresh)),
    mode: "rotating",
    outcome: "valid",
    actions: [],
  },
  {
    name: "older backup never overwrites a newer local credential, and a newer backup is kept",
    document: doc(backedUp(fresh)),
    local: local(valid(older)),
    mode: "rotating",
    outcome: "valid",
    actions: [],
  },
  {
    name: "valid local, malformed backup: back up over it (heals)",
    document: doc({ claude_ai_oauth: "{not json" }),
    local: local(valid(fresh)),
    mode: "rotating",
    outcome: "valid",
    actions: ["backup-credential"],
  },
  {
    name: "logged-out stub, usable backup: restore",
    document: doc(backedUp(fresh)),
    local: local(STUB),
    mode: "rotating",
    outcome: "valid",
    actions: ["restore-credential"],
  },
  {
    name: "empty refresh token, usable backup: restore, never back up",
    document: doc(backedUp(fresh)),
    local: local(EMPTY_REFRESH),
    mode: "rotating",
    outcome: "valid",
    actions: ["restore-credential"],
  },
  {
    name: "unreadable file, usable backup: restore (the file is set aside)",
    document: doc(backedUp(fresh)),
    local: local(UNREADABLE),
    mode: "rotating",
    outcome: "valid",
    actions: ["restore-credential"],
  },
  {
    name: "no credentials file on this host, usable backup: restore",
    document: doc(backedUp(fresh)),
    local: local({ kind: "absent" }),
    mode: "rotating",
    outcome: "valid",
    actions: ["restore-credential"],
  },
  {
    name: "stub after restoring this very backup: SSO required, no restore loop",
    document: doc(backedUp(fresh)),
    local: {
      ...local(STUB),
      lastRestore: { expiresAt: fresh.expiresAt, backedUpAt: "2026-11-30T08:00:00Z" },
    },
    mode: "rotating",
    outcome: "sso-required",
    actions: [],
  },
  {
    name: "stub after restoring an older backup: the newer backup is restored",
    document: doc(backedUp(fresh)),
    local: {
      ...local(STUB),
      lastRestore: { expiresAt: fresh.expiresAt - HOUR, backedUpAt: "2026-11-30T07:00:00Z" },
    },
    mode: "rotating",
    outcome: "valid",
    actions: ["restore-credential"],
  },
  {
    name: "stub after restoring a backup of the same expiry taken at another time: restore",
    document: doc(backedUp(fresh)),
    local: {
      ...local(STUB),
      lastRestore: { expiresAt: fresh.expiresAt, backedUpAt: "2026-11-30T07:59:00Z" },
    },
    mode: "rotating",
    outcome: "valid",
    actions: ["restore-credential"],
  },
  {
    name: "file gone after restoring this backup: restored again (only a stub says it failed)",
    document: doc(backedUp(fresh)),
    local: {
      ...local({ kind: "absent" }),
      lastRestore: { expiresAt: fresh.expiresAt, backedUpAt: "2026-11-30T08:00:00Z" },
    },
    mode: "rotating",
    outcome: "valid",
    actions: ["restore-credential"],
  },
  {
    name: "stub and an expired backup (refresh token may be spent): SSO required",
    document: doc(backedUp(expiredBackup)),
    local: local(STUB),
    mode: "rotating",
    outcome: "sso-required",
    actions: [],
  },
  {
    name: "stub and a backup expiring within the margin: SSO required",
    document: doc(backedUp(almostExpired)),
    local: local(STUB),
    mode: "rotating",
    outcome: "sso-required",
    actions: [],
  },
  {
    name: "stub and no backup: SSO required",
    document: doc({ vaultwarden_token: "x" }),
    local: local(STUB),
    mode: "rotating",
    outcome: "sso-required",
    actions: [],
  },
  {
    name: "stub and a backup that is itself a stub: SSO required",
    document: doc(backedUp({ accessToken: "", refreshToken: "", expiresAt: NOW + HOUR })),
    local: local(STUB),
    mode: "rotating",
    outcome: "sso-required",
    actions: [],
  },
  {
    name: "unreadable file and a malformed backup: SSO required",
    document: doc({ claude_ai_oauth: JSON.stringify({ accessToken: 1 }) }),
    local: local(UNREADABLE),
    mode: "rotating",
    outcome: "sso-required",
    actions: [],
  },
];

t.test("root runs keep the service copy in step with Vault; user runs leave it alone", async (t) => {
  const withService = (service: EnvFileState): LocalState => ({
    envFile: { kind: "present", token: SETUP },
    serviceEnvFile: service,
    credentials: { kind: "absent" },
  });
  const kinds = (l: LocalState, d = doc({ setup_token: SETUP })) =>
    plan(d, l, NOW, policy).actions.map((a) => a.kind);
  t.same(kinds(withService({ kind: "absent" })), ["write-service-env-file"], "missing copy written");
  t.same(
    kinds(withService({ kind: "present", token: OTHER_SETUP })),
    ["write-service-env-file"],
    "stale copy rewritten",
  );
  t.same(kinds(withService({ kind: "present", token: SETUP })), [], "current copy: nothing");
  t.same(
    kinds({ envFile: { kind: "present", token: SETUP }, credentials: { kind: "absent" } }),
    [],
    "not root: unmanaged",
  );
  t.same(
    kinds(withService({ kind: "present", token: SETUP }), doc({})),
    ["remove-env-file", "remove-service-env-file"],
    "disable removes both",
  );
});

for (const row of rows) {
  t.test(row.name, async (t) => {
    const result = plan(row.document, row.local, NOW, policy);
    t.equal(result.mode, row.mode, "mode");
    t.equal(result.outcome, row.outcome, "outcome");
    t.same(
      result.actions.map((a) => a.kind),
      row.actions,
      "actions",
    );
    t.ok(result.reasons.length > 0, "every plan says why");
    const text = JSON.stringify(result.reasons);
    t.notMatch(text, /sk-ant-o[ar]t01-/, "reasons never carry a token");
  });
}

t.test("a restore keeps the stub file's other keys and writes the backup's credential", async (t) => {
  const stubWithMcp = parseCredentialsFile(
    JSON.stringify({
      claudeAiOauth: { accessToken: "", refreshToken: "", expiresAt: 0 },
      mcpOAuth: { a: 1 },
    }),
  );
  const result = plan(doc(backedUp(fresh)), local(stubWithMcp), NOW, policy);
  const action = result.actions[0];
  t.equal(action?.kind, "restore-credential");
  if (action?.kind !== "restore-credential") return;
  t.same(action.keep, {
    claudeAiOauth: { accessToken: "", refreshToken: "", expiresAt: 0 },
    mcpOAuth: { a: 1 },
  });
  t.same(action.credential, fresh);
  t.equal(action.setAside, false);
  t.equal(result.credentialExpiresAt, fresh.expiresAt);
});

t.test("a backup carries the exact local credential, extra fields included", async (t) => {
  const withExtras = { ...fresh, rateLimitTier: "tier-4", futureField: { x: 1 } };
  const result = plan(doc(null), local(valid(withExtras)), NOW, policy);
  const action = result.actions[0];
  t.equal(action?.kind, "backup-credential");
  if (action?.kind === "backup-credential") t.same(action.credential, withExtras);
});

// Proactive renewal (issue 8): decided from document + local + clock + policy; performed by apply.
const WINDOW = 3 * HOUR;
const renewing = { ...policy, renew: { windowMs: WINDOW }, host: "ws-a", crossHostRestore: "any" as const };
const sameHostOnly = { ...renewing, crossHostRestore: "same-host" as const };
const soon = credential("soon", NOW + 2 * HOUR);
const expiredLocal = credential("expired-local", NOW - 10 * 60_000);
const rejected = (c: RotatingCredential) => ({ kind: "rejected" as const, refreshToken: c.refreshToken });
const failed = { kind: "failed" as const, reason: "the token endpoint answered HTTP 503" };
const renewedElsewhere = credential("renewed-elsewhere", NOW + 7.5 * HOUR);

interface RenewRow extends Row {
  policy: typeof renewing | typeof sameHostOnly | typeof policy;
  reason?: RegExp;
}

const renewRows: RenewRow[] = [
  {
    name: "renewal: access token expires within the window: renew (the renewal backs up itself)",
    policy: renewing,
    document: doc(backedUp(soon)),
    local: local(valid(soon)),
    mode: "rotating",
    outcome: "valid",
    actions: ["renew-credential"],
    reason: /expires in 120 min \(renewal window 180 min\)/,
  },
  {
    name: "renewal: access token already expired but refresh token present: renew",
    policy: renewing,
    document: doc(backedUp(expiredLocal)),
    local: local(valid(expiredLocal)),
    mode: "rotating",
    outcome: "valid",
    actions: ["renew-credential"],
    reason: /has expired: renewing/,
  },
  {
    name: "renewal: outside the window: nothing (steady state)",
    policy: renewing,
    document: doc(backedUp(fresh)),
    local: local(valid(fresh)),
    mode: "rotating",
    outcome: "valid",
    actions: [],
  },
  {
    name: "renewal: already renewed by someone else (the re-read under the lock is fresh): back up only",
    policy: renewing,
    document: doc(backedUp(soon)),
    local: local(valid(renewedElsewhere)),
    mode: "rotating",
    outcome: "valid",
    actions: ["backup-credential"],
  },
  {
    name: "renewal: within the window but renewal is off (login path, CLAUDE_AUTH_SYNC_RENEW=0)",
    policy,
    document: doc(backedUp(soon)),
    local: local(valid(soon)),
    mode: "rotating",
    outcome: "valid",
    actions: [],
  },
  {
    name: "renewal: no backup yet and within the window: renew (its backup is the first)",
    policy: renewing,
    document: doc(null),
    local: local(valid(soon)),
    mode: "rotating",
    outcome: "valid",
    actions: ["renew-credential"],
  },
  {
    name: "renewal: setup-token mode never renews",
    policy: renewing,
    document: doc({ setup_token: SETUP }),
    local: local(valid(soon), { kind: "present", token: SETUP }),
    mode: "setup-token",
    outcome: "valid",
    actions: [],
  },
  {
    name: "renewal: a stub is restored, not renewed",
    policy: renewing,
    document: doc(backedUp(fresh)),
    local: local(STUB),
    mode: "rotating",
    outcome: "valid",
    actions: ["restore-credential"],
  },
  {
    name: "renewal failed (network, 5xx): no second attempt, file left alone, still valid",
    policy: renewing,
    document: doc(backedUp(soon)),
    local: { ...local(valid(soon)), renewal: failed },
    mode: "rotating",
    outcome: "valid",
    actions: [],
    reason:
      /renewal failed \(the token endpoint answered HTTP 503\): the credentials file was left as it was/,
  },
  {
    name: "renewal failed with a local credential newer than the backup: the backup still happens",
    policy: renewing,
    document: doc(backedUp(older)),
    local: { ...local(valid(soon)), renewal: failed },
    mode: "rotating",
    outcome: "valid",
    actions: ["backup-credential"],
  },
  {
    name: "invalid_grant and a newer, still-valid backup (renewed elsewhere): restore it",
    policy: renewing,
    document: doc(backedUp(renewedElsewhere)),
    local: { ...local(valid(soon)), renewal: rejected(soon) },
    mode: "rotating",
    outcome: "valid",
    actions: ["restore-credential"],
    reason: /rejected \(invalid_grant\): restoring the newer backup/,
  },
  {
    name: "invalid_grant and the backup holds the same refresh token: SSO required, no stub written",
    policy: renewing,
    document: doc(backedUp(soon)),
    local: { ...local(valid(soon)), renewal: rejected(soon) },
    mode: "rotating",
    outcome: "sso-required",
    actions: [],
    reason: /same rejected refresh token: interactive SSO required .*left as it was/,
  },
  {
    name: "invalid_grant and an expired backup: SSO required",
    policy: renewing,
    document: doc(backedUp(expiredBackup)),
    local: { ...local(valid(soon)), renewal: rejected(soon) },
    mode: "rotating",
    outcome: "sso-required",
    actions: [],
  },
  {
    name: "invalid_grant and no backup: SSO required",
    policy: renewing,
    document: doc({ vaultwarden_token: "x" }),
    local: { ...local(valid(soon)), renewal: rejected(soon) },
    mode: "rotating",
    outcome: "sso-required",
    actions: [],
  },
  {
    name: "invalid_grant, newer backup from another host, same-host policy: SSO required",
    policy: sameHostOnly,
    document: doc(backedUp(renewedElsewhere, { claude_ai_oauth_host: "ws-b" })),
    local: { ...local(valid(soon)), renewal: rejected(soon) },
    mode: "rotating",
    outcome: "sso-required",
    actions: [],
    reason: /taken on another host \(ws-b\)/,
  },
  {
    name: "invalid_grant, newer backup from this host, same-host policy: restore",
    policy: sameHostOnly,
    document: doc(backedUp(renewedElsewhere, { claude_ai_oauth_host: "ws-a" })),
    local: { ...local(valid(soon)), renewal: rejected(soon) },
    mode: "rotating",
    outcome: "valid",
    actions: ["restore-credential"],
  },
  {
    name: "cross-host: stub, usable backup from another host, same-host policy: SSO required",
    policy: sameHostOnly,
    document: doc(backedUp(fresh, { claude_ai_oauth_host: "ws-b" })),
    local: local(STUB),
    mode: "rotating",
    outcome: "sso-required",
    actions: [],
    reason: /taken on another host \(ws-b\): interactive SSO required/,
  },
  {
    name: "cross-host: stub, backup naming no host (by hand, older tool), same-host policy: restore",
    policy: sameHostOnly,
    document: doc(backedUp(fresh)),
    local: local(STUB),
    mode: "rotating",
    outcome: "valid",
    actions: ["restore-credential"],
  },
  {
    name: "cross-host: stub, usable backup from this host, same-host policy: restore",
    policy: sameHostOnly,
    document: doc(backedUp(fresh, { claude_ai_oauth_host: "ws-a" })),
    local: local(STUB),
    mode: "rotating",
    outcome: "valid",
    actions: ["restore-credential"],
  },
  {
    name: "cross-host: stub, usable backup from another host, any policy: restore",
    policy: renewing,
    document: doc(backedUp(fresh, { claude_ai_oauth_host: "ws-b" })),
    local: local(STUB),
    mode: "rotating",
    outcome: "valid",
    actions: ["restore-credential"],
  },
];

for (const row of renewRows) {
  t.test(row.name, async (t) => {
    const result = plan(row.document, row.local, NOW, row.policy);
    t.equal(result.mode, row.mode, "mode");
    t.equal(result.outcome, row.outcome, "outcome");
    t.same(
      result.actions.map((a) => a.kind),
      row.actions,
      "actions",
    );
    if (row.reason) t.match(result.reasons.join("; "), row.reason, "says why");
    t.notMatch(JSON.stringify(result.reasons), /sk-ant-o[ar]t01-/, "reasons never carry a token");
  });
}

t.test(
  "the restore after invalid_grant replaces only the rejected credential, other keys kept",
  async (t) => {
    const file = { claudeAiOauth: soon, mcpOAuth: { a: 1 } };
    const result = plan(
      doc(backedUp(renewedElsewhere)),
      { ...local({ kind: "valid", file, credential: soon }), renewal: rejected(soon) },
      NOW,
      renewing,
    );
    const action = result.actions[0];
    t.equal(action?.kind, "restore-credential");
    if (action?.kind !== "restore-credential") return;
    t.equal(action.rejectedRefreshToken, soon.refreshToken, "guarded by the rejected refresh token");
    t.same(action.keep, file, "mcpOAuth kept");
    t.same(action.credential, renewedElsewhere);
    t.equal(result.credentialExpiresAt, renewedElsewhere.expiresAt);
  },
);

t.test("the renewal window is inclusive and measured from now", async (t) => {
  const kinds = (expiresAt: number) =>
    plan(doc(null), local(valid(credential("edge", expiresAt))), NOW, renewing).actions.map((a) => a.kind);
  t.same(kinds(NOW + WINDOW), ["renew-credential"], "exactly at the window: renew");
  t.same(kinds(NOW + WINDOW + 1), ["backup-credential"], "1 ms outside: no renewal");
});
