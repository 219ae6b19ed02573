// zsh never reads /etc/profile.d (Debian's /etc/zsh/zprofile is empty), and ~/.zshrc only in interactive
// shells; ~/.zshenv is read by every zsh (login, interactive, `zsh -c` as sshd runs `ssh host cmd`, `su -c`).
import { posix } from "node:path";
import { posixSourceLine } from "./bash.js";
import type { Shell } from "./shell.js";

/** Debian's global zshenv (zsh-common), read by every zsh, even `zsh -f`; install.sh adds `sourceLine` to it. */
export const SYSTEM_ZSHENV = "/etc/zsh/zshenv";

export const zsh: Shell = {
  name: "zsh",
  snippetPath: "/etc/profile.d/claude-auth.sh",
  rcFile: (home) => posix.join(home, ".zshenv"),
  // Releases before 2026-12 used ~/.zshrc, which `zsh -c` and `su - user -c` never read.
  legacyRcFiles: (home) => [posix.join(home, ".zshrc")],
  sourceLine: (snippetPath) => posixSourceLine(snippetPath),
};

/** Whether a zshenv's text has a line that sources the snippet: install.sh's line, or the same by hand. */
export function zshenvSourcesSnippet(text: string): boolean {
  const line = zsh.sourceLine(zsh.snippetPath);
  return text.split("\n").some((raw) => {
    const trimmed = raw.trim();
    return trimmed === line || trimmed.startsWith(`${line} #`);
  });
}
