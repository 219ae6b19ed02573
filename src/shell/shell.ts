// One small contract per shell; `claude-auth shell install|uninstall` knows shells only through it.
import { UsageError } from "../errors.js";
import { bash } from "./bash.js";
import { fish } from "./fish.js";
import { zsh } from "./zsh.js";

export type ShellName = "bash" | "zsh" | "fish";

export interface Shell {
  readonly name: ShellName;
  /** Where install.sh puts the snippet this shell sources. */
  readonly snippetPath: string;
  /** The rc file `claude-auth shell install` edits for a user whose home is `home`. */
  rcFile(home: string): string;
  /** Rc files earlier releases put the block in: install moves it out of them, uninstall removes it there too. */
  legacyRcFiles?(home: string): string[];
  /** One line in this shell's syntax that sources `snippetPath` when it is readable, and is quiet when not. */
  sourceLine(snippetPath: string): string;
}

export const shells: readonly Shell[] = [bash, zsh, fish];
export const shellNames: readonly ShellName[] = shells.map((shell) => shell.name);

/** The one place a shell name becomes an implementation. */
export function shellByName(name: string): Shell {
  const shell = shells.find((candidate) => candidate.name === name);
  if (!shell) {
    throw new UsageError(`unknown shell "${name}"`, `use --shell ${shellNames.join("|")}`);
  }
  return shell;
}

/** The shell a login shell path (`$SHELL`, the passwd entry) names, e.g. /usr/bin/zsh; undefined if none. */
export function shellForLoginShell(loginShell: string): Shell | undefined {
  const base = loginShell.slice(loginShell.lastIndexOf("/") + 1);
  return shells.find((shell) => shell.name === base);
}
