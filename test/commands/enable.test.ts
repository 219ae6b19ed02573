// `claude-auth enable` through the built binary, for real users, against the Vault and Anthropic
// stand-ins: where the token comes from (stdin, a hidden prompt on a real pty, never argv), what is
// checked before anything is written, what the merge-write keeps, and which files appear.
import { existsSync, readFileSync, statSync } from "node:fs";
import { dirname } from "node:path";
import t, { type Test } from "tap";
import { tokenHint } from "../../src/claude/setup-token.js";
import { runBinary } from "../helpers/cli.js";
import { requireRoot } from "../helpers/users.js";
import { restartHint, runOnPty, setupToken, tokenWorkstation } from "./setup-token-fixture.js";

const SIBLINGS = {
  vaultwarden_session: 'a "quoted" value, ü, a tab\there\nand a second line',
  vaultwarden_settings: { nested: [1, "2", { x: null, y: true }], empty: {} },
  vaultwarden_count: 42,
};

function noSecret(t: Test, output: string, token: string, what: string) {
  t.notOk(output.includes(token), `${what}: the token never appears in the output`);
  t.notOk(output.includes(token.slice(13, 40)), `${what}: nor any long piece of it`);
}

t.test(
  "enable from stdin as root: merge keeps every sibling key, one CAS write, no PATCH, both env files",
  async (t) => {
    if (!requireRoot(t)) return;
    const ws = await tokenWorkstation(t);
    await ws.seed(SIBLINGS);
    ws.vault.clearRequests();
    const token = setupToken("E");
    const before = Date.now();
    const run = await ws.asRoot("enable", [], `${token}\n`);
    t.equal(run.code, 0, "exit 0", { stdout: run.stdout, stderr: run.stderr });

    const doc = await ws.doc();
    t.equal(doc.data?.setup_token, token, "setup_token stored exactly (one trailing newline trimmed)");
    const updatedAt = Date.parse(String(doc.data?.setup_token_updated_at));
    t.ok(updatedAt >= before - 1000 && updatedAt <= Date.now() + 1000, "setup_token_updated_at is now");
    for (const [key, value] of Object.entries(SIBLINGS)) {
      t.equal(JSON.stringify(doc.data?.[key]), JSON.stringify(value), `${key} kept byte-for-byte`);
    }
    t.same(
      Object.keys(doc.data ?? {}).sort(),
      [...Object.keys(SIBLINGS), "setup_token", "setup_token_updated_at"].sort(),
    );
    const writes = ws.postsToDocument();
    t.equal(writes.length, 1, "one write to the document");
    t.equal(writes[0]?.method, "POST");
    t.same(ws.writeOptions()[0], { cas: 1 }, "check-and-set on the version read");
    t.equal(ws.vault.countRequests({ method: "PATCH" }), 0, "never HTTP PATCH");

    const envText = readFileSync(ws.envFile, "utf8");
    t.equal(envText, `CLAUDE_CODE_OAUTH_TOKEN=${token}\n`, "the env file appears at once");
    const env = statSync(ws.envFile);
    t.equal(env.mode & 0o777, 0o600, "env file 0600");
    t.equal(env.uid, ws.user.uid, "owned by the user");
    t.equal(statSync(dirname(ws.envFile)).mode & 0o777, 0o700, "its directory 0700");
    const service = statSync(ws.serviceEnvFile);
    t.equal(readFileSync(ws.serviceEnvFile, "utf8"), envText, "the copy t3-serve@ loads is written too");
    t.equal(service.uid, 0, "that copy is root's");
    t.equal(service.mode & 0o777, 0o600);

    t.match(run.stdout, tokenHint(token), "names the token by its hint");
    t.match(run.stdout, /every other key kept/);
    t.match(run.stdout, new RegExp(`t3-serve@${ws.user.name}\\.service: `), "says what happened to t3-serve");
    t.match(run.stdout, /To undo: claude-auth disable/, "says how to undo it");
    noSecret(t, run.stdout + run.stderr, token, "enable");

    const [check, ...more] = ws.api.messageRequests();
    t.equal(more.length, 0, "one live request");
    t.equal(check?.path, "/v1/messages?beta=true", "the Messages call Claude Code makes");
    t.equal(check?.authorization, `Bearer ${token}`);
    t.equal(check?.anthropicBeta, "oauth-2025-04-20");
    t.match(check?.model, /haiku/, "on the cheapest model");
    t.equal(ws.api.unknownRequests().length, 0, "nothing else asked of the API");

    ws.vault.clearRequests();
    const again = await ws.asRoot("enable", ["--no-verify"], token);
    t.equal(again.code, 0, "enabling the same token again is fine");
    t.match(again.stdout, /already on/);
    t.equal(ws.postsToDocument().length, 0, "and writes nothing");
  },
);

t.test("the hidden prompt on a real terminal: the token is never echoed, backspace works", async (t) => {
  if (!requireRoot(t)) return;
  const ws = await tokenWorkstation(t);
  await ws.giveOwnIdentity();
  const token = setupToken("P");
  const run = await runOnPty(["enable", "--config", ws.config], {
    uid: ws.user.uid,
    gid: ws.user.gid,
    env: { HOME: ws.user.home, USER: ws.user.name, LOGNAME: ws.user.name },
    prompt: /input hidden/,
    keys: `${token}Z\u007f\r`,
  });
  t.equal(run.code, 0, "exit 0", { screen: run.screen });
  t.match(run.screen, /Paste the setup token/, "the prompt shows on the terminal");
  noSecret(t, run.screen, token, "terminal");
  t.equal((await ws.doc()).data?.setup_token, token, "stored what was typed, minus the erased key");
  t.equal(readFileSync(ws.envFile, "utf8"), `CLAUDE_CODE_OAUTH_TOKEN=${token}\n`);

  const cancelled = await runOnPty(["enable", "--config", ws.config], {
    uid: ws.user.uid,
    gid: ws.user.gid,
    env: { HOME: ws.user.home, USER: ws.user.name },
    prompt: /input hidden/,
    keys: "sk-ant-oat01-half\u0003",
  });
  t.equal(cancelled.code, 1, "Ctrl-C cancels");
  t.match(cancelled.screen, /cancelled at the prompt; nothing was changed/);
  t.equal((await ws.doc()).data?.setup_token, token, "the stored token is untouched");
});

t.test("a token given as an argument is refused with the reason, and nothing is written", async (t) => {
  if (!requireRoot(t)) return;
  const ws = await tokenWorkstation(t);
  const token = setupToken("V");
  ws.vault.clearRequests();
  for (const args of [[token], ["--no-verify", token], [token, "extra"]]) {
    const run = await ws.asRoot("enable", args, token);
    t.equal(run.code, 2, `exit 2 for ${args.length} argument(s)`);
    t.match(run.stderr, /it would show in `ps` and your shell history; pipe it or let the prompt read it/);
    noSecret(t, run.stdout + run.stderr, token, "refusal");
  }
  t.equal(ws.vault.requests.length, 0, "Vault was not even asked");
  t.equal(ws.api.requests.length, 0, "nor the API");
  t.notOk(existsSync(ws.envFile), "no env file");
});

t.test(
  "bad tokens exit 6, name the field, never echo the value, reach neither the API nor Vault",
  async (t) => {
    if (!requireRoot(t)) return;
    const ws = await tokenWorkstation(t);
    await ws.seed(SIBLINGS);
    ws.vault.clearRequests();
    const good = setupToken("B");
    const cases: Array<[string, string, RegExp]> = [
      ["empty input", "", /standard input was empty/],
      ["an API key", "sk-ant-api03-abcdefghijklmnopqrstuvwxyz0123456789", /must start with sk-ant-oat01-/],
      ["too short", "sk-ant-oat01-abc", /has 16 characters/],
      ["a space inside", `${good.slice(0, 30)} ${good.slice(30)}`, /characters a setup token never has/],
      ["two trailing newlines (only one is trimmed)", `${good}\n\n`, /characters a setup token never has/],
      ["quoted", `"${good}"`, /must start with/],
    ];
    for (const [what, input, reason] of cases) {
      const run = await ws.asRoot("enable", [], input);
      t.equal(run.code, 6, `${what}: exit 6`);
      t.match(run.stderr, /setup token: /, `${what}: names the field`);
      t.match(run.stderr, reason, `${what}: says why`);
      if (input.length > 20) noSecret(t, run.stdout + run.stderr, input.trim().replace(/^"/, ""), what);
    }
    const crlf = await ws.asRoot("enable", ["--no-verify"], `${good}\r\n`);
    t.equal(crlf.code, 0, "a CRLF line ending is one newline");
    t.equal(ws.api.messageRequests().length, 0, "no bad token reached the API");
    t.equal(ws.postsToDocument().length, 1, "only the good token was written");
    t.equal((await ws.doc()).data?.setup_token, good);
  },
);

t.test("live check: a rejected token exits 6 and Vault is untouched", async (t) => {
  if (!requireRoot(t)) return;
  const ws = await tokenWorkstation(t);
  await ws.seed(SIBLINGS);
  const token = setupToken("R");
  ws.api.setAnswer(token, { kind: "reject" });
  ws.vault.clearRequests();
  const run = await ws.asRoot("enable", [], token);
  t.equal(run.code, 6, "exit 6");
  t.match(run.stderr, /the API rejected this token \(HTTP 401/);
  t.match(run.stderr, /claude setup-token/, "says what to do");
  noSecret(t, run.stdout + run.stderr, token, "reject");
  t.equal(ws.vault.requests.length, 0, "Vault untouched: not even read");
  t.same((await ws.doc()).data, SIBLINGS);
  t.notOk(existsSync(ws.envFile));
});

t.test(
  "live check: an API that is down or hangs only warns; enable goes on, bounded by the timeout",
  async (t) => {
    if (!requireRoot(t)) return;
    const ws = await tokenWorkstation(t);
    const down = setupToken("D");
    ws.api.setAnswer(down, { kind: "unavailable", status: 503 });
    const run = await ws.asRoot("enable", [], down);
    t.equal(run.code, 0, "503: still enabled", { stderr: run.stderr });
    t.match(run.stderr, /warning: could not check the token .*HTTP 503.*storing it anyway/);
    t.equal((await ws.doc()).data?.setup_token, down);

    const slow = setupToken("H");
    ws.api.setAnswer(slow, { kind: "hang" });
    const hung = await ws.asRoot("rotate", [], slow);
    t.equal(hung.code, 0, "hang: still rotated", { stderr: hung.stderr });
    t.match(hung.stderr, /no answer within 1500 ms/);
    t.ok(hung.ms < 1500 + 3000, `bounded by CLAUDE_AUTH_SYNC_TIMEOUT_MS (took ${hung.ms} ms)`);
    t.equal(readFileSync(ws.envFile, "utf8"), `CLAUDE_CODE_OAUTH_TOKEN=${slow}\n`);

    const limited = setupToken("L");
    ws.api.setAnswer(limited, { kind: "rate-limit" });
    const rl = await ws.asRoot("rotate", [], limited);
    t.equal(rl.code, 0, "429: still rotated");
    t.match(rl.stderr, /rate limited/);

    const unreachable = await tokenWorkstation(t, {
      CLAUDE_AUTH_SYNC_ANTHROPIC_BASE_URL: "http://127.0.0.1:9",
    });
    const off = await unreachable.asRoot("enable", [], setupToken("U"));
    t.equal(off.code, 0, "no network: still enabled");
    t.match(off.stderr, /cannot reach http:\/\/127\.0\.0\.1:9 \(ECONNREFUSED\)/);
  },
);

t.test("--no-verify makes no API request", async (t) => {
  if (!requireRoot(t)) return;
  const ws = await tokenWorkstation(t);
  const run = await ws.asRoot("enable", ["--no-verify"], setupToken("N"));
  t.equal(run.code, 0);
  t.equal(ws.api.requests.length, 0, "the API was not contacted");
  t.match(run.stdout, /not checked live \(--no-verify\)/);
});

t.test("as the user, with their own Vault identity under a templated policy", async (t) => {
  if (!requireRoot(t)) return;
  const ws = await tokenWorkstation(t);
  const own = await ws.giveOwnIdentity();
  await ws.seed(SIBLINGS);
  ws.vault.clearRequests();
  const token = setupToken("O");
  const run = await ws.asUser("enable", [], token);
  t.equal(run.code, 0, "exit 0", { stdout: run.stdout, stderr: run.stderr });
  const write = ws.vault.requests.find((r) => r.method === "POST" && r.logicalPath.includes("claude-users/"));
  t.equal(
    write?.tokenAccessor,
    ws.vault.accessorOf(own),
    "written with the user's own token, not the host's",
  );
  t.equal((await ws.doc()).data?.setup_token, token);
  t.equal((await ws.doc()).data?.vaultwarden_count, 42);
  t.equal(statSync(ws.envFile).uid, ws.user.uid);
  t.notOk(
    existsSync(ws.serviceEnvFile),
    "a user cannot write root's copy; the restart's privileged sync does",
  );
  t.ok(
    run.stdout.split("\n").some((line) => line.trim() === restartHint(ws.user.name)),
    "prints the exact restart command on a line of its own",
    { stdout: run.stdout },
  );
  noSecret(t, run.stdout + run.stderr, token, "user enable");
});

t.test("a user may not act for someone else; root must name the user", async (t) => {
  if (!requireRoot(t)) return;
  const ws = await tokenWorkstation(t);
  await ws.giveOwnIdentity();
  ws.vault.clearRequests();
  const token = setupToken("X");
  const other = await ws.asUser("enable", ["--user", "root"], token);
  t.equal(other.code, 2, "exit 2");
  t.match(other.stderr, /only root may act for another user/);
  const rootless = await runBinary(["enable", "--config", ws.config], { stdin: token });
  t.equal(rootless.code, 2, "root without --user: exit 2");
  t.match(rootless.stderr, /as root, name the user to act for with --user NAME/);
  t.equal(ws.vault.requests.length, 0, "nothing asked of Vault");
  t.equal(ws.api.requests.length, 0, "nor of the API");
});
