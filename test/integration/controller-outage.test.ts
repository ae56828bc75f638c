// The apiserver goes away for 30 s and comes back (same etcd, same port): the controller process
// recovers on its own — watches restarted, lease re-acquired — and converges on what changed since.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { startControlPlane, type ControlPlane } from "../harness/controlplane.ts";
import {
  eventually,
  fakeCeph,
  grantControllerRole,
  pin,
  readEndpoints,
  seedRookCluster,
  startController,
  type ControllerProcess,
  type FakeCeph,
} from "../harness/controller.ts";

let cp: ControlPlane;
let ceph: FakeCeph;
let ctl: ControllerProcess | undefined;

before(async () => {
  cp = await startControlPlane();
  ceph = await fakeCeph();
});

after(async () => {
  ctl?.kill("SIGKILL");
  await ctl?.exited;
  await ceph.remove();
  await cp.stop();
});

describe("controller: apiserver outage", () => {
  it("recovers without a restart after the apiserver was down for 30 s, and converges", async () => {
    const ns = await cp.newNamespace("outage");
    const seeded = await seedRookCluster(cp, ns, { mons: ["a", "b"] });
    const kubeconfig = await grantControllerRole(cp, ns);
    await ceph.setMonmap(seeded.clusterIPs);
    ctl = startController("ctl-0", {
      KUBECONFIG: kubeconfig,
      POD_NAMESPACE: ns,
      CEPH_MCS_CEPH_COMMAND: ceph.command,
      CEPH_MCS_RESYNC_SECONDS: "5",
    });
    await pin(cp, ns, "rook-ceph-mon-a", "242.0.1.10");
    await ceph.setMonmap({ a: "242.0.1.10", b: seeded.clusterIPs.b ?? "" });
    await eventually(
      () => readEndpoints(cp, ns),
      (c) => c.data?.data?.startsWith("a=242.0.1.10:6789,") === true,
    );
    assert.ok(cp.apiserverOutage);
    await cp.apiserverOutage(30_000);
    // While it was down, mon.b moved; the controller only learns of it from the API now.
    await pin(cp, ns, "rook-ceph-mon-b", "242.0.1.11");
    await ceph.setMonmap({ a: "242.0.1.10", b: "242.0.1.11" });
    await eventually(
      () => readEndpoints(cp, ns),
      (c) => c.data?.data === "a=242.0.1.10:6789,b=242.0.1.11:6789",
      90_000,
    ).catch((err: unknown) => {
      for (const l of ctl?.logs.slice(-25) ?? []) console.log(JSON.stringify(l).slice(0, 400));
      throw err;
    });
    assert.equal(ctl.proc.exitCode, null, "the same process, never restarted");
    const errors = ctl.logs.filter((l) => l.level === "fatal");
    assert.deepEqual(errors, []);
  });
});
