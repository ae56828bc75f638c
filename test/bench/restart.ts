// (b) wall time of a restart (the daemon is already exported, valid and pinned) against a bare
// `node -e 0`, interleaved round by round; (c) its API requests, cross-checked against the
// apiserver's own counters; (d) peak RSS of restarts.
import { join } from "node:path";
import type { KubeConfig } from "@kubernetes/client-node";
import { NODE, type Daemon } from "../harness/scenario.ts";
import { agentArgv, agentEnv, runAgentProc, type AgentTarget, type Build } from "./agent.ts";
import { agentRequests, requestBreakdown, scrapeMetrics } from "./apiserver-metrics.ts";
import { runProc } from "./proc.ts";

export const VARIANTS = [
  "node -e 0",
  "bundled --version",
  "unbundled --version",
  "bundled init, empty env",
  "bundled init",
  "bundled init + compile cache",
  "unbundled init",
] as const;
export type Variant = (typeof VARIANTS)[number];

export interface RestartRun {
  variant: Variant;
  ms: number;
  code: number | null;
  /** The exit code was the expected one. */
  ok: boolean;
  requests?: number;
  /** Init runs: spawn → flow start (node start, module load, kubeconfig, CephCluster read), the flow
   * (result.json totalMs), file written → process reaped (Event, close, exit). */
  phases?: { toFlow: number; flow: number; exit: number };
}

export interface RestartResult {
  runs: RestartRun[];
  rssKb: Partial<Record<Variant, number[]>>;
  crossCheck: { agent: number | undefined; apiserver: number; breakdown: string[] };
  failures: string[];
}

interface Ctx {
  target: AgentTarget;
  daemon: Daemon;
  dir: string;
  cacheDir: string;
}

interface Spec {
  argv: string[];
  env: Record<string, string>;
  build?: Build;
  /** Exit code of a good run. */
  code?: number;
}

function spec(ctx: Ctx, v: Variant): Spec {
  const env = agentEnv(ctx.target, ctx.daemon, ctx.dir);
  const bare = { PATH: env.PATH ?? "" };
  const cached = { ...env, NODE_COMPILE_CACHE: ctx.cacheDir };
  // Loads and evaluates everything init needs (client-node, undici, pino …), then stops at the
  // env check with exit 2 (misconfigured): start-up cost without any I/O.
  const empty = { ...bare, CEPH_MCS_TERMINATION_LOG: join(ctx.target.tmp, "termination-log") };
  const table: Record<Variant, Spec> = {
    "node -e 0": { argv: [NODE, "-e", "0"], env: bare },
    "bundled --version": { argv: agentArgv("bundled", "--version"), env: bare },
    "unbundled --version": { argv: agentArgv("unbundled", "--version"), env: bare },
    "bundled init, empty env": { argv: agentArgv("bundled", "init"), env: empty, code: 2 },
    "bundled init": { argv: [], env, build: "bundled" },
    "bundled init + compile cache": { argv: [], env: cached, build: "bundled" },
    "unbundled init": { argv: [], env, build: "unbundled" },
  };
  return table[v];
}

async function runVariant(ctx: Ctx, v: Variant, rss = false): Promise<RestartRun & { rssKb?: number }> {
  const s = spec(ctx, v);
  const tmp = ctx.target.tmp;
  if (s.build === undefined) {
    const run = await runProc(s.argv, { env: s.env, tmp, rss });
    const ok = run.code === (s.code ?? 0);
    return { variant: v, ms: run.ms, code: run.code, ok, ...(run.peakRssKb ? { rssKb: run.peakRssKb } : {}) };
  }
  const run = await runAgentProc(s.build, s.env, { tmp, rss });
  const t = run.result?.timings;
  const phases =
    t === undefined
      ? undefined
      : {
          toFlow: Date.parse(t.startedAt) - run.startedAt,
          flow: t.totalMs,
          exit: run.endedAt - Date.parse(t.writtenAt),
        };
  return {
    variant: v,
    ms: run.ms,
    code: run.code,
    ok: run.code === 0,
    ...(run.apiRequests === undefined ? {} : { requests: run.apiRequests }),
    ...(phases ? { phases } : {}),
    ...(run.peakRssKb ? { rssKb: run.peakRssKb } : {}),
  };
}

/** Warms Node's on-disk compile cache the way an image build step could (`--version` at build time). */
async function warmCompileCache(ctx: Ctx): Promise<void> {
  const env = { PATH: process.env.PATH ?? "", NODE_COMPILE_CACHE: ctx.cacheDir };
  await runProc(agentArgv("bundled", "--version"), { env, tmp: ctx.target.tmp });
}

export async function measureRestart(
  target: AgentTarget,
  prepared: { daemon: Daemon; dir: string },
  opts: { rounds: number; rssRuns: number; admin: KubeConfig },
): Promise<RestartResult> {
  const ctx: Ctx = { target, ...prepared, cacheDir: join(target.tmp, "compile-cache") };
  await warmCompileCache(ctx);
  const runs: RestartRun[] = [];
  // Round 0 warms the page cache and is dropped; each round starts at another variant.
  for (let round = 0; round <= opts.rounds; round++) {
    for (let k = 0; k < VARIANTS.length; k++) {
      const run = await runVariant(ctx, VARIANTS[(round + k) % VARIANTS.length]!);
      if (round > 0) runs.push(run);
    }
  }
  process.stderr.write(`[bench] (b) ${opts.rounds} interleaved rounds done\n`);
  const rssKb = await measureRss(ctx, opts.rssRuns);
  const crossCheck = await crossCheckRequests(ctx, opts.admin);
  const failures = runs.filter((r) => !r.ok).map((r) => `${r.variant}: exit ${String(r.code)}`);
  return { runs, rssKb, crossCheck, failures };
}

async function measureRss(ctx: Ctx, n: number): Promise<Partial<Record<Variant, number[]>>> {
  const out: Partial<Record<Variant, number[]>> = {};
  const which: Variant[] = [
    "node -e 0",
    "bundled --version",
    "bundled init, empty env",
    "bundled init",
    "bundled init + compile cache",
    "unbundled init",
  ];
  for (let i = 0; i < n; i++) {
    for (const v of which) {
      const kb = (await runVariant(ctx, v, true)).rssKb;
      if (kb !== undefined) (out[v] ??= []).push(kb);
    }
  }
  return out;
}

/** One bundled restart between two scrapes of the apiserver's metrics; nothing else runs then. */
async function crossCheckRequests(ctx: Ctx, admin: KubeConfig): Promise<RestartResult["crossCheck"]> {
  const before = await scrapeMetrics(admin);
  const run = await runVariant(ctx, "bundled init");
  const after = await scrapeMetrics(admin);
  return {
    agent: run.requests,
    apiserver: agentRequests(before, after),
    breakdown: requestBreakdown(before, after),
  };
}
