import t from "tap";
import { Acl, type IdentityContext, parsePolicy } from "./policy.js";

t.test("parsing", async (t) => {
  t.test("HCL with every comment style, several blocks and a legacy policy keyword", async (t) => {
    const policy = parsePolicy(
      "p",
      `# hash comment
       // slash comment
       /* block
          comment */
       path "secret/data/a" {
         capabilities = ["read", "list",] # trailing comma
       }
       path "/secret/data/b" { policy = "write" }
       path "secret/data/c" {
         capabilities = ["update"]
         allowed_parameters = { "data" = [] }
         min_wrapping_ttl = "1s"
       }`,
    );
    t.same(policy.rules, [
      { path: "secret/data/a", capabilities: ["read", "list"] },
      { path: "secret/data/b", capabilities: ["read", "list", "create", "update", "delete"] },
      { path: "secret/data/c", capabilities: ["update"] },
    ]);
  });

  t.test("the JSON form", async (t) => {
    const policy = parsePolicy("j", JSON.stringify({ path: { "secret/*": { capabilities: ["read"] } } }));
    t.same(policy.rules, [{ path: "secret/*", capabilities: ["read"] }]);
  });

  t.test("mistakes are refused with a message naming them", async (t) => {
    const bad: Array<[string, RegExp]> = [
      [`path "x" { capabilities = ["fly"] }`, /invalid capability "fly"/],
      [`path "x" { capabilites = ["read"] }`, /invalid key "capabilites"/],
      [`paths "x" { capabilities = ["read"] }`, /invalid key "paths"/],
      [`path "x" { capabilities = ["read"]`, /expected "}"/],
      [`path "x { capabilities = ["read"] }`, /unterminated string/],
      [`path "x" { policy = "superuser" }`, /invalid policy/],
      [`{"path": `, /invalid JSON policy/],
    ];
    for (const [text, message] of bad) t.throws(() => parsePolicy("bad", text), message, text);
    t.throws(() => parsePolicy("bad", `path "x" { capabilities = ["fly"] }`), { name: "PolicyParseError" });
  });
});

function acl(text: string, identity?: IdentityContext): Acl {
  return new Acl([parsePolicy("p", text)], identity);
}

t.test("matching and priority (docs: concepts/policies, Priority matching)", async (t) => {
  const policy = acl(`
    path "kv/*" { capabilities = ["read"] }
    path "kv/team/*" { capabilities = ["list"] }
    path "kv/team/+/secret" { capabilities = ["update"] }
    path "kv/team/alpha/secret" { capabilities = ["delete"] }
    path "kv/team/+/deny*" { capabilities = ["create"] }
    path "kv/+/+/deep" { capabilities = ["patch"] }
    path "kv/team/+/deep" { capabilities = ["sudo", "read"] }
    path "kv/exact" { capabilities = ["update"] }
    path "kv/ab*" { capabilities = ["list"] }
    path "kv/abc*" { capabilities = ["create"] }`);
  const cases: Array<[string, string[], string]> = [
    ["kv/other", ["read"], "glob"],
    ["kv/exact", ["update"], "exact beats glob"],
    ["kv/exactly", ["read"], "an exact rule is not a prefix"],
    ["kv/team/x", ["list"], "the longer glob wins (its wildcard comes later)"],
    ["kv/team/beta/secret", ["update"], "same first-wildcard position: the non-glob wins"],
    ["kv/team/alpha/secret", ["delete"], "exact beats +"],
    ["kv/team/beta/denyall", ["list"], "same position, both globs: fewer + segments wins"],
    ["kv/team/beta/deep", ["read", "sudo"], "the later first wildcard wins"],
    ["kv/x/y/deep", ["patch"], "+ matches any single segment"],
    ["kv/x/y/z/deep", ["read"], "+ never spans segments"],
    ["kv/abcd", ["create"], "the longer glob wins"],
    ["elsewhere", ["deny"], "nothing matches"],
  ];
  for (const [path, caps, why] of cases) t.same(policy.capabilities(path), caps, `${path}: ${why}`);
});

t.test("several policies: the same pattern unites capabilities, deny wins", async (t) => {
  const combined = new Acl([
    parsePolicy(
      "a",
      `path "s/union" { capabilities = ["read"] }\npath "s/denied" { capabilities = ["read"] }`,
    ),
    parsePolicy(
      "b",
      `path "s/union" { capabilities = ["list"] }\npath "s/denied" { capabilities = ["deny"] }`,
    ),
  ]);
  t.same(combined.capabilities("s/union"), ["list", "read"]);
  t.same(combined.capabilities("s/denied"), ["deny"]);
  t.notOk(combined.allows("read", "s/denied"));
});

t.test("operations need their own capability; sudo paths need sudo too", async (t) => {
  const policy = acl(`
    path "kv/data/*" { capabilities = ["create", "read"] }
    path "sys/auth/*" { capabilities = ["update"] }
    path "sys/seal" { capabilities = ["update", "sudo"] }`);
  t.ok(policy.allows("create", "kv/data/x"));
  t.notOk(policy.allows("update", "kv/data/x"), "create does not imply update");
  t.notOk(policy.allows("patch", "kv/data/x"), "nor patch");
  t.notOk(policy.allows("update", "sys/auth/userpass", { sudo: true }));
  t.ok(policy.allows("update", "sys/seal", { sudo: true }));
  t.ok(new Acl([{ name: "root", rules: [], raw: "" }]).allows("delete", "anything", { sudo: true }));
});

t.test("LIST requests carry a trailing slash; rules written without it still apply", async (t) => {
  const exact = acl(`path "kv/metadata/users" { capabilities = ["list"] }`);
  t.ok(exact.allows("list", "kv/metadata/users/"));
  t.notOk(exact.allows("read", "kv/metadata/users/"));
  const plus = acl(`path "kv/metadata/+" { capabilities = ["list"] }`);
  t.ok(plus.allows("list", "kv/metadata/users/"));
  const glob = acl(`path "kv/metadata/users/*" { capabilities = ["list"] }`);
  t.ok(glob.allows("list", "kv/metadata/users/"));
});

t.test("templated paths resolve per identity; an unresolvable rule is skipped", async (t) => {
  const text = `
    path "kv/data/users/{{identity.entity.aliases.auth_userpass_1234abcd.name}}" { capabilities = ["read"] }
    path "kv/data/entities/{{identity.entity.name}}/{{identity.entity.id}}" { capabilities = ["update"] }
    path "kv/data/teams/{{ identity.entity.metadata.team }}" { capabilities = ["list"] }
    path "kv/data/+/*" { capabilities = ["delete"] }`;
  const alice: IdentityContext = {
    entity: {
      id: "e-1",
      name: "entity_aa",
      metadata: { team: "blue" },
      aliases: [{ id: "a-1", name: "alice", mountAccessor: "auth_userpass_1234abcd" }],
    },
  };
  const policy = acl(text, alice);
  t.same(policy.capabilities("kv/data/users/alice"), ["read"]);
  t.same(
    policy.capabilities("kv/data/users/bob"),
    ["delete"],
    "another user's path falls to the wildcard rule",
  );
  t.same(policy.capabilities("kv/data/entities/entity_aa/e-1"), ["update"]);
  t.same(policy.capabilities("kv/data/teams/blue"), ["list"], "spaces inside the braces are allowed");
  const anonymous = acl(text);
  t.same(
    anonymous.capabilities("kv/data/users/"),
    ["delete"],
    "no entity: the templated rule is not applied",
  );
  const otherMount = acl(text, {
    entity: { ...(alice.entity as NonNullable<IdentityContext["entity"]>), aliases: [] },
  });
  t.same(otherMount.capabilities("kv/data/users/alice"), ["delete"], "no alias on that mount: skipped");
});
