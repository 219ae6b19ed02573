// What the command line looks like to a completion script: commands, their flags and the values
// those flags take. One table, rendered by bash.ts, zsh.ts and fish.ts; a test checks it against
// the flags yargs actually accepts (src/cli.ts), so the two cannot drift apart unnoticed.

/** How a flag's value is completed: none (a switch), a file, a directory, a login name, or one of a few words. */
export type ValueKind =
  | { kind: "directory" }
  | { kind: "none" }
  | { kind: "file" }
  | { kind: "user" }
  | { kind: "choice"; words: readonly string[] };

export interface FlagSpec {
  /** Without the leading dashes, e.g. "dry-run". */
  name: string;
  description: string;
  value: ValueKind;
}

export interface CommandSpec {
  name: string;
  description: string;
  flags: readonly FlagSpec[];
  /** The words allowed as the one positional argument, if the command takes one. */
  positional?: { name: string; words: readonly string[] };
}

const SWITCH: ValueKind = { kind: "none" };
const shellWords = ["bash", "zsh", "fish"] as const;

const user = (description: string): FlagSpec => ({ name: "user", description, value: { kind: "user" } });
const noVerify: FlagSpec = {
  name: "no-verify",
  description: "skip the live check of the token against the API",
  value: SWITCH,
};

/** Flags every command accepts. */
export const globalFlags: readonly FlagSpec[] = [
  { name: "config", description: "configuration file", value: { kind: "file" } },
  { name: "json", description: "structured output where available", value: SWITCH },
  { name: "help", description: "show help", value: SWITCH },
  { name: "version", description: "show the version", value: SWITCH },
];

export const commands: readonly CommandSpec[] = [
  {
    name: "sync",
    description: "one sync pass for a user",
    flags: [
      user("user to sync (root only)"),
      { name: "dry-run", description: "print the plan, change nothing", value: SWITCH },
      { name: "renew-token", description: "renew the Vault token when its TTL runs low", value: SWITCH },
      {
        name: "verify",
        description: "check the credential in use live against the API when due (timer runs)",
        value: SWITCH,
      },
    ],
  },
  { name: "pam", description: "entry point for pam_exec (session open, auth-stack enrollment)", flags: [] },
  {
    name: "shell",
    description: "add or remove the rc-file block that loads the setup token",
    flags: [
      {
        name: "shell",
        description: "whose rc file to edit",
        value: { kind: "choice", words: shellWords },
      },
      user("the user whose rc file to edit (root only)"),
    ],
    positional: { name: "action", words: ["install", "uninstall"] },
  },
  {
    name: "enable",
    description: "turn on setup-token mode (token from stdin or a no-echo prompt)",
    flags: [user("act for this user (root only)"), noVerify],
  },
  {
    name: "rotate",
    description: "replace your setup token with a new one",
    flags: [user("act for this user (root only)"), noVerify],
  },
  {
    name: "disable",
    description: "turn off setup-token mode, back to the rotating login",
    flags: [user("act for this user (root only)")],
  },
  {
    name: "enroll",
    description: "store your own Vault token for claude-auth-sync",
    flags: [
      {
        name: "method",
        description: "log in with your password instead of taking your current token",
        value: { kind: "choice", words: ["ldap", "userpass"] },
      },
    ],
  },
  {
    name: "unenroll",
    description: "revoke and remove your enrolled Vault token",
    flags: [user("act for this user (root only)")],
  },
  {
    name: "status",
    description: "mode, local files, expiry, last sync, Vault reachability",
    flags: [
      user("show this user (root only)"),
      { name: "verify", description: "also check the credential live against the API", value: SWITCH },
    ],
  },
  {
    name: "doctor",
    description: "check the installation and your setup",
    flags: [
      user("check this user's setup (root only)"),
      {
        name: "root",
        description: "check an installation below this directory",
        value: { kind: "directory" },
      },
    ],
  },
  {
    name: "watch",
    description: "keep running: back up and repair the Claude login within seconds",
    flags: [user("the user to watch (root only)")],
  },
  {
    name: "completion",
    description: "print a shell completion script",
    flags: [],
    positional: { name: "shell", words: shellWords },
  },
];

/** Every word a script embeds unquoted (names, flags, choices) must be this plain. */
const PLAIN_WORD = /^[a-z][a-z0-9-]*$/;

export function assertPlainWord(word: string): string {
  if (!PLAIN_WORD.test(word)) throw new Error(`completion spec: ${JSON.stringify(word)} is not a plain word`);
  return word;
}

/** Flags that take a value: a completion script must skip that value when it looks for the command. */
export function flagsWithValue(): string[] {
  const all = [...globalFlags, ...commands.flatMap((command) => command.flags)];
  return [
    ...new Set(all.filter((flag) => flag.value.kind !== "none").map((flag) => assertPlainWord(flag.name))),
  ];
}
