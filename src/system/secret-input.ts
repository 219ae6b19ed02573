// Reading a secret the user hands us: all of standard input, or a line typed at a prompt that does
// not echo. Never from argv: that would show in `ps` and the shell history.
import type { ReadStream } from "node:tty";
import { AuthSyncError, ExitCode, InvalidDataError } from "../errors.js";

export const MAX_SECRET_INPUT_BYTES = 16 * 1024;

/** Removes one trailing line break (`\n` or `\r\n`) and nothing else: a secret is taken as given. */
export function trimOneNewline(text: string): string {
  if (text.endsWith("\r\n")) return text.slice(0, -2);
  if (text.endsWith("\n")) return text.slice(0, -1);
  return text;
}

/** All of standard input (capped), minus one trailing line break. */
export async function readSecretFromStdin(field: string): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of process.stdin as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_SECRET_INPUT_BYTES) {
      process.stdin.destroy();
      throw new InvalidDataError(field, `standard input is larger than ${MAX_SECRET_INPUT_BYTES} bytes`);
    }
    chunks.push(chunk);
  }
  return trimOneNewline(Buffer.concat(chunks).toString("utf8"));
}

/** What a key press does to the line being typed at a hidden prompt. */
export type KeyEffect =
  | { kind: "append"; text: string }
  | { kind: "erase" }
  | { kind: "clear" }
  | { kind: "done" }
  | { kind: "cancel" };

/** Interprets one chunk of raw terminal input (a key press or a paste). Pure. */
export function keyEffects(chunk: string): KeyEffect[] {
  const effects: KeyEffect[] = [];
  let text = "";
  const flush = () => {
    if (text) effects.push({ kind: "append", text });
    text = "";
  };
  for (const char of chunk) {
    if (char === "\r" || char === "\n") {
      flush();
      effects.push({ kind: "done" });
      return effects;
    }
    if (char === "\u0003") {
      flush();
      effects.push({ kind: "cancel" });
      return effects;
    }
    if (char === "\u0004") {
      flush();
      effects.push({ kind: "done" });
      return effects;
    }
    if (char === "\u007f" || char === "\b") {
      flush();
      effects.push({ kind: "erase" });
    } else if (char === "\u0015") {
      text = "";
      effects.push({ kind: "clear" });
    } else if (char >= " ") text += char;
  }
  flush();
  return effects;
}

/**
 * Prompts on the terminal (`prompt` to stderr) and reads one line with echo off (raw mode), so the
 * secret never appears on screen or in the scrollback. Ctrl-C cancels; the terminal is always restored.
 */
export function promptHidden(prompt: string): Promise<string> {
  const input = process.stdin as ReadStream;
  return new Promise((resolve, reject) => {
    let line = "";
    const finish = (error?: Error) => {
      input.off("data", onData);
      input.setRawMode(false);
      input.pause();
      process.stderr.write("\n");
      if (error) reject(error);
      else resolve(line);
    };
    const onData = (chunk: Buffer) => {
      for (const effect of keyEffects(chunk.toString("utf8"))) {
        if (effect.kind === "append") line += effect.text;
        else if (effect.kind === "erase") line = [...line].slice(0, -1).join("");
        else if (effect.kind === "clear") line = "";
        else if (effect.kind === "done") return finish();
        else return finish(new AuthSyncError("cancelled at the prompt; nothing was changed", ExitCode.error));
        if (line.length > MAX_SECRET_INPUT_BYTES) {
          return finish(new InvalidDataError("setup token", "too long for a setup token"));
        }
      }
    };
    // Echo off before the prompt shows: a key typed the moment it appears must not be echoed.
    input.setRawMode(true);
    process.stderr.write(prompt);
    input.on("data", onData);
    input.resume();
  });
}
