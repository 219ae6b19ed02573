// The per-user lock: a lock being written is held, not stale; a stale lock is broken by one run only.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, utimesSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import t from "tap";
import { Deadline } from "../../src/deadline.js";
import { UserHome } from "../../src/system/home.js";
import { acquireUserLock, LOCK_DIR, LOCK_NAME, type UserLock } from "../../src/system/lock.js";
import { createTestUser, requireRoot } from "../helpers/users.js";

function emptyLock(user: { name: string; home: string }): string {
  const path = join(user.home, ".config/claude-auth-sync/sync.lock");
  execFileSync("runuser", [
    "-u",
    user.name,
    "--",
    "sh",
    "-c",
    `mkdir -p -m 700 "$(dirname ${path})" && : > ${path}`,
  ]);
  return path;
}

t.test("an empty lock that was just created is another run's, not a dead one's", async (t) => {
  if (!requireRoot(t)) return;
  const user = createTestUser(t);
  const path = emptyLock(user);
  const home = new UserHome(user);
  await t.rejects(
    acquireUserLock(home, new Deadline(300)),
    /another claude-auth run .* holds/,
    "waits, then gives up",
  );
  t.ok(existsSync(path), "the young lock was not broken");
});

t.test("an empty lock older than the grace period is broken and taken", async (t) => {
  if (!requireRoot(t)) return;
  const user = createTestUser(t);
  const path = emptyLock(user);
  const old = (Date.now() - 60_000) / 1000;
  utimesSync(path, old, old);
  const lock = await acquireUserLock(new UserHome(user), new Deadline(2000));
  t.ok(existsSync(path), "taken: the lock now holds this run");
  lock.release();
  t.notOk(existsSync(path), "released");
});

function writeAsUser(user: { name: string; home: string }, name: string, content: string): string {
  const path = join(user.home, ".config/claude-auth-sync", name);
  execFileSync(
    "runuser",
    ["-u", user.name, "--", "sh", "-c", `mkdir -p -m 700 "$(dirname ${path})" && cat > ${path}`],
    {
      input: content,
    },
  );
  return path;
}

t.test("a break claim left by a breaker that died does not keep the stale lock", async (t) => {
  if (!requireRoot(t)) return;
  const user = createTestUser(t);
  const lockPath = writeAsUser(user, LOCK_NAME, `${deadPid()} ${hostname()} ${Date.now()}\n`);
  const claimPath = writeAsUser(
    user,
    `${LOCK_NAME}.breaking`,
    `${deadPid()} ${hostname()} ${Date.now()} 00\n`,
  );
  const lock = await acquireUserLock(new UserHome(user), new Deadline(2000));
  t.match(readFileSync(lockPath, "utf8"), new RegExp(`^${process.pid} `), "the lock now holds this run");
  t.notOk(existsSync(claimPath), "the dead breaker's claim is gone");
  lock.release();
});

t.test("a lock moved aside by a breaker killed mid-break is swept by the next pass", async (t) => {
  if (!requireRoot(t)) return;
  const user = createTestUser(t);
  writeAsUser(user, LOCK_NAME, `${deadPid()} ${hostname()} ${Date.now()}\n`);
  const home = new UserHome(user);
  const aside = home.moveToTemp(LOCK_DIR, LOCK_NAME);
  t.ok(aside, "moved aside");
  const dir = join(user.home, ...LOCK_DIR);
  // As the killed breaker would have named it: its pid, now dead.
  const orphan = String(aside).replace(`-${process.pid}-`, `-${deadPid()}-`);
  execFileSync("runuser", ["-u", user.name, "--", "mv", join(dir, String(aside)), join(dir, orphan)]);
  t.equal(home.sweepTemps(LOCK_DIR), 1, "the sweep removes it");
  t.same(readdirSync(dir), [], "nothing left");
});

t.test("a lock moved aside is put back only if no run took the lock meanwhile", async (t) => {
  if (!requireRoot(t)) return;
  const user = createTestUser(t);
  const lockPath = writeAsUser(user, LOCK_NAME, "live holder\n");
  const home = new UserHome(user);
  const first = home.moveToTemp(LOCK_DIR, LOCK_NAME)!;
  t.ok(home.putBack(LOCK_DIR, first, LOCK_NAME), "put back");
  t.equal(readFileSync(lockPath, "utf8"), "live holder\n");
  const second = home.moveToTemp(LOCK_DIR, LOCK_NAME)!;
  writeAsUser(user, LOCK_NAME, "taken meanwhile\n");
  t.notOk(home.putBack(LOCK_DIR, second, LOCK_NAME), "not put back over the new lock");
  t.equal(readFileSync(lockPath, "utf8"), "taken meanwhile\n", "the new lock is kept");
  t.same(readdirSync(join(user.home, ...LOCK_DIR)), [LOCK_NAME], "the temp is gone");
});

/** A pid that is certainly dead: a child that has exited. */
function deadPid(): number {
  return spawnSync("true").pid ?? 0;
}

/** Deterministic, so that a failing seed can be replayed. */
function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

/**
 * Many runs in one process, each with its own view of the home. Before every home operation a run
 * makes, another run may start and go as far as it can without waiting: that puts a rival between
 * any two file operations of a breaker, as another process could (nested up to two deep).
 */
class Race {
  readonly violations: string[] = [];
  readonly errors: string[] = [];
  readonly holders = new Set<number>();
  readonly contents = new Map<number, string>();
  readonly runs: Promise<void>[] = [];
  started = 0;
  finished = 0;
  acquired = 0;
  planted = 0;
  /** Rivals started between two home operations of another run. */
  interleaved = 0;
  private depth = 0;
  private readonly plain: UserHome;

  constructor(
    private readonly user: { name: string; uid: number; gid: number; home: string },
    private readonly random: () => number,
    private readonly maxRuns: number,
  ) {
    this.plain = new UserHome(user);
  }

  get lockPath(): string {
    return join(this.user.home, ...LOCK_DIR, LOCK_NAME);
  }

  start(): void {
    const id = this.started++;
    this.runs.push(this.run(id));
  }

  /** Called before every home operation of every run. */
  private step(): void {
    // A few runs at a time, so that rivals keep arriving until the last stale lock.
    const active = this.started - this.finished;
    if (this.depth >= 2 || active >= 6 || this.started >= this.maxRuns || this.random() >= 0.25) return;
    this.depth++;
    this.interleaved++;
    try {
      this.start();
    } finally {
      this.depth--;
    }
  }

  private homeOf(id: number): UserHome {
    const home = new UserHome(this.user);
    return new Proxy(home, {
      get: (target, property) => {
        const value: unknown = Reflect.get(target, property, target);
        if (typeof value !== "function") return value;
        return (...args: unknown[]) => {
          this.step();
          const result = (value as (...a: unknown[]) => unknown).apply(target, args);
          // The moment a run's O_EXCL create succeeds, it believes it holds the lock.
          if (property === "createExclusive" && args[1] === LOCK_NAME && result === true) {
            if (this.holders.size > 0) {
              this.violations.push(`run ${id} took the lock while run ${[...this.holders]} held it`);
            }
            this.holders.add(id);
            this.contents.set(id, String(args[2]));
          }
          return result;
        };
      },
    });
  }

  private stillMine(id: number, when: string): void {
    let text: string | undefined;
    try {
      text = readFileSync(this.lockPath, "utf8");
    } catch {}
    if (text !== this.contents.get(id)) this.violations.push(`run ${id} lost its lock ${when}`);
  }

  /** A stale lock, as a killed run leaves it: a dead pid's content, or empty and past the grace. */
  plantStale(): void {
    this.planted++;
    if (this.random() < 0.7) {
      this.plain.write(LOCK_DIR, LOCK_NAME, `${deadPid()} ${hostname()} ${Date.now()}\n`, 0o600, {
        durable: false,
      });
    } else {
      this.plain.write(LOCK_DIR, LOCK_NAME, "", 0o600, { durable: false });
      const old = (Date.now() - 10_000) / 1000;
      utimesSync(this.lockPath, old, old);
    }
  }

  private async run(id: number): Promise<void> {
    try {
      await this.holdOnce(id);
    } finally {
      this.finished++;
    }
  }

  private async holdOnce(id: number): Promise<void> {
    let lock: UserLock;
    try {
      lock = await acquireUserLock(this.homeOf(id), new Deadline(60_000));
    } catch (error) {
      this.errors.push(`run ${id}: ${(error as Error).message}`);
      return;
    }
    this.acquired++;
    this.stillMine(id, "right after taking it");
    await sleep(this.random() * 2);
    this.stillMine(id, "while holding it");
    this.holders.delete(id);
    // Most holders are "killed": they leave a stale lock that the waiting runs race to break.
    if (this.random() < 0.7) this.plantStale();
    else lock.release();
  }
}

const SEEDS = [1, 2, 3];
const RUNS_PER_SEED = 150;

t.test("runs racing to break one stale lock: never two holders, no holder loses its lock", async (t) => {
  if (!requireRoot(t)) return;
  const user = createTestUser(t);
  for (const seed of SEEDS) {
    const race = new Race(user, seeded(seed), RUNS_PER_SEED);
    race.plantStale();
    for (let i = 0; i < 3; i++) race.start();
    // A run that ends may have started others: wait until no run is left.
    while ((await settled(race.runs)) < race.runs.length) {}
    while (race.started < RUNS_PER_SEED) {
      race.start();
      while ((await settled(race.runs)) < race.runs.length) {}
    }
    t.same(race.errors, [], `seed ${seed}: every run got the lock in its budget`);
    t.same(
      race.violations.slice(0, 5),
      [],
      `seed ${seed}: mutual exclusion held (${race.violations.length} violations)`,
    );
    t.equal(
      race.acquired,
      race.started,
      `seed ${seed}: ${race.acquired} of ${race.started} runs held the lock, ${race.planted} stale locks planted`,
    );
    const leftovers = readdirSync(join(user.home, ...LOCK_DIR)).filter((entry) => entry !== LOCK_NAME);
    t.same(leftovers, [], `seed ${seed}: no file left beside the lock`);
    t.comment(
      `seed ${seed}: ${race.started} runs, ${race.planted} stale locks, ${race.interleaved} rivals interleaved, ${race.violations.length} violations ${race.violations.slice(0, 2).join("; ")}`,
    );
  }
});

async function settled(runs: Promise<void>[]): Promise<number> {
  const count = runs.length;
  await Promise.all(runs.slice(0, count));
  return count;
}
