// (e) as rows and details.
import { markdownTable, verdict, type Row, type Section } from "./report.ts";
import { REQUEST_GOAL } from "./section-restart.ts";
import { KUBELET_BACKOFF_MS, MAX_STARTS } from "./swarm-child.ts";
import type { PodOutcome, SwarmResult } from "./swarm.ts";
import { fmtKb, fmtMs, max, median, quantile } from "./stats.ts";

const good = (p: PodOutcome): boolean => p.ok && p.wrong === undefined;

function duplicates(pods: readonly PodOutcome[]): number {
  const ips = pods.map((p) => p.ip).filter((ip) => ip !== undefined);
  return ips.length - new Set(ips).size;
}

/** Termination messages with the daemon's number and namespace taken out, counted. */
function reasons(pods: readonly PodOutcome[]): [string, number][] {
  const counts = new Map<string, number>();
  for (const s of pods.flatMap((p) => p.starts).filter((x) => !x.ok)) {
    const key = `exit ${s.code}: ${(s.error ?? "?").replace(/osd-\d+/g, "osd-N").replace(/init-[a-z0-9]+/g, "<ns>")}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return [...counts].sort((a, b) => b[1] - a[1]);
}

function outcomeRows(e: SwarmResult): Row[] {
  const first = e.pods.filter((p) => p.starts[0]?.ok === true && p.wrong === undefined).length;
  const eventually = e.pods.filter(good);
  const maxStarts = max(eventually.map((p) => p.starts.length));
  const dup = duplicates(e.pods);
  return [
    {
      metric: `(e) ${e.count} agents at once (one process): written right on their first start`,
      measured: `${first}/${e.count}`,
      goal: `${e.count}/${e.count}`,
      verdict: first === e.count ? "meets" : "misses",
    },
    {
      metric: "(e) … written right after kubelet-style restarts",
      measured:
        `${eventually.length}/${e.count}${dup > 0 ? `, ${dup} duplicate IPs` : ""}` +
        (eventually.length > 0 ? ` (≤ ${maxStarts} starts)` : ""),
      goal: `${e.count}/${e.count}`,
      verdict: eventually.length === e.count && dup === 0 ? "meets" : "failed",
    },
  ];
}

function timeRows(e: SwarmResult): Row[] {
  const done = e.pods.filter(good).map((p) => p.starts.at(-1)!.endMs);
  const own = e.pods.flatMap((p) => p.requests);
  const starts = e.pods.reduce((n, p) => n + p.starts.length, 0);
  return [
    {
      metric: "(e) wall time per agent until written, p50 / p99 (restarts included)",
      measured: `${fmtMs(median(done))} / ${fmtMs(quantile(done, 0.99))}`,
      goal: "—",
      verdict: "info",
    },
    {
      metric: "(e) total, all started → last written (child process incl. its start)",
      measured: `${fmtMs(e.totalMs)} (${fmtMs(e.processMs)})`,
      goal: "< 10 min",
      verdict: verdict(e.processMs < 600_000),
    },
    {
      metric: "(e) API requests per start under load, apiserver-counted (agent's own median / max)",
      measured:
        `${(e.apiserver.dispatched / Math.max(1, starts)).toFixed(1)} per start, ${e.apiserver.rejected} refused ` +
        `(${median(own)} / ${max(own)})`,
      goal: `≤ ${REQUEST_GOAL}`,
      verdict: verdict(e.apiserver.dispatched / Math.max(1, starts) <= REQUEST_GOAL),
    },
  ];
}

function table(e: SwarmResult): string[] {
  const firstOk = e.pods.filter((p) => p.starts[0]?.ok === true).map((p) => p.starts[0]!.ms);
  const firstFailed = e.pods.filter((p) => p.starts[0]?.ok === false).map((p) => p.starts[0]!.ms);
  const done = e.pods.filter(good).map((p) => p.starts.at(-1)!.endMs);
  const row = (what: string, xs: number[]) => [
    what,
    String(xs.length),
    fmtMs(median(xs)),
    fmtMs(quantile(xs, 0.9)),
    fmtMs(quantile(xs, 0.99)),
    fmtMs(max(xs)),
  ];
  return markdownTable(
    ["", "agents", "p50", "p90", "p99", "max"],
    [
      row("first start succeeded: its duration", firstOk),
      row("first start failed: time until it failed", firstFailed),
      row("until written (restarts included)", done),
    ],
  );
}

function failures(e: SwarmResult): string[] {
  const retried = e.pods.filter((p) => p.retries > 0);
  const lines = [
    ...reasons(e.pods).map(([why, n]) => `- ${n} × ${why}`),
    ...e.pods
      .filter((p) => p.wrong !== undefined)
      .slice(0, 10)
      .map((p) => `- osd.${p.id}: ${p.wrong ?? ""}`),
  ];
  if (e.error !== undefined) lines.push(`- the child process failed: ${e.error}`);
  const c = e.contention;
  return [
    "",
    `Contention: the agents' process used ${fmtMs(c.agentsCpuMs)} of CPU in ${fmtMs(e.processMs)}, its event ` +
      `loop was late by up to ${fmtMs(c.agentsLoop.max)} (p99 ${fmtMs(c.agentsLoop.p99)}); the emulator's ` +
      `(this) process's by up to ${fmtMs(c.emulatorLoop.max)} (p99 ${fmtMs(c.emulatorLoop.p99)}).`,
    "",
    `API calls retried by the agents ("retrying: …" log lines): ${retried.reduce((n, p) => n + p.retries, 0)} ` +
      `in ${retried.length} pods.`,
    ...(lines.length > 0 ? ["", "Failed starts:", "", ...lines] : []),
  ];
}

export function swarmSection(e: SwarmResult): Section {
  return {
    title: `(e) ${e.count} agents at once`,
    rows: [...outcomeRows(e), ...timeRows(e)],
    details: [
      `${e.count} OSDs (osd.0…osd.${e.count - 1}) in one namespace, one emulator (\`lighthouse-0.21-globalnet\`, ` +
        `delays × ${e.timeScale}, Globalnet pool 242.0.0.0/16, its API client on one keep-alive pool), the one ` +
        `apiserver and dnsmasq. ${e.count} node processes at once would need ~${e.count} × 90 MB and a 2-core ` +
        "machine would mostly be starting them, so the agents ran IN-PROCESS: one child process " +
        `(test/bench/swarm-child.ts) calls runInit() from agent/init/main.ts — what \`ceph-mcs-agent init\` runs, ` +
        "with its own clients, connection pool, retries, Event and exit code — for every pod in the same tick, " +
        "each with process.env swapped to that pod's env while runInit takes its snapshot. A failed start is " +
        `started again after kubelet's crash back-off (${KUBELET_BACKOFF_MS / 1000} s, doubling; at most ` +
        `${MAX_STARTS} starts). The agents share two cores with the emulator, dnsmasq, etcd and the apiserver ` +
        "(and whatever else runs on the machine), so their times include that contention. A pod counts as " +
        "written right when its result.json names it and its IP is the emulator's global IP for its Service. " +
        `Child process peak RSS: ${fmtKb(e.childRssKb)}.`,
      "",
      ...table(e),
      ...failures(e),
    ],
  };
}
