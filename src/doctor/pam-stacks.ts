// The PAM stacks as Linux-PAM runs them: every service file in /etc/pam.d with its `@include`,
// `include` and `substack` lines expanded, so that doctor judges the order a login really sees.

export interface PamRule {
  file: string;
  /** 1-based number of the rule's first physical line. */
  line: number;
  type: string;
  module: string;
  args: string[];
  text: string;
}

type Entry = PamRule | { include: string; type: string | undefined };

/** One of our lines: pam_exec.so calling `claude-auth pam`. */
export interface ClaudeAuthRule extends PamRule {
  binary: string;
  config: string | undefined;
  /** `type=open_session` among pam_exec's options: not run again at close_session. */
  openSessionOnly: boolean;
}

/** A rule that fills the PAM environment from the user's ~/.pam_environment before ours runs. */
export interface UserEnvBeforeOurs {
  services: string[];
  envRule: PamRule;
  ours: ClaudeAuthRule;
}

export interface PamFacts {
  ours: ClaudeAuthRule[];
  /** Service files whose session stack runs each of our rules (keyed by `file:line`). */
  servicesRunning: Map<string, string[]>;
  userEnvBeforeOurs: UserEnvBeforeOurs[];
}

export interface PamSource {
  /** The service files, by name (every regular file in /etc/pam.d). */
  services(): string[];
  /** A file's text (a name in /etc/pam.d, or an absolute path), or undefined when unreadable. */
  read(nameOrPath: string): { file: string; text: string } | undefined;
}

/** Splits a file into logical rules (backslash-newline continues a line; `#` starts a comment). */
export function parsePamFile(file: string, text: string): Entry[] {
  const entries: Entry[] = [];
  const physical = text.split("\n");
  for (let index = 0; index < physical.length; index++) {
    const first = index + 1;
    let logical = physical[index] ?? "";
    while (logical.endsWith("\\") && index + 1 < physical.length) {
      logical = `${logical.slice(0, -1)} ${physical[++index] ?? ""}`;
    }
    const rule = logical.replace(/#.*/, "").trim();
    if (rule === "") continue;
    const words = splitWords(rule);
    const [head = "", control = "", module = "", ...args] = words;
    if (head === "@include") {
      if (control) entries.push({ include: control, type: undefined });
      continue;
    }
    const type = head.replace(/^-/, "").toLowerCase();
    if (control === "include" || control === "substack") {
      if (module) entries.push({ include: module, type });
      continue;
    }
    entries.push({ file, line: first, type, module, args, text: words.join(" ") });
  }
  return entries;
}

/** Words, with a `[...]` group (a control or an option with spaces) kept as one word. */
function splitWords(rule: string): string[] {
  const words: string[] = [];
  const pattern = /\[[^\]]*\]\S*|\S*\[[^\]]*\]\S*|\S+/g;
  for (const match of rule.matchAll(pattern)) words.push(match[0]);
  return words;
}

const moduleName = (module: string) => module.slice(module.lastIndexOf("/") + 1);

/** The rules of one type that a service runs, includes expanded, in order. */
export function expandStack(source: PamSource, service: string, type: string, depth = 0): PamRule[] {
  if (depth > 16) return []; // Linux-PAM refuses deeper nesting too; a cycle ends here
  const read = source.read(service);
  if (!read) return [];
  const rules: PamRule[] = [];
  for (const entry of parsePamFile(read.file, read.text)) {
    if ("include" in entry) {
      if (entry.type === undefined || entry.type === type) {
        rules.push(...expandStack(source, entry.include, type, depth + 1));
      }
    } else if (entry.type === type) {
      rules.push(entry);
    }
  }
  return rules;
}

function asClaudeAuth(rule: PamRule): ClaudeAuthRule | undefined {
  if (moduleName(rule.module) !== "pam_exec.so") return undefined;
  const at = rule.args.findIndex((arg, i) => /(^|\/)claude-auth$/.test(arg) && rule.args[i + 1] === "pam");
  if (at < 0) return undefined;
  const binary = rule.args[at] ?? "";
  const after = rule.args.slice(at + 2);
  const configAt = after.indexOf("--config");
  const inline = after.find((arg) => arg.startsWith("--config="));
  const config = configAt >= 0 ? after[configAt + 1] : inline?.slice("--config=".length);
  const options = rule.args.slice(0, at);
  return { ...rule, binary, config, openSessionOnly: options.includes("type=open_session") };
}

const readsUserEnv = (rule: PamRule) =>
  moduleName(rule.module) === "pam_env.so" && rule.args.includes("user_readenv=1");

const key = (rule: PamRule) => `${rule.file}:${rule.line}`;

export function pamFacts(source: PamSource): PamFacts {
  const ours = new Map<string, ClaudeAuthRule>();
  const servicesRunning = new Map<string, string[]>();
  const before = new Map<string, UserEnvBeforeOurs>();
  const services = source.services();
  for (const service of services) {
    const read = source.read(service);
    if (!read) continue;
    for (const entry of parsePamFile(read.file, read.text)) {
      const rule = "include" in entry ? undefined : asClaudeAuth(entry);
      if (rule) ours.set(key(rule), rule);
    }
  }
  for (const service of services) {
    const session = expandStack(source, service, "session");
    // pam_setcred (the auth stack's pam_env) runs before the session opens in login, su and sshd.
    const authEnv = expandStack(source, service, "auth").filter(readsUserEnv);
    session.forEach((rule, index) => {
      const mine = ours.get(key(rule));
      if (!mine) return;
      servicesRunning.set(key(mine), [...(servicesRunning.get(key(mine)) ?? []), service]);
      for (const envRule of [...authEnv, ...session.slice(0, index).filter(readsUserEnv)]) {
        const pair = `${key(envRule)}>${key(mine)}`;
        const found = before.get(pair) ?? { services: [], envRule, ours: mine };
        found.services.push(service);
        before.set(pair, found);
      }
    });
  }
  return { ours: [...ours.values()], servicesRunning, userEnvBeforeOurs: [...before.values()] };
}
