// A real directory (issue 14, "Real parts in the tests"): slapd with test users and passwords; the
// workstation resolving them ONLY through NSS (nslcd, `files ldap`; never in /etc/passwd); a real PAM
// password login (pamtester, pam_ldap.so); Vault's LDAP auth method on a real Vault 1.19 against the same
// slapd; and the product's enrollment at login: the password from PAM's auth step becomes the user's own
// periodic Vault token in ~/.config/claude-auth-sync/vault-token, and the seeded setup token reaches the
// user's env file at open_session. No skip: a missing package or daemon is a failure naming it.
import { spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import t, { type Test } from "tap";
import { BINARY, makeConfig } from "../helpers/cli.js";
import { documentPath, vaultApi, writeDoc } from "../helpers/vault-api.js";
import { setupToken } from "../sync/fixture.js";
import { describe, startRealVault } from "./bootstrap.js";
import {
  type Directory,
  type DirectoryUser,
  enableLdapAuth,
  type LdapAuth,
  MIN_UID,
  PAMTESTER,
  startDirectory,
} from "./directory.js";
import { counting } from "./report.js";

const ENROLL_DIR = "/run/claude-auth-sync/enroll";
const fileStarted = Date.now();

const vault = await startRealVault();
t.teardown(() => vault.close());
t.comment(`real Vault server: ${describe(vault)}`);
const suite = counting(t, "directory", vault);

let directory: Directory | undefined;
let ldap: LdapAuth | undefined;
let startError: Error | undefined;
const directoryStarted = Date.now();
try {
  directory = await startDirectory({ users: 2 });
  t.teardown(() => directory?.close());
  ldap = await enableLdapAuth(vault, directory);
} catch (error) {
  startError = error as Error;
}
const startMs = Date.now() - directoryStarted;

/** pamtester with the password on stdin, without the NODE_OPTIONS tap injects (pam_exec passes it on). */
function pamtester(
  service: string,
  user: string,
  password: string,
  operations: string[],
  timeoutMs = 60_000,
): Promise<{ status: number | null; output: string; ms: number }> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(
      "/usr/bin/env",
      ["-u", "NODE_OPTIONS", PAMTESTER, "-v", service, user, ...operations],
      {
        stdio: ["pipe", "pipe", "pipe"],
      },
    );
    let output = "";
    child.stdout.on("data", (c: Buffer) => {
      output += c.toString();
    });
    child.stderr.on("data", (c: Buffer) => {
      output += c.toString();
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("error", reject);
    child.on("close", (status) => {
      clearTimeout(timer);
      resolve({ status, output, ms: Date.now() - started });
    });
    child.stdin.end(`${password}\n`);
  });
}

/** The password part of the auth stack: pam_ldap.so decides, nothing else can let a user in. */
const PASSWORD_STACK = [
  `auth [success=1 default=ignore] pam_ldap.so minimum_uid=${MIN_UID}`,
  "auth requisite pam_deny.so",
  "auth required pam_permit.so",
];

function service(t: Test, dir: Directory, lines: string[]) {
  const made = dir.pamService(lines);
  t.teardown(made.remove);
  return made.name;
}

async function login(user: DirectoryUser, password = user.password) {
  return vaultApi(vault.addr, undefined, "POST", `auth/${ldap?.path}/login/${user.name}`, { password });
}

/** Entries under the enrollment directory that belong to this user (by name or by owner). */
function enrollLeftovers(user: DirectoryUser): string[] {
  if (!existsSync(ENROLL_DIR)) return [];
  const found: string[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      const mine =
        entry.name.includes(user.name) ||
        entry.name.includes(String(user.uid)) ||
        statSync(path).uid === user.uid;
      if (mine) found.push(path);
      if (entry.isDirectory()) walk(path);
    }
  };
  walk(ENROLL_DIR);
  return found;
}

await suite.test(
  "the directory starts: slapd, nslcd, NSS through `files ldap`, Vault's ldap mount",
  async (t) => {
    if (startError || !directory || !ldap) {
      t.fail(`the real directory did not start: ${startError?.message}`);
      return;
    }
    t.comment(`directory up in ${startMs} ms: ${JSON.stringify(directory.timings)}; ${directory.url}`);
    t.ok(directory.users.length >= 2, "two users made");
    t.match(readFileSync("/etc/nsswitch.conf", "utf8"), /^passwd:\s+files ldap$/m, "passwd: files ldap");
    t.ok(ldap.accessor.startsWith("auth_ldap_"), `the ldap mount's accessor (${ldap.accessor})`);
  },
);

if (directory && ldap) {
  const dir = directory;
  const mount = ldap;
  const [alice, bob] = dir.users as [DirectoryUser, DirectoryUser];

  await suite.test("a directory user resolves through NSS and is absent from /etc/passwd", async (t) => {
    const entry = await new Promise<string>((resolve) => {
      const child = spawn("/usr/bin/getent", ["passwd", alice.name], { stdio: ["ignore", "pipe", "ignore"] });
      let out = "";
      child.stdout.on("data", (c: Buffer) => {
        out += c.toString();
      });
      child.on("close", () => resolve(out.trim()));
    });
    t.equal(
      entry,
      `${alice.name}:x:${alice.uid}:${alice.gid}:${alice.name}:${alice.home}:/bin/bash`,
      "getent passwd",
    );
    t.ok(alice.uid >= MIN_UID, `uid ${alice.uid} >= ${MIN_UID}`);
    const passwd = readFileSync("/etc/passwd", "utf8");
    t.notOk(
      passwd.split("\n").some((line) => line.startsWith(`${alice.name}:`)),
      "no /etc/passwd line for the user",
    );
    t.notOk(
      passwd.split("\n").some((line) => line.split(":")[2] === String(alice.uid)),
      "nor for the uid",
    );
    t.notOk(existsSync(alice.home), "the home directory does not exist yet");
  });

  await suite.test(
    "pamtester with pam_ldap.so: the right password authenticates, a wrong one does not",
    async (t) => {
      const name = service(t, dir, PASSWORD_STACK);
      const right = await pamtester(name, alice.name, alice.password, ["authenticate"]);
      t.equal(right.status, 0, "right password: exit 0", { output: right.output, logs: dir.logs() });
      t.match(right.output, /successfully authenticated/);
      const wrong = await pamtester(name, alice.name, `${alice.password}x`, ["authenticate"]);
      t.not(wrong.status, 0, "wrong password: refused", { output: wrong.output });
      t.match(wrong.output, /Authentication failure/);
      const other = await pamtester(name, alice.name, bob.password, ["authenticate"]);
      t.not(other.status, 0, "another user's password: refused", { output: other.output });
    },
  );

  await suite.test(
    "Vault LDAP login: a periodic token with the user's entity, own document only",
    async (t) => {
      const answer = await login(alice);
      t.equal(answer.status, 200, "login: 200", { body: answer.body });
      const token = (answer.body?.auth as { client_token?: string } | undefined)?.client_token ?? "";
      t.ok(token, "a client token");
      const self = await vaultApi(vault.addr, token, "GET", "auth/token/lookup-self");
      const data = self.body?.data as
        | {
            period?: number;
            entity_id?: string;
            policies?: string[];
            path?: string;
            meta?: Record<string, string>;
          }
        | undefined;
      t.equal(data?.period, 259200, "period 72h");
      t.ok(data?.entity_id, `entity_id non-empty (${data?.entity_id})`);
      t.ok(data?.policies?.includes(mount.policy), `carries ${mount.policy}`, { policies: data?.policies });
      t.equal(data?.path, `auth/${mount.path}/login/${alice.name}`);

      const own = documentPath(alice.name);
      const write = await vaultApi(vault.addr, token, "POST", own, { data: { probe: "ldap" } });
      t.equal(write.status, 200, "writes its own document", { body: write.body });
      const read = await vaultApi(vault.addr, token, "GET", own);
      t.equal(read.status, 200, "reads its own document");
      t.equal((read.body?.data as { data?: { probe?: string } } | undefined)?.data?.probe, "ldap");

      const theirs = documentPath(bob.name);
      t.equal((await vaultApi(vault.addr, token, "GET", theirs)).status, 403, "another user's: read 403");
      t.equal(
        (await vaultApi(vault.addr, token, "POST", theirs, { data: { probe: "x" } })).status,
        403,
        "another user's: write 403",
      );

      const wrong = await login(alice, `${alice.password}x`);
      t.not(wrong.status, 200, `a wrong password: no token (HTTP ${wrong.status})`);
      t.notOk((wrong.body?.auth as { client_token?: string } | null | undefined)?.client_token);
    },
  );

  await suite.test(
    "a PAM password login enrolls: the user's own Vault token and the seeded setup token in the new home",
    async (t) => {
      const carol = await dir.addUser();
      const dave = await dir.addUser();
      const config = makeConfig(t, {
        VAULT_ADDR: vault.addr,
        CLAUDE_AUTH_SYNC_IDENTITY: "user",
        CLAUDE_AUTH_SYNC_USER_AUTH: "ldap",
        CLAUDE_AUTH_SYNC_USER_AUTH_MOUNT: mount.path,
        CLAUDE_AUTH_SYNC_MIN_UID: String(MIN_UID),
        CLAUDE_AUTH_SYNC_TIMEOUT_MS: "5000",
      });
      t.notOk(config.tokenFile, "no host token at all");
      t.notOk(
        /TOKEN_FILE|VAULT_TOKEN/.test(readFileSync(config.path, "utf8")),
        "the config names no host token",
      );
      const token = setupToken("D");
      await writeDoc(vault.addr, vault.rootToken, carol.name, { setup_token: token });
      await writeDoc(vault.addr, vault.rootToken, dave.name, { setup_token: setupToken("W") });
      const hook = `${BINARY} pam --config ${config.path}`;
      const name = service(t, dir, [
        ...PASSWORD_STACK,
        `auth optional pam_exec.so expose_authtok type=auth quiet ${hook}`,
        "session required pam_mkhomedir.so skel=/etc/skel umask=0077",
        `session optional pam_exec.so type=open_session quiet ${hook}`,
      ]);

      const session = await pamtester(name, carol.name, carol.password, ["authenticate", "open_session"]);
      t.comment(`pamtester authenticate open_session: ${session.ms} ms`);
      t.equal(session.status, 0, "pamtester: exit 0", { output: session.output });
      t.match(session.output, /successfully authenticated/);
      t.ok(existsSync(carol.home), "pam_mkhomedir made the home");
      const stateDir = join(carol.home, ".config/claude-auth-sync");
      const vaultToken = join(stateDir, "vault-token");
      t.ok(existsSync(vaultToken), `${vaultToken} exists`, { output: session.output });
      if (existsSync(vaultToken)) {
        const st = statSync(vaultToken);
        t.equal(st.mode & 0o777, 0o600, "vault-token: mode 0600");
        t.equal(st.uid, carol.uid, "vault-token: owned by the LDAP user's uid");
        const own = readFileSync(vaultToken, "utf8").trim();
        const self = await vaultApi(vault.addr, own, "GET", "auth/token/lookup-self");
        const data = self.body?.data as { period?: number; entity_id?: string; path?: string } | undefined;
        t.equal(data?.path, `auth/${mount.path}/login/${carol.name}`, "the user's own ldap login token");
        t.equal(data?.period, 259200, "periodic, 72h");
      }
      const envFile = join(stateDir, "claude-oauth.env");
      t.equal(
        existsSync(envFile) ? readFileSync(envFile, "utf8") : "(missing)",
        `CLAUDE_CODE_OAUTH_TOKEN=${token}\n`,
        "claude-oauth.env holds the seeded setup token",
      );
      t.same(enrollLeftovers(carol), [], `nothing left under ${ENROLL_DIR} for the user`);

      const refused = await pamtester(name, dave.name, `${dave.password}x`, ["authenticate", "open_session"]);
      t.not(refused.status, 0, "a wrong password: pamtester fails", { output: refused.output });
      t.notOk(existsSync(dave.home), "a wrong password: no home");
      t.same(enrollLeftovers(dave), [], `a wrong password: nothing under ${ENROLL_DIR}`);
    },
  );
}

t.comment(`directory suite: ${((Date.now() - fileStarted) / 1000).toFixed(1)} s`);
