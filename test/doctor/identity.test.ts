// doctor's judgement in `user` identity mode, without Vault: which of the host's policies to name, when
// the host has an identity at all, and how a user's assessed token reads to an admin (and to the user).
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t from "tap";
import { parseConfig } from "../../src/config.js";
import {
  checkHostScope,
  checkUserToken,
  describeLifetime,
  type HostFacts,
  hostIdentityOf,
  userDocumentPaths,
} from "../../src/doctor/identity.js";
import type { TokenInfo } from "../../src/vault/auth.js";
import type { TokenAssessment } from "../../src/vault/enrollment.js";

const config = (raw: Record<string, string> = {}) =>
  parseConfig(
    { VAULT_ADDR: "https://vault.example:8200", ...raw },
    { path: "/etc/cas/config.env", found: true },
  );

const host = (policies: string[] | undefined): HostFacts => ({
  label: "the host's Vault token",
  policies,
  tokenForShell: "$(sudo cat /run/vault-agent/token)",
  configKeys: "CLAUDE_AUTH_SYNC_TOKEN_FILE",
});

const ALICE = "secret/data/workstation/claude-users/alice";
const PROBE = "secret/data/workstation/claude-users/claude-auth-sync-probe";

t.test(
  "the host's reach: any capability but deny fails, naming the policy to take the paths out of",
  async (t) => {
    const denied = checkHostScope(config(), host(["agent", "default"]), {
      [ALICE]: ["deny"],
      [PROBE]: ["deny"],
    });
    t.equal(denied.status, "ok");
    t.match(
      denied.message,
      /reaches no user's document \(deny on \S+alice and \S+probe, and their metadata\)/,
    );

    const one = checkHostScope(config(), host(["claude-auth-sync-host", "default"]), {
      [ALICE]: ["create", "read", "update"],
      [PROBE]: ["deny"],
    });
    t.equal(one.status, "fail");
    t.match(one.message, `still reaches users' documents: create, read, update on ${ALICE}`);
    t.notMatch(one.message, /probe/, "only the paths it reaches are named");
    t.match(
      one.fix,
      /^remove the users' document paths \("secret\/data\/workstation\/claude-users\/\*" and "secret\/metadata\/workstation\/claude-users\/\*"\) from policy claude-auth-sync-host: in user mode the host needs none \(docs\/runbook\.md, "The host in user mode"\)/,
    );
    t.match(one.fix, /remove CLAUDE_AUTH_SYNC_TOKEN_FILE from \/etc\/cas\/config\.env/);
    t.match(
      one.fix,
      `\ncheck: \`VAULT_TOKEN=$(sudo cat /run/vault-agent/token) vault token capabilities ${ALICE}\` must print deny`,
    );

    for (const caps of [["list"], ["patch"], ["read"], ["delete"], ["root"]]) {
      t.equal(checkHostScope(config(), host(["p"]), { [PROBE]: caps }).status, "fail", `${caps} is reach`);
    }
    t.match(
      checkHostScope(config(), host(["agent", "old-host", "default"]), { [PROBE]: ["read"] }).fix,
      /from whichever of the policies agent, old-host grants them/,
    );
    t.match(
      checkHostScope(config(), host(["default"]), { [PROBE]: ["read"] }).fix,
      /from the policy default/,
    );
    t.match(
      checkHostScope(config(), host(undefined), { [PROBE]: ["read"] }).fix,
      /lookup-self was refused; `vault token lookup` with the token names them/,
    );
    const root = checkHostScope(config(), host(["root"]), { [PROBE]: ["root"] });
    t.match(
      root.fix,
      /^it is a root token: revoke it and remove CLAUDE_AUTH_SYNC_TOKEN_FILE from \/etc\/cas\/config\.env/,
    );
  },
);

t.test("another mount and path template: the stanzas to remove follow them", async (t) => {
  const custom = config({ CLAUDE_AUTH_SYNC_KV_MOUNT: "kv", CLAUDE_AUTH_SYNC_PATH: "people/{user}/claude" });
  t.same(userDocumentPaths(custom, "bob"), [
    "kv/data/people/bob/claude",
    "kv/metadata/people/bob/claude",
    "kv/data/people/claude-auth-sync-probe/claude",
    "kv/metadata/people/claude-auth-sync-probe/claude",
  ]);
  t.equal(userDocumentPaths(custom, undefined).length, 2, "without --user: the probe's paths only");
  t.match(
    checkHostScope(custom, host(["h"]), { "kv/data/people/bob/claude": ["read"] }).fix,
    /\("kv\/data\/people\/\*\/claude" and "kv\/metadata\/people\/\*\/claude"\)/,
  );
});

t.test(
  "the host's identity comes from config.env only: a token file, VAULT_TOKEN or a host login",
  async (t) => {
    const dir = mkdtempSync(join(tmpdir(), "cas-host-id-"));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    t.match(hostIdentityOf(config()), {
      kind: "none",
      why: /no CLAUDE_AUTH_SYNC_TOKEN_FILE, VAULT_TOKEN or host login/,
    });
    const missing = join(dir, "absent");
    t.match(hostIdentityOf(config({ CLAUDE_AUTH_SYNC_TOKEN_FILE: missing })), {
      kind: "none",
      why: `CLAUDE_AUTH_SYNC_TOKEN_FILE names ${missing}, which does not exist`,
    });
    const file = join(dir, "token");
    writeFileSync(file, "hvs.host\n", { mode: 0o600 });
    t.match(hostIdentityOf(config({ CLAUDE_AUTH_SYNC_TOKEN_FILE: file })), {
      kind: "token",
      source: { origin: file, token: "hvs.host" },
    });
    t.match(hostIdentityOf(config({ VAULT_TOKEN: "hvs.env" })), {
      kind: "token",
      source: { origin: "VAULT_TOKEN" },
    });
    t.match(hostIdentityOf(config({ CLAUDE_AUTH_SYNC_AUTH: "approle" })), {
      kind: "login",
      method: "approle",
    });
  },
);

const info = (over: Partial<TokenInfo> = {}): TokenInfo => ({
  ttlSeconds: 259_200,
  renewable: true,
  creationTtlSeconds: 259_200,
  periodSeconds: 259_200,
  entityId: "3f0c-entity",
  displayName: "ldap-claude-alice",
  policies: ["claude-user", "default"],
  ...over,
});

const assessment = (over: Partial<TokenAssessment> = {}): TokenAssessment => ({
  info: info(),
  own: ["create", "read", "update"],
  other: ["deny"],
  failures: [],
  warnings: [],
  lifetime: "periodic (3 days): the timer renews it for as long as you use this host",
  ...over,
});

const NOW = new Date("2026-12-03T12:00:00Z");
const ORIGIN = "alice's own token (~/.config/claude-auth-sync/vault-token)";

t.test("one wording for the token's life: tokenTtl's units, and when", async (t) => {
  t.equal(
    describeLifetime(info(), NOW),
    "periodic (period 3 days), 3 days left (until 2026-12-06 12:00 UTC)",
  );
  t.equal(
    describeLifetime(info({ periodSeconds: 0, ttlSeconds: 5 * 3600, renewable: false }), NOW),
    "not periodic, 5 hours left (until 2026-12-03 17:00 UTC), not renewable",
  );
  t.equal(describeLifetime(info({ ttlSeconds: 0 }), NOW), "no expiry");
});

t.test("a healthy enrolled token: enrolled, reaches only its own document, periodic", async (t) => {
  const findings = checkUserToken("alice", ORIGIN, assessment(), NOW, false);
  t.same(
    findings.map((f) => [f.status, f.id]),
    [
      ["ok", "identity-enrolled"],
      ["ok", "identity-token"],
      ["ok", "identity-expiry"],
    ],
  );
  t.match(
    findings[0]?.message,
    `${ORIGIN}: "ldap-claude-alice", policies claude-user, default, with an identity entity`,
  );
  t.match(findings[2]?.message, /; the timer renews it at half its period$/);
});

t.test("failures fail with a fix each; the lifetime warning is said once, on the expiry line", async (t) => {
  const lifetime = "expires in 5 hours (not renewable)";
  const findings = checkUserToken(
    "alice",
    ORIGIN,
    assessment({
      info: info({ entityId: "", periodSeconds: 0, ttlSeconds: 5 * 3600, renewable: false }),
      own: ["deny"],
      failures: ["the token has no identity entity", "the token cannot read and write your document x"],
      warnings: [`the token is not periodic and ${lifetime}: enroll again before then`],
      lifetime,
    }),
    NOW,
    false,
  );
  t.same(
    findings.map((f) => `${f.status} ${f.id}`),
    ["ok identity-enrolled", "fail identity-token", "fail identity-token", "warn identity-expiry"],
  );
  t.match(findings[1]?.fix, /not one from `vault token create`/);
  t.match(findings[2]?.message, "cannot read and write alice's document", "root reads it about alice");
  t.match(findings[2]?.fix, /follows from the missing entity/);
  t.match(findings[3]?.fix, /as alice, run `claude-auth enroll` again/);

  const own = checkUserToken(
    "alice",
    ORIGIN,
    assessment({ warnings: ["the token also reaches other users' documents (…): prefer …"] }),
    NOW,
    true,
  );
  t.same(
    own.map((f) => `${f.status} ${f.id}`),
    ["ok identity-enrolled", "warn identity-token", "ok identity-expiry"],
  );
  t.match(own[1]?.fix, /: run `claude-auth enroll` again$/, "the user is told to run it themselves");
});
