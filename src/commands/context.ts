// What every command needs to know about who runs it and for whom.
import { type Config, loadConfig } from "../config.js";
import { InvalidDataError, UsageError } from "../errors.js";
import { currentUser, isRoot, lookupUser, parseLoginName, type SystemUser } from "../system/users.js";

export function loadCommandConfig(path: string | undefined, envOverrides = true): Config {
  return loadConfig({ path, env: process.env, envOverrides });
}

/**
 * The user a command acts for: the invoking user, or `--user NAME` (root only; naming yourself is fine).
 */
export function resolveTargetUser(requested: string | undefined): SystemUser {
  const self = currentUser();
  if (requested === undefined) {
    if (self.uid === 0) throw new UsageError("as root, name the user to act for with --user NAME");
    return self;
  }
  const name = parseLoginName(requested, "--user");
  if (!isRoot() && name !== self.name) {
    throw new UsageError(`only root may act for another user (you are ${self.name}, asked for ${name})`);
  }
  if (name === self.name && !isRoot()) return self;
  const user = lookupUser(name);
  if (!user)
    throw new InvalidDataError("--user", `no such user: ${name}`, "check the name with `getent passwd NAME`");
  return user;
}

/** Users below CLAUDE_AUTH_SYNC_MIN_UID (system accounts) are never touched. */
export function isIgnored(user: SystemUser, config: Config): boolean {
  return user.uid < config.minUid;
}
