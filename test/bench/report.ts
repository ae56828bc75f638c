// The summary table (metric | measured | goal | verdict), printed and written as Markdown.
import { writeFile } from "node:fs/promises";

export type Verdict = "meets" | "misses" | "info" | "failed";

export interface Row {
  metric: string;
  measured: string;
  goal: string;
  verdict: Verdict;
}

/** One section's rows plus what the Markdown file adds under "Details". */
export interface Section {
  title: string;
  rows: Row[];
  /** Markdown lines: how it was measured, per-sample tables, why a goal is missed. */
  details: string[];
}

const MARK: Record<Verdict, string> = { meets: "✓ meets", misses: "✗ misses", info: "·", failed: "✗ FAILED" };

export function verdict(ok: boolean): Verdict {
  return ok ? "meets" : "misses";
}

/** Display width in code points (the table holds ×, ≤, → but no wide or combining characters). */
const width = (s: string): number => Array.from(s).length;

export function printTable(sections: readonly Section[]): string {
  const rows = sections.flatMap((s) => s.rows);
  const head = ["metric", "measured", "goal", "verdict"];
  const cells = rows.map((r) => [r.metric, r.measured, r.goal, MARK[r.verdict]]);
  const cols = head.map((h, i) => Math.max(h.length, ...cells.map((c) => width(c[i]!))));
  const line = (c: readonly string[]) => c.map((x, i) => x + " ".repeat(cols[i]! - width(x))).join(" | ");
  const rule = cols.map((w) => "-".repeat(w)).join("-+-");
  return [line(head), rule, ...cells.map(line)].join("\n");
}

export function markdownTable(head: readonly string[], rows: readonly (readonly string[])[]): string[] {
  const esc = (s: string) => s.replaceAll("|", "\\|");
  return [
    `| ${head.map(esc).join(" | ")} |`,
    `| ${head.map(() => "---").join(" | ")} |`,
    ...rows.map((r) => `| ${r.map(esc).join(" | ")} |`),
  ];
}

export interface RunInfo {
  startedAt: string;
  durationMs: number;
  machine: string;
  versions: string;
}

export async function writeMarkdown(
  path: string,
  info: RunInfo,
  sections: readonly Section[],
): Promise<void> {
  const summary = sections.flatMap((s) => s.rows).map((r) => [r.metric, r.measured, r.goal, MARK[r.verdict]]);
  const lines = [
    "# ceph-mcs-agent benchmark results",
    "",
    `Written by \`npm run bench\` (test/bench/main.ts), overwritten on every run. Run ${info.startedAt}, ` +
      `took ${(info.durationMs / 1000).toFixed(0)} s on ${info.machine}; ${info.versions}.`,
    "Everything below was measured side by side in that one run against one real kube-apiserver + etcd, " +
      "one dnsmasq and the emulated MCS controller (test/emulator).",
    "",
    "## Summary",
    "",
    ...markdownTable(["metric", "measured", "goal", "verdict"], summary),
    "",
    "## Details",
    ...sections.flatMap((s) => ["", `### ${s.title}`, "", ...s.details]),
    "",
  ];
  await writeFile(path, lines.join("\n"));
}
