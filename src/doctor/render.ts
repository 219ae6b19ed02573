// `claude-auth doctor` for people: one line per finding, its fix indented below, a summary last.
import { terminalLines } from "../system/terminal-text.js";
import type { DoctorReport } from "./run.js";

const MARK = { ok: "ok  ", warn: "WARN", fail: "FAIL" } as const;

export function renderDoctor(report: DoctorReport, verbose = true): string {
  const lines: string[] = [
    `claude-auth doctor${report.user ? ` for ${report.user}` : " (installation only; --user NAME checks a user)"}${report.root === "/" ? "" : ` under ${report.root}`}`,
  ];
  for (const finding of report.findings) {
    if (!verbose && finding.status === "ok") continue;
    lines.push(`  ${MARK[finding.status]}  ${finding.id}: ${finding.message}`);
    if (finding.fix) {
      const [first, ...more] = finding.fix.split("\n");
      lines.push(`        fix: ${first}`, ...more.map((fixLine) => `        ${fixLine}`));
    }
  }
  const { fail, warn } = report.summary;
  lines.push(
    fail > 0
      ? `${fail} problem${fail === 1 ? "" : "s"}${warn > 0 ? `, ${warn} warning${warn === 1 ? "" : "s"}` : ""}: fix the FAIL lines above`
      : warn > 0
        ? `no problems, ${warn} warning${warn === 1 ? "" : "s"}`
        : "all good",
  );
  return terminalLines(lines);
}
