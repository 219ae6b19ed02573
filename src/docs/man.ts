// The man pages claude-auth(1) and claude-auth-sync.conf(5), made from the command table
// (src/completion/spec.ts), the config key table (config-keys.ts) and the exit codes (exit-codes.ts).
// scripts/man.mjs writes them; test/docs/man.test.ts checks them against --help, the README and groff.
import { type CommandSpec, commands, type FlagSpec, globalFlags } from "../completion/spec.js";
import { CONFIG_KEYS, type ConfigKey, DEFAULT_CONFIG_PATH } from "../config.js";
import { CONFIG_GROUPS, CONFIG_KEY_DOCS, type ConfigGroup } from "./config-keys.js";
import { exitCodeTable } from "./exit-codes.js";
import { escapeRoff, literal, paragraph, quotedArgument, tagged, textLine } from "./roff.js";

export interface ManPageOptions {
  version: string;
  /** The footer date, YYYY-MM-DD (from SOURCE_DATE_EPOCH for a reproducible package). */
  date: string;
}

export const PAM_SESSION_LINE = `session optional pam_exec.so type=open_session quiet /usr/bin/claude-auth pam --config ${DEFAULT_CONFIG_PATH}`;
export const PAM_AUTH_LINE = `auth optional pam_exec.so expose_authtok type=auth quiet /usr/bin/claude-auth pam --config ${DEFAULT_CONFIG_PATH}`;

/** What each command does, at more length than its one-line description; one entry per command of the spec. */
export const COMMAND_DOCS: Readonly<Record<string, readonly string[]>> = {
  sync: [
    "One sync pass for a user: the invoking user by default, `--user` only as root. In setup-token mode (the user's Vault document holds `setup_token`) it writes `~/.config/claude-auth-sync/claude-oauth.env`; otherwise it looks after `~/.claude/.credentials.json`: a valid local credential newer than the backup is backed up to Vault, a logged-out or unreadable one is restored from a usable backup this host took. Only the `claudeAiOauth` key of the credentials file is ever written; the Vault document is written with read-merge-write and check-and-set, so every key of others survives.",
    "With `CLAUDE_AUTH_SYNC_IDENTITY=user` (the default) the run speaks to Vault with the user's own enrolled token (`~/.config/claude-auth-sync/vault-token`, read as the user); a user who is not enrolled is skipped (exit 0, no Vault request, nothing written). Exit 5 when that token has expired or was revoked: enroll again.",
  ],
  pam: [
    "The entry point for pam_exec(8); it reads `PAM_USER` and `PAM_TYPE`. At `open_session` it syncs `PAM_USER` within `CLAUDE_AUTH_SYNC_TIMEOUT_MS`. With `PAM_TYPE=auth` (and `expose_authtok`) it enrolls `PAM_USER`'s own Vault token with the typed password (`CLAUDE_AUTH_SYNC_USER_AUTH`); the auth step always exits 0.",
    "Only the configuration file counts: environment variables never override it here, since the PAM environment may carry user-controlled values. It exits 0 unless `CLAUDE_AUTH_SYNC_PAM_STRICT=1`, so a failed or slow sync never blocks a login. See PAM below for the lines.",
  ],
  shell: [
    "`install` adds, once, the block that loads `CLAUDE_CODE_OAUTH_TOKEN` from the env file to your shell's rc file (`~/.bashrc`; `~/.zshenv`, where a block in `~/.zshrc` is moved; or `~/.config/fish/config.fish`); `uninstall` removes it; nothing else changes. `--shell` defaults to your login shell. As root, `--user` edits that user's file, written as that user.",
  ],
  enable: [
    "Turns on setup-token mode: reads a setup token (`sk-ant-oat01-…`, from `claude setup-token`) from standard input, or prompts for it without echo on a terminal. A token given as an argument is refused (exit 2): it would show in ps(1) and the shell history.",
    "By default (`--verify`) the token is first checked live against the API with one small request; `--no-verify` skips that. It then writes `setup_token` into your Vault document (every other key kept), writes the env file at once and restarts a running `t3-serve@<you>.service` (or prints the command). Undo: `claude-auth disable`.",
  ],
  rotate: [
    "Like `enable` (the same input and `--verify`/`--no-verify`), replacing an existing `setup_token`. Refused when setup-token mode is not on (use `enable`) or when the token is the one already stored. Revoke the old token in your Claude settings afterwards.",
  ],
  disable: [
    "Removes `setup_token` from your Vault document (every other key kept) and the env file: you are back on the rotating per-user login. As root it also removes the root-owned copy `t3-serve@<user>` loads (`/var/lib/claude-auth-sync/env/<user>.env`); run as the user, that copy is removed by the next run as root (the next login, timer run or start of `t3-serve@<user>`).",
  ],
  enroll: [
    "As the user: stores your own Vault token for claude-auth-sync in `~/.config/claude-auth-sync/vault-token` (mode 0600): your current one (`VAULT_TOKEN` or `~/.vault-token`, e.g. after `vault login -method=oidc`), or with `--method` a fresh login with your password (a no-echo prompt, or standard input).",
    "The token is checked first: it must have an identity entity and read and update your own document; a token that also reaches other users' documents or carries extra policies is stored with a warning. A password login enrolls you too when the PAM auth step is installed. Refused as root and with `--user`: it takes your own identity. Undo: `claude-auth unenroll`.",
  ],
  unenroll: [
    "Revokes your enrolled Vault token and removes `~/.config/claude-auth-sync/vault-token`; claude-auth-sync then does nothing for you. As root, `--user` does it for that user (offboarding). A token that is also your Vault CLI token (`VAULT_TOKEN`, `~/.vault-token`) is removed but not revoked. Exit 4 when Vault could not be reached to revoke it (the file is removed all the same).",
  ],
  status: [
    "Shows the mode (as the Vault document says, or as the local files say when Vault cannot be asked), what a sync would change now, the env file, the credentials file and its expiry, the backup, the setup token's age, the last sync (`state.json`), any pending notice and Vault (address, token, policies, TTL). It never prints a secret: a token shows at most as `sk-ant-oat01-…WXYZ`. `--json` prints one object with stable field names.",
    "Exit 0 whenever it could report, also when the credential is bad or SSO is required; 4 Vault unreachable, sealed or timed out; 5 Vault permission denied; 2 usage or an unusable configuration file; 6 invalid configuration; 1 other error. The local facts are printed in every case but usage.",
  ],
  doctor: [
    "Checks the installation and a user's setup and prints each finding with its fix: the binary, the configuration file (owner, mode, values, unknown keys), the PAM stacks, the systemd units and timer, the shell snippets and rc block, the env file, its directory and the credentials file, `ANTHROPIC_API_KEY` and `CLAUDE_CODE_OAUTH_TOKEN` in the environment, then Vault: health, the login and the capabilities on the user's document (create, read, update; patch is not needed).",
    "In `user` mode it checks the user's enrolled token (valid, with an identity entity, reaching the user's own document and no one else's) and, as root, that the host's own identity reaches no user's document. As root without `--user` it checks the installation and the host only. Exit 0 when nothing is broken (warnings alone keep 0), 1 at least one FAIL, 2 usage.",
  ],
  watch: [
    "Keeps running (the user service `claude-auth-watch.service`): on each change of `~/.claude/.credentials.json`, and once a minute, one sync pass, so a new credential is backed up and a logged-out one repaired within seconds. It renews only in the last hour of a token (or `CLAUDE_AUTH_SYNC_RENEW_WINDOW_S`, if shorter); the timer renews earlier. Stops on SIGTERM or SIGINT.",
  ],
  completion: [
    "Prints a completion script for bash, zsh or fish, e.g. `source <(claude-auth completion bash)` or `claude-auth completion fish > ~/.config/fish/completions/claude-auth.fish`.",
  ],
};

const GLOBAL_FLAG_DOCS: Readonly<Record<string, string>> = {
  config: `the configuration file, see claude-auth-sync.conf(5) (default \`${DEFAULT_CONFIG_PATH}\`, or \`CLAUDE_AUTH_SYNC_CONFIG\`)`,
  json: "structured output where available (`sync`, `status`, `doctor`, `shell`)",
  help: "show help, for the program or for one command",
  version: "show the version",
};

const ENVIRONMENT: readonly [string, string][] = [
  [
    "CLAUDE_AUTH_SYNC_CONFIG",
    `the configuration file when \`--config\` is not given (default \`${DEFAULT_CONFIG_PATH}\`); the PAM lines give \`--config\` explicitly`,
  ],
  [
    "CLAUDE_AUTH_SYNC_*",
    "every key of claude-auth-sync.conf(5): an environment variable overrides the file, except for `claude-auth pam`, which reads only the file",
  ],
  [
    "VAULT_ADDR, VAULT_CACERT, VAULT_NAMESPACE, VAULT_TOKEN",
    "as for the `vault` CLI, overriding the file likewise; `VAULT_TOKEN` (else `~/.vault-token`) is the token `enroll` takes, and a user's own identity in `host` mode",
  ],
  [
    "CLAUDE_CONFIG_DIR",
    "Claude Code's directory instead of `~/.claude` (its `.credentials.json`); honoured only when users act for themselves and only inside their home",
  ],
  ["PAM_USER, PAM_TYPE", "set by pam_exec(8): the user, and `open_session` (sync) or `auth` (enrollment)"],
  [
    "CLAUDE_CODE_OAUTH_TOKEN, ANTHROPIC_API_KEY",
    "read by Claude Code; the shell snippets export the first from the env file; `doctor` warns about an `ANTHROPIC_API_KEY` (Claude Code prefers it) and a `CLAUDE_CODE_OAUTH_TOKEN` that differs from the env file",
  ],
];

const USER_DIR = "~/.config/claude-auth-sync";
const FILES: readonly [string, string][] = [
  [
    `${USER_DIR}/claude-oauth.env`,
    "one line `CLAUDE_CODE_OAUTH_TOKEN=<token>`, mode 0600 in a 0700 directory, owned by the user, written atomically; present only in setup-token mode. Read by the shell snippets, `start-claude` and `t3-serve@<user>`",
  ],
  [
    `${USER_DIR}/vault-token`,
    "the user's own Vault token for this tool (mode 0600, owned by the user); present only while enrolled",
  ],
  [`${USER_DIR}/state.json`, "what the last run did: when, exit code, message (shown by `status`)"],
  [
    `${USER_DIR}/notice`,
    "a one-line notice for the user's next shell, e.g. that an interactive login is needed",
  ],
  [`${USER_DIR}/sync.lock`, "the per-user lock: a login, the timer and a manual run never interleave"],
  [
    "~/.claude/.credentials.json",
    "Claude Code's rotating credential (or `$CLAUDE_CONFIG_DIR/.credentials.json`); only its `claudeAiOauth` key is ever written; mode 0600",
  ],
  [DEFAULT_CONFIG_PATH, "the configuration, see claude-auth-sync.conf(5)"],
  [
    "/var/lib/claude-auth-sync/env/<user>.env",
    "root-owned copy of a user's env file that the `t3-serve@<user>` drop-in loads (`CLAUDE_AUTH_SYNC_SERVICE_ENV_DIR`)",
  ],
  [
    "/var/lib/claude-auth-sync/host-token",
    "root's cached host login token (`CLAUDE_AUTH_SYNC_HOST_TOKEN_CACHE`), mode 0600",
  ],
  [
    "/run/claude-auth-sync/enroll/<user>",
    "a token enrolled by the PAM auth step for a home that does not exist yet, held root-only on tmpfs until the session line stores it",
  ],
  [
    "$CLAUDE_AUTH_SYNC_METRICS_DIR/claude-auth-sync-<user>.prom",
    "the user's metrics for node_exporter's textfile collector (`claude_auth_sync_valid{user}` and more), replaced by each run",
  ],
  [
    "/usr/share/pam-configs/claude-auth-sync",
    "the Debian package's pam-auth-update(8) profile with the PAM lines",
  ],
];

function header(name: string, section: number, options: ManPageOptions, manual: string): string[] {
  return [
    `.\\" Generated by scripts/man.mjs from src/docs/ and src/completion/spec.ts; do not edit.`,
    `.TH ${quotedArgument(name.toUpperCase())} ${section} ${quotedArgument(options.date)} ${quotedArgument(`claude-auth-sync ${options.version}`)} ${quotedArgument(manual)}`,
    ".nh",
    ".ad l",
  ];
}

function section(title: string): string {
  return `.SH ${quotedArgument(title)}`;
}

function flagTag(flag: FlagSpec): string {
  const name = `\\fB\\-\\-${escapeRoff(flag.name)}\\fR`;
  switch (flag.value.kind) {
    case "none":
      return name;
    case "user":
      return `${name} \\fIname\\fR`;
    case "file":
      return `${name} \\fIpath\\fR`;
    case "directory":
      return `${name} \\fIdir\\fR`;
    case "choice":
      return `${name} ${flag.value.words.map((word) => `\\fB${escapeRoff(word)}\\fR`).join("|")}`;
  }
}

function synopsis(command: CommandSpec): string {
  const positional = command.positional
    ? [command.positional.words.map((word) => `\\fB${escapeRoff(word)}\\fR`).join("|")]
    : [];
  const flags = command.flags.map((flag) => `[${flagTag(flag)}]`);
  return [`\\fBclaude\\-auth ${escapeRoff(command.name)}\\fR`, ...positional, ...flags].join(" ");
}

function commandSection(command: CommandSpec): string[] {
  const body = COMMAND_DOCS[command.name];
  if (body === undefined) throw new Error(`man page: no COMMAND_DOCS entry for ${command.name}`);
  return [
    `.SS ${quotedArgument(command.name)}`,
    synopsis(command),
    ...body.flatMap((text) => paragraph(text)),
    ...(command.flags.length > 0 ? [".RS 4"] : []),
    ...command.flags.flatMap((flag) => tagged(flagTag(flag), flag.description)),
    ...(command.flags.length > 0 ? [".RE"] : []),
  ];
}

export function claudeAuthPage(options: ManPageOptions): string {
  const lines = [
    ...header("claude-auth", 1, options, "User Commands"),
    section("NAME"),
    "claude\\-auth \\- keep Claude Code logins valid, backed up in Vault under each user's own identity",
    section("SYNOPSIS"),
    `\\fBclaude\\-auth\\fR [\\fB\\-\\-config\\fR \\fIpath\\fR] [\\fB\\-\\-json\\fR] \\fIcommand\\fR [\\fIoptions\\fR]`,
    ".br",
    "\\fBclaude\\-auth\\fR \\fB\\-\\-help\\fR | \\fB\\-\\-version\\fR",
    section("DESCRIPTION"),
    textLine(
      "claude-auth keeps every workstation user's Claude Code login valid. Each user has one Vault KV v2 document (`secret/workstation/claude-users/<user>` by default), written only with read-merge-write and check-and-set: every key the tool does not own survives.",
    ),
    ...paragraph(
      "In setup-token mode (opt-in, `claude-auth enable`) the document holds a non-rotating setup token, materialized as `~/.config/claude-auth-sync/claude-oauth.env` for shells, `start-claude` and `t3-serve@<user>`. In rotating mode (the default) the sync backs up a valid `~/.claude/.credentials.json` and restores a logged-out one from a usable backup this host took.",
    ),
    ...paragraph(
      "A sync runs at login (`claude-auth pam` from pam_exec(8)), from the timer `claude-auth-sync@<user>.timer` every 6 h, from the user service `claude-auth-watch.service`, or by hand.",
    ),
    section("OPTIONS"),
    textLine("Every command accepts:"),
    ...globalFlags.flatMap((flag) =>
      tagged(
        flag.name === "help" ? `\\fB\\-h\\fR, ${flagTag(flag)}` : flagTag(flag),
        GLOBAL_FLAG_DOCS[flag.name] ?? flag.description,
      ),
    ),
    section("COMMANDS"),
    ...commands.flatMap(commandSection),
    section("PAM"),
    textLine(
      "The session line syncs at login; the auth line, after the module that asks for the password, enrolls a user's own Vault token with that password:",
    ),
    ...literal([PAM_SESSION_LINE, PAM_AUTH_LINE]),
    ...paragraph(
      "The Debian package ships both as the pam-auth-update(8) profile `claude-auth-sync` (`/usr/share/pam-configs/claude-auth-sync`); enable it with `pam-auth-update --enable claude-auth-sync`. install.sh installs the binary as `/usr/local/bin/claude-auth` and writes the same lines with that path (`--pam`, `--pam-auth`). `optional` and `quiet` keep a failed or slow sync from blocking or cluttering a login; `claude-auth doctor` checks the stacks.",
    ),
    section("EXIT STATUS"),
    ...exitCodeTable().flatMap(({ code, meaning }) => tagged(`\\fB${code}\\fR`, meaning)),
    section("ENVIRONMENT"),
    ...ENVIRONMENT.flatMap(([name, meaning]) => tagged(`\\fB${escapeRoff(name)}\\fR`, meaning)),
    section("FILES"),
    ...FILES.flatMap(([path, meaning]) => tagged(`\\fI${escapeRoff(path)}\\fR`, meaning)),
    section("SEE ALSO"),
    "\\fBclaude\\-auth\\-sync.conf\\fR(5), \\fBpam_exec\\fR(8), \\fBpam\\-auth\\-update\\fR(8), \\fBsystemd.timer\\fR(5), \\fBsystemd.service\\fR(5), \\fBvault\\fR(1), \\fBclaude\\fR(1)",
  ];
  return `${lines.join("\n")}\n`;
}

/** How the page says a key's default: "Default: `secret`.", "Default: none." */
export function defaultSentence(key: ConfigKey): string {
  const { shown } = CONFIG_KEY_DOCS[key];
  return `Default: ${shown === "—" ? "none" : shown}.`;
}

export function configPage(options: ManPageOptions): string {
  const groups = Object.keys(CONFIG_GROUPS) as ConfigGroup[];
  const lines = [
    ...header("claude-auth-sync.conf", 5, options, "File Formats"),
    section("NAME"),
    "claude\\-auth\\-sync.conf \\- configuration of claude\\-auth(1)",
    section("SYNOPSIS"),
    `\\fI${escapeRoff(DEFAULT_CONFIG_PATH)}\\fR`,
    section("DESCRIPTION"),
    textLine(
      `claude-auth reads \`${DEFAULT_CONFIG_PATH}\`, or the file named by \`--config\` or \`CLAUDE_AUTH_SYNC_CONFIG\` (which must then exist). Environment variables of the same names override the file, except for \`claude-auth pam\`: the PAM environment may carry user-controlled values, so logins read only the file.`,
    ),
    ...paragraph(
      "Running as root, claude-auth refuses a file that is not owned by root or is writable by group or others (`chown root:root`, `chmod 644`), a symbolic link, and a file larger than 64 KiB; a file holding `VAULT_TOKEN` must not be readable by others. A key this program does not know is reported by `claude-auth doctor`, never an error; a bad value fails with exit code 6 and names the key.",
    ),
    section("SYNTAX"),
    textLine(
      "dotenv syntax: one `KEY=value` per line; blank lines and lines starting with `#` are ignored, as is a leading `export`. A value may be quoted with double or single quotes (inside double quotes `\\n` is a newline); an unquoted value ends at a `#`, and surrounding white space is trimmed. An empty value means the default.",
    ),
    section("KEYS"),
    ...groups.flatMap((group) => [
      `.SS ${quotedArgument(CONFIG_GROUPS[group])}`,
      ...CONFIG_KEYS.filter((key) => CONFIG_KEY_DOCS[key].group === group).flatMap((key) =>
        tagged(`\\fB${escapeRoff(key)}\\fR`, [`${CONFIG_KEY_DOCS[key].meaning}.`, defaultSentence(key)]),
      ),
    ]),
    section("EXAMPLE"),
    ...literal([
      "VAULT_ADDR=https://vault.example.com:8200",
      "CLAUDE_AUTH_SYNC_IDENTITY=user",
      "CLAUDE_AUTH_SYNC_USER_AUTH=ldap",
      "CLAUDE_AUTH_SYNC_METRICS_DIR=/var/lib/prometheus/node-exporter",
    ]),
    section("FILES"),
    ...tagged(
      `\\fI${escapeRoff(DEFAULT_CONFIG_PATH)}\\fR`,
      "the configuration: a commented template with every key and its default, root 0644; never overwritten by install.sh or the package",
    ),
    section("SEE ALSO"),
    "\\fBclaude\\-auth\\fR(1), \\fBpam_exec\\fR(8), \\fBpam\\-auth\\-update\\fR(8), \\fBsystemd.timer\\fR(5), \\fBvault\\fR(1)",
  ];
  return `${lines.join("\n")}\n`;
}

/** The `claude` wrapper (shell/start-claude.sh). */
export function startClaudePage(options: ManPageOptions): string {
  const lines = [
    ...header("start-claude", 1, options, "User Commands"),
    section("NAME"),
    "start\\-claude \\- run Claude Code with the setup token claude\\-auth\\-sync keeps for you",
    section("SYNOPSIS"),
    "\\fBstart\\-claude\\fR [\\fIclaude arguments\\fR ...]",
    section("DESCRIPTION"),
    textLine(
      "start-claude loads `CLAUDE_CODE_OAUTH_TOKEN` from `~/.config/claude-auth-sync/claude-oauth.env` when that file exists (setup-token mode, see `claude-auth enable`), with the same parser the shell snippet `claude-auth.sh` uses, then replaces itself with `claude` and its arguments. Without the file (rotating mode) it runs `claude` unchanged, which then uses `~/.claude/.credentials.json`. It spawns no other process.",
    ),
    ...paragraph(
      "It finds the snippet next to itself (a source tree), in `../share/claude-auth-sync/` (an installation), or in `/etc/profile.d/`.",
    ),
    section("EXIT STATUS"),
    textLine("That of `claude`; 127 when the snippet cannot be found."),
    section("FILES"),
    ...tagged(
      `\\fI${escapeRoff("~/.config/claude-auth-sync/claude-oauth.env")}\\fR`,
      "one line `CLAUDE_CODE_OAUTH_TOKEN=<token>`, 0600, the user's; written by `claude-auth` in setup-token mode",
    ),
    section("SEE ALSO"),
    "\\fBclaude\\-auth\\fR(1), \\fBclaude\\fR(1)",
  ];
  return `${lines.join("\n")}\n`;
}

/** File name -> content, as scripts/man.mjs writes them. */
export function manPages(options: ManPageOptions): Record<string, string> {
  return {
    "claude-auth.1": claudeAuthPage(options),
    "claude-auth-sync.conf.5": configPage(options),
    "start-claude.1": startClaudePage(options),
  };
}
