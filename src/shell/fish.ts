// fish reads /etc/fish/conf.d by itself; the rc line covers a fish built with another prefix.
import { posix } from "node:path";
import { fishSingleQuote } from "./quote.js";
import type { Shell } from "./shell.js";

export const fish: Shell = {
  name: "fish",
  snippetPath: "/etc/fish/conf.d/claude-auth.fish",
  rcFile: (home) => posix.join(home, ".config", "fish", "config.fish"),
  sourceLine: (snippetPath) => {
    const quoted = fishSingleQuote(snippetPath);
    return `if test -r ${quoted}; source ${quoted}; end`;
  },
};
