// Every edge parser rejects bad input with exit 6 naming the field, and never echoes a secret.
import fc from "fast-check";
import t, { type Test } from "tap";
import { parseCredentialsFile, withRotatingCredential } from "../../src/claude/credentials.js";
import { formatEnvFile, parseEnvFile } from "../../src/claude/env-file.js";
import { parseSetupToken } from "../../src/claude/setup-token.js";
import { parseConfig } from "../../src/config.js";
import { ExitCode, InvalidDataError } from "../../src/errors.js";
import { parseUserDocument } from "../../src/sync/user-document.js";
import { lookupUser, parseLoginName, parsePasswdLine } from "../../src/system/users.js";

const TOKEN = `sk-ant-oat01-${"x".repeat(30)}_-AZ09`;
const source = { path: "/test/config.env", found: true };

function rejects(t: Test, fn: () => unknown, field: string | RegExp, message: string) {
  try {
    fn();
    t.fail(`${message}: accepted`);
  } catch (error) {
    t.ok(error instanceof InvalidDataError, `${message}: InvalidDataError`);
    const e = error as InvalidDataError;
    t.equal(e.exitCode, ExitCode.invalidData, `${message}: exit 6`);
    if (typeof field === "string") t.equal(e.field, field, `${message}: names ${field}`);
    else t.match(e.field, field, `${message}: names the field`);
  }
}

t.test("setup token: well-formed tokens pass unchanged", async (t) => {
  t.equal(parseSetupToken(TOKEN), TOKEN);
});

t.test("setup token: bad values are exit 6 naming setup_token, without echoing the value", async (t) => {
  const bad: unknown[] = [
    `${TOKEN}\n`,
    `${TOKEN} `,
    ` ${TOKEN}`,
    `"${TOKEN}"`,
    `${TOKEN}$(touch /tmp/x)`,
    `${TOKEN}\`id\``,
    `${TOKEN};rm`,
    "sk-ant-ort01-refresh-token-not-setup-token-xxxxxxxx",
    "sk-ant-api03-an-api-key-xxxxxxxxxxxxxxxxxxxxxxxx",
    "sk-ant-oat01-short",
    `sk-ant-oat01-${"a".repeat(600)}`,
    "",
    42,
    null,
    { token: TOKEN },
    ["x"],
  ];
  for (const value of bad) {
    rejects(
      t,
      () => parseSetupToken(value),
      "setup_token",
      JSON.stringify(value)?.slice(0, 40) ?? String(value),
    );
    try {
      parseSetupToken(value);
    } catch (error) {
      if (typeof value === "string" && value.length > 20) {
        t.notMatch((error as Error).message, value, "message does not repeat the value");
      }
    }
  }
});

t.test("setup token: property: accepted iff prefix + URL-safe base64", async () => {
  fc.assert(
    fc.property(fc.string({ maxLength: 80 }), (suffix) => {
      const value = `sk-ant-oat01-${suffix}`;
      const expected = /^[A-Za-z0-9_-]+$/.test(suffix) && value.length >= 29 && value.length <= 512;
      let accepted = true;
      try {
        parseSetupToken(value);
      } catch (error) {
        if (!(error instanceof InvalidDataError)) throw error;
        accepted = false;
      }
      return accepted === expected;
    }),
    { numRuns: 2000 },
  );
});

t.test("env file: round trip, and anything else is not a token", async (t) => {
  t.equal(formatEnvFile(TOKEN), `CLAUDE_CODE_OAUTH_TOKEN=${TOKEN}\n`);
  t.equal(parseEnvFile(formatEnvFile(TOKEN)), TOKEN);
  t.equal(parseEnvFile(`CLAUDE_CODE_OAUTH_TOKEN=${TOKEN}`), TOKEN, "no trailing newline is fine");
  for (const text of [
    "",
    `export CLAUDE_CODE_OAUTH_TOKEN=${TOKEN}\n`,
    `CLAUDE_CODE_OAUTH_TOKEN="${TOKEN}"\n`,
    `CLAUDE_CODE_OAUTH_TOKEN=${TOKEN}\nEVIL=1\n`,
    `CLAUDE_CODE_OAUTH_TOKEN=${TOKEN}\r\n`,
    `OTHER=${TOKEN}\n`,
  ]) {
    t.equal(parseEnvFile(text), null, JSON.stringify(text.slice(0, 30)));
  }
  t.throws(() => formatEnvFile("not-a-token"), InvalidDataError, "never writes a bad token");
});

t.test("credentials file: states", async (t) => {
  const good = { accessToken: "sk-ant-oat01-a", refreshToken: "sk-ant-ort01-r", expiresAt: 1 };
  t.equal(parseCredentialsFile(JSON.stringify({ claudeAiOauth: good })).kind, "valid");
  t.equal(
    parseCredentialsFile(
      JSON.stringify({ claudeAiOauth: { accessToken: "", refreshToken: "", expiresAt: 0 } }),
    ).kind,
    "logged-out",
    "the stub seen in the wild",
  );
  t.equal(
    parseCredentialsFile(JSON.stringify({ claudeAiOauth: { ...good, refreshToken: "" } })).kind,
    "logged-out",
  );
  t.equal(parseCredentialsFile(JSON.stringify({ mcpOAuth: {} })).kind, "logged-out", "no claudeAiOauth");
  for (const text of [
    "",
    "{",
    "[]",
    "null",
    "42",
    JSON.stringify({ claudeAiOauth: { ...good, expiresAt: "soon" } }),
  ]) {
    t.equal(parseCredentialsFile(text).kind, "unreadable", JSON.stringify(text).slice(0, 40));
  }
  t.equal(
    parseCredentialsFile(JSON.stringify({ claudeAiOauth: { ...good, accessToken: "a b" } })).kind,
    "unreadable",
    "white space in a token",
  );
});

t.test("credentials file: a restore keeps every other key", async (t) => {
  const file = {
    mcpOAuth: { server: { token: "m" } },
    claudeAiOauth: { accessToken: "", refreshToken: "", expiresAt: 0 },
  };
  const credential = {
    accessToken: "sk-ant-oat01-a",
    refreshToken: "sk-ant-ort01-r",
    expiresAt: 5,
    scopes: ["s"],
  };
  const written = JSON.parse(withRotatingCredential(file, credential));
  t.same(written, { mcpOAuth: { server: { token: "m" } }, claudeAiOauth: credential });
});

t.test("credentials file: property: any text parses to a state without throwing", async () => {
  fc.assert(
    fc.property(fc.oneof(fc.string(), fc.json()), (text) => {
      const state = parseCredentialsFile(text);
      return ["absent", "unreadable", "logged-out", "valid"].includes(state.kind);
    }),
    { numRuns: 3000 },
  );
});

t.test("user document: wrong types are exit 6 naming the field", async (t) => {
  const live = (data: Record<string, unknown>) => ({ version: 1, state: "live" as const, data });
  rejects(t, () => parseUserDocument(live({ setup_token: 123 })), "setup_token", "number token");
  rejects(
    t,
    () => parseUserDocument(live({ setup_token: `${TOKEN}\n` })),
    "setup_token",
    "token with newline",
  );
  rejects(t, () => parseUserDocument(live({ setup_token: "hunter2" })), "setup_token", "not a setup token");
  const broken = parseUserDocument(live({ claude_ai_oauth: "{" }));
  t.equal(broken.backup, undefined, "a malformed backup is not usable");
  t.match(broken.backupProblem, /claude_ai_oauth/, "and the problem names the field");
  const ok = parseUserDocument(live({ setup_token: TOKEN, vaultwarden_x: "kept" }));
  t.equal(ok.setupToken, TOKEN);
});

t.test("user document: property: arbitrary JSON data never crashes the parser", async () => {
  fc.assert(
    fc.property(
      fc.dictionary(
        fc.constantFrom("setup_token", "claude_ai_oauth", "x", "claude_ai_oauth_host"),
        fc.jsonValue(),
      ),
      (data) => {
        try {
          parseUserDocument({ version: 1, state: "live", data });
          return true;
        } catch (error) {
          return error instanceof InvalidDataError;
        }
      },
    ),
    { numRuns: 3000 },
  );
});

t.test("login names: valid ones pass, path tricks are refused", async (t) => {
  for (const name of ["alice", "bob.smith", "svc_ci-1", "jdoe@corp.example"])
    t.equal(parseLoginName(name), name);
  for (const name of [
    "",
    "../root",
    "a/b",
    "..",
    "a..b",
    "%2e%2e",
    "alice bob",
    "alice\n",
    "-rf",
    "a".repeat(65),
    "$(id)",
  ]) {
    rejects(t, () => parseLoginName(name, "PAM_USER"), "PAM_USER", JSON.stringify(name));
  }
});

t.test("passwd lines from getent", async (t) => {
  t.same(parsePasswdLine("alice:x:1001:1001:Alice:/home/alice:/bin/bash\n", "alice"), {
    name: "alice",
    uid: 1001,
    gid: 1001,
    home: "/home/alice",
  });
  rejects(t, () => parsePasswdLine("alice:x:1001", "alice"), /passwd entry/, "short line");
  rejects(
    t,
    () => parsePasswdLine("alice:x:abc:1:A:/home/alice:/bin/sh", "alice"),
    /passwd entry/,
    "uid not a number",
  );
  rejects(
    t,
    () => parsePasswdLine("alice:x:1:1:A:relative:/bin/sh", "alice"),
    /passwd entry/,
    "relative home",
  );
});

t.test("config: defaults and validation naming the key", async (t) => {
  const config = parseConfig({ VAULT_ADDR: "https://vault.example:8200" }, source);
  t.equal(config.kvMount, "secret");
  t.equal(config.pathTemplate, "workstation/claude-users/{user}");
  t.equal(config.auth, "token");
  t.equal(config.timeoutMs, 3000);
  t.equal(config.minUid, 1000);
  t.equal(config.pamStrict, false);
  t.equal(
    parseConfig({ VAULT_ADDR: "http://127.0.0.1:8200" }, source).vaultAddr?.hostname,
    "127.0.0.1",
    "loopback http ok",
  );
  rejects(
    t,
    () => parseConfig({ VAULT_ADDR: "http://vault.example:8200" }, source),
    "VAULT_ADDR",
    "plain http off-host",
  );
  t.equal(
    parseConfig(
      { VAULT_ADDR: "http://vault.example:8200", CLAUDE_AUTH_SYNC_ALLOW_INSECURE_HTTP: "1" },
      source,
    ).vaultAddr?.protocol,
    "http:",
    "explicitly allowed",
  );
  rejects(t, () => parseConfig({ VAULT_ADDR: "ftp://x" }, source), "VAULT_ADDR", "wrong scheme");
  rejects(t, () => parseConfig({ VAULT_ADDR: "not a url" }, source), "VAULT_ADDR", "not a URL");
  rejects(
    t,
    () => parseConfig({ CLAUDE_AUTH_SYNC_TIMEOUT_MS: "soon" }, source),
    "CLAUDE_AUTH_SYNC_TIMEOUT_MS",
    "timeout",
  );
  rejects(
    t,
    () => parseConfig({ CLAUDE_AUTH_SYNC_TIMEOUT_MS: "5" }, source),
    "CLAUDE_AUTH_SYNC_TIMEOUT_MS",
    "too small",
  );
  rejects(
    t,
    () => parseConfig({ CLAUDE_AUTH_SYNC_AUTH: "kerberos" }, source),
    "CLAUDE_AUTH_SYNC_AUTH",
    "auth",
  );
  rejects(
    t,
    () => parseConfig({ CLAUDE_AUTH_SYNC_PATH: "shared/doc" }, source),
    "CLAUDE_AUTH_SYNC_PATH",
    "no {user}",
  );
  rejects(
    t,
    () => parseConfig({ CLAUDE_AUTH_SYNC_PATH: "a/../{user}" }, source),
    "CLAUDE_AUTH_SYNC_PATH",
    "dot-dot",
  );
  rejects(
    t,
    () => parseConfig({ CLAUDE_AUTH_SYNC_PAM_STRICT: "maybe" }, source),
    "CLAUDE_AUTH_SYNC_PAM_STRICT",
    "bool",
  );
  rejects(
    t,
    () => parseConfig({ CLAUDE_AUTH_SYNC_METRICS_DIR: "rel" }, source),
    "CLAUDE_AUTH_SYNC_METRICS_DIR",
    "relative",
  );
});

t.test("an all-digit user name is not looked up as a uid (getent passwd 9 answers for uid 9)", async (t) => {
  t.equal(lookupUser("9"), undefined, "unknown, not the account that has uid 9");
  t.equal(lookupUser("0"), undefined, "never root");
  t.equal(lookupUser("root")?.uid, 0, "names still resolve");
});
