// `claude-auth doctor`'s checks: one small function per finding, each saying what is wrong and the fix.
// Every system path comes from `SystemPaths`, so tests (and `--root`, for an image) check another tree.
import { accessSync, constants, lstatSync, readdirSync, readFileSync, statSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { parse as parseDotenv } from "dotenv";
import { tokenHint } from "../claude/setup-token.js";
import { CONFIG_KEYS, type Config, DEFAULT_CONFIG_PATH, parseConfig } from "../config.js";
import { AuthSyncError, formatError, InvalidDataError } from "../errors.js";
import type { CredentialsFacts, DirectoryFacts, EnvFileFacts } from "../status/local-files.js";
import { octal, ownerName } from "../status/local-files.js";
import { RENEW_SETUP_TOKEN, setupTokenAge } from "../status/setup-token-age.js";
import { FIELD, parseUserDocument, type UserDocument } from "../sync/user-document.js";
import type { SystemUser } from "../system/users.js";
import type { KvDocument } from "../vault/kv.js";
import { type PamRule, type PamSource, pamFacts } from "./pam-stacks.js";

export type FindingStatus = "ok" | "warn" | "fail";

export interface Finding {
  /** Stable, for `--json` and scripts: e.g. "config-permissions", "vault-capabilities". */
  id: string;
  status: FindingStatus;
  message: string;
  /** What to do; absent when there is nothing to do. */
  fix?: string;
}

const ok = (id: string, message: string): Finding => ({ id, status: "ok", message });
const warn = (id: string, message: string, fix: string): Finding => ({ id, status: "warn", message, fix });
const fail = (id: string, message: string, fix: string): Finding => ({ id, status: "fail", message, fix });

/** Where the installation lives (CONTRACT.md, "Install layout"), below `root`. */
export interface SystemPaths {
  root: string;
  installedBinary: string;
  defaultConfig: string;
  pamDir: string;
  serviceUnit: string;
  timerUnit: string;
  t3DropIn: string;
  timerWantsDir: string;
  profileSnippet: string;
  fishSnippet: string;
  /** Debian's global zshenv, where install.sh adds the line every zsh reads. */
  zshenv: string;
}

export const INSTALLED_BINARY = "/usr/local/bin/claude-auth";
export const PAM_LINE = `session optional pam_exec.so type=open_session quiet ${INSTALLED_BINARY} pam --config ${DEFAULT_CONFIG_PATH}`;
const INSTALL_FIX = "run ./install.sh from the claude-auth-sync release as root; it installs";

export function systemPaths(root = "/"): SystemPaths {
  const at = (path: string) => join(root, path);
  return {
    root,
    installedBinary: at(INSTALLED_BINARY),
    defaultConfig: at(DEFAULT_CONFIG_PATH),
    pamDir: at("/etc/pam.d"),
    serviceUnit: at("/etc/systemd/system/claude-auth-sync@.service"),
    timerUnit: at("/etc/systemd/system/claude-auth-sync@.timer"),
    t3DropIn: at("/etc/systemd/system/t3-serve@.service.d/claude-auth.conf"),
    timerWantsDir: at("/etc/systemd/system/timers.target.wants"),
    profileSnippet: at("/etc/profile.d/claude-auth.sh"),
    fishSnippet: at("/etc/fish/conf.d/claude-auth.fish"),
    zshenv: at("/etc/zsh/zshenv"),
  };
}

function isExecutable(path: string): boolean {
  try {
    if (!statSync(path).isFile()) return false;
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The binary that runs, and the one the PAM line and the units call. */
export function checkBinary(paths: SystemPaths, running: string, version: string): Finding {
  const installed = isExecutable(paths.installedBinary);
  if (!installed) {
    return fail(
      "binary",
      `${paths.installedBinary} is missing or not executable (running ${running}, ${version}); the PAM line and the units call it`,
      `${INSTALL_FIX} the binary there`,
    );
  }
  return ok("binary", `${version}, running ${running}; installed at ${paths.installedBinary}`);
}

// --- configuration ---------------------------------------------------------------------------------

export interface ConfigFacts {
  path: string;
  /** lstat result; undefined when there is no file. */
  stat: { uid: number; mode: number; isLink: boolean; isFile: boolean } | undefined;
  text: string | undefined;
  readError: string | undefined;
}

export function readConfigFacts(path: string): ConfigFacts {
  let stat: ReturnType<typeof lstatSync>;
  try {
    stat = lstatSync(path, { throwIfNoEntry: false });
  } catch (error) {
    // A directory on the way we may not search: the file is there as far as we can tell, just not ours to read.
    return {
      path,
      stat: undefined,
      text: undefined,
      readError: (error as NodeJS.ErrnoException).code ?? String(error),
    };
  }
  if (!stat) return { path, stat: undefined, text: undefined, readError: undefined };
  const facts: ConfigFacts = {
    path,
    stat: { uid: stat.uid, mode: stat.mode & 0o777, isLink: stat.isSymbolicLink(), isFile: stat.isFile() },
    text: undefined,
    readError: undefined,
  };
  if (!stat.isFile()) return facts;
  try {
    facts.text = readFileSync(path, "utf8");
  } catch (error) {
    facts.readError = (error as NodeJS.ErrnoException).code ?? String(error);
  }
  return facts;
}

/** Exists, a regular file, root's, not writable by others: as root, sync and pam refuse anything else. */
export function checkConfigFile(facts: ConfigFacts, env: NodeJS.ProcessEnv): Finding {
  const { path, stat } = facts;
  const chownFix = `chown root:root ${path} && chmod 644 ${path}`;
  if (!stat && facts.readError) {
    return fail(
      "config-file",
      `${path} cannot be looked at by this user (${facts.readError})`,
      `chmod 755 ${dirname(path)}`,
    );
  }
  if (!stat) {
    return env.VAULT_ADDR
      ? warn(
          "config-file",
          `${path} does not exist; only the environment configures this run (VAULT_ADDR is set there), but PAM and the timer read the file`,
          `${INSTALL_FIX} a template at ${DEFAULT_CONFIG_PATH}; then set VAULT_ADDR in it`,
        )
      : fail("config-file", `${path} does not exist`, `${INSTALL_FIX} a template; then set VAULT_ADDR in it`);
  }
  if (stat.isLink) {
    return fail(
      "config-file",
      `${path} is a symbolic link; it is refused`,
      `replace it with a regular file: ${chownFix}`,
    );
  }
  if (!stat.isFile)
    return fail("config-file", `${path} is not a regular file`, "replace it with the config template");
  if (stat.uid !== 0) {
    return fail(
      "config-file",
      `${path} is owned by uid ${stat.uid}, not root: every sync run as root (PAM, the timer) refuses it`,
      chownFix,
    );
  }
  if ((stat.mode & 0o022) !== 0) {
    return fail(
      "config-file",
      `${path} is writable by group or others (mode ${octal(stat.mode)}): anyone could point the host's Vault token elsewhere, and every sync run as root refuses it`,
      chownFix,
    );
  }
  if (facts.readError) {
    return fail(
      "config-file",
      `${path} cannot be read by this user (${facts.readError}); commands you run need VAULT_ADDR from it`,
      `chmod 644 ${path} (keep VAULT_TOKEN out of it: use CLAUDE_AUTH_SYNC_TOKEN_FILE)`,
    );
  }
  return ok("config-file", `${path}: owner root, mode ${octal(stat.mode)}`);
}

/** Parses the file plus environment overrides exactly as every command does; names the key that fails. */
export function checkConfigValues(
  facts: ConfigFacts,
  env: NodeJS.ProcessEnv,
): { findings: Finding[]; config: Config | undefined } {
  const fromFile = facts.text === undefined ? {} : (parseDotenv(facts.text) as Record<string, string>);
  const findings: Finding[] = [];
  const raw: Partial<Record<(typeof CONFIG_KEYS)[number], string>> = {};
  for (const key of CONFIG_KEYS) {
    const value = env[key] ?? fromFile[key];
    if (value !== undefined) raw[key] = value;
  }
  const known = new Set<string>(CONFIG_KEYS);
  const unknown = Object.keys(fromFile).filter((key) => !known.has(key));
  if (unknown.length > 0) {
    findings.push(
      warn(
        "config-keys",
        `${facts.path} sets keys claude-auth-sync does not know: ${unknown.join(", ")} (a typo?)`,
        `the known keys are listed in the README, Configuration; remove or rename ${unknown.join(", ")}`,
      ),
    );
  }
  if (
    facts.text !== undefined &&
    facts.stat &&
    (facts.stat.mode & 0o077) !== 0 &&
    /^\s*(export\s+)?VAULT_TOKEN\s*=\s*\S/m.test(facts.text)
  ) {
    findings.push(
      fail(
        "config-values",
        `VAULT_TOKEN: ${facts.path} holds a Vault token but other users may read it (mode ${octal(facts.stat.mode)})`,
        "move the token to a root-only file named by CLAUDE_AUTH_SYNC_TOKEN_FILE",
      ),
    );
  }
  try {
    const config = parseConfig(raw, { path: facts.path, found: facts.text !== undefined });
    findings.push(
      ok("config-values", `${facts.path} parses${facts.text === undefined ? " (environment only)" : ""}`),
    );
    return { findings, config };
  } catch (error) {
    if (!(error instanceof InvalidDataError)) throw error;
    const source = env[error.field] !== undefined ? "the environment" : facts.path;
    findings.push(
      fail(
        "config-values",
        `${error.field} in ${source} is invalid: ${error.message.replace(`${error.field}: `, "")}`,
        error.hint ?? `fix ${error.field} in ${source}`,
      ),
    );
    return { findings, config: undefined };
  }
}

// --- installation -----------------------------------------------------------------------------------

/** /etc/pam.d below the checked root; absolute include paths are read below the root too. */
function pamSource(paths: SystemPaths): PamSource {
  return {
    services() {
      try {
        return readdirSync(paths.pamDir)
          .filter((name) => !name.startsWith("."))
          .sort();
      } catch {
        return [];
      }
    },
    read(nameOrPath) {
      const file = nameOrPath.startsWith("/") ? join(paths.root, nameOrPath) : join(paths.pamDir, nameOrPath);
      try {
        if (!statSync(file).isFile()) return undefined;
        return { file, text: readFileSync(file, "utf8") };
      } catch {
        return undefined;
      }
    },
  };
}

const where = (rule: PamRule) => `${rule.file}:${rule.line}`;

/**
 * Every stack that runs our line, as PAM expands it: each line's binary, config and `type=`, and no
 * `pam_env user_readenv=1` before it (it would hand the user's ~/.pam_environment to a root process).
 */
export function checkPamStacks(paths: SystemPaths): Finding[] {
  const facts = pamFacts(pamSource(paths));
  const fix = `add this line to ${join(paths.pamDir, "common-session")} (or run ./install.sh --pam as root):\n    ${PAM_LINE}`;
  const sessionRules = facts.ours.filter((rule) => rule.type === "session");
  if (sessionRules.length === 0) {
    const other = facts.ours[0];
    return [
      other
        ? fail(
            "pam",
            `${where(other)} calls claude-auth pam in the "${other.type}" stack, not "session": logins never sync`,
            fix,
          )
        : fail(
            "pam",
            `no pam_exec.so line calling \`claude-auth pam\` in ${paths.pamDir}: logins do not sync`,
            fix,
          ),
    ];
  }
  const findings: Finding[] = [];
  for (const rule of sessionRules) {
    const services = facts.servicesRunning.get(where(rule)) ?? [];
    const config = rule.config ?? DEFAULT_CONFIG_PATH;
    if (!rule.binary.startsWith("/")) {
      findings.push(
        fail(
          "pam",
          `${where(rule)}: pam_exec runs without PATH, so "${rule.binary}" is not found`,
          `use the absolute path: ${PAM_LINE}`,
        ),
      );
    } else if (!isExecutable(join(paths.root, rule.binary))) {
      findings.push(
        fail(
          "pam",
          `${where(rule)} calls ${rule.binary}, which is missing or not executable`,
          `${INSTALL_FIX} ${INSTALLED_BINARY}`,
        ),
      );
    } else if (!rule.openSessionOnly) {
      findings.push(
        fail(
          "pam-open-session",
          `${where(rule)} has no type=open_session: pam_exec runs claude-auth as root again at close_session, with whatever a later pam_env user_readenv=1 read from the user's ~/.pam_environment (LD_PRELOAD, OPENSSL_CONF: the user's code as root)`,
          `make the line read (./install.sh --pam upgrades it in place):\n    ${PAM_LINE}`,
        ),
      );
    } else if (!existsPlain(join(paths.root, config))) {
      findings.push(
        fail(
          "pam",
          `${where(rule)} runs claude-auth pam --config ${config}, which does not exist`,
          `create ${config} or fix the --config path in the line`,
        ),
      );
    } else {
      const by =
        services.length > 0
          ? `; run by ${services.map((s) => basename(s)).join(", ")}`
          : "; no service includes it";
      findings.push(
        ok("pam", `${where(rule)} runs ${rule.binary} pam --config ${config} at session open${by}`),
      );
    }
  }
  for (const found of facts.userEnvBeforeOurs) {
    findings.push(
      fail(
        "pam-user-env",
        `${where(found.envRule)} (${found.envRule.text}) runs before ${where(found.ours)} in ${found.services.join(", ")}: at session open the user's ~/.pam_environment reaches claude-auth as root, and LD_PRELOAD or OPENSSL_CONF there run the user's code before claude-auth can refuse`,
        `in ${found.services.join(", ")}, move that pam_env line after the line that runs claude-auth (Debian's sshd has it after @include common-session), or drop user_readenv=1`,
      ),
    );
  }
  return findings;
}

function existsPlain(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/** The first word of the first `key=` line (without systemd's -+@!: prefixes). */
function unitCommand(text: string, key: string): string | undefined {
  const line = text.split("\n").find((l) => l.startsWith(`${key}=`));
  return line
    ?.slice(key.length + 1)
    .replace(/^[-+@!:]+/, "")
    .split(/\s+/)[0];
}

/** "file", "missing", or why it could not be looked at (e.g. EACCES for a user under a 0700 directory). */
function probe(path: string): string {
  try {
    const stat = lstatSync(path, { throwIfNoEntry: false });
    if (!stat) return "missing";
    return stat.isFile() || stat.isSymbolicLink() ? "file" : "not a regular file";
  } catch (error) {
    return (error as NodeJS.ErrnoException).code ?? "unreadable";
  }
}

export function checkUnits(paths: SystemPaths): Finding {
  const files = [paths.serviceUnit, paths.timerUnit, paths.t3DropIn];
  const unknown = files
    .map((file) => [file, probe(file)])
    .filter(([, state]) => state !== "file" && state !== "missing");
  if (unknown.length > 0) {
    return warn(
      "systemd-units",
      `cannot inspect ${unknown.map(([file, state]) => `${file} (${state})`).join(", ")}`,
      "run doctor as root",
    );
  }
  const missing = files.filter((file) => probe(file) === "missing");
  if (missing.length > 0) {
    return fail(
      "systemd-units",
      `missing: ${missing.join(", ")}`,
      `${INSTALL_FIX} the units and the t3-serve@ drop-in`,
    );
  }
  for (const [file, key] of [
    [paths.serviceUnit, "ExecStart"],
    [paths.t3DropIn, "ExecStartPre"],
  ] as const) {
    let text = "";
    try {
      text = readFileSync(file, "utf8");
    } catch {}
    const command = unitCommand(text, key);
    if (command && !isExecutable(join(paths.root, command))) {
      return fail(
        "systemd-units",
        `${file}: ${key} runs ${command}, which is missing or not executable`,
        `${INSTALL_FIX} ${INSTALLED_BINARY}`,
      );
    }
  }
  return ok("systemd-units", `installed: ${files.map((f) => basename(f)).join(", ")}`);
}

export function checkTimer(paths: SystemPaths, user: SystemUser): Finding {
  const unit = `claude-auth-sync@${user.name}.timer`;
  const state = probe(join(paths.timerWantsDir, unit));
  if (state === "file") return ok("timer", `${unit} is enabled`);
  if (state !== "missing") {
    return warn("timer", `cannot tell whether ${unit} is enabled (${state})`, "run doctor as root");
  }
  return warn(
    "timer",
    `${unit} is not enabled: the periodic sync (every 6 h) does not run for ${user.name}; only logins sync`,
    `systemctl enable --now ${unit}`,
  );
}

export function checkShellSnippets(paths: SystemPaths, loginShell: string | undefined): Finding[] {
  const findings: Finding[] = [];
  findings.push(
    isReadableFile(paths.profileSnippet)
      ? ok("shell-snippet", `${paths.profileSnippet} installed (sh, dash, bash login shells)`)
      : fail(
          "shell-snippet",
          `${paths.profileSnippet} is missing: login shells never load the setup token`,
          `${INSTALL_FIX} it`,
        ),
  );
  const fishUser = loginShell !== undefined && basename(loginShell) === "fish";
  if (isReadableFile(paths.fishSnippet)) {
    findings.push(ok("shell-snippet-fish", `${paths.fishSnippet} installed`));
  } else {
    const message = `${paths.fishSnippet} is missing: fish shells never load the setup token`;
    findings.push(
      fishUser
        ? fail("shell-snippet-fish", message, `${INSTALL_FIX} it`)
        : warn("shell-snippet-fish", message, `${INSTALL_FIX} it`),
    );
  }
  return findings;
}

function isReadableFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/** What decides whether every zsh of a user loads the snippet, besides the block in ~/.zshenv. */
export interface ZshStartupFacts {
  /** The global zshenv (below --root) and whether a line there sources the snippet (install.sh's). */
  systemZshenv: string;
  systemSources: boolean;
  /** ~/.zshrc when it still holds a block an earlier release put there. */
  legacyBlockIn?: string;
}

/**
 * zsh on Debian never reads /etc/profile.d (and a non-login bash neither): those users need the rc block,
 * for zsh in ~/.zshenv (or install.sh's line in /etc/zsh/zshenv), which every zsh reads, `zsh -c` too.
 * `rcHasBlock` is undefined when there is no rc file or it could not be read.
 */
export function checkShellRc(
  user: SystemUser,
  loginShell: string | undefined,
  rcFile: string,
  rcHasBlock: boolean | undefined,
  setupTokenMode: boolean,
  forOther: boolean,
  zshStartup?: ZshStartupFacts,
): Finding | undefined {
  const shell = loginShell === undefined ? undefined : basename(loginShell);
  if (shell !== "zsh" && shell !== "bash") return undefined;
  const fix = `claude-auth shell install --shell ${shell}${forOther ? ` --user ${user.name}` : ""}`;
  if (shell === "zsh" && zshStartup?.legacyBlockIn) {
    // Moving it is the fix even when the system line covers every zsh: the old block makes it load twice.
    return warn(
      "shell-rc",
      `${zshStartup.legacyBlockIn} holds the claude-auth-sync block, which only interactive zsh reads${rcHasBlock || zshStartup.systemSources ? " (the snippet is also sourced from zshenv, so it runs twice)" : ": `ssh host cmd` and `su - user -c` do not get the setup token"}`,
      `${fix} (moves it to ${rcFile})`,
    );
  }
  if (rcHasBlock) return ok("shell-rc", `${rcFile} sources the snippet`);
  if (shell === "zsh") {
    if (zshStartup?.systemSources) {
      return ok("shell-rc", `${zshStartup.systemZshenv} sources the snippet for every zsh`);
    }
    const message = `${user.name}'s login shell is zsh, which never reads /etc/profile.d, and neither ${zshStartup?.systemZshenv ?? "/etc/zsh/zshenv"} nor ${rcFile} sources the snippet: zsh sessions do not get the setup token`;
    return setupTokenMode ? fail("shell-rc", message, fix) : warn("shell-rc", message, fix);
  }
  if (!setupTokenMode) return undefined;
  return warn(
    "shell-rc",
    `${rcFile} has no claude-auth-sync block: bash shells that are not login shells (most terminal windows) do not load the setup token`,
    fix,
  );
}

// --- files in the home ------------------------------------------------------------------------------

export function checkEnvFile(env: EnvFileFacts, user: SystemUser): Finding {
  const id = "env-file";
  if (env.state === "absent") return ok(id, `no env file (${env.path}): rotating mode, or not synced yet`);
  if (env.state === "refused") {
    return fail(
      id,
      `${env.path} was refused: ${env.refused}`,
      `rm ${env.path} && claude-auth sync (as ${user.name})`,
    );
  }
  if (env.uid !== user.uid) {
    return fail(
      id,
      `${env.path} is owned by ${ownerName(env.uid, user)}, not ${user.name}`,
      `chown ${user.name}: ${env.path}`,
    );
  }
  if (env.mode !== 0o600) {
    return fail(
      id,
      `${env.path} has mode ${octal(env.mode)}, not 0600: other users can read your setup token`,
      `chmod 600 ${env.path}`,
    );
  }
  if (env.state === "malformed") {
    return fail(
      id,
      `${env.path} is not exactly one CLAUDE_CODE_OAUTH_TOKEN=… line`,
      "claude-auth sync (rewrites it from Vault)",
    );
  }
  return ok(id, `${env.path}: mode 0600, owner ${user.name}, ${tokenHint(env.token ?? "")}`);
}

export function checkEnvDirectory(dir: DirectoryFacts, user: SystemUser): Finding | undefined {
  const id = "env-directory";
  if (!dir.exists) return undefined;
  if (dir.isLink)
    return fail(id, `${dir.path} is a symbolic link; it is refused`, `rm ${dir.path} && claude-auth sync`);
  if (dir.uid !== user.uid) {
    return fail(
      id,
      `${dir.path} is owned by ${ownerName(dir.uid, user)}, not ${user.name}`,
      `chown ${user.name}: ${dir.path}`,
    );
  }
  if (dir.mode !== 0o700)
    return fail(id, `${dir.path} has mode ${octal(dir.mode)}, not 0700`, `chmod 700 ${dir.path}`);
  return ok(id, `${dir.path}: mode 0700, owner ${user.name}`);
}

export function checkCredentialsFile(credentials: CredentialsFacts, user: SystemUser): Finding {
  const id = "credentials-file";
  if (!credentials.exists) return ok(id, `no credentials file (${credentials.path})`);
  if (credentials.refused)
    return fail(
      id,
      `${credentials.path} was refused: ${credentials.refused}`,
      `fix or remove ${credentials.path} as ${user.name}`,
    );
  if (credentials.uid !== user.uid) {
    return fail(
      id,
      `${credentials.path} is owned by ${ownerName(credentials.uid, user)}, not ${user.name}`,
      `chown ${user.name}: ${credentials.path}`,
    );
  }
  if (credentials.mode !== 0o600) {
    return fail(
      id,
      `${credentials.path} has mode ${octal(credentials.mode)}, not 0600: it holds your refresh token`,
      `chmod 600 ${credentials.path}`,
    );
  }
  if (credentials.parsed.kind === "unreadable") {
    return warn(
      id,
      `${credentials.path} is unreadable (${credentials.parsed.reason})`,
      "claude-auth sync (sets it aside and restores a usable backup), or `claude auth login`",
    );
  }
  return ok(id, `${credentials.path}: mode 0600, ${credentials.parsed.kind}`);
}

/** Root only: the root-owned copy t3-serve@ loads must hold the same token as the user's env file. */
export function checkServiceCopy(
  path: string,
  copy: {
    state: "absent" | "present";
    token: string | null;
    mode: number | undefined;
    uid: number | undefined;
  },
  env: EnvFileFacts,
  user: SystemUser,
): Finding {
  const id = "service-env-file";
  const fix = `claude-auth sync --user ${user.name} (as root), then systemctl restart t3-serve@${user.name}`;
  if (env.state !== "present") {
    return copy.state === "absent"
      ? ok(id, `no copy for t3-serve@${user.name} (none needed without an env file)`)
      : warn(
          id,
          `${path} exists but ${user.name} has no env file: t3-serve@${user.name} still gets a setup token`,
          fix,
        );
  }
  if (copy.state === "absent")
    return warn(id, `${path} is missing: t3-serve@${user.name} does not get the setup token`, fix);
  if (copy.uid !== 0 || copy.mode !== 0o600) {
    return fail(
      id,
      `${path} must be owned by root with mode 0600 (it is ${ownerName(copy.uid, user)}, ${octal(copy.mode)})`,
      `chown root:root ${path} && chmod 600 ${path}`,
    );
  }
  if (copy.token !== env.token) return warn(id, `${path} differs from ${user.name}'s env file`, fix);
  return ok(id, `${path} matches the env file`);
}

// --- the environment of this shell --------------------------------------------------------------------

export function checkApiKeyEnvironment(env: NodeJS.ProcessEnv): Finding {
  if (env.ANTHROPIC_API_KEY) {
    return warn(
      "env-anthropic-api-key",
      "ANTHROPIC_API_KEY is set in this environment: Claude Code uses it before CLAUDE_CODE_OAUTH_TOKEN and your login, so requests are billed to that API key",
      "unset ANTHROPIC_API_KEY, and remove it from your shell's rc files and ~/.config/environment.d",
    );
  }
  return ok("env-anthropic-api-key", "ANTHROPIC_API_KEY is not set");
}

export function checkOauthTokenEnvironment(env: NodeJS.ProcessEnv, file: EnvFileFacts): Finding {
  const id = "env-oauth-token";
  const value = env.CLAUDE_CODE_OAUTH_TOKEN;
  if (!value) {
    return file.state === "present"
      ? warn(
          id,
          "this shell has no CLAUDE_CODE_OAUTH_TOKEN although the env file exists: claude started from here uses the rotating login",
          "open a new shell; if it stays empty, see the shell-rc and shell-snippet findings",
        )
      : ok(id, "CLAUDE_CODE_OAUTH_TOKEN is not set (rotating mode)");
  }
  if (file.state !== "present" || file.token === undefined) {
    return warn(
      id,
      `CLAUDE_CODE_OAUTH_TOKEN is set in this environment (${tokenHint(value)}) but there is no env file: Claude Code uses it instead of your login`,
      "open a new shell (the snippet withdraws a token it exported), or `unset CLAUDE_CODE_OAUTH_TOKEN` if you set it yourself",
    );
  }
  if (value !== file.token) {
    return warn(
      id,
      `CLAUDE_CODE_OAUTH_TOKEN in this environment (${tokenHint(value)}) differs from the env file (${tokenHint(file.token)}): an old shell`,
      "open a new shell, or `. /etc/profile.d/claude-auth.sh` in this one",
    );
  }
  return ok(id, "CLAUDE_CODE_OAUTH_TOKEN in this environment matches the env file");
}

// --- Vault ------------------------------------------------------------------------------------------

export const NEEDED_CAPABILITIES = ["create", "read", "update"] as const;

export function policyStanza(path: string): string {
  return `path "${path}" {\n  capabilities = ["create", "read", "update"]\n}`;
}

/** From the capabilities Vault reports on the user's document path. */
export function checkCapabilities(
  path: string,
  capabilities: readonly string[],
  stanzaPath: string,
  identity: string,
): Finding {
  const id = "vault-capabilities";
  if (capabilities.includes("root"))
    return ok(id, `${identity} is a root token: every capability on ${path}`);
  const missing = capabilities.includes("deny")
    ? [...NEEDED_CAPABILITIES]
    : NEEDED_CAPABILITIES.filter((capability) => !capabilities.includes(capability));
  const has = capabilities.length > 0 ? capabilities.join(", ") : "none";
  if (missing.length > 0) {
    const why = missing
      .map((capability) =>
        capability === "read"
          ? "read (every sync reads the document)"
          : capability === "create"
            ? "create (the first backup or enable creates the document)"
            : "update (backups, enable, rotate and disable rewrite it)",
      )
      .join(", ");
    return fail(
      id,
      `${identity} lacks ${missing.join(", ")} on ${path} (it has: ${has}); needed: ${why}`,
      `add to one of its policies (patch is not needed: writes are read-merge-write with check-and-set, never HTTP PATCH):\n${indent(policyStanza(stanzaPath))}`,
    );
  }
  return ok(id, `${identity} may create, read and update ${path} (patch is not needed)`);
}

function indent(text: string): string {
  return text.replace(/^/gm, "    ");
}

export function vaultFailure(id: string, doing: string, error: unknown): Finding {
  const hint = error instanceof AuthSyncError ? error.hint : undefined;
  const message = error instanceof AuthSyncError ? error.message : formatError(error);
  return fail(id, `${doing}: ${message}`, hint ?? "check VAULT_ADDR, the network and Vault's health");
}

export { fail, ok, warn };

/** The user's document as Vault holds it, against the local env file. */
export function checkDocument(
  where: string,
  document: KvDocument,
  env: EnvFileFacts,
  now: Date,
  syncCommand: string,
): Finding[] {
  const id = "vault-document";
  let parsed: UserDocument;
  try {
    parsed = parseUserDocument(document);
  } catch (error) {
    if (!(error instanceof InvalidDataError)) throw error;
    return [
      fail(
        id,
        `${where}: ${error.message}; every sync stops here (exit 6)`,
        error.field === FIELD.setupToken
          ? "store a valid token: `claude setup-token`, then `claude-auth rotate` (or `claude-auth disable`)"
          : (error.hint ?? `fix ${error.field} in ${where}`),
      ),
    ];
  }
  const findings: Finding[] = [];
  const mode = parsed.setupToken
    ? "setup-token mode"
    : parsed.backup || parsed.backupProblem
      ? "rotating mode, with a backup"
      : parsed.exists
        ? "rotating mode, no backup yet"
        : "no document yet";
  findings.push(ok(id, `${where}: ${mode}${parsed.exists ? ` (version ${parsed.version})` : ""}`));
  if (parsed.backupProblem) {
    findings.push(
      warn(
        "vault-backup",
        `the backup in ${where} is unusable: ${parsed.backupProblem}`,
        `${syncCommand} backs up over it once the local credential is valid`,
      ),
    );
  }
  if (parsed.setupToken && (env.state !== "present" || env.token !== parsed.setupToken)) {
    findings.push(
      warn(
        "env-file-current",
        "the env file does not hold the setup token in Vault",
        `${syncCommand} writes it`,
      ),
    );
  }
  if (!parsed.setupToken && env.state !== "absent") {
    findings.push(
      warn(
        "env-file-current",
        "an env file exists but Vault holds no setup_token",
        `${syncCommand} removes it`,
      ),
    );
  }
  if (parsed.setupToken) {
    const age = parsed.setupTokenUpdatedAt ? setupTokenAge(parsed.setupTokenUpdatedAt, now) : undefined;
    if (!age) {
      findings.push(
        warn(
          "setup-token-age",
          "the setup token's age is unknown (no setup_token_updated_at)",
          `${RENEW_SETUP_TOKEN} to record it`,
        ),
      );
    } else if (age.warning) {
      findings.push(
        warn(
          "setup-token-age",
          `${age.warning.split(":")[0]} (stored ${age.updatedAt.slice(0, 10)}, estimated expiry ${age.estimatedExpiresAt.slice(0, 10)})`,
          RENEW_SETUP_TOKEN,
        ),
      );
    } else {
      findings.push(
        ok(
          "setup-token-age",
          `setup token stored ${age.updatedAt.slice(0, 10)}, about ${age.daysLeft} days left`,
        ),
      );
    }
  }
  return findings;
}
