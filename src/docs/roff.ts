// Turning the documentation's Markdown-lite text (`code` spans only) into man(7) roff, escaped.

/** Escapes plain text for roff: backslashes, every hyphen as \- (an ASCII minus), non-ASCII as \[uXXXX]. */
export function escapeRoff(text: string): string {
  let out = "";
  for (const char of text) {
    const point = char.codePointAt(0) ?? 0;
    if (char === "\\") out += "\\e";
    else if (char === "-") out += "\\-";
    else if (point > 0x7e || (point < 0x20 && char !== "\t"))
      out += `\\[u${point.toString(16).toUpperCase().padStart(4, "0")}]`;
    else out += char;
  }
  return out;
}

/** Inline text: `code` spans in bold, the rest escaped. */
export function inline(text: string): string {
  return text
    .split("`")
    .map((part, index) => (index % 2 === 1 ? `\\fB${escapeRoff(part)}\\fR` : escapeRoff(part)))
    .join("");
}

/** A text line: a leading dot or apostrophe would make it a request, so it is guarded with \&. */
export function textLine(text: string): string {
  const line = inline(text.replace(/\s+/g, " ").trim());
  return /^[.']/.test(line) ? `\\&${line}` : line;
}

/** A macro argument in double quotes (a quote inside cannot be escaped in man(7), so it is refused). */
export function quotedArgument(text: string): string {
  if (text.includes('"')) throw new Error(`man page: a macro argument holds a double quote: ${text}`);
  return `"${escapeRoff(text)}"`;
}

/** A paragraph. */
export function paragraph(text: string): string[] {
  return [".PP", textLine(text)];
}

/** A tagged paragraph: the tag in roff already (use inline), then the body. */
export function tagged(tag: string, body: string | readonly string[]): string[] {
  const lines = typeof body === "string" ? [body] : body;
  return [
    ".TP",
    tag,
    ...lines.flatMap((line, index) => (index === 0 ? [textLine(line)] : [".IP", textLine(line)])),
  ];
}

/** Lines shown verbatim (PAM lines, examples), indented. */
export function literal(lines: readonly string[]): string[] {
  return [".PP", ".RS 4", ".nf", ...lines.map((line) => `\\&${escapeRoff(line)}`), ".fi", ".RE"];
}
