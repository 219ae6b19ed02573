// What every config.env key means and what it defaults to: the one table the man page
// claude-auth-sync.conf(5) is made from and the README's Configuration table is checked against.
// Text is Markdown-lite: `code` spans only (rendered bold in the man page).
import { DEFAULT_TOKEN_URL } from "../claude/oauth-defaults.js";
import {
  type ConfigKey,
  DEFAULT_CROSS_HOST_RESTORE,
  DEFAULT_HOST_TOKEN_CACHE,
  DEFAULT_RENEW_WINDOW_S,
  DEFAULT_TIMEOUT_MS,
} from "../config.js";

/** The sections of config.env, in the order of the shipped template (hooks/config/config.env). */
export const CONFIG_GROUPS = {
  vault: "Vault, as for the vault CLI",
  document: "Where each user's document lives",
  identity: "Whose Vault identity reads and writes a user's document",
  hostLogin: "How the host logs in to Vault",
  behaviour: "Behaviour",
  renewal: "Renewal of the rotating credential (sync and watch only, never at login)",
} as const;
export type ConfigGroup = keyof typeof CONFIG_GROUPS;

export interface ConfigKeyDoc {
  group: ConfigGroup;
  /** The value that means the default, as config.env holds it ("" = unset); a test feeds it to parseConfig. */
  value: string;
  /** The default as the README and the man page show it. */
  shown: string;
  meaning: string;
}

const unset = { value: "", shown: "—" } as const;
const off = { value: "", shown: "empty (off)" } as const;
const code = (value: string) => ({ value, shown: `\`${value}\`` });
const seconds = (value: number, unit: string) => ({ value: String(value), shown: `\`${value}\` (${unit})` });

/** Every key of CONFIG_KEYS, and no other: the mapped type makes a missing or unknown key a type error. */
export const CONFIG_KEY_DOCS: { readonly [K in ConfigKey]: ConfigKeyDoc } = {
  VAULT_ADDR: {
    group: "vault",
    ...unset,
    meaning:
      "Vault's address, e.g. `https://vault.example.com:8200`, or a cluster's nodes separated by commas (tried in order, the one that answers kept for the run); plain `http` to a non-loopback host is refused unless `CLAUDE_AUTH_SYNC_ALLOW_INSECURE_HTTP=1`",
  },
  VAULT_CACERT: {
    group: "vault",
    ...unset,
    meaning: "CA bundle (PEM) for a private CA; when set it is the only trust store",
  },
  VAULT_NAMESPACE: { group: "vault", ...unset, meaning: "Vault Enterprise namespace" },
  VAULT_TOKEN: {
    group: "vault",
    ...unset,
    meaning:
      "a Vault token, as for the `vault` CLI; a config file holding one must not be readable by others (better: `CLAUDE_AUTH_SYNC_TOKEN_FILE`)",
  },
  CLAUDE_AUTH_SYNC_ALLOW_INSECURE_HTTP: {
    group: "vault",
    ...code("0"),
    meaning:
      "1: allow plain `http` to a non-loopback Vault or API; tokens would then cross the network unencrypted (never for the OAuth token endpoint)",
  },
  CLAUDE_AUTH_SYNC_KV_MOUNT: { group: "document", ...code("secret"), meaning: "KV v2 mount" },
  CLAUDE_AUTH_SYNC_PATH: {
    group: "document",
    ...code("workstation/claude-users/{user}"),
    meaning: "document path inside the mount; `{user}` is the login name and must be present",
  },
  CLAUDE_AUTH_SYNC_IDENTITY: {
    group: "identity",
    ...code("user"),
    meaning:
      "`user`: a user's document is read and written only with that user's own token (the `vault-token` file, see `claude-auth enroll`); `host`: with the host's identity",
  },
  CLAUDE_AUTH_SYNC_USER_AUTH: {
    group: "identity",
    ...unset,
    meaning:
      "`ldap` or `userpass`: how the PAM auth step and `enroll --method` log a user in with their password (unset: no password logins)",
  },
  CLAUDE_AUTH_SYNC_USER_AUTH_MOUNT: {
    group: "identity",
    value: "",
    shown: "the method's name",
    meaning: "the auth mount of `CLAUDE_AUTH_SYNC_USER_AUTH`, e.g. `ldap-claude`",
  },
  CLAUDE_AUTH_SYNC_AUTH: {
    group: "hostLogin",
    ...code("token"),
    meaning:
      "the host's login: `token`, `approle`, `userpass` or `ldap` (`host` mode; `doctor`'s check of the host in `user` mode)",
  },
  CLAUDE_AUTH_SYNC_AUTH_MOUNT: {
    group: "hostLogin",
    value: "",
    shown: "the method's name",
    meaning: "mount path of the host's auth method",
  },
  CLAUDE_AUTH_SYNC_TOKEN_FILE: {
    group: "hostLogin",
    ...unset,
    meaning:
      "a Vault token file (e.g. a Vault Agent sink, root-only); else `VAULT_TOKEN`, else `~/.vault-token`",
  },
  CLAUDE_AUTH_SYNC_APPROLE_ROLE_ID: {
    group: "hostLogin",
    ...unset,
    meaning: "AppRole login for the host: the role id",
  },
  CLAUDE_AUTH_SYNC_APPROLE_SECRET_ID_FILE: {
    group: "hostLogin",
    ...unset,
    meaning: "AppRole login for the host: a root-only file holding the secret id",
  },
  CLAUDE_AUTH_SYNC_USERNAME: {
    group: "hostLogin",
    ...unset,
    meaning: "userpass/ldap login for the host: the user name",
  },
  CLAUDE_AUTH_SYNC_PASSWORD_FILE: {
    group: "hostLogin",
    ...unset,
    meaning: "userpass/ldap login for the host: a root-only file holding the password",
  },
  CLAUDE_AUTH_SYNC_HOST_TOKEN_CACHE: {
    group: "hostLogin",
    ...code(DEFAULT_HOST_TOKEN_CACHE),
    meaning:
      "root's approle/userpass/ldap login token, kept between runs (root 0600, replaced by rename, never read through a link); reused until a third of its TTL is left, then replaced and the old one revoked",
  },
  CLAUDE_AUTH_SYNC_TIMEOUT_MS: {
    group: "behaviour",
    ...code(String(DEFAULT_TIMEOUT_MS)),
    meaning: "whole-run budget in milliseconds; a login never waits longer",
  },
  CLAUDE_AUTH_SYNC_METRICS_DIR: {
    group: "behaviour",
    ...off,
    meaning:
      "node_exporter textfile-collector directory; owned by root, writable only by root (group: root or `prometheus`), ancestors likewise, else refused (no metrics, the sync goes on)",
  },
  CLAUDE_AUTH_SYNC_MIN_UID: { group: "behaviour", ...code("1000"), meaning: "users below it are ignored" },
  CLAUDE_AUTH_SYNC_PAM_STRICT: {
    group: "behaviour",
    ...code("0"),
    meaning:
      '1: a failed sync makes `claude-auth pam` exit non-zero, failing the session if the PAM line says `required` ("SSO required" never does)',
  },
  CLAUDE_AUTH_SYNC_RESTORE_MARGIN_S: {
    group: "behaviour",
    ...code("300"),
    meaning: "a backup is restored only if its access token stays valid this many seconds",
  },
  CLAUDE_AUTH_SYNC_SERVICE_ENV_DIR: {
    group: "behaviour",
    ...code("/var/lib/claude-auth-sync/env"),
    meaning: "root-owned copies of the env file that the `t3-serve@` drop-in loads",
  },
  CLAUDE_AUTH_SYNC_ANTHROPIC_BASE_URL: {
    group: "behaviour",
    ...code("https://api.anthropic.com"),
    meaning: "where `enable`/`rotate` check a setup token live (https, or http to loopback)",
  },
  CLAUDE_AUTH_SYNC_VERIFY_INTERVAL_S: {
    group: "behaviour",
    ...seconds(21_600, "6 h"),
    meaning: "timer runs check the credential in use live at most this often",
  },
  CLAUDE_AUTH_SYNC_ALERTMANAGER_URL: {
    group: "behaviour",
    ...off,
    meaning: "also push the alerts to Alertmanager's v2 API (hosts without node_exporter)",
  },
  CLAUDE_AUTH_SYNC_RENEW: {
    group: "renewal",
    ...code("1"),
    meaning: "`sync` and `watch` renew the rotating credential near expiry (never `pam`)",
  },
  CLAUDE_AUTH_SYNC_RENEW_WINDOW_S: {
    group: "renewal",
    ...seconds(DEFAULT_RENEW_WINDOW_S, `${DEFAULT_RENEW_WINDOW_S / 3600} h`),
    meaning: "renew once the access token expires within this many seconds",
  },
  CLAUDE_AUTH_SYNC_OAUTH_TOKEN_URL: {
    group: "renewal",
    ...code(DEFAULT_TOKEN_URL),
    meaning: "Claude's OAuth token endpoint (https; http only to loopback)",
  },
  CLAUDE_AUTH_SYNC_CROSS_HOST_RESTORE: {
    group: "renewal",
    ...code(DEFAULT_CROSS_HOST_RESTORE),
    meaning: "restore only backups this host took (`same-host`) or any usable one (`any`)",
  },
};
