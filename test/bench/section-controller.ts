// (k) controller mode: pinned IP change → ConfigMap + Secret updated, leader hand-over after SIGTERM and
// after SIGKILL (production timings 15 s / 10 s / 2 s), steady RSS of the leader and of a follower.
// Two bundled controller processes against the run's control plane, a stand-in ceph CLI for the monmap.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { CoordinationV1Api, CoreV1Api, type KubeConfig } from "@kubernetes/client-node";
import { ROOT, type ControlPlane } from "../harness/controlplane.ts";
import {
  eventually,
  fakeCeph,
  grantControllerRole,
  pin,
  seedRookCluster,
  startController,
  type ControllerProcess,
} from "../harness/controller.ts";
import { verdict, type Section } from "./report.ts";
import { fmtMs, max, median, quantile } from "./stats.ts";

export const UPDATE_GOAL_MS = 500;
export const RSS_GOAL_MB = 90;
const PRODUCTION = {
  CEPH_MCS_LEASE_DURATION: "15",
  CEPH_MCS_RENEW_DEADLINE: "10",
  CEPH_MCS_RETRY_PERIOD: "2",
};

export interface ControllerBench {
  updateMs: number[];
  handoverTermMs: number;
  handoverKillMs: number;
  rssLeaderMb: number[];
  rssFollowerMb: number[];
}

function rssMb(pid: number | undefined): number {
  const status = readFileSync(`/proc/${pid ?? 0}/status`, "utf8");
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
}

async function holder(kc: KubeConfig, ns: string): Promise<string> {
  const api = kc.makeApiClient(CoordinationV1Api);
  const lease = await api
    .readNamespacedLease({ namespace: ns, name: "ceph-mcs-agent-controller" })
    .catch(() => undefined);
  return lease?.spec?.holderIdentity ?? "";
}

async function monHostHas(core: CoreV1Api, ns: string, ip: string): Promise<boolean> {
  const s = await core.readNamespacedSecret({ namespace: ns, name: "rook-ceph-config" });
  return Buffer.from(s.data?.mon_host ?? "", "base64")
    .toString()
    .includes(ip);
}

export async function measureController(cp: ControlPlane, samples: number): Promise<ControllerBench> {
  const ns = await cp.newNamespace("bench-ctl");
  const seeded = await seedRookCluster(cp, ns, { mons: ["a", "b", "c"] });
  const kubeconfig = await grantControllerRole(cp, ns);
  const ceph = await fakeCeph();
  const bundle = join(ROOT, "dist/ceph-mcs-agent.mjs");
  const ips = { ...seeded.clusterIPs };
  for (const id of ["a", "b", "c"]) await pin(cp, ns, `rook-ceph-mon-${id}`, ips[id] ?? "");
  await ceph.setMonmap(ips);
  const env = {
    KUBECONFIG: kubeconfig,
    POD_NAMESPACE: ns,
    CEPH_MCS_CEPH_COMMAND: ceph.command,
    ...PRODUCTION,
  };
  const procs: ControllerProcess[] = [];
  const start = (name: string): ControllerProcess => {
    const p = startController(name, env, bundle);
    procs.push(p);
    return p;
  };
  try {
    return await measureWith(cp, { ns, ips, ceph, start, procs }, samples);
  } finally {
    for (const p of procs) p.kill("SIGKILL");
    await Promise.all(procs.map((p) => p.exited));
    await ceph.remove();
  }
}

interface Ctx {
  ns: string;
  ips: Record<string, string>;
  ceph: Awaited<ReturnType<typeof fakeCeph>>;
  start: (name: string) => ControllerProcess;
  procs: ControllerProcess[];
}

async function measureWith(cp: ControlPlane, c: Ctx, samples: number): Promise<ControllerBench> {
  const kc = cp.admin();
  const core = kc.makeApiClient(CoreV1Api);
  const first = c.start("ctl-0");
  const second = c.start("ctl-1");
  const leaderName = await eventually(
    () => holder(kc, c.ns),
    (h) => h !== "",
    60_000,
  );
  await sleep(3000);
  const updateMs: number[] = [];
  for (let i = 0; i < samples; i++) {
    const ip = `242.0.1.${100 + i}`;
    await c.ceph.setMonmap({ ...c.ips, b: ip });
    const t0 = performance.now();
    await pin(cp, c.ns, "rook-ceph-mon-b", ip);
    await eventually(async () => {
      const cm = await core.readNamespacedConfigMap({ namespace: c.ns, name: "rook-ceph-mon-endpoints" });
      return (cm.data?.data ?? "").includes(`b=${ip}:`) && (await monHostHas(core, c.ns, ip));
    }, Boolean);
    updateMs.push(performance.now() - t0);
  }
  const rssLeaderMb: number[] = [];
  const rssFollowerMb: number[] = [];
  const [leader, follower] = leaderName === first.name ? [first, second] : [second, first];
  for (let i = 0; i < 5; i++) {
    rssLeaderMb.push(rssMb(leader.proc.pid));
    rssFollowerMb.push(rssMb(follower.proc.pid));
    await sleep(1000);
  }
  const handoverTermMs = await handOver(kc, c, leader, "SIGTERM");
  const next = c.procs.find((p) => p.name !== leader.name && p.proc.exitCode === null);
  c.start("ctl-2");
  await sleep(3000);
  const handoverKillMs = next ? await handOver(kc, c, next, "SIGKILL") : NaN;
  return { updateMs, handoverTermMs, handoverKillMs, rssLeaderMb, rssFollowerMb };
}

async function handOver(
  kc: KubeConfig,
  c: Ctx,
  leader: ControllerProcess,
  signal: NodeJS.Signals,
): Promise<number> {
  const t0 = performance.now();
  leader.kill(signal);
  await eventually(
    () => holder(kc, c.ns),
    (h) => h !== "" && h !== leader.name,
    60_000,
  );
  return performance.now() - t0;
}

export function controllerSection(k: ControllerBench): Section {
  const p50 = median(k.updateMs);
  const p90 = quantile(k.updateMs, 0.9);
  const rss = max(k.rssLeaderMb);
  return {
    title: "Controller mode",
    rows: [
      {
        metric: "(k) pinned IP changed → ConfigMap + Secret updated, p50 / p90",
        measured: `${fmtMs(p50)} / ${fmtMs(p90)}`,
        goal: `≤ ${UPDATE_GOAL_MS} ms`,
        verdict: verdict(p90 <= UPDATE_GOAL_MS),
      },
      {
        metric: "(k) leader hand-over after SIGTERM (release) / after SIGKILL (expiry), 15 s / 10 s / 2 s",
        measured: `${fmtMs(k.handoverTermMs)} / ${fmtMs(k.handoverKillMs)}`,
        goal: "—",
        verdict: "info",
      },
      {
        metric: "(k) steady RSS, bundled: leader / follower (max of 5 samples)",
        measured: `${rss.toFixed(1)} MB / ${max(k.rssFollowerMb).toFixed(1)} MB`,
        goal: `≤ ${RSS_GOAL_MB} MB`,
        verdict: verdict(rss <= RSS_GOAL_MB),
      },
    ],
    details: [
      "Controller: two bundled `ceph-mcs-agent controller` processes with the shipped Role, production lease",
      "timings, a stand-in ceph CLI answering `mon dump`. (k) latency: the test changes mon.b's monmap entry and",
      "pin annotation, then polls ConfigMap `data` and Secret `mon_host` until both carry the new IP (the poll",
      `adds up to a few ms). Samples (ms): ${k.updateMs.map((x) => x.toFixed(0)).join(", ")}.`,
      "Hand-over after SIGKILL is bounded by the lease duration (15 s) plus the candidates' retry period with",
      "jitter; after SIGTERM the leader releases the Lease and the next candidate takes it at its next retry.",
    ],
  };
}
