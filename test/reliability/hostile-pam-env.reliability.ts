// Section 8, hostile PAM environment: a user fills ~/.pam_environment with the variables that the
// loader, glibc, OpenSSL, libuv or Node read before our code, and logs in through real pamtester
// stacks with a real pam_env.so user_readenv=1 before and after our line. Traced with strace (every
// file syscall of every process under pamtester) plus a marker library whose constructor records
// any run as root: nothing may touch the user's chosen paths or run their code as root unless the
// stack itself hands the environment over first, which doctor then fails.
import { execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t, { type Test } from "tap";
import { BINARY, runBinary } from "../helpers/cli.js";
import { inParallel, PARALLEL, Tally } from "../helpers/reliability.js";
import { requireRoot } from "../helpers/users.js";
import { setupToken, type Workstation, workstation } from "../sync/fixture.js";

const PAMTESTER = "/usr/bin/pamtester";
const SHIPPED_LINE = readFileSync(new URL("../../hooks/pam/claude-auth", import.meta.url), "utf8")
  .split("\n")
  .find((line) => line.startsWith("session")) as string;
const USER_ENV = "session required pam_env.so user_readenv=1";
const TOKEN = setupToken("E");

interface Stack {
  name: string;
  /** The session rules, given our line (already pointed at the built binary and the test config). */
  rules(ours: string): string[];
  /** Does our binary see the user's environment (at open, or at close for the old line)? */
  handsOver: boolean;
  /** Does the sync at session open run with a clean environment (and so write the env file)? */
  syncsAtOpen: boolean;
  /** The doctor finding that must fail for this stack, if any. */
  doctorFails?: string;
}

const OLD_LINE = (ours: string) => ours.replace(" type=open_session", "");

const STACKS: Stack[] = [
  {
    name: "shipped line, then pam_env user_readenv=1 (Debian's sshd order)",
    rules: (ours) => [ours, USER_ENV],
    handsOver: false,
    syncsAtOpen: true,
  },
  {
    name: "pam_env user_readenv=1, then the shipped line",
    rules: (ours) => [USER_ENV, ours],
    handsOver: true,
    syncsAtOpen: false,
    doctorFails: "pam-user-env",
  },
  {
    name: "old line (no type=open_session), then pam_env user_readenv=1: the close_session run",
    rules: (ours) => [OLD_LINE(ours), USER_ENV],
    handsOver: true,
    syncsAtOpen: true,
    doctorFails: "pam-open-session",
  },
];

interface Variable {
  name: string;
  /** The value, given the user's hostile directory (owned by the user, holding evil.so). */
  value(dir: string): string;
  /** Read by the loader, glibc, OpenSSL or Node before claude-auth's first line runs. */
  beforeOurCode?: boolean;
}

// Every family the binary refuses, each with a value that would act if it were honoured.
const VARIABLES: Variable[] = [
  { name: "LD_PRELOAD", value: (dir) => `${dir}/evil.so`, beforeOurCode: true },
  { name: "LD_AUDIT", value: (dir) => `${dir}/evil.so`, beforeOurCode: true },
  { name: "LD_LIBRARY_PATH", value: (dir) => dir, beforeOurCode: true },
  { name: "LD_DEBUG_OUTPUT", value: (dir) => `${dir}/ld-debug` },
  { name: "GLIBC_TUNABLES", value: () => "glibc.malloc.check=3" },
  { name: "MALLOC_ARENA_MAX", value: () => "1" },
  { name: "OPENSSL_CONF", value: (dir) => `${dir}/openssl.cnf`, beforeOurCode: true },
  { name: "OPENSSL_MODULES", value: (dir) => dir },
  { name: "SSL_CERT_FILE", value: (dir) => `${dir}/ca.pem` },
  { name: "SSL_CERT_DIR", value: (dir) => dir },
  { name: "SSLKEYLOGFILE", value: (dir) => `${dir}/keylog` },
  { name: "NODE_V8_COVERAGE", value: (dir) => `${dir}/coverage` },
  { name: "NODE_OPTIONS", value: (dir) => `--require=${dir}/evil.js` },
  { name: "NODE_EXTRA_CA_CERTS", value: (dir) => `${dir}/ca.pem` },
  { name: "NODE_REDIRECT_WARNINGS", value: (dir) => `${dir}/warnings` },
  { name: "NODE_ICU_DATA", value: (dir) => dir, beforeOurCode: true },
  { name: "NODE_COMPILE_CACHE", value: (dir) => `${dir}/compile-cache`, beforeOurCode: true },
  { name: "NODE_DEBUG", value: () => "net,tls,http" },
  { name: "NODE_TLS_REJECT_UNAUTHORIZED", value: () => "0" },
  { name: "UV_THREADPOOL_SIZE", value: () => "1" },
  { name: "UV_USE_IO_URING", value: () => "1" },
  { name: "GCONV_PATH", value: (dir) => dir },
  { name: "LOCPATH", value: (dir) => dir },
  { name: "TMPDIR", value: (dir) => dir },
  { name: "TZDIR", value: (dir) => dir },
];

/** A shared library whose constructor leaves a file in a root-only directory: proof of a run. */
function markerLibrary(t: Test): { library: string; markers: string } {
  const dir = mkdtempSync(join(tmpdir(), "cas-pamenv-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const markers = join(dir, "markers");
  mkdirSync(markers, { mode: 0o700 });
  const source = join(dir, "marker.c");
  writeFileSync(
    source,
    [
      "#include <fcntl.h>",
      "#include <stdio.h>",
      "#include <unistd.h>",
      "__attribute__((constructor)) static void mark(void) {",
      "  char path[512];",
      `  snprintf(path, sizeof path, "%s/ran-euid%d-pid%d", "${markers}", (int)geteuid(), (int)getpid());`,
      "  int fd = open(path, O_WRONLY | O_CREAT, 0600);",
      "  if (fd >= 0) close(fd);",
      "}",
      "",
    ].join("\n"),
  );
  const library = join(dir, "marker.so");
  execFileSync("cc", ["-shared", "-fPIC", "-o", library, source]);
  return { library, markers };
}

/** The user's own directory of payloads: the library, an OpenSSL config loading it, a script. */
function plantPayloads(ws: Workstation, library: string): string {
  const dir = join(ws.user.home, "hostile");
  mkdirSync(dir, { recursive: true });
  const evil = join(dir, "evil.so");
  writeFileSync(evil, readFileSync(library));
  chmodSync(evil, 0o755);
  // Node reads the nodejs_conf section; plain OpenSSL reads openssl_conf. Both load the library.
  writeFileSync(
    join(dir, "openssl.cnf"),
    [
      "nodejs_conf = init",
      "openssl_conf = init",
      "[init]",
      "providers = providers",
      "[providers]",
      "evil = evil",
      "[evil]",
      `module = ${evil}`,
      "activate = 1",
      "",
    ].join("\n"),
  );
  writeFileSync(
    join(dir, "evil.js"),
    `require("fs").writeFileSync("${dir}/js-ran-as-" + process.geteuid(), "")\n`,
  );
  writeFileSync(join(dir, "ca.pem"), "not a certificate\n");
  execFileSync("chown", ["-R", `${ws.user.uid}:${ws.user.gid}`, dir]);
  return dir;
}

function writePamEnvironment(ws: Workstation, name: string, value: string): void {
  const file = join(ws.user.home, ".pam_environment");
  writeFileSync(file, `${name} DEFAULT=${value}\n`);
  execFileSync("chown", [`${ws.user.uid}:${ws.user.gid}`, file]);
}

interface Login {
  status: number | null;
  ms: number;
  /** File syscalls of any process under pamtester that name the user's hostile directory. */
  touched: string[];
  /** What pam_exec captured of our binary's output (log=). */
  log: string;
  /** Every process under pamtester (strace's pids): markers of other, parallel cases are not ours. */
  pids: Set<string>;
}

/** pamtester open_session + close_session on a throwaway service, traced with strace -f. */
async function login(t: Test, ws: Workstation, stack: Stack, hostileDir: string): Promise<Login> {
  const work = mkdtempSync(join(tmpdir(), "cas-pamenv-run-"));
  t.teardown(() => rmSync(work, { recursive: true, force: true }));
  const log = join(work, "pam.log");
  const ours = SHIPPED_LINE.replace("/usr/local/bin/claude-auth", BINARY)
    .replace("/etc/claude-auth-sync/config.env", ws.config)
    .replace(" quiet ", ` quiet log=${log} `);
  const service = `cas-pamenv-${randomBytes(4).toString("hex")}`;
  const servicePath = join("/etc/pam.d", service);
  writeFileSync(
    servicePath,
    ["auth required pam_permit.so", "account required pam_permit.so", ...stack.rules(ours), ""].join("\n"),
  );
  t.teardown(() => rmSync(servicePath, { force: true }));
  const trace = join(work, "trace");
  const started = Date.now();
  const status = await new Promise<number | null>((resolve, reject) => {
    const child = spawn(
      "strace",
      [
        "-f",
        "-qq",
        "-s",
        "4096",
        "-e",
        "trace=%file,execve",
        "-o",
        trace,
        "--",
        PAMTESTER,
        "-v",
        service,
        ws.user.name,
      ].concat(["open_session", "close_session"]),
      { stdio: "ignore" },
    );
    const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
  const lines = existsSync(trace) ? readFileSync(trace, "utf8").split("\n") : [];
  return {
    status,
    ms: Date.now() - started,
    touched: lines.filter((line) => line.includes(hostileDir)),
    log: existsSync(log) ? readFileSync(log, "utf8") : "",
    pids: new Set(lines.map((line) => line.split(" ", 1)[0] ?? "").filter((pid) => pid !== "")),
  };
}

/** The lines our binary wrote (ld.so and Node print their own complaints into the same log). */
const ourLines = (log: string) =>
  log
    .split("\n")
    .filter((line) => line.startsWith("claude-auth"))
    .join("\n");

/** doctor, as root, over the real /etc/pam.d holding the case's service file. */
async function doctorFinding(ws: Workstation, id: string, service: string): Promise<string | undefined> {
  const run = await runBinary(["doctor", "--json", "--config", ws.config]);
  const findings = JSON.parse(run.stdout || "{}").findings as {
    id: string;
    status: string;
    message: string;
  }[];
  return findings?.find((f) => f.id === id && f.status === "fail" && f.message.includes(service))?.message;
}

t.test("section 8: hostile PAM environment, real pamtester stacks, every loader variable", async (t) => {
  if (!requireRoot(t)) return;
  if (!existsSync(PAMTESTER)) {
    const why = `SKIPPED: ${PAMTESTER} is missing (apt-get install pamtester)`;
    if (process.env.CI === "true") t.fail(`${why}; CI must provide it`);
    else t.plan(0, why);
    return;
  }
  const { library, markers } = markerLibrary(t);
  const tally = new Tally("8. hostile PAM environment");
  const acted = new Map<string, Set<string>>();

  await inParallel(VARIABLES, PARALLEL, async (variable) => {
    const ws = await workstation(t, { CLAUDE_AUTH_SYNC_TIMEOUT_MS: "3000" });
    await ws.seed({ setup_token: TOKEN });
    const dir = plantPayloads(ws, library);
    writePamEnvironment(ws, variable.name, variable.value(dir));
    for (const stack of STACKS) {
      rmSync(ws.envFile, { force: true });
      const run = await login(t, ws, stack, dir);
      const ranAsRoot = readdirSync(markers).filter(
        (m) => m.startsWith("ran-euid0-") && run.pids.has(m.slice(m.lastIndexOf("-pid") + 4)),
      );
      const jsRan = readdirSync(dir).filter((name) => name.startsWith("js-ran-as-"));
      const actedAsRoot = run.touched.length > 0 || ranAsRoot.length > 0 || jsRan.length > 0;
      if (actedAsRoot) {
        const set = acted.get(stack.name) ?? new Set();
        set.add(variable.name);
        acted.set(stack.name, set);
      }
      const refused = run.log.includes(`refused: the PAM environment sets ${variable.name}`);
      const synced = existsSync(ws.envFile);
      // Only a stack that hands the environment over may let the loader act, and only for the
      // variables read before our code; everything else acts on nothing the user chose.
      // Those may also kill Node before our first line (OpenSSL's config), so neither the refusal
      // nor the phase's success is ours to promise there: doctor fails such a stack instead.
      const allowedToAct = stack.handsOver && variable.beforeOurCode === true;
      const value = variable.value(dir);
      const expectations: [boolean, string][] = [
        [run.status === 0 || allowedToAct, `the login succeeds (pamtester exit ${run.status})`],
        [actedAsRoot === allowedToAct, `acted as root: ${actedAsRoot}, expected ${allowedToAct}`],
        [
          refused === stack.handsOver || allowedToAct,
          `refusal logged: ${refused}, expected ${stack.handsOver}`,
        ],
        [synced === stack.syncsAtOpen, `env file written: ${synced}, expected ${stack.syncsAtOpen}`],
        [!ourLines(run.log).includes(value) || !value.includes("/"), "our log line never shows the value"],
      ];
      const failed = expectations.filter(([held]) => !held).map(([, what]) => what);
      t.same(failed, [], `${stack.name} / ${variable.name}`, {
        touched: run.touched.slice(0, 5),
        ranAsRoot,
        log: run.log,
      });
      tally.record(stack.name, {
        survived: failed.length === 0,
        lost: actedAsRoot && !allowedToAct,
        note: failed.length ? `${variable.name}: ${failed.join(", ")}` : undefined,
      });
    }
  });

  // A stack that hands the environment over is what doctor fails, naming the file.
  const ws = await workstation(t);
  for (const stack of STACKS.filter((s) => s.doctorFails)) {
    const ours = SHIPPED_LINE.replace("/usr/local/bin/claude-auth", BINARY).replace(
      "/etc/claude-auth-sync/config.env",
      ws.config,
    );
    const service = `cas-pamenv-doctor-${randomBytes(4).toString("hex")}`;
    writeFileSync(join("/etc/pam.d", service), [...stack.rules(ours), ""].join("\n"));
    t.teardown(() => rmSync(join("/etc/pam.d", service), { force: true }));
    const message = await doctorFinding(ws, stack.doctorFails as string, service);
    t.ok(message, `doctor fails "${stack.name}" (${stack.doctorFails}), naming ${service}`);
    tally.record(`doctor fails: ${stack.name}`, { survived: message !== undefined });
  }
  for (const stack of STACKS) {
    const names = [...(acted.get(stack.name) ?? [])].sort();
    tally.note(
      stack.name,
      names.length ? `acted before our code: ${names.join(", ")}` : "nothing acted as root",
    );
  }
  tally.print(t);
  t.equal(tally.totals().lost, 0, "nothing ran or was touched as root that the binary could stop");
});
