// What each exit code means: the man page's EXIT STATUS and the README's Exit codes table.
import { ExitCode } from "../errors.js";

/** One meaning per ExitCode name; the mapped type makes a missing code a type error. */
export const EXIT_CODE_DOCS: { readonly [K in keyof typeof ExitCode]: string } = {
  ok: 'ok, including "nothing to do"',
  error: "other error (for `doctor`: at least one check FAILed)",
  usage: "usage: bad arguments, or an unusable configuration file",
  ssoRequired: "interactive SSO required: the user must log in to Claude Code again",
  vaultUnavailable: "Vault unreachable, sealed or timed out",
  vaultDenied:
    "Vault permission denied (also: the enrolled Vault token expired or was revoked, or is missing where a command needs it)",
  invalidData:
    "invalid data: bad setup token, malformed document, credentials or configuration; the message names the field",
};

/** The codes in numeric order with their meanings. */
export function exitCodeTable(): { code: number; name: keyof typeof ExitCode; meaning: string }[] {
  return (Object.keys(EXIT_CODE_DOCS) as (keyof typeof ExitCode)[])
    .map((name) => ({ code: ExitCode[name], name, meaning: EXIT_CODE_DOCS[name] }))
    .sort((a, b) => a.code - b.code);
}
