// Runs the real Claude Code binary (npm @anthropic-ai/claude-code 2.1.x) non-interactively against the
// Anthropic stand-in, optionally as another user, with a clean environment and a hard time limit.
//
// What a one-shot `claude -p ping` needs in a fresh home (measured with 2.1.197):
// - `-p` (print mode) skips onboarding, the theme picker and the workspace-trust dialog; a home with no
//   ~/.claude.json works. stdin must not be a TTY or an open pipe: with /dev/null the prompt is
//   just the argument.
// - ANTHROPIC_BASE_URL=<stand-in>: the Messages API (and a credential-less `HEAD /` preflight) go there.
// - CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1 (implies no auto-updater, no telemetry, no error
//   reporting, no feedback command) plus DISABLE_TELEMETRY, DISABLE_AUTOUPDATER and
//   DISABLE_ERROR_REPORTING spelled out, so no single flag's meaning change lets traffic out.
// - Nothing for onboarding or trust. With CLAUDE_CODE_OAUTH_TOKEN the run makes no other network
//   call; with only a credentials file it also looks up api.anthropic.com (an account lookup it does not
//   wait for) and, after a 401, platform.claude.com (the refresh). On a closed network both fail fast.
// - A clean environment: nothing of the caller's (ANTHROPIC_API_KEY, CLAUDECODE, CLAUDE_CONFIG_DIR,
//   proxies, CI) reaches the CLI unless passed in `env`.
// - A cwd of its own: the CLI lists the working directory with ripgrep and asks git about it, so an
//   empty directory keeps it fast and keeps it out of unrelated trees.
import { spawn } from "node:child_process";
import { chownSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

/** The binary npm installed for this repository; override with CLAUDE_E2E_BIN. */
export const claudeBinary =
  process.env.CLAUDE_E2E_BIN ?? fileURLToPath(new URL("../../node_modules/.bin/claude", import.meta.url));

/** The default cwd of a run, made inside the home; tests listing the home leave it out. */
export const projectDirName = "claude-e2e-project";

export interface ClaudeUser {
  uid: number;
  gid: number;
  home: string;
  /** Login name for USER/LOGNAME; defaults to the uid. */
  name?: string;
}

export interface RunClaudeOptions {
  /** The stand-in's URL (`standIn.url`). Required so a run can never reach the real API. */
  baseUrl: string;
  /**
   * Run as this user (needs root): uid/gid set by spawn, HOME set to `home`. Default: the caller's
   * uid with a throwaway HOME, deleted after the run.
   */
  user?: ClaudeUser;
  /** Added to the clean environment; a value of `undefined` removes a default. */
  env?: Record<string, string | undefined>;
  /** Default `["-p", "ping"]`. */
  args?: string[];
  /** Default: `<home>/claude-e2e-project`, created (owned by the user) if missing. */
  cwd?: string;
  /** The whole run is killed (process group, SIGKILL) after this. Default 30 s. */
  timeoutMs?: number;
}

export interface ClaudeRun {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  durationMs: number;
}

/** The whole environment of a run, before `env` is applied: nothing is inherited from the caller. */
export function claudeEnvironment(baseUrl: string, home: string, name: string): Record<string, string> {
  return {
    HOME: home,
    USER: name,
    LOGNAME: name,
    SHELL: "/bin/bash",
    PATH: "/usr/local/bin:/usr/bin:/bin",
    LANG: "C.UTF-8",
    TERM: "dumb",
    ANTHROPIC_BASE_URL: baseUrl,
    CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: "1",
    DISABLE_TELEMETRY: "1",
    DISABLE_AUTOUPDATER: "1",
    DISABLE_ERROR_REPORTING: "1",
  };
}

export async function runClaude(options: RunClaudeOptions): Promise<ClaudeRun> {
  if (!/^http:\/\/(127\.0\.0\.1|localhost)(:\d+)?\/?$/.test(options.baseUrl)) {
    throw new Error(`runClaude: baseUrl must be a local stand-in, got ${options.baseUrl}`);
  }
  const user = options.user;
  // Without a user, a throwaway HOME: the caller's own ~/.claude must never be read or written.
  const home = user?.home ?? mkdtempSync(join(tmpdir(), "claude-e2e-home-"));
  const scratchHome = user ? undefined : home;
  const name = user?.name ?? String(user?.uid ?? process.getuid?.() ?? "claude-e2e");
  const env: Record<string, string> = claudeEnvironment(options.baseUrl, home, name);
  for (const [key, value] of Object.entries(options.env ?? {})) {
    if (value === undefined) delete env[key];
    else env[key] = value;
  }
  const cwd = options.cwd ?? projectDir(home, user);
  const timeoutMs = options.timeoutMs ?? 30_000;
  const cleanUp = () => {
    if (scratchHome) rmSync(scratchHome, { recursive: true, force: true });
  };

  const started = performance.now();
  const child = spawn(claudeBinary, options.args ?? ["-p", "ping"], {
    cwd,
    env,
    // libuv drops supplementary groups when uid/gid are given, so none of root's groups leak.
    ...(user ? { uid: user.uid, gid: user.gid } : {}),
    stdio: ["ignore", "pipe", "pipe"],
    // Own process group, so a timeout also kills the git/rg/ps children the CLI starts.
    detached: true,
  });
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
    stdout += chunk;
  });
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
    stderr += chunk;
  });

  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    killGroup(child.pid);
  }, timeoutMs);

  return await new Promise<ClaudeRun>((resolve, reject) => {
    child.once("error", (error) => {
      clearTimeout(timer);
      cleanUp();
      const who = user ? ` as uid ${user.uid}` : "";
      const hint = "it and every directory above it must be readable and searchable by that user";
      reject(new Error(`could not start ${claudeBinary}${who}: ${error.message} (${hint})`));
    });
    child.once("close", (exitCode, signal) => {
      clearTimeout(timer);
      // Leftover children of a finished CLI must not outlive the test.
      killGroup(child.pid);
      cleanUp();
      resolve({
        exitCode,
        signal,
        stdout,
        stderr,
        timedOut,
        durationMs: Math.round(performance.now() - started),
      });
    });
  });
}

function killGroup(pid: number | undefined): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, "SIGKILL");
  } catch {
    // The group is already gone.
  }
}

function projectDir(home: string, user: ClaudeUser | undefined): string {
  const dir = join(home, projectDirName);
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  if (user) chownSync(dir, user.uid, user.gid);
  return dir;
}
