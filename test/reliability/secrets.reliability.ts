// Section 6, secret hygiene: every command runs with a known setup token under `strace -f`. The token
// may reach only the env file, t3-serve's root-owned copy, Vault and the API check — never argv or
// the environment of a process the tool starts, stdout/stderr, syslog (logger's stdin), metrics,
// notices, rc files, or any other file in the home, /tmp or /var/tmp. The env file and the copy are
// created 0600 by the open itself (O_CREAT with 0600), with no chmod-after-write window.
import { lstatSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { setupToken, tokenWorkstation } from "../commands/setup-token-fixture.js";
import { pathsChanged, runTraced, Tally, type TracedRun } from "../helpers/reliability.js";
import { requireRoot } from "../helpers/users.js";

const TOKEN_1 = setupToken("Z");
const TOKEN_2 = setupToken("Y");
const SYSCALLS =
  "execve,openat,open,creat,pipe,pipe2,socket,dup2,dup3,close,read,write,writev,pwrite64,chmod,fchmod,fchmodat,rename,renameat,renameat2";

/** Any 24-character window of a token: a token cut up or wrapped still counts. */
function containsToken(text: string): boolean {
  for (const token of [TOKEN_1, TOKEN_2]) {
    for (let i = 13; i + 24 <= token.length; i += 8) if (text.includes(token.slice(i, i + 24))) return true;
  }
  return false;
}

interface Finding {
  where: string;
  what: string;
}

/** Walks strace lines: fds per process, what each write carried, who exec'd with what. */
function analyse(
  run: TracedRun,
  allowedFiles: RegExp,
): { findings: Finding[]; creates: string[]; carried: number } {
  let carried = 0;
  const findings: Finding[] = [];
  const creates: string[] = [];
  const fdKind = new Map<string, string>(); // `${pid}:${fd}` -> "file:/path" | "pipe" | "socket"
  const threadGroup = new Map<string, string>(); // tid -> the first pid seen (node's threads share fds)
  const loggerPids = new Set<string>();
  let mainPid: string | undefined;
  for (const line of run.trace) {
    const pid = /^(\d+)\s/.exec(line)?.[1] ?? "?";
    mainPid ??= pid;
    const group = threadGroup.get(pid) ?? pid;
    const key = (fd: string) => `${group}:${fd}`;
    const exec = /execve\("([^"]+)", \[(.*?)\], (?:\[(.*)\]|0x[0-9a-f]+)/.exec(line);
    if (exec) {
      if (exec[1]?.endsWith("/logger")) loggerPids.add(pid);
      if (containsToken(exec[2] ?? "")) findings.push({ where: `argv of ${exec[1]}`, what: "token in argv" });
      if (pid !== mainPid && containsToken(exec[3] ?? ""))
        findings.push({ where: `environment of ${exec[1]}`, what: "token in a child's environment" });
      continue;
    }
    const open = /(?:openat|open)\((?:AT_FDCWD, )?"([^"]*)", ([A-Z_|]+)(?:, (0\d+))?\) = (\d+)/.exec(line);
    if (open) {
      fdKind.set(key(open[4] ?? ""), `file:${open[1]}`);
      if ((open[2] ?? "").includes("O_CREAT") && allowedFiles.test(open[1] ?? "")) {
        creates.push(`${open[1]} ${open[2]} ${open[3]}`);
        if (open[3] !== "0600") findings.push({ where: open[1] ?? "", what: `created with mode ${open[3]}` });
      }
      continue;
    }
    const pipe = /pipe2?\(\[(\d+), (\d+)\]/.exec(line);
    if (pipe) {
      fdKind.set(key(pipe[1] ?? ""), "pipe");
      fdKind.set(key(pipe[2] ?? ""), "pipe");
      continue;
    }
    const socket = /socket\(.*\) = (\d+)/.exec(line);
    if (socket) {
      fdKind.set(key(socket[1] ?? ""), "socket");
      continue;
    }
    const chmod = /(?:fchmodat|chmod)\((?:AT_FDCWD, )?"([^"]*)", (0\d+)/.exec(line);
    if (chmod && allowedFiles.test(chmod[1] ?? "") && chmod[2] !== "0600")
      findings.push({ where: chmod[1] ?? "", what: `chmod ${chmod[2]}` });
    const fchmod = /fchmod\((\d+), (0\d+)\)/.exec(line);
    if (fchmod && fchmod[2] !== "0600") {
      const kind = fdKind.get(key(fchmod[1] ?? "")) ?? "";
      if (allowedFiles.test(kind)) findings.push({ where: kind, what: `fchmod ${fchmod[2]}` });
    }
    const io = /\b(read|write|writev|pwrite64)\((\d+), (.*)/.exec(line);
    if (io && containsToken(io[3] ?? "")) {
      const [, call, fd] = io;
      if (call === "read") {
        if (loggerPids.has(pid))
          findings.push({ where: "logger's standard input", what: "token sent to syslog" });
        continue;
      }
      if (loggerPids.has(pid)) {
        findings.push({ where: "logger", what: "logger wrote the token" });
        continue;
      }
      const kind =
        fdKind.get(key(fd ?? "")) ??
        (fd === "1" || fd === "2" ? `std${fd === "1" ? "out" : "err"}` : "unknown");
      const ok = kind === "socket" || (kind.startsWith("file:") && allowedFiles.test(kind.slice(5)));
      if (!ok) findings.push({ where: kind, what: `${call} of the token to fd ${fd}` });
      else carried++;
    }
    // A new thread of a process shares its fds: clone(…CLONE_THREAD…) = tid.
    const clone = /clone3?\(.*CLONE_THREAD.*\) = (\d+)/.exec(line);
    if (clone?.[1]) threadGroup.set(clone[1], group);
  }
  return { findings, creates, carried };
}

/** Files (not links) below `dir` changed since `since`, up to a depth; skips huge and special files. */
function recentFiles(dir: string, since: number, depth = 4): string[] {
  const out: string[] = [];
  const walk = (d: string, level: number) => {
    let names: string[];
    try {
      names = readdirSync(d);
    } catch {
      return;
    }
    for (const name of names) {
      const path = join(d, name);
      let stat: ReturnType<typeof lstatSync>;
      try {
        stat = lstatSync(path);
      } catch {
        continue;
      }
      if (stat.isDirectory() && level < depth) walk(path, level + 1);
      else if (stat.isFile() && stat.size < 2 * 1024 * 1024 && stat.mtimeMs >= since - 1000) out.push(path);
    }
  };
  walk(dir, 0);
  return out;
}

t.test("the token reaches only the env file, t3-serve's copy, Vault and the API", async (t) => {
  if (!requireRoot(t)) return;
  const tally = new Tally("6. secret hygiene");
  const started = Date.now();
  const ws = await tokenWorkstation(t, { CLAUDE_AUTH_SYNC_TIMEOUT_MS: "5000" });
  await ws.seed({ vaultwarden_token: "vw" });
  const name = ws.user.name;
  const allowedFiles = new RegExp(
    `^(${ws.envFile}|${ws.serviceEnvFile}|${ws.user.home}/\\.config/claude-auth-sync/\\.claude-oauth\\.env\\.tmp-[^/]+|${ws.serviceEnvFile}\\.tmp-\\d+)$`,
  );
  const user = ["--user", name, "--config", ws.config];
  const commands: Array<{ label: string; args: string[]; stdin?: string; env?: Record<string, string> }> = [
    { label: "enable (token on stdin, live check)", args: ["enable", ...user], stdin: `${TOKEN_1}\n` },
    { label: "sync", args: ["sync", ...user] },
    { label: "sync --json", args: ["sync", ...user, "--json"] },
    { label: "sync --dry-run", args: ["sync", ...user, "--dry-run"] },
    {
      label: "pam (login hook, syslog line)",
      args: ["pam", "--config", ws.config],
      env: { PAM_TYPE: "open_session", PAM_USER: name },
    },
    { label: "status", args: ["status", ...user] },
    { label: "status --json", args: ["status", ...user, "--json"] },
    { label: "doctor", args: ["doctor", ...user] },
    { label: "shell install (rc file)", args: ["shell", "install", "--shell", "bash", ...user] },
    { label: "rotate (new token on stdin)", args: ["rotate", ...user], stdin: `${TOKEN_2}\n` },
    { label: "sync after rotate", args: ["sync", ...user] },
    { label: "disable", args: ["disable", ...user] },
    {
      label: "enable again, then pam logs the change",
      args: ["enable", ...user, "--no-verify"],
      stdin: TOKEN_1,
    },
    {
      label: "pam after Vault changed (syslog line written)",
      args: ["pam", "--config", ws.config],
      env: { PAM_TYPE: "open_session", PAM_USER: name },
    },
  ];
  let creates = 0;
  let carried = 0;
  for (const command of commands) {
    if (command.label.startsWith("pam after"))
      await ws.seed({ vaultwarden_token: "vw", setup_token: TOKEN_2 });
    const run = await runTraced(command.args, SYSCALLS, {
      ...(command.stdin === undefined ? {} : { stdin: command.stdin }),
      ...(command.env ? { env: command.env } : {}),
    });
    const { findings, creates: c, carried: n } = analyse(run, allowedFiles);
    creates += c.length;
    carried += n;
    if (containsToken(run.stdout)) findings.push({ where: "stdout", what: "token printed" });
    if (containsToken(run.stderr)) findings.push({ where: "stderr", what: "token printed" });
    const ran = run.code !== null && run.code !== 2 && !/unexpected failure/.test(run.stdout + run.stderr);
    t.same(findings, [], command.label, { code: run.code, out: (run.stdout + run.stderr).slice(0, 300) });
    t.ok(ran, `${command.label}: ran (exit ${run.code})`, { out: (run.stdout + run.stderr).slice(0, 300) });
    const loggers = run.trace.filter((l) => /execve\("[^"]*logger"/.test(l)).length;
    const children = run.trace.filter((l) => /execve\(/.test(l)).length - 1;
    tally.record(command.label, {
      survived: findings.length === 0 && ran,
      lost: findings.length > 0,
      note: `exit ${run.code}, ${children} child process${children === 1 ? "" : "es"}${loggers ? ` (${loggers} logger)` : ""}, ${pathsChanged(run.trace).length} paths written`,
    });
  }
  // The tracer is alive: it saw the token go where it belongs (the files, Vault and the API sockets).
  t.ok(carried >= 4, `the trace saw ${carried} legitimate writes of the token`);
  t.ok(
    creates >= 4,
    `the env file and t3-serve's copy were created (traced) ${creates} times, each O_CREAT 0600`,
  );
  tally.note(
    "enable (token on stdin, live check)",
    `${creates} creations of token files traced over all commands, all O_CREAT|O_EXCL 0600`,
  );

  // Files others could see, written during the test: only the allowed ones may hold the token.
  const scanned = [
    ...recentFiles(ws.user.home, started),
    ...recentFiles(ws.metricsDir, started),
    ...recentFiles("/tmp", started, 2),
    ...recentFiles("/var/tmp", started, 2),
  ];
  const leaks: string[] = [];
  let worldReadable = 0;
  for (const path of scanned) {
    let text: string;
    try {
      text = readFileSync(path, "latin1");
    } catch {
      continue;
    }
    if ((statSync(path).mode & 0o004) !== 0) worldReadable++;
    if (containsToken(text) && !allowedFiles.test(path)) leaks.push(path);
  }
  t.same(leaks, [], `no other file holds the token (${scanned.length} files scanned)`);
  tally.record(
    `files written during the run, scanned (home, metrics, /tmp, /var/tmp): ${scanned.length}, ${worldReadable} world-readable`,
    {
      survived: leaks.length === 0,
      lost: leaks.length > 0,
    },
  );
  for (const path of [ws.envFile, ws.serviceEnvFile]) {
    const stat = statSync(path, { throwIfNoEntry: false });
    if (stat) t.equal(stat.mode & 0o777, 0o600, `${path} is 0600`);
  }
  tally.print(t);
  t.equal(tally.totals().lost, 0, "nothing leaked");
});
