// The whole e2e stage in one call, for test files: the Ceph root, the two-cluster topology, the MCS
// control plane (apiserver, dnsmasq, one emulator per cluster) and the pod runtime, all registered
// with one Cleanup.
//
//   const w = await startWorld({ clusters: { a: { requireMsgr2: false }, b: { requireMsgr2: true } } });
//   const pod = await w.addPod("a", "mon-a", 10);          // 10.244.0.10 in cluster a
//   const dir = await w.sharedDir(pod);                    // the pod's emptyDir (/run/ceph-mcs inside)
//   …; await w.stop();                                     // also runs on SIGINT/SIGTERM/exit
//
// Cluster "a" gets 242.0.1.0/24 and clusterID cluster-a, "b" 242.0.2.0/24 and cluster-b.
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { cephRoot, Cleanup, sweepStaleRuns, Timeline } from "./host.ts";
import { startMcs, type Mcs } from "./mcs.ts";
import { createRuntime, type Runtime } from "./pods.ts";
import { createTopology, type Pod, type Topology } from "./topology.ts";

export interface WorldOptions {
  clusters?: Partial<Record<"a" | "b", { requireMsgr2?: boolean }>>;
  timeline?: Timeline;
}

export interface World {
  readonly cleanup: Cleanup;
  readonly timeline: Timeline;
  readonly topology: Topology;
  readonly mcs: Mcs;
  readonly rt: Runtime;
  /** Pod `name` at 10.244.0.<octet> in `cluster`; `globalOnly` guards it (see topology.ts). */
  addPod(cluster: string, name: string, octet: number, opts?: { globalOnly?: boolean }): Promise<Pod>;
  /** A fresh shared folder for the pod (a new pod's emptyDir); host path. */
  sharedDir(pod: Pod, generation?: number): Promise<string>;
  stop(): Promise<void>;
}

export async function startWorld(opts: WorldOptions = {}): Promise<World> {
  const timeline = opts.timeline ?? new Timeline();
  const cleanup = new Cleanup();
  try {
    const stale = sweepStaleRuns();
    if (stale.length > 0) timeline.mark(`removed ${stale.length} netns left by dead e2e runs`);
    const root = cephRoot();
    timeline.mark(`Ceph root folder ready: ${root}`);
    const topology = await createTopology({
      clusters: [
        { name: "a", globalCidr: "242.0.1.0/24" },
        { name: "b", globalCidr: "242.0.2.0/24" },
      ],
      cleanup,
    });
    timeline.mark(
      `topology: gateways a, b (pod CIDR ${topology.podCidr} in both), host link ${topology.hostAddress}`,
    );
    const mcs = await startMcs({
      topology,
      cleanup,
      timeline,
      clusters: (["a", "b"] as const).map((name) => ({
        name,
        clusterId: `cluster-${name}`,
        requireMsgr2: opts.clusters?.[name]?.requireMsgr2 ?? false,
      })),
    });
    timeline.mark(
      `control plane on ${mcs.cp.server}, dnsmasq on ${mcs.dns.server}, emulators for cluster-a/cluster-b`,
    );
    const rt = await createRuntime({ root, cleanup });
    return {
      cleanup,
      timeline,
      topology,
      mcs,
      rt,
      addPod: (cluster, name, octet, o) => topology.addPod(cluster, name, `10.244.0.${octet}`, o),
      async sharedDir(pod, generation = 0) {
        const dir = join(rt.runDir, "pods", `${pod.cluster}-${pod.name}-${generation}`);
        await mkdir(dir, { recursive: true });
        return dir;
      },
      stop: () => cleanup.run(),
    };
  } catch (err) {
    await cleanup.run().catch(() => undefined);
    throw err;
  }
}
