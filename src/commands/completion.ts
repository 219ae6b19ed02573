// `claude-auth completion <bash|zsh|fish>`: prints a completion script for that shell on stdout.
import { bashCompletion } from "../completion/bash.js";
import { fishCompletion } from "../completion/fish.js";
import { zshCompletion } from "../completion/zsh.js";
import { ExitCode, formatError, UsageError } from "../errors.js";
import { printErr } from "../system/terminal-text.js";

export const completionShells = ["bash", "zsh", "fish"] as const;
export type CompletionShell = (typeof completionShells)[number];

/** The one place a shell name becomes its script. */
export function completionScript(shell: string): string {
  switch (shell) {
    case "bash":
      return bashCompletion();
    case "zsh":
      return zshCompletion();
    case "fish":
      return fishCompletion();
    default:
      throw new UsageError(`no completion for shell "${shell}"`, `use ${completionShells.join(", ")}`);
  }
}

export async function completionCommand(shell: string): Promise<number> {
  try {
    // Our own static script, printed byte for byte: nothing a user wrote is in it.
    process.stdout.write(completionScript(shell));
    return ExitCode.ok;
  } catch (error) {
    printErr(`claude-auth completion: ${formatError(error)}\n`);
    return ExitCode.usage;
  }
}
