// `claude-auth rotate` and `claude-auth disable` through the built binary, for real users, against the
// Vault and Anthropic stand-ins: rotate needs a token to replace and a different one; disable removes
// only our two keys and the env files, and says the user is back on the rotating SSO flow.
import { existsSync, readFileSync } from "node:fs";
import t from "tap";
import { tokenHint } from "../../src/claude/setup-token.js";
import { runBinary } from "../helpers/cli.js";
import { requireRoot } from "../helpers/users.js";
import { restartHint, setupToken, tokenWorkstation } from "./setup-token-fixture.js";

const SIBLINGS = { vaultwarden_session: 'v\u00e9\n"x"', vaultwarden_meta: { a: [1, { b: null }] } };

t.test("rotate without a stored token is refused: use enable", async (t) => {
  if (!requireRoot(t)) return;
  const ws = await tokenWorkstation(t);
  await ws.seed(SIBLINGS);
  ws.vault.clearRequests();
  const run = await ws.asRoot("rotate", [], setupToken("A"));
  t.equal(run.code, 1, "exit 1");
  t.match(run.stderr, /no setup token to rotate/);
  t.match(run.stderr, /claude-auth enable/, "points at enable");
  t.equal(ws.postsToDocument().length, 0, "nothing written");
  t.notOk(existsSync(ws.envFile));
});

t.test(
  "rotate replaces the token, keeps siblings, rewrites the env files, reminds to revoke the old one",
  async (t) => {
    if (!requireRoot(t)) return;
    const ws = await tokenWorkstation(t);
    const old = setupToken("O");
    await ws.seed({ ...SIBLINGS, setup_token: old, setup_token_updated_at: "2025-01-01T00:00:00.000Z" });
    t.equal((await ws.sync()).code, 0, "a sync puts the old token in place");
    t.equal(readFileSync(ws.envFile, "utf8"), `CLAUDE_CODE_OAUTH_TOKEN=${old}\n`);
    ws.vault.clearRequests();
    const next = setupToken("N");
    const run = await ws.asRoot("rotate", [], `${next}\n`);
    t.equal(run.code, 0, "exit 0", { stdout: run.stdout, stderr: run.stderr });
    const doc = await ws.doc();
    t.equal(doc.data?.setup_token, next, "the new token is stored");
    t.not(doc.data?.setup_token_updated_at, "2025-01-01T00:00:00.000Z", "with a new timestamp");
    for (const [key, value] of Object.entries(SIBLINGS)) t.same(doc.data?.[key], value, `${key} kept`);
    t.same(ws.writeOptions()[0], { cas: 1 });
    t.equal(ws.vault.countRequests({ method: "PATCH" }), 0);
    t.equal(readFileSync(ws.envFile, "utf8"), `CLAUDE_CODE_OAUTH_TOKEN=${next}\n`, "env file follows");
    t.equal(readFileSync(ws.serviceEnvFile, "utf8"), `CLAUDE_CODE_OAUTH_TOKEN=${next}\n`, "and root's copy");
    t.match(
      run.stdout,
      new RegExp(`revoke the old token ${tokenHint(old).replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}`),
    );
    t.notOk((run.stdout + run.stderr).includes(old), "the old token is never printed");
    t.notOk((run.stdout + run.stderr).includes(next), "nor the new one");

    ws.vault.clearRequests();
    const same = await ws.asRoot("rotate", ["--no-verify"], next);
    t.equal(same.code, 1, "rotating to the token already stored is refused");
    t.match(same.stderr, /already stored/);
    t.equal(ws.postsToDocument().length, 0, "nothing written");
  },
);

t.test("rotate refuses the stored token or no token before spending an API call", async (t) => {
  if (!requireRoot(t)) return;
  const ws = await tokenWorkstation(t);
  const stored = setupToken("K");
  await ws.seed({ ...SIBLINGS, setup_token: stored });
  const same = await ws.asRoot("rotate", [], stored);
  t.equal(same.code, 1, "the same token: exit 1", { stderr: same.stderr });
  t.match(same.stderr, /already stored: nothing to rotate/);
  t.equal(ws.api.messageRequests().length, 0, "no live check was made for it");

  const fresh = await tokenWorkstation(t);
  const none = await fresh.asRoot("rotate", [], setupToken("F"));
  t.equal(none.code, 1, "no token yet: exit 1");
  t.match(none.stderr, /no setup token to rotate/);
  t.equal(fresh.api.messageRequests().length, 0, "no live check either");
});

t.test("disable removes only our keys and the env files; back on the rotating SSO flow", async (t) => {
  if (!requireRoot(t)) return;
  const ws = await tokenWorkstation(t);
  const token = setupToken("S");
  await ws.seed(SIBLINGS);
  t.equal((await ws.asRoot("enable", ["--no-verify"], token)).code, 0);
  t.ok(existsSync(ws.envFile) && existsSync(ws.serviceEnvFile), "both env files in place");
  const version = (await ws.doc()).version;
  ws.vault.clearRequests();
  const run = await ws.asRoot("disable");
  t.equal(run.code, 0, "exit 0", { stdout: run.stdout, stderr: run.stderr });
  const doc = await ws.doc();
  t.same(doc.data, SIBLINGS, "setup_token and setup_token_updated_at gone, every other key kept");
  t.same(ws.writeOptions()[0], { cas: version });
  t.equal(ws.vault.countRequests({ method: "PATCH" }), 0);
  t.equal(ws.vault.countRequests({ method: "DELETE" }), 0, "no delete either");
  t.notOk(existsSync(ws.envFile), "the env file is removed");
  t.notOk(existsSync(ws.serviceEnvFile), "and root's copy");
  t.match(run.stdout, /back on the rotating per-user SSO flow/);
  t.match(
    run.stdout,
    /run `claude auth login`/,
    "no login here yet: says how to get one, as the runbook does",
  );
  t.match(run.stdout, new RegExp(`t3-serve@${ws.user.name}\\.service: `));
  t.notOk((run.stdout + run.stderr).includes(token));

  ws.vault.clearRequests();
  const again = await ws.asRoot("disable");
  t.equal(again.code, 0, "nothing to disable: exit 0");
  t.match(again.stdout, /not on .*nothing to disable/);
  t.equal(ws.postsToDocument().length, 0, "and nothing written");
});

t.test("disable as the user with their own identity prints the restart command", async (t) => {
  if (!requireRoot(t)) return;
  const ws = await tokenWorkstation(t);
  await ws.giveOwnIdentity();
  await ws.seed({ ...SIBLINGS, setup_token: setupToken("U") });
  t.equal((await ws.asUser("sync")).code, 0);
  t.ok(existsSync(ws.envFile));
  const run = await ws.asUser("disable");
  t.equal(run.code, 0, "exit 0", { stdout: run.stdout, stderr: run.stderr });
  t.same((await ws.doc()).data, SIBLINGS);
  t.notOk(existsSync(ws.envFile));
  t.ok(
    run.stdout.split("\n").some((line) => line.trim() === restartHint(ws.user.name)),
    "the exact command on a line of its own",
    { stdout: run.stdout },
  );
  const other = await ws.asUser("disable", ["--user", "root"]);
  t.equal(other.code, 2, "not for someone else");
});

t.test(
  "disable as the user says when root's copy goes; the next run as root (a login) removes it",
  async (t) => {
    if (!requireRoot(t)) return;
    const ws = await tokenWorkstation(t);
    await ws.giveOwnIdentity();
    await ws.seed({ ...SIBLINGS, setup_token: setupToken("C") });
    t.equal((await ws.sync()).code, 0, "a root run writes both files");
    t.ok(existsSync(ws.serviceEnvFile), "root's copy is there");
    const run = await ws.asUser("disable");
    t.equal(run.code, 0, "exit 0", { stdout: run.stdout, stderr: run.stderr });
    t.notOk(existsSync(ws.envFile), "the user's env file is gone at once");
    t.ok(existsSync(ws.serviceEnvFile), "root's copy is not the user's to remove");
    const unit = `t3-serve@${ws.user.name}.service`;
    t.ok(
      run.stdout.includes(
        `Root's copy for ${unit}, ${ws.serviceEnvFile}, is removed by the next run as root: your next login here, the next claude-auth-sync@${ws.user.name}.timer run (every 6 h) or the next start of ${unit}`,
      ),
      "disable says exactly when it goes",
      { stdout: run.stdout },
    );
    const json = JSON.parse((await ws.asUser("disable", ["--json"])).stdout);
    t.equal(json.serviceEnvFileRemoval, null, "nothing left to say once nothing changed");

    const login = await runBinary(["pam", "--config", ws.config], {
      env: { PAM_USER: ws.user.name, PAM_TYPE: "open_session" },
    });
    t.equal(login.code, 0, "the next login", { stderr: login.stderr });
    t.notOk(existsSync(ws.serviceEnvFile), "removes root's copy");
    t.match(login.stderr, /actions=[^ ]*remove-service-env-file/);
  },
);
