// Who may write CLAUDE_AUTH_SYNC_METRICS_DIR. Root writes there at every login: a directory (or an
// ancestor) someone else can write lets them plant FIFOs and links at our names, or forge metrics.
import { lstatSync, readFileSync, realpathSync, type Stats } from "node:fs";
import { dirname, resolve } from "node:path";
import { AuthSyncError, ExitCode } from "../errors.js";

/**
 * node_exporter's account on Debian (`prometheus-node-exporter` runs as prometheus:prometheus and
 * owns /var/lib/prometheus, the parent of its collector directory /var/lib/prometheus/node-exporter).
 */
export const METRICS_GROUP = "prometheus";

const STICKY = 0o1000;

interface Trusted {
  uid: number | undefined;
  gid: number | undefined;
}

/** The account's ids from the local files (a system account is local; no getent process at login). */
function metricsAccount(): Trusted {
  const field = (file: string, index: number): number | undefined => {
    try {
      for (const line of readFileSync(file, "utf8").split("\n")) {
        const fields = line.split(":");
        if (fields[0] === METRICS_GROUP) return Number(fields[index]);
      }
    } catch {}
    return undefined;
  };
  return { uid: field("/etc/passwd", 2), gid: field("/etc/group", 2) };
}

/** Why `stat` is writable by someone untrusted, or undefined; `ancestor`: a sticky bit protects our entry. */
function untrustedWriter(stat: Stats, ancestor: boolean, account: () => Trusted): string | undefined {
  const mode = (stat.mode & 0o7777).toString(8).padStart(4, "0");
  if (stat.uid !== 0 && !(ancestor && stat.uid === account().uid)) return `it is owned by uid ${stat.uid}`;
  const sticky = ancestor && (stat.mode & STICKY) !== 0;
  if (stat.mode & 0o002 && !sticky) return `everyone may write it (mode ${mode})`;
  if (stat.mode & 0o020 && !sticky && stat.gid !== 0 && stat.gid !== account().gid)
    return `group ${stat.gid} may write it (mode ${mode})`;
  return undefined;
}

function refusal(dir: string, where: string, why: string, hint?: string): AuthSyncError {
  const at = where === dir ? "" : ` (at its ancestor ${where})`;
  return new AuthSyncError(
    `metrics directory ${dir} refused${at}: ${why}; root writes there at every login, and whoever can write it can make logins hang or forge metrics; no metrics written`,
    ExitCode.error,
    {
      hint:
        hint ??
        `as root: chown root:root ${where} && chmod 0755 ${where} (or root:${METRICS_GROUP} 0775 to let node_exporter's group write it); see docs/runbook.md, "Metrics directory"`,
    },
  );
}

/**
 * Throws unless `dir` is a directory owned by root, writable by nobody but root and (group-write)
 * root's group or `prometheus`, and every ancestor (as written and as resolved) is owned by root or the
 * prometheus account and not writable by others, a sticky bit excepted (as sshd's StrictModes does).
 */
export function assertMetricsDirectory(dir: string): void {
  let cached: Trusted | undefined;
  const account = () => {
    cached ??= metricsAccount();
    return cached;
  };
  let resolved: string;
  try {
    resolved = realpathSync(dir);
  } catch (error) {
    throw refusal(
      dir,
      dir,
      `it cannot be resolved (${(error as NodeJS.ErrnoException).code ?? error})`,
      `as root: install -d -o root -g root -m 0755 ${dir}, or empty CLAUDE_AUTH_SYNC_METRICS_DIR to turn metrics off`,
    );
  }
  const self = lstatSync(resolved);
  if (!self.isDirectory()) throw refusal(dir, dir, "it is not a directory");
  const why = untrustedWriter(self, false, account);
  if (why) throw refusal(dir, dir, why);
  const seen = new Set<string>([resolved]);
  for (const start of [dirname(resolved), resolve(dir)]) {
    for (let path = start; !seen.has(path); path = dirname(path)) {
      seen.add(path);
      // lstat: a link on the way as written is judged by its own owner; its target is on the resolved walk.
      const stat = lstatSync(path);
      const why = stat.isSymbolicLink()
        ? stat.uid === 0
          ? undefined
          : `it is a link owned by uid ${stat.uid}`
        : untrustedWriter(stat, true, account);
      if (why) throw refusal(dir, path, why);
      if (path === "/") break;
    }
  }
}
