// The systemd drop-in that loads a user's env file into t3-serve@<user>.service.
// The static drop-in (hooks/systemd/t3-serve@.service.d/claude-auth.conf) can only say
// /home/%I: systemd has no specifier for the instance user's home (%h is /root in system units).
// A user whose home is elsewhere gets a per-instance drop-in of the same file name, which
// replaces the static one for that instance only.
import { posix } from "node:path";
import { InvalidDataError } from "../errors.js";
import { parseLoginName } from "./users.js";

export const SYSTEMD_SYSTEM_DIR = "/etc/systemd/system";
export const T3_SERVE_TEMPLATE = "t3-serve@.service";
/** Same name as the static drop-in, so the per-instance file masks it rather than adding to it. */
export const DROPIN_NAME = "claude-auth.conf";
/** Where the env file lives below a home; the same file shells and start-claude.sh read. */
export const ENV_FILE_IN_HOME = ".config/claude-auth-sync/claude-oauth.env";

export interface DropInUser {
  name: string;
  home: string;
}

/** The path the static drop-in resolves to for `name` (what systemd makes of /home/%I/...). */
export function staticEnvFilePath(name: string): string {
  return posix.join("/home", parseLoginName(name), ENV_FILE_IN_HOME);
}

/** /etc/systemd/system/t3-serve@<name>.service.d/claude-auth.conf */
export function instanceDropInPath(name: string): string {
  return posix.join(SYSTEMD_SYSTEM_DIR, `t3-serve@${parseLoginName(name)}.service.d`, DROPIN_NAME);
}

// EnvironmentFile= globs its value and "\" escapes glob characters; control characters would end the line.
const UNSAFE_IN_UNIT_PATH = /[\\*?[\]\p{Cc}]/u;

/**
 * The per-instance drop-in for `user`, or null when the static drop-in already points at the
 * user's env file (home is /home/<name>). Throws for a home systemd could not be given verbatim.
 */
export function instanceDropIn(user: DropInUser): string | null {
  const name = parseLoginName(user.name);
  const home = posix.normalize(user.home).replace(/(?<=.)\/+$/, "");
  if (!posix.isAbsolute(home)) {
    throw new InvalidDataError(`home of ${name}`, `${JSON.stringify(user.home)} is not an absolute path`);
  }
  const envFile = posix.join(home, ENV_FILE_IN_HOME);
  if (envFile === staticEnvFilePath(name)) return null;
  if (UNSAFE_IN_UNIT_PATH.test(envFile)) {
    throw new InvalidDataError(
      `home of ${name}`,
      `${JSON.stringify(user.home)} contains a character systemd would interpret (\\ * ? [ ] or a control character)`,
      `give ${name} a plain home path, or load the env file into t3-serve@${name} by hand`,
    );
  }
  // "%" starts a specifier in unit files; "%%" is a literal percent sign.
  const unitPath = envFile.replaceAll("%", "%%");
  return [
    `# Written by claude-auth for ${name}, whose home is ${home}, not /home/${name}.`,
    `# Replaces ${posix.join(SYSTEMD_SYSTEM_DIR, `${T3_SERVE_TEMPLATE}.d`, DROPIN_NAME)} for this instance only.`,
    "[Service]",
    `EnvironmentFile=-${unitPath}`,
    "",
  ].join("\n");
}
