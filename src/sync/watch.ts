// Watch mode: one sync pass (renewal included) within seconds of every change of the credentials file,
// so a logged-out stub written by a losing Claude process is repaired from the backup taken seconds
// earlier, and every new credential is backed up at once. A periodic check covers missed events
// (fs.watch is best effort: a replaced directory, NFS homes) and the renewal window.
import { type FSWatcher, watch as fsWatch, statSync } from "node:fs";
import { join } from "node:path";
import { CREDENTIALS_FILE, parseCredentialsFile } from "../claude/credentials.js";
import type { Config } from "../config.js";
import type { UserHome } from "../system/home.js";

/**
 * The watch service checks every minute, so it needs no head start: it renews once the access token
 * expires within this (or the configured window, if shorter). With the timer's 7 h window a watching
 * host would otherwise renew an 8-hour token every hour (docs/race.md): 24 refreshes a day, not 4.
 */
export const WATCH_RENEW_WINDOW_MS = 3600_000;

/** The configuration a watch pass runs with: the configured one, with the watch's renewal window. */
export function watchConfig(config: Config): Config {
  return { ...config, renewWindowMs: Math.min(config.renewWindowMs, WATCH_RENEW_WINDOW_MS) };
}

export interface WatchOptions {
  /** As given to the passes: see watchConfig. */
  config: Config;
  home: UserHome;
  /** Directory of .credentials.json, relative to the home. */
  credentialsDir: readonly string[];
  /** One sync pass; resolves with one line to log, or undefined when it changed nothing. */
  pass: (why: string) => Promise<string | undefined>;
  log: (line: string) => void;
  /** Wait after an event before the pass: Claude writes, renames, then others follow. */
  debounceMs?: number;
  /** The periodic check (no Vault request unless something is due). */
  intervalMs?: number;
  /** An unchanged file that still needs attention (a stub nothing can restore) is retried this seldom. */
  retryMs?: number;
}

export interface Watcher {
  /** Resolves when stopped. */
  done: Promise<void>;
  stop(): void;
  /** Passes run so far (tests, figures). */
  readonly passes: number;
}

interface Seen {
  mtimeMs: number;
  size: number;
  ino: number;
}

export function startWatch(options: WatchOptions): Watcher {
  const debounceMs = options.debounceMs ?? 500;
  const intervalMs = options.intervalMs ?? 60_000;
  const retryMs = options.retryMs ?? 10 * 60_000;
  const dir = join(options.home.user.home, ...options.credentialsDir);
  const file = join(dir, CREDENTIALS_FILE);
  let stopped = false;
  let running = false;
  let again: string | undefined;
  let debounce: NodeJS.Timeout | undefined;
  let watcher: FSWatcher | undefined;
  let seen: Seen | undefined;
  let lastPassAt = 0;
  let passes = 0;
  let resolveDone: () => void = () => undefined;
  const done = new Promise<void>((resolve) => {
    resolveDone = resolve;
  });

  const stat = (): Seen | undefined => {
    try {
      const s = statSync(file);
      return { mtimeMs: s.mtimeMs, size: s.size, ino: s.ino };
    } catch {
      return undefined;
    }
  };
  const changed = (now: Seen | undefined) =>
    now?.mtimeMs !== seen?.mtimeMs || now?.size !== seen?.size || now?.ino !== seen?.ino;

  /** Whether the file, unchanged since the last pass, still needs one: renewal due or logged out. */
  const due = (): boolean => {
    const text = safeRead();
    if (text === undefined) return false;
    const state = parseCredentialsFile(text);
    const since = Date.now() - lastPassAt;
    if (state.kind !== "valid") return since >= retryMs; // a stub nothing could restore yet
    const renewal =
      options.config.renew && state.credential.expiresAt - Date.now() <= options.config.renewWindowMs;
    return renewal && since >= intervalMs;
  };
  const safeRead = (): string | undefined => {
    try {
      return options.home.read(options.credentialsDir, CREDENTIALS_FILE)?.text;
    } catch {
      return undefined;
    }
  };

  const run = async (why: string) => {
    if (stopped) return;
    if (running) {
      again = why;
      return;
    }
    running = true;
    try {
      seen = stat();
      lastPassAt = Date.now();
      passes++;
      const line = await options.pass(why);
      if (line) options.log(line);
    } catch (error) {
      options.log(`claude-auth watch: pass failed: ${(error as Error).message}`);
    } finally {
      running = false;
    }
    if (again !== undefined && !stopped) {
      const next = again;
      again = undefined;
      await run(next);
    }
  };

  const schedule = (why: string) => {
    if (stopped) return;
    if (debounce) clearTimeout(debounce);
    debounce = setTimeout(() => {
      debounce = undefined;
      // Our own writes come back as events too: that costs one steady-state pass (one Vault read, no
      // write), never a loop, and a Claude write racing our pass is never mistaken for ours.
      void run(why);
    }, debounceMs);
  };

  const attach = () => {
    if (watcher || stopped) return;
    try {
      // The directory, not the file: Claude (and we) replace the file by rename.
      watcher = fsWatch(dir, { persistent: true }, (_event, name) => {
        if (name === null || name === CREDENTIALS_FILE) schedule("the credentials file changed");
      });
      watcher.on("error", () => {
        watcher?.close();
        watcher = undefined; // re-attached by the periodic check
      });
    } catch {
      watcher = undefined; // no directory yet: the periodic check retries
    }
  };

  const tick = setInterval(() => {
    attach();
    if (running) return;
    if (changed(stat())) void run("the credentials file changed (periodic check)");
    else if (due()) void run("periodic check: renewal due or logged out");
  }, intervalMs);

  attach();
  void run("start");

  return {
    done,
    get passes() {
      return passes;
    },
    stop() {
      if (stopped) return;
      stopped = true;
      clearInterval(tick);
      if (debounce) clearTimeout(debounce);
      watcher?.close();
      const wait = setInterval(() => {
        if (!running) {
          clearInterval(wait);
          resolveDone();
        }
      }, 20);
    },
  };
}
