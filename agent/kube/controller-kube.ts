// ControllerKubePort over client-node. Writes are merge patches conditional on the resourceVersion
// read, so a concurrent writer (Rook, another replica) makes them fail with 409 instead of being lost,
// and keys the controller does not own (maxMonId, mapping, finalizers, owners) are never touched.
import {
  ListWatch,
  PatchStrategy,
  setHeaderOptions,
  Watch,
  V1MicroTime,
  type EventsV1Event,
  type KubernetesListObject,
  type KubernetesObject,
  type V1ManagedFieldsEntry,
} from "@kubernetes/client-node";
import {
  CONFIG_SECRET,
  ENDPOINTS_CONFIGMAP,
  ANNOTATION_WRITER,
  type ClusterEvent,
  type ControllerKubePort,
  type DaemonExport,
  type DaemonService,
  type Watched,
} from "../controller/kube-port.ts";
import { wrap } from "../errors.ts";
import { FIELD_MANAGER, MCS_GROUP } from "../mcs/objects.ts";
import type { ExportCondition } from "../ports.ts";
import type { KubeClients } from "./client.ts";
import { apiSurface, onlyItem, orUndefinedOn404, rbacHint, uniqueSuffix } from "./init-kube.ts";

export const DAEMON_SELECTOR = "app in (rook-ceph-mon,rook-ceph-osd)";
const DAEMON_NAME_RE = /^rook-ceph-(mon-[a-z]+|osd-\d+)$/;
const RESTART_MIN_MS = 500;
const RESTART_MAX_MS = 30_000;

export interface ControllerTarget {
  namespace: string;
  cephClusterName: string | undefined;
}

/** Created by the agent: every writer of the main resource (not status) is the agent's field manager. */
function onlyAgentWrote(entries: readonly V1ManagedFieldsEntry[] | undefined): boolean {
  const main = (entries ?? []).filter((e) => (e.subresource ?? "") === "");
  return main.length > 0 && main.every((e) => e.manager === FIELD_MANAGER);
}

interface ExportObj extends KubernetesObject {
  status?: { conditions?: ExportCondition[] };
}

function toExport(o: ExportObj): DaemonExport {
  const meta = o.metadata ?? {};
  return {
    name: meta.name ?? "",
    uid: meta.uid ?? "",
    annotations: meta.annotations ?? {},
    conditions: o.status?.conditions ?? [],
    createdByAgent: onlyAgentWrote(meta.managedFields),
    ownedByCephCluster: (meta.ownerReferences ?? []).some((r) => r.kind === "CephCluster" && r.controller),
  };
}

export function controllerKube(c: KubeClients, t: ControllerTarget): ControllerKubePort {
  const ns = t.namespace;
  const merge = setHeaderOptions("Content-Type", PatchStrategy.MergePatch, c.opts);
  const fail = (err: unknown, action: string, object: string): never => {
    throw wrap(err, action, `${object} in namespace ${ns}`, rbacHint(err));
  };
  let exportVersion: Promise<string | undefined> | undefined;
  const discoverExports = (): Promise<string | undefined> => {
    exportVersion ??= c.apis
      .getAPIVersions(c.opts)
      .then((g) => apiSurface(g.groups).exportVersion)
      .catch((err: unknown) => {
        exportVersion = undefined;
        throw err;
      });
    return exportVersion;
  };
  const exportApi = (
    version: string,
  ): { group: string; version: string; namespace: string; plural: string } => ({
    group: MCS_GROUP,
    version,
    namespace: ns,
    plural: "serviceexports",
  });

  return {
    async readCephCluster() {
      const api = { group: "ceph.rook.io", version: "v1", namespace: ns, plural: "cephclusters" };
      try {
        if (t.cephClusterName)
          return (await c.custom.getNamespacedCustomObject(
            { ...api, name: t.cephClusterName },
            c.opts,
          )) as unknown;
        return onlyItem(
          (await c.custom.listNamespacedCustomObject(api, c.opts)) as { items?: unknown[] },
          ns,
        );
      } catch (err) {
        return fail(err, "read the CephCluster", `CephCluster ${t.cephClusterName ?? "*"}`);
      }
    },

    async readEndpoints() {
      try {
        const cm = await orUndefinedOn404(
          c.core.readNamespacedConfigMap({ namespace: ns, name: ENDPOINTS_CONFIGMAP }, c.opts),
        );
        if (!cm) return undefined;
        return {
          value: cm.data ?? {},
          resourceVersion: cm.metadata?.resourceVersion ?? "",
          uid: cm.metadata?.uid ?? "",
        };
      } catch (err) {
        return fail(err, "read the mon endpoints", `ConfigMap ${ENDPOINTS_CONFIGMAP}`);
      }
    },

    async readMonHost() {
      try {
        const s = await orUndefinedOn404(
          c.core.readNamespacedSecret({ namespace: ns, name: CONFIG_SECRET }, c.opts),
        );
        if (!s) return undefined;
        const raw = s.data?.mon_host;
        const value = raw === undefined ? undefined : Buffer.from(raw, "base64").toString("utf8");
        return { value, resourceVersion: s.metadata?.resourceVersion ?? "", uid: s.metadata?.uid ?? "" };
      } catch (err) {
        return fail(err, "read mon_host", `Secret ${CONFIG_SECRET}`);
      }
    },

    async patchEndpoints(data, resourceVersion, writer) {
      const body = { metadata: { resourceVersion, annotations: { [ANNOTATION_WRITER]: writer } }, data };
      try {
        const cm = await c.core.patchNamespacedConfigMap(
          { namespace: ns, name: ENDPOINTS_CONFIGMAP, body, fieldManager: FIELD_MANAGER },
          merge,
        );
        return cm.metadata?.resourceVersion ?? "";
      } catch (err) {
        return fail(err, "update the mon endpoints", `ConfigMap ${ENDPOINTS_CONFIGMAP}`);
      }
    },

    async patchMonHost(monHost, resourceVersion, writer) {
      const body = {
        metadata: { resourceVersion, annotations: { [ANNOTATION_WRITER]: writer } },
        data: { mon_host: Buffer.from(monHost, "utf8").toString("base64") },
      };
      try {
        const s = await c.core.patchNamespacedSecret(
          { namespace: ns, name: CONFIG_SECRET, body, fieldManager: FIELD_MANAGER },
          merge,
        );
        return s.metadata?.resourceVersion ?? "";
      } catch (err) {
        return fail(err, "update mon_host", `Secret ${CONFIG_SECRET}`);
      }
    },

    async listDaemonServices() {
      try {
        const list = await c.core.listNamespacedService(
          { namespace: ns, labelSelector: DAEMON_SELECTOR },
          c.opts,
        );
        return list.items
          .filter((s) => DAEMON_NAME_RE.test(s.metadata?.name ?? ""))
          .map((s): DaemonService => ({
            name: s.metadata?.name ?? "",
            uid: s.metadata?.uid ?? "",
            clusterIP: s.spec?.clusterIP,
            annotations: s.metadata?.annotations ?? {},
            createdByAgent: onlyAgentWrote(s.metadata?.managedFields),
          }));
      } catch (err) {
        return fail(err, "list the mon/OSD Services", "Services");
      }
    },

    async listDaemonExports() {
      try {
        const version = await discoverExports();
        if (version === undefined) return undefined;
        const list = (await c.custom.listNamespacedCustomObject(exportApi(version), c.opts)) as {
          items?: ExportObj[];
        };
        return (list.items ?? []).filter((o) => DAEMON_NAME_RE.test(o.metadata?.name ?? "")).map(toExport);
      } catch (err) {
        return fail(err, "list the ServiceExports", "ServiceExports");
      }
    },

    async listDaemonDeployments() {
      try {
        const list = await c.apps.listNamespacedDeployment(
          { namespace: ns, labelSelector: DAEMON_SELECTOR },
          c.opts,
        );
        return list.items.map((d) => d.metadata?.name ?? "").filter((n) => n !== "");
      } catch (err) {
        return fail(err, "list the mon/OSD Deployments", "Deployments");
      }
    },

    async deleteService(name, uid) {
      try {
        await orUndefinedOn404(
          c.core.deleteNamespacedService({ namespace: ns, name, body: { preconditions: { uid } } }, c.opts),
        );
      } catch (err) {
        fail(err, "delete the Service", `Service ${name}`);
      }
    },

    async deleteServiceExport(name, uid) {
      try {
        const version = await discoverExports();
        if (version === undefined) return;
        const request = { ...exportApi(version), name, body: { preconditions: { uid } } };
        await orUndefinedOn404(c.custom.deleteNamespacedCustomObject(request, c.opts));
      } catch (err) {
        fail(err, "delete the ServiceExport", `ServiceExport ${name}`);
      }
    },

    async emitEvent(event) {
      await c.events
        .createNamespacedEvent({ namespace: ns, body: eventBody(event) }, c.opts)
        .catch(() => undefined);
    },

    watch(onChange, signal) {
      const sources = watchSources(c, t, discoverExports);
      for (const source of sources) void keepWatching(c, source, onChange, signal);
    },
  };
}

function eventBody(e: ClusterEvent): EventsV1Event {
  return {
    metadata: { name: `${e.regarding.name}.${uniqueSuffix()}`, namespace: e.regarding.namespace },
    eventTime: new V1MicroTime(),
    reportingController: "ceph-mcs-agent.io/controller",
    reportingInstance: process.pid.toString(),
    action: e.action,
    reason: e.reason,
    note: e.note.slice(0, 1000),
    type: e.type,
    regarding: e.regarding,
  };
}

interface WatchSource {
  what: Watched;
  path: () => Promise<string | undefined>;
  list: (path: string) => Promise<KubernetesListObject<KubernetesObject>>;
  labelSelector?: string;
  fieldSelector?: string;
}

function watchSources(
  c: KubeClients,
  t: ControllerTarget,
  discoverExports: () => Promise<string | undefined>,
): WatchSource[] {
  const ns = t.namespace;
  const fixed = (p: string) => () => Promise.resolve<string | undefined>(p);
  const byName = (name: string): string => `metadata.name=${name}`;
  const core = `/api/v1/namespaces/${ns}`;
  return [
    {
      what: "configmap",
      path: fixed(`${core}/configmaps`),
      fieldSelector: byName(ENDPOINTS_CONFIGMAP),
      list: () =>
        c.core.listNamespacedConfigMap({ namespace: ns, fieldSelector: byName(ENDPOINTS_CONFIGMAP) }, c.opts),
    },
    {
      what: "secret",
      path: fixed(`${core}/secrets`),
      fieldSelector: byName(CONFIG_SECRET),
      list: () =>
        c.core.listNamespacedSecret({ namespace: ns, fieldSelector: byName(CONFIG_SECRET) }, c.opts),
    },
    {
      what: "services",
      path: fixed(`${core}/services`),
      labelSelector: DAEMON_SELECTOR,
      list: () => c.core.listNamespacedService({ namespace: ns, labelSelector: DAEMON_SELECTOR }, c.opts),
    },
    {
      what: "deployments",
      path: fixed(`/apis/apps/v1/namespaces/${ns}/deployments`),
      labelSelector: DAEMON_SELECTOR,
      list: () => c.apps.listNamespacedDeployment({ namespace: ns, labelSelector: DAEMON_SELECTOR }, c.opts),
    },
    {
      what: "cephclusters",
      path: fixed(`/apis/ceph.rook.io/v1/namespaces/${ns}/cephclusters`),
      list: async () =>
        (await c.custom.listNamespacedCustomObject(
          { group: "ceph.rook.io", version: "v1", namespace: ns, plural: "cephclusters" },
          c.opts,
        )) as KubernetesListObject<KubernetesObject>,
    },
    {
      what: "serviceexports",
      path: async () => {
        const v = await discoverExports();
        return v && `/apis/${MCS_GROUP}/${v}/namespaces/${ns}/serviceexports`;
      },
      list: async (path) =>
        (await c.custom.listNamespacedCustomObject(
          { group: MCS_GROUP, version: path.split("/")[3] ?? "", namespace: ns, plural: "serviceexports" },
          c.opts,
        )) as KubernetesListObject<KubernetesObject>,
    },
  ];
}

/**
 * client-node's ListWatch (its informer) stops for good on some errors, and its start() can reject
 * without an error event (connection refused); both restart here with a growing pause. A watchdog
 * restarts a source that has been failing for longer than the longest pause, whatever the cause.
 */
async function keepWatching(
  c: KubeClients,
  source: WatchSource,
  onChange: (what: Watched) => void,
  signal: AbortSignal,
): Promise<void> {
  const path = await retryPath(source, signal);
  if (path === undefined) return;
  const informer = new ListWatch(
    path,
    new Watch(c.kc),
    () => source.list(path),
    false,
    source.labelSelector,
    source.fieldSelector,
  );
  const state = { pause: RESTART_MIN_MS, failedSince: 0, timer: undefined as NodeJS.Timeout | undefined };
  const start = (): void => {
    clearTimeout(state.timer);
    if (!signal.aborted) informer.start().catch(failed);
  };
  const failed = (): void => {
    if (signal.aborted) return;
    state.failedSince ||= Date.now();
    state.pause = Math.min(state.pause * 2, RESTART_MAX_MS);
    clearTimeout(state.timer);
    state.timer = setTimeout(start, state.pause).unref();
  };
  const changed = (): void => {
    state.pause = RESTART_MIN_MS;
    state.failedSince = 0;
    onChange(source.what);
  };
  for (const verb of ["add", "update", "delete"] as const) informer.on(verb, changed);
  informer.on("error", failed);
  informer.on("connect", () => {
    state.failedSince = 0;
  });
  const watchdog = setInterval(() => {
    if (state.failedSince && Date.now() - state.failedSince > 2 * RESTART_MAX_MS) start();
  }, RESTART_MAX_MS).unref();
  signal.addEventListener(
    "abort",
    () => {
      clearInterval(watchdog);
      clearTimeout(state.timer);
      void informer.stop();
    },
    { once: true },
  );
  start();
  await Promise.resolve();
}

async function retryPath(source: WatchSource, signal: AbortSignal): Promise<string | undefined> {
  for (let pause = RESTART_MIN_MS; !signal.aborted; pause = Math.min(pause * 2, RESTART_MAX_MS)) {
    try {
      return await source.path();
    } catch {
      await new Promise((r) => setTimeout(r, pause).unref());
    }
  }
  return undefined;
}
