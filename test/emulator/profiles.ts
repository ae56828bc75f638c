// The MCS implementations the emulator imitates, one profile per behaviour worth testing against.
// Sources (read 2026): submariner-io/lighthouse pkg/agent/controller (agent.go, service_import.go,
// service_export_client.go, endpoint_slice.go, service_endpoint_slices.go at several commits),
// submariner-io/submariner pkg/globalnet + pkg/ipam, cilium/cilium operator/pkg/clustermesh/mcsapi
// (serviceimport_controller.go), antrea-io/antrea multicluster/.../member/serviceexport_controller.go,
// and research/mcs-api.md §2.2, §3. Release numbers for Lighthouse are approximate (§2.2).

export type Implementation = "lighthouse" | "cilium" | "antrea";

export type ProfileName =
  | "lighthouse-0.12"
  | "lighthouse-0.15"
  | "lighthouse-0.20"
  | "lighthouse-0.21-globalnet"
  | "cilium"
  | "antrea";

/** Lighthouse's condition vocabulary, which changed between releases. */
export interface LighthouseVocabulary {
  /** Type of the second condition: none (≤0.13), "Synced" (0.14–0.15), "Ready" (≥0.16). */
  readyType: "Ready" | "Synced" | undefined;
  validTrueReason: string;
  noServiceReason: string;
  invalidTypeReason: string;
  awaitingReason: string;
  exportedReason: string;
  typeConflictReason: string;
}

export interface ProfileInfo {
  implementation: Implementation;
  /** Which release/commit this imitates, and from what source. */
  imitates: string;
  /** Globalnet on by default (overridable for every Lighthouse profile). */
  globalnet: boolean;
  /** Lighthouse ≤0.12 appended every new condition (ring of 10) instead of replacing by type. */
  appendConditions: boolean;
  /** metav1.SetStatusCondition keeps lastTransitionTime unless the status flips; Lighthouse sets it on every change. */
  lttOnStatusChangeOnly: boolean;
  /** Lighthouse EndpointSlice for the exported IP: not made, fixed name <svc>-<ns>-<cluster>, or generateName <svc>-. */
  endpointSlice: "none" | "fixed-name" | "generate-name";
  /** DNS: Lighthouse's <cluster>.<svc>.<ns>.svc.clusterset.local + plain name; Cilium's per-cluster VIP; none. */
  dns: "lighthouse" | "clusterset-vip" | "none";
  /** How an EndpointSlice endpoint counts as ready: Lighthouse treats ready=nil as ready, Antrea needs true. */
  readyEndpoint: "nil-is-ready" | "explicit-true";
  lighthouse?: LighthouseVocabulary;
  /** Happy-path ServiceExport status writes, in order (documentation; asserted by the integration test). */
  sequence: readonly string[];
}

const LH_LEGACY: LighthouseVocabulary = {
  readyType: undefined,
  validTrueReason: "",
  noServiceReason: "ServiceUnavailable",
  invalidTypeReason: "UnsupportedServiceType",
  awaitingReason: "AwaitingSync",
  exportedReason: "",
  typeConflictReason: "ConflictingType",
};

export const PROFILES: Readonly<Record<ProfileName, ProfileInfo>> = {
  "lighthouse-0.12": {
    implementation: "lighthouse",
    imitates:
      "Submariner Lighthouse 0.12 (2022; agent.go updateExportedServiceStatus, only type Valid, appended)",
    globalnet: false,
    appendConditions: true,
    lttOnStatusChangeOnly: false,
    endpointSlice: "none",
    dns: "lighthouse",
    readyEndpoint: "nil-is-ready",
    lighthouse: LH_LEGACY,
    sequence: [
      'Valid=False AwaitingSync "Awaiting sync of the ServiceImport to the broker"',
      'Valid=True "" "Service was successfully synced to the broker" (appended: two Valid entries)',
    ],
  },
  "lighthouse-0.15": {
    implementation: "lighthouse",
    imitates: "Submariner Lighthouse 0.15 (2023; Valid + Synced, AwaitingExport)",
    globalnet: false,
    appendConditions: false,
    lttOnStatusChangeOnly: false,
    endpointSlice: "fixed-name",
    dns: "lighthouse",
    readyEndpoint: "nil-is-ready",
    lighthouse: { ...LH_LEGACY, readyType: "Synced", awaitingReason: "AwaitingExport" },
    sequence: [
      'Valid=True "" ""',
      'Synced=False AwaitingExport "ServiceImport created - awaiting aggregation on the broker"',
      'Synced=True "" "Service was successfully exported to the broker"',
    ],
  },
  "lighthouse-0.20": {
    implementation: "lighthouse",
    imitates: "Submariner Lighthouse 0.16–0.20 (2023–2025; Synced renamed Ready, empty reasons)",
    globalnet: false,
    appendConditions: false,
    lttOnStatusChangeOnly: false,
    endpointSlice: "generate-name",
    dns: "lighthouse",
    readyEndpoint: "nil-is-ready",
    lighthouse: { ...LH_LEGACY, readyType: "Ready", awaitingReason: "AwaitingExport" },
    sequence: [
      'Valid=True "" ""',
      'Ready=False AwaitingExport "ServiceImport created - awaiting aggregation on the broker"',
      'Ready=True "" "Service was successfully exported to the broker"',
    ],
  },
  "lighthouse-0.21-globalnet": {
    implementation: "lighthouse",
    imitates: "Submariner Lighthouse ≥0.21 with Globalnet (2025–2026; metav1.Condition + mcs-api reasons)",
    globalnet: true,
    appendConditions: false,
    lttOnStatusChangeOnly: false,
    endpointSlice: "generate-name",
    dns: "lighthouse",
    readyEndpoint: "nil-is-ready",
    lighthouse: {
      readyType: "Ready",
      validTrueReason: "Valid",
      noServiceReason: "NoService",
      invalidTypeReason: "InvalidServiceType",
      awaitingReason: "Pending",
      exportedReason: "Exported",
      typeConflictReason: "TypeConflict",
    },
    sequence: [
      "GlobalIngressIP created (no status)",
      'Valid=False ServiceGlobalIPUnavailable "Service doesn\'t have a global IP yet"',
      'GlobalIngressIP status.allocatedIP set, Allocated=True Success "Allocated global IP"',
      'Valid=True Valid ""',
      'Ready=False Pending "ServiceImport created - awaiting aggregation on the broker"',
      "(broker round trip) Lighthouse EndpointSlice <svc>-xxxxx with the global IP",
      'Ready=True Exported "Service was successfully exported to the broker"',
    ],
  },
  cilium: {
    implementation: "cilium",
    imitates: "Cilium ClusterMesh MCS-API (operator mcsAPIServiceImportReconciler, 2025–2026)",
    globalnet: false,
    appendConditions: false,
    lttOnStatusChangeOnly: true,
    endpointSlice: "none",
    dns: "clusterset-vip",
    readyEndpoint: "nil-is-ready",
    sequence: [
      'one write: Valid=True Valid "ServiceExport is valid", Ready=True Ready "ServiceExport is ready", ' +
        'Conflict=False NoConflicts "ServiceExport has no conflicts"',
    ],
  },
  antrea: {
    implementation: "antrea",
    imitates:
      "Antrea Multi-cluster member ServiceExportReconciler (endpointIPType ClusterIP, EndpointSlice mode)",
    globalnet: false,
    appendConditions: false,
    lttOnStatusChangeOnly: false,
    endpointSlice: "none",
    dns: "none",
    readyEndpoint: "explicit-true",
    sequence: [
      'Valid=False ServiceWithoutEndpoints "Service has no Endpoints" (until an endpoint is ready=true)',
      'Valid=True Succeed "The Service is exported successfully"',
    ],
  },
};

export const PROFILE_NAMES = Object.keys(PROFILES) as ProfileName[];

/** Delays in ms before `timeScale` is applied; the defaults are in the range seen on real clusters. */
export interface Delays {
  /** Controller reaction to a new ServiceExport. */
  react: number;
  /** Local ServiceImport creation after Valid (Lighthouse) / ResourceExport (Antrea). */
  import: number;
  /** One round trip to the broker / leader cluster / clustermesh. Lighthouse needs two before Ready
   * (aggregate ServiceImport, then its EndpointSlice), Antrea one, Cilium's DNS VIP two. */
  brokerSync: number;
  /** Globalnet creating the GlobalIngressIP. */
  giipCreate: number;
  /** Globalnet allocating the IP and programming the internal Service. */
  giipAllocate: number;
  /** How long the "silent" fault writes nothing. */
  silence: number;
  /** Back-off before retrying a failed write or a failed allocation. */
  retry: number;
}

export const DEFAULT_DELAYS: Readonly<Delays> = {
  react: 300,
  import: 100,
  brokerSync: 750,
  giipCreate: 200,
  giipAllocate: 800,
  silence: 5000,
  retry: 1000,
};
