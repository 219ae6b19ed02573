// doctor in `user` identity mode: the host's own Vault identity (if any) must reach no user's document,
// and each user's enrolled token must reach their own document, ideally nothing else, and stay alive.
import { type Config, documentPath } from "../config.js";
import { Deadline } from "../deadline.js";
import { InvalidDataError, VaultDeniedError } from "../errors.js";
import { connect } from "../sync/run.js";
import { UserHome } from "../system/home.js";
import type { SystemUser } from "../system/users.js";
import {
  authenticate,
  lookupSelf,
  readSecretFile,
  revokeSpentTokens,
  type TokenInfo,
  type TokenSource,
} from "../vault/auth.js";
import type { VaultClient } from "../vault/client.js";
import { assessUserToken, PROBE_USER, type TokenAssessment } from "../vault/enrollment.js";
import {
  explainRefusal,
  type Identity,
  IdentityExpiredError,
  identityOf,
  isInvalidToken,
  speakAs,
  VAULT_TOKEN_DISPLAY,
} from "../vault/identity.js";
import { tokenTtl } from "../vault/token-ttl.js";
import { type Finding, fail, ok, vaultFailure, warn } from "./checks.js";

const HOST_RUNBOOK = 'docs/runbook.md, "The host in user mode"';
const USER_RUNBOOK = 'docs/runbook.md, "Vault setup for user mode"';

// --- the host --------------------------------------------------------------------------------------

/** The host's identity as config.env gives it; root's own ~/.vault-token is an admin's login, not the host's. */
export type HostIdentity =
  | { kind: "none"; why: string }
  | { kind: "token"; source: TokenSource }
  | { kind: "login"; method: Config["auth"] };

export function hostIdentityOf(config: Config): HostIdentity {
  if (config.auth !== "token") return { kind: "login", method: config.auth };
  if (config.tokenFile) {
    const token = readSecretFile(config.tokenFile, "Vault token file");
    if (token) return { kind: "token", source: { origin: config.tokenFile, token } };
  }
  if (config.vaultToken)
    return { kind: "token", source: { origin: "VAULT_TOKEN", token: config.vaultToken } };
  return {
    kind: "none",
    why: config.tokenFile
      ? `CLAUDE_AUTH_SYNC_TOKEN_FILE names ${config.tokenFile}, which does not exist, and VAULT_TOKEN is not set`
      : "no CLAUDE_AUTH_SYNC_TOKEN_FILE, VAULT_TOKEN or host login (CLAUDE_AUTH_SYNC_AUTH) is configured",
  };
}

/** The paths a host in user mode must not reach: the user's document (or the probe's) and its metadata. */
export function userDocumentPaths(config: Config, user: string | undefined): string[] {
  const names = [...new Set([user ?? PROBE_USER, PROBE_USER])];
  return names.flatMap((name) => [
    `${config.kvMount}/data/${documentPath(config, name)}`,
    `${config.kvMount}/metadata/${documentPath(config, name)}`,
  ]);
}

/** The host identity doctor checked, as the findings name it. */
export interface HostFacts {
  /** e.g. `the host's Vault token (from /run/vault-agent/token, policies a, default)`. */
  label: string;
  /** lookup-self's policies; undefined when lookup-self was refused. */
  policies: readonly string[] | undefined;
  /** The shell words that give the admin the host's token for a check by hand. */
  tokenForShell: string;
  /** The config.env keys that give the host its identity. */
  configKeys: string;
}

/**
 * From what Vault says the host's token may do on users' document paths: any capability but `deny`
 * there is one too many in user mode.
 */
export function checkHostScope(
  config: Config,
  host: HostFacts,
  capabilities: Record<string, readonly string[]>,
): Finding {
  const id = "host-identity-scope";
  const reached = Object.entries(capabilities).filter(([, caps]) => caps.some((c) => c !== "deny"));
  const checked = Object.keys(capabilities);
  if (reached.length === 0) {
    const documents = checked.filter((path) => path.startsWith(`${config.kvMount}/data/`));
    return ok(
      id,
      `${host.label} reaches no user's document (deny on ${documents.join(" and ")}, and their metadata): in user mode only each user's own token does`,
    );
  }
  const tree = config.pathTemplate.replaceAll("{user}", "*");
  const stanzas = `"${config.kvMount}/data/${tree}" and "${config.kvMount}/metadata/${tree}"`;
  const policies = host.policies;
  const named = (policies ?? []).filter((p) => p !== "default");
  const where =
    policies === undefined
      ? "from the host token's policies (lookup-self was refused; `vault token lookup` with the token names them)"
      : named.length === 0
        ? "from the policy default (the token's only one)"
        : named.length === 1
          ? `from policy ${named[0]}`
          : `from whichever of the policies ${named.join(", ")} grants them`;
  const check = `check: \`VAULT_TOKEN=${host.tokenForShell} vault token capabilities ${checked[0]}\` must print deny`;
  const fix = (policies ?? []).includes("root")
    ? `it is a root token: revoke it and remove ${host.configKeys} from ${config.source.path}: in user mode the host needs no Vault identity (${HOST_RUNBOOK})`
    : `remove the users' document paths (${stanzas}) ${where}: in user mode the host needs none (${HOST_RUNBOOK}); or, when nothing else on this host needs a Vault identity, remove ${host.configKeys} from ${config.source.path}\n${check}`;
  return fail(
    id,
    `${host.label} still reaches users' documents: ${reached.map(([path, caps]) => `${caps.join(", ")} on ${path}`).join("; ")}; in user mode whoever holds this host's token would reach every user's document fleet-wide`,
    fix,
  );
}

async function capabilitiesOn(client: VaultClient, paths: string[]): Promise<Record<string, string[]>> {
  const answer = await client.request("POST", "sys/capabilities-self", { paths });
  const body = (answer.body ?? {}) as { data?: Record<string, unknown> } & Record<string, unknown>;
  const data = body.data ?? body;
  const result: Record<string, string[]> = {};
  for (const path of paths) {
    const raw = data[path] ?? (paths.length === 1 ? data.capabilities : undefined);
    result[path] = Array.isArray(raw) ? raw.filter((c): c is string => typeof c === "string") : [];
  }
  return result;
}

/** Root, `user` mode: the host's own identity, when config.env gives it one, must reach no user's document. */
export async function hostScopeFindings(config: Config, user: string | undefined): Promise<Finding[]> {
  const id = "host-identity-scope";
  let host: HostIdentity;
  try {
    host = hostIdentityOf(config);
  } catch (error) {
    return [vaultFailure(id, "reading the host's Vault token", error)];
  }
  if (host.kind === "none") {
    return [ok(id, `the host has no Vault identity (none needed in user mode): ${host.why}`)];
  }
  const client = connect(config, new Deadline(config.timeoutMs));
  try {
    let origin: string;
    if (host.kind === "token") {
      client.token = host.source.token;
      origin = host.source.origin;
    } else {
      try {
        origin = await authenticate(client, config, "/root", {});
      } catch (error) {
        return [
          warn(
            id,
            `the host login configured in config.env (CLAUDE_AUTH_SYNC_AUTH=${host.method}) fails, so its reach is not known: ${(error as Error).message}`,
            `in user mode the host needs no Vault identity: remove ${hostConfigKeys(host)} from ${config.source.path} (${HOST_RUNBOOK}), or fix the login`,
          ),
        ];
      }
    }
    let identity = `the host's Vault token (from ${origin})`;
    let policies: string[] | undefined;
    try {
      const info = await lookupSelf(client);
      policies = info.policies;
      identity = `the host's Vault token (from ${origin}, policies ${policies.join(", ") || "none"})`;
    } catch (error) {
      if (isInvalidToken(error)) {
        return [
          warn(
            id,
            `Vault refuses ${identity} (invalid token: expired or revoked), so it reaches nothing; config.env still names it`,
            `in user mode the host needs no Vault identity: remove it from ${config.source.path} (${HOST_RUNBOOK}), or renew it if something else needs it`,
          ),
        ];
      }
      // Denied lookup-self (token_no_default_policy): the policies stay unknown, the capabilities may not.
      if (!(error instanceof VaultDeniedError)) {
        return [vaultFailure(id, `looking up ${identity}`, error)];
      }
    }
    const paths = userDocumentPaths(config, user);
    try {
      const facts: HostFacts = {
        label: identity,
        policies,
        tokenForShell:
          host.kind === "token" && host.source.origin !== "VAULT_TOKEN"
            ? `$(sudo cat ${host.source.origin})`
            : "<the host's token>",
        configKeys: hostConfigKeys(host),
      };
      return [checkHostScope(config, facts, await capabilitiesOn(client, paths))];
    } catch (error) {
      if (!(error instanceof VaultDeniedError)) {
        return [vaultFailure(id, `asking Vault what ${identity} may do on users' documents`, error)];
      }
      return [
        warn(
          id,
          `Vault refused sys/capabilities-self to ${identity}, so whether it reaches users' documents is not known`,
          `check by hand with the host's token: \`vault token capabilities ${paths[0]}\` must print deny (${HOST_RUNBOOK})`,
        ),
      ];
    }
  } finally {
    await revokeSpentTokens(client).catch(() => undefined);
    client.close();
  }
}

/** The config.env keys that give the host its identity: what to remove when nothing else needs it. */
function hostConfigKeys(host: HostIdentity): string {
  if (host.kind === "login") {
    return host.method === "approle"
      ? "CLAUDE_AUTH_SYNC_AUTH, CLAUDE_AUTH_SYNC_APPROLE_ROLE_ID and CLAUDE_AUTH_SYNC_APPROLE_SECRET_ID_FILE"
      : "CLAUDE_AUTH_SYNC_AUTH, CLAUDE_AUTH_SYNC_USERNAME and CLAUDE_AUTH_SYNC_PASSWORD_FILE";
  }
  return host.kind === "token" && host.source.origin === "VAULT_TOKEN"
    ? "VAULT_TOKEN"
    : "CLAUDE_AUTH_SYNC_TOKEN_FILE";
}

// --- the user's own token --------------------------------------------------------------------------

/** The enrolled token's expiry or period, one wording (tokenTtl) for status, enroll and doctor alike. */
export function describeLifetime(info: TokenInfo, now: Date): string {
  if (info.ttlSeconds === 0) return "no expiry";
  const until = new Date(now.getTime() + info.ttlSeconds * 1000).toISOString().slice(0, 16).replace("T", " ");
  const left = `${tokenTtl(info.ttlSeconds)} left (until ${until} UTC)`;
  if (info.periodSeconds > 0) return `periodic (period ${tokenTtl(info.periodSeconds)}), ${left}`;
  return `not periodic, ${left}${info.renewable ? ", renewable up to its max TTL" : ", not renewable"}`;
}

/** Judges an assessed token: the lines an admin reads, each failure and warning with its fix. */
export function checkUserToken(
  user: string,
  origin: string,
  assessment: TokenAssessment,
  now: Date,
  asUser: boolean,
): Finding[] {
  const { info } = assessment;
  const enroll = asUser ? "run `claude-auth enroll`" : `as ${user}, run \`claude-auth enroll\``;
  const findings: Finding[] = [
    ok(
      "identity-enrolled",
      `${origin}: "${info.displayName}", policies ${info.policies.join(", ") || "none"}, ${info.entityId ? "with an identity entity" : "no identity entity"}`,
    ),
  ];
  // enrollment.ts words its findings for the user; root reads them about the user.
  const said = (text: string) => (asUser ? text : text.replace(/\byour\b/g, `${user}'s`));
  // enrollment.ts checks the entity first: with none, the first failure is that one, and the rest follow.
  const noEntity = !info.entityId && !assessment.own.includes("root");
  assessment.failures.forEach((failure, index) => {
    findings.push(
      fail(
        "identity-token",
        said(failure),
        !noEntity
          ? `the Vault admin gives the login ${user} enrolled with the per-user policy (${USER_RUNBOOK}); then ${enroll} again`
          : index === 0
            ? `enroll a token from a login through ${user}'s auth method (a password login, or \`vault login -method=ldap\` then \`claude-auth enroll\`), not one from \`vault token create\` or an orphan token role (${USER_RUNBOOK})`
            : "follows from the missing entity (the templated policy names the entity's login): a token from a login fixes both",
      ),
    );
  });
  // The lifetime has its own line below; enrollment.ts words its warning with the same lifetime text.
  const temporary = info.periodSeconds === 0 && info.ttlSeconds > 0;
  const warnings = temporary
    ? assessment.warnings.filter((w) => !w.includes(assessment.lifetime))
    : assessment.warnings;
  for (const warning of warnings) {
    findings.push(
      warn(
        "identity-token",
        said(warning),
        `enroll a token from a login whose only policy is the per-user one (${USER_RUNBOOK}): ${enroll} again`,
      ),
    );
  }
  if (assessment.failures.length === 0 && warnings.length === 0) {
    findings.push(
      ok(
        "identity-token",
        `reaches ${user}'s own document (${assessment.own.join(", ")}) and no one else's (deny on another user's)`,
      ),
    );
  }
  const lifetime = describeLifetime(info, now);
  findings.push(
    temporary
      ? warn(
          "identity-expiry",
          `${lifetime}: when it expires nothing is backed up or restored for ${user} until they enroll again`,
          `ask the Vault admin for a login with token_period (${USER_RUNBOOK}); then ${enroll} again`,
        )
      : ok(
          "identity-expiry",
          info.periodSeconds > 0 ? `${lifetime}; the timer renews it at half its period` : lifetime,
        ),
  );
  return findings;
}

/** What doctor learnt of a user's enrolled token; `client` speaks with it when it can serve. */
export interface EnrolledTokenCheck {
  findings: Finding[];
  client?: VaultClient;
  identity?: string;
  assessment?: TokenAssessment;
}

/** How a user enrolls (again): a password login only where the PAM auth step can enroll, else `enroll`. */
function enrollFix(config: Config, user: string, asUser: boolean): string {
  const enroll = asUser ? "run `claude-auth enroll`" : `${user} runs \`claude-auth enroll\``;
  return config.userAuth === undefined
    ? `${enroll} (after \`vault login\`); a password login enrolls ${asUser ? "you" : "them"} only once CLAUDE_AUTH_SYNC_USER_AUTH is set and the PAM auth line is installed (./install.sh --pam-auth)`
    : `${asUser ? "log in once with your password" : `${user} logs in once with their password`} (the PAM auth step enrolls), or ${enroll} (after \`vault login\`)`;
}

/** A user's enrolled token, read as the user: enrolled, valid, what it reaches, how long it lives. */
export async function enrolledTokenFindings(
  config: Config,
  user: SystemUser,
  asUser: boolean,
  now: Date,
): Promise<EnrolledTokenCheck> {
  const id = "identity-enrolled";
  const again = enrollFix(config, user.name, asUser);
  let identity: Identity;
  try {
    identity = identityOf(config, new UserHome(user));
  } catch (error) {
    const hint = error instanceof InvalidDataError ? error.hint : undefined;
    return {
      findings: [
        fail(
          id,
          `${user.name}'s ${VAULT_TOKEN_DISPLAY} cannot be used: ${(error as Error).message}`,
          hint ?? again,
        ),
      ],
    };
  }
  if (identity.kind !== "user") {
    return {
      findings: [
        fail(
          id,
          `${user.name} has no Vault token in ${VAULT_TOKEN_DISPLAY} (CLAUDE_AUTH_SYNC_IDENTITY=user): nothing is backed up or restored for them`,
          again,
        ),
      ],
    };
  }
  const client = connect(config, new Deadline(config.timeoutMs));
  let origin = `${user.name}'s own token (${VAULT_TOKEN_DISPLAY})`;
  try {
    origin = await speakAs(client, config, identity, { identityHome: user.home, loginName: user.name });
    const assessment = await assessUserToken(client, config, user.name);
    return {
      findings: checkUserToken(user.name, origin, assessment, now, asUser),
      client,
      identity: origin,
      assessment,
    };
  } catch (error) {
    client.close();
    const explained = explainRefusal(error, identity, user.name);
    if (explained instanceof IdentityExpiredError) {
      return {
        findings: [
          fail(
            id,
            `Vault calls ${origin} an invalid token: it expired or was revoked; nothing is backed up or restored for ${user.name}`,
            again,
          ),
        ],
      };
    }
    return { findings: [vaultFailure("identity-token", `checking ${origin}`, explained)] };
  }
}
