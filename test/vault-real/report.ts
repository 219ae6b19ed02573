// Counts the named subtests of a real-server test file and writes them where the runner (run.mjs) reads
// them, so CI can print which server ran and how many contract tests passed against it.
import { writeFileSync } from "node:fs";
import type { Test } from "tap";
import { describe, type RealVault } from "./bootstrap.js";

export interface SuiteReport {
  suite: string;
  server: string;
  version: string;
  passed: string[];
  failed: string[];
}

type TapLike = Pick<Test, "test">;

/** A `t` whose `test()` records each subtest's outcome in the report file named by the runner. */
export function counting(t: TapLike, suite: string, vault: RealVault): TapLike {
  const report: SuiteReport = {
    suite,
    server: describe(vault),
    version: vault.version,
    passed: [],
    failed: [],
  };
  const file = process.env.CLAUDE_AUTH_SYNC_VAULT_REAL_REPORT_DIR;
  const save = () => {
    if (file) writeFileSync(`${file}/${suite}.json`, `${JSON.stringify(report, null, 2)}\n`);
  };
  save();
  const test = (name: string, ...rest: unknown[]) => {
    const pending = (t.test as (...args: unknown[]) => Promise<{ ok: boolean } | null>)(name, ...rest);
    return pending.then((results) => {
      (results?.ok ? report.passed : report.failed).push(name);
      save();
      return results;
    });
  };
  return { test } as unknown as TapLike;
}
