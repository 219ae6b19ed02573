import { VaultUnavailableError } from "./errors.js";

/** The whole-run time budget (CLAUDE_AUTH_SYNC_TIMEOUT_MS): every wait in a run draws from it. */
export class Deadline {
  readonly at: number;
  constructor(budgetMs: number, now: number = Date.now()) {
    this.at = now + budgetMs;
  }
  remainingMs(now: number = Date.now()): number {
    return Math.max(0, this.at - now);
  }
  get expired(): boolean {
    return this.remainingMs() <= 0;
  }
  /** Throws when the budget is spent; `doing` names the step for the message. */
  check(doing: string): void {
    if (this.expired) {
      throw new VaultUnavailableError(`time budget exhausted while ${doing}`, {
        hint: "Vault answered too slowly; check its health or raise CLAUDE_AUTH_SYNC_TIMEOUT_MS",
      });
    }
  }
}

/**
 * Waits `ms`. node:timers/promises would do the same, at ~0.2 ms of module loading on every login.
 */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
