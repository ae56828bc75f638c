// Composition root of `ceph-mcs-agent status`: reads, prints one table, exits 0 when every daemon is ✓.
import { CephCli } from "../ceph/cli.ts";
import { loadStatusEnv, processEnv } from "../config.ts";
import { createClients } from "../kube/client.ts";
import { controllerKube } from "../kube/controller-kube.ts";
import { leasePort } from "../kube/lease.ts";
import { cephMonmap } from "./monmap-port.ts";
import { gatherStatus, renderStatus } from "./status.ts";

const TIMEOUT_MS = 60_000;

export async function runStatus(out: (text: string) => void): Promise<number> {
  const env = loadStatusEnv(processEnv());
  const clients = await createClients({ kubeconfigPath: env.kubeconfig, requestTimeoutMs: 10_000 });
  try {
    const ceph = env.cephCommand && new CephCli({ argv: env.cephCommand, callTimeoutMs: env.cephTimeoutMs });
    const snap = await gatherStatus(
      {
        kube: controllerKube(clients, { namespace: env.namespace, cephClusterName: env.cephClusterName }),
        lease: leasePort(clients, { namespace: env.namespace, name: env.leaseName }),
        monmap: ceph ? cephMonmap(ceph) : undefined,
      },
      env.namespace,
      AbortSignal.timeout(TIMEOUT_MS),
    );
    const { text, healthy } = renderStatus(snap);
    out(text);
    return healthy ? 0 : 1;
  } finally {
    await clients.close();
  }
}
