// doctor's check of CLAUDE_AUTH_SYNC_METRICS_DIR: the same rule the sync applies before it writes there.
import { assertMetricsDirectory, METRICS_GROUP } from "../alert/metrics-directory.js";
import type { Config } from "../config.js";
import { AuthSyncError } from "../errors.js";
import { type Finding, fail, ok } from "./checks.js";

/** No finding when metrics are off (the key is empty). */
export function checkMetricsDirectory(config: Config | undefined): Finding[] {
  const dir = config?.metricsDir;
  if (!dir) return [];
  try {
    assertMetricsDirectory(dir);
  } catch (error) {
    const hint = error instanceof AuthSyncError ? error.hint : undefined;
    return [
      fail(
        "metrics-directory",
        (error as Error).message,
        hint ?? `fix the directory's owner and mode (root, 0755 or root:${METRICS_GROUP} 0775)`,
      ),
    ];
  }
  return [
    ok(
      "metrics-directory",
      `${dir}: owned by root, writable only by root (or group ${METRICS_GROUP} when set)`,
    ),
  ];
}
