// `claude-auth rotate` (placeholder until implemented).
import type { CommandOptions } from "../cli.js";
import { ExitCode } from "../errors.js";

export async function rotateCommand(_options: CommandOptions): Promise<number> {
  process.stderr.write("claude-auth rotate: not implemented yet\n");
  return ExitCode.error;
}
