// The real Claude Code CLI, run as a real user against a local stand-in for Anthropic's API: which
// credential does it send? These pin down the facts claude-auth-sync's two modes rely on.
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { lstatSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import t, { type Test } from "tap";
import { createTestUser, requireRoot, type TestUser } from "../helpers/users.js";
import { type AnthropicStandIn, startAnthropicStandIn } from "./anthropic-standin.js";
import { type ClaudeRun, claudeBinary, projectDirName, runClaude } from "./claude-cli.js";

const OAUTH_BETA = "oauth-2025-04-20";

/** A token in the sk-ant-oat01 format shared by setup tokens and rotating access tokens. */
const oauthToken = () => `sk-ant-oat01-${randomBytes(24).toString("base64url")}`;
const refreshToken = () => `sk-ant-ort01-${randomBytes(24).toString("base64url")}`;

function rootOrSkip(t: Test): boolean {
  return requireRoot(t);
}

async function withStandIn(t: Test): Promise<AnthropicStandIn> {
  const standIn = await startAnthropicStandIn({ log: (line) => t.comment(line) });
  t.teardown(() => standIn.close());
  return standIn;
}

/** Writes ~/.claude/.credentials.json as the user (their uid, umask 077), the way Claude Code would. */
function writeCredentialsAsUser(user: TestUser, document: object): string {
  const path = join(user.home, ".claude", ".credentials.json");
  const written = spawnSync(
    "/bin/sh",
    ["-c", 'umask 077 && mkdir -p "$HOME/.claude" && cat > "$1"', "sh", path],
    {
      uid: user.uid,
      gid: user.gid,
      env: { HOME: user.home, PATH: "/usr/bin:/bin" },
      input: JSON.stringify(document, null, 2),
    },
  );
  if (written.status !== 0) throw new Error(`writing ${path} as ${user.name} failed: ${written.stderr}`);
  return path;
}

function rotatingCredential(accessToken: string, expiresAt: number) {
  return {
    claudeAiOauth: {
      accessToken,
      refreshToken: refreshToken(),
      expiresAt,
      scopes: ["user:inference", "user:profile", "user:sessions:claude_code"],
      subscriptionType: "max",
      rateLimitTier: "default_claude_max_20x",
    },
    mcpOAuth: {},
  };
}

function snapshot(path: string) {
  const stat = statSync(path);
  return {
    content: readFileSync(path, "utf8"),
    mtimeMs: stat.mtimeMs,
    ino: stat.ino,
    mode: stat.mode & 0o777,
  };
}

/** Every file under `home` (relative paths), leaving out the directory the harness made for the run. */
function filesUnder(home: string): string[] {
  const found: string[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir)) {
      const path = join(dir, entry);
      if (lstatSync(path).isDirectory()) walk(path);
      else found.push(relative(home, path));
    }
  };
  walk(home);
  return found.filter((path) => !path.startsWith(`${projectDirName}/`)).sort();
}

function output(run: ClaudeRun): string {
  return `${run.stdout}${run.stderr}`.trim();
}

function describeRun(run: ClaudeRun): string {
  const how = run.timedOut ? "timed out" : `exit ${run.exitCode}${run.signal ? ` (${run.signal})` : ""}`;
  return `claude -p ping: ${how} in ${run.durationMs} ms; output: ${JSON.stringify(output(run))}`;
}

async function claudeAs(
  t: Test,
  user: TestUser,
  standIn: AnthropicStandIn,
  env: Record<string, string> = {},
) {
  const run = await runClaude({ baseUrl: standIn.url, user, env, timeoutMs: 30_000 });
  t.comment(describeRun(run));
  t.notOk(run.timedOut, "the CLI finishes on its own on a closed network (no hang)");
  return run;
}

t.test("setup token in the environment is sent as the bearer token", async (t) => {
  if (!rootOrSkip(t)) return;
  const user = createTestUser(t, "cce");
  const standIn = await withStandIn(t);
  const token = oauthToken();
  const homeBefore = filesUnder(user.home);

  const run = await claudeAs(t, user, standIn, { CLAUDE_CODE_OAUTH_TOKEN: token });

  t.equal(run.exitCode, 0, "claude exits 0");
  t.equal(run.stdout.trim(), "pong", "claude prints the stand-in's answer");
  const calls = standIn.messageRequests();
  t.equal(calls.length, 1, "one Messages API call");
  t.equal(calls[0]?.authorization, `Bearer ${token}`, "Authorization: Bearer <CLAUDE_CODE_OAUTH_TOKEN>");
  t.equal(calls[0]?.xApiKey, undefined, "no x-api-key header");
  t.ok(calls[0]?.anthropicBeta?.split(",").includes(OAUTH_BETA), `anthropic-beta carries ${OAUTH_BETA}`);
  t.equal(calls[0]?.stream, true, "claude -p asks for a streamed answer");
  t.same(standIn.unknownRequests(), [], "no call to a path the stand-in does not know");

  const created = filesUnder(user.home).filter((path) => !homeBefore.includes(path));
  t.comment(`files claude created in the home: ${created.join(", ")}`);
  t.notOk(
    created.includes(".claude/.credentials.json"),
    "the env token is not written to a credentials file",
  );
  const leaks = created.filter((path) => readFileSync(join(user.home, path), "utf8").includes(token));
  t.same(leaks, [], "the setup token is stored in no file in the home");
});

t.test(
  "a valid credentials file alone: its access token is sent, and the file is left as it was",
  async (t) => {
    if (!rootOrSkip(t)) return;
    const user = createTestUser(t, "ccf");
    const standIn = await withStandIn(t);
    const accessToken = oauthToken();
    const path = writeCredentialsAsUser(user, rotatingCredential(accessToken, Date.now() + 6 * 3600_000));
    const before = snapshot(path);
    t.equal(before.mode, 0o600, "the fixture is mode 0600");
    t.equal(statSync(path).uid, user.uid, "the fixture is owned by the user");

    const run = await claudeAs(t, user, standIn);

    t.equal(run.exitCode, 0, "claude exits 0");
    t.equal(run.stdout.trim(), "pong", "claude prints the stand-in's answer");
    const calls = standIn.messageRequests();
    t.equal(calls.length, 1, "one Messages API call");
    t.equal(
      calls[0]?.authorization,
      `Bearer ${accessToken}`,
      "Authorization: Bearer <claudeAiOauth.accessToken>",
    );
    t.ok(calls[0]?.anthropicBeta?.split(",").includes(OAUTH_BETA), `anthropic-beta carries ${OAUTH_BETA}`);
    t.same(snapshot(path), before, "the credentials file is not rewritten (content, mtime, inode, mode)");
  },
);

t.test("with both, CLAUDE_CODE_OAUTH_TOKEN wins over the credentials file", async (t) => {
  if (!rootOrSkip(t)) return;
  const user = createTestUser(t, "ccb");
  const standIn = await withStandIn(t);
  const envToken = oauthToken();
  const fileToken = oauthToken();
  const path = writeCredentialsAsUser(user, rotatingCredential(fileToken, Date.now() + 6 * 3600_000));
  const before = snapshot(path);

  const run = await claudeAs(t, user, standIn, { CLAUDE_CODE_OAUTH_TOKEN: envToken });

  t.equal(run.exitCode, 0, "claude exits 0");
  t.equal(run.stdout.trim(), "pong", "claude prints the stand-in's answer");
  const sent = standIn.messageRequests().map((call) => call.authorization);
  t.same(sent, [`Bearer ${envToken}`], "only the env token is sent");
  t.notOk(
    standIn.requests.some((call) => call.authorization?.includes(fileToken)),
    "the file's access token is never sent",
  );
  t.same(snapshot(path), before, "the credentials file is not rewritten");
});

t.test("a rejected setup token makes claude fail visibly (negative control)", async (t) => {
  if (!rootOrSkip(t)) return;
  const user = createTestUser(t, "ccr");
  const standIn = await withStandIn(t);
  const token = oauthToken();
  standIn.setAnswer(token, { kind: "reject" });

  const run = await claudeAs(t, user, standIn, { CLAUDE_CODE_OAUTH_TOKEN: token });

  t.not(run.exitCode, 0, "claude exits non-zero");
  t.notMatch(run.stdout, /pong/, "no answer is printed");
  t.match(output(run), /401|authenticat|log ?in/i, "the message names the authentication failure");
  const calls = standIn.messageRequests();
  t.ok(calls.length >= 1, "the token reached the stand-in");
  t.ok(
    calls.every((call) => call.authorization === `Bearer ${token}` && call.status === 401),
    "every call carried the rejected token and got 401",
  );
  t.comment(`Messages API calls before giving up: ${calls.length}`);
});

t.test("a logged-out stub credentials file sends no credential and says so", async (t) => {
  if (!rootOrSkip(t)) return;
  const user = createTestUser(t, "ccs");
  const standIn = await withStandIn(t);
  const path = writeCredentialsAsUser(user, {
    claudeAiOauth: { accessToken: "", refreshToken: "", expiresAt: 0, scopes: [], subscriptionType: null },
  });
  const before = snapshot(path);

  const run = await claudeAs(t, user, standIn);

  t.not(run.exitCode, 0, "claude exits non-zero");
  t.notMatch(run.stdout, /pong/, "no answer is printed");
  t.match(output(run), /not logged in|\/login/i, "the message tells the user to log in");
  t.same(
    standIn.requests.filter((call) => call.authorization !== undefined || call.xApiKey !== undefined),
    [],
    "no request carries an Authorization or x-api-key header",
  );
  t.equal(standIn.messageRequests().length, 0, "the Messages API is not called at all");
  t.same(snapshot(path), before, "the stub is left as it was");
});

t.test(
  "a leaked ANTHROPIC_API_KEY beats the setup token, so every run needs a clean environment",
  async (t) => {
    if (!rootOrSkip(t)) return;
    const user = createTestUser(t, "cck");
    const standIn = await withStandIn(t);
    const token = oauthToken();
    const apiKey = `sk-ant-api03-${randomBytes(24).toString("base64url")}`;

    const run = await claudeAs(t, user, standIn, {
      CLAUDE_CODE_OAUTH_TOKEN: token,
      ANTHROPIC_API_KEY: apiKey,
    });

    t.equal(run.exitCode, 0, "claude exits 0");
    const calls = standIn.messageRequests();
    t.equal(calls.length, 1, "one Messages API call");
    t.equal(calls[0]?.xApiKey, apiKey, "the API key is sent as x-api-key");
    t.equal(calls[0]?.authorization, undefined, "the setup token is not sent");
  },
);

t.test("the binary under test is the one npm installed", async (t) => {
  // A throwaway HOME, so asking for the version touches no real user's ~/.claude.
  const home = mkdtempSync(join(tmpdir(), "claude-version-"));
  t.teardown(() => rmSync(home, { recursive: true, force: true }));
  const version = spawnSync(claudeBinary, ["--version"], {
    encoding: "utf8",
    timeout: 20_000,
    env: {
      HOME: home,
      PATH: "/usr/bin:/bin",
      DISABLE_AUTOUPDATER: "1",
      CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: "1",
    },
  });
  t.equal(version.status, 0, `${claudeBinary} --version exits 0`);
  t.match(version.stdout, /^2\.1\.\d+ \(Claude Code\)/, "Claude Code 2.1.x");
  t.comment(`claude --version: ${version.stdout.trim()}`);
});
