// Faults a test can inject per Service, either through Emulator.setFaults() or an annotation
// `mcs-emulator.test/faults: "a,b"` on the Service or on the ServiceExport (both are read; union).
import type { Implementation } from "./profiles.ts";

export type FaultName =
  | "invalid-type"
  | "restricted-namespace"
  | "pool-exhausted"
  | "type-conflict"
  | "silent"
  | "export-failed"
  | "dns-disagrees"
  | "endpointslice-disagrees"
  | "dns-multiple";

export interface FaultInfo {
  description: string;
  /** What each implementation does; a missing entry means the fault is ignored there (no such behaviour). */
  effect: Partial<Record<Implementation, string>>;
}

export const FAULT_ANNOTATION = "mcs-emulator.test/faults";

export const FAULTS: Readonly<Record<FaultName, FaultInfo>> = {
  "invalid-type": {
    description: "controller sees an unsupported Service type (real NodePort/LoadBalancer/ExternalName too)",
    effect: {
      lighthouse:
        'Valid=False UnsupportedServiceType (≥0.21: InvalidServiceType) "Service of type NodePort not supported"',
      cilium:
        'Valid=False InvalidServiceType "Service type ExternalName is not supported" + Ready=False Pending',
      antrea: 'Valid=False ServiceTypeNotSupported "Service of ExternalName type is not supported"',
    },
  },
  "restricted-namespace": {
    description: "namespace on Lighthouse's import-namespace-deny-list (2026 security backports)",
    effect: {
      lighthouse:
        'Valid=False RestrictedNamespace "Service in namespace "<ns>" cannot be exported due to namespace restriction"',
    },
  },
  "pool-exhausted": {
    description: "Globalnet cannot allocate (also happens for real when the CIDR is full)",
    effect: {
      lighthouse:
        "GlobalIngressIP Allocated=False IPPoolAllocationFailed; Valid=False IPPoolAllocationFailed " +
        '"Unable to obtain global IP: Error allocating a global IP from the pool: insufficient IPs available for allocation"',
    },
  },
  "type-conflict": {
    description: "another cluster exports the same name as headless (oldest export wins)",
    effect: {
      lighthouse:
        'Conflict=True ConflictingType (≥0.21 TypeConflict) + Ready=False ExportFailed "Unable to export due to an ' +
        'irresolvable conflict"; no EndpointSlice, no DNS (0.12: no conflict detection, ignored)',
      cilium:
        'Conflict=True TypeConflict "Conflicting type. 1/2 clusters disagree. …"; Valid/Ready stay True',
    },
  },
  silent: {
    description: "the controller writes no status at all for Delays.silence, then proceeds",
    effect: {
      lighthouse: "no conditions for a while",
      cilium: "no conditions for a while",
      antrea: "no conditions for a while",
    },
  },
  "export-failed": {
    description: "the broker rejects the export",
    effect: {
      lighthouse:
        'Ready (0.15: Synced)=False ExportFailed "Unable to export: …"; no DNS (0.12: stays Valid=False AwaitingSync)',
    },
  },
  "dns-disagrees": {
    description: "the DNS record carries another IP than the GlobalIngressIP / EndpointSlice",
    effect: {
      lighthouse: "<cluster>.<svc>.<ns>.svc.clusterset.local → a decoy IP",
      cilium: "VIP record → decoy",
    },
  },
  "endpointslice-disagrees": {
    description: "the Lighthouse EndpointSlice carries another IP than the GlobalIngressIP / DNS",
    effect: { lighthouse: "endpoints[0].addresses[0] = a decoy IP (profiles with an EndpointSlice)" },
  },
  "dns-multiple": {
    description: "DNS answers with several A/AAAA records for the cluster-specific name",
    effect: {
      lighthouse: "<cluster>.<svc>.<ns>.svc.clusterset.local → [exported IP, decoy]",
      cilium: "[VIP, decoy]",
    },
  },
};

export const FAULT_NAMES = Object.keys(FAULTS) as FaultName[];

export function isFaultName(s: string): s is FaultName {
  return (FAULT_NAMES as string[]).includes(s);
}

/** Parses the annotation value; unknown names are reported so a typo in a test fails loudly. */
export function parseFaultList(value: string | undefined): { faults: FaultName[]; unknown: string[] } {
  const names = (value ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
  return { faults: names.filter(isFaultName), unknown: names.filter((n) => !isFaultName(n)) };
}
