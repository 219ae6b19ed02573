// zsh never reads /etc/profile.d (Debian's /etc/zsh/zprofile is empty), so ~/.zshrc sources the sh snippet.
import { posix } from "node:path";
import { posixSourceLine } from "./bash.js";
import type { Shell } from "./shell.js";

export const zsh: Shell = {
  name: "zsh",
  snippetPath: "/etc/profile.d/claude-auth.sh",
  rcFile: (home) => posix.join(home, ".zshrc"),
  sourceLine: (snippetPath) => posixSourceLine(snippetPath),
};
