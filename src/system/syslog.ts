// One line to syslog (authpriv) through logger(1): Node has no datagram unix sockets for /dev/log.
// The line goes on logger's standard input, never its argv; we do not wait for it.
import { existsSync } from "node:fs";
import { builtin } from "./builtin.js";
import { terminalLine } from "./terminal-text.js";

export const LOGGER = "/usr/bin/logger";

/** What logger(1) receives: one line, our newlines joined with a space, every other control escaped. */
export function syslogLine(line: string): string {
  return `${terminalLine(line.replace(/\n/g, " "))}\n`;
}

export function syslog(line: string): void {
  if (!existsSync(LOGGER)) return;
  try {
    const { spawn } = builtin("node:child_process") as typeof import("node:child_process");
    const child = spawn(LOGGER, ["--tag", "claude-auth-sync", "--priority", "authpriv.info"], {
      stdio: ["pipe", "ignore", "ignore"],
      detached: true,
      env: {},
    });
    child.on("error", () => undefined);
    child.stdin.on("error", () => undefined);
    child.stdin.end(syslogLine(line));
    child.unref();
  } catch {
    // Logging must never fail a login.
  }
}
