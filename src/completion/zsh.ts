// zsh: an _arguments-based completion function over the spec.
// Install: /usr/local/share/zsh/site-functions/_claude-auth (in zsh's default fpath on Debian).
import { posixSingleQuote } from "../shell/quote.js";
import { assertPlainWord, type CommandSpec, commands, type FlagSpec, globalFlags } from "./spec.js";

/** Text inside an _arguments spec or a _describe entry: `\`, `[`, `]` and `:` are special there. */
export function zshSpecText(text: string): string {
  return text.replace(/[\\[\]:]/g, (c) => `\\${c}`);
}

function flagSpec(flag: FlagSpec): string {
  const name = assertPlainWord(flag.name);
  const head = name === "help" || name === "version" ? `(- *)--${name}` : `--${name}`;
  const help = `[${zshSpecText(flag.description)}]`;
  switch (flag.value.kind) {
    case "none":
      return posixSingleQuote(`${head}${help}`);
    case "file":
      return posixSingleQuote(`${head}${help}:file:_files`);
    case "directory":
      return posixSingleQuote(`${head}${help}:directory:_directories`);
    case "user":
      return posixSingleQuote(`${head}${help}:user:_users`);
    case "choice":
      return posixSingleQuote(`${head}${help}:${name}:(${flag.value.words.map(assertPlainWord).join(" ")})`);
  }
}

function commandArm(command: CommandSpec): string {
  const specs = [...command.flags, ...globalFlags].map(flagSpec);
  if (command.positional) {
    const { name, words } = command.positional;
    specs.push(posixSingleQuote(`1:${assertPlainWord(name)}:(${words.map(assertPlainWord).join(" ")})`));
  }
  return `        ${assertPlainWord(command.name)}) _arguments -s \\\n          ${specs.join(" \\\n          ")} ;;`;
}

export function zshCompletion(): string {
  const entries = commands.map((command) =>
    posixSingleQuote(`${assertPlainWord(command.name)}:${zshSpecText(command.description)}`),
  );
  return `#compdef claude-auth
# zsh completion for claude-auth (from \`claude-auth completion zsh\`)
_claude_auth() {
  local curcontext="$curcontext" state line ret=1
  typeset -A opt_args
  local -a subcommands
  subcommands=(
    ${entries.join("\n    ")}
  )
  _arguments -C \\
    ${globalFlags.map(flagSpec).join(" \\\n    ")} \\
    '1:command:->command' \\
    '*::argument:->argument' && ret=0
  case $state in
    command) _describe -t commands 'claude-auth command' subcommands && ret=0 ;;
    argument)
      curcontext="\${curcontext%:*:*}:claude-auth-$words[1]:"
      case $words[1] in
${commands.map(commandArm).join("\n")}
      esac
      ret=$? ;;
  esac
  return ret
}
if [[ "\${funcstack[1]}" == "_claude-auth" ]]; then
  _claude_auth "$@"
elif (( \${+functions[compdef]} )); then
  compdef _claude_auth claude-auth
fi
`;
}
