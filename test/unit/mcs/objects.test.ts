import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import type { DaemonRef } from "../../../agent/ports.ts";
import {
  ANNOTATION_GLOBAL_IP,
  ANNOTATION_PINNED_AT,
  FIELD_MANAGER,
  LABEL_MANAGED,
  desiredService,
  desiredServiceExport,
} from "../../../agent/mcs/objects.ts";

const cluster = { name: "my-cluster", namespace: "rook-ceph", uid: "6f1c1a52-6d0e-4a8b-9f5e-3c2b1a0d9e8f" };
const golden = (name: string): unknown =>
  JSON.parse(readFileSync(new URL(`golden/${name}.json`, import.meta.url), "utf8"));

const goldens: [string, DaemonRef, boolean][] = [
  ["service-mon-a", { type: "mon", id: "a" }, false],
  ["service-mon-b-msgr2", { type: "mon", id: "b" }, true],
  ["service-osd-3", { type: "osd", id: "3" }, false],
  ["service-osd-12-msgr2", { type: "osd", id: "12" }, true],
];

for (const [file, daemon, msgr2Only] of goldens) {
  test(`desiredService matches golden ${file}`, () => {
    const body = desiredService(daemon, cluster, { msgr2Only });
    // Plain JSON: survives a round trip unchanged.
    assert.deepEqual(JSON.parse(JSON.stringify(body)), body);
    assert.deepEqual(body, golden(file));
  });
}

test("desiredService: what server-side apply must and must not get", () => {
  for (const [, daemon, msgr2Only] of goldens) {
    const body = desiredService(daemon, cluster, { msgr2Only }) as unknown as Record<
      string,
      Record<string, unknown>
    >;
    assert.equal(body.apiVersion, "v1");
    assert.equal(body.kind, "Service");
    assert.equal("status" in body, false);
    assert.equal("clusterIP" in body.spec!, false);
    assert.equal("clusterIPs" in body.spec!, false);
    const meta = body.metadata as {
      labels: Record<string, string>;
      ownerReferences: Record<string, unknown>[];
    };
    const selector = body.spec!.selector as Record<string, string>;
    // Every selector label is also a label, so the Service matches Rook's.
    for (const [k, v] of Object.entries(selector)) assert.equal(meta.labels[k], v);
    assert.equal(meta.labels.ceph_daemon_type, daemon.type);
    assert.equal(meta.labels.ceph_daemon_id, daemon.id);
    assert.equal(meta.ownerReferences.length, 1);
    // Rook's controller reference exactly: owner references are atomic for server-side apply.
    assert.equal(meta.ownerReferences[0]!.controller, true);
    assert.equal(meta.ownerReferences[0]!.blockOwnerDeletion, true);
    assert.equal("annotations" in body.metadata!, false);
  }
});

test("desiredService: the pin is carried when given", () => {
  const body = desiredService({ type: "mon", id: "a" }, cluster, {
    msgr2Only: false,
    pin: { ip: "242.1.255.253", pinnedAt: "2026-01-02T03:04:05.000Z" },
  });
  assert.deepEqual(body.metadata.annotations, {
    "ceph-mcs-agent.io/global-ip": "242.1.255.253",
    "ceph-mcs-agent.io/pinned-at": "2026-01-02T03:04:05.000Z",
  });
});

test("constants", () => {
  assert.equal(ANNOTATION_GLOBAL_IP, "ceph-mcs-agent.io/global-ip");
  assert.equal(ANNOTATION_PINNED_AT, "ceph-mcs-agent.io/pinned-at");
  assert.equal(FIELD_MANAGER, "ceph-mcs-agent");
  assert.equal(LABEL_MANAGED, "ceph-mcs-agent.io/managed");
});

for (const version of ["v1alpha1", "v1beta1"] as const) {
  test(`desiredServiceExport ${version}`, () => {
    const body = desiredServiceExport(version, "rook-ceph-mon-a", "rook-ceph", cluster);
    assert.deepEqual(body, {
      apiVersion: `multicluster.x-k8s.io/${version}`,
      kind: "ServiceExport",
      metadata: {
        name: "rook-ceph-mon-a",
        namespace: "rook-ceph",
        labels: { "ceph-mcs-agent.io/managed": "true" },
        ownerReferences: [
          {
            apiVersion: "ceph.rook.io/v1",
            kind: "CephCluster",
            name: "my-cluster",
            uid: cluster.uid,
            controller: true,
            blockOwnerDeletion: true,
          },
        ],
      },
    });
  });
}
