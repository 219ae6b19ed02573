// Runs real shells as a real test user with a clean environment, for the tests in test/shell/.
import { type SpawnSyncReturns, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, copyFileSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Test } from "tap";
import type { TestUser } from "../helpers/users.js";

export const shellDir = fileURLToPath(new URL("../../shell/", import.meta.url));
export const snippetSh = join(shellDir, "claude-auth.sh");
export const snippetFish = join(shellDir, "claude-auth.fish");
export const startClaudeSh = join(shellDir, "start-claude.sh");

export const ENV_FILE = ".config/claude-auth-sync/claude-oauth.env";
export const NOTICE_FILE = ".config/claude-auth-sync/notice";
export const SAFE_PATH = "/usr/local/bin:/usr/bin:/bin";

/** A well-formed setup token of the given total length (prefix included). */
export function fakeToken(length = 108): string {
  const prefix = "sk-ant-oat01-";
  const body = randomBytes(length)
    .toString("base64url")
    .slice(0, length - prefix.length);
  return prefix + body;
}

/** The marker value the snippets keep: the token's last 8 characters. */
export function fingerprint(token: string): string {
  return token.slice(-8);
}

export interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

interface RunOptions {
  /** Extra variables on top of the clean login environment; `undefined` removes one (e.g. HOME). */
  env?: Record<string, string | undefined>;
  input?: string | Buffer;
  /** Bind mounts (source directory over target directory) in a private mount namespace, e.g. /etc/profile.d. */
  mounts?: { source: string; target: string }[];
}

/** What a login gives a user: nothing inherited from the test runner. */
export function loginEnv(
  user: TestUser,
  extra: Record<string, string | undefined> = {},
): Record<string, string> {
  const env: Record<string, string | undefined> = {
    HOME: user.home,
    USER: user.name,
    LOGNAME: user.name,
    PATH: SAFE_PATH,
    LANG: "C.UTF-8",
    TERM: "dumb",
    ...extra,
  };
  return Object.fromEntries(
    Object.entries(env).filter((entry): entry is [string, string] => entry[1] !== undefined),
  );
}

const toolPaths = new Map<string, string>();

/** Absolute path from the runner's PATH: the user's PATH (the spawn environment) may not hold it. */
function tool(name: string): string {
  let found = toolPaths.get(name);
  if (found === undefined) {
    found =
      spawnSync("sh", ["-c", 'command -v "$1"', "probe", name], { encoding: "utf8" }).stdout.trim() || name;
    toolPaths.set(name, found);
  }
  return found;
}

function userArgv(user: TestUser, argv: string[]): string[] {
  return [tool("setpriv"), `--reuid=${user.uid}`, `--regid=${user.gid}`, "--init-groups", "--", ...argv];
}

function finish(result: SpawnSyncReturns<string>): Run {
  if (result.error) throw result.error;
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** Runs argv as `user` (setpriv: real uid, gid and groups), in their home, with a clean login environment. */
export function asUser(user: TestUser, argv: string[], options: RunOptions = {}): Run {
  return spawnIn(user, withMounts(userArgv(user, argv), options.mounts), options);
}

/**
 * Runs argv as root (e.g. `su - user -c cmd`, as a terminal or sshd would start it) with the user's login
 * environment and the same private mounts; su or runuser then switches to the user.
 */
export function asRootFor(user: TestUser, argv: string[], options: RunOptions = {}): Run {
  const [command, ...args] = argv as [string, ...string[]];
  // runuser is in /usr/sbin, which the user's PATH lacks.
  return spawnIn(user, withMounts([tool(command), ...args], options.mounts), options);
}

function withMounts(command: string[], mounts: RunOptions["mounts"]): string[] {
  if (!mounts || mounts.length === 0) return command;
  const binds = mounts.map((_, i) => `mount --bind "$${2 * i + 1}" "$${2 * i + 2}"`).join(" && ");
  const shift = `shift ${2 * mounts.length}`;
  return [
    tool("unshare"),
    "--mount",
    "--propagation",
    "private",
    "sh",
    "-c",
    `${binds} && ${shift} && exec "$@"`,
    "mounts",
    ...mounts.flatMap((mount) => [mount.source, mount.target]),
    ...command,
  ];
}

function spawnIn(user: TestUser, command: string[], options: RunOptions): Run {
  const [file, ...args] = command as [string, ...string[]];
  return finish(
    spawnSync(file, args, {
      env: loginEnv(user, options.env),
      cwd: user.home,
      input: options.input ?? "",
      encoding: "utf8",
      timeout: 60_000,
    }),
  );
}

/** Writes a file in the user's home as the user (umask 077, so 0600 in a 0700 directory). */
export function writeAsUser(user: TestUser, relativePath: string, content: string | Buffer): void {
  const run = asUser(
    user,
    [
      "sh",
      "-c",
      'umask 077 && mkdir -p "$(dirname "$1")" && cat >"$1"',
      "write",
      join(user.home, relativePath),
    ],
    { input: content },
  );
  if (run.status !== 0) throw new Error(`writing ~/${relativePath} as ${user.name} failed: ${run.stderr}`);
}

export function removeAsUser(user: TestUser, relativePath: string): void {
  const run = asUser(user, ["rm", "-f", join(user.home, relativePath)]);
  if (run.status !== 0) throw new Error(`removing ~/${relativePath} as ${user.name} failed: ${run.stderr}`);
}

export function readAsUser(user: TestUser, relativePath: string): string {
  const run = asUser(user, ["cat", join(user.home, relativePath)]);
  if (run.status !== 0) throw new Error(`reading ~/${relativePath} as ${user.name} failed: ${run.stderr}`);
  return run.stdout;
}

/** A world-readable directory holding copies of `files` (name -> source), to bind-mount over /etc/profile.d or /etc/fish/conf.d. */
export function stagingDir(t: { teardown(fn: () => void): void }, files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), "cas-shell-"));
  chmodSync(dir, 0o755);
  for (const [name, source] of Object.entries(files)) {
    copyFileSync(source, join(dir, name));
    chmodSync(join(dir, name), (statSync(source).mode & 0o111) | 0o644); // keeps the execute bits
  }
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * The shape requireRoot (test/helpers/users.ts) expects, over a tap test: a skip is a loud
 * `1..0 # SKIP why`, so it must come before the test's first assertion.
 */
export function gate(t: Test): { skip(why: string): void; fail(why: string): void } {
  return {
    skip: (why) => t.plan(0, why),
    fail: (why) => {
      t.fail(why);
    },
  };
}

/** Skips loudly when a tool is missing outside CI; in CI (CI=true) a missing tool fails the test. */
export function requireTools(t: Test, tools: string[]): boolean {
  const missing = tools.filter(
    (tool) => spawnSync("sh", ["-c", 'command -v "$1"', "probe", tool]).status !== 0,
  );
  if (missing.length === 0) return true;
  const why = `SKIPPED: ${missing.join(", ")} not installed (apt-get install -y zsh fish dash strace shellcheck)`;
  if (process.env.CI === "true") t.fail(`${why}; CI must provide them`);
  else gate(t).skip(why);
  return false;
}

let mountNamespaceWorks: boolean | undefined;

/** Login-shell tests bind-mount over /etc/profile.d in a private mount namespace, never touching the real one. */
export function requireMountNamespace(t: Test): boolean {
  mountNamespaceWorks ??=
    spawnSync("unshare", ["--mount", "--propagation", "private", "mount", "--bind", "/tmp", "/mnt"])
      .status === 0;
  if (mountNamespaceWorks) return true;
  const why = "SKIPPED: unshare --mount with a bind mount failed (needs root with CAP_SYS_ADMIN)";
  if (process.env.CI === "true") t.fail(`${why}; CI must allow it`);
  else gate(t).skip(why);
  return false;
}

/** A path under /tmp that a malformed env file would create if anything in it ever ran. */
export function pwnedPath(): string {
  return `/tmp/cas-pwned-${randomBytes(6).toString("hex")}`;
}
