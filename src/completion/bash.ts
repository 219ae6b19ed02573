// bash: a static completion function over the spec (no process spawned per Tab press).
// Install: /usr/local/share/bash-completion/completions/claude-auth (bash-completion loads it on demand).
import {
  assertPlainWord,
  type CommandSpec,
  commands,
  type FlagSpec,
  flagsWithValue,
  globalFlags,
} from "./spec.js";

function words(list: readonly string[]): string {
  return list.map(assertPlainWord).join(" ");
}

function flagList(flags: readonly FlagSpec[]): string {
  return [...flags, ...globalFlags].map((flag) => `--${assertPlainWord(flag.name)}`).join(" ");
}

/** The `case "$prev"` arm that completes a flag's value, or nothing for a switch. */
function valueArm(flag: FlagSpec): string | undefined {
  const pattern = `--${assertPlainWord(flag.name)}`;
  switch (flag.value.kind) {
    case "none":
      return undefined;
    case "file":
      return `    ${pattern}) compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -f -- "$cur")); return ;;`;
    case "directory":
      return `    ${pattern}) compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -d -- "$cur")); return ;;`;
    case "user":
      return `    ${pattern}) COMPREPLY=($(compgen -u -- "$cur")); return ;;`;
    case "choice":
      return `    ${pattern}) COMPREPLY=($(compgen -W "${words(flag.value.words)}" -- "$cur")); return ;;`;
  }
}

function commandArm(command: CommandSpec): string {
  const name = assertPlainWord(command.name);
  const positional = command.positional
    ? `      if [[ $cur != -* && $positionals -eq 0 ]]; then COMPREPLY=($(compgen -W "${words(command.positional.words)}" -- "$cur")); return; fi\n`
    : "";
  return `    ${name})\n${positional}      COMPREPLY=($(compgen -W "${flagList(command.flags)}" -- "$cur")) ;;`;
}

export function bashCompletion(): string {
  const valueFlags = flagsWithValue().map((name) => `--${name}`);
  const arms = new Map<string, string>();
  for (const flag of [...globalFlags, ...commands.flatMap((command) => command.flags)]) {
    const arm = valueArm(flag);
    if (arm !== undefined) arms.set(flag.name, arm);
  }
  return `# bash completion for claude-auth (from \`claude-auth completion bash\`)
_claude_auth() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" prev="\${COMP_WORDS[COMP_CWORD-1]}"
  local command="" positionals=0 i
  # Find the command: the first word that is neither a flag nor a flag's value.
  for ((i = 1; i < COMP_CWORD; i++)); do
    case "\${COMP_WORDS[i]}" in
      ${valueFlags.join("|")}) ((i++)) ;;
      -*) ;;
      *) if [[ -z $command ]]; then command="\${COMP_WORDS[i]}"; else ((positionals++)); fi ;;
    esac
  done
  case "$prev" in
${[...arms.values()].join("\n")}
  esac
  case "$command" in
    "")
      if [[ $cur == -* ]]; then COMPREPLY=($(compgen -W "${flagList([])}" -- "$cur"))
      else COMPREPLY=($(compgen -W "${words(commands.map((command) => command.name))}" -- "$cur")); fi ;;
${commands.map(commandArm).join("\n")}
    *) COMPREPLY=() ;;
  esac
}
complete -F _claude_auth claude-auth
`;
}
