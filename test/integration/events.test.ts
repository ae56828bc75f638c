// Kubernetes Events (events.k8s.io/v1) the init container leaves on its pod — success, a permanent
// fault, waiting too long, the deadline — and no secret in anything a run prints or writes: the
// ServiceAccount token must never appear, even with LOG_LEVEL=trace and on authentication failures.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFile, rm, writeFile } from "node:fs/promises";
import { CoreV1Api, EventsV1Api, KubeConfig, type EventsV1Event } from "@kubernetes/client-node";
import {
  MON,
  lastLog,
  withScenario,
  type AgentRun,
  type Scenario,
  type ScenarioOptions,
} from "../harness/scenario.ts";

const SA = "ceph-mcs-agent-init";
const POD = "rook-ceph-mon-a-0";
const SVC = "rook-ceph-mon-a";
const GLOBALNET = { profile: "lighthouse-0.21-globalnet" as const, timeScale: 0.05 };

interface Ctx {
  s: Scenario;
  kubeconfig: string;
  token: string;
}

/** The token in a kubeconfig file. */
async function tokenOf(path: string): Promise<string> {
  const kc = new KubeConfig();
  kc.loadFromString(await readFile(path, "utf8"));
  return kc.getCurrentUser()?.token ?? "";
}

/** A scenario whose runs all use one kubeconfig file; `token` is the secret inside it. */
async function withTokenScenario(opts: ScenarioOptions, body: (c: Ctx) => Promise<void>): Promise<void> {
  await withScenario(opts, async (s) => {
    // Re-issues the token into the very file the scenario's runs use, and tells us its path.
    const kubeconfig = await s.cp.serviceAccountKubeconfigFile(s.ns, SA);
    const token = await tokenOf(kubeconfig);
    assert.equal(token.split(".").length, 3, "a JWT ServiceAccount token");
    await body({ s, kubeconfig, token });
  });
}

/** Everything a run leaves for people to read: log lines, stderr, termination message, result.json. */
function outputs(r: AgentRun): Record<string, string> {
  return {
    logs: JSON.stringify(r.logs),
    stderr: r.stderr,
    terminationMessage: r.terminationMessage ?? "",
    resultJson: JSON.stringify(r.result ?? null),
  };
}

/** Neither the token nor its signature (the secret part) appears anywhere. */
function assertNoSecret(texts: Record<string, string>, token: string): void {
  const signature = token.split(".")[2] ?? token;
  for (const [where, text] of Object.entries(texts)) {
    assert.ok(!text.includes(token), `the ServiceAccount token appears in ${where}`);
    assert.ok(!text.includes(signature), `the token's signature appears in ${where}`);
  }
}

/** Every run of this file goes through here: its outputs are checked for the token. */
async function run(c: Ctx, env: Record<string, string> = {}): Promise<AgentRun> {
  const r = await c.s.run(MON, { KUBECONFIG: c.kubeconfig, ...env });
  assertNoSecret(outputs(r), c.token);
  return r;
}

async function podEvents(s: Scenario): Promise<EventsV1Event[]> {
  const list = await s.cp.admin().makeApiClient(EventsV1Api).listNamespacedEvent({ namespace: s.ns });
  return list.items.filter((e) => e.regarding?.kind === "Pod" && e.regarding.name === POD);
}

/** The one Event with `reason`, pointing at the pod, from the agent. */
function eventFor(events: readonly EventsV1Event[], reason: string, s: Scenario): EventsV1Event {
  const found = events.filter((e) => e.reason === reason);
  assert.equal(found.length, 1, `one ${reason} Event; got ${JSON.stringify(events.map((e) => e.reason))}`);
  const e = found[0]!;
  const { apiVersion, kind, namespace, name } = e.regarding ?? {};
  assert.deepEqual(
    { apiVersion, kind, namespace, name },
    { apiVersion: "v1", kind: "Pod", namespace: s.ns, name: POD },
  );
  assert.equal(e.reportingController, "ceph-mcs-agent.io/init");
  assert.equal(e.reportingInstance, POD);
  return e;
}

describe("Events on the pod", { concurrency: 4 }, () => {
  test("success: GlobalAddressReady (Normal) naming the global IP", async () => {
    await withTokenScenario({ emulator: GLOBALNET }, async (c) => {
      const r = await run(c);
      assert.equal(r.code, 0, lastLog(r));
      const events = await podEvents(c.s);
      const e = eventFor(events, "GlobalAddressReady", c.s);
      assert.equal(e.type, "Normal");
      assert.ok(e.note?.includes(`advertising global IP ${r.publicAddr}`), e.note);
      assert.deepEqual(
        events.filter((x) => x.type !== "Normal").map((x) => x.reason),
        [],
        "no Warning on a fast success",
      );
    });
  });

  test("permanent fault: GlobalAddressFailed (Warning) with the controller's message", async () => {
    await withTokenScenario({ emulator: GLOBALNET }, async (c) => {
      c.s.emulator?.setFaults(c.s.ns, SVC, ["restricted-namespace"]);
      const r = await run(c);
      assert.equal(r.code, 2, lastLog(r));
      const e = eventFor(await podEvents(c.s), "GlobalAddressFailed", c.s);
      assert.equal(e.type, "Warning");
      assert.match(e.note ?? "", /RestrictedNamespace.*cannot be exported due to namespace restriction/);
      assert.equal(
        e.note,
        r.terminationMessage?.slice(0, 1000),
        "the Event says what the termination message says",
      );
    });
  });

  test("waiting too long: GlobalAddressSlow (Warning) after CEPH_MCS_WARN_AFTER_SECONDS, then GlobalAddressReady", async () => {
    const emulator = { ...GLOBALNET, timeScale: 1, delays: { silence: 4000 } };
    await withTokenScenario({ emulator }, async (c) => {
      c.s.emulator?.setFaults(c.s.ns, SVC, ["silent"]);
      const r = await run(c, { CEPH_MCS_WARN_AFTER_SECONDS: "1" });
      assert.equal(r.code, 0, lastLog(r));
      const events = await podEvents(c.s);
      const slow = eventFor(events, "GlobalAddressSlow", c.s);
      assert.equal(slow.type, "Warning");
      assert.match(slow.note ?? "", /still waiting .* after 1s \(gives up after 20s\)/);
      const ready = eventFor(events, "GlobalAddressReady", c.s);
      assert.ok(new Date(String(slow.eventTime)) < new Date(String(ready.eventTime)), "slow, then ready");
    });
  });

  test("deadline: GlobalAddressTimeout (Warning) with the last export state", async () => {
    const emulator = { ...GLOBALNET, timeScale: 1, delays: { silence: 120_000 } };
    await withTokenScenario({ emulator }, async (c) => {
      c.s.emulator?.setFaults(c.s.ns, SVC, ["silent"]);
      const r = await run(c, { CEPH_MCS_DEADLINE_SECONDS: "10", CEPH_MCS_WARN_AFTER_SECONDS: "2" });
      assert.equal(r.code, 3, lastLog(r));
      assert.equal(r.publicAddr, undefined);
      const events = await podEvents(c.s);
      assert.equal(eventFor(events, "GlobalAddressSlow", c.s).type, "Warning");
      const timeout = eventFor(events, "GlobalAddressTimeout", c.s);
      assert.equal(timeout.type, "Warning");
      assert.match(
        timeout.note ?? "",
        /gave up waiting for the ServiceExport: last state waiting NoConditions/,
      );
    });
  });

  test("kubectl describe pod shows them: the core/v1 view matches the pod's uid", async () => {
    await withTokenScenario({ emulator: GLOBALNET }, async (c) => {
      const r = await run(c);
      assert.equal(r.code, 0, lastLog(r));
      eventFor(await podEvents(c.s), "GlobalAddressReady", c.s); // exists in events.k8s.io/v1
      const core = c.s.cp.admin().makeApiClient(CoreV1Api);
      const pod = await core.readNamespacedPod({ namespace: c.s.ns, name: POD });
      // The field selector kubectl describe builds from the pod (kubectl/pkg/describe searchEvents).
      const fieldSelector = [
        `involvedObject.name=${POD}`,
        `involvedObject.namespace=${c.s.ns}`,
        "involvedObject.kind=Pod",
        `involvedObject.uid=${pod.metadata?.uid ?? ""}`,
      ].join(",");
      const seen = await core.listNamespacedEvent({ namespace: c.s.ns, fieldSelector });
      assert.deepEqual(
        seen.items.map((e) => e.reason),
        ["GlobalAddressReady"],
      );
    });
  });
});

describe("no secrets in any output", { concurrency: 4 }, () => {
  const TRACE = { LOG_LEVEL: "trace" };

  test("LOG_LEVEL=trace, success and a permanent failure: the token never appears", async () => {
    await withTokenScenario({ emulator: GLOBALNET }, async (c) => {
      const ok = await run(c, TRACE);
      assert.equal(ok.code, 0, lastLog(ok));
      assert.ok(
        ok.logs.some((l) => l.level === "debug"),
        "trace level really logs more than info",
      );
      const forbidden = await run(c, { ...TRACE, CEPH_MCS_CEPHCLUSTER_NAMESPACE: "kube-system" });
      assert.equal(forbidden.code, 2, lastLog(forbidden));
      const bad = await run(c, { ...TRACE, POD_IP: "" });
      assert.equal(bad.code, 2, lastLog(bad));
      // Events are readable by anyone who may list events in the namespace.
      const notes = (await podEvents(c.s)).map((e) => `${e.reason ?? ""}: ${e.note ?? ""}`).join("\n");
      assertNoSecret({ events: notes }, c.token);
    });
  });

  test("a rejected token (401) is not printed either, nor the real one", async () => {
    await withTokenScenario({ emulator: GLOBALNET }, async (c) => {
      const tampered = `${c.token.slice(0, -8)}AAAAAAAA`;
      const path = `${c.kubeconfig}.tampered`;
      await writeFile(path, (await readFile(c.kubeconfig, "utf8")).replace(c.token, tampered), {
        mode: 0o600,
      });
      const r = await run(c, { ...TRACE, KUBECONFIG: path }).finally(() => rm(path, { force: true }));
      assert.equal(r.code, 2, lastLog(r));
      assert.match(r.terminationMessage ?? "", /Unauthorized/i);
      assertNoSecret(outputs(r), tampered);
    });
  });
});
