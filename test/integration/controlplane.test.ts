// Proof that the tests talk to a real kube-apiserver: allocation, status subresources, optimistic
// concurrency, RBAC and watches all behave as in a cluster.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  CoreV1Api,
  CustomObjectsApi,
  PatchStrategy,
  RbacAuthorizationV1Api,
  Watch,
  setHeaderOptions,
} from "@kubernetes/client-node";
import { sharedControlPlane } from "../harness/controlplane.ts";

const MCS = { group: "multicluster.x-k8s.io", version: "v1alpha1", plural: "serviceexports" };

test("a ClusterIP Service gets a ClusterIP allocated from the service range", async () => {
  const cp = await sharedControlPlane();
  const ns = await cp.newNamespace("proof");
  const core = cp.admin().makeApiClient(CoreV1Api);
  const svc = await core.createNamespacedService({
    namespace: ns,
    body: { metadata: { name: "rook-ceph-mon-a" }, spec: { ports: [{ name: "tcp-msgr2", port: 3300 }] } },
  });
  assert.match(svc.spec?.clusterIP ?? "", /^10\.96\.\d+\.\d+$/);
});

test("a ServiceExport's status subresource takes conditions; a stale replace gets 409", async () => {
  const cp = await sharedControlPlane();
  const ns = await cp.newNamespace("proof");
  const crd = cp.admin().makeApiClient(CustomObjectsApi);
  const body = {
    apiVersion: "multicluster.x-k8s.io/v1alpha1",
    kind: "ServiceExport",
    metadata: { name: "x" },
  };
  const created = (await crd.createNamespacedCustomObject({ ...MCS, namespace: ns, body })) as {
    metadata: { resourceVersion: string };
  };
  const status = {
    conditions: [
      {
        type: "Valid",
        status: "True",
        reason: "Valid",
        message: "ok",
        lastTransitionTime: new Date().toISOString(),
      },
    ],
  };
  await crd.patchNamespacedCustomObjectStatus(
    { ...MCS, namespace: ns, name: "x", body: { status } },
    setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
  );
  const read = (await crd.getNamespacedCustomObject({ ...MCS, namespace: ns, name: "x" })) as {
    status: typeof status;
  };
  assert.equal(read.status.conditions[0]?.reason, "Valid");
  const stale = {
    ...body,
    metadata: { name: "x", resourceVersion: created.metadata.resourceVersion, labels: { a: "b" } },
  };
  await assert.rejects(
    crd.replaceNamespacedCustomObject({ ...MCS, namespace: ns, name: "x", body: stale }),
    (err) => {
      assert.equal((err as { code: number }).code, 409);
      assert.match((err as { body: string }).body, /"reason":"Conflict"/);
      return true;
    },
  );
});

test("a ServiceAccount whose Role lacks create on serviceexports gets 403", async () => {
  const cp = await sharedControlPlane();
  const ns = await cp.newNamespace("proof");
  const rbac = cp.admin().makeApiClient(RbacAuthorizationV1Api);
  await rbac.createNamespacedRole({
    namespace: ns,
    body: {
      metadata: { name: "read-only" },
      rules: [
        { apiGroups: ["multicluster.x-k8s.io"], resources: ["serviceexports"], verbs: ["get", "list"] },
      ],
    },
  });
  await rbac.createNamespacedRoleBinding({
    namespace: ns,
    body: {
      metadata: { name: "read-only" },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "read-only" },
      subjects: [{ kind: "ServiceAccount", name: "agent", namespace: ns }],
    },
  });
  const sa = (await cp.serviceAccountKubeConfig(ns, "agent")).makeApiClient(CustomObjectsApi);
  const list = (await sa.listNamespacedCustomObject({ ...MCS, namespace: ns })) as { items: unknown[] };
  assert.deepEqual(list.items, []);
  const body = {
    apiVersion: "multicluster.x-k8s.io/v1alpha1",
    kind: "ServiceExport",
    metadata: { name: "y" },
  };
  await assert.rejects(sa.createNamespacedCustomObject({ ...MCS, namespace: ns, body }), (err) => {
    assert.equal((err as { code: number }).code, 403);
    assert.match((err as { body: string }).body, /system:serviceaccount:proof-\w+:agent/);
    return true;
  });
});

test("a watch on ServiceExports sees ADDED then MODIFIED", async () => {
  const cp = await sharedControlPlane();
  const ns = await cp.newNamespace("proof");
  const kc = cp.admin();
  const seen: string[] = [];
  const done = new Promise<void>((resolve) => {
    void new Watch(kc)
      .watch(
        `/apis/multicluster.x-k8s.io/v1alpha1/namespaces/${ns}/serviceexports`,
        {},
        (phase) => {
          seen.push(phase);
          if (phase === "MODIFIED") resolve();
        },
        () => {},
      )
      .then((ctl) => done.finally(() => ctl.abort()));
  });
  await new Promise((r) => setTimeout(r, 300));
  const crd = kc.makeApiClient(CustomObjectsApi);
  const body = {
    apiVersion: "multicluster.x-k8s.io/v1alpha1",
    kind: "ServiceExport",
    metadata: { name: "w" },
  };
  await crd.createNamespacedCustomObject({ ...MCS, namespace: ns, body });
  await crd.patchNamespacedCustomObject(
    { ...MCS, namespace: ns, name: "w", body: { metadata: { labels: { changed: "yes" } } } },
    setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
  );
  await done;
  assert.deepEqual(seen.slice(0, 2), ["ADDED", "MODIFIED"]);
});
