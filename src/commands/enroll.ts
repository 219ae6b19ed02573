// `claude-auth enroll [--method ldap|userpass] [--json]`: as the user, store their own Vault token for
// claude-auth-sync (CLAUDE_AUTH_SYNC_IDENTITY=user): their current token (VAULT_TOKEN, ~/.vault-token),
// or a fresh password login. The token is checked first; nothing is stored when it cannot serve.
import type { CommandOptions } from "../cli.js";
import type { Config, UserAuthMethod } from "../config.js";
import { Deadline } from "../deadline.js";
import { exitCodeOf, formatError, InvalidDataError, UsageError } from "../errors.js";
import { connect } from "../sync/run.js";
import { UserHome } from "../system/home.js";
import { promptHidden, readSecretFromStdin } from "../system/secret-input.js";
import { printErr, printOut, terminalJson } from "../system/terminal-text.js";
import { currentUser, isRoot, type SystemUser } from "../system/users.js";
import { userPasswordLogin } from "../vault/auth.js";
import { currentUserToken, enrollToken, revokeOwnToken, type TokenAssessment } from "../vault/enrollment.js";
import { readEnrolledToken, VAULT_TOKEN_DISPLAY } from "../vault/identity.js";
import { loadCommandConfig } from "./context.js";

export interface EnrollOptions extends CommandOptions {
  method: UserAuthMethod | undefined;
}

/** Where the token comes from: a password login (it is ours: revoked if it cannot serve) or the user's own. */
interface Candidate {
  token: string;
  origin: string;
  minted: boolean;
}

async function readPassword(method: UserAuthMethod, user: string): Promise<string> {
  const password = process.stdin.isTTY
    ? await promptHidden(`Vault ${method} password for ${user} (input hidden): `)
    : await readSecretFromStdin("password");
  if (password === "") throw new InvalidDataError("password", "nothing was entered; nothing was changed");
  return password;
}

async function candidate(
  config: Config,
  user: SystemUser,
  method: UserAuthMethod | undefined,
): Promise<Candidate> {
  const chosen = method ?? (currentUserToken(config, user) ? undefined : config.userAuth);
  if (chosen === undefined) {
    const current = currentUserToken(config, user);
    if (!current) {
      throw new UsageError(
        "no Vault token to enroll: VAULT_TOKEN and ~/.vault-token are empty and CLAUDE_AUTH_SYNC_USER_AUTH is not set",
        "log in first (`vault login -method=oidc -path=…`, or ldap/userpass), or run `claude-auth enroll --method ldap|userpass`",
      );
    }
    return { token: current.token, origin: current.origin, minted: false };
  }
  const mount = config.userAuth === chosen ? config.userAuthMount : chosen;
  const password = await readPassword(chosen, user.name);
  const client = connect(config, new Deadline(config.timeoutMs));
  const answer = await userPasswordLogin(client, chosen, mount, user.name, password);
  return { token: answer.token, origin: `a fresh ${chosen} login at auth/${mount}`, minted: true };
}

/** Best effort: a token of ours that is not stored, or the one a new enrollment replaced. */
async function revokeQuietly(config: Config, token: string): Promise<void> {
  const client = connect(config, new Deadline(config.timeoutMs));
  client.token = token;
  await revokeOwnToken(client).catch(() => undefined);
}

/** What enroll (and enable, when it enrolls) tells the user: never the token. */
export function enrollmentReport(assessment: TokenAssessment, origin?: string): string {
  const lines = [
    `enrolled: ${origin ? `${origin}, ` : ""}stored in ${VAULT_TOKEN_DISPLAY} (0600, yours)`,
    `  your document: ${assessment.own.join(", ")}`,
    `  lifetime: ${assessment.lifetime}`,
    ...assessment.warnings.map((w) => `  warning: ${w}`),
  ];
  return lines.join("\n");
}

export async function enrollCommand(options: EnrollOptions): Promise<number> {
  try {
    if (options.user !== undefined || isRoot()) {
      throw new UsageError(
        "enroll stores a user's own Vault identity, so it runs as that user: root (or --user) cannot enroll anyone",
        "log in as the user and run `claude-auth enroll`; a password login enrolls them too (PAM auth step)",
      );
    }
    const config = loadCommandConfig(options.config);
    const user = currentUser();
    const home = new UserHome(user);
    const previous = home.batch(() => readEnrolledToken(home));
    const chosen = await candidate(config, user, options.method);
    let assessment: TokenAssessment;
    try {
      assessment = await enrollToken(
        connect(config, new Deadline(config.timeoutMs)),
        config,
        user,
        chosen.token,
      );
    } catch (error) {
      if (chosen.minted) await revokeQuietly(config, chosen.token);
      throw error;
    }
    // The replaced token was this tool's alone, unless it is also the user's CLI token.
    const replaced =
      previous !== undefined &&
      previous !== chosen.token &&
      previous !== currentUserToken(config, user)?.token;
    if (replaced) await revokeQuietly(config, previous);
    const notice =
      config.identity === "host"
        ? "note: CLAUDE_AUTH_SYNC_IDENTITY=host here: runs use the host's identity until the admin switches to user"
        : undefined;
    if (options.json) {
      printOut(
        `${terminalJson({
          user: user.name,
          enrolled: true,
          file: VAULT_TOKEN_DISPLAY,
          origin: chosen.origin,
          capabilities: assessment.own,
          lifetime: assessment.lifetime,
          periodSeconds: assessment.info.periodSeconds,
          ttlSeconds: assessment.info.ttlSeconds,
          warnings: assessment.warnings,
          replacedRevoked: replaced,
          identityMode: config.identity,
        })}\n`,
      );
    } else {
      printOut(`${enrollmentReport(assessment, chosen.origin)}${notice ? `\n${notice}` : ""}\n`);
    }
    return 0;
  } catch (error) {
    printErr(`claude-auth enroll: ${formatError(error)}\n`);
    return exitCodeOf(error);
  }
}
