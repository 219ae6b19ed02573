// How old a setup token is and roughly when it stops working: `claude setup-token` issues tokens that
// live about a year, and Vault records when ours was stored (`setup_token_updated_at`).
const DAY_MS = 86_400_000;
export const SETUP_TOKEN_LIFETIME_DAYS = 365;
/** Start warning this many days before the estimated expiry. */
export const SETUP_TOKEN_WARN_DAYS = 30;

export interface SetupTokenAge {
  updatedAt: string;
  ageDays: number;
  estimatedExpiresAt: string;
  /** Whole days until the estimated expiry; negative once past it. */
  daysLeft: number;
  /** Set from SETUP_TOKEN_WARN_DAYS before the estimated expiry; one line, what to do included. */
  warning: string | undefined;
}

export const RENEW_SETUP_TOKEN = "create a new one with `claude setup-token`, then `claude-auth rotate`";

/** undefined when `updatedAt` is not a timestamp. */
export function setupTokenAge(updatedAt: string, now: Date): SetupTokenAge | undefined {
  const at = Date.parse(updatedAt);
  if (!Number.isFinite(at)) return undefined;
  const expiresAt = at + SETUP_TOKEN_LIFETIME_DAYS * DAY_MS;
  // Rounded up: a token stored 340 days ago has "about 25 days" left, not 24 and some hours.
  const daysLeft = Math.ceil((expiresAt - now.getTime()) / DAY_MS);
  let warning: string | undefined;
  if (daysLeft < 0) {
    warning = `the setup token has probably expired (about ${-daysLeft} days ago): ${RENEW_SETUP_TOKEN}`;
  } else if (daysLeft <= SETUP_TOKEN_WARN_DAYS) {
    warning = `the setup token expires in about ${daysLeft} days: ${RENEW_SETUP_TOKEN}`;
  }
  return {
    updatedAt: new Date(at).toISOString(),
    ageDays: Math.floor((now.getTime() - at) / DAY_MS),
    estimatedExpiresAt: new Date(expiresAt).toISOString(),
    daysLeft,
    warning,
  };
}
