// A real directory for tests: OpenLDAP's slapd with posixAccount users and passwords, on a random loopback
// port with a generated config in a temp dir; nslcd (libnss-ldapd) pointed at it, and /etc/nsswitch.conf
// switched to `files ldap` for passwd/group/shadow, so the workstation resolves the users ONLY through NSS
// (they are never in /etc/passwd) and pam_ldap.so (libpam-ldapd) checks their passwords against slapd.
// Plus the Vault side: an LDAP auth mount on a real Vault (bootstrap.ts) against the same slapd, issuing
// periodic tokens with the templated per-user policy.
//
// It changes machine-wide files (/etc/nslcd.conf, /etc/nsswitch.conf, /etc/pam.d/<service>): every change
// is registered for restoration before it is made; close() restores them exactly (content, mode, owner),
// also when the start failed half way or the process is terminated, and is idempotent.
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import { freePort, userPolicy, vaultApi } from "../helpers/vault-api.js";
import type { RealVault } from "./bootstrap.js";

const run = promisify(execFile);

export const NSSWITCH = "/etc/nsswitch.conf";
export const NSLCD_CONF = "/etc/nslcd.conf";
export const PAMTESTER = "/usr/bin/pamtester";
/** The lowest uid of a directory user; pam_ldap's and the product's minimum_uid. */
export const MIN_UID = 20000;

/** What must be installed, and a file each package provides (checked before anything is changed). */
const REQUIRED: [pkg: string, file: string][] = [
  ["slapd", "/usr/sbin/slapd"],
  ["slapd", "/usr/sbin/slappasswd"],
  ["ldap-utils", "/usr/bin/ldapadd"],
  ["nslcd", "/usr/sbin/nslcd"],
  ["libnss-ldapd", "/lib/x86_64-linux-gnu/libnss_ldap.so.2"],
  ["libpam-ldapd", "/lib/x86_64-linux-gnu/security/pam_ldap.so"],
  ["pamtester", PAMTESTER],
];

export interface DirectoryUser {
  name: string;
  password: string;
  uid: number;
  gid: number;
  dn: string;
  /** /home/<name>: does not exist when the user is made; removed at close. */
  home: string;
}

export interface Directory {
  /** ldap://127.0.0.1:PORT/ */
  url: string;
  baseDn: string;
  peopleDn: string;
  groupsDn: string;
  /** A read-only account for searches (Vault's binddn). */
  reader: { dn: string; password: string };
  users: DirectoryUser[];
  /** Adds a posixAccount user (and its private posixGroup) and waits until NSS resolves it. */
  addUser(): Promise<DirectoryUser>;
  /** Writes /etc/pam.d/<unique name> with these lines; removed at close (or earlier by `remove`). */
  pamService(lines: string[]): { name: string; path: string; remove(): void };
  /** How long the start took, per step (ms). */
  timings: Record<string, number>;
  /** nslcd's and slapd's logs so far (for failure messages). */
  logs(): string;
  close(): Promise<void>;
}

export interface DirectoryOptions {
  /** Users made at start (default 2). */
  users?: number;
}

function missingPackages(): string[] {
  const missing = new Set<string>();
  for (const [pkg, file] of REQUIRED) if (!existsSync(file)) missing.add(pkg);
  return [...missing];
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A file's exact state, to put back: its bytes, mode and owner (or that it did not exist). */
interface Saved {
  path: string;
  content: Buffer | undefined;
  mode: number;
  uid: number;
  gid: number;
}

function save(path: string): Saved {
  if (!existsSync(path)) return { path, content: undefined, mode: 0o644, uid: 0, gid: 0 };
  const st = statSync(path);
  return { path, content: readFileSync(path), mode: st.mode & 0o7777, uid: st.uid, gid: st.gid };
}

/** Replaces a file atomically (temp file in the same directory, then rename): readers never see half of it. */
function replaceFile(path: string, content: string | Buffer, mode: number, uid: number, gid: number) {
  const temp = join(dirname(path), `.${path.split("/").at(-1)}.cas-${randomBytes(4).toString("hex")}`);
  writeFileSync(temp, content, { mode });
  chmodSync(temp, mode);
  chownSync(temp, uid, gid);
  try {
    renameSync(temp, path);
  } catch {
    // A bind-mounted file (containers) cannot be replaced by rename: write it in place instead.
    rmSync(temp, { force: true });
    writeFileSync(path, content);
    chmodSync(path, mode);
    chownSync(path, uid, gid);
  }
}

function restore(saved: Saved) {
  if (saved.content === undefined) rmSync(saved.path, { force: true });
  else replaceFile(saved.path, saved.content, saved.mode, saved.uid, saved.gid);
}

function kill(child: ChildProcess | undefined, graceMs = 3000): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
    child.once("exit", () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill("SIGTERM");
  });
}

async function hash(password: string): Promise<string> {
  const { stdout } = await run("/usr/sbin/slappasswd", ["-h", "{SSHA}", "-s", password], {
    encoding: "utf8",
  });
  return stdout.trim();
}

/** ldapadd with an LDIF file, bound as the directory's root DN (its password in a 0600 file, -y). */
function ldapadd(url: string, rootDn: string, rootPwFile: string, ldif: string) {
  return run("/usr/bin/ldapadd", ["-x", "-H", url, "-D", rootDn, "-y", rootPwFile, "-f", ldif], {
    encoding: "utf8",
  }).catch((error: { code?: number; stdout?: string; stderr?: string }) => {
    throw new Error(`ldapadd -f ${ldif}: exit ${error.code}: ${error.stderr ?? ""}${error.stdout ?? ""}`);
  });
}

async function getentPasswd(name: string): Promise<string | undefined> {
  try {
    const { stdout } = await run("/usr/bin/getent", ["passwd", name], { encoding: "utf8" });
    return stdout.trim();
  } catch {
    return undefined;
  }
}

/** Users' names must not exist anywhere else: cas-ldap-<random>. */
function freshName(): string {
  return `cas-ldap-${randomBytes(4).toString("hex")}`;
}

/** Starts slapd + nslcd and switches NSS to `files ldap`. Throws (never skips) when something is missing. */
export async function startDirectory(options: DirectoryOptions = {}): Promise<Directory> {
  const missing = missingPackages();
  if (missing.length)
    throw new Error(
      `the real directory needs Debian packages that are not installed: ${missing.join(", ")} ` +
        `(echo "slapd slapd/no_configuration boolean true" | debconf-set-selections; ` +
        `apt-get install -y --no-install-recommends ${missing.join(" ")})`,
    );
  if (process.getuid?.() !== 0)
    throw new Error("the real directory writes /etc/nslcd.conf and /etc/nsswitch.conf: it needs root");
  const nslcdRunning = await run("/usr/sbin/nslcd", ["-c"]).then(
    () => true,
    () => false,
  );
  if (nslcdRunning)
    throw new Error("an nslcd is already running on this machine (nslcd -c): refusing to replace its config");

  const started = Date.now();
  const timings: Record<string, number> = {};
  const mark = (step: string, since: number) => {
    timings[step] = Date.now() - since;
  };
  const dir = mkdtempSync(join(tmpdir(), "cas-directory-"));
  const suffix = randomBytes(3).toString("hex");
  const baseDn = "dc=cas,dc=test";
  const peopleDn = `ou=people,${baseDn}`;
  const groupsDn = `ou=groups,${baseDn}`;
  const rootDn = `cn=admin,${baseDn}`;
  const rootPw = randomBytes(12).toString("base64url");
  const rootPwFile = join(dir, "rootpw");
  // -y reads the file whole: no newline.
  writeFileSync(rootPwFile, rootPw, { mode: 0o600 });
  const reader = { dn: `cn=reader-${suffix},${baseDn}`, password: randomBytes(12).toString("base64url") };
  const users: DirectoryUser[] = [];
  const homes = new Set<string>();
  const pamFiles = new Set<string>();
  const savedFiles: Saved[] = [];
  let slapd: ChildProcess | undefined;
  let nslcd: ChildProcess | undefined;
  let url = "";
  const slapdLog = join(dir, "slapd.log");
  const nslcdLog = join(dir, "nslcd.log");
  const logs = () =>
    [slapdLog, nslcdLog]
      .filter((f) => existsSync(f))
      .map((f) => `--- ${f}\n${readFileSync(f, "utf8").split("\n").slice(-60).join("\n")}`)
      .join("\n");

  // Everything close() must undo, in the order it undoes it: NSS first (no new lookups go to ldap), then
  // the files, then the daemons, then what was made on disk.
  const restoreFiles = () => {
    for (const path of pamFiles) rmSync(path, { force: true });
    pamFiles.clear();
    while (savedFiles.length) {
      const saved = savedFiles.pop() as Saved;
      try {
        restore(saved);
      } catch (error) {
        console.error(`directory: could not restore ${saved.path}: ${(error as Error).message}`);
      }
    }
  };
  // Terminated (tap's timeout) or exiting without close(): the same undoing, synchronously.
  const undoNow = () => {
    restoreFiles();
    nslcd?.kill("SIGKILL");
    slapd?.kill("SIGKILL");
    for (const home of homes) rmSync(home, { recursive: true, force: true });
    rmSync(dir, { recursive: true, force: true });
  };
  const onSignal = (signal: NodeJS.Signals) => {
    undoNow();
    process.kill(process.pid, signal);
  };
  const onExit = () => undoNow();
  process.once("SIGTERM", onSignal);
  process.once("SIGINT", onSignal);
  process.once("exit", onExit);
  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      restoreFiles();
      await kill(nslcd);
      await kill(slapd);
      process.removeListener("SIGTERM", onSignal);
      process.removeListener("SIGINT", onSignal);
      process.removeListener("exit", onExit);
      for (const home of homes) rmSync(home, { recursive: true, force: true });
      rmSync(dir, { recursive: true, force: true });
    })();
    return closing;
  };

  const usedUids = new Set(
    readFileSync("/etc/passwd", "utf8")
      .split("\n")
      .map((line) => Number(line.split(":")[2])),
  );
  // Below 65534 (nobody), spread so that runs do not reuse each other's numbers.
  let nextUid = MIN_UID + 1000 + (randomBytes(2).readUInt16BE() % 4000) * 10;

  const addUser = async (): Promise<DirectoryUser> => {
    while (usedUids.has(nextUid)) nextUid++;
    const uid = nextUid++;
    usedUids.add(uid);
    const name = freshName();
    const password = `pw-${randomBytes(12).toString("base64url")}`;
    const home = `/home/${name}`;
    if (existsSync(home)) throw new Error(`${home} exists already`);
    homes.add(home);
    const dn = `uid=${name},${peopleDn}`;
    const ldif = join(dir, `${name}.ldif`);
    writeFileSync(
      ldif,
      [
        `dn: ${dn}`,
        "objectClass: inetOrgPerson",
        "objectClass: posixAccount",
        "objectClass: shadowAccount",
        `uid: ${name}`,
        `cn: ${name}`,
        `sn: ${name}`,
        `uidNumber: ${uid}`,
        `gidNumber: ${uid}`,
        `homeDirectory: ${home}`,
        "loginShell: /bin/bash",
        `userPassword: ${await hash(password)}`,
        "",
        `dn: cn=${name},${groupsDn}`,
        "objectClass: posixGroup",
        `cn: ${name}`,
        `gidNumber: ${uid}`,
        `memberUid: ${name}`,
        "",
      ].join("\n"),
    );
    await ldapadd(url, rootDn, rootPwFile, ldif);
    const user = { name, password, uid, gid: uid, dn, home };
    users.push(user);
    if (nslcd) await waitForNss(user);
    return user;
  };

  const waitForNss = async (user: DirectoryUser) => {
    const until = Date.now() + 15_000;
    let last: string | undefined;
    while (Date.now() < until) {
      if (nslcd && nslcd.exitCode !== null) throw new Error(`nslcd exited ${nslcd.exitCode}:\n${logs()}`);
      last = await getentPasswd(user.name);
      if (last?.split(":")[2] === String(user.uid)) return;
      await sleep(50);
    }
    throw new Error(`getent passwd ${user.name} did not resolve through nslcd (last: ${last}):\n${logs()}`);
  };

  const pamService = (lines: string[]) => {
    const name = `cas-ldap-${randomBytes(4).toString("hex")}`;
    const path = `/etc/pam.d/${name}`;
    pamFiles.add(path);
    writeFileSync(path, `${lines.join("\n")}\n`, { mode: 0o644 });
    return {
      name,
      path,
      remove: () => {
        rmSync(path, { force: true });
        pamFiles.delete(path);
      },
    };
  };

  try {
    // slapd: a generated slapd.conf (mdb database in the temp dir), the machine's schemas.
    let since = Date.now();
    const db = join(dir, "db");
    mkdirSync(db, { mode: 0o700 });
    const conf = join(dir, "slapd.conf");
    writeFileSync(
      conf,
      [
        "include /etc/ldap/schema/core.schema",
        "include /etc/ldap/schema/cosine.schema",
        "include /etc/ldap/schema/nis.schema",
        "include /etc/ldap/schema/inetorgperson.schema",
        `pidfile ${join(dir, "slapd.pid")}`,
        `argsfile ${join(dir, "slapd.args")}`,
        "modulepath /usr/lib/ldap",
        "moduleload back_mdb",
        "database mdb",
        "maxsize 33554432",
        `suffix "${baseDn}"`,
        `rootdn "${rootDn}"`,
        `rootpw ${await hash(rootPw)}`,
        `directory ${db}`,
        // Passwords: checked by binding, never read (anonymous included); everything else is readable.
        "access to attrs=userPassword by self write by anonymous auth by * none",
        "access to * by * read",
        "",
      ].join("\n"),
      { mode: 0o600 },
    );
    for (let attempt = 1; ; attempt++) {
      const port = await freePort();
      url = `ldap://127.0.0.1:${port}/`;
      const log = openSync(slapdLog, "a");
      // -d 0: stays in the foreground (a child this process can kill), logs nothing but errors.
      const child = spawn("/usr/sbin/slapd", ["-f", conf, "-h", url, "-d", "0"], {
        stdio: ["ignore", log, log],
      });
      slapd = child;
      const until = Date.now() + 10_000;
      let up = false;
      while (Date.now() < until && child.exitCode === null) {
        if (await canConnect(port)) {
          up = true;
          break;
        }
        await sleep(20);
      }
      if (up) break;
      await kill(child, 500);
      if (attempt >= 3) throw new Error(`slapd did not start on ${url}:\n${logs()}`);
    }
    mark("slapd", since);

    since = Date.now();
    const base = join(dir, "base.ldif");
    writeFileSync(
      base,
      [
        `dn: ${baseDn}`,
        "objectClass: dcObject",
        "objectClass: organization",
        "o: claude-auth-sync tests",
        "dc: cas",
        "",
        `dn: ${peopleDn}`,
        "objectClass: organizationalUnit",
        "ou: people",
        "",
        `dn: ${groupsDn}`,
        "objectClass: organizationalUnit",
        "ou: groups",
        "",
        `dn: ${reader.dn}`,
        "objectClass: organizationalRole",
        "objectClass: simpleSecurityObject",
        `cn: reader-${suffix}`,
        `userPassword: ${await hash(reader.password)}`,
        "",
      ].join("\n"),
    );
    await ldapadd(url, rootDn, rootPwFile, base);
    for (let i = 0; i < (options.users ?? 2); i++) await addUser();
    mark("entries", since);

    // nslcd: /etc/nslcd.conf (saved first), its run directory, then the daemon in the foreground.
    since = Date.now();
    const nslcdConf = save(NSLCD_CONF);
    savedFiles.push(nslcdConf);
    replaceFile(
      NSLCD_CONF,
      [
        "# Written by claude-auth-sync's tests (test/vault-real/directory.ts); the original is restored at close.",
        "uid nslcd",
        "gid nslcd",
        `uri ${url}`,
        `base ${baseDn}`,
        `base passwd ${peopleDn}`,
        `base shadow ${peopleDn}`,
        `base group ${groupsDn}`,
        `nss_min_uid ${MIN_UID}`,
        "reconnect_retrytime 1",
        "",
      ].join("\n"),
      0o640,
      0,
      nslcdConf.content === undefined ? 0 : nslcdConf.gid,
    );
    const nslcdUser = (await run("/usr/bin/getent", ["passwd", "nslcd"], { encoding: "utf8" })).stdout.split(
      ":",
    );
    mkdirSync("/run/nslcd", { recursive: true, mode: 0o755 });
    chownSync("/run/nslcd", Number(nslcdUser[2]), Number(nslcdUser[3]));
    const log = openSync(nslcdLog, "a");
    // -d: foreground, with debugging (every lookup and PAM request) in the log the failure messages quote.
    nslcd = spawn("/usr/sbin/nslcd", ["-d"], { stdio: ["ignore", log, log] });
    const until = Date.now() + 10_000;
    while (!existsSync("/run/nslcd/socket")) {
      if (nslcd.exitCode !== null) throw new Error(`nslcd exited ${nslcd.exitCode}:\n${logs()}`);
      if (Date.now() > until) throw new Error(`nslcd made no socket in 10 s:\n${logs()}`);
      await sleep(20);
    }
    mark("nslcd", since);

    // NSS: passwd/group/shadow through `files ldap` (saved first; every other line kept as it was).
    since = Date.now();
    const nsswitch = save(NSSWITCH);
    savedFiles.push(nsswitch);
    const original = nsswitch.content?.toString("utf8") ?? "";
    let switched = original;
    for (const db of ["passwd", "group", "shadow"]) {
      const line = new RegExp(`^${db}:.*$`, "m");
      switched = line.test(switched)
        ? switched.replace(line, `${db}:${" ".repeat(16 - db.length - 1)}files ldap`)
        : `${switched}${db}: files ldap\n`;
    }
    replaceFile(NSSWITCH, switched, nsswitch.mode, nsswitch.uid, nsswitch.gid);
    for (const user of users) await waitForNss(user);
    mark("nss", since);
    timings.total = Date.now() - started;
  } catch (error) {
    const logText = logs();
    await close();
    const message = (error as Error).message;
    throw new Error(message.includes("--- ") ? message : `${message}\n${logText}`);
  }

  return {
    url,
    baseDn,
    peopleDn,
    groupsDn,
    reader,
    users,
    addUser,
    pamService,
    timings,
    logs,
    close,
  };
}

export interface LdapAuth {
  /** The mount path (`ldap`), as CLAUDE_AUTH_SYNC_USER_AUTH_MOUNT names it. */
  path: string;
  accessor: string;
  /** The templated per-user policy the mount's tokens carry. */
  policy: string;
}

async function must(vault: RealVault, method: string, path: string, body?: unknown) {
  const answer = await vaultApi(vault.addr, vault.rootToken, method, path, body);
  if (answer.status >= 300)
    throw new Error(
      `real Vault ldap setup: ${method} ${path}: HTTP ${answer.status} ${JSON.stringify(answer.body)}`,
    );
  return answer.body ?? {};
}

/**
 * Enables Vault's LDAP auth method at `path` against the directory, the way the runbook configures a
 * per-user login: userattr=uid under ou=people, groups from ou=groups, a read-only bind account for the
 * search, and `token_policies=<the templated per-user policy on this mount's accessor>`, `token_period=72h`.
 */
export async function enableLdapAuth(
  vault: RealVault,
  directory: Directory,
  path = "ldap",
): Promise<LdapAuth> {
  await must(vault, "POST", `sys/auth/${path}`, { type: "ldap" });
  const auths = (await must(vault, "GET", "sys/auth")).data as Record<string, { accessor: string }>;
  const accessor = auths[`${path}/`]?.accessor ?? "";
  if (!accessor) throw new Error(`real Vault ldap setup: no accessor for ${path}/`);
  const policy = `claude-user-${path}`;
  await must(vault, "PUT", `sys/policies/acl/${policy}`, { policy: userPolicy(accessor) });
  await must(vault, "POST", `auth/${path}/config`, {
    url: directory.url.replace(/\/$/, ""),
    userdn: directory.peopleDn,
    userattr: "uid",
    groupdn: directory.groupsDn,
    groupattr: "cn",
    groupfilter: "(&(objectClass=posixGroup)(memberUid={{.Username}}))",
    binddn: directory.reader.dn,
    bindpass: directory.reader.password,
    starttls: false,
    insecure_tls: false,
    token_policies: [policy],
    token_period: "72h",
  });
  return { path, accessor, policy };
}
