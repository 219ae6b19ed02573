// The rc block is pure text in, text out; the rest of a user's rc file must survive byte-for-byte.
import fc from "fast-check";
import t from "tap";
import { InvalidDataError } from "../../src/errors.js";
import { bash } from "../../src/shell/bash.js";
import { fish } from "../../src/shell/fish.js";
import {
  addBlock,
  BLOCK_BEGIN,
  BLOCK_END,
  hasBlock,
  removeBlock,
  renderBlock,
} from "../../src/shell/rc-block.js";
import { shells } from "../../src/shell/shell.js";
import { zsh } from "../../src/shell/zsh.js";

const RC = "# ~/.bashrc\nexport EDITOR=vim\nalias ll='ls -l'\n";

t.test("add appends one block that sources the installed snippet, the rest untouched", async (t) => {
  const added = addBlock(RC, bash);
  t.ok(added.startsWith(RC), "the original text is a byte-for-byte prefix");
  t.equal(
    added.slice(RC.length),
    `${BLOCK_BEGIN}\n# Added by \`claude-auth shell install\`; \`claude-auth shell uninstall\` removes it. No secret here.\n` +
      "if [ -r '/etc/profile.d/claude-auth.sh' ]; then . '/etc/profile.d/claude-auth.sh'; fi\n" +
      `${BLOCK_END}\n`,
  );
});

t.test("add is idempotent for every shell", async (t) => {
  for (const shell of shells) {
    const once = addBlock(RC, shell);
    t.equal(addBlock(once, shell), once, shell.name);
    t.equal(once.split(BLOCK_BEGIN).length - 1, 1, `${shell.name}: one block`);
  }
});

t.test("remove restores the file byte-for-byte", async (t) => {
  const texts = {
    "usual rc file": RC,
    empty: "",
    "a lone newline": "\n",
    "no trailing newline": "export A=1",
    "two trailing newlines": "export A=1\n\n",
    "CRLF lines": "export A=1\r\nexport B=2\r\n",
    "non-ASCII and tabs": "# café\texport Ä=1\n",
  };
  for (const [name, text] of Object.entries(texts)) {
    for (const shell of shells) t.equal(removeBlock(addBlock(text, shell)), text, `${name} (${shell.name})`);
  }
});

t.test("a file without a trailing newline keeps having none", async (t) => {
  const added = addBlock("export A=1", zsh);
  t.equal(added, `export A=1\n${renderBlock(zsh)}`, "one separator before the block, no newline after");
  t.equal(addBlock(added, zsh), added, "idempotent");
  t.equal(removeBlock(added), "export A=1", "the separator is taken back");
});

t.test("an empty file gets just the block", async (t) => {
  t.equal(addBlock("", fish), `${renderBlock(fish)}\n`);
  t.equal(removeBlock(addBlock("", fish)), "");
});

t.test("foreign comments that merely look like the markers are never touched", async (t) => {
  const foreign = [
    "# >>> conda initialize >>>",
    "# <<< conda initialize <<<",
    `${BLOCK_BEGIN} (copied by hand)`,
    `  ${BLOCK_BEGIN}`,
    `${BLOCK_BEGIN} `,
    "# >>> claude-auth-sync",
    "#>>> claude-auth-sync >>>",
    BLOCK_END, // a stray end marker with no begin
    "# claude-auth-sync: see /etc/profile.d/claude-auth.sh",
    "",
  ].join("\n");
  t.equal(removeBlock(foreign), foreign, "remove leaves them alone");
  t.notOk(hasBlock(foreign), "none of them counts as a block");
  const added = addBlock(foreign, bash);
  t.ok(added.startsWith(foreign), "add appends after them");
  t.equal(removeBlock(added), foreign, "and remove takes only its own block");
});

t.test("an outdated block is refreshed in place, the text around it untouched", async (t) => {
  const before = "export A=1\n";
  const after = "export B=2\n";
  const old = `${BLOCK_BEGIN}\n. /old/path/claude-auth.sh\n${BLOCK_END}\n`;
  t.equal(addBlock(before + old + after, bash), `${before}${renderBlock(bash)}\n${after}`);
  t.equal(removeBlock(before + old + after), before + after);
});

t.test("duplicate blocks collapse into one", async (t) => {
  const block = `${renderBlock(bash)}\n`;
  const text = `a\n${block}b\n${block}c\n`;
  t.equal(addBlock(text, bash), `a\n${block}b\nc\n`);
  t.equal(removeBlock(text), "a\nb\nc\n");
});

t.test("a block missing its end marker is refused with the line number", async (t) => {
  const broken = `export A=1\n${BLOCK_BEGIN}\n. /etc/profile.d/claude-auth.sh\n`;
  for (const edit of [() => addBlock(broken, bash), () => removeBlock(broken)]) {
    t.throws(edit, InvalidDataError);
    t.throws(edit, { message: /rc file: line 2: .* has no matching/ });
  }
  t.throws(
    () => removeBlock(`${BLOCK_BEGIN}\n${BLOCK_BEGIN}\n${BLOCK_END}\n`),
    { message: /line 1/ },
    "nested begin",
  );
});

t.test("the block never holds the token or its variable name", async (t) => {
  for (const shell of shells) {
    const block = renderBlock(shell);
    t.notMatch(block, /sk-ant-|CLAUDE_CODE_OAUTH_TOKEN/, shell.name);
  }
});

t.test("a snippet path with a line break is refused: the block is one line per command", async (t) => {
  t.throws(() => addBlock(RC, bash, "/tmp/evil\ntouch /tmp/pwned"), InvalidDataError);
  t.throws(() => addBlock(RC, fish, "/tmp/evil\r"), InvalidDataError);
});

const rcLine = fc.oneof(
  fc.string({ maxLength: 30 }).map((line) => line.replace(/\n/g, "")),
  fc.constantFrom(
    "",
    "\r",
    "# >>> conda initialize >>>",
    `${BLOCK_BEGIN} x`,
    ` ${BLOCK_END}`,
    BLOCK_END,
    "if [ -r '/etc/profile.d/claude-auth.sh' ]; then . '/etc/profile.d/claude-auth.sh'; fi",
  ),
);
const rcText = fc
  .tuple(fc.array(rcLine, { maxLength: 8 }), fc.boolean())
  .map(([lines, trailingNewline]) => lines.join("\n") + (trailingNewline && lines.length > 0 ? "\n" : ""));

t.test("for any rc file: remove(add(x)) is x and add is idempotent (property)", async (t) => {
  fc.assert(
    fc.property(rcText, fc.constantFrom(...shells), (text, shell) => {
      const added = addBlock(text, shell);
      return removeBlock(added) === text && addBlock(added, shell) === added && hasBlock(added);
    }),
    { numRuns: 2000 },
  );
  t.pass("2000 generated rc files");
});
