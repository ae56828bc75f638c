// Which namespaces have a CephCluster with spec.network.multiClusterService.enabled: one cluster-wide
// list + watch (client-node's ListWatch), so an admission costs no API call. client-node's informer
// stops on errors other than 410; it is restarted here with a back-off.
import {
  CustomObjectsApi,
  makeInformer,
  type KubeConfig,
  type KubernetesObject,
} from "@kubernetes/client-node";
import type { Logger } from "../log.ts";

const GROUP = "ceph.rook.io";
const VERSION = "v1";
const PLURAL = "cephclusters";
const RESTART_MIN_MS = 500;
const RESTART_MAX_MS = 30_000;

interface CephClusterObject extends KubernetesObject {
  spec?: { network?: { multiClusterService?: { enabled?: unknown } } };
}

export interface ClusterIndex {
  /** True when some CephCluster in the namespace has multiClusterService.enabled: true. */
  enabled(namespace: string): boolean;
  /** True once the first list has completed. */
  synced(): boolean;
  stop(): Promise<void>;
}

/** Pure: the namespaces whose CephClusters ask for MCS. */
export function enabledNamespaces(items: readonly CephClusterObject[]): Set<string> {
  const out = new Set<string>();
  for (const c of items)
    if (c.spec?.network?.multiClusterService?.enabled === true) out.add(c.metadata?.namespace ?? "");
  return out;
}

export function startClusterIndex(kc: KubeConfig, log: Logger, onSynced: () => void): ClusterIndex {
  const custom = kc.makeApiClient(CustomObjectsApi);
  const list = async (): Promise<{ items: CephClusterObject[]; metadata?: { resourceVersion?: string } }> =>
    (await custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural: PLURAL })) as {
      items: CephClusterObject[];
      metadata?: { resourceVersion?: string };
    };
  const informer = makeInformer<CephClusterObject>(kc, `/apis/${GROUP}/${VERSION}/${PLURAL}`, list);
  let enabled = new Set<string>();
  let synced = false;
  let stopped = false;
  let backoff = RESTART_MIN_MS;
  let errors = 0;
  let restart: NodeJS.Timeout | undefined;
  const refresh = (): void => {
    enabled = enabledNamespaces(informer.list());
  };
  informer.on("add", refresh);
  informer.on("update", refresh);
  informer.on("delete", refresh);
  const onError = (err: unknown): void => {
    errors++;
    if (stopped) return;
    log.warn(
      { err, retryInMs: backoff },
      "CephCluster watch failed; the cache keeps its last state until it resumes",
    );
    clearTimeout(restart);
    restart = setTimeout(() => void begin(), backoff);
    backoff = Math.min(backoff * 2, RESTART_MAX_MS);
  };
  informer.on("error", onError);
  const begin = async (): Promise<void> => {
    const before = errors;
    // A failed list or watch mostly goes to the "error" callback rather than rejecting; both retry.
    await informer.start().catch(onError);
    if (errors !== before || stopped) return;
    refresh();
    backoff = RESTART_MIN_MS;
    if (!synced) {
      synced = true;
      log.info(
        { namespaces: [...enabled] },
        "CephCluster cache synced: namespaces with multiClusterService.enabled",
      );
      onSynced();
    }
  };
  void begin();
  return {
    enabled: (ns) => enabled.has(ns),
    synced: () => synced,
    stop: async () => {
      stopped = true;
      clearTimeout(restart);
      await informer.stop();
    },
  };
}
