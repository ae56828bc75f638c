// Desired objects as plain JSON for server-side apply. They match what Rook writes (research/rook-mcs.md
// §3) so that Rook and the agent can own the same fields with the same values without a conflict.
import type { DaemonRef } from "../ports.ts";
import { serviceName } from "./naming.ts";

/** The one field manager for everything the agent applies. */
export const FIELD_MANAGER = "ceph-mcs-agent";
/** The global IP the daemon was first given; checked on every start. */
export const ANNOTATION_GLOBAL_IP = "ceph-mcs-agent.io/global-ip";
/** When the global IP was pinned (RFC 3339). */
export const ANNOTATION_PINNED_AT = "ceph-mcs-agent.io/pinned-at";
/** Marks objects the agent applied, so cleanup can list them by selector. */
export const LABEL_MANAGED = "ceph-mcs-agent.io/managed";

export const MCS_GROUP = "multicluster.x-k8s.io";
export type ExportApiVersion = "v1alpha1" | "v1beta1";

export const MON_MSGR1_PORT = 6789;
export const MON_MSGR2_PORT = 3300;
export const OSD_V2_PORT = 6800;
export const OSD_V1_PORT = 6801;

export interface CephClusterRef {
  name: string;
  namespace: string;
  uid: string;
}

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller: boolean;
  blockOwnerDeletion: boolean;
}

export interface ServicePort {
  name: string;
  protocol: "TCP";
  port: number;
  targetPort: number;
}

export interface ServiceBody {
  apiVersion: "v1";
  kind: "Service";
  metadata: {
    name: string;
    namespace: string;
    labels: Record<string, string>;
    annotations?: Record<string, string>;
    ownerReferences: OwnerReference[];
  };
  spec: {
    type: "ClusterIP";
    selector: Record<string, string>;
    ports: ServicePort[];
    publishNotReadyAddresses: true;
  };
}

export interface ServiceExportBody {
  apiVersion: `${typeof MCS_GROUP}/${ExportApiVersion}`;
  kind: "ServiceExport";
  metadata: {
    name: string;
    namespace: string;
    labels: Record<string, string>;
    ownerReferences: OwnerReference[];
  };
}

export interface Pin {
  ip: string;
  /** RFC 3339 time. */
  pinnedAt: string;
}

export interface ServiceOptions {
  /** `spec.network.connections.requireMsgr2`: no msgr1 port. */
  msgr2Only: boolean;
  /**
   * The pinned global IP. Pass it on every apply once pinned: server-side apply removes fields this
   * manager applied before and omits now, so an apply without it would delete the pin.
   */
  pin?: Pin;
}

/** A plain (non-controller) reference to the CephCluster, exactly as Rook sets it. */
/**
 * Exactly Rook's controller reference (metav1.NewControllerRef): an owner reference is one atomic value
 * for server-side apply, so any difference from Rook's would conflict on every Service Rook made.
 */
export function cephClusterOwner(cluster: Pick<CephClusterRef, "name" | "uid">): OwnerReference {
  return {
    apiVersion: "ceph.rook.io/v1",
    kind: "CephCluster",
    name: cluster.name,
    uid: cluster.uid,
    controller: true,
    blockOwnerDeletion: true,
  };
}

/** Rook's Service selector for the daemon (`getLabels(mon, false, false)` / `{app, ceph-osd-id}`). */
export function serviceSelector(daemon: DaemonRef, namespace: string): Record<string, string> {
  if (daemon.type === "osd") return { app: "rook-ceph-osd", "ceph-osd-id": daemon.id };
  return {
    app: "rook-ceph-mon",
    rook_cluster: namespace,
    ceph_daemon_id: daemon.id,
    mon: daemon.id,
    mon_cluster: namespace,
  };
}

/** The selector labels plus Rook's daemon labels, plus the agent's marker. */
export function serviceLabels(daemon: DaemonRef, namespace: string): Record<string, string> {
  return {
    ...serviceSelector(daemon, namespace),
    rook_cluster: namespace,
    ceph_daemon_type: daemon.type,
    ceph_daemon_id: daemon.id,
    [daemon.type]: daemon.id,
    [LABEL_MANAGED]: "true",
  };
}

function tcp(name: string, port: number): ServicePort {
  return { name, protocol: "TCP", port, targetPort: port };
}

/** Rook's port names and numbers; msgr1 ports only when msgr1 is allowed. */
export function servicePorts(daemon: DaemonRef, opts: { msgr2Only: boolean }): ServicePort[] {
  if (daemon.type === "mon") {
    const v2 = tcp("tcp-msgr2", MON_MSGR2_PORT);
    return opts.msgr2Only ? [v2] : [tcp("tcp-msgr1", MON_MSGR1_PORT), v2];
  }
  const v2 = tcp("osd-port-v2", OSD_V2_PORT);
  return opts.msgr2Only ? [v2] : [tcp("osd-port-v1", OSD_V1_PORT), v2];
}

/** The annotations that pin a global IP. */
export function pinAnnotations(pin: Pin): Record<string, string> {
  return { [ANNOTATION_GLOBAL_IP]: pin.ip, [ANNOTATION_PINNED_AT]: pin.pinnedAt };
}

/**
 * The daemon's ClusterIP Service. `publishNotReadyAddresses` lets the export proceed while the pod is
 * still initialising (no canary; Antrea exports only Services with ready endpoints). No clusterIP:
 * the apiserver allocates it, and Rook's "restore the PublicIP as clusterIP" must not be copied.
 */
export function desiredService(
  daemon: DaemonRef,
  cluster: CephClusterRef,
  opts: ServiceOptions,
): ServiceBody {
  const body: ServiceBody = {
    apiVersion: "v1",
    kind: "Service",
    metadata: {
      name: serviceName(daemon),
      namespace: cluster.namespace,
      labels: serviceLabels(daemon, cluster.namespace),
      ownerReferences: [cephClusterOwner(cluster)],
    },
    spec: {
      type: "ClusterIP",
      selector: serviceSelector(daemon, cluster.namespace),
      ports: servicePorts(daemon, opts),
      publishNotReadyAddresses: true,
    },
  };
  if (opts.pin !== undefined) body.metadata.annotations = pinAnnotations(opts.pin);
  return body;
}

/**
 * The ServiceExport (same name and namespace as the Service). Owned like the Service by the
 * CephCluster, never by a pod: deleting the export can release the global IP.
 */
export function desiredServiceExport(
  version: ExportApiVersion,
  service: string,
  namespace: string,
  owner: Pick<CephClusterRef, "name" | "uid">,
): ServiceExportBody {
  return {
    apiVersion: `${MCS_GROUP}/${version}`,
    kind: "ServiceExport",
    metadata: {
      name: service,
      namespace,
      labels: { [LABEL_MANAGED]: "true" },
      ownerReferences: [cephClusterOwner(owner)],
    },
  };
}
