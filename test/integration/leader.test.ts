// Leader election against the real apiserver: controller processes (one leads; SIGKILL, SIGTERM and
// SIGSTOP hand-overs) and 200 forced hand-overs of in-process electors whose every write is recorded
// with its term — no two leaders ever write in overlapping terms. Hand-over times are printed here and
// measured by the benchmark, never asserted.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import {
  CoordinationV1Api,
  CoreV1Api,
  PatchStrategy,
  setHeaderOptions,
  type KubeConfig,
} from "@kubernetes/client-node";
import { systemClock } from "../../agent/clock.ts";
import { LeaderElector, type LeasePort, type Term } from "../../agent/controller/leader.ts";
import { AgentError } from "../../agent/errors.ts";
import { createClients, type KubeClients } from "../../agent/kube/client.ts";
import { leasePort } from "../../agent/kube/lease.ts";
import { createLogger } from "../../agent/log.ts";
import { sharedControlPlane, type ControlPlane } from "../harness/controlplane.ts";
import {
  eventually,
  grantControllerRole,
  seedRookCluster,
  startController,
  type ControllerProcess,
} from "../harness/controller.ts";

const LEASE = "ceph-mcs-agent-controller";
let cp: ControlPlane;
const running: ControllerProcess[] = [];

before(async () => {
  cp = await sharedControlPlane();
});

after(async () => {
  for (const p of running) p.kill("SIGKILL");
  await Promise.all(running.map((p) => p.exited));
});

async function holder(kc: KubeConfig, ns: string): Promise<string> {
  const lease = await kc
    .makeApiClient(CoordinationV1Api)
    .readNamespacedLease({ namespace: ns, name: LEASE })
    .catch(() => undefined);
  return lease?.spec?.holderIdentity ?? "";
}

const leads = (p: ControllerProcess): Promise<unknown> =>
  p.waitForLog((l) => l.msg === "became the leader", 60_000);

describe("leader election: controller processes", () => {
  // eslint-disable-next-line max-statements -- one scenario: three hand-overs, each checked in place
  it("exactly one of three leads; SIGKILL, SIGTERM and SIGSTOP hand over to another", async () => {
    const ns = await cp.newNamespace("lead");
    await seedRookCluster(cp, ns, { mons: ["a"] });
    const kubeconfig = await grantControllerRole(cp, ns);
    const env = { KUBECONFIG: kubeconfig, POD_NAMESPACE: ns };
    const procs = ["ctl-a", "ctl-b", "ctl-c"].map((n) => startController(n, env));
    running.push(...procs);
    const kc = cp.admin();
    const first = await eventually(
      () => holder(kc, ns),
      (h) => h !== "",
    );
    await sleep(3000); // more than a lease duration: nobody else may have taken it
    assert.equal(await holder(kc, ns), first);
    const leaders = procs.filter((p) => p.logs.some((l) => l.msg === "became the leader"));
    assert.deepEqual(
      leaders.map((p) => p.name),
      [first],
    );

    const timeline: string[] = [];
    let current = first;
    for (const signal of ["SIGKILL", "SIGTERM", "SIGSTOP"] as const) {
      const leader = procs.find((p) => p.name === current);
      assert.ok(leader);
      const t0 = Date.now();
      leader.kill(signal);
      const next = await eventually(
        () => holder(kc, ns),
        (h) => h !== "" && h !== current,
        30_000,
      ).catch((err: unknown) => {
        for (const p of procs) console.log(p.name, p.proc.exitCode, JSON.stringify(p.logs.slice(-4)));
        throw new Error(`${timeline.join("; ")} then ${signal}: ${String(err)}`);
      });
      timeline.push(`${signal} ${current}: ${next} leads after ${Date.now() - t0} ms`);
      const nextProc = procs.find((p) => p.name === next);
      assert.ok(nextProc);
      await leads(nextProc);
      if (signal === "SIGTERM") assert.equal(await leader.exited, 0, "SIGTERM: clean exit after release");
      // As a Deployment would: a new replica replaces the one that went.
      if (signal !== "SIGSTOP") {
        const replacement = startController(`ctl-${signal.toLowerCase()}`, env);
        running.push(replacement);
        procs.push(replacement);
      }
      if (signal === "SIGSTOP") {
        leader.kill("SIGCONT");
        await leader.waitForLog((l) => String(l.msg).includes("lost the controller lease"), 30_000);
      }
      current = next;
    }
    console.log(`  hand-overs (lease 2 s, renew 1.5 s, retry 0.25 s):\n    ${timeline.join("\n    ")}`);
  });
});

// ---------------------------------------------------------------------------------------------
// 200 forced hand-overs, in-process, real apiserver: every write carries its writer's term.

interface Write {
  rv: number;
  writer: string;
  transitions: number;
}

/** A LeasePort that can be cut off (a partition) to force a hand-over by expiry. */
function partitionable(port: LeasePort): LeasePort & { cut: boolean } {
  const gate = async <T>(fn: () => Promise<T>): Promise<T> => {
    if (wrapped.cut) throw new AgentError("retryable", "partitioned (test)");
    return fn();
  };
  const wrapped = {
    cut: false,
    get: (s: AbortSignal) => gate(() => port.get(s)),
    create: (spec: Parameters<LeasePort["create"]>[0], s: AbortSignal) => gate(() => port.create(spec, s)),
    update: (spec: Parameters<LeasePort["update"]>[0], rv: string, s: AbortSignal) =>
      gate(() => port.update(spec, rv, s)),
  };
  return wrapped;
}

interface Candidate {
  name: string;
  port: ReturnType<typeof partitionable>;
  stop: AbortController;
  done: Promise<void>;
  elector: LeaderElector;
}

describe("leader election: 200 forced hand-overs", () => {
  let clients: KubeClients;
  let ns: string;

  before(async () => {
    ns = await cp.newNamespace("terms");
    const kubeconfig = await grantControllerRole(cp, ns);
    clients = await createClients({ kubeconfigPath: kubeconfig, requestTimeoutMs: 5000 });
    await cp
      .admin()
      .makeApiClient(CoreV1Api)
      .createNamespacedConfigMap({
        namespace: ns,
        body: { metadata: { name: "rook-ceph-mon-endpoints" }, data: {} },
      });
  });

  after(() => clients.close());

  it("never lets two leaders write in overlapping terms", async () => {
    const timing = { leaseDurationMs: 1000, renewDeadlineMs: 800, retryPeriodMs: 100 };
    const log = createLogger({ level: "silent", bindings: {} });
    const merge = setHeaderOptions("Content-Type", PatchStrategy.MergePatch, clients.opts);
    let seq = 0;
    /** The leader's work: keep writing, each write fenced on the term and conditional on nothing else. */
    const work = async (elector: LeaderElector, term: Term, signal: AbortSignal): Promise<void> => {
      while (!signal.aborted) {
        const now = elector.term();
        if (now?.transitions !== term.transitions) break;
        const writer = `${term.identity}/term-${term.transitions}`;
        await clients.core
          .patchNamespacedConfigMap(
            {
              namespace: ns,
              name: "rook-ceph-mon-endpoints",
              body: { data: { writer, seq: String(++seq) } },
            },
            merge,
          )
          .catch(() => undefined);
        await sleep(15);
      }
    };
    const start = (name: string): Candidate => {
      const port = partitionable(leasePort(clients, { namespace: ns, name: LEASE }));
      const elector = new LeaderElector(port, systemClock, { identity: name, timing, log });
      const stop = new AbortController();
      const done = elector.run(stop.signal, {
        onStartedLeading: (term, signal) => work(elector, term, signal),
      });
      return { name, port, stop, done, elector };
    };
    const writes = await recordWrites(clients, ns, async () => {
      const candidates = ["e-0", "e-1", "e-2"].map(start);
      const kc = cp.admin();
      for (let i = 0; i < 200; i++) {
        const h = await eventually(
          () => holder(kc, ns),
          (x) => x !== "",
          30_000,
        );
        const idx = candidates.findIndex((c) => c.name === h);
        const leader = candidates[idx];
        if (!leader) continue;
        await sleep(20); // let it write
        if (i % 8 === 7) {
          // Partition: it keeps believing until its renew deadline; the others wait a whole lease.
          leader.port.cut = true;
          await eventually(
            () => holder(kc, ns),
            (x) => x !== "" && x !== h,
            30_000,
          );
          leader.port.cut = false;
        } else {
          leader.stop.abort();
          await leader.done;
          candidates[idx] = start(`${leader.name.split("#")[0] ?? leader.name}#${i}`);
        }
      }
      for (const c of candidates) c.stop.abort();
      await Promise.all(candidates.map((c) => c.done));
    });
    assertNoOverlap(writes);
    console.log(
      `  200 forced hand-overs: ${writes.length} writes in ${new Set(writes.map((w) => w.transitions)).size} terms`,
    );
  });
});

/** Every write that landed, in resourceVersion order, from a watch on the ConfigMap. */
async function recordWrites(clients: KubeClients, ns: string, body: () => Promise<void>): Promise<Write[]> {
  const { Watch } = await import("@kubernetes/client-node");
  const writes: Write[] = [];
  const req = await new Watch(clients.kc).watch(
    `/api/v1/namespaces/${ns}/configmaps`,
    { fieldSelector: "metadata.name=rook-ceph-mon-endpoints" },
    (_type, obj: { metadata?: { resourceVersion?: string }; data?: Record<string, string> }) => {
      const m = /^(.+)\/term-(\d+)$/.exec(obj.data?.writer ?? "");
      if (m)
        writes.push({
          rv: Number(obj.metadata?.resourceVersion),
          writer: m[1] ?? "",
          transitions: Number(m[2]),
        });
    },
    () => undefined,
  );
  try {
    await body();
    await sleep(300);
  } finally {
    req.abort();
  }
  return writes.sort((a, b) => a.rv - b.rv);
}

function assertNoOverlap(writes: readonly Write[]): void {
  assert.ok(writes.length > 200, `expected writes in every term, got ${writes.length}`);
  const writerOfTerm = new Map<number, string>();
  let last = -1;
  for (const w of writes) {
    assert.ok(w.transitions >= last, `a write of term ${w.transitions} landed after one of term ${last}`);
    last = w.transitions;
    const owner = writerOfTerm.get(w.transitions) ?? w.writer;
    assert.equal(owner, w.writer, `term ${w.transitions} written by ${owner} and ${w.writer}`);
    writerOfTerm.set(w.transitions, w.writer);
  }
}
