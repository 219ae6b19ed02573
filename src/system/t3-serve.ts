// Restarting `t3-serve@<user>.service` after the setup token changed, so the service picks it up:
// its drop-in runs a privileged sync before each start (hooks/systemd/t3-serve@.service.d).
// The decision is pure; `restartT3Serve` performs it with systemctl by absolute path.
import { existsSync } from "node:fs";

export const SYSTEMCTL_PATHS = ["/usr/bin/systemctl", "/bin/systemctl"] as const;
const SYSTEMCTL_TIMEOUT_MS = 15_000;

/** systemd's instance escaping (`systemd-escape`): a login name like `alice-smith` is `alice\x2dsmith`. */
export function systemdEscape(text: string): string {
  let out = "";
  for (const [index, char] of [...text].entries()) {
    if (/[A-Za-z0-9:_]/.test(char) || (char === "." && index > 0)) out += char;
    else for (const byte of Buffer.from(char, "utf8")) out += `\\x${byte.toString(16).padStart(2, "0")}`;
  }
  return out;
}

export function t3ServeUnit(user: string): string {
  return `t3-serve@${systemdEscape(user)}.service`;
}

/** The command a person types; quoted when the unit name carries a backslash escape. */
export function restartCommand(user: string): string {
  const unit = t3ServeUnit(user);
  return `sudo systemctl restart ${unit.includes("\\") ? `'${unit}'` : unit}`;
}

export interface RestartFacts {
  user: string;
  /** Whether we run as root (only root may restart a system unit). */
  root: boolean;
  /** The systemctl we found, if any. */
  systemctl: string | undefined;
  /** `systemctl is-active --quiet` answered 0; undefined when not asked. */
  active: boolean | undefined;
}

export type RestartDecision =
  | { kind: "ask-active"; unit: string }
  | { kind: "restart"; unit: string }
  | { kind: "not-running"; unit: string }
  /** Someone else must do it: print this exact command. */
  | { kind: "tell"; unit: string; command: string; why: string };

export function decideRestart(facts: RestartFacts): RestartDecision {
  const unit = t3ServeUnit(facts.user);
  if (!facts.root) {
    return {
      kind: "tell",
      unit,
      command: restartCommand(facts.user),
      why: "restarting a system service needs root",
    };
  }
  if (facts.systemctl === undefined) {
    return { kind: "tell", unit, command: restartCommand(facts.user), why: "systemctl was not found" };
  }
  if (facts.active === undefined) return { kind: "ask-active", unit };
  return facts.active ? { kind: "restart", unit } : { kind: "not-running", unit };
}

export type RestartOutcome =
  | { kind: "restarted"; unit: string }
  | { kind: "not-running"; unit: string }
  | { kind: "tell"; unit: string; command: string; why: string };

/** systemctl through execa (admin commands only; the login path never spawns it): its exit code. */
async function systemctl(path: string, args: string[]): Promise<number> {
  const { execa } = await import("execa");
  const result = await execa(path, args, {
    timeout: SYSTEMCTL_TIMEOUT_MS,
    env: {},
    extendEnv: false,
    reject: false,
    stdin: "ignore",
  });
  return typeof result.exitCode === "number" ? result.exitCode : -1;
}

/** Restarts a running t3-serve@<user> (root only), or says what to run; never throws. */
export async function restartT3Serve(user: string, root: boolean): Promise<RestartOutcome> {
  const facts: RestartFacts = {
    user,
    root,
    systemctl: root ? SYSTEMCTL_PATHS.find((path) => existsSync(path)) : undefined,
    active: undefined,
  };
  let decision = decideRestart(facts);
  if (decision.kind === "ask-active" && facts.systemctl) {
    facts.active = (await systemctl(facts.systemctl, ["is-active", "--quiet", decision.unit])) === 0;
    decision = decideRestart(facts);
  }
  switch (decision.kind) {
    case "restart": {
      const code = await systemctl(facts.systemctl as string, ["try-restart", decision.unit]);
      if (code === 0) return { kind: "restarted", unit: decision.unit };
      return {
        kind: "tell",
        unit: decision.unit,
        command: restartCommand(user),
        why: `systemctl try-restart failed (exit ${code})`,
      };
    }
    case "tell":
    case "not-running":
      return decision;
    default:
      return { kind: "not-running", unit: decision.unit };
  }
}
