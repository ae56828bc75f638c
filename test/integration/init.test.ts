// Init mode end to end: the agent as a real process, the real apiserver (shipped Role, a
// ServiceAccount token), a real DNS server, and the emulated MCS controller of each implementation.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { CoreV1Api, CustomObjectsApi, PatchStrategy, setHeaderOptions } from "@kubernetes/client-node";
import {
  MON,
  OSD,
  withScenario,
  exportRef,
  lastLog,
  type AgentRun,
  type Scenario,
} from "../harness/scenario.ts";
import type { ProfileName } from "../emulator/mcs-controller.ts";

const FAST = 0.05;

function assertWritten(run: AgentRun, ip: string | undefined): void {
  assert.equal(run.code, 0, lastLog(run));
  assert.ok(run.publicAddr, "public-addr written");
  if (ip) assert.equal(run.publicAddr, ip);
  assert.equal(run.result?.globalIP, run.publicAddr);
  assert.ok(run.wrapperInstalled);
}

function assertRefused(run: AgentRun, code: number, message: RegExp): void {
  assert.equal(run.code, code, lastLog(run));
  assert.equal(run.publicAddr, undefined, "no public-addr may be written");
  assert.match(run.terminationMessage ?? "", message);
}

async function service(s: Scenario, name: string) {
  return s.cp.admin().makeApiClient(CoreV1Api).readNamespacedService({ name, namespace: s.ns });
}

async function serviceExport(s: Scenario, name: string) {
  const api = s.cp.admin().makeApiClient(CustomObjectsApi);
  const ref = exportRef(s, name);
  return (await api.getNamespacedCustomObject(ref)) as {
    metadata: {
      resourceVersion: string;
      uid: string;
      annotations?: Record<string, string>;
      ownerReferences?: unknown[];
    };
  };
}

describe("happy path per imitated implementation", () => {
  const lighthouse: ProfileName[] = [
    "lighthouse-0.12",
    "lighthouse-0.15",
    "lighthouse-0.20",
    "lighthouse-0.21-globalnet",
  ];
  for (const profile of lighthouse) {
    test(`${profile}: mon and OSD get the exported address`, async () => {
      await withScenario({ emulator: { profile, timeScale: FAST } }, async (s) => {
        for (const d of [MON, OSD]) {
          const run = await s.run(d);
          const svc = await service(s, `rook-ceph-${d.type}-${d.id}`);
          const expected = s.emulator?.globalnet
            ? s.emulator.globalIp(s.ns, svc.metadata!.name!)
            : svc.spec?.clusterIP;
          assertWritten(run, expected);
          assert.ok(run.result!.sources.filter((x) => x.agreed).length >= 1);
          assert.equal(
            svc.metadata?.annotations?.["ceph-mcs-agent.io/global-ip"],
            run.publicAddr,
            "pinned on the Service",
          );
          const exp = await serviceExport(s, svc.metadata!.name!);
          assert.equal(
            exp.metadata.annotations?.["ceph-mcs-agent.io/global-ip"],
            run.publicAddr,
            "pinned on the export",
          );
        }
      });
    });
  }

  for (const profile of ["cilium", "antrea"] as const) {
    test(`${profile}: the export becomes valid, then a clear refusal (no per-cluster address exists)`, async () => {
      await withScenario({ emulator: { profile, timeScale: FAST } }, async (s) => {
        s.emulator?.setEndpointsReady(s.ns, "rook-ceph-mon-a", true);
        const run = await s.run(MON);
        assertRefused(
          run,
          2,
          new RegExp(`MCS implementation \\(${profile}\\) publishes no cluster-specific address`),
        );
        assert.ok(
          run.logs.some((l) => l.state === "ready"),
          "the export was seen valid first",
        );
      });
    });
  }
});

describe("address forms", () => {
  test("msgr2-only mon: only the v2 port is exported and the marker is written", async () => {
    await withScenario(
      { emulator: { profile: "lighthouse-0.21-globalnet", timeScale: FAST }, requireMsgr2: true },
      async (s) => {
        const run = await s.run(MON);
        assertWritten(run, undefined);
        assert.equal(run.result?.msgr2Only, true);
        const svc = await service(s, "rook-ceph-mon-a");
        assert.deepEqual(
          svc.spec?.ports?.map((p) => [p.name, p.port]),
          [["tcp-msgr2", 3300]],
        );
      },
    );
  });

  test("IPv6: a Globalnet IPv6 address is resolved through AAAA records", async () => {
    const opts = {
      profile: "lighthouse-0.21-globalnet" as const,
      timeScale: FAST,
      globalCidr: "fd00:242:1::/112",
    };
    await withScenario({ emulator: opts }, async (s) => {
      const run = await s.run(OSD, { CEPH_MCS_IP_FAMILY: "6", CEPH_MCS_GLOBAL_CIDRS: "fd00:242:1::/112" });
      assertWritten(run, undefined);
      assert.match(run.publicAddr!, /^fd00:242:1::[0-9a-f]+$/);
      assert.equal(run.result?.family, 6);
      assert.ok(run.result.sources.find((x) => x.name === "dns")?.agreed, "DNS AAAA agreed");
    });
  });
});

describe("idempotence, adoption, pinning", () => {
  test("a second run changes nothing and writes the same address", async () => {
    await withScenario({ emulator: { profile: "lighthouse-0.21-globalnet", timeScale: FAST } }, async (s) => {
      const first = await s.run(MON);
      assertWritten(first, undefined);
      const svc1 = await service(s, "rook-ceph-mon-a");
      const exp1 = await serviceExport(s, "rook-ceph-mon-a");
      const second = await s.run(MON, {}, first.dir);
      assertWritten(second, first.publicAddr);
      assert.equal(second.result?.pin?.changed, false);
      assert.equal(
        (await service(s, "rook-ceph-mon-a")).metadata?.resourceVersion,
        svc1.metadata?.resourceVersion,
      );
      assert.equal(
        (await serviceExport(s, "rook-ceph-mon-a")).metadata.resourceVersion,
        exp1.metadata.resourceVersion,
      );
    });
  });

  test("an existing Rook-made Service and export are adopted, not recreated", async () => {
    await withScenario({ emulator: { profile: "lighthouse-0.20", timeScale: FAST } }, async (s) => {
      const core = s.cp.admin().makeApiClient(CoreV1Api);
      const cluster = (await s.cp.admin().makeApiClient(CustomObjectsApi).getNamespacedCustomObject({
        group: "ceph.rook.io",
        version: "v1",
        namespace: s.ns,
        plural: "cephclusters",
        name: "my-cluster",
      })) as { metadata: { uid: string } };
      // Rook's controller reference (metav1.NewControllerRef): atomic for server-side apply.
      const owner = {
        apiVersion: "ceph.rook.io/v1",
        kind: "CephCluster",
        name: "my-cluster",
        uid: cluster.metadata.uid,
        controller: true,
        blockOwnerDeletion: true,
      };
      const rook = await core.createNamespacedService({
        namespace: s.ns,
        fieldManager: "rook",
        body: {
          metadata: {
            name: "rook-ceph-mon-a",
            labels: { app: "rook-ceph-mon", mon: "a" },
            ownerReferences: [owner],
          },
          spec: {
            selector: {
              app: "rook-ceph-mon",
              rook_cluster: s.ns,
              ceph_daemon_id: "a",
              mon: "a",
              mon_cluster: s.ns,
            },
            ports: [
              { name: "tcp-msgr1", port: 6789, targetPort: 6789, protocol: "TCP" },
              { name: "tcp-msgr2", port: 3300, targetPort: 3300, protocol: "TCP" },
            ],
          },
        },
      });
      const run = await s.run(MON);
      assertWritten(run, rook.spec?.clusterIP);
      const after = await service(s, "rook-ceph-mon-a");
      assert.equal(after.metadata?.uid, rook.metadata?.uid, "same object");
      assert.ok(
        run.logs.some((l) => l.adopted === true),
        "logged as adopted",
      );
      assert.equal(after.spec?.publishNotReadyAddresses, true);
    });
  });

  test("a mon whose exported address changed refuses to start; an OSD re-pins and proceeds", async () => {
    await withScenario({ emulator: { profile: "lighthouse-0.21-globalnet", timeScale: FAST } }, async (s) => {
      const core = s.cp.admin().makeApiClient(CoreV1Api);
      for (const d of [MON, OSD]) assertWritten(await s.run(d), undefined);
      const pinOld = { metadata: { annotations: { "ceph-mcs-agent.io/global-ip": "242.0.1.77" } } };
      for (const name of ["rook-ceph-mon-a", "rook-ceph-osd-0"]) {
        await core.patchNamespacedService({ name, namespace: s.ns, body: pinOld }, mergePatch());
        const api = s.cp.admin().makeApiClient(CustomObjectsApi);
        const ref = exportRef(s, name);
        await api.patchNamespacedCustomObject({ ...ref, body: pinOld }, mergePatch());
      }
      const mon = await s.run(MON);
      assertRefused(mon, 4, /mon address changed: pinned 242\.0\.1\.77/);
      const osd = await s.run(OSD);
      assertWritten(osd, undefined);
      assert.equal(osd.result?.pin?.previous, "242.0.1.77");
      assert.ok(osd.logs.some((l) => l.level === "warn" && String(l.msg).includes("OSD global IP changed")));
    });
  });

  test("MCS disabled: only the wrapper is written and the daemon starts unchanged", async () => {
    await withScenario({ mcs: { enabled: false } }, async (s) => {
      const run = await s.run(MON);
      assert.equal(run.code, 0, lastLog(run));
      assert.equal(run.publicAddr, undefined);
      assert.ok(run.wrapperInstalled);
    });
  });
});

const mergePatch = () => setHeaderOptions("Content-Type", PatchStrategy.MergePatch);
