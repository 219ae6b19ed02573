// `claude-auth disable` (placeholder until implemented).
import type { CommandOptions } from "../cli.js";
import { ExitCode } from "../errors.js";

export async function disableCommand(_options: CommandOptions): Promise<number> {
  process.stderr.write("claude-auth disable: not implemented yet\n");
  return ExitCode.error;
}
