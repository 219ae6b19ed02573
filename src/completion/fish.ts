// fish: one `complete` line per command and flag over the spec.
// Install: /usr/local/share/fish/vendor_completions.d/claude-auth.fish (fish loads it on demand).
import { fishSingleQuote } from "../shell/quote.js";
import { assertPlainWord, type CommandSpec, commands, type FlagSpec, globalFlags } from "./spec.js";

const COMMAND_NAMES = () => commands.map((command) => assertPlainWord(command.name)).join(" ");

function flagLine(flag: FlagSpec, condition: string | undefined): string {
  const parts = ["complete -c claude-auth"];
  if (condition !== undefined) parts.push(`-n ${fishSingleQuote(condition)}`);
  parts.push(`-l ${assertPlainWord(flag.name)}`);
  if (flag.name === "help") parts.push("-s h");
  switch (flag.value.kind) {
    case "none":
      break;
    case "file":
      parts.push("-r -F");
      break;
    case "directory":
      parts.push("-x -a '(__fish_complete_directories)'");
      break;
    case "user":
      parts.push("-x -a '(__fish_complete_users)'");
      break;
    case "choice":
      parts.push(`-x -a ${fishSingleQuote(flag.value.words.map(assertPlainWord).join(" "))}`);
      break;
  }
  parts.push(`-d ${fishSingleQuote(flag.description)}`);
  return parts.join(" ");
}

function commandLines(command: CommandSpec): string[] {
  const name = assertPlainWord(command.name);
  const inCommand = `__fish_seen_subcommand_from ${name}`;
  const lines = [
    `complete -c claude-auth -n __fish_use_subcommand -a ${name} -d ${fishSingleQuote(command.description)}`,
  ];
  if (command.positional) {
    const words = command.positional.words.map(assertPlainWord).join(" ");
    lines.push(
      `complete -c claude-auth -n ${fishSingleQuote(`${inCommand}; and not __fish_seen_subcommand_from ${words}`)} -a ${fishSingleQuote(words)}`,
    );
  }
  for (const flag of command.flags) lines.push(flagLine(flag, inCommand));
  return lines;
}

export function fishCompletion(): string {
  return `# fish completion for claude-auth (from \`claude-auth completion fish\`)
# Commands: ${COMMAND_NAMES()}
complete -c claude-auth -f
${globalFlags.map((flag) => flagLine(flag, undefined)).join("\n")}
${commands.flatMap(commandLines).join("\n")}
`;
}
