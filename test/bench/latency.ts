// (a) Export Valid → public-addr written, the agent (bundled and unbundled, first start) against the
// Rook-like baseline, one sample after the other on one emulator with realistic delays.
//
// Clocks, all CLOCK_REALTIME on this host: "Valid at" is Date.now() in this process when the
// emulator's status write with Valid=True was acknowledged by the apiserver (its events); the
// agent's "written at" is the mtime of public-addr (set by the kernel at the rename's write, the last
// file the agent writes); the baseline's is Date.now() when its DNS lookup answered.
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import type { KubeConfig } from "@kubernetes/client-node";
import type { Emulator } from "../emulator/mcs-controller.ts";
import type { Daemon } from "../harness/scenario.ts";
import { agentEnv, lastWords, runAgentProc, type AgentTarget, type Build } from "./agent.ts";
import { agentRequests, requestBreakdown, scrapeMetrics } from "./apiserver-metrics.ts";
import { rookBaseline } from "./baseline.ts";

export type Who = Build | "rook";

export interface LatencySample {
  who: Who;
  daemon: string;
  ok: boolean;
  note?: string;
  /** Wall-clock ms (Date.now()); createdAt only for the baseline (the agent creates its own export). */
  createdAt?: number;
  validAt: number | undefined;
  readyAt: number | undefined;
  dnsAt: number | undefined;
  writtenAt: number | undefined;
  /** Agents: requests counted by the agent and by the apiserver, peak RSS; baseline: DNS tries. */
  requests?: number;
  apiserverRequests?: number;
  /** apiserver_request_total growth during the run (the emulator's requests included). */
  kinds?: string[];
  rssKb?: number;
  tries?: number;
  /** Agents: when the agent itself saw the export ready (result.json timings.validAt). */
  agentSawReadyAt?: number;
}

export interface LatencyEnv {
  target: AgentTarget;
  emulator: Emulator;
  admin: KubeConfig;
  clusterID: string;
}

export interface LatencyResult {
  samples: LatencySample[];
  /** The first bundled sample's daemon and folder, left exported and valid for the restart runs. */
  restart: { daemon: Daemon; dir: string };
}

/** When the emulator wrote Valid=True / Ready=True and published the <clusterID>. DNS record. */
export function exportTimes(em: Emulator, key: string, clusterID: string) {
  const mine = em.events.filter((e) => e.key === key);
  const status = mine.filter((e) => e.kind === "status");
  return {
    validAt: status.find((e) => /\bValid=True\b/.test(e.detail))?.at,
    readyAt: status.find((e) => /\bReady=True\b/.test(e.detail))?.at,
    dnsAt: mine.find(
      (e) => e.kind === "dns" && e.detail.startsWith(`${clusterID}.`) && /→ \[.+\]/.test(e.detail),
    )?.at,
  };
}

async function agentSample(env: LatencyEnv, build: Build, d: Daemon, dir: string): Promise<LatencySample> {
  await mkdir(dir, { recursive: true });
  const before = await scrapeMetrics(env.admin);
  const run = await runAgentProc(build, agentEnv(env.target, d, dir), { tmp: env.target.tmp, rss: true });
  const after = await scrapeMetrics(env.admin);
  const apiserverRequests = agentRequests(before, after);
  const times = exportTimes(env.emulator, `${env.target.ns}/rook-ceph-${d.type}-${d.id}`, env.clusterID);
  const sawReady = run.result?.timings.validAt;
  return {
    who: build,
    daemon: `${d.type}.${d.id}`,
    ok: run.code === 0 && run.publicAddr !== undefined,
    ...(run.code === 0 ? {} : { note: lastWords(run) }),
    ...times,
    writtenAt: run.writtenAt,
    ...(run.apiRequests === undefined ? {} : { requests: run.apiRequests }),
    apiserverRequests,
    kinds: requestBreakdown(before, after),
    ...(run.peakRssKb === undefined ? {} : { rssKb: run.peakRssKb }),
    ...(sawReady ? { agentSawReadyAt: Date.parse(sawReady) } : {}),
  };
}

async function rookSample(env: LatencyEnv, d: Daemon): Promise<LatencySample> {
  const { ns, dns } = env.target;
  const run = await rookBaseline(env.admin, { ns, dns, clusterID: env.clusterID }, d);
  const times = exportTimes(env.emulator, `${ns}/rook-ceph-${d.type}-${d.id}`, env.clusterID);
  return {
    who: "rook",
    daemon: `${d.type}.${d.id}`,
    ok: run.answeredAt !== undefined,
    createdAt: run.exportCreatedAt,
    ...times,
    writtenAt: run.answeredAt,
    tries: run.tries,
  };
}

/** n rounds of: bundled agent, unbundled agent, baseline — each on its own OSD, one at a time. */
export async function measureLatency(env: LatencyEnv, n: number): Promise<LatencyResult> {
  const samples: LatencySample[] = [];
  const dirOf = (d: Daemon) => join(env.target.tmp, `${d.type}-${d.id}`);
  const first: Daemon = { type: "osd", id: "0" };
  for (let i = 0; i < n; i++) {
    const osd = (id: number): Daemon => ({ type: "osd", id: String(id) });
    await env.emulator.settled();
    samples.push(await agentSample(env, "bundled", osd(i), dirOf(osd(i))));
    await env.emulator.settled();
    samples.push(await agentSample(env, "unbundled", osd(100 + i), dirOf(osd(100 + i))));
    await env.emulator.settled();
    samples.push(await rookSample(env, osd(200 + i)));
    progress(samples.slice(-3));
  }
  return { samples, restart: { daemon: first, dir: dirOf(first) } };
}

function progress(round: readonly LatencySample[]): void {
  const parts = round.map((s) => {
    const d = s.writtenAt !== undefined && s.validAt !== undefined ? s.writtenAt - s.validAt : Number.NaN;
    return `${s.who} ${s.daemon} ${s.ok ? `${Math.round(d)} ms` : `FAILED ${s.note ?? ""}`}`;
  });
  process.stderr.write(`[bench] (a) ${parts.join(" | ")}\n`);
}
