// InitKubePort over client-node. Server-side apply without force: an existing Rook-made object with
// the same values is adopted (shared ownership); one with different values is a clear conflict error.
import {
  PatchStrategy,
  V1MicroTime,
  setHeaderOptions,
  type EventsV1Event,
  type V1Service,
} from "@kubernetes/client-node";
import { AgentError, apiErrorInfo, classify, wrap } from "../errors.ts";
import type { ObjectRef } from "../ports.ts";
import type {
  ApiSurface,
  ExportObservation,
  ExportVersion,
  InitKubePort,
  PodEvent,
  ServiceState,
} from "../init/kube-port.ts";
import { FIELD_MANAGER } from "../mcs/objects.ts";
import type { KubeClients } from "./client.ts";
import { watchObject } from "./watch.ts";

const MCS_GROUP = "multicluster.x-k8s.io";
const LIGHTHOUSE_MANAGER = "lighthouse-agent.submariner.io";

interface CustomRef {
  group: string;
  version: string;
  namespace: string;
  plural: string;
}

interface Meta {
  metadata?: { resourceVersion?: string; annotations?: Record<string, string> };
  status?: { conditions?: unknown; allocatedIP?: string };
  spec?: { ips?: string[] };
}

const refName = (kind: string, ref: ObjectRef): string => `${kind} ${ref.namespace}/${ref.name}`;

function metaOf(body: object): ObjectRef {
  const m = (body as { metadata: ObjectRef }).metadata;
  return { namespace: m.namespace, name: m.name };
}

export async function orUndefinedOn404<T>(p: Promise<T>): Promise<T | undefined> {
  try {
    return await p;
  } catch (err) {
    if (classify(err) === "notFound") return undefined;
    throw err;
  }
}

function applyHint(kind: string, err: unknown): string | undefined {
  return classify(err) === "conflict" ? conflictHint(kind) : rbacHint(err);
}

function conflictHint(kind: string): string {
  return `another tool owns fields of this ${kind} with different values; compare it with the agent's desired object (kubectl get -o yaml --show-managed-fields) and remove the conflicting fields or the object, then restart the pod`;
}

export function initKube(c: KubeClients): InitKubePort {
  const ssa = setHeaderOptions("Content-Type", PatchStrategy.ServerSideApply, c.opts);
  const merge = setHeaderOptions("Content-Type", PatchStrategy.MergePatch, c.opts);
  const exportApi = (version: ExportVersion, ns: string): CustomRef => ({
    group: MCS_GROUP,
    version,
    namespace: ns,
    plural: "serviceexports",
  });

  /** A custom object that may legitimately be absent (undefined), with one error wording. */
  const getOptional = async (
    api: Omit<CustomRef, "namespace">,
    ref: ObjectRef,
    kind: string,
  ): Promise<Meta | undefined> => {
    const request = { ...api, namespace: ref.namespace, name: ref.name };
    try {
      return (await orUndefinedOn404(c.custom.getNamespacedCustomObject(request, c.opts))) as
        Meta | undefined;
    } catch (err) {
      throw wrap(err, `read the ${kind}`, refName(kind, ref), rbacHint(err));
    }
  };

  const readExport = async (
    version: ExportVersion,
    ref: ObjectRef,
  ): Promise<{ item: ExportObservation | undefined; resourceVersion: string }> => {
    const obj = (await orUndefinedOn404(
      c.custom.getNamespacedCustomObject({ ...exportApi(version, ref.namespace), name: ref.name }, c.opts),
    )) as Meta | undefined;
    return { item: obj && toObservation(obj), resourceVersion: obj?.metadata?.resourceVersion ?? "0" };
  };

  return {
    async readCephCluster(namespace, name) {
      const api = { group: "ceph.rook.io", version: "v1", namespace, plural: "cephclusters" };
      const object = `CephCluster ${namespace}/${name ?? "*"}`;
      try {
        if (name) return (await c.custom.getNamespacedCustomObject({ ...api, name }, c.opts)) as unknown;
        return onlyItem(
          (await c.custom.listNamespacedCustomObject(api, c.opts)) as { items?: unknown[] },
          namespace,
        );
      } catch (err) {
        throw wrap(
          err,
          "read the CephCluster",
          object,
          "check CEPH_MCS_CEPHCLUSTER and that the agent's Role may get/list cephclusters",
        );
      }
    },

    async readPodLabels(pod) {
      try {
        return (await c.core.readNamespacedPod(pod, c.opts)).metadata?.labels ?? {};
      } catch (err) {
        throw wrap(
          err,
          "read the pod's labels",
          refName("Pod", pod),
          "set CEPH_MCS_DAEMON_TYPE/CEPH_MCS_DAEMON_ID or allow get on pods",
        );
      }
    },

    async discover() {
      try {
        return apiSurface((await c.apis.getAPIVersions({}, c.opts)).groups);
      } catch (err) {
        throw wrap(err, "discover the served API groups", "GET /apis", "check the API server is reachable");
      }
    },

    async applyService(body) {
      const ref = metaOf(body);
      const apply = (force: boolean): Promise<V1Service> =>
        c.core.patchNamespacedService({ ...ref, body, fieldManager: FIELD_MANAGER, force }, ssa);
      try {
        return serviceState(
          await apply(false).catch(async (err: unknown) => {
            if (!onlyTakeableConflicts(err)) throw err;
            return apply(true);
          }),
        );
      } catch (err) {
        throw wrap(err, "apply the daemon's Service", refName("Service", ref), applyHint("Service", err));
      }
    },

    async applyServiceExport(version, body) {
      const ref = metaOf(body);
      try {
        const obj = (await c.custom.patchNamespacedCustomObject(
          { ...exportApi(version, ref.namespace), name: ref.name, body, fieldManager: FIELD_MANAGER },
          ssa,
        )) as Meta;
        return toObservation(obj);
      } catch (err) {
        throw wrap(
          err,
          "apply the ServiceExport",
          refName("ServiceExport", ref),
          applyHint("ServiceExport", err),
        );
      }
    },

    watchServiceExport(version, ref, resourceVersion, signal) {
      const path = `/apis/${MCS_GROUP}/${version}/namespaces/${ref.namespace}/serviceexports`;
      return watchObject<ExportObservation>(
        {
          kc: c.kc,
          path,
          query: { fieldSelector: `metadata.name=${ref.name}` },
          relist: () =>
            readExport(version, ref).catch((err: unknown) => {
              throw wrap(
                err,
                "re-read the ServiceExport after its watch expired",
                refName("ServiceExport", ref),
                rbacHint(err),
              );
            }),
          convert: (obj) => toObservation(obj as Meta),
          onConnect: () => {
            c.stats.requests++;
          },
        },
        resourceVersion,
        signal,
      );
    },

    async readGlobalIngressIP(ref) {
      const api = { group: "submariner.io", version: "v1", plural: "globalingressips" };
      const gii = await getOptional(api, ref, "GlobalIngressIP");
      if (!gii) return undefined;
      const ip = gii.status?.allocatedIP;
      return ip ? [ip] : [];
    },

    async readLighthouseAddresses(ref, clusterID) {
      const labelSelector = [
        `multicluster.kubernetes.io/service-name=${ref.name}`,
        `multicluster.kubernetes.io/source-cluster=${clusterID}`,
        `endpointslice.kubernetes.io/managed-by=${LIGHTHOUSE_MANAGER}`,
      ].join(",");
      try {
        const list = await c.discovery.listNamespacedEndpointSlice(
          { namespace: ref.namespace, labelSelector },
          c.opts,
        );
        if (list.items.length === 0) return undefined;
        return list.items.flatMap((s) => (s.endpoints ?? []).flatMap((e) => e.addresses));
      } catch (err) {
        throw wrap(
          err,
          "list the Lighthouse EndpointSlices",
          refName("EndpointSlices of", ref),
          rbacHint(err),
        );
      }
    },

    async readClusterSetVIPs(version, ref) {
      const si = await getOptional(
        { group: MCS_GROUP, version, plural: "serviceimports" },
        ref,
        "ServiceImport",
      );
      return si?.spec?.ips ?? [];
    },

    async pinAddress(version, ref, annotations) {
      const body = { metadata: { annotations } };
      const api = { ...exportApi(version, ref.namespace), name: ref.name, body, fieldManager: FIELD_MANAGER };
      try {
        await c.core.patchNamespacedService({ ...ref, body, fieldManager: FIELD_MANAGER }, merge);
        await c.custom.patchNamespacedCustomObject(api, merge);
      } catch (err) {
        const object = refName("Service and ServiceExport", ref);
        throw wrap(err, "pin the global IP", object, rbacHint(err));
      }
    },

    async emitEvent(pod, event) {
      await c.events
        .createNamespacedEvent({ namespace: pod.namespace, body: eventBody(pod, event) }, c.opts)
        .catch(() => undefined);
    },
  };
}

// Rook's CreateOrUpdateService replaces the whole Service, taking ownership of fields it does not set
// (publishNotReadyAddresses, our labels); taking those back is safe. Anything else is a real conflict.
const TAKEABLE = [
  /^\.spec\.publishNotReadyAddresses$/,
  /^\.metadata\.labels\./,
  /^\.metadata\.annotations\./,
];

function onlyTakeableConflicts(err: unknown): boolean {
  if (classify(err) !== "conflict") return false;
  const fields = [...(apiErrorInfo(err)?.message ?? "").matchAll(/: (\.[^\s,]+)/g)].map((m) => m[1] ?? "");
  return fields.length > 0 && fields.every((f) => TAKEABLE.some((re) => re.test(f)));
}

export function onlyItem(list: { items?: unknown[] }, namespace: string): unknown {
  const items = list.items ?? [];
  if (items.length === 1) return items[0];
  const what = items.length === 0 ? "no CephCluster" : `${items.length} CephClusters`;
  throw new AgentError(
    items.length === 0 ? "notFound" : "permanent",
    `found ${what} in namespace ${namespace}`,
    {
      hint: "set CEPH_MCS_CEPHCLUSTER to the CephCluster's name",
    },
  );
}

export function rbacHint(err: unknown): string | undefined {
  const status = (err as { code?: number }).code;
  return status === 403 ? "grant the agent's ServiceAccount the Role shipped in manifests/" : undefined;
}

export function apiSurface(groups: { name: string; versions: { version: string }[] }[]): ApiSurface {
  const versionsOf = (g: string): string[] =>
    groups.find((x) => x.name === g)?.versions.map((v) => v.version) ?? [];
  const mcs = versionsOf(MCS_GROUP);
  const exportVersion = mcs.includes("v1beta1")
    ? "v1beta1"
    : mcs.includes("v1alpha1")
      ? "v1alpha1"
      : undefined;
  return { exportVersion, globalnet: versionsOf("submariner.io").includes("v1") };
}

function serviceState(svc: V1Service): ServiceState {
  const managers = (svc.metadata?.managedFields ?? []).map((f) => f.manager);
  return {
    clusterIP: svc.spec?.clusterIP,
    type: svc.spec?.type ?? "ClusterIP",
    annotations: svc.metadata?.annotations ?? {},
    createdByAgent: managers.every((m) => m === FIELD_MANAGER),
  };
}

function toObservation(obj: Meta): ExportObservation {
  return {
    conditions: obj.status?.conditions ?? [],
    resourceVersion: obj.metadata?.resourceVersion ?? "",
    annotations: obj.metadata?.annotations ?? {},
  };
}

function eventBody(pod: ObjectRef, event: PodEvent): EventsV1Event {
  return {
    // client-go's naming: <object>.<unique hex> (a generateName may not end with a dot).
    metadata: { name: `${pod.name}.${uniqueSuffix()}`, namespace: pod.namespace },
    eventTime: new V1MicroTime(),
    reportingController: "ceph-mcs-agent.io/init",
    reportingInstance: pod.name,
    action: "ResolveGlobalAddress",
    reason: event.reason,
    note: event.note.slice(0, 1000),
    type: event.type,
    regarding: { apiVersion: "v1", kind: "Pod", namespace: pod.namespace, name: pod.name, uid: pod.uid },
  };
}

export function uniqueSuffix(): string {
  return `${Date.now().toString(16)}${Math.floor(Math.random() * 0xffff)
    .toString(16)
    .padStart(4, "0")}`;
}
