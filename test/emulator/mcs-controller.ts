// Emulated MCS controller for tests against a real kube-apiserver (no real MCS implementation runs
// there). It watches ServiceExports, Services and EndpointSlices and writes, through the status
// subresource, the condition sequence the chosen implementation writes (profiles.ts), with scaled
// delays; for Lighthouse it also plays Globalnet (GlobalIngressIP) and makes the Lighthouse
// EndpointSlice; DNS records go to callbacks that a test wires to a DNS server.
//
// How it learns endpoints: no kube-controller-manager runs in these tests, so Service EndpointSlices
// exist only when a test creates them (createBackendEndpointSlice imitates the real controller). A
// Service "has ready endpoints" when an EndpointSlice labelled kubernetes.io/service-name=<svc> (not
// Lighthouse's own) has an endpoint that counts as ready for the profile (Lighthouse: ready≠false,
// Antrea: ready=true), or when the test forces it with setEndpointsReady(). Lighthouse's own
// EndpointSlice is made even when no Service EndpointSlice exists (the real agent waits for the one
// kube-controller-manager always makes); its endpoint is ready=false then.
import {
  CoreV1Api,
  CustomObjectsApi,
  DiscoveryV1Api,
  type KubeConfig,
  type KubernetesObject,
} from "@kubernetes/client-node";
import {
  adaptToSchema,
  applyOutcome,
  evaluate,
  nowRfc3339,
  type Condition,
  type Facts,
  type GlobalIpState,
  type Outcome,
  type SchemaLevel,
  type ServiceFacts,
  type Stage,
} from "./conditions.ts";
import { FAULT_ANNOTATION, parseFaultList, type FaultName } from "./faults.ts";
import { GlobalIpPool, PoolExhaustedError, type ReallocationPolicy } from "./ipam.ts";
import {
  apiError,
  deleteIgnoringMissing,
  patchStatus,
  startWatch,
  upsertEndpointSlice,
  type CustomRef,
  type RunningWatch,
  type WatchEventType,
} from "./kube.ts";
import { PROFILES, DEFAULT_DELAYS, type Delays, type ProfileInfo, type ProfileName } from "./profiles.ts";
import { LIGHTHOUSE_MANAGED_BY, decoyIp, dnsRecords, lighthouseEndpointSlice } from "./published.ts";

export {
  PROFILES,
  PROFILE_NAMES,
  DEFAULT_DELAYS,
  type ProfileName,
  type ProfileInfo,
  type Delays,
} from "./profiles.ts";
export { FAULTS, FAULT_NAMES, FAULT_ANNOTATION, type FaultName } from "./faults.ts";
export { createBackendEndpointSlice } from "./kube.ts";
export type { Condition } from "./conditions.ts";

export interface EmulatorOptions {
  kubeConfig: KubeConfig;
  profile: ProfileName;
  /** Watch one namespace; all namespaces when omitted. */
  namespace?: string;
  /** Submariner cluster id (Lighthouse DNS, EndpointSlice labels). Default "cluster-a". */
  clusterId?: string;
  /** ServiceExport version to watch and write; both are served by mcs-api ≥0.5 with one schema. */
  apiVersion?: "v1alpha1" | "v1beta1";
  /** Multiplies every delay (0.01 → 100× faster). Default 1. */
  timeScale?: number;
  delays?: Partial<Delays>;
  /** Globalnet on/off (Lighthouse profiles only). Default: the profile's. */
  globalnet?: boolean;
  /** Globalnet CIDR of this cluster. Default 242.0.1.0/24. */
  globalCidr?: string;
  /** Whether a re-created export may get its old global IP back (Globalnet) or surely another. */
  reallocation?: ReallocationPolicy;
  /** Pool for Cilium's per-cluster derived-Service VIPs. Default 10.100.0.0/24. */
  vipCidr?: string;
  /** Lighthouse import-namespace-deny-list (entries ending in "-" are prefixes). Default none. */
  namespaceDenyList?: string[];
  namespaceAllowList?: string[];
  /** Faults keyed "namespace/name", applied from the start. */
  faults?: Record<string, FaultName[]>;
  onDnsRecord?: (name: string, addresses: string[]) => void;
  onDnsRemove?: (name: string) => void;
  onEvent?: (e: EmulatorEvent) => void;
}

export interface EmulatorEvent {
  at: number;
  kind: "status" | "giip" | "endpointslice" | "dns" | "deviation" | "error" | "unknown-fault";
  key: string;
  detail: string;
}

export interface Emulator {
  readonly profile: ProfileName;
  readonly info: ProfileInfo;
  readonly clusterId: string;
  readonly globalnet: boolean;
  /** Schema adaptations the apiserver forced (see conditions.ts adaptToSchema). */
  readonly deviations: ReadonlySet<string>;
  readonly events: readonly EmulatorEvent[];
  stop(): Promise<void>;
  setFaults(namespace: string, name: string, faults: FaultName[]): void;
  /** Overrides what the EndpointSlices say; undefined goes back to them. */
  setEndpointsReady(namespace: string, name: string, ready: boolean | undefined): void;
  globalIp(namespace: string, name: string): string | undefined;
  dnsRecords(): ReadonlyMap<string, readonly string[]>;
  /** Every condition list stored for the export, in order. */
  history(namespace: string, name: string): readonly (readonly Condition[])[];
  /** Resolves when no work is queued or scheduled sooner than `withinMs` (for tests that need quiet). */
  settled(withinMs?: number): Promise<void>;
}

interface ServiceObj extends KubernetesObject {
  spec?: {
    type?: string;
    clusterIP?: string;
    ports?: { name?: string; port: number; protocol?: string }[];
    publishNotReadyAddresses?: boolean;
  };
}
interface ExportObj extends KubernetesObject {
  status?: { conditions?: Condition[] };
}
interface SliceObj extends KubernetesObject {
  endpoints?: { conditions?: { ready?: boolean | null } }[];
}

interface ExportState {
  key: string;
  namespace: string;
  name: string;
  uid: string;
  annotations: Record<string, string>;
  /** The list as the controller keeps it (may hold legacy duplicates/empty reasons). */
  conditions: Condition[];
  stage: Stage;
  importExisted: boolean;
  giip: GlobalIpState;
  eps: { name: string; body: string } | undefined;
  dns: Map<string, string[]>;
  /** Named one-shot timers and their (scaled) delay. */
  timers: Map<string, { handle: NodeJS.Timeout; ms: number }>;
  vip: string | undefined;
}

const MCS_GROUP = "multicluster.x-k8s.io";

/** Stage progression: which timer (and which delay) leads from a stage to the next. */
const NEXT_STAGE: Partial<Record<Stage, { stage: Stage; timer: string; delay: keyof Delays }>> = {
  reacted: { stage: "imported", timer: "import", delay: "import" },
  imported: { stage: "aggregated", timer: "aggregate", delay: "brokerSync" },
  aggregated: { stage: "synced", timer: "brokerSync", delay: "brokerSync" },
};
const GIIP = { group: "submariner.io", version: "v1", plural: "globalingressips" };
const key = (ns: string | undefined, name: string | undefined): string => `${ns ?? ""}/${name ?? ""}`;

function metaOf(obj: KubernetesObject): {
  namespace: string;
  name: string;
  uid: string;
  annotations: Record<string, string>;
} {
  const m = obj.metadata ?? {};
  return {
    namespace: m.namespace ?? "",
    name: m.name ?? "",
    uid: m.uid ?? "",
    annotations: m.annotations ?? {},
  };
}

function sliceBelongsTo(slice: SliceObj, namespace: string, name: string): boolean {
  const labels = slice.metadata?.labels ?? {};
  return (
    slice.metadata?.namespace === namespace &&
    labels["kubernetes.io/service-name"] === name &&
    labels["endpointslice.kubernetes.io/managed-by"] !== LIGHTHOUSE_MANAGED_BY
  );
}

function sliceHasReady(slice: SliceObj, nilIsReady: boolean): boolean {
  return (slice.endpoints ?? []).some((e) => {
    const ready = e.conditions?.ready;
    return nilIsReady ? ready !== false : ready === true;
  });
}

export async function startEmulator(opts: EmulatorOptions): Promise<Emulator> {
  const emulator = new McsEmulator(opts);
  try {
    await emulator.start();
  } catch (err) {
    await emulator.stop();
    throw new Error(`MCS emulator failed to start: ${apiError(err).message}`, { cause: err });
  }
  return emulator;
}

class McsEmulator implements Emulator {
  readonly profile: ProfileName;
  readonly info: ProfileInfo;
  readonly clusterId: string;
  readonly globalnet: boolean;
  readonly deviations = new Set<string>();
  readonly events: EmulatorEvent[] = [];
  private readonly opts: EmulatorOptions;
  private readonly delays: Delays;
  private readonly version: string;
  private readonly custom: CustomObjectsApi;
  private readonly discovery: DiscoveryV1Api;
  private readonly core: CoreV1Api;
  private readonly pool: GlobalIpPool;
  private readonly vipPool: GlobalIpPool;
  private readonly exports = new Map<string, ExportState>();
  private readonly services = new Map<string, ServiceObj>();
  private readonly slices = new Map<string, SliceObj>();
  private readonly faultMap = new Map<string, Set<FaultName>>();
  private readonly readyOverride = new Map<string, boolean>();
  private readonly chains = new Map<string, Promise<void>>();
  private readonly histories = new Map<string, Condition[][]>();
  private readonly records = new Map<string, string[]>();
  private readonly reportedFaults = new Set<string>();
  private readonly abort = new AbortController();
  private watches: RunningWatch[] = [];
  private started = false;
  private stopped = false;
  private schemaLevel: SchemaLevel = 0;
  private readonly rejections: string[] = [];

  constructor(opts: EmulatorOptions) {
    this.opts = opts;
    this.profile = opts.profile;
    this.info = PROFILES[opts.profile];
    this.clusterId = opts.clusterId ?? "cluster-a";
    this.globalnet = this.info.implementation === "lighthouse" && (opts.globalnet ?? this.info.globalnet);
    this.delays = { ...DEFAULT_DELAYS, ...opts.delays };
    this.version = opts.apiVersion ?? "v1alpha1";
    this.custom = opts.kubeConfig.makeApiClient(CustomObjectsApi);
    this.discovery = opts.kubeConfig.makeApiClient(DiscoveryV1Api);
    this.core = opts.kubeConfig.makeApiClient(CoreV1Api);
    this.pool = new GlobalIpPool(opts.globalCidr ?? "242.0.1.0/24", opts.reallocation ?? "same-if-free");
    this.vipPool = new GlobalIpPool(opts.vipCidr ?? "10.100.0.0/24", "different");
    for (const [k, faults] of Object.entries(opts.faults ?? {})) this.faultMap.set(k, new Set(faults));
  }

  // ---- life cycle -----------------------------------------------------------------------------------

  async start(): Promise<void> {
    const kc = this.opts.kubeConfig;
    const ns = this.opts.namespace;
    const core = this.core;
    const nsPath = (prefix: string, plural: string): string =>
      ns === undefined ? `${prefix}/${plural}` : `${prefix}/namespaces/${ns}/${plural}`;
    const exportsRef = { group: MCS_GROUP, version: this.version, plural: "serviceexports" };
    this.watches = [
      startWatch<ServiceObj>(
        kc,
        {
          path: nsPath("/api/v1", "services"),
          list: () =>
            ns === undefined
              ? core.listServiceForAllNamespaces()
              : core.listNamespacedService({ namespace: ns }),
          onEvent: (t, o) => this.onService(t, o),
          onError: (e) => this.emit("error", "services", apiError(e).message),
        },
        this.abort.signal,
      ),
      startWatch<SliceObj>(
        kc,
        {
          path: nsPath("/apis/discovery.k8s.io/v1", "endpointslices"),
          list: () =>
            ns === undefined
              ? this.discovery.listEndpointSliceForAllNamespaces()
              : this.discovery.listNamespacedEndpointSlice({ namespace: ns }),
          onEvent: (t, o) => this.onSlice(t, o),
          onError: (e) => this.emit("error", "endpointslices", apiError(e).message),
        },
        this.abort.signal,
      ),
      startWatch<ExportObj>(
        kc,
        {
          path: nsPath(`/apis/${MCS_GROUP}/${this.version}`, "serviceexports"),
          list: async () =>
            (ns === undefined
              ? await this.custom.listClusterCustomObject(exportsRef)
              : await this.custom.listNamespacedCustomObject({ ...exportsRef, namespace: ns })) as {
              items: ExportObj[];
            },
          onEvent: (t, o) => this.onExport(t, o),
          onError: (e) => this.emit("error", "serviceexports", apiError(e).message),
        },
        this.abort.signal,
      ),
    ];
    await Promise.all(this.watches.map((w) => w.synced));
    this.started = true;
    for (const st of this.exports.values()) this.reconcile(st);
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.abort.abort();
    for (const st of this.exports.values()) this.clearTimers(st);
    await Promise.allSettled(this.watches.map((w) => w.done));
    await Promise.allSettled([...this.chains.values()]);
  }

  // ---- test controls --------------------------------------------------------------------------------

  setFaults(namespace: string, name: string, faults: FaultName[]): void {
    this.faultMap.set(key(namespace, name), new Set(faults));
    const st = this.exports.get(key(namespace, name));
    if (st) this.reconcile(st);
  }

  setEndpointsReady(namespace: string, name: string, ready: boolean | undefined): void {
    const k = key(namespace, name);
    if (ready === undefined) this.readyOverride.delete(k);
    else this.readyOverride.set(k, ready);
    const st = this.exports.get(k);
    if (st) this.reconcile(st);
  }

  globalIp(namespace: string, name: string): string | undefined {
    const gip = this.exports.get(key(namespace, name))?.giip;
    return gip?.phase === "allocated" ? gip.ip : undefined;
  }

  dnsRecords(): ReadonlyMap<string, readonly string[]> {
    return this.records;
  }

  history(namespace: string, name: string): readonly (readonly Condition[])[] {
    return this.histories.get(key(namespace, name)) ?? [];
  }

  async settled(withinMs = 50): Promise<void> {
    for (;;) {
      await Promise.allSettled([...this.chains.values()]);
      const soon = [...this.exports.values()].some((st) =>
        [...st.timers.values()].some((t) => t.ms < withinMs),
      );
      if (!soon) return;
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  // ---- events ---------------------------------------------------------------------------------------

  private onService(type: WatchEventType, obj: ServiceObj): void {
    const k = key(obj.metadata?.namespace, obj.metadata?.name);
    if (type === "DELETED") this.services.delete(k);
    else this.services.set(k, obj);
    const st = this.exports.get(k);
    if (st) this.reconcile(st);
  }

  private onSlice(type: WatchEventType, obj: SliceObj): void {
    const k = key(obj.metadata?.namespace, obj.metadata?.name);
    if (type === "DELETED") this.slices.delete(k);
    else this.slices.set(k, obj);
    const svc = obj.metadata?.labels?.["kubernetes.io/service-name"];
    const st = svc === undefined ? undefined : this.exports.get(key(obj.metadata?.namespace, svc));
    if (st) this.reconcile(st);
  }

  private onExport(type: WatchEventType, obj: ExportObj): void {
    const meta = metaOf(obj);
    const k = key(meta.namespace, meta.name);
    const existing = this.exports.get(k);
    if (type === "DELETED" || (existing && existing.uid !== meta.uid)) this.removeExport(k);
    if (type === "DELETED") return;
    const st = this.exports.get(k) ?? this.addExport(k, obj);
    st.annotations = meta.annotations;
    this.reconcile(st);
  }

  private addExport(k: string, obj: ExportObj): ExportState {
    const st: ExportState = {
      ...metaOf(obj),
      key: k,
      conditions: obj.status?.conditions ?? [],
      stage: "waiting",
      importExisted: false,
      giip: { phase: "absent" },
      eps: undefined,
      dns: new Map(),
      timers: new Map(),
      vip: undefined,
    };
    this.exports.set(k, st);
    const silence = this.faultsOf(st).has("silent") ? this.delays.silence : 0;
    this.schedule(st, "react", this.delays.react + silence, () => {
      st.stage = "reacted";
    });
    return st;
  }

  private removeExport(k: string): void {
    const st = this.exports.get(k);
    if (!st) return;
    this.exports.delete(k);
    this.clearTimers(st);
    this.enqueue(k, async () => {
      await this.removeEps(st);
      this.removeDns(st);
      await this.deleteGiip(st);
    });
  }

  // ---- scheduling -----------------------------------------------------------------------------------

  private scaled(ms: number): number {
    return Math.max(0, ms * (this.opts.timeScale ?? 1));
  }

  /** One-shot named timer per export; `then` runs before the export is reconciled. */
  private schedule(st: ExportState, name: string, ms: number, then: () => void): void {
    if (st.timers.has(name) || this.stopped) return;
    const scaled = this.scaled(ms);
    const handle = setTimeout(() => {
      st.timers.delete(name);
      if (this.exports.get(st.key) !== st || this.stopped) return;
      then();
      this.reconcile(st);
    }, scaled);
    st.timers.set(name, { handle, ms: scaled });
  }

  private clearTimers(st: ExportState, names?: string[]): void {
    for (const [name, t] of st.timers) {
      if (names && !names.includes(name)) continue;
      clearTimeout(t.handle);
      st.timers.delete(name);
    }
  }

  private reconcile(st: ExportState): void {
    this.enqueue(st.key, () => this.sync(st));
  }

  /** Work per export runs one at a time, in order (like a controller's per-key queue). */
  private enqueue(k: string, work: () => Promise<void>): void {
    if (this.stopped) return;
    const prev = this.chains.get(k) ?? Promise.resolve();
    const next = prev.then(work).catch((err: unknown) => {
      this.emit("error", k, apiError(err).message);
      const st = this.exports.get(k);
      if (st) this.schedule(st, "retry", this.delays.retry, () => undefined);
    });
    this.chains.set(k, next);
  }

  private emit(kind: EmulatorEvent["kind"], k: string, detail: string): void {
    const e = { at: Date.now(), kind, key: k, detail };
    this.events.push(e);
    this.opts.onEvent?.(e);
  }

  // ---- reconcile ------------------------------------------------------------------------------------

  private async sync(st: ExportState): Promise<void> {
    if (!this.started || this.stopped || this.exports.get(st.key) !== st) return;
    await this.confirmMissingService(st);
    const facts = this.facts(st);
    await this.globalnetStep(st, facts);
    if (st.stage === "waiting") return;
    const out = evaluate(facts);
    await this.writeStatus(st, out);
    await this.progress(st, out, facts);
  }

  /**
   * The Service watch may lag the ServiceExport watch by a few ms; a test that creates the Service
   * first must not see a spurious NoService, so a Service missing from the cache is looked up once.
   */
  private async confirmMissingService(st: ExportState): Promise<void> {
    if (this.services.has(st.key)) return;
    try {
      const svc = await this.core.readNamespacedService({ name: st.name, namespace: st.namespace });
      if (!this.services.has(st.key)) this.services.set(st.key, svc);
    } catch (err) {
      if (apiError(err).code !== 404) throw err;
    }
  }

  private facts(st: ExportState): Facts {
    const faults = this.faultsOf(st);
    return {
      profile: this.profile,
      namespace: st.namespace,
      name: st.name,
      clusterId: this.clusterId,
      service: this.serviceFacts(st.key),
      faults,
      restricted:
        this.info.implementation === "lighthouse" &&
        (faults.has("restricted-namespace") || this.denied(st.namespace)),
      globalnet: this.globalnet,
      globalIp: st.giip,
      endpointsReady: this.endpointsReady(st),
      stage: st.stage,
      importExisted: st.importExisted || (st.stage !== "waiting" && st.stage !== "reacted"),
    };
  }

  private serviceFacts(k: string): ServiceFacts | undefined {
    const svc = this.services.get(k);
    if (!svc) return undefined;
    const clusterIP = svc.spec?.clusterIP;
    const headless = clusterIP === "None";
    return { type: svc.spec?.type ?? "", clusterIP: headless ? undefined : clusterIP, headless };
  }

  private faultsOf(st: ExportState): Set<FaultName> {
    const fromApi = [
      st.annotations[FAULT_ANNOTATION],
      this.services.get(st.key)?.metadata?.annotations?.[FAULT_ANNOTATION],
    ];
    const faults = new Set(this.faultMap.get(st.key));
    for (const value of fromApi) {
      const parsed = parseFaultList(value);
      parsed.faults.forEach((f) => faults.add(f));
      for (const u of parsed.unknown) this.reportUnknownFault(st.key, u);
    }
    return faults;
  }

  private reportUnknownFault(k: string, name: string): void {
    if (this.reportedFaults.has(`${k}:${name}`)) return;
    this.reportedFaults.add(`${k}:${name}`);
    this.emit("unknown-fault", k, name);
  }

  private denied(namespace: string): boolean {
    const matches = (list: string[] | undefined): boolean =>
      (list ?? []).some((e) => (e.endsWith("-") ? namespace.startsWith(e) : namespace === e));
    return matches(this.opts.namespaceDenyList) && !matches(this.opts.namespaceAllowList);
  }

  private endpointsReady(st: ExportState): boolean {
    const forced = this.readyOverride.get(st.key);
    if (forced !== undefined) return forced;
    const nilIsReady = this.info.readyEndpoint === "nil-is-ready";
    return [...this.slices.values()].some(
      (s) => sliceBelongsTo(s, st.namespace, st.name) && sliceHasReady(s, nilIsReady),
    );
  }

  private async writeStatus(st: ExportState, out: Outcome): Promise<void> {
    const next = applyOutcome(st.conditions, out, this.info, nowRfc3339());
    if (!next) return;
    const stored = await this.store(st, next);
    if (stored === undefined) return;
    st.conditions = next;
    const history = this.histories.get(st.key) ?? [];
    history.push(stored);
    this.histories.set(st.key, history);
    this.emit("status", st.key, stored.map((c) => `${c.type}=${c.status} ${c.reason}`).join(", "));
  }

  /** Stores the list, adapting it when the CRD schema rejects the exact shape; undefined = export gone. */
  private async store(st: ExportState, list: Condition[]): Promise<Condition[] | undefined> {
    const ref: CustomRef = {
      group: MCS_GROUP,
      version: this.version,
      plural: "serviceexports",
      namespace: st.namespace,
      name: st.name,
    };
    const adapted = adaptToSchema(list, this.schemaLevel);
    try {
      await patchStatus(this.custom, ref, { conditions: adapted.conditions });
    } catch (err) {
      const e = apiError(err);
      if (e.code === 404) return undefined;
      // Rejected by the schema: step up one adaptation level and try again (at most twice).
      if (e.code !== 422 || this.schemaLevel === 2) throw err;
      this.schemaLevel = this.schemaLevel === 0 ? 1 : 2;
      this.rejections.push(e.message);
      return this.store(st, list);
    }
    for (const d of adapted.deviations) this.noteDeviation(st.key, d);
    return adapted.conditions;
  }

  private noteDeviation(k: string, deviation: string): void {
    if (this.deviations.has(deviation)) return;
    this.deviations.add(deviation);
    this.emit("deviation", k, `${deviation}; apiserver said: ${this.rejections.join(" | ")}`);
  }

  private async progress(st: ExportState, out: Outcome, facts: Facts): Promise<void> {
    if (!out.proceed) return this.rewind(st);
    if (out.slice) await this.ensureEps(st, out, facts);
    else await this.removeEps(st);
    if (out.publish) this.publishDns(st, out, facts);
    else this.removeDns(st);
    if (!out.advance) return;
    const next = NEXT_STAGE[st.stage];
    if (next) this.schedule(st, next.timer, this.delays[next.delay], () => (st.stage = next.stage));
  }

  /** The export stopped being valid: the local ServiceImport, EndpointSlice and DNS records go. */
  private async rewind(st: ExportState): Promise<void> {
    if (st.stage !== "waiting" && st.stage !== "reacted") {
      st.importExisted = true;
      st.stage = "reacted";
      this.clearTimers(
        st,
        Object.values(NEXT_STAGE).map((n) => n.timer),
      );
    }
    await this.unpublish(st);
  }

  private async unpublish(st: ExportState): Promise<void> {
    await this.removeEps(st);
    this.removeDns(st);
  }

  // ---- Globalnet ------------------------------------------------------------------------------------

  private wantsGiip(facts: Facts): boolean {
    const svc = facts.service;
    return (
      this.globalnet && svc !== undefined && !svc.headless && (svc.type === "" || svc.type === "ClusterIP")
    );
  }

  private async globalnetStep(st: ExportState, facts: Facts): Promise<void> {
    if (!this.wantsGiip(facts)) {
      // Globalnet removes the GlobalIngressIP (and frees the IP) when the Service goes away.
      if (st.giip.phase !== "absent") await this.deleteGiip(st);
      return;
    }
    if (st.giip.phase === "absent" && !st.timers.has("giipCreate"))
      this.schedule(st, "giipCreate", this.delays.giipCreate, () =>
        this.enqueue(st.key, () => this.createGiip(st)),
      );
  }

  private giipRef(st: ExportState): CustomRef {
    return { ...GIIP, namespace: st.namespace, name: st.name };
  }

  private async createGiip(st: ExportState): Promise<void> {
    if (this.exports.get(st.key) !== st || st.giip.phase !== "absent") return;
    const body = {
      apiVersion: "submariner.io/v1",
      kind: "GlobalIngressIP",
      metadata: { name: st.name, namespace: st.namespace, labels: { "submariner.io/serviceRef": st.name } },
      spec: { target: "ClusterIPService", serviceRef: { name: st.name } },
    };
    try {
      await this.custom.createNamespacedCustomObject({ ...GIIP, namespace: st.namespace, body });
    } catch (err) {
      if (apiError(err).code !== 409) throw err;
    }
    st.giip = { phase: "pending" };
    this.emit("giip", st.key, "created");
    this.schedule(st, "giipAllocate", this.delays.giipAllocate, () =>
      this.enqueue(st.key, () => this.allocateGiip(st)),
    );
  }

  private async allocateGiip(st: ExportState): Promise<void> {
    if (this.exports.get(st.key) !== st || st.giip.phase === "absent" || st.giip.phase === "allocated")
      return;
    let ip: string;
    try {
      if (this.faultsOf(st).has("pool-exhausted")) throw new PoolExhaustedError();
      ip = this.pool.allocate(st.key);
    } catch (err) {
      if (!(err instanceof PoolExhaustedError)) throw err;
      return this.failGiip(st, err);
    }
    const allocated = {
      type: "Allocated",
      status: "True",
      reason: "Success",
      message: "Allocated global IP",
    };
    await patchStatus(this.custom, this.giipRef(st), {
      allocatedIP: ip,
      conditions: [{ ...allocated, lastTransitionTime: nowRfc3339() }],
    });
    st.giip = { phase: "allocated", ip };
    this.emit("giip", st.key, `allocated ${ip}`);
  }

  private async failGiip(st: ExportState, err: PoolExhaustedError): Promise<void> {
    const message = `Error allocating a global IP from the pool: ${err.message}`;
    const failed = { type: "Allocated", status: "False", reason: "IPPoolAllocationFailed", message };
    await patchStatus(this.custom, this.giipRef(st), {
      conditions: [{ ...failed, lastTransitionTime: nowRfc3339() }],
    });
    st.giip = { phase: "failed", reason: failed.reason, message };
    this.emit("giip", st.key, `allocation failed: ${message}`);
    // Globalnet requeues the GlobalIngressIP: retry after a while (a test may lift the fault).
    this.schedule(st, "giipAllocate-retry", this.delays.retry, () =>
      this.enqueue(st.key, () => this.allocateGiip(st)),
    );
  }

  private async deleteGiip(st: ExportState): Promise<void> {
    this.clearTimers(st, ["giipCreate", "giipAllocate", "giipAllocate-retry"]);
    if (st.giip.phase === "absent") return;
    st.giip = { phase: "absent" };
    await deleteIgnoringMissing(() => this.custom.deleteNamespacedCustomObject(this.giipRef(st)));
    this.pool.release(st.key);
    this.emit("giip", st.key, "deleted");
  }

  // ---- Lighthouse EndpointSlice and DNS -------------------------------------------------------------

  private async ensureEps(st: ExportState, out: Outcome, facts: Facts): Promise<void> {
    if (this.info.endpointSlice === "none" || out.address === undefined) return;
    const body = this.epsBody(st, out.address, facts);
    const json = JSON.stringify(body);
    if (st.eps?.body === json) return;
    const name = await upsertEndpointSlice(this.discovery, body, st.eps?.name);
    st.eps = { name, body: json };
    const address = body.endpoints?.[0]?.addresses[0] ?? "";
    this.emit("endpointslice", st.key, `${name} → ${address} ready=${String(facts.endpointsReady)}`);
  }

  private epsBody(
    st: ExportState,
    exported: string,
    facts: Facts,
  ): ReturnType<typeof lighthouseEndpointSlice> {
    const spec = this.services.get(st.key)?.spec ?? {};
    return lighthouseEndpointSlice({
      info: this.info,
      clusterId: this.clusterId,
      namespace: st.namespace,
      name: st.name,
      address: facts.faults.has("endpointslice-disagrees") ? decoyIp(exported) : exported,
      ready: facts.endpointsReady,
      ports: spec.ports ?? [],
      publishNotReadyAddresses: spec.publishNotReadyAddresses ?? false,
    });
  }

  private async removeEps(st: ExportState): Promise<void> {
    const eps = st.eps;
    if (!eps) return;
    st.eps = undefined;
    await deleteIgnoringMissing(() =>
      this.discovery.deleteNamespacedEndpointSlice({ name: eps.name, namespace: st.namespace }),
    );
    this.emit("endpointslice", st.key, `${eps.name} deleted`);
  }

  private dnsAddress(st: ExportState, out: Outcome): string | undefined {
    if (this.info.dns !== "clusterset-vip") return out.address;
    st.vip ??= this.vipPool.allocate(st.key);
    return st.vip;
  }

  private publishDns(st: ExportState, out: Outcome, facts: Facts): void {
    const address = this.dnsAddress(st, out);
    if (address === undefined) return;
    const wanted = dnsRecords({ ...facts, info: this.info, address, faults: facts.faults });
    for (const name of st.dns.keys()) if (!wanted.has(name)) this.dropRecord(st, name);
    for (const [name, addresses] of wanted) {
      if (st.dns.get(name)?.join() === addresses.join()) continue;
      st.dns.set(name, addresses);
      this.records.set(name, addresses);
      this.opts.onDnsRecord?.(name, addresses);
      this.emit("dns", st.key, `${name} → [${addresses.join(", ")}]`);
    }
  }

  private removeDns(st: ExportState): void {
    for (const name of [...st.dns.keys()]) this.dropRecord(st, name);
    if (st.vip !== undefined) this.vipPool.release(st.key);
    st.vip = undefined;
  }

  private dropRecord(st: ExportState, name: string): void {
    st.dns.delete(name);
    this.records.delete(name);
    this.opts.onDnsRemove?.(name);
    this.emit("dns", st.key, `${name} removed`);
  }
}
