// What root prints: user-controlled text (Vault document fields, state.json, the notice, error messages
// quoting them) reaches an administrator's terminal and syslog. Every output sink passes through here,
// so no control character or bidi override a user wrote can move the cursor, retitle the terminal,
// rewrite a line or reorder what is shown: each is printed visibly instead (`\x1b`, `\r`, `\u202e`).
// Backslashes are kept as they are: the escaped text is printable, so escaping twice changes nothing.

/** C0 controls but tab and newline, DEL, C1 controls, bidi marks/embeddings/overrides/isolates, U+2028/9. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it finds
const UNSAFE = /[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]/g;
/** The same, and tab and newline too: for text that must stay on one line. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it finds
const UNSAFE_IN_LINE = /[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]/g;
/** What JSON.stringify leaves raw among the above (it escapes C0 itself). */
const UNSAFE_IN_JSON = /[\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]/g;

const SHORT: Record<string, string> = { "\t": "\\t", "\n": "\\n", "\r": "\\r" };

function visible(char: string): string {
  const short = SHORT[char];
  if (short) return short;
  const code = char.charCodeAt(0);
  return code <= 0xff
    ? `\\x${code.toString(16).padStart(2, "0")}`
    : `\\u${code.toString(16).padStart(4, "0")}`;
}

/** Multi-line output for a terminal: newlines and tabs kept, every other control shown escaped. */
export function terminalText(text: string): string {
  return text.replace(UNSAFE, visible);
}

/** One line (a log line, one fact of a report): a newline inside it is shown as `\n`, never a new line. */
export function terminalLine(text: string): string {
  return text.replace(UNSAFE_IN_LINE, visible);
}

/** Lines of a report, each one a single line whatever a user value inside it holds. */
export function terminalLines(lines: readonly string[]): string {
  return lines.map(terminalLine).join("\n");
}

/** `JSON.stringify(value, null, 2)`, with DEL, C1 and bidi controls as \uXXXX too: same parsed value. */
export function terminalJson(value: unknown): string {
  return JSON.stringify(value, null, 2).replace(
    UNSAFE_IN_JSON,
    (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

/** The sink for a command's output on stdout. */
export function printOut(text: string): void {
  process.stdout.write(terminalText(text));
}

/** The sink for a command's messages on stderr. */
export function printErr(text: string): void {
  process.stderr.write(terminalText(text));
}
