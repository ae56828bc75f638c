// Kubernetes plumbing for the emulator: a list+watch loop that survives 410 Gone, client-side
// inactivity timeouts and dropped streams and stops at once on abort, plus the few writes it makes.
import { setTimeout as sleep } from "node:timers/promises";
import {
  ApiException,
  CustomObjectsApi,
  DiscoveryV1Api,
  PatchStrategy,
  Watch,
  setHeaderOptions,
  type KubeConfig,
  type KubernetesObject,
  type V1EndpointSlice,
} from "@kubernetes/client-node";

export type WatchEventType = "ADDED" | "MODIFIED" | "DELETED";

export interface ListResult<T> {
  items: T[];
  metadata?: { resourceVersion?: string };
}

export interface WatchSpec<T extends KubernetesObject> {
  /** Collection path, e.g. /api/v1/namespaces/ns/services. */
  path: string;
  list: () => Promise<ListResult<T>>;
  onEvent: (type: WatchEventType, obj: T) => void;
  onError: (err: unknown) => void;
}

export interface RunningWatch {
  /** Resolves after the first successful list; rejects if the very first list fails. */
  synced: Promise<void>;
  /** Resolves once the loop has ended after the abort. */
  done: Promise<void>;
}

const keyOf = (o: KubernetesObject): string => `${o.metadata?.namespace ?? ""}/${o.metadata?.name ?? ""}`;
const rvOf = (o: KubernetesObject | undefined): string | undefined => o?.metadata?.resourceVersion;

export function startWatch<T extends KubernetesObject>(
  kc: KubeConfig,
  spec: WatchSpec<T>,
  signal: AbortSignal,
): RunningWatch {
  const cache = new Map<string, T>();
  let listedOnce = false;
  let resolveSynced: () => void = () => undefined;
  let rejectSynced: (e: unknown) => void = () => undefined;
  const synced = new Promise<void>((resolve, reject) => {
    resolveSynced = resolve;
    rejectSynced = reject;
  });
  const aborted = (): boolean => signal.aborted;
  const loop = async (): Promise<void> => {
    let rv = "";
    while (!aborted()) {
      try {
        if (rv === "") rv = await relist(spec, cache);
        listedOnce = true;
        resolveSynced();
        rv = await watchOnce(kc, spec, { rv, cache, signal });
      } catch (err) {
        if (aborted()) break;
        if (!listedOnce) {
          rejectSynced(err);
          return;
        }
        spec.onError(err);
        rv = "";
        await sleep(500, undefined, { signal }).catch(() => undefined);
      }
    }
    resolveSynced();
  };
  return { synced, done: loop() };
}

async function relist<T extends KubernetesObject>(
  spec: WatchSpec<T>,
  cache: Map<string, T>,
): Promise<string> {
  const list = await spec.list();
  const seen = new Set<string>();
  for (const obj of list.items) {
    const key = keyOf(obj);
    seen.add(key);
    const old = cache.get(key);
    cache.set(key, obj);
    if (rvOf(old) !== rvOf(obj)) spec.onEvent(old ? "MODIFIED" : "ADDED", obj);
  }
  for (const [key, obj] of cache) {
    if (seen.has(key)) continue;
    cache.delete(key);
    spec.onEvent("DELETED", obj);
  }
  return list.metadata?.resourceVersion ?? "";
}

interface WatchState<T> {
  rv: string;
  cache: Map<string, T>;
  signal: AbortSignal;
}

/** One watch request; returns the resourceVersion to continue from ("" = relist). */
async function watchOnce<T extends KubernetesObject>(
  kc: KubeConfig,
  spec: WatchSpec<T>,
  st: WatchState<T>,
): Promise<string> {
  let rv = st.rv;
  let resolveEnded: (err: unknown) => void = () => undefined;
  const ended = new Promise<unknown>((resolve) => (resolveEnded = resolve));
  const onLine = (phase: string, obj: T & { code?: number }): void => {
    if (phase === "ERROR") {
      if (obj.code === 410) rv = "";
      return;
    }
    rv = obj.metadata?.resourceVersion ?? rv;
    if (phase === "BOOKMARK") return;
    if (phase === "DELETED") st.cache.delete(keyOf(obj));
    else st.cache.set(keyOf(obj), obj);
    spec.onEvent(phase as WatchEventType, obj);
  };
  const query = { resourceVersion: st.rv, allowWatchBookmarks: true };
  const ctl = await new Watch(kc).watch(spec.path, query, onLine, resolveEnded);
  const abort = (): void => ctl.abort();
  st.signal.addEventListener("abort", abort, { once: true });
  if (st.signal.aborted) abort();
  const err = await ended;
  st.signal.removeEventListener("abort", abort);
  return continueFrom(err, rv, st.signal);
}

function continueFrom(err: unknown, rv: string, signal: AbortSignal): string {
  if (err === null || err === undefined || signal.aborted) return rv;
  const e = err as { statusCode?: number; code?: number; name?: string };
  if (e.statusCode === 410 || e.code === 410) return "";
  // client-node 2.0.1 ends a quiet stream after 30 s of inactivity: reconnect from where we were.
  if (e.name === "TimeoutError") return rv;
  throw err instanceof Error ? err : new Error(`watch ended: ${JSON.stringify(err)}`);
}

/** HTTP status and Status.reason of an apiserver error (client-node keeps the body as a string). */
export function apiError(err: unknown): {
  code: number | undefined;
  reason: string | undefined;
  message: string;
} {
  if (!(err instanceof ApiException)) return { code: undefined, reason: undefined, message: String(err) };
  const body = typeof err.body === "string" ? err.body : "";
  try {
    const status = JSON.parse(body) as { reason?: string; message?: string };
    return { code: err.code, reason: status.reason, message: status.message ?? body };
  } catch {
    return { code: err.code, reason: undefined, message: body };
  }
}

export const isNotFound = (err: unknown): boolean => apiError(err).code === 404;

export const MERGE_PATCH = setHeaderOptions("Content-Type", PatchStrategy.MergePatch);

export interface CustomRef {
  group: string;
  version: string;
  plural: string;
  namespace: string;
  name: string;
}

export async function patchStatus(api: CustomObjectsApi, ref: CustomRef, status: object): Promise<void> {
  await api.patchNamespacedCustomObjectStatus({ ...ref, body: { status } }, MERGE_PATCH);
}

export async function deleteIgnoringMissing(run: () => Promise<unknown>): Promise<void> {
  try {
    await run();
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
}

/** Creates or replaces an EndpointSlice; returns its name (generated on create when the body asks for it). */
export async function upsertEndpointSlice(
  api: DiscoveryV1Api,
  body: V1EndpointSlice,
  existing: string | undefined,
): Promise<string> {
  const namespace = body.metadata?.namespace ?? "";
  if (existing !== undefined) {
    const named = structuredClone(body);
    named.metadata = Object.assign(named.metadata ?? {}, { name: existing, generateName: undefined });
    await api.replaceNamespacedEndpointSlice({ name: existing, namespace, body: named });
    return existing;
  }
  const created = await api.createNamespacedEndpointSlice({ namespace, body });
  return created.metadata?.name ?? "";
}

export interface BackendSlice {
  namespace: string;
  service: string;
  addresses: string[];
  /** Endpoint condition: true/false, or undefined to leave it unset (ready=nil). */
  ready: boolean | undefined;
  port?: number;
}

/**
 * What kube-controller-manager would create for a Service with a selector (none runs in these tests):
 * one EndpointSlice labelled kubernetes.io/service-name. With publishNotReadyAddresses the real
 * controller reports ready=true even for initialising pods; the test chooses `ready` accordingly.
 */
export async function createBackendEndpointSlice(kc: KubeConfig, s: BackendSlice): Promise<string> {
  const api = kc.makeApiClient(DiscoveryV1Api);
  const family = s.addresses[0]?.includes(":") ? "IPv6" : "IPv4";
  const conditions = s.ready === undefined ? {} : { ready: s.ready };
  const created = await api.createNamespacedEndpointSlice({
    namespace: s.namespace,
    body: {
      metadata: {
        generateName: `${s.service}-`,
        labels: {
          "kubernetes.io/service-name": s.service,
          "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
        },
      },
      addressType: family,
      endpoints: s.addresses.map((a) => ({ addresses: [a], conditions })),
      ports: [{ name: "port", port: s.port ?? 3300, protocol: "TCP" }],
    },
  });
  return created.metadata?.name ?? "";
}
