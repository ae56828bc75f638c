// (e), the agents' side: `count` agents at once in this one process, each running runInit() from
// agent/init/main.ts — the very function `ceph-mcs-agent init` runs, with its own clients, connection
// pool, retries, Event and exit code — under its own environment: runInit() takes its snapshot of
// process.env synchronously when called, so each call is made with process.env swapped to that pod's
// env (the parent checks afterwards that every result.json names the right pod). A start that fails
// is started again after kubelet's crash back-off (10 s, 20 s, …), as the kubelet restarts a failed
// init container. The agents' JSON logs go to this process's stdout (a file). Started by swarm.ts with
// BENCH_SWARM (JSON); writes a SwarmReport (JSON) to the file it names.
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import { runInit } from "../../agent/init/main.ts";
import type { Daemon } from "../harness/scenario.ts";
import { agentEnv, type AgentTarget } from "./agent.ts";

export interface SwarmConfig {
  target: AgentTarget;
  root: string;
  count: number;
  deadlineSeconds: number;
  /** Where the SwarmReport (JSON) goes. */
  reportPath: string;
  /** Extra env for every agent (e.g. LOG_LEVEL=debug to look into a slow run). */
  extraEnv: Record<string, string>;
}

/** One start of the agent (one init-container run). */
export interface StartResult {
  ok: boolean;
  code: number;
  /** performance.now() from the swarm's start to this start's end. */
  endMs: number;
  /** This start's own duration. */
  ms: number;
  /** The termination message of a failed start. */
  error?: string;
}

/** One pod: its starts until one succeeded or the kubelet-style restarts ran out. */
export interface SwarmOutcome {
  id: string;
  pod: string;
  dir: string;
  ok: boolean;
  starts: StartResult[];
}

export interface SwarmReport {
  outcomes: SwarmOutcome[];
  totalMs: number;
  maxRssKb: number;
  /** This process's CPU time (user + system) and event-loop delay (p99, max): the agents' contention. */
  cpuMs: number;
  loopDelayMs: { p99: number; max: number };
}

/** kubelet's restart back-off for a failed (init) container: 10 s, doubling, at most 5 min. */
export const KUBELET_BACKOFF_MS = 10_000;
const KUBELET_BACKOFF_MAX_MS = 300_000;
export const MAX_STARTS = 4;

/** Calls runInit() with process.env swapped for `env` while it takes its snapshot. */
function runInitWith(env: Record<string, string>): Promise<number> {
  const saved = process.env;
  process.env = { ...env };
  try {
    return runInit();
  } finally {
    process.env = saved;
  }
}

async function startOnce(env: Record<string, string>, t0: number): Promise<StartResult> {
  const began = performance.now();
  const code = await runInitWith(env).catch(() => -1);
  const end = performance.now();
  const result = { ok: code === 0, code, endMs: end - t0, ms: end - began };
  if (code === 0) return result;
  const message = await readFile(env.CEPH_MCS_TERMINATION_LOG ?? "", "utf8").catch(() => "?");
  return { ...result, error: message };
}

/** The pod: a failed start is started again after kubelet's back-off, as a kubelet would. */
async function pod(cfg: SwarmConfig, d: Daemon, t0: number): Promise<SwarmOutcome> {
  const dir = join(cfg.root, `${d.type}-${d.id}`);
  await mkdir(dir, { recursive: true });
  const env = agentEnv(cfg.target, d, dir, {
    CEPH_MCS_DEADLINE_SECONDS: String(cfg.deadlineSeconds),
    ...cfg.extraEnv,
  });
  const starts: StartResult[] = [];
  for (;;) {
    const start = await startOnce(env, t0);
    starts.push(start);
    if (start.ok || starts.length >= MAX_STARTS)
      return { id: d.id, pod: env.POD_NAME ?? "", dir, ok: start.ok, starts };
    await sleep(Math.min(KUBELET_BACKOFF_MS * 2 ** (starts.length - 1), KUBELET_BACKOFF_MAX_MS));
  }
}

async function main(): Promise<void> {
  const cfg = JSON.parse(process.env.BENCH_SWARM ?? "{}") as SwarmConfig;
  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();
  const t0 = performance.now();
  const daemons = Array.from({ length: cfg.count }, (_, i): Daemon => ({ type: "osd", id: String(i) }));
  const outcomes = await Promise.all(daemons.map((d) => pod(cfg, d, t0)));
  const report: SwarmReport = {
    outcomes,
    totalMs: performance.now() - t0,
    maxRssKb: process.resourceUsage().maxRSS,
    cpuMs: (process.cpuUsage().user + process.cpuUsage().system) / 1000,
    loopDelayMs: { p99: loop.percentile(99) / 1e6, max: loop.max / 1e6 },
  };
  await writeFile(cfg.reportPath, JSON.stringify(report));
}

if (import.meta.main) {
  await main();
  // Like the CLI: nothing (a leftover keep-alive socket or timer) may keep this process alive.
  process.exit(0);
}
