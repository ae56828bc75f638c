// client-node wiring: one shared keep-alive connection pool (client-node 2.x would open a new TLS
// connection per request), a per-request timeout (it has none), and a request counter.
import {
  ApisApi,
  AppsV1Api,
  CoordinationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  DiscoveryV1Api,
  EventsV1Api,
  KubeConfig,
  Observable,
  type ConfigurationOptions,
  type ObservableMiddleware,
} from "@kubernetes/client-node";
import type { AgentOptions } from "node:https";
import { Agent } from "undici";
import { AgentError } from "../errors.ts";

export interface KubeClients {
  readonly kc: KubeConfig;
  readonly core: CoreV1Api;
  readonly apps: AppsV1Api;
  readonly coordination: CoordinationV1Api;
  readonly custom: CustomObjectsApi;
  readonly apis: ApisApi;
  readonly discovery: DiscoveryV1Api;
  readonly events: EventsV1Api;
  /** Per-call options: timeout, shared connection pool, counting. */
  readonly opts: ConfigurationOptions;
  /** API requests sent so far (watches count once per connection). */
  readonly stats: { requests: number };
  close(): Promise<void>;
}

export interface KubeTarget {
  /** A kubeconfig file; when absent the pod's service account is used. */
  kubeconfigPath?: string | undefined;
  requestTimeoutMs: number;
}

export function loadKubeConfig(target: KubeTarget): KubeConfig {
  const kc = new KubeConfig();
  if (target.kubeconfigPath) kc.loadFromFile(target.kubeconfigPath);
  else kc.loadFromCluster();
  if (!kc.getCurrentCluster()) {
    throw new AgentError("permanent", "no Kubernetes API server configured", {
      object: target.kubeconfigPath ?? "in-cluster service account",
      hint: "mount the pod's service account token or set KUBECONFIG",
    });
  }
  return kc;
}

export async function createClients(target: KubeTarget): Promise<KubeClients> {
  const kc = loadKubeConfig(target);
  const tls: AgentOptions = {};
  await kc.applyToHTTPSOptions(tls);
  const pool = new Agent({
    connect: { ca: tls.ca, cert: tls.cert, key: tls.key, rejectUnauthorized: tls.rejectUnauthorized ?? true },
    keepAliveTimeout: 30_000,
  });
  const stats = { requests: 0 };
  const middleware: ObservableMiddleware = {
    pre: (ctx) => {
      stats.requests++;
      ctx.setSignal(AbortSignal.timeout(target.requestTimeoutMs));
      ctx.setDispatcher(pool);
      return new Observable(Promise.resolve(ctx));
    },
    post: (rsp) => new Observable(Promise.resolve(rsp)),
  };
  return {
    kc,
    core: kc.makeApiClient(CoreV1Api),
    apps: kc.makeApiClient(AppsV1Api),
    coordination: kc.makeApiClient(CoordinationV1Api),
    custom: kc.makeApiClient(CustomObjectsApi),
    apis: kc.makeApiClient(ApisApi),
    discovery: kc.makeApiClient(DiscoveryV1Api),
    events: kc.makeApiClient(EventsV1Api),
    opts: { middleware: [middleware], middlewareMergeStrategy: "append" },
    stats,
    close: () => pool.close(),
  };
}
