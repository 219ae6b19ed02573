// `claude-auth enable` (placeholder until implemented).
import type { CommandOptions } from "../cli.js";
import { ExitCode } from "../errors.js";

export async function enableCommand(_options: CommandOptions): Promise<number> {
  process.stderr.write("claude-auth enable: not implemented yet\n");
  return ExitCode.error;
}
