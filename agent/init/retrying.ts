// Every one-shot API call of init mode retried on retryable errors (429 from API priority and
// fairness, 5xx, timeouts, refused connections) until the deadline: 500 pods starting at once must
// not fail because the apiserver asked them to slow down.
import type { Logger } from "pino";
import { API_RETRY, retryUntil } from "../retry.ts";
import type { InitKubePort } from "./kube-port.ts";

type Method<A extends unknown[], R> = (...args: A) => Promise<R>;

export function retrying(port: InitKubePort, signal: AbortSignal, log: Logger): InitKubePort {
  const wrap =
    <A extends unknown[], R>(name: string, fn: Method<A, R>): Method<A, R> =>
    (...args) =>
      retryUntil(() => fn(...args), signal, {
        ...API_RETRY,
        onRetry: (err, attempt) => log.warn({ call: name, attempt }, `retrying: ${err.message}`),
      });
  return {
    readCephCluster: wrap("readCephCluster", port.readCephCluster),
    readPodLabels: wrap("readPodLabels", port.readPodLabels),
    discover: wrap("discover", port.discover),
    applyService: wrap("applyService", port.applyService),
    applyServiceExport: wrap("applyServiceExport", port.applyServiceExport),
    watchServiceExport: port.watchServiceExport,
    readGlobalIngressIP: wrap("readGlobalIngressIP", port.readGlobalIngressIP),
    readLighthouseAddresses: wrap("readLighthouseAddresses", port.readLighthouseAddresses),
    readClusterSetVIPs: wrap("readClusterSetVIPs", port.readClusterSetVIPs),
    pinAddress: wrap("pinAddress", port.pinAddress),
    emitEvent: port.emitEvent,
  };
}
