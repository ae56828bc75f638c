// Controller mode against the real apiserver, as a real process with the shipped Role: mon addresses
// follow the monmap/pins into Rook's ConfigMap and Secret byte-exactly, nothing else is touched, the
// disable path writes nothing, orphans are cleaned up only when ours.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { after, before, describe, it } from "node:test";
import { CoreV1Api, CustomObjectsApi } from "@kubernetes/client-node";
import { sharedControlPlane, type ControlPlane } from "../harness/controlplane.ts";
import { CLI, NODE } from "../harness/scenario.ts";
import {
  createRookDaemon,
  eventually,
  fakeCeph,
  grantControllerRole,
  ownerRef,
  pin,
  readEndpoints,
  readMonHost,
  seedRookCluster,
  startController,
  type ControllerProcess,
  type FakeCeph,
} from "../harness/controller.ts";

let cp: ControlPlane;
const running: ControllerProcess[] = [];
const fakes: FakeCeph[] = [];

before(async () => {
  cp = await sharedControlPlane();
});

after(async () => {
  for (const p of running) p.kill("SIGKILL");
  await Promise.all(running.map((p) => p.exited));
  for (const f of fakes) await f.remove();
});

async function setup(opts: Parameters<typeof seedRookCluster>[2], withCeph = true) {
  const ns = await cp.newNamespace("ctl");
  const seeded = await seedRookCluster(cp, ns, opts);
  const kubeconfig = await grantControllerRole(cp, ns);
  const ceph = withCeph ? await fakeCeph() : undefined;
  if (ceph) {
    fakes.push(ceph);
    await ceph.setMonmap(seeded.clusterIPs);
  }
  const start = (name = "ctl-0"): ControllerProcess => {
    const p = startController(name, {
      KUBECONFIG: kubeconfig,
      POD_NAMESPACE: ns,
      CEPH_MCS_CLEANUP_GRACE_SECONDS: "1",
      CEPH_MCS_RESYNC_SECONDS: "1",
      ...(ceph && { CEPH_MCS_CEPH_COMMAND: ceph.command }),
    });
    running.push(p);
    return p;
  };
  return { ns, seeded, ceph, start };
}

describe("controller: mon address upkeep", () => {
  // eslint-disable-next-line complexity -- one linear scenario; optional chains on API reads count as branches
  it("follows mons moving to their global IPs, byte-exact, and leaves every other key alone", async () => {
    const { ns, seeded, ceph, start } = await setup({ mons: ["a", "b", "c"] });
    const before = await readEndpoints(cp, ns);
    start();
    const ip = seeded.clusterIPs as Record<"a" | "b" | "c", string>;
    // mon.b now advertises its global IP (its init container pinned it; the monmap says so).
    await pin(cp, ns, "rook-ceph-mon-b", "242.0.1.11");
    await ceph?.setMonmap({ a: ip.a, b: "242.0.1.11", c: ip.c });
    const cm = await eventually(
      () => readEndpoints(cp, ns),
      (c) => c.data?.data?.includes("b=242.0.1.11:6789") === true,
    );
    assert.equal(cm.data?.data, `a=${ip.a}:6789,b=242.0.1.11:6789,c=${ip.c}:6789`);
    const monHost = await eventually(
      () => readMonHost(cp, ns),
      (h) => h.includes("242.0.1.11"),
    );
    assert.equal(
      monHost,
      `[v2:${ip.a}:3300,v1:${ip.a}:6789],[v2:242.0.1.11:3300,v1:242.0.1.11:6789],[v2:${ip.c}:3300,v1:${ip.c}:6789]`,
    );
    const csi = JSON.parse(cm.data["csi-cluster-config-json"] ?? "[]") as { monitors: string[] }[];
    assert.deepEqual(csi[0]?.monitors, [`${ip.a}:6789`, "242.0.1.11:6789", `${ip.c}:6789`]);
    // Everything Rook owns is as it was.
    for (const key of ["maxMonId", "mapping", "outOfQuorum", "externalMons"])
      assert.equal(cm.data[key], before.data?.[key], key);
    assert.deepEqual(cm.metadata?.finalizers, before.metadata?.finalizers);
    assert.deepEqual(cm.metadata?.ownerReferences, before.metadata?.ownerReferences);
    assert.match(cm.metadata?.annotations?.["ceph-mcs-agent.io/written-by"] ?? "", /^ctl-0\/term-\d+$/);
  });

  it("leaves out-of-quorum mons out of mon_host, and follows Rook removing a mon with a stale save", async () => {
    const { ns, seeded, ceph, start } = await setup({ mons: ["a", "b", "c"], outOfQuorum: ["c"] });
    start();
    for (const [id, g] of [
      ["a", "242.0.1.10"],
      ["b", "242.0.1.11"],
      ["c", "242.0.1.12"],
    ] as const)
      await pin(cp, ns, `rook-ceph-mon-${id}`, g);
    await ceph?.setMonmap({ a: "242.0.1.10", b: "242.0.1.11", c: "242.0.1.12" });
    await eventually(
      () => readEndpoints(cp, ns),
      (c) => c.data?.data === "a=242.0.1.10:6789,b=242.0.1.11:6789,c=242.0.1.12:6789",
    );
    assert.equal(
      await eventually(
        () => readMonHost(cp, ns),
        (h) => h.includes("242.0.1.10"),
      ),
      "[v2:242.0.1.10:3300,v1:242.0.1.10:6789],[v2:242.0.1.11:3300,v1:242.0.1.11:6789]",
    );
    // Rook removes mon.c and saves its whole (stale) view: ClusterIPs for a and b, in another order.
    await ceph?.setMonmap({ a: "242.0.1.10", b: "242.0.1.11" });
    const ip = seeded.clusterIPs;
    const core = cp.admin().makeApiClient(CoreV1Api);
    const cm = await readEndpoints(cp, ns);
    await core.replaceNamespacedConfigMap({
      namespace: ns,
      name: "rook-ceph-mon-endpoints",
      fieldManager: "rook",
      body: {
        metadata: cm.metadata,
        data: { ...cm.data, data: `b=${ip.b}:6789,a=${ip.a}:6789`, outOfQuorum: "" },
      },
    });
    const fixed = await eventually(
      () => readEndpoints(cp, ns),
      (c) => c.data?.data === "b=242.0.1.11:6789,a=242.0.1.10:6789",
    );
    assert.equal(fixed.data?.maxMonId, "2");
    // The same mons in mon_host (c was out of quorum): set-equal, so not rewritten in another order.
    assert.equal(
      await readMonHost(cp, ns),
      "[v2:242.0.1.10:3300,v1:242.0.1.10:6789],[v2:242.0.1.11:3300,v1:242.0.1.11:6789]",
    );
  });

  it("holds back a pinned IP the mon does not advertise yet (needs migration), and says so", async () => {
    const { ns, seeded, start } = await setup({ mons: ["a"] });
    const p = start();
    await pin(cp, ns, "rook-ceph-mon-a", "242.0.1.10");
    await p.waitForLog((l) => String(l.msg).includes("needs-migration"));
    const cm = await readEndpoints(cp, ns);
    assert.equal(cm.data?.data, `a=${seeded.clusterIPs.a}:6789`, "never a wrong address");
  });

  it("without the ceph CLI trusts only pins that cannot be wrong", async () => {
    const { ns, seeded, start } = await setup({ mons: ["a"] }, false);
    const p = start();
    await pin(cp, ns, "rook-ceph-mon-a", "242.0.1.10");
    await p.waitForLog((l) => String(l.msg).includes("unconfirmed"));
    assert.equal((await readEndpoints(cp, ns)).data?.data, `a=${seeded.clusterIPs.a}:6789`);
  });

  it("keeps msgr2-only mons in the [v2:ip:3300] form", async () => {
    const { ns, ceph, start } = await setup({ mons: ["a"], port: 3300 });
    start();
    await pin(cp, ns, "rook-ceph-mon-a", "242.0.1.10");
    await ceph?.setMonmap({ a: "242.0.1.10" });
    await eventually(
      () => readEndpoints(cp, ns),
      (c) => c.data?.data === "a=242.0.1.10:3300",
    );
    assert.equal(
      await eventually(
        () => readMonHost(cp, ns),
        (h) => h.includes("242"),
      ),
      "[v2:242.0.1.10:3300]",
    );
  });

  it("writes nothing while MCS is disabled and reports the daemons still on global IPs", async () => {
    const { ns, start } = await setup({ mons: ["a"], mcs: { enabled: false } });
    await pin(cp, ns, "rook-ceph-mon-a", "242.0.1.10");
    const rv = (await readEndpoints(cp, ns)).metadata?.resourceVersion;
    const p = start();
    const line = await p.waitForLog((l) => String(l.msg).includes("multiClusterService is disabled"));
    assert.deepEqual(line.daemons, ["mon.a=242.0.1.10"]);
    assert.equal((await readEndpoints(cp, ns)).metadata?.resourceVersion, rv);
  });
});

describe("ceph-mcs-agent status", () => {
  it("prints one row per daemon with export, pin, monmap and client-config verdicts", async () => {
    const { ns, ceph, start } = await setup({ mons: ["a", "b"], osds: ["0"] });
    await pin(cp, ns, "rook-ceph-mon-a", "242.0.1.10");
    await pin(cp, ns, "rook-ceph-mon-b", "242.0.1.11");
    await ceph?.setMonmap({ a: "242.0.1.10", b: "242.0.1.11" });
    const p = start();
    await eventually(
      () => readEndpoints(cp, ns),
      (c) => c.data?.data === "a=242.0.1.10:6789,b=242.0.1.11:6789",
    );
    const r = spawnSync(NODE, [CLI, "status"], {
      encoding: "utf8",
      env: {
        PATH: process.env.PATH,
        KUBECONFIG: cp.kubeconfigPath,
        CEPH_MCS_CEPHCLUSTER_NAMESPACE: ns,
        CEPH_MCS_CEPH_COMMAND: ceph?.command,
      },
      timeout: 60_000,
    });
    console.log(r.stdout);
    assert.match(
      r.stdout,
      new RegExp(`CephCluster ${ns}/my-cluster: multiClusterService enabled \\(clusterID cluster-a\\)`),
    );
    assert.match(r.stdout, new RegExp(`Controller: leader ${p.name} `));
    assert.match(r.stdout, /mon\.a +rook-ceph-mon-a +\S+ +\S+ +242\.0\.1\.10 +242\.0\.1\.10 +✓ +✓/);
    // osd.0 has no export and no pin: ✗, and the reason is printed; so the exit code is 1.
    assert.match(r.stdout, /✗ osd\.0: no ServiceExport/);
    assert.equal(r.status, 1);
  });
});

describe("controller: cleanup", () => {
  it("deletes the export of a vanished daemon after the grace period, never foreign objects", async () => {
    const { ns, seeded, start } = await setup({ mons: ["a"], osds: ["0"] });
    const custom = cp.admin().makeApiClient(CustomObjectsApi);
    const exp = (name: string, owners: object[], fieldManager: string) =>
      custom.createNamespacedCustomObject({
        group: "multicluster.x-k8s.io",
        version: "v1alpha1",
        namespace: ns,
        plural: "serviceexports",
        fieldManager,
        body: {
          apiVersion: "multicluster.x-k8s.io/v1alpha1",
          kind: "ServiceExport",
          metadata: { name, ownerReferences: owners },
        },
      });
    await exp("rook-ceph-osd-7", [ownerRef(seeded.uid)], "rook"); // Rook's, daemon gone
    await exp("rook-ceph-osd-8", [], "someone-else"); // not ours, daemon gone
    await exp("rook-ceph-osd-0", [ownerRef(seeded.uid)], "rook"); // daemon exists
    await createRookDaemon(cp, ns, seeded.uid, { type: "osd", id: "9" });
    await cp
      .admin()
      .makeApiClient((await import("@kubernetes/client-node")).AppsV1Api)
      .deleteNamespacedDeployment({ namespace: ns, name: "rook-ceph-osd-9" });
    start();
    const names = async () =>
      (
        (await custom.listNamespacedCustomObject({
          group: "multicluster.x-k8s.io",
          version: "v1alpha1",
          namespace: ns,
          plural: "serviceexports",
        })) as { items: { metadata: { name: string } }[] }
      ).items
        .map((i) => i.metadata.name)
        // mon.a's own export comes from the controller exporting running mons; not this test's concern.
        .filter((n) => n.startsWith("rook-ceph-osd-"))
        .sort();
    assert.deepEqual(await eventually(names, (n) => !n.includes("rook-ceph-osd-7")), [
      "rook-ceph-osd-0",
      "rook-ceph-osd-8",
    ]);
    // Rook's Service of the vanished osd.9 is Rook's to delete.
    const svc = await cp
      .admin()
      .makeApiClient(CoreV1Api)
      .readNamespacedService({ namespace: ns, name: "rook-ceph-osd-9" });
    assert.equal(svc.metadata?.name, "rook-ceph-osd-9");
  });
});
