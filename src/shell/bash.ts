// bash: /etc/profile.d covers login shells; ~/.bashrc covers the interactive non-login ones.
import { posix } from "node:path";
import { posixSingleQuote } from "./quote.js";
import type { Shell } from "./shell.js";

export const bash: Shell = {
  name: "bash",
  snippetPath: "/etc/profile.d/claude-auth.sh",
  rcFile: (home) => posix.join(home, ".bashrc"),
  sourceLine: (snippetPath) => posixSourceLine(snippetPath),
};

/** `if [ -r P ]; then . P; fi`: quiet and status 0 when the snippet is not installed (safe under set -e). */
export function posixSourceLine(snippetPath: string): string {
  const quoted = posixSingleQuote(snippetPath);
  return `if [ -r ${quoted} ]; then . ${quoted}; fi`;
}
