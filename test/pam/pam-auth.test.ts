// Per-user Vault identity at a password login, for real: a PAM service whose auth stack is pam_unix then
// the shipped `auth optional pam_exec.so expose_authtok type=auth` line, whose session stack is
// (pam_mkhomedir and) the shipped session line, driven by pamtester with the password on its standard
// input, real users with real /etc/shadow passwords, and the Vault stand-in with a userpass mount whose
// users get a templated per-user policy and periodic tokens. The host token reaches no user's document.
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import {
  chmodSync,
  chownSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { dirname, join } from "node:path";
import t, { type Test } from "tap";
import { HANDOVER_MAX_AGE_MS, putHandover, takeHandover } from "../../src/system/handover.js";
import { parseAuthtok } from "../../src/vault/enrollment.js";
import { BINARY, makeConfig } from "../helpers/cli.js";
import { createTestUser, requireRoot, type TestUser } from "../helpers/users.js";
import {
  createToken,
  liveLoginTokens,
  putPolicy,
  userPolicy,
  vaultApi,
  writeDoc,
} from "../helpers/vault-api.js";
import { setupToken } from "../sync/fixture.js";
import { startVaultStandIn, type VaultStandIn } from "../vault/standin.js";

const PAMTESTER = "/usr/bin/pamtester";
const STRACE = "/usr/bin/strace";
const BUDGET_MS = 1500;
/** Start-up of the binary and of pamtester, pam_unix's hashing, strace-free: generous, still a bound. */
const MARGIN_MS = 1500;
const HANDOVER_DIR = "/run/claude-auth-sync/enroll";
const TOKEN_DIR = [".config", "claude-auth-sync"];

t.test("parseAuthtok: pam_exec's NUL-terminated password, a trailing newline, nothing", async (t) => {
  t.equal(parseAuthtok(Buffer.from("s3cret\0")), "s3cret", "up to the NUL");
  t.equal(parseAuthtok(Buffer.from("s3cret\0garbage after")), "s3cret", "nothing after the NUL");
  t.equal(parseAuthtok(Buffer.from("s3cret\n")), "s3cret", "one line break trimmed");
  t.equal(parseAuthtok(Buffer.from("s3cret\n\0")), "s3cret", "line break before the NUL");
  t.equal(parseAuthtok(Buffer.from("s3cret")), "s3cret", "no terminator at all");
  t.equal(parseAuthtok(Buffer.from(" pass word \0")), " pass word ", "spaces are part of a password");
  t.equal(parseAuthtok(Buffer.from("two\n\n")), "two\n", "only one line break is trimmed");
  t.equal(parseAuthtok(Buffer.from("pässwörd\0")), "pässwörd", "UTF-8");
  t.equal(parseAuthtok(Buffer.from("\0")), "", "pam_exec's blank password");
  t.equal(parseAuthtok(Buffer.alloc(0)), "", "no input (expose_authtok missing)");
  t.equal(parseAuthtok(Buffer.from("\n")), "", "a lone line break");
});

t.test("the tmpfs hand-over, in-process: root-only, one taker, nothing planted is read", async (t) => {
  if (!requireRoot(t)) return;
  // Not /tmp: the hand-over refuses a parent others may write (the sticky /tmp included).
  const base = mkdtempSync("/var/tmp/cas-handover-");
  chmodSync(base, 0o755);
  t.teardown(() => rmSync(base, { recursive: true, force: true }));
  const dir = join(base, "enroll");
  const now = Date.now();

  putHandover("alice", "hvs.ALICE", dir);
  t.equal(lstatSync(dir).mode & 0o777, 0o700, "the directory is 0700");
  t.equal(lstatSync(join(dir, "alice")).mode & 0o777, 0o600, "the copy 0600");
  t.same(readdirSync(dir), ["alice"], "no temp left");
  t.equal(takeHandover("alice", Date.now(), dir), "hvs.ALICE", "taken once");
  t.equal(takeHandover("alice", Date.now(), dir), undefined, "and gone");

  putHandover("bob", "hvs.BOB", dir);
  const old = (now - HANDOVER_MAX_AGE_MS - 60_000) / 1000;
  utimesSync(join(dir, "bob"), old, old);
  t.equal(takeHandover("bob", Date.now(), dir), undefined, "a stale copy is not used");
  t.notOk(existsSync(join(dir, "bob")), "and removed");

  for (const [what, plant] of [
    ["0644", (p: string) => writeFileSync(p, "hvs.PLANTED\n", { mode: 0o644 })],
    [
      "owned by nobody",
      (p: string) => {
        writeFileSync(p, "hvs.PLANTED\n", { mode: 0o600 });
        chownSync(p, 65534, 65534);
      },
    ],
    ["a FIFO", (p: string) => spawnSync("mkfifo", ["-m", "600", p])],
    ["a link", (p: string) => symlinkSync(join(base, "bait"), p)],
  ] as const) {
    writeFileSync(join(base, "bait"), "hvs.BAIT\n", { mode: 0o600 });
    plant(join(dir, "carol"));
    const started = Date.now();
    t.equal(takeHandover("carol", Date.now(), dir), undefined, `${what}: not used`);
    t.ok(Date.now() - started < 1000, `${what}: no wait`);
    t.notOk(lstatSync(join(dir, "carol"), { throwIfNoEntry: false }), `${what}: removed`);
    t.equal(readFileSync(join(base, "bait"), "utf8"), "hvs.BAIT\n", `${what}: nothing through it`);
  }

  // A directory others may list: the session step does not read from it...
  chmodSync(dir, 0o755);
  writeFileSync(join(dir, "frank"), "hvs.FRANK\n", { mode: 0o600 });
  t.equal(takeHandover("frank", Date.now(), dir), undefined, "a 0755 directory is not read");
  t.ok(existsSync(join(dir, "frank")), "(and left alone)");
  // ...and the auth step makes it root-only again (it used to write a copy there no one would take).
  putHandover("dave", "hvs.DAVE", dir);
  t.equal(lstatSync(dir).mode & 0o777, 0o700, "a 0755 directory is made 0700 by the next copy");
  t.equal(takeHandover("dave", Date.now(), dir), "hvs.DAVE", "which the session step then takes");
  rmSync(join(dir, "frank"));
  // A directory root does not own, or a link in its place: no copy goes there, none is read from it.
  chownSync(dir, 65534, 65534);
  t.throws(() => putHandover("gina", "hvs.GINA", dir), /owned by uid 65534/, "a directory root does not own");
  t.notOk(existsSync(join(dir, "gina")), "nothing written into it");
  writeFileSync(join(dir, "frank"), "hvs.FRANK\n", { mode: 0o600 });
  t.equal(takeHandover("frank", Date.now(), dir), undefined, "nor read from it");
  chownSync(dir, 0, 0);
  rmSync(dir, { recursive: true });
  symlinkSync(base, dir);
  t.throws(() => putHandover("hank", "hvs.HANK", dir), /not a plain directory/, "a link as the directory");
  t.notOk(existsSync(join(base, "hank")), "nothing written through it");
});

function requireTools(t: Test): boolean {
  if (!requireRoot(t)) return false;
  for (const tool of [PAMTESTER, STRACE]) {
    if (existsSync(tool)) continue;
    const why = `SKIPPED: ${tool} is missing (apt-get install ${tool.split("/").pop()})`;
    if (process.env.CI === "true") t.fail(`${why}; CI must provide it`);
    else t.plan(0, why);
    return false;
  }
  return true;
}

const password = (tag: string) => `Pw${tag}${randomBytes(9).toString("hex")}`;

interface Site {
  vault: VaultStandIn;
  config: string;
  /** The config's directory (the test's /tmp scratch: config.env, the host token, its login cache). */
  configDir: string;
  metricsDir: string;
  /** Root-only file pam_exec's log= appends our stdout/stderr to. */
  log: string;
  /** A PAM service name in /etc/pam.d. */
  service: string;
  hostToken: string;
  /** The user login method and its mount. */
  method: "userpass" | "ldap";
  mount: string;
}

/**
 * A Vault stand-in with a userpass mount (mount name = the method, the config's default) whose users
 * get `claude-user`, the runbook's templated policy, and 72h periodic tokens; a host token whose only
 * policy reaches no user's document; a config in `user` identity mode; a PAM service.
 */
async function site(
  t: Test,
  options: {
    mkhomedir?: boolean;
    method?: "userpass" | "ldap";
    mount?: string;
    noHostToken?: boolean;
    /** CLAUDE_AUTH_SYNC_PAM_STRICT=1 and `required` on our auth line. */
    strict?: boolean;
  } = {},
): Promise<Site> {
  const method = options.method ?? "userpass";
  const mount = options.mount ?? method;
  const vault = await startVaultStandIn();
  t.teardown(() => vault.close());
  const enable = await vaultApi(vault.addr, vault.rootToken, "POST", `sys/auth/${mount}`, { type: method });
  t.ok(enable.status < 300, `${method} enabled at ${mount}`);
  const mounts = await vaultApi(vault.addr, vault.rootToken, "GET", "sys/auth");
  const accessor = String(
    (mounts.body?.data as Record<string, { accessor?: string }> | undefined)?.[`${mount}/`]?.accessor,
  );
  await putPolicy(vault.addr, vault.rootToken, "claude-user", userPolicy(accessor));
  if (method === "ldap") {
    // LDAP users carry no token settings: the mount's config gives every login the per-user policy.
    const configured = await vaultApi(vault.addr, vault.rootToken, "POST", `auth/${mount}/config`, {
      url: "ldap://127.0.0.1:1",
      token_policies: ["claude-user"],
      token_period: "72h",
    });
    t.ok(configured.status < 300, "ldap configured");
  }
  await putPolicy(
    vault.addr,
    vault.rootToken,
    "host-nothing",
    'path "secret/data/elsewhere/*" { capabilities = ["read"] }\n',
  );
  const hostToken = await createToken(vault.addr, vault.rootToken, ["host-nothing"]);
  const metricsDir = mkdtempSync("/var/tmp/cas-auth-metrics-");
  chmodSync(metricsDir, 0o755);
  t.teardown(() => rmSync(metricsDir, { recursive: true, force: true }));
  const config = makeConfig(
    t,
    {
      VAULT_ADDR: vault.addr,
      CLAUDE_AUTH_SYNC_IDENTITY: "user",
      CLAUDE_AUTH_SYNC_USER_AUTH: method,
      ...(mount === method ? {} : { CLAUDE_AUTH_SYNC_USER_AUTH_MOUNT: mount }),
      CLAUDE_AUTH_SYNC_TIMEOUT_MS: String(BUDGET_MS),
      CLAUDE_AUTH_SYNC_METRICS_DIR: metricsDir,
      CLAUDE_AUTH_SYNC_SERVICE_ENV_DIR: join(metricsDir, "service-env"),
      ...(options.strict ? { CLAUDE_AUTH_SYNC_PAM_STRICT: "1" } : {}),
    },
    options.noHostToken ? undefined : hostToken,
  );
  const logDir = mkdtempSync("/var/tmp/cas-auth-pamlog-");
  t.teardown(() => rmSync(logDir, { recursive: true, force: true }));
  const log = join(logDir, "pam_exec.log");
  const service = `cas-auth-${randomBytes(4).toString("hex")}`;
  const line = (type: string) =>
    `pam_exec.so ${type === "auth" ? "expose_authtok " : ""}type=${type} quiet log=${log} ${BINARY} pam --config ${config.path}`;
  writeFileSync(
    `/etc/pam.d/${service}`,
    [
      "auth required pam_unix.so nodelay",
      `auth ${options.strict ? "required" : "optional"} ${line("auth")}`,
      "account required pam_permit.so",
      ...(options.mkhomedir ? ["session required pam_mkhomedir.so skel=/etc/skel umask=0077"] : []),
      `session optional ${line("open_session")}`,
      "",
    ].join("\n"),
  );
  t.teardown(() => rmSync(`/etc/pam.d/${service}`, { force: true }));
  return {
    vault,
    config: config.path,
    configDir: config.dir,
    metricsDir,
    log,
    service,
    hostToken,
    method,
    mount,
  };
}

/** A real user with a /etc/shadow password and (unless `vaultPassword` is null) the same Vault login. */
async function loginUser(
  t: Test,
  s: Site,
  options: { noHome?: boolean; vaultPassword?: string | null; password?: string } = {},
): Promise<TestUser & { password: string }> {
  let user: TestUser;
  if (options.noHome) {
    const name = `casa${randomBytes(3).toString("hex")}`;
    execFileSync("useradd", ["-M", "--shell", "/bin/bash", name], { stdio: "pipe" });
    t.teardown(() => {
      try {
        execFileSync("userdel", ["--remove", "--force", name], { stdio: "pipe" });
      } catch {}
      rmSync(`/home/${name}`, { recursive: true, force: true });
      rmSync(join(HANDOVER_DIR, name), { force: true });
    });
    const entry = execFileSync("getent", ["passwd", name]).toString().trim().split(":");
    user = { name, uid: Number(entry[2]), gid: Number(entry[3]), home: entry[5] ?? `/home/${name}` };
  } else {
    user = createTestUser(t, "casa");
    t.teardown(() => rmSync(join(HANDOVER_DIR, user.name), { force: true }));
  }
  const pw = options.password ?? password("U");
  execFileSync("chpasswd", { input: `${user.name}:${pw}\n` });
  if (options.vaultPassword !== null && s.method === "ldap") {
    s.vault.setLdapPassword(s.mount, user.name, options.vaultPassword ?? pw);
  } else if (options.vaultPassword !== null) {
    const created = await vaultApi(
      s.vault.addr,
      s.vault.rootToken,
      "POST",
      `auth/userpass/users/${user.name}`,
      {
        password: options.vaultPassword ?? pw,
        token_policies: ["claude-user"],
        token_period: "72h",
      },
    );
    t.ok(created.status < 300, `userpass user ${user.name}`);
  }
  return { ...user, password: pw };
}

interface PamRun {
  status: number | null;
  ms: number;
  output: string;
}

/**
 * pamtester with the password on its standard input (misc_conv reads it there), with no NODE_OPTIONS
 * (tap's), optionally under strace writing to `traceFile`.
 */
function pamtester(
  service: string,
  user: string,
  operations: string[],
  input: string,
  traceFile?: string,
): Promise<PamRun> {
  const started = Date.now();
  const command = [PAMTESTER, "-v", service, user, ...operations];
  const argv = traceFile
    ? [
        STRACE,
        ...["-f", "-qq", "-v", "-yy", "-s", "4096", "-o", traceFile],
        ...["-e", "trace=execve,openat,write,writev,pwrite64,sendto,sendmsg,connect"],
        ...command,
      ]
    : command;
  return new Promise((resolve, reject) => {
    const child = spawn("/usr/bin/env", ["-u", "NODE_OPTIONS", ...argv], {
      env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin" },
      stdio: ["pipe", "pipe", "pipe"],
      cwd: "/",
    });
    let output = "";
    child.stdout.on("data", (c: Buffer) => {
      output += c.toString();
    });
    child.stderr.on("data", (c: Buffer) => {
      output += c.toString();
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
    child.on("error", reject);
    child.on("close", (status) => {
      clearTimeout(timer);
      resolve({ status, ms: Date.now() - started, output });
    });
    child.stdin.on("error", () => undefined);
    // One line per password prompt an operation may make.
    child.stdin.end(`${input}\n`);
  });
}

const tokenPath = (user: TestUser) => join(user.home, ...TOKEN_DIR, "vault-token");
const envPath = (user: TestUser) => join(user.home, ...TOKEN_DIR, "claude-oauth.env");
const logOf = (s: Site) => (existsSync(s.log) ? readFileSync(s.log, "utf8") : "");
const logins = (s: Site, user: string) =>
  s.vault.countRequests({ method: "POST", pathPrefix: `auth/${s.mount}/login/${user}` });

/** Every file below `root` (not following links): path -> mode, owner, content (links: their target). */
function tree(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (dir: string) => {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      return;
    }
    for (const name of names) {
      const path = join(dir, name);
      const stat = lstatSync(path, { throwIfNoEntry: false });
      if (!stat) continue;
      const head = `${(stat.mode & 0o7777).toString(8)} ${stat.uid}`;
      if (stat.isSymbolicLink()) out[path] = `${head} -> link`;
      else if (stat.isDirectory()) {
        out[`${path}/`] = head;
        walk(path);
      } else if (stat.isFile()) out[path] = `${head} ${readFileSync(path, "utf8")}`;
      else out[path] = `${head} special`;
    }
  };
  if (existsSync(root)) walk(root);
  return out;
}

for (const login of [
  { method: "userpass", mount: "userpass" },
  // No host token at all in the config: the session needs none.
  { method: "ldap", mount: "ldap-claude", noHostToken: true },
  // What people type: spaces, quotes, a backslash, non-ASCII; JSON-escaped on the way to Vault.
  { method: "userpass", mount: "userpass", password: `a b"c\\d'é€ ${randomBytes(3).toString("hex")}` },
] as const) {
  t.test(
    `a password login enrolls (${login.method} at auth/${login.mount}${"noHostToken" in login ? ", no host token" : ""}${"password" in login ? ", a password with spaces, quotes, UTF-8" : ""}): the user's vault-token (0600, theirs) holds a token of their entity, and the session syncs with it`,
    async (t) => {
      if (!requireTools(t)) return;
      const s = await site(t, login);
      const user = await loginUser(t, s);
      const token = setupToken("P");
      await writeDoc(s.vault.addr, s.vault.rootToken, user.name, {
        setup_token: token,
        vaultwarden_token: "vw",
      });
      s.vault.clearRequests();
      const run = await pamtester(s.service, user.name, ["authenticate", "open_session"], user.password);
      const log = logOf(s);
      t.equal(run.status, 0, "authenticated, session opened", { output: run.output, log });
      t.match(log, /via=pam-auth user=\S+ enrolled: stored the login's Vault token/, "the auth step says so");
      const stat = lstatSync(tokenPath(user));
      t.ok(stat.isFile(), "vault-token is a regular file");
      t.equal(stat.mode & 0o777, 0o600, "0600");
      t.equal(stat.uid, user.uid, "owned by the user");
      t.equal(stat.gid, user.gid);
      t.equal(statSync(join(user.home, ...TOKEN_DIR)).mode & 0o777, 0o700, "its directory 0700");
      const enrolled = readFileSync(tokenPath(user), "utf8").trim();
      t.not(enrolled, s.hostToken, "not the host's token");
      const self = await vaultApi(s.vault.addr, enrolled, "GET", "auth/token/lookup-self");
      t.equal(self.status, 200, "the stand-in knows the token");
      const data = self.body?.data as Record<string, unknown>;
      t.equal(data.path, `auth/${login.mount}/login/${user.name}`, "from the user's own login");
      t.equal(data.period, 259200, "a periodic token");
      t.ok(typeof data.entity_id === "string" && data.entity_id !== "", "with an entity");
      const entity = await vaultApi(s.vault.addr, enrolled, "GET", `identity/entity/id/${data.entity_id}`);
      t.match((entity.body?.data as { aliases?: unknown[] } | undefined)?.aliases?.[0], { name: user.name });
      t.equal(logins(s, user.name), 1, "one login");
      t.equal(
        readFileSync(envPath(user), "utf8"),
        `CLAUDE_CODE_OAUTH_TOKEN=${token}\n`,
        "the session synced",
      );
      const accessor = s.vault.accessorOf(enrolled);
      const reads = s.vault.requests.filter((r) => r.logicalPath.startsWith("secret/data/"));
      t.ok(reads.length > 0, "the session read the document");
      t.same(
        reads.filter((r) => r.tokenAccessor !== accessor),
        [],
        "every document request used the user's token, none the host's",
      );
      t.notOk(existsSync(join(HANDOVER_DIR, user.name)), "nothing held on tmpfs");
      t.notMatch(run.output + log, user.password, "the password is in no output");
      t.notMatch(run.output + log, enrolled, "nor the token");
    },
  );
}

t.test(
  "no home at the password step: the token waits root-only in /run/claude-auth-sync/enroll/<user>, the session (after pam_mkhomedir) stores it and drops the copy",
  async (t) => {
    if (!requireTools(t)) return;
    const s = await site(t, { mkhomedir: true });
    const user = await loginUser(t, s, { noHome: true });
    const token = setupToken("M");
    await writeDoc(s.vault.addr, s.vault.rootToken, user.name, { setup_token: token });
    t.notOk(existsSync(user.home), "no home yet");
    const auth = await pamtester(s.service, user.name, ["authenticate"], user.password);
    t.equal(auth.status, 0, "authenticated", { output: auth.output, log: logOf(s) });
    t.match(logOf(s), /via=pam-auth user=\S+ enrolled: the token waits root-only on tmpfs/);
    t.notOk(existsSync(user.home), "the auth step made no home");
    const held = join(HANDOVER_DIR, user.name);
    const stat = lstatSync(held, { throwIfNoEntry: false });
    t.ok(stat?.isFile(), "held on tmpfs");
    t.equal(stat?.uid, 0, "owned by root");
    t.equal((stat?.mode ?? 0) & 0o777, 0o600, "0600");
    const dir = lstatSync(HANDOVER_DIR);
    t.equal(dir.uid, 0, "the hand-over directory is root's");
    t.equal(dir.mode & 0o077, 0, "and closed to others");
    const heldToken = readFileSync(held, "utf8").trim();
    t.equal((await vaultApi(s.vault.addr, heldToken, "GET", "auth/token/lookup-self")).status, 200);

    const session = await pamtester(s.service, user.name, ["open_session"], "");
    const log = logOf(s);
    t.equal(session.status, 0, "session opened", { output: session.output, log });
    t.ok(existsSync(user.home), "pam_mkhomedir made the home");
    t.notOk(existsSync(held), "the tmpfs copy is gone");
    const stored = lstatSync(tokenPath(user));
    t.equal(stored.uid, user.uid, "stored as the user");
    t.equal(stored.mode & 0o777, 0o600);
    t.equal(readFileSync(tokenPath(user), "utf8").trim(), heldToken, "the held token");
    t.match(log, /enrolled: stored the token of the password login/);
    t.equal(readFileSync(envPath(user), "utf8"), `CLAUDE_CODE_OAUTH_TOKEN=${token}\n`, "and synced with it");
  },
);

t.test("a refused password changes nothing and leaves PAM's verdict alone", async (t) => {
  if (!requireTools(t)) return;
  const s = await site(t);
  const user = await loginUser(t, s, { vaultPassword: password("V") });
  const before = tree(user.home);

  // Wrong for both pam_unix and Vault: authentication fails (pam_unix's verdict), we still ran.
  s.vault.clearRequests();
  const wrong = await pamtester(s.service, user.name, ["authenticate"], password("W"));
  t.not(wrong.status, 0, "pam_unix refuses", { output: wrong.output });
  t.equal(logins(s, user.name), 1, "the auth line ran and Vault refused its login");
  t.match(logOf(s), /not enrolled, nothing changed/);
  t.same(tree(user.home), before, "the home is unchanged");
  t.notOk(existsSync(join(HANDOVER_DIR, user.name)), "nothing held");

  // Right for PAM, wrong for Vault: authentication succeeds; nothing is stored.
  const differs = await pamtester(s.service, user.name, ["authenticate"], user.password);
  t.equal(differs.status, 0, "PAM accepts", { output: differs.output, log: logOf(s) });
  t.equal(logins(s, user.name), 2, "Vault refused a second login");
  t.same(tree(user.home), before, "the home is unchanged");
  t.notOk(existsSync(join(HANDOVER_DIR, user.name)), "nothing held");
  t.equal(s.vault.countRequests({ pathPrefix: "secret/" }), 0, "no document request");
  t.notMatch(logOf(s) + wrong.output + differs.output, user.password, "no password in what was logged");

  // A system account (below CLAUDE_AUTH_SYNC_MIN_UID): our line reads nothing, asks Vault nothing.
  s.vault.clearRequests();
  const system = await pamtester(s.service, "daemon", ["authenticate"], password("D"));
  t.not(system.status, 0, "daemon has no password: pam_unix refuses");
  t.equal(s.vault.requests.length, 0, "no Vault request for a system account");
});

t.test(
  "Vault down or hanging: the authentication is unaffected, returns within the budget, changes nothing",
  async (t) => {
    if (!requireTools(t)) return;
    const s = await site(t);
    const user = await loginUser(t, s);
    const before = tree(user.home);

    s.vault.inject({ kind: "hang", pathPrefix: "auth/userpass/login/" });
    const hung = await pamtester(s.service, user.name, ["authenticate"], user.password);
    t.equal(hung.status, 0, "authenticated with Vault hanging", { output: hung.output, log: logOf(s) });
    t.ok(hung.ms < BUDGET_MS + MARGIN_MS, `bounded: ${hung.ms} ms < ${BUDGET_MS} + ${MARGIN_MS}`);
    t.equal(logins(s, user.name), 1, "the login hung at the stand-in");
    t.same(tree(user.home), before, "the home is unchanged");
    t.notOk(existsSync(join(HANDOVER_DIR, user.name)));
    s.vault.clearFaults();

    // Down: a port nothing listens on (the stand-in's, closed).
    await s.vault.close();
    const down = await pamtester(s.service, user.name, ["authenticate"], user.password);
    t.equal(down.status, 0, "authenticated with Vault down", { output: down.output, log: logOf(s) });
    t.ok(down.ms < BUDGET_MS + MARGIN_MS, `bounded: ${down.ms} ms`);
    t.same(tree(user.home), before, "the home is unchanged");
    t.notOk(existsSync(join(HANDOVER_DIR, user.name)));
    t.match(logOf(s), /not enrolled, nothing changed/);
  },
);

t.test(
  "already enrolled: no Vault login at the next password login; a token a run saw refused logs in again",
  async (t) => {
    if (!requireTools(t)) return;
    const s = await site(t);
    const user = await loginUser(t, s);
    await writeDoc(s.vault.addr, s.vault.rootToken, user.name, { setup_token: setupToken("E") });
    t.equal(
      (await pamtester(s.service, user.name, ["authenticate", "open_session"], user.password)).status,
      0,
    );
    const first = readFileSync(tokenPath(user), "utf8");
    t.equal(logins(s, user.name), 1, "enrolled with one login");
    s.vault.clearRequests();
    const again = await pamtester(s.service, user.name, ["authenticate"], user.password);
    t.equal(again.status, 0);
    t.equal(s.vault.requests.length, 0, "no Vault request at all", { requests: s.vault.requests });
    t.equal(readFileSync(tokenPath(user), "utf8"), first, "the token is kept");
    t.match(logOf(s), /already enrolled: no login needed/);

    // A run that found the token invalid says so in state.json: the next password login replaces it.
    const state = join(user.home, ...TOKEN_DIR, "state.json");
    const parsed = existsSync(state) ? JSON.parse(readFileSync(state, "utf8")) : {};
    parsed.identity = { valid: false, expiresAt: null, checkedAt: new Date().toISOString() };
    writeFileSync(state, `${JSON.stringify(parsed)}\n`, { mode: 0o600 });
    chownSync(state, user.uid, user.gid);
    const renewed = await pamtester(s.service, user.name, ["authenticate"], user.password);
    t.equal(renewed.status, 0);
    t.equal(logins(s, user.name), 1, "a fresh login");
    const second = readFileSync(tokenPath(user), "utf8");
    t.not(second, first, "a new token stored");

    // One whose known expiry has passed: the same.
    parsed.identity = { valid: true, expiresAt: Date.now() - 60_000, checkedAt: new Date().toISOString() };
    writeFileSync(state, `${JSON.stringify(parsed)}\n`, { mode: 0o600 });
    t.equal((await pamtester(s.service, user.name, ["authenticate"], user.password)).status, 0);
    t.equal(logins(s, user.name), 2, "an expired token: a fresh login");
    t.not(readFileSync(tokenPath(user), "utf8"), second, "a new token stored");
  },
);

t.test(
  "CLAUDE_AUTH_SYNC_PAM_STRICT=1 with `auth required` on our line: a down Vault or a refused Vault password never fails the authentication",
  async (t) => {
    if (!requireTools(t)) return;
    const s = await site(t, { strict: true });
    const refused = await loginUser(t, s, { vaultPassword: password("X") });
    const run = await pamtester(s.service, refused.name, ["authenticate"], refused.password);
    t.equal(run.status, 0, "Vault refuses the password: authenticated", {
      output: run.output,
      log: logOf(s),
    });
    t.notOk(existsSync(tokenPath(refused)));
    const user = await loginUser(t, s);
    await s.vault.close();
    const down = await pamtester(s.service, user.name, ["authenticate"], user.password);
    t.equal(down.status, 0, "Vault down: authenticated", { output: down.output, log: logOf(s) });
    t.notOk(existsSync(tokenPath(user)));
    const wrong = await pamtester(s.service, user.name, ["authenticate"], password("W"));
    t.not(wrong.status, 0, "and a wrong password still fails (pam_unix decides)");
  },
);

/** strace -yy's fd annotation of a write-like call: the fd's kind and, for TCP, the peer port. */
function fdOf(line: string): { fd: string; what: string } | undefined {
  const m =
    /\b(?:write|writev|pwrite64|sendto|sendmsg)\((\d+)(?:<((?:TCP|UDP|UNIX)[^[]*\[[^\]]*\]|[^>]*)>)?/.exec(
      line,
    );
  if (!m) return undefined;
  return { fd: m[1] ?? "", what: m[2] ?? "" };
}

t.test(
  "the password reaches Vault's socket and nothing else: no argv, environment, file, log, syslog or pipe of ours",
  async (t) => {
    if (!requireTools(t)) return;
    const s = await site(t);
    const user = await loginUser(t, s);
    await writeDoc(s.vault.addr, s.vault.rootToken, user.name, { setup_token: setupToken("S") });
    const port = new URL(s.vault.addr).port;
    const traceDir = mkdtempSync("/var/tmp/cas-auth-trace-");
    t.teardown(() => rmSync(traceDir, { recursive: true, force: true }));
    const traceFile = join(traceDir, "trace");
    const started = Date.now();
    const run = await pamtester(
      s.service,
      user.name,
      ["authenticate", "open_session"],
      user.password,
      traceFile,
    );
    t.equal(run.status, 0, "authenticated under strace", { output: run.output, log: logOf(s) });
    t.ok(existsSync(tokenPath(user)), "and enrolled");
    const trace = readFileSync(traceFile, "utf8").split("\n");
    const pw = user.password;
    const pamtesterPid = /^(\d+)\s/.exec(trace.find((l) => l.includes(`execve("${PAMTESTER}"`)) ?? "")?.[1];
    t.ok(pamtesterPid, "the trace starts at pamtester");
    const binaryPids = new Set(
      trace.filter((l) => l.includes(`execve("${BINARY}"`)).map((l) => /^(\d+)\s/.exec(l)?.[1]),
    );
    t.ok(binaryPids.size >= 2, "the trace saw the auth and the session runs of the binary");
    const toVault: string[] = [];
    const handedOver: string[] = [];
    const elsewhere: string[] = [];
    for (const line of trace) {
      if (!line.includes(pw)) continue;
      const pid = /^(\d+)\s/.exec(line)?.[1];
      const fd = fdOf(line);
      if (fd && new RegExp(`^TCP:\\[[^\\]]*->127\\.0\\.0\\.1:${port}\\]$`).test(fd.what)) toVault.push(line);
      else if (
        fd &&
        pid === pamtesterPid &&
        /^pipe:/.test(fd.what) &&
        (line.includes(`"${pw}"`) || line.includes(`"${pw}\\0"`))
      )
        handedOver.push(line); // pam_exec (inside pamtester) feeding our standard input
      else elsewhere.push(line);
    }
    t.ok(handedOver.length === 1, "pam_exec handed the password over once, on our stdin pipe", {
      handedOver,
    });
    t.ok(toVault.length >= 1, "the password went to Vault's socket (the login body)");
    t.ok(
      toVault.every((l) => l.includes(`/v1/auth/userpass/login/${user.name}`) || l.includes('"password"')),
      "as the login request",
      { toVault },
    );
    t.same(elsewhere, [], "in no other syscall traced: execve argv/env, files, stderr, syslog, pipes");
    t.ok(
      trace.some((l) => l.includes("execve(") && l.includes("/usr/bin/logger")),
      "syslog's logger ran under the trace (its stdin and socket were checked)",
    );

    // And at rest: nowhere on disk the run could have written (in the shared /tmp and /var/tmp: the
    // files changed since it started).
    const scan = (needle: string, dir: string, depth: number, since: number, found: string[]) => {
      let names: string[];
      try {
        names = readdirSync(dir);
      } catch {
        return;
      }
      for (const name of names) {
        const path = join(dir, name);
        if (path === traceDir) continue; // strace's own record of pam_exec's hand-over
        const stat = lstatSync(path, { throwIfNoEntry: false });
        if (!stat) continue;
        if (stat.isDirectory() && depth < 8) scan(needle, path, depth + 1, since, found);
        else if (stat.isFile() && stat.mtimeMs >= since && readFileSync(path).includes(needle))
          found.push(path);
      }
    };
    const everywhere = (needle: string) => {
      const found: string[] = [];
      for (const place of [user.home, "/run/claude-auth-sync", s.configDir, s.metricsDir, dirname(s.log)])
        scan(needle, place, 0, 0, found);
      for (const shared of ["/tmp", "/var/tmp"]) scan(needle, shared, 0, started - 2000, found);
      return found;
    };
    const found = everywhere(pw);
    const token = readFileSync(tokenPath(user), "utf8").trim();
    t.same(
      everywhere(token),
      [tokenPath(user)],
      "(the scan finds what is there: the token, in vault-token only)",
    );
    t.same(found, [], "the password is in no file");
    t.notMatch(logOf(s), pw, "nor in our stderr (pam_exec log=)");
    t.notMatch(run.output, pw, "nor in pamtester's output");
  },
);

t.test("a planted vault-token link is replaced, never followed; its target is untouched", async (t) => {
  if (!requireTools(t)) return;
  const s = await site(t);
  const victim = await loginUser(t, s);
  // The victim's own enrolled token file, which an attacker points at.
  t.equal((await pamtester(s.service, victim.name, ["authenticate"], victim.password)).status, 0);
  const victimToken = readFileSync(tokenPath(victim), "utf8");
  const victimStat = statSync(tokenPath(victim));
  // A root-only file nothing else touches (parallel tests change /etc/shadow through useradd/chpasswd).
  const decoyDir = mkdtempSync("/var/tmp/cas-auth-decoy-");
  t.teardown(() => rmSync(decoyDir, { recursive: true, force: true }));
  const decoy = join(decoyDir, "root-secret");
  writeFileSync(decoy, "root:secret\n", { mode: 0o600 });
  const decoyStat = statSync(decoy);
  const shadowStat = statSync("/etc/shadow");
  const stored: string[] = [];
  for (const target of ["/etc/shadow", decoy, tokenPath(victim)]) {
    const attacker = await loginUser(t, s);
    const dir = join(attacker.home, ...TOKEN_DIR);
    execFileSync("runuser", ["-u", attacker.name, "--", "mkdir", "-p", "-m", "700", dir]);
    execFileSync("runuser", ["-u", attacker.name, "--", "ln", "-s", target, join(dir, "vault-token")]);
    const run = await pamtester(s.service, attacker.name, ["authenticate"], attacker.password);
    t.equal(run.status, 0, `${target}: authenticated`, { output: run.output, log: logOf(s) });
    const now = lstatSync(tokenPath(attacker));
    t.ok(
      now.isFile() && !now.isSymbolicLink(),
      `${target}: the link was replaced by the attacker's own file`,
    );
    t.equal(now.uid, attacker.uid);
    const token = readFileSync(tokenPath(attacker), "utf8").trim();
    t.equal((await vaultApi(s.vault.addr, token, "GET", "auth/token/lookup-self")).status, 200);
    stored.push(token);
  }
  // The token's directory itself a link to the victim's, and the token file a FIFO: refused, unblocked.
  const linked = await loginUser(t, s);
  execFileSync("runuser", [
    "-u",
    linked.name,
    "--",
    "mkdir",
    "-p",
    "-m",
    "700",
    join(linked.home, ".config"),
  ]);
  execFileSync("runuser", [
    ...["-u", linked.name, "--", "ln", "-s", join(victim.home, ...TOKEN_DIR)],
    join(linked.home, ...TOKEN_DIR),
  ]);
  const viaDir = await pamtester(s.service, linked.name, ["authenticate"], linked.password);
  t.equal(viaDir.status, 0, "a linked token directory: authenticated");
  t.match(
    logOf(s),
    new RegExp(`user=${linked.name} not enrolled, nothing changed: .*symbolic link`),
    "and refused",
  );
  t.ok(lstatSync(join(linked.home, ...TOKEN_DIR)).isSymbolicLink(), "the link is left as it was");
  t.equal(logins(s, linked.name), 1, "(Vault had issued a token)");
  t.same(
    await liveLoginTokens(s.vault.addr, s.vault.rootToken, `auth/${s.mount}/login/${linked.name}`),
    [],
    "the token it could not store was revoked, not left alive in Vault",
  );
  const fifo = await loginUser(t, s);
  execFileSync("runuser", ["-u", fifo.name, "--", "mkdir", "-p", "-m", "700", join(fifo.home, ...TOKEN_DIR)]);
  execFileSync("runuser", ["-u", fifo.name, "--", "mkfifo", "-m", "600", tokenPath(fifo)]);
  const viaFifo = await pamtester(s.service, fifo.name, ["authenticate"], fifo.password);
  t.equal(viaFifo.status, 0, "a FIFO as vault-token: authenticated");
  t.ok(viaFifo.ms < BUDGET_MS + MARGIN_MS, `not blocked on it: ${viaFifo.ms} ms`);
  t.ok(lstatSync(tokenPath(fifo)).isFile(), "replaced by the user's token file");
  const shadow = readFileSync("/etc/shadow", "utf8");
  t.ok(
    stored.every((token) => !shadow.includes(token)),
    "/etc/shadow holds none of the tokens written",
  );
  t.equal(statSync("/etc/shadow").uid, 0, "/etc/shadow still root's");
  t.equal(statSync("/etc/shadow").mode, shadowStat.mode, "with its mode");
  t.equal(readFileSync(decoy, "utf8"), "root:secret\n", "a root-only file untouched");
  t.equal(statSync(decoy).mtimeMs, decoyStat.mtimeMs);
  t.equal(readFileSync(tokenPath(victim), "utf8"), victimToken, "the other user's token untouched");
  t.equal(statSync(tokenPath(victim)).mtimeMs, victimStat.mtimeMs);
  t.equal(statSync(tokenPath(victim)).uid, victim.uid);
});

t.test(
  "a planted hand-over copy (a link, or a file the user owns) is removed unread, never stored",
  async (t) => {
    if (!requireTools(t)) return;
    const s = await site(t);
    mkdirSync(HANDOVER_DIR, { recursive: true, mode: 0o700 });
    const bait = mkdtempSync("/var/tmp/cas-auth-bait-");
    t.teardown(() => rmSync(bait, { recursive: true, force: true }));
    const baitFile = join(bait, "token");
    // A token that works: if it were ever read, the user would be enrolled with it.
    const baitToken = await createToken(s.vault.addr, s.vault.rootToken, ["claude-user"]);
    writeFileSync(baitFile, `${baitToken}\n`, { mode: 0o600 });
    for (const kind of ["link", "user-owned"] as const) {
      const user = await loginUser(t, s);
      const held = join(HANDOVER_DIR, user.name);
      if (kind === "link") symlinkSync(baitFile, held);
      else {
        writeFileSync(held, `${baitToken}\n`, { mode: 0o600 });
        chownSync(held, user.uid, user.gid);
      }
      const session = await pamtester(s.service, user.name, ["open_session"], "");
      t.equal(session.status, 0, `${kind}: the session opens`, { output: session.output, log: logOf(s) });
      t.notOk(existsSync(tokenPath(user)), `${kind}: nothing enrolled`);
      t.notOk(lstatSync(held, { throwIfNoEntry: false }), `${kind}: the planted copy is removed`);
      t.equal(readFileSync(baitFile, "utf8"), `${baitToken}\n`, `${kind}: its target untouched`);
      t.match(
        logOf(s),
        new RegExp(`via=pam user=${user.name} .*vault_requests=0`),
        `${kind}: the session ran unenrolled, with no Vault request`,
      );
    }
  },
);
