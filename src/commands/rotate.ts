// `claude-auth rotate [--user NAME] [--no-verify] [--json]`: replace the stored setup token with a new
// one; refused when setup-token mode is not on or the token is the one already stored.
import { type SetupTokenCommandOptions, setupTokenCommand } from "./setup-token.js";

export function rotateCommand(options: SetupTokenCommandOptions): Promise<number> {
  return setupTokenCommand("rotate", options);
}
