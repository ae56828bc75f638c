// One Ceph cluster of the e2e brought up the way Rook + ceph-mcs-agent would: for every mon and OSD
// pod, `ceph-mcs-agent init` in the pod's netns first (real API, DNS, emulated Globalnet), then the
// daemon through the wrapper from the pod's shared folder.
//
//   const a = await Site.create(w, { name: "a", mons: ["a", "b", "c"], osds: 1 });
//   await a.startMons();            // agents in parallel, monmap with the global IPs, mkfs + start, quorum
//   await a.startOsds();            // ceph osd new → agent init osd.N → mkfs → start → up
//   await a.startMgr();             // global IP from a Service export (no agent for mgrs), workaround
//   await a.startRbdMirror();
//   await a.restartOsd("0");        // as a re-created pod: new pod IP, fresh shared folder, agent again
//   a.globals["mon.a"], a.pods.cli, a.ceph (CephCluster), a.daemons["osd.0"]
//
// Pod addresses (the same in every cluster, on purpose): mon-<id> 10.244.0.10+i, osd-<n> .20+n,
// mgr .25, cli .30 and rbdm .40 (both "global-only": the gateway drops and counts anything they send
// to a non-global address).
import assert from "node:assert/strict";
import { CephCluster, waitFor, type OsdRef } from "./ceph.ts";
import { assertInitOk } from "./mcs.ts";
import type { Daemon } from "./pods.ts";
import type { Pod } from "./topology.ts";
import type { World } from "./world.ts";

export interface SiteOptions {
  name: "a" | "b";
  mons: readonly string[];
  osds?: number;
  msgr2Only?: boolean;
}

interface OsdDump {
  osds: {
    osd: number;
    up: number;
    public_addrs: { addrvec: { addr: string }[] };
    cluster_addrs: { addrvec: { addr: string }[] };
  }[];
}

const hostOf = (addr: string): string => addr.replace(/:\d+$/, "");

export class Site {
  readonly w: World;
  readonly name: "a" | "b";
  readonly ceph: CephCluster;
  readonly mons: readonly string[];
  readonly osdCount: number;
  /** "mon-a", "osd-0", "mgr", "cli", "rbdm" → pod (current generation). */
  readonly pods: Record<string, Pod> = {};
  /** "mon.a", "osd.0", "mgr" → global IP. */
  readonly globals: Record<string, string> = {};
  readonly daemons: Record<string, Daemon> = {};
  /** pod name → its current shared folder (host path). */
  readonly dirs: Record<string, string> = {};
  readonly osds: Record<string, OsdRef> = {};
  private generation = 0;

  private constructor(w: World, opts: SiteOptions, ceph: CephCluster) {
    this.w = w;
    this.name = opts.name;
    this.mons = opts.mons;
    this.osdCount = opts.osds ?? 1;
    this.ceph = ceph;
  }

  static async create(w: World, opts: SiteOptions): Promise<Site> {
    const site = new Site(
      w,
      opts,
      await CephCluster.create(w.rt, opts.name, { msgr2Only: opts.msgr2Only ?? false }),
    );
    for (const [i, id] of opts.mons.entries())
      site.pods[`mon-${id}`] = await w.addPod(opts.name, `mon-${id}`, 10 + i);
    for (let n = 0; n < site.osdCount; n++)
      site.pods[`osd-${n}`] = await w.addPod(opts.name, `osd-${n}`, 20 + n);
    site.pods.mgr = await w.addPod(opts.name, "mgr", 25);
    site.pods.cli = await w.addPod(opts.name, "cli", 30, { globalOnly: true });
    site.pods.rbdm = await w.addPod(opts.name, "rbdm", 40, { globalOnly: true });
    return site;
  }

  get cli(): Pod {
    return this.pods.cli!;
  }

  mark(what: string): void {
    this.w.timeline.mark(`${this.name}: ${what}`);
  }

  /** `ceph-mcs-agent init` for a daemon in its pod, with a fresh shared folder; returns the global IP. */
  async init(podName: string, type: "mon" | "osd", id: string): Promise<string> {
    const pod = this.pods[podName]!;
    const dir = await this.w.sharedDir(pod, this.generation++);
    this.dirs[podName] = dir;
    const run = await this.w.mcs.runInit(pod, { type, id }, dir);
    return assertInitOk(run, `${type}.${id} in cluster ${this.name}`);
  }

  monHost(): string {
    return this.ceph.monHost(this.mons.map((id) => this.globals[`mon.${id}`]!));
  }

  async startMons(): Promise<void> {
    const ips = await Promise.all(this.mons.map((id) => this.init(`mon-${id}`, "mon", id)));
    this.mons.forEach((id, i) => (this.globals[`mon.${id}`] = ips[i]!));
    await this.ceph.writeConf(this.monHost());
    await this.ceph.createMonmap(this.mons.map((id) => ({ id, ip: this.globals[`mon.${id}`]! })));
    for (const id of this.mons) {
      const pod = this.pods[`mon-${id}`]!;
      const clusterIp = await this.w.mcs.serviceClusterIp(this.name, `rook-ceph-mon-${id}`);
      await this.ceph.mkfsMon(pod, id, this.dirs[`mon-${id}`]!, clusterIp);
      this.daemons[`mon.${id}`] = this.ceph.startMon(pod, id, this.dirs[`mon-${id}`]!, clusterIp);
    }
    const q = await this.ceph.waitQuorum(this.cli, this.mons);
    const advertised = q.monmap.mons.flatMap((m) => m.public_addrs.addrvec.map((a) => hostOf(a.addr)));
    assert.deepEqual(
      new Set(advertised),
      new Set(ips),
      `cluster ${this.name}'s mons advertise their global IPs`,
    );
    this.mark(`quorum ${q.quorum_names.join(",")} on ${this.monHost()}`);
  }

  async osdDump(): Promise<OsdDump> {
    return this.ceph.ceph<OsdDump>(this.cli, ["osd", "dump"]);
  }

  /** Waits until osd.<id> is up with public address `global` and cluster address `podIp`. */
  async waitOsdUp(id: string, global: string, podIp: string): Promise<void> {
    await waitFor(
      `osd.${id} up at ${global} (cluster ${podIp}) in cluster ${this.name}`,
      async () => {
        const o = (await this.osdDump()).osds.find((x) => String(x.osd) === id);
        const pub = o?.public_addrs.addrvec.map((a) => hostOf(a.addr)) ?? [];
        const clu = o?.cluster_addrs.addrvec.map((a) => hostOf(a.addr)) ?? [];
        return o?.up === 1 && pub.every((a) => a === global) && clu.every((a) => a === podIp)
          ? true
          : undefined;
      },
      120_000,
    );
  }

  async startOsds(): Promise<void> {
    for (let n = 0; n < this.osdCount; n++) {
      const osd = await this.ceph.newOsd(this.cli);
      this.osds[osd.id] = osd;
      const podName = `osd-${n}`;
      this.globals[`osd.${osd.id}`] = await this.init(podName, "osd", osd.id);
      await this.ceph.mkfsOsd(this.pods[podName]!, osd, this.dirs[podName]!);
      this.daemons[`osd.${osd.id}`] = this.ceph.startOsd(this.pods[podName]!, osd.id, this.dirs[podName]!);
    }
    for (const id of Object.keys(this.osds)) {
      const pod = this.podOfOsd(id);
      await this.waitOsdUp(id, this.globals[`osd.${id}`]!, pod.ip);
      this.mark(`osd.${id} up: public ${this.globals[`osd.${id}`]!}, cluster ${pod.ip} (memstore)`);
    }
  }

  private podOfOsd(id: string): Pod {
    const name = Object.keys(this.pods).find((p) => p.startsWith(`osd-${id}`))!;
    return this.pods[name]!;
  }

  async startMgr(): Promise<void> {
    const pod = this.pods.mgr!;
    const ip = await this.w.mcs.exportService(this.name, "rook-ceph-mgr", pod.ip, [6800, 9283]);
    this.globals.mgr = ip;
    this.daemons.mgr = await this.ceph.startMgr(this.cli, pod, ip);
    await waitFor(
      `mgr of cluster ${this.name} available`,
      async () =>
        (await this.ceph.ceph<{ available: boolean }>(this.cli, ["mgr", "stat"])).available
          ? true
          : undefined,
      120_000,
    );
    this.mark(
      `mgr.x active at ${ip} (global IP on the pod's lo + pod-local DNAT: ceph-mgr ignores --public-bind-addr)`,
    );
  }

  async startRbdMirror(): Promise<void> {
    this.daemons["rbd-mirror"] = await this.ceph.startRbdMirror(this.cli, this.pods.rbdm!);
    this.mark(`rbd-mirror started in pod ${this.pods.rbdm!.ip} (global-only guard)`);
  }

  async restartRbdMirror(): Promise<void> {
    await this.daemons["rbd-mirror"]?.stop();
    this.mark("rbd-mirror stopped");
    await this.startRbdMirror();
  }

  /**
   * The OSD's pod re-created, as after a node drain: the daemon stops (memstore writes its data out),
   * a new pod with a new pod IP and a fresh shared folder runs the agent again — the pin must give
   * the same global IP — and the OSD starts on its old data. Returns the new pod.
   */
  async restartOsd(id: string, newOctet: number): Promise<Pod> {
    const old = this.podOfOsd(id);
    await this.daemons[`osd.${id}`]?.stop(120_000);
    await this.w.topology.removePod(this.name, old.name);
    Reflect.deleteProperty(this.pods, old.name);
    this.mark(`osd.${id} stopped, pod ${old.ip} deleted`);
    const podName = `osd-${id}-r${this.generation}`;
    const pod = await this.w.addPod(this.name, podName, newOctet);
    this.pods[podName] = pod;
    const ip = await this.init(podName, "osd", id);
    assert.equal(ip, this.globals[`osd.${id}`], `osd.${id} keeps its pinned global IP`);
    this.daemons[`osd.${id}`] = this.ceph.startOsd(pod, id, this.dirs[podName]!);
    await this.waitOsdUp(id, ip, pod.ip);
    this.mark(`osd.${id} back in new pod ${pod.ip} with the same global IP ${ip}`);
    return pod;
  }
}
