// Two "Kubernetes clusters" whose pod networks overlap, joined Globalnet-style, in network namespaces.
//
//   const topo = await createTopology({ clusters: [{ name: "a", globalCidr: "242.0.1.0/24" },
//                                                   { name: "b", globalCidr: "242.0.2.0/24" }] });
//   const pod = await topo.addPod("a", "mon-a", "10.244.0.10");   // netns + Calico-style link
//   await topo.mapClusterIp("a", "10.96.12.7", pod.ip);            // "kube-proxy": ClusterIP → pod
//   await topo.mapGlobal("a", "242.0.1.254", pod.ip);              // "Globalnet": ingress DNAT
//   topo.hostAddress                                               // 198.18.k.1: this netns, from every pod
//   await topo.counters("a")                                       // guard counters (see below)
//   await topo.destroy()                                           // or the Cleanup it was given
//
// Per cluster `<RUN_ID>-<c>-gw` is the gateway (node + Globalnet gateway in one); every pod is a netns
// `<RUN_ID>-<c>-<pod>` with its own veth to the gateway: pod IP /32 and a default route via
// 169.254.1.1 held by the gateway (Calico's layout), so every packet — also pod → own cluster's
// global IP (hairpin) — crosses the gateway's conntrack and NAT. nftables table `ip e2e` there:
//   pre   ip daddr <own global slice> dnat via map @ingress; ip daddr <service CIDR> dnat via @clusterip
//   post  to the other cluster (transit link tr0): snat to the cluster's egress IP (<slice>.1, never
//         handed out by the emulator, which allocates from the top); to this netns: masquerade
//   guards (counted named counters):
//         transit_bad   (forward) a packet crossing tr0 that was not addressed to a global IP of the
//                       cluster it goes to: dropped (so no pod or ClusterIP address ever crosses clusters)
//         pod_cidr      (prerouting, before NAT and routing) from a "global-only" pod (rbd-mirror,
//                       clients) to any pod IP — 10.244.0.0/24 is the OTHER cluster's pod CIDR too: dropped
//         not_global    from a global-only pod to anything else outside 242.0.0.0/8: dropped
//         transit_ok / global_only_ok   what passed (proof the guards saw the traffic)
// Both gateways are joined by `tr0` (the Submariner tunnel stand-in) with routes for the other
// slice. The test's own netns (normally the host's) reaches every gateway over a veth `ce<pid><c>`
// whose local address is `hostAddress` on each of them; the gateways masquerade towards it, so the
// control plane and DNS bound to hostAddress serve pods of both clusters despite the overlap.
import { cmd, Cleanup, RUN_ID, deleteNetnsSync } from "./host.ts";
import { spawnSync } from "node:child_process";

export interface ClusterNet {
  /** One letter or word: "a", "b". */
  name: string;
  /** This cluster's Globalnet slice, e.g. 242.0.1.0/24. */
  globalCidr: string;
}

export interface TopologyOptions {
  clusters: [ClusterNet, ClusterNet];
  /** Pod CIDR of every cluster (the same on purpose). Default 10.244.0.0/24. */
  podCidr?: string;
  /** ClusterIP range (the test apiserver's --service-cluster-ip-range). Default 10.96.0.0/16. */
  serviceCidr?: string;
  /** Undo stack to register with; a private one when omitted (then call destroy()). */
  cleanup?: Cleanup;
}

export interface Pod {
  cluster: string;
  name: string;
  ip: string;
  netns: string;
}

export interface Count {
  packets: number;
  bytes: number;
}

export interface GuardCounters {
  transit_ok: Count;
  transit_bad: Count;
  pod_cidr: Count;
  not_global: Count;
  global_only_ok: Count;
}

export interface Topology {
  readonly hostAddress: string;
  readonly podCidr: string;
  readonly clusters: readonly ClusterNet[];
  gatewayNetns(cluster: string): string;
  /** The cluster's egress IP (source of every packet it sends to the other cluster). */
  egressIp(cluster: string): string;
  /** Creates the pod's netns and link. `globalOnly`: guard it (it may dial global IPs only). */
  addPod(cluster: string, name: string, ip: string, opts?: { globalOnly?: boolean }): Promise<Pod>;
  /** Deletes the pod's netns (its processes must be gone) and link; keeps its NAT entries. */
  removePod(cluster: string, name: string): Promise<void>;
  pod(cluster: string, name: string): Pod;
  /** Ingress DNAT global IP → pod IP (replaces an earlier mapping of the same global IP). */
  mapGlobal(cluster: string, globalIp: string, podIp: string): Promise<void>;
  mapClusterIp(cluster: string, clusterIp: string, podIp: string): Promise<void>;
  /** Current global → pod map of a cluster's gateway. */
  globalMap(cluster: string): Promise<Record<string, string>>;
  counters(cluster: string): Promise<GuardCounters>;
  destroy(): Promise<void>;
}

const TRANSIT = ["100.64.255.1", "100.64.255.2"];

function sliceBase(cidr: string): string {
  return cidr.split("/")[0]!.split(".").slice(0, 3).join(".");
}

/** A /24 in 198.18.0.0/15 (RFC 2544 test range) that no interface here uses yet. */
function freeInfraOctet(): number {
  const addrs = spawnSync("ip", ["-o", "-4", "addr"], { encoding: "utf8" }).stdout;
  const used = new Set([...addrs.matchAll(/198\.18\.(\d+)\./g)].map((m) => Number(m[1])));
  const start = (process.pid % 200) + 20;
  for (let i = 0; i < 250; i++) {
    const k = ((start + i) % 250) + 1;
    if (!used.has(k)) return k;
  }
  throw new Error("no free 198.18.k.0/24 for the e2e host link");
}

function ipIn(netns: string, ...args: string[]): Promise<unknown> {
  return cmd(["ip", "-n", netns, ...args]);
}

function nftIn(netns: string, script: string): Promise<unknown> {
  return cmd(["ip", "netns", "exec", netns, "nft", "-f", "-"], { input: script });
}

function gatewayRules(c: ClusterNet, podCidr: string, serviceCidr: string): string {
  const egress = `${sliceBase(c.globalCidr)}.1`;
  return `
table ip e2e {
  map ingress { type ipv4_addr : ipv4_addr; }
  map clusterip { type ipv4_addr : ipv4_addr; }
  set global_only { type ifname; }
  counter transit_ok {}
  counter transit_bad {}
  counter pod_cidr {}
  counter not_global {}
  counter global_only_ok {}
  chain pre {
    type nat hook prerouting priority dstnat; policy accept;
    ip daddr ${c.globalCidr} dnat to ip daddr map @ingress
    ip daddr ${serviceCidr} dnat to ip daddr map @clusterip
  }
  chain post {
    type nat hook postrouting priority srcnat; policy accept;
    oifname "tr0" ct direction original snat to ${egress}
    oifname "host0" masquerade
  }
  chain podguard {
    # Before DNAT and before routing: a dial counts even where no route exists for it.
    type filter hook prerouting priority -150; policy accept;
    iifname @global_only ct direction original ip daddr ${podCidr} counter name pod_cidr drop
    iifname @global_only ct direction original ip daddr != 242.0.0.0/8 counter name not_global drop
    iifname @global_only counter name global_only_ok
  }
  chain guard {
    type filter hook forward priority filter; policy accept;
    oifname "tr0" ct direction original ct original ip daddr != 242.0.0.0/8 counter name transit_bad drop
    oifname "tr0" ct direction original ct original ip daddr ${c.globalCidr} counter name transit_bad drop
    iifname "tr0" ct direction original ct original ip daddr != ${c.globalCidr} counter name transit_bad drop
    iifname "tr0" counter name transit_ok
    oifname "tr0" counter name transit_ok
  }
}
`;
}

interface State {
  opts: Required<Omit<TopologyOptions, "cleanup">>;
  cleanup: Cleanup;
  octet: number;
  pods: Map<string, Pod>;
  netns: string[];
}

const gw = (c: string): string => `${RUN_ID}-${c}-gw`;

async function addNetns(s: State, ns: string): Promise<void> {
  await cmd(["ip", "netns", "add", ns]);
  s.netns.push(ns);
  s.cleanup.add(
    `netns ${ns}`,
    async () => {
      deleteNetnsSync(ns);
      await Promise.resolve();
    },
    () => deleteNetnsSync(ns),
  );
  await ipIn(ns, "link", "set", "lo", "up");
}

async function createGateway(s: State, index: number): Promise<void> {
  const c = s.opts.clusters[index]!;
  const ns = gw(c.name);
  await addNetns(s, ns);
  await cmd([
    "ip",
    "netns",
    "exec",
    ns,
    "sysctl",
    "-qw",
    "net.ipv4.ip_forward=1",
    "net.ipv4.conf.all.rp_filter=0",
    "net.ipv4.conf.default.rp_filter=0",
  ]);
  // Host link: the test's netns holds hostAddress on every such veth (a /32 with a peer).
  const host = `198.18.${s.octet}.1`;
  const mine = `198.18.${s.octet}.${index + 2}`;
  const hostIf = `ce${process.pid}${c.name}`.slice(0, 15);
  await cmd(["ip", "link", "add", hostIf, "type", "veth", "peer", "name", "host0", "netns", ns]);
  await cmd(["ip", "addr", "add", host, "peer", `${mine}/32`, "dev", hostIf]);
  await cmd(["ip", "link", "set", hostIf, "up"]);
  await ipIn(ns, "addr", "add", mine, "peer", `${host}/32`, "dev", "host0");
  await ipIn(ns, "link", "set", "host0", "up");
  await nftIn(ns, gatewayRules(c, s.opts.podCidr, s.opts.serviceCidr));
}

async function createTransit(s: State): Promise<void> {
  const [a, b] = s.opts.clusters;
  await cmd([
    "ip",
    "link",
    "add",
    "tr0",
    "netns",
    gw(a.name),
    "type",
    "veth",
    "peer",
    "name",
    "tr0",
    "netns",
    gw(b.name),
  ]);
  for (const [i, c] of [a, b].entries()) {
    const other = i === 0 ? b : a;
    await ipIn(gw(c.name), "addr", "add", `${TRANSIT[i]!}/30`, "dev", "tr0");
    await ipIn(gw(c.name), "link", "set", "tr0", "up");
    await ipIn(gw(c.name), "route", "add", other.globalCidr, "via", TRANSIT[1 - i]!);
  }
}

async function addPodLink(s: State, pod: Pod, globalOnly: boolean): Promise<void> {
  const g = gw(pod.cluster);
  const vif = `p-${pod.name}`.slice(0, 15);
  await cmd([
    "ip",
    "link",
    "add",
    vif,
    "netns",
    g,
    "type",
    "veth",
    "peer",
    "name",
    "eth0",
    "netns",
    pod.netns,
  ]);
  await ipIn(pod.netns, "addr", "add", `${pod.ip}/32`, "dev", "eth0");
  await ipIn(pod.netns, "link", "set", "eth0", "up");
  await ipIn(pod.netns, "route", "add", "169.254.1.1", "dev", "eth0", "scope", "link");
  await ipIn(pod.netns, "route", "add", "default", "via", "169.254.1.1", "dev", "eth0");
  await ipIn(g, "addr", "add", "169.254.1.1/32", "dev", vif);
  await ipIn(g, "link", "set", vif, "up");
  await ipIn(g, "route", "add", `${pod.ip}/32`, "dev", vif);
  if (globalOnly) await nftIn(g, `add element ip e2e global_only { "${vif}" }\n`);
}

function parseCounters(json: string): GuardCounters {
  const out: Record<string, Count> = {};
  const doc = JSON.parse(json) as { nftables: { counter?: Count & { name: string } }[] };
  for (const { counter: c } of doc.nftables) if (c) out[c.name] = { packets: c.packets, bytes: c.bytes };
  return out as unknown as GuardCounters;
}

async function readMap(netns: string, map: string): Promise<Record<string, string>> {
  const { stdout } = await cmd(["ip", "netns", "exec", netns, "nft", "-j", "list", "map", "ip", "e2e", map]);
  const doc = JSON.parse(stdout) as { nftables: { map?: { elem?: [string, string][] } }[] };
  const elems = doc.nftables.find((x) => x.map)?.map?.elem ?? [];
  return Object.fromEntries(elems);
}

async function setMapping(netns: string, map: string, key: string, value: string): Promise<void> {
  const current = await readMap(netns, map);
  const del = current[key] === undefined ? "" : `delete element ip e2e ${map} { ${key} }\n`;
  await nftIn(netns, `${del}add element ip e2e ${map} { ${key} : ${value} }\n`);
}

function api(s: State): Topology {
  const clusterOf = (name: string): ClusterNet => {
    const c = s.opts.clusters.find((x) => x.name === name);
    if (!c) throw new Error(`no cluster "${name}" in this topology`);
    return c;
  };
  return {
    hostAddress: `198.18.${s.octet}.1`,
    podCidr: s.opts.podCidr,
    clusters: s.opts.clusters,
    gatewayNetns: (c) => gw(clusterOf(c).name),
    egressIp: (c) => `${sliceBase(clusterOf(c).globalCidr)}.1`,
    async addPod(cluster, name, ip, opts = {}) {
      clusterOf(cluster);
      const pod: Pod = { cluster, name, ip, netns: `${RUN_ID}-${cluster}-${name}` };
      await addNetns(s, pod.netns);
      await addPodLink(s, pod, opts.globalOnly ?? false);
      s.pods.set(`${cluster}/${name}`, pod);
      return pod;
    },
    async removePod(cluster, name) {
      const pod = this.pod(cluster, name);
      deleteNetnsSync(pod.netns);
      s.pods.delete(`${cluster}/${name}`);
      await Promise.resolve();
    },
    pod(cluster, name) {
      const p = s.pods.get(`${cluster}/${name}`);
      if (!p) throw new Error(`no pod ${name} in cluster ${cluster}`);
      return p;
    },
    mapGlobal: (c, globalIp, podIp) => setMapping(gw(clusterOf(c).name), "ingress", globalIp, podIp),
    mapClusterIp: (c, clusterIp, podIp) => setMapping(gw(clusterOf(c).name), "clusterip", clusterIp, podIp),
    globalMap: (c) => readMap(gw(clusterOf(c).name), "ingress"),
    async counters(c) {
      const { stdout } = await cmd([
        "ip",
        "netns",
        "exec",
        gw(clusterOf(c).name),
        "nft",
        "-j",
        "list",
        "counters",
      ]);
      return parseCounters(stdout);
    },
    destroy: () => s.cleanup.run(),
  };
}

export async function createTopology(options: TopologyOptions): Promise<Topology> {
  const s: State = {
    opts: {
      clusters: options.clusters,
      podCidr: options.podCidr ?? "10.244.0.0/24",
      serviceCidr: options.serviceCidr ?? "10.96.0.0/16",
    },
    cleanup: options.cleanup ?? new Cleanup(),
    octet: freeInfraOctet(),
    pods: new Map(),
    netns: [],
  };
  try {
    for (const i of [0, 1]) await createGateway(s, i);
    await createTransit(s);
  } catch (err) {
    if (!options.cleanup) await s.cleanup.run().catch(() => undefined);
    throw err;
  }
  return api(s);
}
