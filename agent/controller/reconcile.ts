// One round of the leader's work: read everything fresh, plan (pure), write what differs — each write
// fenced on the leader's term and conditional on the resourceVersion read, so neither a deposed leader
// nor a concurrent Rook save is ever overwritten blindly.
import type { Logger } from "pino";
import { parseMonEndpoints } from "../ceph/rook-formats.ts";
import { parseCephCluster, type CephClusterMcs } from "../config.ts";
import { AgentError, classify } from "../errors.ts";
import { ANNOTATION_GLOBAL_IP, ANNOTATION_PINNED_AT } from "../mcs/objects.ts";
import type { Clock } from "../ports.ts";
import { planCleanup, type CleanupPlan } from "./cleanup.ts";
import {
  CONFIG_SECRET,
  ENDPOINTS_CONFIGMAP,
  type ControllerKubePort,
  type DaemonService,
  type Versioned,
} from "./kube-port.ts";
import type { Term } from "./leader.ts";
import type { ControllerMetrics } from "./metrics.ts";
import { KEY_DATA, planUpkeep, type HeldBack, type MonFacts, type UpkeepPlan } from "./upkeep.ts";

/** Mon addresses in the monmap, by mon id (what each mon advertises). */
export interface MonmapPort {
  monAddresses(signal: AbortSignal): Promise<ReadonlyMap<string, string>>;
}

export interface ReconcileDeps {
  kube: ControllerKubePort;
  monmap?: MonmapPort | undefined;
  clock: Clock;
  log: Logger;
  metrics: ControllerMetrics;
  namespace: string;
  cephClusterName?: string | undefined;
  cleanupGraceMs: number;
  /** The fence: the current term while it is still safe to write, else undefined. */
  currentTerm(): Term | undefined;
}

export interface DaemonAddress {
  daemon: string;
  service: string;
  pinned: string | undefined;
  pinnedAt: string | undefined;
}

export interface RoundReport {
  cluster: CephClusterMcs;
  enabled: boolean;
  upkeep?: UpkeepPlan;
  cleanup?: CleanupPlan;
  /** Mons whose ConfigMap entry has no pinned global IP yet (MCS turned on under a running cluster). */
  unexported: string[];
  addresses: DaemonAddress[];
  wrote: ("configmap" | "secret")[];
  /** The ConfigMap's `data` as read this round. */
  endpointsData?: string;
}

const MAX_CONFLICT_ROUNDS = 5;
const MON_SERVICE_RE = /^rook-ceph-mon-([a-z]+)$/;

export function writerOf(term: Term): string {
  return `${term.identity}/term-${term.transitions}`;
}

export function daemonOfService(name: string): string | undefined {
  const m = /^rook-ceph-(mon|osd)-([a-z]+|\d+)$/.exec(name);
  return m ? `${m[1]}.${m[2]}` : undefined;
}

function monFacts(
  services: readonly DaemonService[],
  monmap: ReadonlyMap<string, string> | undefined,
): Map<string, MonFacts> {
  const facts = new Map<string, MonFacts>();
  for (const s of services) {
    const id = MON_SERVICE_RE.exec(s.name)?.[1];
    if (id === undefined) continue;
    const pinned = s.annotations[ANNOTATION_GLOBAL_IP];
    facts.set(id, { ...(pinned && { pinned }), ...(s.clusterIP && { clusterIP: s.clusterIP }) });
  }
  for (const [id, advertised] of monmap ?? []) facts.set(id, { ...facts.get(id), advertised });
  return facts;
}

export class Reconciler {
  readonly #d: ReconcileDeps;
  readonly #firstSeen = new Map<string, number>();
  /** During a migration: each moving mon's old and new address, both kept in client configs. */
  readonly clientExtras = new Map<string, readonly string[]>();
  #monHost: string | undefined;

  constructor(deps: ReconcileDeps) {
    this.#d = deps;
  }

  get namespace(): string {
    return this.#d.namespace;
  }

  /** Secret `mon_host` as last read or written: the addresses clients (and our ceph CLI) are given. */
  get monHost(): string | undefined {
    return this.#monHost;
  }

  /** Rounds until no write conflicts (each 409 means someone wrote in between: read again). */
  async run(term: Term, signal: AbortSignal): Promise<RoundReport> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.#round(term, signal);
      } catch (err) {
        if (classify(err) !== "conflict" || attempt >= MAX_CONFLICT_ROUNDS) throw err;
        this.#d.metrics.conflicts.inc();
        this.#d.log.info({ attempt }, "a write met a concurrent change (409); reading again");
      }
    }
  }

  async #round(term: Term, signal: AbortSignal): Promise<RoundReport> {
    const d = this.#d;
    const cluster = parseCephCluster(await d.kube.readCephCluster(), {
      namespace: d.namespace,
      ...(d.cephClusterName && { name: d.cephClusterName }),
    });
    const [endpoints, monHost, services] = await Promise.all([
      d.kube.readEndpoints(),
      d.kube.readMonHost(),
      d.kube.listDaemonServices(),
    ]);
    this.#noteMonHost(monHost?.value);
    const addresses = services.flatMap((s) => daemonAddress(s));
    const report: RoundReport = { cluster, enabled: cluster.enabled, unexported: [], addresses, wrote: [] };
    if (!cluster.enabled || endpoints === undefined) {
      if (!cluster.enabled) this.#reportDisabled(cluster, addresses);
      return report;
    }
    const monmap = d.monmap ? await d.monmap.monAddresses(signal) : undefined;
    const plan = planUpkeep({
      namespace: d.namespace,
      endpoints: endpoints.value,
      monHost: monHost?.value,
      mons: monFacts(services, monmap),
      clientExtras: this.clientExtras,
    });
    report.upkeep = plan;
    report.endpointsData = endpoints.value[KEY_DATA] ?? "";
    const monIds = parseMonEndpoints(report.endpointsData).map((m) => m.id);
    report.unexported = unexportedMons(monIds, services);
    report.wrote = await this.#write(term, plan, { endpoints, monHost });
    await this.#announce(cluster, report);
    report.cleanup = await this.#cleanup(term, { services, monIds });
    return report;
  }

  async #write(
    term: Term,
    plan: UpkeepPlan,
    read: { endpoints: Versioned<unknown>; monHost: Versioned<unknown> | undefined },
  ): Promise<RoundReport["wrote"]> {
    const wrote: RoundReport["wrote"] = [];
    if (plan.configMap) {
      this.#fence(term);
      await this.#d.kube.patchEndpoints(plan.configMap, read.endpoints.resourceVersion, writerOf(term));
      wrote.push("configmap");
    }
    if (plan.monHost !== undefined && read.monHost) {
      this.#fence(term);
      await this.#d.kube.patchMonHost(plan.monHost, read.monHost.resourceVersion, writerOf(term));
      this.#noteMonHost(plan.monHost);
      wrote.push("secret");
    }
    return wrote;
  }

  #noteMonHost(monHost: string | undefined): void {
    if (monHost) this.#monHost = monHost;
  }

  /** Throws unless this process still safely holds the lease in the same term. */
  #fence(term: Term): void {
    const now = this.#d.currentTerm();
    if (now?.identity === term.identity && now.transitions === term.transitions) return;
    throw new AgentError("retryable", "not writing: this replica is no longer the leader", {
      object: `Lease term ${term.transitions} of ${term.identity}`,
      hint: "nothing to do: the new leader takes over",
    });
  }

  async #announce(cluster: CephClusterMcs, report: RoundReport): Promise<void> {
    const d = this.#d;
    const plan = report.upkeep;
    if (!plan) return;
    for (const w of report.wrote) d.metrics.writes.inc({ object: w });
    if (plan.changes.length > 0) {
      const note = plan.changes.map((c) => `mon.${c.id} ${c.from} → ${c.to}`).join(", ");
      d.log.info({ changes: plan.changes, wrote: report.wrote }, "mon addresses updated");
      await d.kube.emitEvent({
        regarding: { apiVersion: "v1", kind: "ConfigMap", namespace: d.namespace, name: ENDPOINTS_CONFIGMAP },
        type: "Normal",
        reason: "MonAddressesUpdated",
        action: "UpdateMonEndpoints",
        note: `set the advertised global IPs in ${ENDPOINTS_CONFIGMAP} and ${CONFIG_SECRET}: ${note}`,
      });
    } else if (report.wrote.length > 0) {
      d.log.info({ wrote: report.wrote }, "client mon addresses brought in line with the mon endpoints");
    }
    d.metrics.heldBack.reset();
    for (const h of plan.heldBack) d.metrics.heldBack.inc({ reason: h.reason });
    if (plan.heldBack.length > 0) this.#logHeldBack(cluster, plan.heldBack);
  }

  #logHeldBack(cluster: CephClusterMcs, held: readonly HeldBack[]): void {
    const list = held.map((h) => `mon.${h.id} advertises ${h.current}, pinned ${h.pinned} (${h.reason})`);
    this.#d.log.warn(
      { cephCluster: cluster.name, held },
      `not writing these mons' pinned global IPs: ${list.join("; ")}. ` +
        "needs-migration: the mon still advertises its old address — the controller migrates it when it has the ceph CLI; " +
        "unconfirmed: set CEPH_MCS_CEPH_COMMAND so the monmap can confirm the address",
    );
  }

  #reportDisabled(cluster: CephClusterMcs, addresses: readonly DaemonAddress[]): void {
    const still = addresses.filter((a) => a.pinned !== undefined);
    if (still.length === 0) return;
    this.#d.log.warn(
      { cephCluster: cluster.name, daemons: still.map((a) => `${a.daemon}=${a.pinned ?? ""}`) },
      `multiClusterService is disabled, but ${still.length} daemons were given global IPs: OSDs move back to ` +
        "their pod/ClusterIP addresses when their pods restart; mons keep their global IP (a mon's address is its " +
        "identity) until each is failed over by Rook or migrated with `ceph mon set-addrs`. Nothing is deleted or rewritten while disabled.",
    );
  }

  /** `services` and `monIds` as this round read them: the writes before do not change them. */
  async #cleanup(
    term: Term,
    { services, monIds }: { services: readonly DaemonService[]; monIds: readonly string[] },
  ): Promise<CleanupPlan | undefined> {
    const d = this.#d;
    const [exports, deployments] = await Promise.all([
      d.kube.listDaemonExports(),
      d.kube.listDaemonDeployments(),
    ]);
    const plan = planCleanup({
      services,
      exports: exports ?? [],
      deployments,
      monIds,
      firstSeen: this.#firstSeen,
      now: d.clock.now(),
      graceMs: d.cleanupGraceMs,
    });
    for (const del of plan.delete) {
      this.#fence(term);
      if (del.kind === "ServiceExport") await d.kube.deleteServiceExport(del.name, del.uid);
      else await d.kube.deleteService(del.name, del.uid);
      d.metrics.deletions.inc({ kind: del.kind });
      d.log.info({ deleted: del }, `deleted the ${del.kind} of a daemon that no longer exists`);
    }
    return plan;
  }
}

function daemonAddress(s: DaemonService): DaemonAddress[] {
  const daemon = daemonOfService(s.name);
  if (daemon === undefined) return [];
  return [
    {
      daemon,
      service: s.name,
      pinned: s.annotations[ANNOTATION_GLOBAL_IP],
      pinnedAt: s.annotations[ANNOTATION_PINNED_AT],
    },
  ];
}

function unexportedMons(monIds: readonly string[], services: readonly DaemonService[]): string[] {
  const pinned = new Set(
    services.filter((s) => s.annotations[ANNOTATION_GLOBAL_IP] !== undefined).map((s) => s.name),
  );
  return monIds.filter((id) => !pinned.has(`rook-ceph-mon-${id}`));
}
