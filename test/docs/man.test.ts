// The man pages claude-auth(1) and claude-auth-sync.conf(5): written by scripts/man.mjs, and they
// cannot drift from --help, config.ts, errors.ts or the README's tables; groff and man render them cleanly.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import t from "tap";
import { commands, globalFlags } from "../../src/completion/spec.js";
import { CONFIG_KEYS, parseConfig } from "../../src/config.js";
import { CONFIG_KEY_DOCS } from "../../src/docs/config-keys.js";
import { EXIT_CODE_DOCS, exitCodeTable } from "../../src/docs/exit-codes.js";
import { PAM_AUTH_LINE, PAM_SESSION_LINE } from "../../src/docs/man.js";
import { ExitCode } from "../../src/errors.js";
import { runBinary } from "../helpers/cli.js";
import { requireTools } from "../shell/harness.js";

const repo = fileURLToPath(new URL("../..", import.meta.url));
const outdir = mkdtempSync(join(tmpdir(), "cas-man-"));
t.teardown(() => rmSync(outdir, { recursive: true, force: true }));

// The pages exactly as the package gets them: through the script, not the module.
const written = spawnSync(process.execPath, [join(repo, "scripts", "man.mjs"), outdir], { encoding: "utf8" });
const page1Path = join(outdir, "claude-auth.1");
const page5Path = join(outdir, "claude-auth-sync.conf.5");
const page1 = written.status === 0 ? readFileSync(page1Path, "utf8") : "";
const page5 = written.status === 0 ? readFileSync(page5Path, "utf8") : "";

/** Roff source back to the words a reader sees: fonts dropped, \- as -, \e as \, \[uXXXX] decoded. */
function unroff(roff: string): string {
  return roff
    .replace(/\\f[BIRP]/g, "")
    .replace(/\\-/g, "-")
    .replace(/\\&/g, "")
    .replace(/\\\[u([0-9A-F]{4,6})\]/g, (_, hex: string) => String.fromCodePoint(Number.parseInt(hex, 16)))
    .replace(/\\e/g, "\\");
}

/** The page's blocks: each .SH or .SS heading (unquoted, unescaped) -> the text below it, unroffed. */
function blocks(roff: string, macro: ".SH" | ".SS"): Map<string, string> {
  const found = new Map<string, string>();
  let current: string | undefined;
  for (const line of roff.split("\n")) {
    if (line.startsWith(".SH ") || line.startsWith(".SS ")) {
      current = line.startsWith(`${macro} `) ? unroff(line.slice(4)).replace(/^"|"$/g, "") : undefined;
      if (current !== undefined) found.set(current, "");
    } else if (current !== undefined) found.set(current, `${found.get(current)}${unroff(line)}\n`);
  }
  return found;
}

/** A .TP entry's body (until the next .TP, .SS or .SH) for the tag line that reads `tag`. */
function entry(roff: string, tag: string): string | undefined {
  const lines = roff.split("\n");
  const at = lines.findIndex((line, i) => lines[i - 1] === ".TP" && unroff(line) === tag);
  if (at < 0) return undefined;
  const end = lines.findIndex((line, i) => i > at && /^\.(TP|SS|SH)\b/.test(line));
  return unroff(lines.slice(at + 1, end < 0 ? undefined : end).join("\n")).replace(/\n\.IP\n/g, "\n");
}

/** A Markdown section's table rows (cells trimmed), the header and separator left out. */
function markdownTable(markdown: string, heading: string): string[][] {
  const start = markdown.indexOf(`\n## ${heading}\n`);
  if (start < 0) return [];
  const end = markdown.indexOf("\n## ", start + 1);
  const rows = markdown
    .slice(start, end < 0 ? undefined : end)
    .split("\n")
    .filter((line) => line.startsWith("|"))
    .map((line) =>
      line
        .slice(1, -1)
        .split("|")
        .map((cell) => cell.trim()),
    );
  return rows.slice(2);
}

const readme = readFileSync(join(repo, "README.md"), "utf8");

t.test("node scripts/man.mjs <outdir> writes both pages as plain, uncompressed roff", async (t) => {
  t.equal(written.status, 0, written.stderr);
  for (const page of [page1, page5]) {
    t.match(page, /^\.\\" .*\n\.TH /, "a roff comment, then .TH");
    t.notOk(/[^\t\n -~]/.test(page), "ASCII only: anything else is a \\[uXXXX] escape");
    t.notOk(/^[^.\\\n]*^'/m.test(page), "no line starts with an apostrophe");
  }
  const requests = /^\.(?:\\" |(?:TH|SH|SS|TP|IP|PP|RS|RE|nf|fi|br|nh|ad)\b)/;
  for (const line of `${page1}${page5}`.split("\n")) {
    if (line.startsWith(".")) t.match(line, requests, `only known requests: ${line}`);
  }
});

t.test("every config key is in claude-auth-sync.conf(5) with its meaning and its default", async (t) => {
  for (const key of CONFIG_KEYS) {
    const body = entry(page5, key);
    if (body === undefined) {
      t.fail(`${key} has no entry`);
      continue;
    }
    const { shown, value, meaning } = CONFIG_KEY_DOCS[key];
    t.ok(body.includes(meaning.replaceAll("`", "")), `${key}: its meaning`);
    t.ok(
      body.includes(`Default: ${shown === "—" ? "none" : shown.replaceAll("`", "")}.`),
      `${key}: ${shown}`,
    );
    if (value !== "") t.ok(body.includes(value), `${key}: the value ${value}`);
  }
  const keys = page5.split("\n").filter((line) => /^\\fB[A-Z_]+\\fR$/.test(line));
  t.equal(keys.length, CONFIG_KEYS.length, "one entry per key, no other");
  const text = unroff(page5);
  t.match(text, /dotenv syntax/);
  t.match(text, /except for claude-auth pam/, "environment overrides, except for the PAM entry point");
});

t.test("a documented default is the default parseConfig applies", async (t) => {
  const source = { path: "/dev/null", found: false };
  const defaults = JSON.stringify(parseConfig({}, source));
  for (const key of CONFIG_KEYS) {
    const { value } = CONFIG_KEY_DOCS[key];
    t.equal(
      JSON.stringify(parseConfig({ [key]: value }, source)),
      defaults,
      `${key}=${value} changes nothing`,
    );
  }
  // The shipped template says every key with its default: `#KEY=value`.
  const template = readFileSync(join(repo, "hooks", "config", "config.env"), "utf8");
  for (const key of CONFIG_KEYS) {
    const line = template.match(new RegExp(`^#${key}=(.*)$`, "m"));
    t.equal(line?.[1], CONFIG_KEY_DOCS[key].value, `hooks/config/config.env: ${key}`);
  }
});

t.test("the README's configuration table lists exactly these keys with the same defaults", async (t) => {
  const fromReadme = new Map<string, string>();
  for (const [keysCell = "", defaultCell = ""] of markdownTable(readme, "Configuration")) {
    const keys = [...keysCell.matchAll(/`([A-Z_]+)`/g)].map((match) => match[1] ?? "");
    const parts = defaultCell.split(", ");
    keys.forEach((key, index) => {
      t.notOk(fromReadme.has(key), `${key} is listed once`);
      fromReadme.set(key, parts.length === keys.length ? (parts[index] ?? "") : defaultCell);
    });
  }
  t.same([...fromReadme.keys()].sort(), [...CONFIG_KEYS].sort(), "the same keys");
  for (const key of CONFIG_KEYS) {
    t.equal(fromReadme.get(key), CONFIG_KEY_DOCS[key].shown, `${key}'s default`);
  }
});

t.test("every exit code 0-6 is in EXIT STATUS and in the README's table, with one meaning", async (t) => {
  t.same(
    Object.values(ExitCode).sort((a, b) => a - b),
    [0, 1, 2, 3, 4, 5, 6],
  );
  const exitStatus = blocks(page1, ".SH").get("EXIT STATUS") ?? "";
  for (const { code, name } of exitCodeTable()) {
    t.equal(entry(page1, String(code))?.trim(), EXIT_CODE_DOCS[name].replaceAll("`", ""), `exit ${code}`);
  }
  t.ok(exitStatus.length > 0);
  t.same(
    markdownTable(readme, "Exit codes"),
    exitCodeTable().map(({ code, meaning }) => [String(code), meaning]),
    "README: the same codes and meanings",
  );
});

t.test("every command and flag of `--help` is in claude-auth(1)", async (t) => {
  const sections = blocks(page1, ".SS");
  const options = blocks(page1, ".SH").get("OPTIONS") ?? "";
  for (const flag of globalFlags) t.ok(options.includes(`--${flag.name}`), `OPTIONS: --${flag.name}`);
  const globals = new Set(globalFlags.map((flag) => `--${flag.name}`));
  const helps = await Promise.all(
    ["", ...commands.map((command) => command.name)].map(async (name) => ({
      name,
      result: await runBinary(name === "" ? ["--help"] : [name, "--help"]),
    })),
  );
  for (const { name, result } of helps) {
    t.equal(result.code, 0, `claude-auth ${name} --help: ${result.stderr}`);
    // Every flag the help names, but not in its examples (`systemctl --user enable --now …` is not ours).
    const withoutExamples = result.stdout.replace(/^Examples:\n(?:.+\n)*/m, "");
    const flags = new Set(withoutExamples.match(/--[a-z][a-z-]*/g) ?? []);
    if (name === "") {
      const listed = [...result.stdout.matchAll(/^ {2}claude-auth ([a-z]+)/gm)].map((match) => match[1]);
      t.same(
        listed.sort(),
        commands.map((command) => command.name).sort(),
        "--help lists the spec's commands",
      );
      for (const command of listed) t.ok(sections.has(command ?? ""), `a section for ${command}`);
    }
    const section = name === "" ? options : (sections.get(name) ?? "");
    t.ok(section.length > 0, `claude-auth(1) has a section for ${name || "the global options"}`);
    for (const flag of flags) {
      const where = globals.has(flag) ? options : section;
      t.ok(new RegExp(`${flag}\\b(?!-)`).test(where), `${name || "claude-auth"}: ${flag}`);
    }
  }
  for (const command of commands) {
    const section = sections.get(command.name) ?? "";
    t.ok(section.startsWith(`claude-auth ${command.name}`), `${command.name}: its synopsis`);
    for (const flag of command.flags)
      t.ok(section.includes(`--${flag.name}`), `${command.name}: --${flag.name}`);
    for (const word of command.positional?.words ?? [])
      t.ok(section.includes(word), `${command.name}: ${word}`);
  }
  const text = unroff(page1);
  for (const line of [PAM_SESSION_LINE, PAM_AUTH_LINE, "pam-auth-update --enable claude-auth-sync"]) {
    t.ok(text.includes(line), line);
  }
  for (const heading of ["EXIT STATUS", "ENVIRONMENT", "FILES", "SEE ALSO", "PAM"]) {
    t.ok(blocks(page1, ".SH").has(heading), heading);
  }
  for (const name of ["pam_exec(8)", "pam-auth-update(8)", "systemd.timer(5)", "claude-auth-sync.conf(5)"]) {
    t.ok(blocks(page1, ".SH").get("SEE ALSO")?.includes(name), `SEE ALSO ${name}`);
  }
  const files = blocks(page1, ".SH").get("FILES") ?? "";
  for (const file of [
    "~/.config/claude-auth-sync/claude-oauth.env",
    "~/.config/claude-auth-sync/vault-token",
    "~/.config/claude-auth-sync/state.json",
    "~/.config/claude-auth-sync/notice",
    "~/.config/claude-auth-sync/sync.lock",
    "~/.claude/.credentials.json",
    "/etc/claude-auth-sync/config.env",
    "/var/lib/claude-auth-sync/env/<user>.env",
    "/var/lib/claude-auth-sync/host-token",
    "/run/claude-auth-sync/enroll/<user>",
    "claude-auth-sync-<user>.prom",
  ]) {
    t.ok(files.includes(file), `FILES: ${file}`);
  }
  const environment = blocks(page1, ".SH").get("ENVIRONMENT") ?? "";
  for (const name of [
    "CLAUDE_AUTH_SYNC_CONFIG",
    "CLAUDE_CONFIG_DIR",
    "VAULT_ADDR",
    "VAULT_TOKEN",
    "PAM_USER",
    "PAM_TYPE",
  ]) {
    t.ok(environment.includes(name), `ENVIRONMENT: ${name}`);
  }
});

t.test("groff finds nothing to warn about, and man renders the NAME line", async (t) => {
  if (!requireTools(t, ["groff", "man"])) return;
  for (const [path, name] of [
    [page1Path, "claude-auth - keep Claude Code logins valid"],
    [page5Path, "claude-auth-sync.conf - configuration of claude-auth(1)"],
  ] as const) {
    const groff = spawnSync("groff", ["-man", "-Tutf8", "-ww", "-z", path], { encoding: "utf8" });
    t.equal(groff.status, 0, `groff ${path}`);
    t.equal(groff.stderr, "", `groff -ww: no warnings for ${path}`);
    const man = spawnSync("man", ["--warnings", "-l", path], {
      encoding: "utf8",
      env: { PATH: "/usr/bin:/bin", MANWIDTH: "200", MANPAGER: "cat", PAGER: "cat", LANG: "C.UTF-8" },
    });
    t.equal(man.status, 0, `man -l ${path}: ${man.stderr}`);
    t.equal(man.stderr, "", `man --warnings: nothing for ${path}`);
    t.match(man.stdout, new RegExp(`^NAME\\n +${name.replace(/[().]/g, "\\$&")}`, "m"), "the NAME line");
  }
});
