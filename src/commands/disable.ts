// `claude-auth disable [--user NAME] [--json]`: remove setup_token from the user's document (every
// other key kept) and the env file; the user is back on the rotating per-user SSO flow.
import type { CommandOptions } from "../cli.js";
import { setupTokenCommand } from "./setup-token.js";

export function disableCommand(options: CommandOptions): Promise<number> {
  return setupTokenCommand("disable", options);
}
