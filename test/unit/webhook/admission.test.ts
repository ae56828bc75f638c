// AdmissionReview in, response out: per-entry policy (opted-in refuses what it cannot inject, the
// CephCluster entry only injects where MCS is on), quiet vs warned skips, malformed requests.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parse } from "yaml";
import { BadReview, review, type Mode, type ReviewContext } from "../../../agent/webhook/admission.ts";
import { loadWebhookEnv } from "../../../agent/config.ts";
import { ConfigError } from "../../../agent/errors.ts";

const FIXTURES = fileURLToPath(new URL("../../fixtures/rook-pods/", import.meta.url));
const pod = (name: string): Record<string, unknown> =>
  parse(readFileSync(`${FIXTURES}${name}.yaml`, "utf8")) as Record<string, unknown>;

function ctx(mode: Mode, enabled: readonly string[] = []): ReviewContext {
  return {
    mode,
    settings: { image: "img:1", pullPolicy: "IfNotPresent", version: "0.1.0" },
    clusterEnabled: (ns) => enabled.includes(ns),
  };
}

function reviewOf(object: unknown, extra: Record<string, unknown> = {}): unknown {
  return {
    apiVersion: "admission.k8s.io/v1",
    kind: "AdmissionReview",
    request: {
      uid: "0b6a2b58-9d2c-4f3e-8a4f-1d2e3f4a5b6c",
      kind: { group: "", version: "v1", kind: "Pod" },
      namespace: "rook-ceph",
      operation: "CREATE",
      object,
      ...extra,
    },
  };
}

describe("admission review", () => {
  test("a mon pod in an opted-in namespace gets a base64 JSONPatch echoing the uid", () => {
    const r = review(reviewOf(pod("mon-a")), ctx("opted-in"));
    assert.equal(r.body.response.uid, "0b6a2b58-9d2c-4f3e-8a4f-1d2e3f4a5b6c");
    assert.equal(r.body.response.allowed, true);
    assert.equal(r.body.response.patchType, "JSONPatch");
    const ops = JSON.parse(Buffer.from(r.body.response.patch ?? "", "base64").toString()) as unknown[];
    assert.deepEqual(ops, r.ops);
    assert.equal(r.outcome.kind, "injected");
    assert.equal(r.pod, "rook-ceph/rook-ceph-mon-a-7d8b9c6f5-*");
  });

  test("the CephCluster entry injects only where multiClusterService is enabled", () => {
    assert.equal(review(reviewOf(pod("osd-0")), ctx("cephcluster", ["rook-ceph"])).outcome.kind, "injected");
    const off = review(reviewOf(pod("osd-0")), ctx("cephcluster", ["elsewhere"]));
    assert.deepEqual(off.outcome, { kind: "skipped", reason: "cluster-disabled" });
    assert.equal(off.body.response.patch, undefined);
  });

  test("a mon whose command cannot be wrapped: refused when opted in, admitted with a warning otherwise", () => {
    const broken = pod("mon-a") as { spec: { containers: { command: string[] }[] } };
    broken.spec.containers[0]!.command = ["/start-mon.sh"];
    const refused = review(reviewOf(broken), ctx("opted-in"));
    assert.equal(refused.body.response.allowed, false);
    assert.match(
      refused.body.response.status?.message ?? "",
      /refused rather than started with a non-global address/,
    );
    const warned = review(reviewOf(broken), ctx("cephcluster", ["rook-ceph"]));
    assert.equal(warned.body.response.allowed, true);
    assert.match(warned.body.response.warnings?.[0] ?? "", /cannot be set/);
  });

  test("host network: admitted, warned; canary and mgr: admitted silently", () => {
    const host = review(reviewOf(pod("mon-hostnet")), ctx("opted-in"));
    assert.equal(host.body.response.allowed, true);
    assert.match(host.body.response.warnings?.[0] ?? "", /host-network/);
    for (const name of ["mon-canary", "mgr-a"]) {
      const r = review(reviewOf(pod(name)), ctx("opted-in"));
      assert.equal(r.body.response.warnings, undefined);
      assert.equal(r.outcome.kind, "skipped");
    }
  });

  test("anything but CREATE of a Pod is let through untouched", () => {
    const update = review(reviewOf(pod("mon-a"), { operation: "UPDATE" }), ctx("opted-in"));
    assert.deepEqual(update.outcome, { kind: "ignored", why: "UPDATE /v1/Pod" });
  });

  test("malformed requests are BadReview (the server answers 400)", () => {
    assert.throws(() => review({ kind: "Pod" }, ctx("opted-in")), BadReview);
    assert.throws(() => review({ kind: "AdmissionReview", apiVersion: "v2" }, ctx("opted-in")), BadReview);
    assert.throws(
      () =>
        review({ kind: "AdmissionReview", apiVersion: "admission.k8s.io/v1", request: {} }, ctx("opted-in")),
      /no request.uid/,
    );
  });
});

describe("webhook config", () => {
  test("defaults, and every problem at once", () => {
    const env = loadWebhookEnv({ CEPH_MCS_WEBHOOK_IMAGE: "reg/agent:1" });
    assert.deepEqual(env.listen, { host: "0.0.0.0", port: 8443 });
    assert.deepEqual(env.http, { host: "0.0.0.0", port: 8080 });
    assert.equal(env.tlsDir, "/etc/ceph-mcs-agent/tls");
    assert.equal(env.pullPolicy, "IfNotPresent");
    assert.equal(loadWebhookEnv({ CEPH_MCS_WEBHOOK_IMAGE: "i", CEPH_MCS_LISTEN: "off" }).http, undefined);
    assert.throws(
      () =>
        loadWebhookEnv({
          CEPH_MCS_WEBHOOK_LISTEN: "off",
          CEPH_MCS_WEBHOOK_PULL_POLICY: "Sometimes",
          CEPH_MCS_WEBHOOK_TLS_DIR: "tls",
        }),
      (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        assert.equal(err.problems.length, 4, err.message);
        assert.match(err.message, /CEPH_MCS_WEBHOOK_IMAGE is not set/);
        return true;
      },
    );
  });
});
