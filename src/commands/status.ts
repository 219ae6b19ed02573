// `claude-auth status` (placeholder until implemented).
import type { CommandOptions } from "../cli.js";
import { ExitCode } from "../errors.js";

export async function statusCommand(_options: CommandOptions): Promise<number> {
  process.stderr.write("claude-auth status: not implemented yet\n");
  return ExitCode.error;
}
