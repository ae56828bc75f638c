// Init mode when things go wrong: permanent reasons fail fast with the controller's own message and the
// misconfiguration exit code; transient ones are waited out; nothing wrong is ever written.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { startUdpResponder, type DnsReply } from "../harness/dns.ts";
import { MON, withScenario, lastLog, type AgentRun, type Scenario } from "../harness/scenario.ts";
import type { FaultName } from "../emulator/mcs-controller.ts";

const FAST = 0.05;
const GLOBALNET = { profile: "lighthouse-0.21-globalnet" as const, timeScale: FAST };

function assertNothingWritten(run: AgentRun, code: number, message: RegExp): void {
  assert.equal(run.code, code, lastLog(run));
  assert.equal(run.publicAddr, undefined, "no public-addr may be written");
  assert.match(run.terminationMessage ?? "", message);
}

describe("permanent reasons fail fast with the controller's message", () => {
  const cases: [FaultName, string, RegExp][] = [
    ["invalid-type", "lighthouse-0.20", /UnsupportedServiceType|InvalidServiceType/],
    [
      "restricted-namespace",
      "lighthouse-0.21-globalnet",
      /RestrictedNamespace.*cannot be exported due to namespace restriction/,
    ],
    ["pool-exhausted", "lighthouse-0.21-globalnet", /Unable to obtain global IP/],
    ["type-conflict", "lighthouse-0.21-globalnet", /TypeConflict|ConflictingType/],
    ["export-failed", "lighthouse-0.20", /ExportFailed/],
  ];
  for (const [fault, profile, message] of cases) {
    test(`${fault} (${profile}) → exit 2 well before the deadline`, async () => {
      const emulator = {
        profile: profile as "lighthouse-0.20",
        timeScale: FAST,
        faults: {} as Record<string, FaultName[]>,
      };
      await withScenario({ emulator }, async (s) => {
        s.emulator?.setFaults(s.ns, "rook-ceph-mon-a", [fault]);
        const run = await s.run(MON, { CEPH_MCS_DEADLINE_SECONDS: "60" });
        assertNothingWritten(run, 2, message);
        assert.ok(run.ms < 20_000, `failed fast (${run.ms} ms), not at the 60 s deadline`);
      });
    });
  }
});

describe("transient states are waited out", () => {
  test("no conditions for a while, then valid", async () => {
    await withScenario({ emulator: { ...GLOBALNET, delays: { silence: 3000 }, timeScale: 1 } }, async (s) => {
      s.emulator?.setFaults(s.ns, "rook-ceph-mon-a", ["silent"]);
      const run = await s.run(MON);
      assert.equal(run.code, 0, lastLog(run));
      assert.ok(
        run.logs.some((l) => l.reason === "NoConditions"),
        "saw the silence",
      );
    });
  });

  test("global IP not yet allocated (ServiceGlobalIPUnavailable), then allocated", async () => {
    await withScenario(
      { emulator: { ...GLOBALNET, delays: { giipAllocate: 2500 }, timeScale: 1 } },
      async (s) => {
        const run = await s.run(MON);
        assert.equal(run.code, 0, lastLog(run));
        assert.ok(
          run.logs.some((l) => l.reason === "ServiceGlobalIPUnavailable"),
          "waited for the allocation",
        );
      },
    );
  });
});

describe("address sources", () => {
  for (const fault of ["dns-disagrees", "endpointslice-disagrees"] as const) {
    test(`${fault}: never a guess — gives up at the deadline naming both values`, async () => {
      await withScenario({ emulator: GLOBALNET }, async (s) => {
        s.emulator?.setFaults(s.ns, "rook-ceph-mon-a", [fault]);
        const run = await s.run(MON, { CEPH_MCS_DEADLINE_SECONDS: "10" });
        assertNothingWritten(run, 3, /Disagreement.*242\.0\.1\.\d+.*242\.0\.1\.\d+/s);
      });
    });
  }

  test("several A records for the cluster-specific name → exit 2 (ambiguous)", async () => {
    await withScenario({ emulator: GLOBALNET }, async (s) => {
      s.emulator?.setFaults(s.ns, "rook-ceph-mon-a", ["dns-multiple"]);
      const run = await s.run(MON);
      assertNothingWritten(run, 2, /Ambiguous/);
    });
  });

  test("an address outside the configured global CIDR → exit 2", async () => {
    await withScenario({ emulator: GLOBALNET }, async (s) => {
      const run = await s.run(MON, { CEPH_MCS_GLOBAL_CIDRS: "242.0.9.0/24" });
      assertNothingWritten(run, 2, /OutsideGlobalCidr.*242\.0\.9\.0\/24/s);
    });
  });

  /** Runs the agent with a DNS server whose every answer the test decides. */
  async function withDns(
    reply: (s: Scenario) => DnsReply,
    env: Record<string, string>,
    check: (r: AgentRun, s: Scenario) => void,
  ) {
    await withScenario({ emulator: GLOBALNET }, async (s) => {
      const dns = await startUdpResponder(() => reply(s));
      try {
        check(await s.run(MON, { CEPH_MCS_DNS_SERVERS: dns.server, ...env }), s);
      } finally {
        await dns.stop();
      }
    });
  }

  const sourceDetail = (r: AgentRun) => r.result?.sources.find((x) => x.name === "dns")?.detail ?? "";

  test("NODATA: the API sources carry it; result.json says the name had no record", async () => {
    await withDns(
      () => ({ kind: "nodata" }),
      {},
      (r) => {
        assert.equal(r.code, 0, lastLog(r));
        assert.match(sourceDetail(r), /NODATA/);
      },
    );
  });

  test("NXDOMAIN: likewise, and told apart from NODATA", async () => {
    await withDns(
      () => ({ kind: "nxdomain" }),
      {},
      (r) => {
        assert.equal(r.code, 0, lastLog(r));
        assert.match(sourceDetail(r), /NXDOMAIN/);
      },
    );
  });

  test("DNS timeout: retried, then the deadline with a message naming the DNS server", async () => {
    await withDns(
      () => ({ kind: "drop" }),
      { CEPH_MCS_DEADLINE_SECONDS: "10" },
      (r) => {
        assertNothingWritten(r, 3, /DNS A query via 127\.0\.0\.1:\d+/);
      },
    );
  });
});
