// Section 4, bad input, fuzzed with fast-check: every parser at the edge, thousands of cases each
// in-process, and hundreds more through the built binary (argv, PAM_USER, stdin, config file).
// No crash, no hang; every rejection is exit 6 naming the field.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import t, { type Test } from "tap";
import { parseCredentialsFile } from "../../src/claude/credentials.js";
import { parseEnvFile } from "../../src/claude/env-file.js";
import { parseSetupToken } from "../../src/claude/setup-token.js";
import { CONFIG_KEYS, loadConfig, parseConfig } from "../../src/config.js";
import { Deadline } from "../../src/deadline.js";
import { AuthSyncError, ExitCode, InvalidDataError } from "../../src/errors.js";
import { FIELD, parseUserDocument } from "../../src/sync/user-document.js";
import { trimOneNewline } from "../../src/system/secret-input.js";
import { parseLoginName } from "../../src/system/users.js";
import { VaultClient } from "../../src/vault/client.js";
import { mergeWrite, readDocument } from "../../src/vault/kv.js";
import { runBinary } from "../helpers/cli.js";
import { inParallel, PARALLEL, scaled, spawnBinary, Tally } from "../helpers/reliability.js";
import { requireRoot } from "../helpers/users.js";
import { credential, HOUR, setupToken, workstation } from "../sync/fixture.js";
import { startVaultStandIn } from "../vault/standin.js";

const SEED = Number(process.env.RELIABILITY_SEED ?? Date.now() % 2 ** 31);
const IN_PROCESS = scaled(5000);
const THROUGH_CLIENT = scaled(2000);
const THROUGH_BINARY = scaled(250);
const tally = new Tally(`4. bad input, fuzzed (seed ${SEED}; RELIABILITY_SEED=${SEED} reproduces)`);

const TOKEN = setupToken("F");
const LOGIN_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.@-]{0,63}$/;

/** The verdict on one parser call: accepted, a clean exit-6 rejection naming `field`, or a crash. */
function verdict(fn: () => unknown, fields: readonly string[]): "accepted" | "rejected" | string {
  try {
    fn();
    return "accepted";
  } catch (error) {
    if (!(error instanceof InvalidDataError))
      return `crash: ${(error as Error)?.name}: ${(error as Error)?.message}`;
    if (error.exitCode !== ExitCode.invalidData) return `exit ${error.exitCode}`;
    if (!fields.some((f) => error.field === f || error.field.startsWith(f))) return `names ${error.field}`;
    if (!error.message.startsWith(`${error.field}: `)) return "message does not start with the field";
    return "rejected";
  }
}

function property<T>(
  t: Test,
  row: string,
  arbitrary: fc.Arbitrary<T>,
  check: (value: T) => "accepted" | "rejected" | string,
  numRuns = IN_PROCESS,
  rejectedAs = "rejected with exit 6",
) {
  let accepted = 0;
  let rejected = 0;
  const failures: string[] = [];
  fc.assert(
    fc.property(arbitrary, (value) => {
      const v = check(value);
      if (v === "accepted") accepted++;
      else if (v === "rejected") rejected++;
      else {
        failures.push(`${v} for ${JSON.stringify(value)?.slice(0, 120)}`);
        return false;
      }
      return true;
    }),
    { numRuns, seed: SEED, endOnFailure: true },
  );
  const cases = accepted + rejected + failures.length;
  for (let i = 0; i < cases; i++) tally.record(row, { survived: i < accepted + rejected }, {});
  tally.note(row, `${accepted} accepted, ${rejected} ${rejectedAs}`);
  t.same(failures, [], row);
}

const configValue = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: "grapheme", maxLength: 20 }),
  fc.constantFrom(
    "",
    "1",
    "0",
    "yes",
    "maybe",
    "-5",
    "3000",
    "99999999999",
    "http://10.0.0.1:8200",
    "https://vault.example:8200",
    "http://127.0.0.1:8200",
    "ftp://x",
    "https://user:pw@vault.example",
    "token",
    "approle",
    "kerberos",
    "workstation/claude-users/{user}",
    "no-user-here",
    "../../etc",
    "relative/dir",
    "/abs/dir",
  ),
);
const rawConfig = fc.dictionary(fc.constantFrom(...CONFIG_KEYS), configValue, { maxKeys: 8 });

t.test("config: parseConfig over fuzzed values of every key", async (t) => {
  property(t, "config values (parseConfig)", rawConfig, (raw) =>
    verdict(() => parseConfig(raw, { path: "/fuzz/config.env", found: true }), CONFIG_KEYS),
  );
});

t.test("config: the dotenv file itself, fuzzed", async (t) => {
  if (!requireRoot(t)) return;
  const dir = mkdtempSync(join(tmpdir(), "cas-fuzz-config-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, "config.env");
  const line = fc.oneof(
    fc.tuple(fc.constantFrom(...CONFIG_KEYS), configValue).map(([k, v]) => `${k}=${v}`),
    fc.tuple(fc.constantFrom(...CONFIG_KEYS), configValue).map(([k, v]) => `export ${k}="${v}"`),
    fc.tuple(fc.constantFrom(...CONFIG_KEYS), configValue).map(([k, v]) => `${k}='${v}' # comment`),
    fc.string({ maxLength: 60 }),
    fc.constantFrom("#", "=", "==", '"', "KEY", 'VAULT_ADDR="unterminated', "\u0000", "\r"),
  );
  property(
    t,
    "config file (dotenv syntax, loadConfig)",
    fc
      .array(line, { maxLength: 10 })
      .map((lines) => lines.join(fc.sample(fc.constantFrom("\n", "\r\n"), 1)[0])),
    (text) => {
      writeFileSync(path, text, { mode: 0o600 });
      return verdict(() => loadConfig({ path, env: {} }), CONFIG_KEYS);
    },
    scaled(2000),
  );
});

t.test("env file: parseEnvFile never throws and returns only what formatEnvFile writes", async (t) => {
  const valid = `CLAUDE_CODE_OAUTH_TOKEN=${TOKEN}\n`;
  const text = fc.oneof(
    fc.string({ maxLength: 200 }),
    fc.string({ unit: "binary", maxLength: 100 }),
    fc.tuple(fc.string({ maxLength: 5 }), fc.string({ maxLength: 5 })).map(([a, b]) => `${a}${valid}${b}`),
    fc
      .tuple(fc.nat({ max: valid.length }), fc.string({ minLength: 1, maxLength: 3 }))
      .map(([at, s]) => valid.slice(0, at) + s + valid.slice(at)),
    fc.nat({ max: valid.length }).map((at) => valid.slice(0, at)),
  );
  property(
    t,
    "env file (parseEnvFile)",
    text,
    (value) => {
      let result: string | null;
      try {
        result = parseEnvFile(value);
      } catch (error) {
        return `crash: ${(error as Error).message}`;
      }
      if (result === null) return "rejected";
      return value === `CLAUDE_CODE_OAUTH_TOKEN=${result}\n` || value === `CLAUDE_CODE_OAUTH_TOKEN=${result}`
        ? "accepted"
        : "accepted something formatEnvFile never writes";
    },
    IN_PROCESS,
    "read as not ours (replaced from Vault or removed)",
  );
});

const credentialish = fc.record(
  {
    accessToken: fc.oneof(fc.string(), fc.constant(""), fc.anything()),
    refreshToken: fc.oneof(fc.string(), fc.constant(""), fc.anything()),
    expiresAt: fc.oneof(fc.integer(), fc.double(), fc.string(), fc.constant(null)),
    scopes: fc.oneof(fc.array(fc.string()), fc.anything()),
    subscriptionType: fc.anything(),
  },
  { requiredKeys: [] },
);

t.test("credentials file: parseCredentialsFile classifies everything, never throws", async (t) => {
  const text = fc.oneof(
    fc.string({ maxLength: 200 }),
    fc.json(),
    fc
      .record({ claudeAiOauth: credentialish, mcpOAuth: fc.anything() }, { requiredKeys: [] })
      .map((o) => JSON.stringify(o)),
    fc.anything().map((v) => JSON.stringify({ claudeAiOauth: v }) ?? ""),
    fc
      .nat({ max: 120 })
      .map((n) => JSON.stringify({ claudeAiOauth: credential("x", Date.now() + HOUR) }).slice(0, n)),
    fc
      .record({
        accessToken: fc.string({ minLength: 1 }),
        refreshToken: fc.string({ minLength: 1 }),
        expiresAt: fc.oneof(fc.integer(), fc.double()),
        scopes: fc.array(fc.string()),
      })
      .map((c) => JSON.stringify({ claudeAiOauth: c, mcpOAuth: {} })),
  );
  property(
    t,
    "credentials file (parseCredentialsFile)",
    text,
    (value) => {
      try {
        const state = parseCredentialsFile(value);
        if (state.kind === "valid")
          return state.credential.accessToken && state.credential.refreshToken
            ? "accepted"
            : "valid without tokens";
        return state.kind === "logged-out" || state.kind === "unreadable" || state.kind === "absent"
          ? "rejected"
          : `unknown kind ${(state as { kind: string }).kind}`;
      } catch (error) {
        return `crash: ${(error as Error).message}`;
      }
    },
    IN_PROCESS,
    "classified logged-out or unreadable (never backed up; restored over, set aside)",
  );
});

const FIELDS = Object.values(FIELD);
const documentValue = fc.oneof(
  fc.anything(),
  fc.string(),
  fc.constant(TOKEN),
  fc.string().map((s) => `sk-ant-oat01-${s}`),
  credentialish.map((c) => JSON.stringify(c)),
  fc.constant(JSON.stringify(credential("d", Date.now() + HOUR))),
);

t.test("Vault document: parseUserDocument on fuzzed keys and values", async (t) => {
  const data = fc.dictionary(
    fc.oneof(fc.constantFrom(...FIELDS), fc.string({ maxLength: 10 })),
    documentValue,
    {
      maxKeys: 6,
    },
  );
  property(t, "Vault document fields (parseUserDocument)", data, (d) =>
    verdict(() => parseUserDocument({ version: 3, state: "live", data: d }), FIELDS),
  );
});

t.test("login names: parseLoginName accepts exactly the documented set", async (t) => {
  const name = fc.oneof(
    fc.string({ maxLength: 70 }),
    fc.stringMatching(LOGIN_NAME),
    fc.constantFrom(
      "..",
      "a/../b",
      "-rf",
      "root",
      "a..b",
      ".hidden",
      "x".repeat(65),
      "user@EXAMPLE.COM",
      "a b",
      "é",
    ),
  );
  property(t, "login names (parseLoginName)", name, (value) => {
    const v = verdict(() => parseLoginName(value, "user"), ["user"]);
    const expected = LOGIN_NAME.test(value) && !value.includes("..") ? "accepted" : "rejected";
    return v === expected || !["accepted", "rejected"].includes(v) ? v : `${v}, expected ${expected}`;
  });
});

t.test("setup token from stdin: trim one newline, then parseSetupToken", async (t) => {
  const input = fc.oneof(
    fc.string({ maxLength: 100 }),
    fc.string().map((s) => `sk-ant-oat01-${s}`),
    fc.stringMatching(/^[A-Za-z0-9_-]{16,120}$/).map((s) => `sk-ant-oat01-${s}`),
    fc.constantFrom(`${TOKEN}\n`, `${TOKEN}\r\n`, `${TOKEN}\n\n`, ` ${TOKEN}`, `${TOKEN} `, `"${TOKEN}"`),
  );
  property(t, "setup token on stdin (enable/rotate)", input, (value) => {
    const v = verdict(() => parseSetupToken(trimOneNewline(value), "setup token"), ["setup token"]);
    if (v === "rejected" && value.length > 20) {
      try {
        parseSetupToken(trimOneNewline(value), "setup token");
      } catch (error) {
        if ((error as Error).message.includes(value.trim())) return "the message echoes the input";
      }
    }
    return v;
  });
});

t.test("Vault answers, fuzzed, through the client: reads and merge-writes", async (t) => {
  const vault = await startVaultStandIn();
  t.teardown(() => vault.close());
  const status = fc.constantFrom(200, 200, 200, 204, 301, 400, 404, 404, 412, 418, 429, 500, 502, 503, 403);
  const kvAnswer = fc
    .record(
      {
        data: fc.oneof(
          fc.record(
            {
              data: fc.oneof(fc.dictionary(fc.constantFrom(...FIELDS, "x"), documentValue), fc.anything()),
              metadata: fc.oneof(
                fc.record(
                  {
                    version: fc.oneof(fc.nat(), fc.double(), fc.string()),
                    deletion_time: fc.string(),
                    destroyed: fc.anything(),
                  },
                  { requiredKeys: [] },
                ),
                fc.anything(),
              ),
            },
            { requiredKeys: [] },
          ),
          fc.anything(),
        ),
        errors: fc.oneof(fc.array(fc.string()), fc.anything()),
      },
      { requiredKeys: [] },
    )
    .map((o) => JSON.stringify(o));
  const body = fc.oneof(kvAnswer, fc.json(), fc.string({ maxLength: 100 }), fc.constant(""));
  const answers = fc.sample(fc.tuple(fc.constantFrom("GET", "POST"), status, body), {
    numRuns: THROUGH_CLIENT,
    seed: SEED,
  });
  const failures: string[] = [];
  const counts = { ok: 0, rejected: 0 };
  for (const [method, code, text] of answers) {
    vault.inject({ kind: "garbage", method, pathPrefix: "secret/", status: code, body: text, times: 1 });
    const deadline = new Deadline(3000);
    const client = new VaultClient({ addrs: [new URL(vault.addr)], deadline, token: vault.rootToken });
    const started = Date.now();
    try {
      if (method === "GET") parseUserDocument(await readDocument(client, "secret", "fuzz/doc"));
      else
        await mergeWrite(client, "secret", "fuzz/doc", () => ({ touched: String(Date.now()) }), {
          deadline,
          current: { version: 0, state: "absent", data: {} },
          maxAttempts: 1,
        });
      counts.ok++;
    } catch (error) {
      const clean =
        error instanceof AuthSyncError &&
        [ExitCode.error, ExitCode.vaultUnavailable, ExitCode.vaultDenied, ExitCode.invalidData].includes(
          error.exitCode as 1 | 4 | 5 | 6,
        ) &&
        (!(error instanceof InvalidDataError) || error.field.length > 0);
      if (clean) counts.rejected++;
      else
        failures.push(
          `${method} ${code} ${text.slice(0, 80)}: ${(error as Error).name} ${(error as Error).message}`,
        );
    } finally {
      client.close();
      vault.clearFaults();
    }
    const ms = Date.now() - started;
    if (ms > 3500) failures.push(`${method} ${code}: took ${ms} ms`);
    tally.record("Vault answers through the client (status × body, GET and POST)", {
      survived: failures.length === 0,
    });
  }
  tally.note(
    "Vault answers through the client (status × body, GET and POST)",
    `${counts.ok} accepted, ${counts.rejected} rejected with exit 1/4/5/6`,
  );
  t.same(failures.slice(0, 10), [], "every answer accepted or cleanly refused, in time");
});

t.test("through the binary: --user, PAM_USER, enable's stdin, the config file", async (t) => {
  if (!requireRoot(t)) return;
  const ws = await workstation(t, { CLAUDE_AUTH_SYNC_TIMEOUT_MS: "3000", CLAUDE_AUTH_SYNC_PAM_STRICT: "1" });
  await ws.seed({ vaultwarden_token: "vw" });
  const noNul = (s: string) => !s.includes("\u0000");
  const names = fc.sample(
    fc
      .oneof(
        fc.string({ minLength: 1, maxLength: 80 }),
        fc.stringMatching(/^[a-z_][a-z0-9_.-]{0,20}$/),
        fc.constantFrom(
          "../etc",
          "..",
          "root/../x",
          "-rf",
          "--help",
          "a\nb",
          "%n%n",
          "$(id)",
          "x".repeat(100),
        ),
      )
      .filter(noNul),
    { numRuns: THROUGH_BINARY, seed: SEED },
  );
  const bad = (run: { code: number | null; signal: string | null; stdout: string; stderr: string }) =>
    run.signal !== null ||
    /unexpected failure|TypeError|RangeError|ReferenceError|\.cjs:\d+/.test(run.stdout + run.stderr);

  const failures: string[] = [];
  await inParallel(names, PARALLEL, async (name) => {
    const run = await runBinary(["sync", `--user=${name}`, "--config", ws.config], { timeoutMs: 15_000 });
    const valid = LOGIN_NAME.test(name) && !name.includes("..");
    const ok =
      !bad(run) &&
      (valid
        ? run.code !== 6 || /user/.test(run.stdout + run.stderr)
        : run.code === 6 && /user/.test(run.stdout + run.stderr));
    if (!ok)
      failures.push(
        `sync --user=${JSON.stringify(name)}: exit ${run.code} ${(run.stdout + run.stderr).slice(0, 160)}`,
      );
    tally.record("user names through `sync --user` (binary)", { survived: ok });
  });
  await inParallel(names, PARALLEL, async (name) => {
    const run = await runBinary(["pam", "--config", ws.config], {
      env: { PAM_TYPE: "open_session", PAM_USER: name },
      timeoutMs: 15_000,
    });
    const valid = LOGIN_NAME.test(name) && !name.includes("..");
    const ok = !bad(run) && (valid ? run.code === 0 : run.code === 6 && /PAM_USER/.test(run.stderr));
    if (!ok)
      failures.push(`pam PAM_USER=${JSON.stringify(name)}: exit ${run.code} ${run.stderr.slice(0, 160)}`);
    tally.record("PAM_USER through `pam` (binary, PAM_STRICT=1)", { survived: ok });
  });
  const inputs = fc.sample(
    fc.oneof(
      fc.string({ maxLength: 120 }),
      fc.string().map((s) => `sk-ant-oat01-${s}`),
      fc.stringMatching(/^[A-Za-z0-9_-]{16,60}$/).map((s) => `sk-ant-oat01-${s}\n`),
      fc.uint8Array({ maxLength: 80 }).map((b) => Buffer.from(b).toString("latin1")),
      fc.constant("x".repeat(20_000)),
    ),
    { numRuns: THROUGH_BINARY, seed: SEED },
  );
  await inParallel(inputs, PARALLEL, async (input) => {
    // spawnBinary: the tool stops reading after 16 KiB, and the rest of a huge input meets a closed pipe.
    const run = await spawnBinary(["enable", "--user", ws.user.name, "--config", ws.config, "--no-verify"], {
      stdin: input,
      timeoutMs: 15_000,
    }).done;
    let valid = true;
    try {
      parseSetupToken(trimOneNewline(input));
    } catch {
      valid = false;
    }
    const output = run.stdout + run.stderr;
    const echoed = input.trim().length >= 20 && output.includes(input.trim());
    const ok =
      !bad(run) && !echoed && (valid ? run.code === 0 : run.code === 6 && /setup token/.test(output));
    if (!ok)
      failures.push(
        `enable <<< ${JSON.stringify(input).slice(0, 60)}: exit ${run.code} ${output.slice(0, 160)}`,
      );
    tally.record("setup token on enable's stdin (binary)", { survived: ok, lost: echoed });
  });
  const dir = mkdtempSync(join(tmpdir(), "cas-fuzz-bin-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const configs = fc.sample(
    fc.array(
      fc.tuple(fc.constantFrom(...CONFIG_KEYS), configValue).map(([k, v]) => `${k}=${v}`),
      { maxLength: 6 },
    ),
    { numRuns: THROUGH_BINARY, seed: SEED },
  );
  await inParallel(
    configs.map((c, i) => ({ c, i })),
    PARALLEL,
    async ({ c, i }) => {
      const path = join(dir, `config-${i}.env`);
      writeFileSync(
        path,
        `VAULT_ADDR=${ws.vault.addr}\nCLAUDE_AUTH_SYNC_TIMEOUT_MS=3000\n${c.join("\n")}\n`,
        { mode: 0o600 },
      );
      const run = await runBinary(["sync", "--user", ws.user.name, "--config", path], { timeoutMs: 15_000 });
      let expected: "accepted" | "rejected" | string;
      try {
        loadConfig({ path, env: {} });
        expected = "accepted";
      } catch (error) {
        expected = error instanceof InvalidDataError ? `rejected ${error.field}` : "other";
      }
      const output = run.stdout + run.stderr;
      const ok =
        !bad(run) &&
        (expected.startsWith("rejected")
          ? run.code === 6 && output.includes(expected.slice("rejected ".length))
          : run.code !== 6 || /:/.test(output));
      if (!ok)
        failures.push(`config ${JSON.stringify(c).slice(0, 100)}: exit ${run.code} ${output.slice(0, 160)}`);
      tally.record("config files (binary `sync --config`)", { survived: ok });
    },
  );
  t.same(failures.slice(0, 15), [], "no crash, no hang, exit 6 naming the field");
});

t.test("figures", async (t) => {
  tally.print(t);
  t.equal(tally.totals().lost, 0, "nothing lost");
  t.equal(tally.totals().survived, tally.totals().cases, "every case survived");
});
