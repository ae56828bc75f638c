// What init mode needs from the Kubernetes API, and nothing more (the shipped Role grants exactly this).
import type { ObjectRef } from "../ports.ts";

export type ExportVersion = "v1alpha1" | "v1beta1";

export interface ApiSurface {
  /** The ServiceExport version to use: v1beta1 when served, else v1alpha1; undefined = no MCS API. */
  exportVersion: ExportVersion | undefined;
  /** Whether Globalnet's `submariner.io/v1` (GlobalIngressIP) is served. */
  globalnet: boolean;
}

export interface ServiceState {
  clusterIP: string | undefined;
  type: string;
  annotations: Readonly<Record<string, string>>;
  /** True when no field manager other than the agent has ever written the Service. */
  createdByAgent: boolean;
}

export interface ExportObservation {
  conditions: unknown;
  resourceVersion: string;
  annotations: Readonly<Record<string, string>>;
}

export interface PodEvent {
  type: "Normal" | "Warning";
  reason: string;
  note: string;
}

export interface InitKubePort {
  /** The CephCluster as stored; `name` absent = the only one in the namespace. */
  readCephCluster: (namespace: string, name: string | undefined) => Promise<unknown>;
  readPodLabels: (pod: ObjectRef) => Promise<Readonly<Record<string, string>>>;
  discover: () => Promise<ApiSurface>;
  /** Server-side apply without force: adopts a compatible existing object, refuses a conflicting one. */
  applyService: (body: object) => Promise<ServiceState>;
  applyServiceExport: (version: ExportVersion, body: object) => Promise<ExportObservation>;
  /** Yields every change of the export (undefined = deleted) from `resourceVersion` on, until `signal`. */
  watchServiceExport: (
    version: ExportVersion,
    ref: ObjectRef,
    resourceVersion: string,
    signal: AbortSignal,
  ) => AsyncIterable<ExportObservation | undefined>;
  /**
   * GlobalIngressIP status.allocatedIP; [] while not allocated; undefined when there is no such object
   * (Submariner installs the CRD with or without Globalnet; only Globalnet creates the objects, and
   * Lighthouse marks a Globalnet export Valid only after its GlobalIngressIP exists).
   */
  readGlobalIngressIP: (ref: ObjectRef) => Promise<string[] | undefined>;
  /** Addresses of the Lighthouse EndpointSlices of this cluster; undefined when there are none. */
  readLighthouseAddresses: (ref: ObjectRef, clusterID: string) => Promise<string[] | undefined>;
  /** ServiceImport spec.ips (clusterset VIPs), which must never become a daemon's address. */
  readClusterSetVIPs: (version: ExportVersion, ref: ObjectRef) => Promise<string[]>;
  /**
   * Records the chosen address on the Service and on the ServiceExport (merge patches, so later applies
   * keep them): Rook's full Service updates drop the Service's copy, a re-created export loses its copy.
   */
  pinAddress: (
    version: ExportVersion,
    ref: ObjectRef,
    annotations: Readonly<Record<string, string>>,
  ) => Promise<void>;
  /** Best effort: never fails the caller. */
  emitEvent: (pod: ObjectRef, event: PodEvent) => Promise<void>;
}
