// The baseline: what Rook's operator does today (research/rook-mcs.md, cluster/mon + osd MCS code):
// create the Service and a ServiceExport, then look the address up in DNS right away and, on any
// failure, every 5 s, up to 20 tries (net.LookupIP: A and AAAA, first address wins, no check). It
// never looks at the export's status. Here it "writes" the moment DNS answers.
import { Resolver } from "node:dns/promises";
import { setTimeout as sleep } from "node:timers/promises";
import { CoreV1Api, CustomObjectsApi, type KubeConfig } from "@kubernetes/client-node";
import { serviceName } from "../../agent/mcs/naming.ts";
import { servicePorts, serviceSelector } from "../../agent/mcs/objects.ts";
import type { Daemon } from "../harness/scenario.ts";

export const ROOK_TRIES = 20;
export const ROOK_WAIT_MS = 5000;

export interface BaselineRun {
  /** Date.now() when the apiserver acknowledged the ServiceExport's creation. */
  exportCreatedAt: number;
  /** Date.now() when DNS answered with an address; undefined after 20 failed tries. */
  answeredAt: number | undefined;
  tries: number;
  ip: string | undefined;
}

/** Creates the daemon's Service and ServiceExport as Rook does, then polls DNS as Rook does. */
export async function rookBaseline(
  kc: KubeConfig,
  target: { ns: string; dns: string; clusterID: string },
  d: Daemon,
): Promise<BaselineRun> {
  const name = serviceName(d);
  await kc.makeApiClient(CoreV1Api).createNamespacedService({
    namespace: target.ns,
    body: {
      metadata: { name, namespace: target.ns },
      spec: {
        type: "ClusterIP",
        selector: serviceSelector(d, target.ns),
        ports: servicePorts(d, { msgr2Only: false }),
      },
    },
  });
  await kc.makeApiClient(CustomObjectsApi).createNamespacedCustomObject({
    group: "multicluster.x-k8s.io",
    version: "v1alpha1",
    namespace: target.ns,
    plural: "serviceexports",
    body: {
      apiVersion: "multicluster.x-k8s.io/v1alpha1",
      kind: "ServiceExport",
      metadata: { name, namespace: target.ns },
    },
  });
  const exportCreatedAt = Date.now();
  const fqdn = `${target.clusterID}.${name}.${target.ns}.svc.clusterset.local`;
  return { exportCreatedAt, ...(await pollLikeRook(target.dns, fqdn)) };
}

async function pollLikeRook(server: string, fqdn: string): Promise<Omit<BaselineRun, "exportCreatedAt">> {
  for (let tries = 1; tries <= ROOK_TRIES; tries++) {
    const ip = await lookupIP(server, fqdn);
    if (ip !== undefined) return { answeredAt: Date.now(), tries, ip };
    if (tries < ROOK_TRIES) await sleep(ROOK_WAIT_MS);
  }
  return { answeredAt: undefined, tries: ROOK_TRIES, ip: undefined };
}

/** Go's net.LookupIP: A and AAAA together, the union of what answered; undefined when none did. */
async function lookupIP(server: string, fqdn: string): Promise<string | undefined> {
  const resolver = new Resolver({ timeout: 2000, tries: 2 });
  resolver.setServers([server]);
  const answers = await Promise.allSettled([resolver.resolve4(fqdn), resolver.resolve6(fqdn)]);
  return answers.flatMap((a) => (a.status === "fulfilled" ? a.value : []))[0];
}
