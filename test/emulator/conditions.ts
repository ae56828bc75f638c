// Pure part of the emulator: from what a controller would observe (Facts) to the ServiceExport status
// condition changes it writes (Outcome), per implementation; plus the list merge each one uses and the
// adaptation to the installed CRD schema.
import type { FaultName } from "./faults.ts";
import { PROFILES, type LighthouseVocabulary, type ProfileInfo, type ProfileName } from "./profiles.ts";

export type ConditionStatus = "True" | "False" | "Unknown";

export interface CondSpec {
  type: string;
  status: ConditionStatus;
  reason: string;
  message: string;
}

export interface Condition extends CondSpec {
  lastTransitionTime: string;
}

/**
 * Where a controller is with one export. "waiting": not reacted yet (writes nothing); "reacted":
 * validated; "imported": local ServiceImport made; "aggregated": first broker round trip done
 * (Lighthouse: aggregate ServiceImport, where type conflicts and broker errors surface, then its
 * EndpointSlice); "synced": second round trip done (EndpointSlice on the broker → Ready).
 */
export type Stage = "waiting" | "reacted" | "imported" | "aggregated" | "synced";

export type GlobalIpState =
  | { phase: "absent" }
  | { phase: "pending" }
  | { phase: "allocated"; ip: string }
  | { phase: "failed"; reason: string; message: string };

export interface ServiceFacts {
  /** spec.type as stored ("" when unset). */
  type: string;
  clusterIP: string | undefined;
  headless: boolean;
}

export interface Facts {
  profile: ProfileName;
  namespace: string;
  name: string;
  clusterId: string;
  service: ServiceFacts | undefined;
  faults: ReadonlySet<FaultName>;
  /** Fault "restricted-namespace" or the namespace matched the deny list. */
  restricted: boolean;
  globalnet: boolean;
  globalIp: GlobalIpState;
  endpointsReady: boolean;
  stage: Stage;
  /** A local ServiceImport existed (the export had reached "imported" before). */
  importExisted: boolean;
}

export interface Outcome {
  set: CondSpec[];
  remove: string[];
  /** Valid for export (false: the controller tears down its ServiceImport, EndpointSlice, DNS). */
  proceed: boolean;
  /** The controller moves on to the next stage (false: stuck, e.g. an irresolvable conflict). */
  advance: boolean;
  /** The Lighthouse EndpointSlice exists. */
  slice: boolean;
  /** DNS records exist. */
  publish: boolean;
  /** Exported address (global IP or ClusterIP) for Lighthouse; undefined for headless / other impls. */
  address: string | undefined;
}

const cond = (type: string, status: ConditionStatus, reason: string, message: string): CondSpec => ({
  type,
  status,
  reason,
  message,
});

const blocked = (set: CondSpec[], remove: string[] = []): Outcome => ({
  set,
  remove,
  proceed: false,
  advance: false,
  slice: false,
  publish: false,
  address: undefined,
});

const EARLY: readonly Stage[] = ["waiting", "reacted", "imported"];

export function evaluate(f: Facts): Outcome {
  const info = PROFILES[f.profile];
  if (info.implementation === "cilium") return cilium(f);
  if (info.implementation === "antrea") return antrea(f);
  return lighthouse(f, info.lighthouse!);
}

// ---- Lighthouse -------------------------------------------------------------------------------------

const GLOBAL_IP_UNAVAILABLE = cond(
  "Valid",
  "False",
  "ServiceGlobalIPUnavailable",
  "Service doesn't have a global IP yet",
);

function lighthouseTypeInvalid(f: Facts): string | undefined {
  const t = f.service?.type ?? "";
  if (t !== "" && t !== "ClusterIP") return t;
  return f.faults.has("invalid-type") ? "NodePort" : undefined;
}

function lighthouseGlobalIpBlocker(f: Facts): CondSpec | undefined {
  if (!f.globalnet || f.service?.headless === true) return undefined;
  const gip = f.globalIp;
  if (gip.phase === "allocated") return undefined;
  if (gip.phase === "failed")
    return cond("Valid", "False", gip.reason, `Unable to obtain global IP: ${gip.message}`);
  return GLOBAL_IP_UNAVAILABLE;
}

function lighthouseBlocker(f: Facts, v: LighthouseVocabulary): CondSpec[] | undefined {
  if (f.restricted) {
    const msg = `Service in namespace "${f.namespace}" cannot be exported due to namespace restriction`;
    return [cond("Valid", "False", "RestrictedNamespace", msg)];
  }
  if (f.service === undefined) {
    const valid = cond("Valid", "False", v.noServiceReason, "Service to be exported doesn't exist");
    const gone =
      v.readyType && f.importExisted
        ? [cond(v.readyType, "False", "NoServiceImport", "ServiceImport was deleted")]
        : [];
    return [valid, ...gone];
  }
  const badType = lighthouseTypeInvalid(f);
  if (badType !== undefined)
    return [cond("Valid", "False", v.invalidTypeReason, `Service of type ${badType} not supported`)];
  const ip = lighthouseGlobalIpBlocker(f);
  return ip ? [ip] : undefined;
}

function lighthouseAddress(f: Facts): string | undefined {
  if (f.service?.headless !== false) return undefined;
  if (f.globalnet) return f.globalIp.phase === "allocated" ? f.globalIp.ip : undefined;
  return f.service.clusterIP;
}

function lighthouse(f: Facts, v: LighthouseVocabulary): Outcome {
  const block = lighthouseBlocker(f, v);
  if (block) return blocked(block);
  const address = lighthouseAddress(f);
  if (v.readyType === undefined) return lighthouseLegacy(f, address);
  const base = { remove: [], proceed: true, address };
  const valid = cond("Valid", "True", v.validTrueReason, "");
  if (f.stage === "reacted") return { ...base, set: [valid], advance: true, slice: false, publish: false };
  const awaiting = "ServiceImport created - awaiting aggregation on the broker";
  const pending = cond(v.readyType, "False", v.awaitingReason, awaiting);
  if (f.stage === "imported")
    return { ...base, set: [valid, pending], advance: true, slice: false, publish: false };
  // The broker answered the aggregation: conflicts and broker errors surface here, and stop the export.
  const failure = lighthouseBrokerFailure(f, v);
  if (failure) return { ...base, set: [valid, ...failure], advance: false, slice: false, publish: false };
  if (f.stage === "aggregated")
    return { ...base, set: [valid, pending], advance: true, slice: true, publish: false };
  const ready = cond(
    v.readyType,
    "True",
    v.exportedReason,
    "Service was successfully exported to the broker",
  );
  return { ...base, set: [valid, ready], advance: false, slice: true, publish: true };
}

function lighthouseBrokerFailure(f: Facts, v: LighthouseVocabulary): CondSpec[] | undefined {
  const readyType = v.readyType!;
  if (f.faults.has("type-conflict")) {
    const msg =
      `The service type "ClusterSetIP" of cluster "${f.clusterId}" conflicts with the type "Headless" ` +
      'of the oldest export (cluster "cluster-peer")';
    return [
      cond(readyType, "False", "ExportFailed", "Unable to export due to an irresolvable conflict"),
      cond("Conflict", "True", v.typeConflictReason, msg),
    ];
  }
  if (f.faults.has("export-failed"))
    return [cond(readyType, "False", "ExportFailed", "Unable to export: the broker rejected the request")];
  return undefined;
}

// ≤0.13: a single Valid condition carries the whole life cycle; no EndpointSlice, no conflict detection.
function lighthouseLegacy(f: Facts, address: string | undefined): Outcome {
  const base = { remove: [], proceed: true, slice: false, address };
  const stuck = f.stage === "aggregated" && f.faults.has("export-failed");
  if (f.stage !== "synced") {
    const awaiting = cond(
      "Valid",
      "False",
      "AwaitingSync",
      "Awaiting sync of the ServiceImport to the broker",
    );
    return { ...base, set: [awaiting], advance: !stuck, publish: false };
  }
  const synced = cond("Valid", "True", "", "Service was successfully synced to the broker");
  return { ...base, set: [synced], advance: false, publish: true };
}

// ---- Cilium -----------------------------------------------------------------------------------------

function cilium(f: Facts): Outcome {
  const invalid = (reason: string, msg: string): Outcome =>
    blocked(
      [cond("Valid", "False", reason, msg), cond("Ready", "False", "Pending", "ServiceExport is not valid")],
      ["Conflict"],
    );
  if (f.service === undefined) return invalid("NoService", "Service doesn't exist");
  if (f.service.type === "ExternalName" || f.faults.has("invalid-type"))
    return invalid("InvalidServiceType", "Service type ExternalName is not supported");
  const conflict = f.faults.has("type-conflict")
    ? cond(
        "Conflict",
        "True",
        "TypeConflict",
        'Conflicting type. 1/2 clusters disagree. Using "Headless" from oldest service export in cluster "cluster-peer".',
      )
    : cond("Conflict", "False", "NoConflicts", "ServiceExport has no conflicts");
  const set = [
    cond("Valid", "True", "Valid", "ServiceExport is valid"),
    cond("Ready", "True", "Ready", "ServiceExport is ready"),
    conflict,
  ];
  const publish = f.stage === "synced" && !f.service.headless;
  return { set, remove: [], proceed: true, advance: true, slice: false, publish, address: undefined };
}

// ---- Antrea -----------------------------------------------------------------------------------------

function antreaBlocker(f: Facts): CondSpec | undefined {
  if (f.service === undefined) return cond("Valid", "False", "ServiceNotFound", "Service does not exist");
  if (f.service.type === "ExternalName" || f.faults.has("invalid-type"))
    return cond("Valid", "False", "ServiceTypeNotSupported", "Service of ExternalName type is not supported");
  // Antrea checks endpoints before the ClusterIP (serviceexport_controller.go Reconcile order).
  if (!f.endpointsReady) return cond("Valid", "False", "ServiceWithoutEndpoints", "Service has no Endpoints");
  if (f.service.headless || !f.service.clusterIP)
    return cond("Valid", "False", "ServiceNoClusterIP", "Service does not have a valid ClusterIP");
  return undefined;
}

function antrea(f: Facts): Outcome {
  const block = antreaBlocker(f);
  if (block) return blocked([block]);
  // Status is written only after the ResourceExport reached the leader cluster (one round trip).
  const set = EARLY.includes(f.stage)
    ? []
    : [cond("Valid", "True", "Succeed", "The Service is exported successfully")];
  return { set, remove: [], proceed: true, advance: true, slice: false, publish: false, address: undefined };
}

// ---- Writing ----------------------------------------------------------------------------------------

/** Lighthouse ≤0.12 kept at most this many appended conditions. */
export const MAX_APPENDED_CONDITIONS = 10;

const same = (a: CondSpec, b: CondSpec): boolean =>
  a.type === b.type && a.status === b.status && a.reason === b.reason && a.message === b.message;

/** Applies an outcome the way the profile's controller edits its list; returns undefined when unchanged. */
export function applyOutcome(
  current: readonly Condition[],
  out: Outcome,
  info: ProfileInfo,
  now: string,
): Condition[] | undefined {
  return info.appendConditions ? appendMode(current, out, now) : setMode(current, out, info, now);
}

function appendMode(current: readonly Condition[], out: Outcome, now: string): Condition[] | undefined {
  const list = [...current];
  for (const c of out.set) {
    const last = list.at(-1);
    if (last && same(last, c)) continue;
    list.push({ ...c, lastTransitionTime: now });
  }
  if (list.length === current.length) return undefined;
  return list.slice(-MAX_APPENDED_CONDITIONS);
}

function setMode(
  current: readonly Condition[],
  out: Outcome,
  info: ProfileInfo,
  now: string,
): Condition[] | undefined {
  let changed = false;
  const list = current.filter((c) => {
    const keep = !out.remove.includes(c.type);
    changed ||= !keep;
    return keep;
  });
  for (const c of out.set) {
    const i = list.findIndex((x) => x.type === c.type);
    const prev = list[i];
    if (prev && same(prev, c)) continue;
    const keepTime = prev !== undefined && info.lttOnStatusChangeOnly && prev.status === c.status;
    const next = { ...c, lastTransitionTime: keepTime ? prev.lastTransitionTime : now };
    if (prev) list[i] = next;
    else list.push(next);
    changed = true;
  }
  return changed ? list : undefined;
}

/**
 * What the emulator stores when the CRD rejects the exact legacy shape. mcs-api ≥2021 CRDs type
 * conditions as metav1.Condition: reason minLength 1 + pattern, message required, list-map keyed by
 * type. Lighthouse ≤0.20 wrote empty reasons; against such a CRD the real controller's update fails
 * (422), so the emulator stores the nearest valid shape instead. Observed on kube-apiserver 1.35 with
 * the mcs-api 0.5.2 CRD: empty reasons are rejected, but duplicate types (Lighthouse ≤0.12's appended
 * list) are accepted, so duplicates are only collapsed at level 2, if an apiserver rejects them too.
 */
export const EMPTY_REASON_SUBSTITUTES: Readonly<Record<string, string>> = {
  Valid: "Valid",
  Ready: "Exported",
  Synced: "Exported",
};

/** 0 = exact; 1 = empty reasons substituted; 2 = also duplicate types collapsed to the last. */
export type SchemaLevel = 0 | 1 | 2;

export function adaptToSchema(
  list: readonly Condition[],
  level: SchemaLevel,
): { conditions: Condition[]; deviations: string[] } {
  const deviations = new Set<string>();
  let conditions = list.map((c) => {
    if (level === 0 || c.reason !== "") return c;
    const reason = EMPTY_REASON_SUBSTITUTES[c.type] ?? "Unspecified";
    deviations.add(`empty reason of "${c.type}" stored as "${reason}" (CRD: reason minLength 1)`);
    return { ...c, reason };
  });
  if (level === 2) {
    const byType = new Map<string, Condition>();
    for (const c of conditions) {
      if (byType.delete(c.type))
        deviations.add(`duplicate "${c.type}" conditions collapsed to the last (list-map)`);
      byType.set(c.type, c);
    }
    conditions = [...byType.values()];
  }
  return { conditions, deviations: [...deviations] };
}

/** RFC 3339 with second precision, like metav1.Time. */
export function nowRfc3339(date = new Date()): string {
  return date.toISOString().replace(/\.\d{3}Z$/, "Z");
}
