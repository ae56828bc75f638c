// The webhook's shipped ClusterRole (manifests/base/webhook.yaml) is minimal: with it the webhook gets
// ready; with any one verb taken away it never does (its CephCluster cache cannot list or watch), so
// the kubelet would keep it out of the Service and the webhook's failurePolicy applies instead.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { CoreV1Api, type V1ClusterRole } from "@kubernetes/client-node";
import { sharedControlPlane, type ControlPlane } from "../harness/controlplane.ts";
import {
  makeCerts,
  serviceAccountWithClusterRole,
  shippedWebhookRole,
  startWebhookProcess,
  waitFor,
  type Certs,
} from "../harness/webhook.ts";

let cp: ControlPlane;
let certs: Certs;
let shipped: V1ClusterRole;
let ns = "";

before(async () => {
  cp = await sharedControlPlane();
  certs = await makeCerts();
  shipped = await shippedWebhookRole(cp);
  ns = await cp.newNamespace("webhook-rbac");
});

after(async () => {
  await certs.cleanup();
  await cp
    .admin()
    .makeApiClient(CoreV1Api)
    .deleteNamespace({ name: ns })
    .catch(() => undefined);
});

function without(role: V1ClusterRole, verb: string): V1ClusterRole {
  const copy = structuredClone(role);
  for (const r of copy.rules ?? []) r.verbs = r.verbs.filter((v) => v !== verb);
  copy.rules = (copy.rules ?? []).filter((r) => r.verbs.length > 0);
  return copy;
}

async function withRole(
  role: V1ClusterRole,
  sa: string,
  check: (w: Awaited<ReturnType<typeof startWebhookProcess>>) => Promise<void>,
): Promise<void> {
  const { kubeconfig, cleanup } = await serviceAccountWithClusterRole(cp, ns, sa, role);
  const w = await startWebhookProcess({ kubeconfig, tlsDir: certs.tlsDir, waitReady: false });
  try {
    await check(w);
  } finally {
    await w.stop();
    await cleanup();
  }
}

describe("webhook RBAC: every verb of the shipped ClusterRole is needed", () => {
  test("the shipped rules are exactly cephclusters list + watch", () => {
    const verbs = (shipped.rules ?? []).flatMap((r) =>
      r.verbs.map((v) => `${r.apiGroups?.join(",") ?? ""}/${r.resources?.join(",") ?? ""}/${v}`),
    );
    assert.deepEqual(verbs, ["ceph.rook.io/cephclusters/list", "ceph.rook.io/cephclusters/watch"]);
  });

  test("with the full ClusterRole the webhook gets ready", async () => {
    await withRole(shipped, "webhook-full", (w) => waitFor(w, "/readyz", 200));
  });

  for (const verb of ["list", "watch"]) {
    test(`without ${verb}: never ready, and the log says the API refused`, async () => {
      await withRole(without(shipped, verb), `webhook-no-${verb}`, async (w) => {
        for (let i = 0; i < 300 && !/CephCluster watch failed/.test(w.logs()); i++)
          await new Promise((r) => setTimeout(r, 100));
        assert.match(w.logs(), /CephCluster watch failed/);
        assert.match(w.logs(), /forbidden|Forbidden|403/);
        const ready = await w.get("/readyz");
        assert.equal(ready.status, 503, ready.text);
        assert.match(ready.text, /CephCluster cache not synced/);
      });
    });
  }
});
