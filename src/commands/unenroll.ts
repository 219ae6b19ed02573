// `claude-auth unenroll [--user NAME] [--json]`: revoke the user's enrolled Vault token (revoke-self) and
// remove ~/.config/claude-auth-sync/vault-token. Runs then do nothing for the user until they enroll again.
import type { CommandOptions } from "../cli.js";
import { Deadline } from "../deadline.js";
import { ExitCode, exitCodeOf, formatError, VaultUnavailableError } from "../errors.js";
import { connect } from "../sync/run.js";
import { UserHome } from "../system/home.js";
import { printErr, printOut, terminalJson } from "../system/terminal-text.js";
import { currentUserToken, revokeOwnToken } from "../vault/enrollment.js";
import {
  readEnrolledToken,
  VAULT_TOKEN_DIR,
  VAULT_TOKEN_DISPLAY,
  VAULT_TOKEN_FILE,
} from "../vault/identity.js";
import { loadCommandConfig, resolveTargetUser } from "./context.js";

type Revocation = "revoked" | "already-invalid" | "kept-cli-token" | "unreachable" | "none";

export async function unenrollCommand(options: CommandOptions): Promise<number> {
  try {
    const config = loadCommandConfig(options.config);
    const user = resolveTargetUser(options.user);
    const home = new UserHome(user);
    const token = home.batch(() => readEnrolledToken(home));
    let revocation: Revocation = "none";
    let reason = "";
    if (token !== undefined) {
      // Revoking the user's own CLI token would log their `vault` commands out too: leave that to them.
      const cliToken = process.getuid?.() === user.uid ? currentUserToken(config, user)?.token : undefined;
      if (cliToken === token) revocation = "kept-cli-token";
      else {
        const client = connect(config, new Deadline(config.timeoutMs));
        client.token = token;
        try {
          revocation = await revokeOwnToken(client);
        } catch (error) {
          if (!(error instanceof VaultUnavailableError)) throw error;
          revocation = "unreachable";
          reason = formatError(error).split("\n")[0] ?? "";
        }
      }
      home.remove(VAULT_TOKEN_DIR, VAULT_TOKEN_FILE);
    }
    const said: Record<Revocation, string> = {
      none: `not enrolled: ${user.name} has no ${VAULT_TOKEN_DISPLAY}; nothing to do`,
      revoked: `unenrolled: revoked the token and removed ${VAULT_TOKEN_DISPLAY}`,
      "already-invalid": `unenrolled: removed ${VAULT_TOKEN_DISPLAY} (Vault already had the token as expired or revoked)`,
      "kept-cli-token": `unenrolled: removed ${VAULT_TOKEN_DISPLAY}; not revoked: it is also your Vault CLI token (VAULT_TOKEN or ~/.vault-token): \`vault token revoke -self\` if you mean it`,
      unreachable: `unenrolled: removed ${VAULT_TOKEN_DISPLAY}, but could not revoke the token (${reason}); it expires at the end of its period or TTL, as nothing renews it now`,
    };
    printOut(
      options.json
        ? `${terminalJson({ user: user.name, revocation, file: VAULT_TOKEN_DISPLAY })}\n`
        : `${said[revocation]}\nYour Claude login is untouched; claude-auth-sync does nothing for ${user.name} until the next enrollment.\n`,
    );
    return revocation === "unreachable" ? ExitCode.vaultUnavailable : ExitCode.ok;
  } catch (error) {
    printErr(`claude-auth unenroll: ${formatError(error)}\n`);
    return exitCodeOf(error);
  }
}
