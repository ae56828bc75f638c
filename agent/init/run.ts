// Init mode, start to end: ensure Service → ensure ServiceExport → wait → resolve → verify/pin → write.
// Everything it touches comes in through ports, so the whole flow runs against fakes or real servers.
import type { Logger } from "pino";
import { AgentError } from "../errors.ts";
import type { InitConfig } from "../config.ts";
import {
  ANNOTATION_GLOBAL_IP,
  ANNOTATION_PINNED_AT,
  desiredService,
  desiredServiceExport,
} from "../mcs/objects.ts";
import { serviceName } from "../mcs/naming.ts";
import type { Clock, DnsPort, ObjectRef } from "../ports.ts";
import { writeDisabledOutputs, writeInitOutputs, type InitFilePort, type InitResult } from "./files.ts";
import type {
  ApiSurface,
  ExportObservation,
  ExportVersion,
  InitKubePort,
  ServiceState,
} from "./kube-port.ts";
import { resolveAddress, type ResolveInput, type Resolved } from "./resolve.ts";
import { monitorExport, waitForExport, type WaitResult } from "./wait.ts";

export interface InitDeps {
  kube: InitKubePort;
  dns: DnsPort;
  files: InitFilePort;
  clock: Clock;
  log: Logger;
}

type EnabledConfig = Extract<InitConfig, { enabled: true }>;

/** Thrown when a mon's exported address is not the one pinned at its creation. */
export class AddressChangedError extends AgentError {
  constructor(ref: ObjectRef, pinned: string, now: string) {
    super("permanent", `mon address changed: pinned ${pinned}, the MCS implementation now exports ${now}`, {
      object: `Service ${ref.namespace}/${ref.name}`,
      hint:
        "a mon's address is its identity in the monmap, so this mon refuses to start; find out why the global IP " +
        "changed (was the ServiceExport or GlobalIngressIP re-created?) and restore it, or fail the mon over",
    });
    this.name = "AddressChangedError";
  }
}

export async function runInitFlow(
  cfg: InitConfig,
  deps: InitDeps,
  signal: AbortSignal,
): Promise<InitResult | undefined> {
  if (!cfg.enabled) {
    const removed = await writeDisabledOutputs(deps.files, cfg.paths.dir, cfg.paths.wrapperSource);
    deps.log.info({ removed }, "MCS is disabled: installed the wrapper only; the daemon starts unchanged");
    return undefined;
  }
  return runEnabled(cfg, deps, signal);
}

async function runEnabled(cfg: EnabledConfig, deps: InitDeps, signal: AbortSignal): Promise<InitResult> {
  const started = deps.clock.now();
  const ref = { namespace: cfg.cephCluster.namespace, name: serviceName(cfg.daemon) };
  const surface = requireMcs(await deps.kube.discover(), ref);
  const svc = await deps.kube.applyService(
    desiredService(cfg.daemon, cfg.cephCluster, { msgr2Only: cfg.msgr2Only }),
  );
  deps.log.info({ service: ref, clusterIP: svc.clusterIP, adopted: !svc.createdByAgent }, "Service applied");
  const apply = (): ReturnType<InitKubePort["applyServiceExport"]> =>
    deps.kube.applyServiceExport(
      surface.exportVersion,
      desiredServiceExport(surface.exportVersion, ref.name, ref.namespace, cfg.cephCluster),
    );
  const initial = await apply();
  const { waited, resolved } = await exportAndAddress(
    { cfg, ref, surface, svc, initial, apply },
    deps,
    signal,
  );
  const pinned = pinnedAddress(ref, [svc.annotations, initial.annotations]);
  const pin = await verifyPin(cfg, { ref, version: surface.exportVersion, pinned, resolved }, deps);
  const result = buildResult(cfg, { surface, svc, waited, resolved, pin, started, now: deps.clock.now() });
  await writeInitOutputs(deps.files, cfg.paths.dir, { result, wrapperPath: cfg.paths.wrapperSource });
  return result;
}

interface Settle {
  cfg: EnabledConfig;
  ref: ObjectRef;
  surface: ApiSurface & { exportVersion: ExportVersion };
  svc: ServiceState;
  initial: ExportObservation;
  apply: () => Promise<ExportObservation>;
}

/**
 * Waits for a usable export, resolves the address, then looks at the export once more: a controller
 * that wrote Valid first may since have added Ready=False or a Conflict, and those win.
 */
async function exportAndAddress(
  x: Settle,
  deps: InitDeps,
  signal: AbortSignal,
): Promise<{ waited: WaitResult; resolved: Resolved }> {
  for (let current = x.initial; ;) {
    const input = {
      version: x.surface.exportVersion,
      ref: x.ref,
      initial: current,
      readyGraceMs: x.cfg.timing.readyGraceMs,
      reapply: x.apply,
    };
    const waited = await waitForExport(input, deps, signal);
    const monitor = monitorExport({ ...input, initial: waited.last }, deps, signal);
    const resolving = new AbortController();
    try {
      const resolved = await Promise.race([
        resolveAddress(resolveInput(x, waited), deps, AbortSignal.any([signal, resolving.signal])),
        monitor.failure,
      ]);
      const latest = monitor.latest();
      if (latest.verdict.state === "ready")
        return { waited: { ...waited, verdict: latest.verdict }, resolved };
      deps.log.info(
        { export: x.ref, state: latest.verdict.state },
        "the export changed while resolving; waiting for it again",
      );
      current = latest.seen;
    } finally {
      resolving.abort();
      monitor.stop();
    }
  }
}

function resolveInput(x: Settle, waited: WaitResult): ResolveInput {
  const { cfg, ref, surface, svc } = x;
  return {
    ref,
    clusterID: cfg.clusterID,
    zone: cfg.zone,
    family: cfg.family,
    surface,
    globalCidrs: cfg.globalCidrs.map((c) => `${c.address}/${c.prefix}`),
    serviceClusterIP: svc.clusterIP,
    implementation: waited.verdict.implementation,
  };
}

function requireMcs(surface: ApiSurface, ref: ObjectRef): ApiSurface & { exportVersion: ExportVersion } {
  const v = surface.exportVersion;
  if (v !== undefined) return { ...surface, exportVersion: v };
  throw new AgentError(
    "permanent",
    "the MCS API (multicluster.x-k8s.io ServiceExport) is not served by this cluster",
    {
      object: `Service ${ref.namespace}/${ref.name}`,
      hint: "install an MCS implementation (e.g. subctl join with Globalnet) or disable multiClusterService",
    },
  );
}

interface PinInput {
  ref: ObjectRef;
  version: ExportVersion;
  pinned: string | null;
  resolved: Resolved;
}

/** The pin from the Service and/or the ServiceExport; two different pins are never guessed between. */
function pinnedAddress(ref: ObjectRef, sources: readonly Readonly<Record<string, string>>[]): string | null {
  const pins = [...new Set(sources.map((a) => a[ANNOTATION_GLOBAL_IP]).filter((v) => v !== undefined))];
  if (pins.length <= 1) return pins[0] ?? null;
  throw new AgentError(
    "permanent",
    `the Service and the ServiceExport pin different global IPs: ${pins.join(" vs ")}`,
    {
      object: `Service ${ref.namespace}/${ref.name}`,
      hint: `find out which address the daemon advertises (ceph mon dump / ceph osd dump) and set annotation ${ANNOTATION_GLOBAL_IP} on both to it`,
    },
  );
}

/** A mon's address is its identity: a changed one stops the mon; an OSD logs it and moves on. */
async function verifyPin(
  cfg: EnabledConfig,
  { ref, version, pinned, resolved }: PinInput,
  deps: InitDeps,
): Promise<InitResult["pin"]> {
  const previous = pinned;
  if (previous === resolved.ip) return { previous, changed: false };
  if (previous !== null && cfg.daemon.type === "mon")
    throw new AddressChangedError(ref, previous, resolved.ip);
  if (previous !== null)
    deps.log.warn(
      { previous, now: resolved.ip },
      "OSD global IP changed; re-pinning (OSDs tolerate address changes)",
    );
  await deps.kube.pinAddress(version, ref, {
    [ANNOTATION_GLOBAL_IP]: resolved.ip,
    [ANNOTATION_PINNED_AT]: new Date(deps.clock.now()).toISOString(),
  });
  return { previous, changed: true };
}

interface ResultParts {
  surface: ApiSurface & { exportVersion: ExportVersion };
  svc: ServiceState;
  waited: WaitResult;
  resolved: Resolved;
  pin: InitResult["pin"];
  started: number;
  now: number;
}

function buildResult(cfg: EnabledConfig, p: ResultParts): InitResult {
  return {
    schemaVersion: 1,
    daemon: cfg.daemon,
    pod: cfg.pod.name,
    namespace: cfg.pod.namespace,
    enabled: true,
    globalIP: p.resolved.ip,
    family: p.resolved.family,
    msgr2Only: cfg.msgr2Only,
    sources: p.resolved.sources,
    export: {
      apiVersion: `multicluster.x-k8s.io/${p.surface.exportVersion}`,
      conditions: p.waited.verdict.conditions,
    },
    service: { name: serviceName(cfg.daemon), clusterIP: p.svc.clusterIP ?? null },
    pin: p.pin,
    timings: {
      startedAt: new Date(p.started).toISOString(),
      validAt: new Date(p.waited.validAt).toISOString(),
      writtenAt: new Date(p.now).toISOString(),
      totalMs: p.now - p.started,
    },
  };
}
