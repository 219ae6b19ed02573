// Variables that the dynamic loader, glibc, OpenSSL, libuv or Node read before (or beneath) our own
// code. In a root process started by pam_exec they can only have come from the PAM environment, which
// pam_env's `user_readenv=1` fills from the user's ~/.pam_environment: an attack indicator, never config.

/** Whole families: every variable with one of these prefixes. */
const PREFIXES = ["LD_", "OPENSSL_", "NODE_", "UV_", "SSL_CERT_", "MALLOC_"] as const;

/**
 * Single names: glibc's list of variables it strips for setuid programs (unsecvars.h), ICU's data
 * paths, and OpenSSL's key log (which would write TLS secrets to a file the user chose).
 */
const NAMES = new Set([
  "GCONV_PATH",
  "GETCONF_DIR",
  "GLIBC_TUNABLES",
  "HOSTALIASES",
  "LOCALDOMAIN",
  "LOCPATH",
  "NIS_PATH",
  "NLSPATH",
  "RESOLV_HOST_CONF",
  "RES_OPTIONS",
  "TMPDIR",
  "TZDIR",
  "ICU_DATA",
  "ICU_TIMEZONE_FILES_DIR",
  "SSLKEYLOGFILE",
]);

export function isLoaderVariable(name: string): boolean {
  return NAMES.has(name) || PREFIXES.some((prefix) => name.startsWith(prefix));
}

/** The loader variables present in `env`, sorted; their values are never looked at. */
export function loaderVariables(env: NodeJS.ProcessEnv): string[] {
  return Object.keys(env).filter(isLoaderVariable).sort();
}
