// The per-user lock between its creation and its content: a lock read in between is held, not stale.
import { execFileSync } from "node:child_process";
import { existsSync, utimesSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { Deadline } from "../../src/deadline.js";
import { UserHome } from "../../src/system/home.js";
import { acquireUserLock } from "../../src/system/lock.js";
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
