import assert from "node:assert/strict";
import { test } from "node:test";
import { loadControllerEnv, loadStatusEnv } from "../../../agent/config.ts";
import { ConfigError } from "../../../agent/errors.ts";

const base = { POD_NAME: "ceph-mcs-agent-controller-5d9f-x2", POD_NAMESPACE: "rook-ceph" };

test("controller env: defaults are controller-runtime's timings and :8080", () => {
  const c = loadControllerEnv(base);
  assert.deepEqual(c.timing, { leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 });
  assert.deepEqual(c.listen, { host: "0.0.0.0", port: 8080 });
  assert.equal(c.identity, base.POD_NAME);
  assert.equal(c.namespace, "rook-ceph");
  assert.equal(c.cephCommand, undefined);
  assert.equal(c.cleanupGraceMs, 600_000);
});

test("controller env: CEPH_MCS_LISTEN=off turns the HTTP server off; [::]:9090 and :0 parse", () => {
  assert.equal(loadControllerEnv({ ...base, CEPH_MCS_LISTEN: "off" }).listen, undefined);
  assert.deepEqual(loadControllerEnv({ ...base, CEPH_MCS_LISTEN: "[::]:9090" }).listen, {
    host: "::",
    port: 9090,
  });
  assert.deepEqual(loadControllerEnv({ ...base, CEPH_MCS_LISTEN: ":0" }).listen, {
    host: "0.0.0.0",
    port: 0,
  });
});

test("controller env: decimals for seconds, the ceph command split on spaces", () => {
  const c = loadControllerEnv({
    ...base,
    CEPH_MCS_RETRY_PERIOD: "0.25",
    CEPH_MCS_CEPH_COMMAND: "  ceph -c /etc/ceph/ceph.conf ",
  });
  assert.equal(c.timing.retryPeriodMs, 250);
  assert.deepEqual(c.cephCommand, ["ceph", "-c", "/etc/ceph/ceph.conf"]);
});

test("controller env: every problem at once, each naming the variable", () => {
  assert.throws(
    () => loadControllerEnv({ CEPH_MCS_LISTEN: "localhost", CEPH_MCS_LEASE_DURATION: "soon" }),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      const text = err.problems.join("\n");
      for (const v of ["POD_NAME", "POD_NAMESPACE", "CEPH_MCS_LISTEN", "CEPH_MCS_LEASE_DURATION"])
        assert.ok(text.includes(v), `${v} in ${text}`);
      return true;
    },
  );
});

test("status env: the namespace from CEPH_MCS_CEPHCLUSTER_NAMESPACE or POD_NAMESPACE", () => {
  assert.equal(loadStatusEnv({ CEPH_MCS_CEPHCLUSTER_NAMESPACE: "rook-ceph" }).namespace, "rook-ceph");
  assert.equal(loadStatusEnv({ POD_NAMESPACE: "other" }).namespace, "other");
  assert.throws(() => loadStatusEnv({}), /POD_NAMESPACE is not set/);
});
