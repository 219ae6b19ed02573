// Quoting for the one line an rc file gets. Single quotes everywhere: nothing inside them is expanded.

/**
 * POSIX sh single quotes (sh, dash, bash, zsh): every character is literal except `'`, which cannot
 * appear inside; it is written as `'\''` (close, escaped quote, reopen).
 */
export function posixSingleQuote(text: string): string {
  return `'${text.replaceAll("'", "'\\''")}'`;
}

/** fish single quotes: only `\` and `'` are special inside, each escaped with a backslash. */
export function fishSingleQuote(text: string): string {
  return `'${text.replaceAll("\\", "\\\\").replaceAll("'", "\\'")}'`;
}
