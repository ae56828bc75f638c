// One Ceph 18 cluster of the e2e, laid out under /e2e/<name>/ inside the root folder (the run's
// temp folder on the host). Daemons start the way Rook's containers do, through the project's
// wrapper from the pod's shared folder: `/run/ceph-mcs/ceph-mcs-exec ceph-mon <Rook's args>`.
//
//   const a = await CephCluster.create(rt, "a", { msgr2Only: false });   // fsid, mon./admin keyrings
//   a.writeConf(a.monHost(["242.0.1.254", …]));                          // Rook's mon_host format
//   await a.createMonmap([{ id: "a", ip: "242.0.1.254" }, …]);          // monmaptool, the mons' identities
//   await a.mkfsMon(pod, "a", sharedDir, "10.96.3.4");                    // via the wrapper (init-mon-fs)
//   const mon = a.startMon(pod, "a", sharedDir, "10.96.3.4");            // via the wrapper (mon container)
//   await a.ceph(clientPod, ["quorum_status"])                            // CLI in a pod, JSON parsed
//   a.cephPrefix(clientPod)                                               // argv prefix for other processes
//   await a.waitQuorum(clientPod, ["a", "b", "c"])
//   const osd = await a.newOsd(adminPod); await a.mkfsOsd(pod, osd, dir); a.startOsd(pod, osd.id, dir)
//   await a.startMgr(adminPod, pod, globalIp) / a.startRbdMirror(adminPod, pod)
//
// `clusterIp` arguments are what Rook would pass as --public-addr (the mon Service's ClusterIP): the
// wrapper must replace them, which is part of what the e2e proves.
import { randomUUID } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { cmd } from "./host.ts";
import type { Daemon, Runtime } from "./pods.ts";
import type { Pod } from "./topology.ts";

const WRAPPER_IN_POD = "/run/ceph-mcs/ceph-mcs-exec";

export interface CephClusterOptions {
  /** Mons on msgr2 (3300) only, as Rook's requireMsgr2. */
  msgr2Only?: boolean;
}

export interface OsdRef {
  id: string;
  uuid: string;
}

export interface MonAddr {
  id: string;
  ip: string;
}

export interface QuorumStatus {
  quorum_names: string[];
  quorum_leader_name: string;
  election_epoch: number;
  monmap: {
    epoch: number;
    fsid: string;
    mons: { name: string; rank: number; public_addrs: { addrvec: { type: string; addr: string }[] } }[];
  };
}

export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs: number,
  intervalMs = 1000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last = "";
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      last = (err as Error).message.split("\n").slice(0, 3).join(" | ");
    }
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${last}` : ""}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

export class CephCluster {
  readonly rt: Runtime;
  readonly name: string;
  readonly fsid: string;
  readonly msgr2Only: boolean;
  /** Paths inside the root (under /e2e). */
  readonly dir: string;
  readonly conf: string;

  private constructor(rt: Runtime, name: string, opts: CephClusterOptions) {
    this.rt = rt;
    this.name = name;
    this.fsid = randomUUID();
    this.msgr2Only = opts.msgr2Only ?? false;
    this.dir = `/e2e/${name}`;
    this.conf = `${this.dir}/ceph.conf`;
  }

  static async create(rt: Runtime, name: string, opts: CephClusterOptions = {}): Promise<CephCluster> {
    const c = new CephCluster(rt, name, opts);
    for (const sub of ["run", "log", "mon", "osd", "mgr"])
      await mkdir(c.host(`${c.dir}/${sub}`), { recursive: true });
    const d = c.dir;
    await rt.tool([
      "ceph-authtool",
      "--create-keyring",
      `${d}/mon.keyring`,
      "--gen-key",
      "-n",
      "mon.",
      "--cap",
      "mon",
      "allow *",
    ]);
    await rt.tool([
      "ceph-authtool",
      "--create-keyring",
      `${d}/ceph.client.admin.keyring`,
      "--gen-key",
      "-n",
      "client.admin",
      ...[
        "--cap",
        "mon",
        "allow *",
        "--cap",
        "osd",
        "allow *",
        "--cap",
        "mds",
        "allow *",
        "--cap",
        "mgr",
        "allow *",
      ],
    ]);
    await rt.tool([
      "ceph-authtool",
      `${d}/mon.keyring`,
      "--import-keyring",
      `${d}/ceph.client.admin.keyring`,
    ]);
    return c;
  }

  /** Host path of a path inside the root's /e2e. */
  host(inside: string): string {
    if (!inside.startsWith("/e2e")) throw new Error(`${inside} is not under /e2e`);
    return join(this.rt.runDir, inside.slice("/e2e".length));
  }

  /** One mon's entry in Rook's mon_host format: `[v2:ip:3300,v1:ip:6789]` (msgr2-only `[v2:ip:3300]`). */
  addrvec(ip: string): string {
    const h = ip.includes(":") ? `[${ip}]` : ip;
    return this.msgr2Only ? `[v2:${h}:3300]` : `[v2:${h}:3300,v1:${h}:6789]`;
  }

  monHost(ips: readonly string[]): string {
    return ips.map((ip) => this.addrvec(ip)).join(",");
  }

  /** (Re)writes ceph.conf with `monHost` (Rook's Secret `rook-ceph-config` key `mon_host` format). */
  async writeConf(monHost: string, path = this.conf): Promise<string> {
    const d = this.dir;
    const lines = [
      "[global]",
      `fsid = ${this.fsid}`,
      `mon_host = ${monHost}`,
      "auth_cluster_required = cephx",
      "auth_service_required = cephx",
      "auth_client_required = cephx",
      "auth_allow_insecure_global_id_reclaim = false",
      "mon_warn_on_insecure_global_id_reclaim_allowed = false",
      `run_dir = ${d}/run`,
      `admin_socket = ${d}/run/$cluster-$name.asok`,
      `log_file = ${d}/log/$cluster-$name.log`,
      `mon_data = ${d}/mon/$cluster-$id`,
      `osd_data = ${d}/osd/$cluster-$id`,
      `mgr_data = ${d}/mgr/$cluster-$id`,
      "ms_bind_ipv6 = false",
      ...(this.msgr2Only ? ["ms_bind_msgr1 = false"] : []),
      "osd_objectstore = memstore",
      "memstore_device_bytes = 1073741824",
      // memstore stands in for a disk: it writes its data out only on a full umount, which the
      // default fast shutdown skips (a restarted OSD would come back empty).
      "osd_fast_shutdown = false",
      "osd_pool_default_size = 1",
      "osd_pool_default_min_size = 1",
      "mon_allow_pool_size_one = true",
      "mon_warn_on_pool_no_redundancy = false",
      "osd_crush_chooseleaf_type = 0",
      "osd_pool_default_pg_autoscale_mode = off",
      "osd_pool_default_pg_num = 8",
      "mon_allow_pool_delete = true",
      "mon_data_avail_warn = 1",
      "[client]",
      `keyring = ${d}/ceph.$name.keyring`,
      "",
    ];
    await writeFile(this.host(path), lines.join("\n"));
    return path;
  }

  /** The initial monmap, every mon with the address it must advertise. */
  async createMonmap(mons: readonly MonAddr[]): Promise<void> {
    const adds = mons.flatMap((m) => ["--addv", m.id, this.addrvec(m.ip)]);
    await this.rt.tool([
      "monmaptool",
      "--create",
      "--clobber",
      "--fsid",
      this.fsid,
      ...adds,
      "--set-min-mon-release",
      "reef",
      "--enable-all-features",
      `${this.dir}/monmap`,
    ]);
  }

  private podEnv(pod: Pod): Record<string, string> {
    return { POD_IP: pod.ip };
  }

  /** Rook's init-mon-fs container, wrapped: `ceph-mon --mkfs` with the monmap and keyring. */
  async mkfsMon(pod: Pod, id: string, sharedDir: string, clusterIp: string): Promise<string> {
    const argv = [
      WRAPPER_IN_POD,
      "ceph-mon",
      "-c",
      this.conf,
      "--mkfs",
      "-i",
      id,
      "--monmap",
      `${this.dir}/monmap`,
      "--keyring",
      `${this.dir}/mon.keyring`,
      `--public-addr=${clusterIp}`,
    ];
    const r = await this.rt.exec(pod, argv, {
      env: this.podEnv(pod),
      volumes: { "/run/ceph-mcs": sharedDir },
    });
    return wrapperLine(r.stderr);
  }

  /** Rook's mon container, wrapped: the wrapper swaps Rook's --public-addr/--public-bind-addr. */
  startMon(pod: Pod, id: string, sharedDir: string, clusterIp: string): Daemon {
    const argv = [
      WRAPPER_IN_POD,
      "ceph-mon",
      "-c",
      this.conf,
      "--foreground",
      `--id=${id}`,
      `--public-addr=${clusterIp}`,
      `--public-bind-addr=${pod.ip}`,
    ];
    return this.rt.start(pod, `mon.${id}`, argv, {
      env: this.podEnv(pod),
      volumes: { "/run/ceph-mcs": sharedDir },
    });
  }

  /** argv prefix running `ceph -c <conf>` in `pod` (append the subcommand). */
  cephPrefix(pod: Pod, conf = this.conf): string[] {
    return this.rt.podArgv(pod, ["ceph", "-c", conf, "--connect-timeout", "15"]);
  }

  /** `ceph … -f json` in `pod`, parsed. */
  async ceph<T = unknown>(
    pod: Pod,
    args: readonly string[],
    conf = this.conf,
    timeoutMs = 60_000,
  ): Promise<T> {
    const r = await cmd([...this.cephPrefix(pod, conf), ...args, "-f", "json"], { timeoutMs });
    return (r.stdout.trim() === "" ? undefined : JSON.parse(r.stdout)) as T;
  }

  /** Plain-text run of any Ceph tool in `pod` (rbd, rados, …) with this cluster's conf. */
  async tool(pod: Pod, argv: readonly string[], timeoutMs = 120_000): Promise<string> {
    const [bin, ...rest] = argv;
    const r = await cmd(
      this.rt.podArgv(pod, [bin!, "-c", this.conf, ...rest], { env: { CEPH_CONF: this.conf } }),
      { timeoutMs },
    );
    return r.stdout;
  }

  async waitQuorum(
    pod: Pod,
    ids: readonly string[],
    timeoutMs = 90_000,
    conf = this.conf,
  ): Promise<QuorumStatus> {
    return waitFor(
      `quorum of ${ids.join(",")} in cluster ${this.name}`,
      async () => {
        const q = await this.ceph<QuorumStatus>(pod, ["quorum_status"], conf, 20_000);
        return ids.every((id) => q.quorum_names.includes(id)) ? q : undefined;
      },
      timeoutMs,
    );
  }

  // ---------------------------------------------------------------------------------------------
  // OSD (memstore), mgr, rbd-mirror

  /** What Rook's OSD prepare job does first: `ceph osd new` (the OSD's id) and its keyring. */
  async newOsd(admin: Pod): Promise<OsdRef> {
    const uuid = randomUUID();
    const key = (await this.rt.tool(["ceph-authtool", "--gen-print-key"])).stdout.trim();
    await writeFile(this.host(`${this.dir}/osd-${uuid}.json`), JSON.stringify({ cephx_secret: key }));
    const out = await cmd([
      ...this.cephPrefix(admin),
      "osd",
      "new",
      uuid,
      "-i",
      `${this.dir}/osd-${uuid}.json`,
    ]);
    const id = out.stdout.trim();
    const data = `${this.dir}/osd/ceph-${id}`;
    await mkdir(this.host(data), { recursive: true });
    await this.rt.tool([
      "ceph-authtool",
      "--create-keyring",
      `${data}/keyring`,
      "--name",
      `osd.${id}`,
      "--add-key",
      key,
    ]);
    return { id, uuid };
  }

  /** The OSD's memstore, made in its pod through the wrapper. */
  async mkfsOsd(pod: Pod, osd: OsdRef, sharedDir: string): Promise<string> {
    const mkfs = [
      WRAPPER_IN_POD,
      "ceph-osd",
      "-c",
      this.conf,
      "-i",
      osd.id,
      "--mkfs",
      "--osd-uuid",
      osd.uuid,
    ];
    const r = await this.rt.exec(pod, mkfs, {
      env: this.podEnv(pod),
      volumes: { "/run/ceph-mcs": sharedDir },
    });
    return wrapperLine(r.stderr);
  }

  /** Rook's osd container, wrapped (the wrapper adds --public-addr/--public-bind-addr/--cluster-addr). */
  startOsd(pod: Pod, id: string, sharedDir: string): Daemon {
    const argv = [WRAPPER_IN_POD, "ceph-osd", "-c", this.conf, "--foreground", `--id=${id}`];
    return this.rt.start(pod, `osd.${id}`, argv, {
      env: this.podEnv(pod),
      volumes: { "/run/ceph-mcs": sharedDir },
    });
  }

  /**
   * ceph-mgr ignores --public-bind-addr (it binds what it advertises), so it cannot advertise a
   * global IP it does not hold. Workaround (needs NET_ADMIN in a real pod): the global IP on the pod's
   * lo, and a pod-local DNAT from the pod IP (where the gateway delivers) to it.
   */
  async startMgr(admin: Pod, pod: Pod, globalIp: string, id = "x"): Promise<Daemon> {
    const data = `${this.dir}/mgr/ceph-${id}`;
    await mkdir(this.host(data), { recursive: true });
    await cmd([
      ...this.cephPrefix(admin),
      "auth",
      "get-or-create",
      `mgr.${id}`,
      "mon",
      "allow profile mgr",
      "osd",
      "allow *",
      "mds",
      "allow *",
      "-o",
      `${data}/keyring`,
    ]);
    await cmd(["ip", "-n", pod.netns, "addr", "add", `${globalIp}/32`, "dev", "lo"]);
    const nat = [
      "table ip podnat {",
      "  chain pre {",
      "    type nat hook prerouting priority dstnat; policy accept;",
      `    ip daddr ${pod.ip} dnat to ${globalIp}`,
      "  }",
      "}",
      "",
    ].join("\n");
    await cmd(["ip", "netns", "exec", pod.netns, "nft", "-f", "-"], { input: nat });
    return this.rt.start(pod, `mgr.${id}`, [
      "ceph-mgr",
      "-c",
      this.conf,
      "-f",
      "-i",
      id,
      `--public-addr=${globalIp}`,
    ]);
  }

  /** rbd-mirror with its own cephx user. CEPH_CONF: its per-pool connections ignore -c. */
  async startRbdMirror(admin: Pod, pod: Pod, user = `rbd-mirror.${this.name}`): Promise<Daemon> {
    const keyring = `${this.dir}/ceph.client.${user}.keyring`;
    await cmd([
      ...this.cephPrefix(admin),
      "auth",
      "get-or-create",
      `client.${user}`,
      "mon",
      "profile rbd-mirror",
      "osd",
      "profile rbd",
      "-o",
      keyring,
    ]);
    return this.rt.start(pod, `rbd-mirror`, ["rbd-mirror", "-c", this.conf, "-f", "--id", user], {
      env: { CEPH_CONF: this.conf },
    });
  }

  async readFile(inside: string): Promise<string> {
    return readFile(this.host(inside), "utf8");
  }
}

/** The wrapper's "MCS on …; exec: …" line from its stderr. */
export function wrapperLine(stderr: string): string {
  return stderr.split("\n").find((l) => l.startsWith("ceph-mcs-exec:")) ?? "";
}
