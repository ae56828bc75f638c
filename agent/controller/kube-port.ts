// What controller mode needs from the Kubernetes API (the shipped controller Role grants exactly this).
import type { ExportCondition, ObjectRef } from "../ports.ts";

export const ENDPOINTS_CONFIGMAP = "rook-ceph-mon-endpoints";
export const CONFIG_SECRET = "rook-ceph-config";
export const ANNOTATION_WRITER = "ceph-mcs-agent.io/written-by";

/** A stored object the controller writes: its data and the version a conditional write needs. */
export interface Versioned<T> {
  value: T;
  resourceVersion: string;
  uid: string;
}

export interface DaemonService {
  name: string;
  uid: string;
  clusterIP: string | undefined;
  annotations: Readonly<Record<string, string>>;
  /** No field manager other than the agent ever wrote it. */
  createdByAgent: boolean;
}

export interface DaemonExport {
  name: string;
  uid: string;
  annotations: Readonly<Record<string, string>>;
  conditions: readonly ExportCondition[];
  createdByAgent: boolean;
  /** Rook creates its exports with the CephCluster as controller owner. */
  ownedByCephCluster: boolean;
}

export interface ClusterEvent {
  regarding: ObjectRef & { kind: string; apiVersion: string };
  type: "Normal" | "Warning";
  reason: string;
  action: string;
  note: string;
}

export type Watched = "configmap" | "secret" | "services" | "serviceexports" | "deployments" | "cephclusters";

export interface ControllerKubePort {
  readCephCluster(): Promise<unknown>;
  readEndpoints(): Promise<Versioned<Record<string, string>> | undefined>;
  /** Secret `rook-ceph-config` `mon_host`, decoded. */
  readMonHost(): Promise<Versioned<string | undefined> | undefined>;
  /** Merge patch of some data keys, conditional on `resourceVersion` (409 when it moved). */
  patchEndpoints(data: Record<string, string>, resourceVersion: string, writer: string): Promise<string>;
  patchMonHost(monHost: string, resourceVersion: string, writer: string): Promise<string>;
  listDaemonServices(): Promise<DaemonService[]>;
  /** Undefined when the MCS API is not served. */
  listDaemonExports(): Promise<DaemonExport[] | undefined>;
  /** Names of the mon and OSD Deployments. */
  listDaemonDeployments(): Promise<string[]>;
  /** Deletes with a uid precondition: never a re-created object of the same name. */
  deleteService(name: string, uid: string): Promise<void>;
  deleteServiceExport(name: string, uid: string): Promise<void>;
  /** Best effort. */
  emitEvent(event: ClusterEvent): Promise<void>;
  /** Calls `onChange` on every change of the watched objects until `signal`; restarts itself on errors. */
  watch(onChange: (what: Watched) => void, signal: AbortSignal): void;
}
