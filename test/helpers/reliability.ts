// Shared by test/reliability/*: a tally of cases per section (printed as one figures line that
// docs/reliability.md copies), bounded parallelism, and small probes of a user's files.
import { spawn } from "node:child_process";
import { existsSync, lstatSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { BINARY, binaryCommand, type RunResult } from "./cli.js";

/** Two cores are shared with other work: never more than this many tool processes at once. */
export const PARALLEL = Number(process.env.RELIABILITY_PARALLEL ?? 2);

/** Scales the long sections (crash runs, fuzz cases) for a quick local look: RELIABILITY_SCALE=0.1. */
export const SCALE = Number(process.env.RELIABILITY_SCALE ?? 1);
export const scaled = (n: number) => Math.max(1, Math.round(n * SCALE));

interface Row {
  name: string;
  /** A view on cases already counted in another row: shown, not added to the total. */
  detail: boolean;
  cases: number;
  survived: number;
  lost: number;
  notes: string[];
}

/**
 * Counts cases per row. "survived": every expectation of the case held. "lost": something a user
 * would lose (a Vault key, a file torn or changed that must not be, a leaked secret). A case that
 * failed an expectation without losing anything is neither survived nor lost; the test fails anyway.
 */
export class Tally {
  private readonly rows = new Map<string, Row>();
  constructor(readonly section: string) {}

  row(name: string, detail = false): Row {
    let row = this.rows.get(name);
    if (!row) {
      row = { name, detail, cases: 0, survived: 0, lost: 0, notes: [] };
      this.rows.set(name, row);
    }
    return row;
  }

  record(
    name: string,
    outcome: { survived: boolean; lost?: boolean; note?: string | undefined },
    options: { detail?: boolean } = {},
  ): void {
    const row = this.row(name, options.detail);
    row.cases++;
    if (outcome.survived) row.survived++;
    if (outcome.lost) row.lost++;
    if (outcome.note && row.notes.length < 5) row.notes.push(outcome.note);
  }

  note(name: string, note: string): void {
    this.row(name).notes.push(note);
  }

  totals(): { cases: number; survived: number; lost: number } {
    let cases = 0;
    let survived = 0;
    let lost = 0;
    for (const row of this.rows.values()) {
      if (row.detail) continue;
      cases += row.cases;
      survived += row.survived;
      lost += row.lost;
    }
    return { cases, survived, lost };
  }

  /** One Markdown table (copied into docs/reliability.md) and one machine-readable line. */
  print(t: { comment(...m: unknown[]): void }): void {
    const lines = [
      `figures: ${this.section}`,
      "| case | cases run | survived | lost |",
      "|---|---:|---:|---:|",
    ];
    for (const row of this.rows.values()) {
      const notes = row.notes.length ? ` (${row.notes.join("; ")})` : "";
      lines.push(
        `| ${row.detail ? "↳ " : ""}${row.name}${notes} | ${row.cases} | ${row.survived} | ${row.lost} |`,
      );
    }
    const total = this.totals();
    lines.push(`| **total** | **${total.cases}** | **${total.survived}** | **${total.lost}** |`);
    lines.push(
      `RELIABILITY ${this.section}: cases=${total.cases} survived=${total.survived} lost=${total.lost}`,
    );
    for (const line of lines) t.comment(line);
  }
}

/** Runs `work` over `items` with at most `limit` at once; results in input order. */
export async function inParallel<T, R>(
  items: readonly T[],
  limit: number,
  work: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const lane = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index] as T, index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  return results;
}

export interface Spawned {
  pid: number;
  kill(signal?: NodeJS.Signals): void;
  done: Promise<RunResult>;
}

/** Starts the built binary and hands back its pid, for tests that kill it mid-run. */
export function spawnBinary(
  args: string[],
  options: { env?: Record<string, string>; stdin?: string; timeoutMs?: number } = {},
): Spawned {
  const started = Date.now();
  const child = spawn(...binaryCommand(args, options.env), {
    env: { PATH: "/usr/local/bin:/usr/bin:/bin", ...options.env },
    stdio: ["pipe", "pipe", "pipe"],
    cwd: "/",
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (c: Buffer) => {
    stdout += c.toString();
  });
  child.stderr.on("data", (c: Buffer) => {
    stderr += c.toString();
  });
  child.stdin.on("error", () => undefined);
  child.stdin.end(options.stdin ?? "");
  const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 60_000);
  const done = new Promise<RunResult>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, ms: Date.now() - started });
    });
  });
  return { pid: child.pid ?? -1, kill: (signal = "SIGKILL") => child.kill(signal), done };
}

/** A file's content, or undefined when absent; never follows a link (a link reads as "link:<target>"). */
export function fileState(path: string): string | undefined {
  try {
    const stat = lstatSync(path);
    if (stat.isSymbolicLink()) return "link";
    if (!stat.isFile()) return "not-a-file";
    return `${(stat.mode & 0o7777).toString(8)} ${stat.uid} ${readFileSync(path, "utf8")}`;
  } catch {
    return undefined;
  }
}

/** Temp files (ours: `.name.tmp-HOST-PID-…`, `name.tmp-PID`, `name.PID.tmp`) left in a directory. */
export function tempFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).filter((n) => /\.tmp-|\.\d+\.tmp$/.test(n));
}

/** Every path below `root` whose owner is `uid` (symlinks themselves included). */
export function ownedBy(root: string, uid: number): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      return;
    }
    for (const name of names) {
      const path = join(dir, name);
      let stat: ReturnType<typeof lstatSync>;
      try {
        stat = lstatSync(path);
      } catch {
        continue;
      }
      if (stat.uid === uid) out.push(path);
      if (stat.isDirectory()) walk(path);
    }
  };
  if (existsSync(root) && statSync(root).uid === uid) out.push(root);
  walk(root);
  return out.sort();
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export interface TracedRun extends RunResult {
  /** strace lines (one per syscall, `pid syscall(...) = result`). */
  trace: string[];
}

/**
 * Runs the built binary under `strace -f` (children too), tracing `syscalls`. `-s` large enough to
 * see whole buffers; `-v` shows every execve's environment.
 */
export async function runTraced(
  args: string[],
  syscalls: string,
  options: { env?: Record<string, string>; stdin?: string; timeoutMs?: number } = {},
): Promise<TracedRun> {
  const { mkdtempSync, rmSync } = await import("node:fs");
  const { tmpdir } = await import("node:os");
  const dir = mkdtempSync(join(tmpdir(), "cas-strace-"));
  const out = join(dir, "trace");
  const started = Date.now();
  const result = await new Promise<RunResult>((resolve, reject) => {
    const child = spawn(
      "strace",
      [
        ...["-f", "-qq", "-v", "-s", "65536", "-e", `trace=${syscalls}`, "-o", out],
        // tap adds its NODE_OPTIONS to strace's environment: the binary gets only the test's own.
        ...[
          "-E",
          options.env?.NODE_OPTIONS === undefined
            ? "NODE_OPTIONS"
            : `NODE_OPTIONS=${options.env.NODE_OPTIONS}`,
        ],
        ...["--", BINARY, ...args],
      ],
      {
        env: { PATH: "/usr/local/bin:/usr/bin:/bin", ...options.env },
        stdio: ["pipe", "pipe", "pipe"],
        cwd: "/",
      },
    );
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => {
      stdout += c.toString();
    });
    child.stderr.on("data", (c: Buffer) => {
      stderr += c.toString();
    });
    child.stdin.on("error", () => undefined);
    child.stdin.end(options.stdin ?? "");
    const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 60_000);
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, ms: Date.now() - started });
    });
  });
  const trace = existsSync(out) ? mergeResumed(readFileSync(out, "utf8").split("\n").filter(Boolean)) : [];
  rmSync(dir, { recursive: true, force: true });
  return { ...result, trace };
}

/** Paths a traced run created, wrote, renamed, removed or re-moded (successful calls only). */
export function pathsChanged(trace: string[]): string[] {
  const out = new Set<string>();
  for (const line of trace) {
    if (/= -1 /.test(line)) continue;
    const open = /\b(?:openat|open|creat)\((?:AT_FDCWD, |\d+, )?"([^"]*)", ([A-Z_|]+)/.exec(line);
    if (open) {
      if (/O_WRONLY|O_RDWR|O_CREAT|O_TRUNC/.test(open[2] ?? "") || line.includes("creat("))
        out.add(open[1] ?? "");
      continue;
    }
    const other =
      /\b(?:rename|renameat2?|unlink|unlinkat|mkdir|mkdirat|rmdir|symlink|symlinkat|link|linkat|chmod|fchmodat|chown|fchownat|lchown|truncate)\(([^)]*)\)/.exec(
        line,
      );
    if (other) for (const m of (other[1] ?? "").matchAll(/"([^"]*)"/g)) out.add(m[1] ?? "");
  }
  return [...out].sort();
}

/** Joins strace's `<unfinished ...>` / `<... x resumed>` halves (other threads interleave) into one line. */
function mergeResumed(lines: string[]): string[] {
  const pending = new Map<string, { index: number; text: string }>();
  const out: string[] = [];
  for (const line of lines) {
    const pid = /^(\d+)\s/.exec(line)?.[1] ?? "";
    if (line.endsWith("<unfinished ...>")) {
      pending.set(pid, { index: out.length, text: line.slice(0, -"<unfinished ...>".length).trimEnd() });
      out.push("");
      continue;
    }
    const resumed = /^\d+\s+<\.\.\. \w+ resumed>(.*)$/.exec(line);
    const start = pending.get(pid);
    if (resumed && start) {
      out[start.index] = `${start.text}${resumed[1]}`;
      pending.delete(pid);
      continue;
    }
    out.push(line);
  }
  return out.filter(Boolean);
}
