// `claude-auth doctor` (placeholder until implemented).
import type { CommandOptions } from "../cli.js";
import { ExitCode } from "../errors.js";

export async function doctorCommand(_options: CommandOptions): Promise<number> {
  process.stderr.write("claude-auth doctor: not implemented yet\n");
  return ExitCode.error;
}
