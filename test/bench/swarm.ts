// (e) 500 agents at once against the one apiserver, one emulator (Lighthouse ≥0.21 with Globalnet,
// delays scaled to 5 %) and one dnsmasq. 500 node processes would need ~500 × 90 MB and a 2-core
// machine would spend the run starting them, so the agents run as 500 concurrent runInit() calls in
// ONE child process (swarm-child.ts): the emulator and DNS server stay in this process and dnsmasq,
// as a real MCS controller and DNS would be apart from the pods.
import { mkdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { monitorEventLoopDelay } from "node:perf_hooks";
import type { InitResult } from "../../agent/init/files.ts";
import { ROOT, type ControlPlane } from "../harness/controlplane.ts";
import { NODE } from "../harness/scenario.ts";
import { agentRejections, agentRequests, scrapeMetrics } from "./apiserver-metrics.ts";
import { runProc } from "./proc.ts";
import { benchScenario } from "./scenario.ts";
import type { SwarmOutcome, SwarmReport } from "./swarm-child.ts";

const CHILD = join(ROOT, "test/bench/swarm-child.ts");
const TIME_SCALE = 0.05;

/** A pod's outcome with what its files and log lines say. */
export interface PodOutcome extends SwarmOutcome {
  ip: string | undefined;
  /** The agent's own request count per start ("API requests sent"), in order. */
  requests: number[];
  /** "retrying: …" lines (API calls retried after 429/timeouts) over all starts. */
  retries: number;
  /** Why the written result is not right (wrong pod in result.json, IP not the emulator's). */
  wrong?: string;
}

export interface SwarmResult {
  count: number;
  timeScale: number;
  pods: PodOutcome[];
  totalMs: number;
  /** Child process wall time: node start and module load included. */
  processMs: number;
  childRssKb: number | undefined;
  /** ServiceAccount (= agent) requests the apiserver let through / refused with 429, whole swarm. */
  apiserver: { dispatched: number; rejected: number };
  /** The agents' process: CPU time and event-loop delay; this (emulator's) process: event-loop delay. */
  contention: {
    agentsCpuMs: number;
    agentsLoop: { p99: number; max: number };
    emulatorLoop: { p99: number; max: number };
  };
  error?: string;
}

interface PodLogs {
  requests: number[];
  retries: number;
}

/** The agents' JSON log lines, per pod. */
function parseLogs(text: string): Map<string, PodLogs> {
  const byPod = new Map<string, PodLogs>();
  for (const line of text.split("\n")) {
    if (!line.startsWith("{")) continue;
    const rec = JSON.parse(line) as { pod?: string; msg?: string; apiRequests?: number };
    const logs = byPod.get(rec.pod ?? "") ?? { requests: [], retries: 0 };
    if (typeof rec.apiRequests === "number") logs.requests.push(rec.apiRequests);
    if (rec.msg?.startsWith("retrying") === true) logs.retries++;
    byPod.set(rec.pod ?? "", logs);
  }
  return byPod;
}

async function readResult(dir: string): Promise<InitResult | undefined> {
  const text = await readFile(join(dir, "result.json"), "utf8").catch(() => undefined);
  return text === undefined ? undefined : (JSON.parse(text) as InitResult);
}

function wrongness(o: SwarmOutcome, result: InitResult | undefined, expectedIp: string | undefined) {
  if (!o.ok) return undefined;
  if (result?.pod !== o.pod) return `result.json names pod ${String(result?.pod)}`;
  if (result.globalIP !== expectedIp)
    return `wrote ${String(result.globalIP)}, the emulator's IP is ${String(expectedIp)}`;
  return undefined;
}

async function enrich(
  o: SwarmOutcome,
  logs: PodLogs | undefined,
  expectedIp: string | undefined,
): Promise<PodOutcome> {
  const result = await readResult(o.dir);
  const wrong = wrongness(o, result, expectedIp);
  const base = {
    ...o,
    ip: result?.globalIP ?? undefined,
    requests: logs?.requests ?? [],
    retries: logs?.retries ?? 0,
  };
  return wrong === undefined ? base : { ...base, wrong };
}

export async function measureSwarm(cp: ControlPlane, count: number, tmp: string): Promise<SwarmResult> {
  const s = await benchScenario(cp, {
    profile: "lighthouse-0.21-globalnet",
    timeScale: TIME_SCALE,
    globalCidr: "242.0.0.0/16",
  });
  try {
    const root = join(tmp, "swarm");
    await mkdir(root, { recursive: true });
    const reportPath = join(tmp, "swarm-report.json");
    const logPath = join(tmp, "swarm-agents.log");
    const target = { ns: s.ns, kubeconfig: s.kubeconfig, dns: s.dns, tmp };
    // BENCH_AGENT_LOG_LEVEL=debug: every agent logs at that level (into swarm-agents.log in tmp).
    const level = process.env.BENCH_AGENT_LOG_LEVEL;
    const extraEnv: Record<string, string> = level ? { LOG_LEVEL: level } : {};
    const config = { target, root, count, deadlineSeconds: 90, reportPath, extraEnv };
    process.stderr.write(`[bench] (e) starting ${count} agents at once (in one process)\n`);
    const before = await scrapeMetrics(cp.admin());
    const loop = monitorEventLoopDelay({ resolution: 10 });
    loop.enable();
    const run = await runProc([NODE, CHILD], {
      // Each real agent has its own libuv pool (4 threads) for its file writes and fsyncs; in one
      // process they would queue behind 4 threads in all.
      env: { PATH: process.env.PATH ?? "", BENCH_SWARM: JSON.stringify(config), UV_THREADPOOL_SIZE: "128" },
      tmp,
      rss: true,
      timeoutMs: 360_000,
      stdoutFile: logPath,
    });
    loop.disable();
    const emulatorLoop = { p99: loop.percentile(99) / 1e6, max: loop.max / 1e6 };
    const after = await scrapeMetrics(cp.admin());
    const apiserver = { dispatched: agentRequests(before, after), rejected: agentRejections(before, after) };
    const base = { count, timeScale: TIME_SCALE, processMs: run.ms, childRssKb: run.peakRssKb, apiserver };
    const none = { p99: Number.NaN, max: Number.NaN };
    const idle = { agentsCpuMs: Number.NaN, agentsLoop: none, emulatorLoop };
    const text = run.code === 0 ? await readFile(reportPath, "utf8").catch(() => undefined) : undefined;
    if (text === undefined)
      return { ...base, contention: idle, pods: [], totalMs: Number.NaN, error: run.stderr.slice(-2000) };
    const report = JSON.parse(text) as SwarmReport;
    const logs = parseLogs(await readFile(logPath, "utf8"));
    const pods = await Promise.all(
      report.outcomes.map((o) =>
        enrich(o, logs.get(o.pod), s.emulator.globalIp(s.ns, `rook-ceph-osd-${o.id}`)),
      ),
    );
    const contention = { agentsCpuMs: report.cpuMs, agentsLoop: report.loopDelayMs, emulatorLoop };
    return { ...base, contention, pods, totalMs: report.totalMs };
  } finally {
    await s.stop();
  }
}
