// `claude-auth enable [--user NAME] [--no-verify] [--json]`: store a setup token in the user's Vault
// document (read from stdin or a hidden prompt, never argv) and switch this machine to it at once.
import { type SetupTokenCommandOptions, setupTokenCommand } from "./setup-token.js";

export function enableCommand(options: SetupTokenCommandOptions): Promise<number> {
  return setupTokenCommand("enable", options);
}
