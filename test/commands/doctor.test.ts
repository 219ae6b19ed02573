// `claude-auth doctor` through the built binary: a healthy installation tree (built in a temp dir and
// passed with --root), then one breakage at a time; each is named with its fix and fails the run.
import { execFileSync } from "node:child_process";
import {
  chmodSync,
  chownSync,
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import t from "tap";
import { renderBlock } from "../../src/shell/rc-block.js";
import { zsh } from "../../src/shell/zsh.js";
import { BINARY, makeConfig, type RunResult, runBinary } from "../helpers/cli.js";
import { requireRoot } from "../helpers/users.js";
import { createToken, HOST_POLICY, putPolicy, userPolicy, vaultApi } from "../helpers/vault-api.js";
import { setupToken, type Workstation, workstation } from "../sync/fixture.js";

const BLOCK = renderBlock(zsh);

const REPO = fileURLToPath(new URL("../../", import.meta.url));
const PAM_LINE = readFileSync(join(REPO, "hooks/pam/claude-auth"), "utf8")
  .split("\n")
  .find((line) => line.startsWith("session"));

interface Finding {
  id: string;
  status: "ok" | "warn" | "fail";
  message: string;
  fix?: string;
}

/** An installation as install.sh lays it out, below a temp root. */
function installTree(t: { teardown(fn: () => void): void }, user: string): string {
  const root = mkdtempSync(join(tmpdir(), "cas-doctor-"));
  chmodSync(root, 0o755);
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  const put = (path: string, from: string | { text: string }) => {
    const target = join(root, path);
    mkdirSync(dirname(target), { recursive: true });
    if (typeof from === "string") copyFileSync(join(REPO, from), target);
    else writeFileSync(target, from.text);
  };
  mkdirSync(join(root, "usr/local/bin"), { recursive: true });
  symlinkSync(BINARY, join(root, "usr/local/bin/claude-auth"));
  put("etc/pam.d/common-session", {
    text: `session [default=1] pam_permit.so\nsession required pam_unix.so\n${PAM_LINE}\n`,
  });
  put("etc/pam.d/sshd", { text: "@include common-session\n" });
  put("etc/claude-auth-sync/config.env", "hooks/config/config.env"); // the PAM line's --config
  put("etc/systemd/system/claude-auth-sync@.service", "hooks/systemd/claude-auth-sync@.service");
  put("etc/systemd/system/claude-auth-sync@.timer", "hooks/systemd/claude-auth-sync@.timer");
  put(
    "etc/systemd/system/t3-serve@.service.d/claude-auth.conf",
    "hooks/systemd/t3-serve@.service.d/claude-auth.conf",
  );
  mkdirSync(join(root, "etc/systemd/system/timers.target.wants"), { recursive: true });
  symlinkSync(
    "/etc/systemd/system/claude-auth-sync@.timer",
    join(root, `etc/systemd/system/timers.target.wants/claude-auth-sync@${user}.timer`),
  );
  put("etc/profile.d/claude-auth.sh", "shell/claude-auth.sh");
  put("etc/fish/conf.d/claude-auth.fish", "shell/claude-auth.fish");
  return root;
}

async function doctor(ws: Workstation, root: string, config = ws.config): Promise<RunResult> {
  return runBinary(["doctor", "--json", "--user", ws.user.name, "--config", config, "--root", root]);
}

function findings(run: RunResult): Finding[] {
  return (JSON.parse(run.stdout) as { findings: Finding[] }).findings;
}

function finding(run: RunResult, id: string): Finding | undefined {
  return findings(run).find((f) => f.id === id);
}

function notOk(run: RunResult): string[] {
  return findings(run)
    .filter((f) => f.status !== "ok")
    .map((f) => `${f.status} ${f.id}: ${f.message}`);
}

/** A user in setup-token mode, synced, with the rc block: the state doctor should call healthy. */
async function healthyUser(t: Parameters<typeof workstation>[0]) {
  const ws = await workstation(t);
  const token = setupToken("Doc");
  await ws.seed({ setup_token: token, setup_token_updated_at: new Date().toISOString() });
  t.equal((await ws.sync()).code, 0, "sync");
  const shell = await runBinary(["shell", "install", "--shell", "bash", "--user", ws.user.name]);
  t.equal(shell.code, 0, "rc block installed", { stderr: shell.stderr });
  return { ws, token, root: installTree(t, ws.user.name) };
}

t.test("a healthy setup: every check ok, exit 0, text and JSON", async (t) => {
  if (!requireRoot(t)) return;
  const { ws, token, root } = await healthyUser(t);
  const run = await doctor(ws, root);
  t.equal(run.code, 0, "exit 0", { stdout: run.stdout, stderr: run.stderr });
  t.same(notOk(run), [], "no warning, no failure");
  const ids = findings(run).map((f) => f.id);
  for (const id of [
    "binary",
    "config-file",
    "config-values",
    "pam",
    "systemd-units",
    "timer",
    "shell-snippet",
    "shell-snippet-fish",
    "shell-rc",
    "env-file",
    "env-directory",
    "credentials-file",
    "service-env-file",
    "vault-health",
    "vault-auth",
    "vault-capabilities",
    "vault-document",
    "setup-token-age",
  ]) {
    t.ok(ids.includes(id), `checked: ${id}`);
  }
  t.match(
    finding(run, "vault-capabilities")?.message,
    /may create, read and update .* \(patch is not needed\)/,
  );
  t.match(
    finding(run, "pam")?.message,
    /common-session:3 runs \/usr\/local\/bin\/claude-auth pam --config \/etc\/claude-auth-sync\/config\.env at session open; run by common-session, sshd/,
  );

  const text = await runBinary(["doctor", "--user", ws.user.name, "--config", ws.config, "--root", root]);
  t.equal(text.code, 0);
  t.match(text.stdout, /^ {2}ok {4}vault-health: http:\/\/127\.0\.0\.1:\d+: Vault/m);
  t.match(text.stdout, /all good\n$/);
  t.notOk((run.stdout + text.stdout).includes(token), "the setup token is never printed");
  t.notOk((run.stdout + text.stdout).includes(ws.hostToken), "nor the Vault token");
});

t.test("a policy without update: doctor names the missing capability and the stanza to add", async (t) => {
  if (!requireRoot(t)) return;
  const { ws, root } = await healthyUser(t);
  await putPolicy(
    ws.vault.addr,
    ws.vault.rootToken,
    "no-update",
    'path "secret/data/workstation/claude-users/*" { capabilities = ["create", "read"] }',
  );
  const limited = await createToken(ws.vault.addr, ws.vault.rootToken, ["no-update"]);
  const config = makeConfig(t, { VAULT_ADDR: ws.vault.addr, CLAUDE_AUTH_SYNC_TIMEOUT_MS: "1500" }, limited);
  const run = await doctor(ws, root, config.path);
  t.equal(run.code, 1, "exit 1");
  const caps = finding(run, "vault-capabilities");
  t.equal(caps?.status, "fail");
  t.match(
    caps?.message,
    /lacks update on secret\/data\/workstation\/claude-users\/\S+ \(it has: create, read\)/,
  );
  t.match(
    caps?.fix,
    /path "secret\/data\/workstation\/claude-users\/\*" \{\n\s+capabilities = \["create", "read", "update"\]\n\s+\}/,
  );
  t.match(caps?.fix, /patch is not needed/);
  t.notOk(run.stdout.includes(limited), "the token is not printed");

  const text = await runBinary(["doctor", "--user", ws.user.name, "--config", config.path, "--root", root]);
  t.match(text.stdout, /FAIL {2}vault-capabilities: .*lacks update/);
  t.match(text.stdout, /1 problem/);
});

t.test("a config file writable by others fails with the chown/chmod fix", async (t) => {
  if (!requireRoot(t)) return;
  const { ws, root } = await healthyUser(t);
  chmodSync(ws.config, 0o666);
  const run = await doctor(ws, root);
  t.equal(run.code, 1, "exit 1");
  const config = finding(run, "config-file");
  t.equal(config?.status, "fail");
  t.match(config?.message, /writable by group or others \(mode 0666\)/);
  t.equal(config?.fix, `chown root:root ${ws.config} && chmod 644 ${ws.config}`);
  t.same(
    notOk(run).map((line) => line.split(":")[0]),
    ["fail config-file"],
    "nothing else is reported broken: doctor still checked Vault with the file's values",
  );
});

t.test("a config value that does not parse is named by its key", async (t) => {
  if (!requireRoot(t)) return;
  const { ws, root } = await healthyUser(t);
  const config = makeConfig(t, {
    VAULT_ADDR: ws.vault.addr,
    CLAUDE_AUTH_SYNC_TIMEOUT_MS: "soon",
    CLAUDE_AUTH_SYNC_TYPO: "1",
  });
  const run = await doctor(ws, root, config.path);
  t.equal(run.code, 1);
  const values = finding(run, "config-values");
  t.equal(values?.status, "fail");
  t.match(values?.message, /^CLAUDE_AUTH_SYNC_TIMEOUT_MS in .* is invalid: expected a whole number/);
  t.match(finding(run, "config-keys")?.message, /CLAUDE_AUTH_SYNC_TYPO/);
});

t.test("a missing PAM line fails with the line to add", async (t) => {
  if (!requireRoot(t)) return;
  const { ws, root } = await healthyUser(t);
  writeFileSync(
    join(root, "etc/pam.d/common-session"),
    "session required pam_unix.so\n# session optional pam_exec.so quiet /usr/local/bin/claude-auth pam\n",
  );
  const run = await doctor(ws, root);
  t.equal(run.code, 1, "exit 1");
  const pam = finding(run, "pam");
  t.equal(pam?.status, "fail");
  t.match(
    pam?.message,
    /no pam_exec\.so line calling `claude-auth pam`/,
    "a commented-out line does not count",
  );
  t.match(
    pam?.fix,
    /session optional pam_exec\.so type=open_session quiet \/usr\/local\/bin\/claude-auth pam --config \/etc\/claude-auth-sync\/config\.env/,
  );
});

t.test("an env file with mode 0644 fails with chmod 600", async (t) => {
  if (!requireRoot(t)) return;
  const { ws, token, root } = await healthyUser(t);
  chmodSync(ws.envFile, 0o644);
  const run = await doctor(ws, root);
  t.equal(run.code, 1, "exit 1");
  const env = finding(run, "env-file");
  t.equal(env?.status, "fail");
  t.match(env?.message, /has mode 0644, not 0600: other users can read your setup token/);
  t.equal(env?.fix, `chmod 600 ${ws.envFile}`);
  t.notOk(run.stdout.includes(token), "the token is not printed");
});

t.test(
  "missing units, snippets and binary are each named; zsh without the rc block is flagged",
  async (t) => {
    if (!requireRoot(t)) return;
    const { ws, root } = await healthyUser(t);
    rmSync(join(root, "etc/systemd/system/t3-serve@.service.d"), { recursive: true });
    rmSync(join(root, "etc/profile.d/claude-auth.sh"));
    rmSync(join(root, "usr/local/bin/claude-auth"));
    execFileSync("usermod", ["--shell", "/usr/bin/zsh", ws.user.name]);
    const run = await doctor(ws, root);
    t.equal(run.code, 1);
    t.match(finding(run, "systemd-units")?.message, /missing: .*t3-serve@\.service\.d\/claude-auth\.conf/);
    t.match(finding(run, "shell-snippet")?.message, /claude-auth\.sh is missing/);
    t.equal(finding(run, "binary")?.status, "fail");
    t.match(finding(run, "pam")?.message, /calls \/usr\/local\/bin\/claude-auth, which is missing/);
    const rc = finding(run, "shell-rc");
    t.equal(rc?.status, "fail", "setup-token mode: zsh sessions would not get the token");
    t.match(rc?.message, /zsh, which never reads \/etc\/profile\.d/);
    t.equal(rc?.fix, `claude-auth shell install --shell zsh --user ${ws.user.name}`);
  },
);

t.test(
  "zsh: ok with the block in ~/.zshenv or install.sh's line in /etc/zsh/zshenv; a block left in ~/.zshrc is a warning",
  async (t) => {
    if (!requireRoot(t)) return;
    const { ws, root } = await healthyUser(t);
    execFileSync("usermod", ["--shell", "/usr/bin/zsh", ws.user.name]);
    const home = ws.user.home;
    const shell = (action: string) =>
      runBinary(["shell", action, "--shell", "zsh", "--user", ws.user.name]).then((run) => run.code);
    // An earlier release's block in ~/.zshrc (written by that user, as `shell install` did).
    const zshrc = join(home, ".zshrc");
    writeFileSync(zshrc, `# mine\n${BLOCK}\n`);
    execFileSync("chown", [`${ws.user.uid}:${ws.user.gid}`, zshrc]);
    let rc = finding(await doctor(ws, root), "shell-rc");
    t.equal(rc?.status, "warn", "the old place is a warning");
    t.match(
      rc?.message,
      `${zshrc} holds the claude-auth-sync block, which only interactive zsh reads: \`ssh host cmd\` and \`su - user -c\` do not get the setup token`,
    );
    t.equal(
      rc?.fix,
      `claude-auth shell install --shell zsh --user ${ws.user.name} (moves it to ${join(home, ".zshenv")})`,
    );

    t.equal(await shell("install"), 0);
    rc = finding(await doctor(ws, root), "shell-rc");
    t.same([rc?.status, rc?.message], ["ok", `${join(home, ".zshenv")} sources the snippet`]);

    t.equal(await shell("uninstall"), 0);
    mkdirSync(join(root, "etc/zsh"), { recursive: true });
    writeFileSync(
      join(root, "etc/zsh/zshenv"),
      `# zsh-common\n${readFileSync(join(REPO, "hooks/zsh/zshenv"), "utf8")}`,
    );
    rc = finding(await doctor(ws, root), "shell-rc");
    t.same(
      [rc?.status, rc?.message],
      ["ok", `${join(root, "etc/zsh/zshenv")} sources the snippet for every zsh`],
    );

    writeFileSync(join(root, "etc/zsh/zshenv"), "# zsh-common, without our line\n");
    rc = finding(await doctor(ws, root), "shell-rc");
    t.equal(rc?.status, "fail", "setup-token mode and nothing sources it");
    t.match(
      rc?.message,
      `neither ${join(root, "etc/zsh/zshenv")} nor ${join(home, ".zshenv")} sources the snippet`,
    );
  },
);

t.test(
  "as the user: ANTHROPIC_API_KEY and a stale CLAUDE_CODE_OAUTH_TOKEN are warnings (exit 0)",
  async (t) => {
    if (!requireRoot(t)) return;
    const { ws, token, root } = await healthyUser(t);
    const userToken = await createToken(ws.vault.addr, ws.vault.rootToken, ["claude-auth-sync-host"]);
    const stale = setupToken("Stale");
    const run = await runBinary(["doctor", "--json", "--config", ws.config, "--root", root], {
      uid: ws.user.uid,
      gid: ws.user.gid,
      env: {
        HOME: ws.user.home,
        USER: ws.user.name,
        VAULT_TOKEN: userToken,
        ANTHROPIC_API_KEY: "sk-ant-api03-do-not-print-me-please",
        CLAUDE_CODE_OAUTH_TOKEN: stale,
      },
    });
    t.equal(run.code, 0, "warnings alone: exit 0", { stderr: run.stderr });
    const apiKey = finding(run, "env-anthropic-api-key");
    t.equal(apiKey?.status, "warn");
    t.match(apiKey?.message, /Claude Code uses it before CLAUDE_CODE_OAUTH_TOKEN/);
    const oauth = finding(run, "env-oauth-token");
    t.equal(oauth?.status, "warn");
    t.match(oauth?.message, /differs from the env file/);
    t.equal(finding(run, "vault-capabilities")?.status, "ok", "the user's own token is checked");
    for (const secret of [token, stale, userToken, "sk-ant-api03-do-not-print-me-please"]) {
      t.notOk(
        run.stdout.includes(secret) || run.stderr.includes(secret),
        `${secret.slice(0, 14)}… not printed`,
      );
    }
  },
);

t.test(
  "a metrics directory a user can write: doctor fails metrics-directory with the path, why and the fix",
  async (t) => {
    if (!requireRoot(t)) return;
    const { ws, root } = await healthyUser(t);
    t.equal(
      finding(await doctor(ws, root), "metrics-directory")?.status,
      "ok",
      "root's 0755 directory is fine",
    );
    chownSync(ws.metricsDir, ws.user.uid, ws.user.gid);
    const run = await doctor(ws, root);
    t.equal(run.code, 1, "a failure fails the run");
    const metrics = finding(run, "metrics-directory");
    t.equal(metrics?.status, "fail");
    t.match(
      metrics?.message,
      new RegExp(`metrics directory ${ws.metricsDir} refused: it is owned by uid ${ws.user.uid}`),
    );
    t.match(metrics?.message, /make logins hang or forge metrics/, "says why");
    t.match(metrics?.fix, new RegExp(`chown root:root ${ws.metricsDir} && chmod 0755`), "and what to do");
  },
);

// --- CLAUDE_AUTH_SYNC_IDENTITY=user: the host must reach no user's document; each user's own token must
// reach theirs, through an entity, and live on (periodic). What an admin reads: doctor's printed lines.

async function api(addr: string, token: string, method: string, path: string, body?: unknown) {
  const answer = await vaultApi(addr, token, method, path, body);
  if (answer.status >= 300)
    throw new Error(`${method} ${path}: ${answer.status} ${JSON.stringify(answer.body)}`);
  return answer.body ?? {};
}

/** The runbook's user-mode Vault: a userpass mount and the templated `claude-user` policy on its aliases. */
async function userModeVault(ws: Workstation): Promise<void> {
  const root = ws.vault.rootToken;
  await api(ws.vault.addr, root, "POST", "sys/auth/userpass", { type: "userpass" });
  const mounts = (await api(ws.vault.addr, root, "GET", "sys/auth")).data as Record<
    string,
    { accessor: string }
  >;
  await putPolicy(ws.vault.addr, root, "claude-user", userPolicy(mounts["userpass/"]?.accessor ?? ""));
}

/** A password login of the workstation's user: an entity-bearing token, periodic (72h) unless told otherwise. */
async function userLogin(ws: Workstation, policies: string[], settings: Record<string, string> = {}) {
  const name = ws.user.name;
  await api(ws.vault.addr, ws.vault.rootToken, "POST", `auth/userpass/users/${name}`, {
    password: "pw-user",
    token_policies: policies,
    ...(Object.keys(settings).length > 0 ? settings : { token_period: "72h" }),
  });
  const login = await api(ws.vault.addr, "", "POST", `auth/userpass/login/${name}`, { password: "pw-user" });
  return (login.auth as { client_token: string }).client_token;
}

/** What `claude-auth enroll` leaves: the token in ~/.config/claude-auth-sync/vault-token, 0600, the user's. */
function enroll(ws: Workstation, token: string): void {
  execFileSync(
    "runuser",
    [
      "-u",
      ws.user.name,
      "--",
      "sh",
      "-c",
      'mkdir -p "$1/.config" && mkdir -p -m 700 "$1/.config/claude-auth-sync" && umask 077 && cat > "$1/.config/claude-auth-sync/vault-token"',
      "sh",
      ws.user.home,
    ],
    { input: `${token}\n` },
  );
}

function userModeConfig(t: Parameters<typeof workstation>[0], ws: Workstation, hostToken?: string): string {
  return makeConfig(
    t,
    { VAULT_ADDR: ws.vault.addr, CLAUDE_AUTH_SYNC_TIMEOUT_MS: "1500", CLAUDE_AUTH_SYNC_IDENTITY: "user" },
    hostToken,
  ).path;
}

async function userModeSetup(t: Parameters<typeof workstation>[0]) {
  const ws = await workstation(t);
  await userModeVault(ws);
  return { ws, root: installTree(t, ws.user.name) };
}

function doctorText(ws: Workstation, root: string, config: string): Promise<RunResult> {
  return runBinary(["doctor", "--user", ws.user.name, "--config", config, "--root", root]);
}

const line = (status: "ok" | "WARN" | "FAIL", id: string, rest: string) =>
  new RegExp(`^ {2}${status === "ok" ? "ok  " : status} {2}${id}: ${rest}`, "m");

t.test(
  "user mode: a host policy that still reads users' paths fails host-identity-scope, naming the policy; the document is checked with the user's own token",
  async (t) => {
    if (!requireRoot(t)) return;
    const { ws, root } = await userModeSetup(t);
    const userToken = await userLogin(ws, ["claude-user"]);
    enroll(ws, userToken);
    const config = userModeConfig(t, ws, ws.hostToken);
    ws.vault.clearRequests();
    const run = await doctorText(ws, root, config);
    t.equal(run.code, 1, "exit 1", { stdout: run.stdout, stderr: run.stderr });
    const doc = `secret/data/workstation/claude-users/${ws.user.name}`;
    t.match(
      run.stdout,
      line(
        "FAIL",
        "host-identity-scope",
        `the host's Vault token \\(from \\S+host-token, policies claude-auth-sync-host, default\\) still reaches users' documents: create, read, update on ${doc};`,
      ),
    );
    t.match(
      run.stdout,
      /fix: remove the users' document paths \("secret\/data\/workstation\/claude-users\/\*" and "secret\/metadata\/workstation\/claude-users\/\*"\) from policy claude-auth-sync-host: in user mode the host needs none \(docs\/runbook\.md, "The host in user mode"\)/,
    );
    t.match(
      run.stdout,
      /or, when nothing else on this host needs a Vault identity, remove CLAUDE_AUTH_SYNC_TOKEN_FILE from \S+config\.env\n\s+check: `VAULT_TOKEN=\$\(sudo cat \S+host-token\) vault token capabilities secret\/data\/workstation\/claude-users\/\S+` must print deny/,
    );
    t.match(run.stdout, line("ok", "vault-capabilities", `${ws.user.name}'s own token \\(~\\/\\.config`));
    t.match(run.stdout, /^1 problem: fix the FAIL lines above$/m, "the host's reach is the only problem");
    const hostAccessor = ws.vault.accessorOf(ws.hostToken);
    const userAccessor = ws.vault.accessorOf(userToken);
    const documentReads = ws.vault.requests.filter((r) => r.logicalPath === doc);
    t.ok(documentReads.length > 0, "the document was read");
    t.ok(
      documentReads.every((r) => r.tokenAccessor === userAccessor && r.tokenAccessor !== hostAccessor),
      "only with the user's token",
    );
    t.notOk(run.stdout.includes(ws.hostToken) || run.stdout.includes(userToken), "no token printed");

    const installation = await runBinary(["doctor", "--config", config, "--root", root]);
    t.equal(installation.code, 1, "root without --user: the host's reach is still checked");
    t.match(
      installation.stdout,
      line(
        "FAIL",
        "host-identity-scope",
        ".* still reaches users' documents: create, read, update on secret/data/workstation/claude-users/claude-auth-sync-probe;",
      ),
    );
    t.notMatch(installation.stdout, /identity-enrolled/, "no user, no enrolled token to check");
  },
);

t.test(
  "user mode: a host without a Vault identity, or one that reaches no user, is ok; an enrolled periodic token is ok with its expiry",
  async (t) => {
    if (!requireRoot(t)) return;
    const { ws, root } = await userModeSetup(t);
    enroll(ws, await userLogin(ws, ["claude-user"]));
    const none = await doctorText(ws, root, userModeConfig(t, ws));
    t.equal(none.code, 0, "exit 0", { stdout: none.stdout, stderr: none.stderr });
    t.match(
      none.stdout,
      line("ok", "host-identity-scope", "the host has no Vault identity \\(none needed in user mode\\)"),
    );
    t.match(
      none.stdout,
      line(
        "ok",
        "identity-enrolled",
        `${ws.user.name}'s own token \\(~/\\.config/claude-auth-sync/vault-token\\): "userpass-${ws.user.name}", policies claude-user, default, with an identity entity`,
      ),
    );
    t.match(
      none.stdout,
      line("ok", "identity-token", `reaches ${ws.user.name}'s own document \\(create, read, update\\)`),
    );
    t.match(
      none.stdout,
      line(
        "ok",
        "identity-expiry",
        "periodic \\(period 3 days\\), 3 days left \\(until \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d UTC\\); the timer renews it",
      ),
    );
    t.match(
      none.stdout,
      line("ok", "vault-document", "secret/data/workstation/claude-users/\\S+: no document yet"),
    );
    t.match(none.stdout, /all good\n$/);

    await putPolicy(
      ws.vault.addr,
      ws.vault.rootToken,
      "other-service",
      'path "secret/data/other/*" { capabilities = ["read"] }',
    );
    const unrelated = await createToken(ws.vault.addr, ws.vault.rootToken, ["other-service"]);
    const clean = await doctorText(ws, root, userModeConfig(t, ws, unrelated));
    t.equal(clean.code, 0, "exit 0", { stdout: clean.stdout });
    t.match(
      clean.stdout,
      line(
        "ok",
        "host-identity-scope",
        "the host's Vault token \\(from \\S+, policies default, other-service\\) reaches no user's document \\(deny on ",
      ),
    );

    const asUser = await runBinary(["doctor", "--config", userModeConfig(t, ws, unrelated), "--root", root], {
      uid: ws.user.uid,
      gid: ws.user.gid,
      env: { HOME: ws.user.home, USER: ws.user.name },
    });
    t.equal(asUser.code, 0, "as the user: exit 0", { stdout: asUser.stdout, stderr: asUser.stderr });
    t.notMatch(asUser.stdout, /host-identity-scope/, "a user cannot see the host's identity: not checked");
    t.match(asUser.stdout, line("ok", "identity-token", "reaches"));
  },
);

t.test("user mode: an unenrolled user fails identity-enrolled with the enroll fix", async (t) => {
  if (!requireRoot(t)) return;
  const { ws, root } = await userModeSetup(t);
  ws.vault.clearRequests();
  const run = await doctorText(ws, root, userModeConfig(t, ws));
  t.equal(run.code, 1, "exit 1", { stdout: run.stdout, stderr: run.stderr });
  t.match(
    run.stdout,
    line(
      "FAIL",
      "identity-enrolled",
      `${ws.user.name} has no Vault token in ~/\\.config/claude-auth-sync/vault-token \\(CLAUDE_AUTH_SYNC_IDENTITY=user\\): nothing is backed up or restored for them`,
    ),
  );
  t.match(
    run.stdout,
    new RegExp(
      `fix: ${ws.user.name} runs \`claude-auth enroll\` \\(after \`vault login\`\\); a password login enrolls them only once CLAUDE_AUTH_SYNC_USER_AUTH is set`,
    ),
  );
  t.equal(
    ws.vault.countRequests({ pathPrefix: "secret/" }),
    0,
    "the document is not touched without the user's token",
  );

  const withPam = makeConfig(t, {
    VAULT_ADDR: ws.vault.addr,
    CLAUDE_AUTH_SYNC_IDENTITY: "user",
    CLAUDE_AUTH_SYNC_USER_AUTH: "userpass",
  });
  const pam = await doctorText(ws, root, withPam.path);
  t.match(
    pam.stdout,
    new RegExp(
      `fix: ${ws.user.name} logs in once with their password \\(the PAM auth step enrolls\\), or ${ws.user.name} runs \`claude-auth enroll\``,
    ),
  );
});

t.test("user mode: an orphan token without an entity fails, with the login to use instead", async (t) => {
  if (!requireRoot(t)) return;
  const { ws, root } = await userModeSetup(t);
  enroll(ws, await createToken(ws.vault.addr, ws.vault.rootToken, ["claude-user"]));
  const run = await doctorText(ws, root, userModeConfig(t, ws));
  t.equal(run.code, 1, "exit 1", { stdout: run.stdout, stderr: run.stderr });
  t.match(run.stdout, line("ok", "identity-enrolled", ".*no identity entity"));
  t.match(run.stdout, line("FAIL", "identity-token", "the token has no identity entity"));
  t.match(
    run.stdout,
    /fix: enroll a token from a login through \S+'s auth method .*not one from `vault token create`/,
  );
  t.match(
    run.stdout,
    line("FAIL", "identity-token", `the token cannot read and write ${ws.user.name}'s document`),
    "said about the user, to root",
  );
  t.match(run.stdout, /fix: follows from the missing entity/);
  t.notMatch(run.stdout, /vault-document/, "the document is not read with a token that cannot");
});

t.test(
  "user mode: a token with a wildcard policy and a non-periodic one are warnings (exit 0)",
  async (t) => {
    if (!requireRoot(t)) return;
    const { ws, root } = await userModeSetup(t);
    await putPolicy(ws.vault.addr, ws.vault.rootToken, "wild", HOST_POLICY);
    enroll(ws, await userLogin(ws, ["claude-user", "wild"]));
    const config = userModeConfig(t, ws);
    const run = await doctorText(ws, root, config);
    t.equal(run.code, 0, "warnings only: exit 0", { stdout: run.stdout, stderr: run.stderr });
    t.match(
      run.stdout,
      line(
        "WARN",
        "identity-token",
        "the token also reaches other users' documents \\(secret/data/workstation/claude-users/claude-auth-sync-probe: create, read, update\\)",
      ),
    );
    t.match(run.stdout, line("WARN", "identity-token", "the token carries the policies claude-user, wild"));
    t.match(run.stdout, /fix: enroll a token from a login whose only policy is the per-user one/);

    enroll(ws, await userLogin(ws, ["claude-user"], { token_period: "0", token_ttl: "5h" }));
    const temporary = await doctorText(ws, root, config);
    t.equal(temporary.code, 0, { stdout: temporary.stdout });
    t.match(
      temporary.stdout,
      line(
        "WARN",
        "identity-expiry",
        "not periodic, 5 hours left \\(until [^)]+\\), renewable up to its max TTL: when it expires nothing is backed up",
      ),
    );
    t.match(temporary.stdout, /fix: ask the Vault admin for a login with token_period/);
    t.match(temporary.stdout, /no problems, 1 warning$/m, "the lifetime is said once");
  },
);

t.test("user mode: a revoked token fails identity-enrolled with the re-enroll fix", async (t) => {
  if (!requireRoot(t)) return;
  const { ws, root } = await userModeSetup(t);
  const token = await userLogin(ws, ["claude-user"]);
  enroll(ws, token);
  await api(ws.vault.addr, ws.vault.rootToken, "POST", "auth/token/revoke", { token });
  const run = await doctorText(ws, root, userModeConfig(t, ws));
  t.equal(run.code, 1, "exit 1", { stdout: run.stdout, stderr: run.stderr });
  t.match(
    run.stdout,
    line(
      "FAIL",
      "identity-enrolled",
      `Vault calls ${ws.user.name}'s own token \\(~/\\.config/claude-auth-sync/vault-token\\) an invalid token: it expired or was revoked`,
    ),
  );
  t.match(
    run.stdout,
    new RegExp(
      `fix: ${ws.user.name} runs \`claude-auth enroll\` \\(after \`vault login\`\\); a password login enrolls them only once`,
    ),
  );
});

t.test(
  "user mode: a host login (userpass) whose policy reaches users fails naming it; a host login that fails is a warning",
  async (t) => {
    if (!requireRoot(t)) return;
    const { ws, root } = await userModeSetup(t);
    enroll(ws, await userLogin(ws, ["claude-user"]));
    await putPolicy(ws.vault.addr, ws.vault.rootToken, "old-host", HOST_POLICY);
    await api(ws.vault.addr, ws.vault.rootToken, "POST", "auth/userpass/users/host-ws1", {
      password: "pw-host",
      token_policies: ["old-host"],
    });
    const scratch = mkdtempSync(join(tmpdir(), "cas-doctor-host-"));
    t.teardown(() => rmSync(scratch, { recursive: true, force: true }));
    const passwordFile = join(scratch, "host-pw");
    writeFileSync(passwordFile, "pw-host\n", { mode: 0o600 });
    const hostLogin = (password: string) =>
      makeConfig(t, {
        VAULT_ADDR: ws.vault.addr,
        CLAUDE_AUTH_SYNC_IDENTITY: "user",
        CLAUDE_AUTH_SYNC_AUTH: "userpass",
        CLAUDE_AUTH_SYNC_USERNAME: "host-ws1",
        CLAUDE_AUTH_SYNC_PASSWORD_FILE: password,
      }).path;
    const run = await doctorText(ws, root, hostLogin(passwordFile));
    t.equal(run.code, 1, "exit 1", { stdout: run.stdout, stderr: run.stderr });
    t.match(
      run.stdout,
      line(
        "FAIL",
        "host-identity-scope",
        "the host's Vault token \\(from userpass \\(userpass\\) as host-ws1, policies default, old-host\\) still reaches users' documents",
      ),
    );
    t.match(run.stdout, /fix: remove the users' document paths .* from policy old-host:/);
    t.match(
      run.stdout,
      /remove CLAUDE_AUTH_SYNC_AUTH, CLAUDE_AUTH_SYNC_USERNAME and CLAUDE_AUTH_SYNC_PASSWORD_FILE from \S+config\.env/,
    );

    const wrong = join(scratch, "wrong-pw");
    writeFileSync(wrong, "not-it\n", { mode: 0o600 });
    const failing = await doctorText(ws, root, hostLogin(wrong));
    t.equal(failing.code, 0, "a host login that fails reaches nothing: a warning", {
      stdout: failing.stdout,
    });
    t.match(
      failing.stdout,
      line(
        "WARN",
        "host-identity-scope",
        "the host login configured in config.env \\(CLAUDE_AUTH_SYNC_AUTH=userpass\\) fails, so its reach is not known",
      ),
    );
    t.notMatch(run.stdout + failing.stdout, /pw-host|not-it/, "no password printed");
  },
);
