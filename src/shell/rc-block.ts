// The marked block `claude-auth shell install` keeps in an rc file. Pure text in, text out: the command
// reads and writes the file. The block only sources the installed snippet; the token never enters an rc file.
//
// Byte-for-byte rule: removeBlock(addBlock(text)) === text for any text without a block. Appending to text
// that lacks a final newline adds one before the block and none after it, so a block that ends the file
// without a newline tells removeBlock to take that separator back.
import { InvalidDataError } from "../errors.js";
import type { Shell } from "./shell.js";

export const BLOCK_BEGIN = "# >>> claude-auth-sync >>>";
export const BLOCK_END = "# <<< claude-auth-sync <<<";
const BLOCK_NOTE =
  "# Added by `claude-auth shell install`; `claude-auth shell uninstall` removes it. No secret here.";

/** A block as found: from the start of its begin line to the end of its end line, newline excluded. */
interface BlockSpan {
  start: number;
  end: number;
  /** The end marker is followed by "\n" (false: the block ends the file). */
  endsWithNewline: boolean;
}

/** The block's lines joined by "\n", without a final newline. */
export function renderBlock(shell: Shell, snippetPath: string = shell.snippetPath): string {
  const sourceLine = shell.sourceLine(snippetPath);
  if (/[\n\r\0]/.test(sourceLine)) {
    throw new InvalidDataError(
      "snippet path",
      "contains a line break or NUL; an rc block is one line per command",
    );
  }
  return [BLOCK_BEGIN, BLOCK_NOTE, sourceLine, BLOCK_END].join("\n");
}

/** Adds the block, or refreshes it in place; a second call changes nothing. Extra blocks are removed. */
export function addBlock(rcText: string, shell: Shell, snippetPath: string = shell.snippetPath): string {
  const block = renderBlock(shell, snippetPath);
  const [first, ...rest] = findBlocks(rcText);
  if (!first) {
    if (rcText === "") return `${block}\n`;
    return rcText.endsWith("\n") ? `${rcText}${block}\n` : `${rcText}\n${block}`;
  }
  const withoutRest = removeSpans(rcText, rest);
  return withoutRest.slice(0, first.start) + block + withoutRest.slice(first.end);
}

/** Removes every block; the rest of the text is returned byte-for-byte. */
export function removeBlock(rcText: string): string {
  return removeSpans(rcText, findBlocks(rcText));
}

export function hasBlock(rcText: string): boolean {
  return findBlocks(rcText).length > 0;
}

/** Removes spans back to front, so the offsets of the ones before stay valid. */
function removeSpans(text: string, spans: readonly BlockSpan[]): string {
  let result = text;
  for (const span of [...spans].reverse()) {
    if (span.endsWithNewline) {
      result = result.slice(0, span.start) + result.slice(span.end + 1);
    } else {
      // The block ends the file: take back the newline addBlock put before it.
      result = result.slice(0, Math.max(0, span.start - 1));
    }
  }
  return result;
}

/** Blocks are whole lines equal to the markers; anything merely similar belongs to someone else. */
function findBlocks(text: string): BlockSpan[] {
  const spans: BlockSpan[] = [];
  let openAt: { start: number; lineNumber: number } | undefined;
  let lineStart = 0;
  let lineNumber = 1;
  while (lineStart <= text.length) {
    const newline = text.indexOf("\n", lineStart);
    const lineEnd = newline === -1 ? text.length : newline;
    const line = text.slice(lineStart, lineEnd);
    if (line === BLOCK_BEGIN) {
      if (openAt) throw unterminated(openAt.lineNumber);
      openAt = { start: lineStart, lineNumber };
    } else if (line === BLOCK_END && openAt) {
      spans.push({ start: openAt.start, end: lineEnd, endsWithNewline: newline !== -1 });
      openAt = undefined;
    }
    if (newline === -1) break;
    lineStart = newline + 1;
    lineNumber += 1;
  }
  if (openAt) throw unterminated(openAt.lineNumber);
  return spans;
}

function unterminated(lineNumber: number): InvalidDataError {
  return new InvalidDataError(
    "rc file",
    `line ${lineNumber}: "${BLOCK_BEGIN}" has no matching "${BLOCK_END}" before the next block or the end`,
    "delete the partial claude-auth-sync block by hand, then run `claude-auth shell install` again",
  );
}
