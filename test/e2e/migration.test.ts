// Issue 6 item 3 — enabling MCS on a RUNNING cluster, through the real controller process: three real
// Ceph 18.2.7 (reef) mons of cluster A run on their Rook Services' ClusterIPs (MCS off in the
// CephCluster, Rook's ConfigMap/Secret with those addresses, Rook's plain mon command line); then MCS is
// turned on and `ceph-mcs-agent controller` starts with two replicas (the shipped Role, the ceph CLI as
// the shipped Deployment configures it). The leader exports and pins each running mon's global IP
// (init mode's flow against the emulated Lighthouse + Globalnet and dnsmasq), finds the monmap still on
// the ClusterIPs and migrates the mons in place — same names, ranks and stores. A kubelet stand-in
// restarts each mon when it exits after `ceph mon set-addrs`. The gateway DNATs both address sets to
// the pods, as Globalnet + kube-proxy would. The mons' admin sockets are sampled every second and
// Secret rook-ceph-config is watched: the test prints the quorum timeline, the migration steps from the
// leader's log and every mon_host value the Secret took.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  CoordinationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  EventsV1Api,
  PatchStrategy,
  setHeaderOptions,
} from "@kubernetes/client-node";
import { createRookDaemon, readEndpoints, readMonHost, writeRookConfig } from "../harness/controller.ts";
import type { ControllerProcess } from "../harness/controller.ts";
import { cmd, e2eSkipReason, fmtSeconds } from "./harness/host.ts";
import { CephCluster, waitFor, type QuorumStatus } from "./harness/ceph.ts";
import {
  controllerKit,
  secretHistory,
  type ControllerKit,
  type SecretHistory,
} from "./harness/controller.ts";
import { keepRunning, type Supervised } from "./harness/kubelet.ts";
import {
  formedQuorum,
  noLeaderWindows,
  QuorumWatch,
  renderQuorumTable,
  type QuorumSample,
} from "./harness/monwatch.ts";
import { startWorld, type World } from "./harness/world.ts";
import type { Pod } from "./harness/topology.ts";

const skip = e2eSkipReason();
const MONS = ["a", "b", "c"] as const;
type MonId = (typeof MONS)[number];
const GLOBAL_IP = "ceph-mcs-agent.io/global-ip";

function monIps(q: QuorumStatus): Record<string, string> {
  return Object.fromEntries(
    q.monmap.mons.map((m) => [m.name, (m.public_addrs.addrvec[0]?.addr ?? "").replace(/:\d+$/, "")]),
  );
}

const ranks = (q: QuorumStatus) => q.monmap.mons.map((m) => `${m.rank}:${m.name}`).join(" ");
const addrvecs = (monHost: string) => new Set(monHost.match(/\[[^\]]+\]/g) ?? []);
const sameSet = (a: Set<string>, b: Set<string>) => a.size === b.size && [...a].every((x) => b.has(x));

const str = (v: unknown): string => (typeof v === "string" ? v : "");
const msgOf = (l: Record<string, unknown>): string => str(l.msg);
const isMigrationLine = (l: Record<string, unknown>) => /^migration[: ]/.test(msgOf(l));
const isMigrationEnd = (l: Record<string, unknown>) => /^migration(: done:| stopped| aborted)/.test(msgOf(l));

type StepRow = [mon: string, rank: string, leader: string, reply: string, back: string, extra: string];
const after_ = (detail: string): string => /after (\S+ s)/.exec(detail)?.[1] ?? "?";
const STEP_FIELDS: Record<string, (row: StepRow, detail: string) => void> = {
  reply: (row, d) => (row[3] = after_(d)),
  "no-reply": (row) => (row[3] = "lost"),
  moved: (row, d) => (row[4] = after_(d)),
  note: (row, d) => (row[5] = /(\d+) extra/.exec(d)?.[1] ?? "?"),
};

function stepEvent(l: Record<string, unknown>): { event: string; detail: string } {
  const [, event = "", detail = ""] = /^migration: ([a-z-]+): (.*)$/.exec(msgOf(l)) ?? [];
  return { event, detail };
}

function stepRows(lines: readonly Record<string, unknown>[]): StepRow[] {
  const rows: StepRow[] = [];
  let leader = "";
  for (const l of lines) {
    const { event, detail } = stepEvent(l);
    if (event === "quorum") leader = /leader (\S+),/.exec(detail)?.[1] ?? leader;
    if (event === "set-addrs")
      rows.push([str(l.mon), /rank (\d+)/.exec(detail)?.[1] ?? "?", leader, "", "", "0"]);
    const row = rows.at(-1);
    if (row) STEP_FIELDS[event]?.(row, detail);
  }
  return rows;
}

/** The steps as the leader logged them (`migration: <event>: <detail>`, with `mon`). */
function stepsTable(lines: readonly Record<string, unknown>[], exits: (id: string) => string): string {
  const cols = ["mon", "rank", "leader then", "set-addrs reply", "back in quorum", "extra epochs", "exits"];
  const cells = stepRows(lines).map((r) => [`mon.${r[0]}`, ...r.slice(1), exits(r[0])]);
  const widths = cols.map((c, i) => Math.max(c.length, ...cells.map((r) => r[i]?.length ?? 0)));
  return [cols, ...cells].map((r) => r.map((c, i) => c.padEnd(widths[i] ?? 0)).join("  ")).join("\n");
}

function endOfMigration(procs: readonly ControllerProcess[]) {
  for (const p of procs) {
    const line = p.logs.find(isMigrationEnd);
    if (line) return { p, line };
  }
  return undefined;
}

/** Mon states of a mon that is up and forming or in a quorum (a peon that lost its leader probes first). */
const QUORUM_STATES = ["leader", "peon", "electing", "probing"];
const upMons = (s: QuorumSample) =>
  Object.keys(s.mons).filter((id) => QUORUM_STATES.includes(s.mons[id]?.state ?? "down"));

/** Asserts ≥2 of 3 mons up at every sample and the whole quorum at the end; a line for the timeline. */
function checkQuorumSamples(samples: readonly QuorumSample[]): string {
  const short = samples.filter((s) => upMons(s).length < 2);
  assert.deepEqual(short, [], "never fewer than 2 mons up (leader, peon, electing or probing)");
  assert.deepEqual(formedQuorum(samples.at(-1)!), [...MONS]);
  const windows = noLeaderWindows(samples);
  assert.ok(
    windows.every((x) => x.to !== undefined),
    "every window without a leader closed",
  );
  const lens = windows.map((x) => `${(((x.to ?? 0) - x.from) / 1000).toFixed(0)} s`);
  const down = Math.max(...samples.map((s) => 3 - upMons(s).length));
  return (
    `quorum: ${samples.length} samples, at most ${down} of 3 mons down or restarting at any sample; ` +
    `${windows.length} windows without a leader (elections): ${lens.join(", ")}`
  );
}

async function cephClusterUid(w: World, ns: string): Promise<string> {
  const cc = (await w.mcs.cp.admin().makeApiClient(CustomObjectsApi).getNamespacedCustomObject({
    group: "ceph.rook.io",
    version: "v1",
    namespace: ns,
    plural: "cephclusters",
    name: "my-cluster",
  })) as { metadata: { uid: string } };
  return cc.metadata.uid;
}

/** What a user does: spec.network.multiClusterService of the CephCluster. */
async function setMcs(w: World, ns: string, mcs: { enabled: boolean; clusterID?: string }): Promise<void> {
  await w.mcs.cp
    .admin()
    .makeApiClient(CustomObjectsApi)
    .patchNamespacedCustomObject(
      {
        group: "ceph.rook.io",
        version: "v1",
        namespace: ns,
        plural: "cephclusters",
        name: "my-cluster",
        body: { spec: { network: { multiClusterService: mcs } } },
      },
      setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
    );
}

async function pinnedGlobals(w: World, ns: string): Promise<Record<string, string | undefined>> {
  const core = w.mcs.cp.admin().makeApiClient(CoreV1Api);
  const entries = await Promise.all(
    MONS.map(async (id) => {
      const svc = await core.readNamespacedService({ namespace: ns, name: `rook-ceph-mon-${id}` });
      return [id, svc.metadata?.annotations?.[GLOBAL_IP]] as const;
    }),
  );
  return Object.fromEntries(entries);
}

/** MonMigration* Events, oldest first: "<reason> (<instance>): <note>". */
async function migrationEvents(w: World, ns: string): Promise<string[]> {
  const list = await w.mcs.cp.admin().makeApiClient(EventsV1Api).listNamespacedEvent({ namespace: ns });
  return list.items
    .filter((e) => e.reason?.startsWith("MonMigration"))
    .sort((x, y) => String(x.eventTime).localeCompare(String(y.eventTime)))
    .map((e) => `${e.reason ?? ""} (${e.reportingInstance ?? ""}): ${e.note ?? ""}`);
}

describe(
  "e2e: MCS turned on under a running cluster — the controller migrates real reef mons in place",
  { skip, timeout: 1_200_000 },
  () => {
    let w: World;
    let ceph: CephCluster;
    let ns: string;
    const pods = {} as Record<MonId | "cli" | "cliB", Pod>;
    const clusterIps = {} as Record<MonId, string>;
    const globals = {} as Record<MonId, string>;
    const mons = {} as Record<MonId, Supervised>;
    let clientConf = "";
    let initial: QuorumStatus;
    let watch: QuorumWatch;
    let watchStart = 0;
    let kit: ControllerKit | undefined;
    let secrets: SecretHistory | undefined;
    let leader: ControllerProcess | undefined;
    let follower: ControllerProcess | undefined;
    let endpointsBefore: Record<string, string> = {};
    const tables: string[] = [];

    before(async () => {
      w = await startWorld();
      ns = w.mcs.cluster("a").ns;
      for (const [i, id] of MONS.entries()) pods[id] = await w.addPod("a", `mon-${id}`, 10 + i);
      pods.cli = await w.addPod("a", "cli", 30);
      pods.cliB = await w.addPod("b", "cli", 30, { globalOnly: true });
      ceph = await CephCluster.create(w.rt, "a");
      watch = new QuorumWatch(
        Object.fromEntries(MONS.map((id) => [id, ceph.host(`${ceph.dir}/run/ceph-mon.${id}.asok`)])),
      );
    });

    after(async () => {
      const started = w as World | undefined; // unset when before() failed
      if (!started) return;
      const samples = await watch.stop();
      if (samples.length > 0)
        tables.push(`── quorum, sampled every second\n${renderQuorumTable(samples, watchStart)}`);
      const exits = (id: string) =>
        (mons[id as MonId] as Supervised | undefined)?.exits.map((e) => String(e.code)).join(",") || "-";
      const migrator = kit?.procs.find((p) => p.logs.some(isMigrationLine));
      if (migrator)
        tables.push(`── migration steps (from ${migrator.name}'s log)\n${stepsTable(migrator.logs, exits)}`);
      if (secrets)
        tables.push(
          `── Secret rook-ceph-config mon_host, every value\n${secrets.values
            .map(
              (v) => `  ${fmtSeconds(v.at - watchStart).padStart(8)}  ${v.monHost}  (${v.writer ?? "Rook"})`,
            )
            .join("\n")}`,
        );
      process.stderr.write(
        `\n${started.timeline.render("e2e migration: timeline")}\n\n${tables.join("\n\n")}\n\n`,
      );
      await started.stop();
    });

    /** Rook's mon container command (MCS off: no wrapper, no init container). */
    const rookMonArgv = (id: MonId) => [
      "ceph-mon",
      "-c",
      ceph.conf,
      "--foreground",
      `--id=${id}`,
      `--public-addr=${clusterIps[id]}`,
      `--public-bind-addr=${pods[id].ip}`,
    ];

    /** The kubelet: restartPolicy Always, the same command line every time. */
    function supervise(id: MonId): Supervised {
      const start = () =>
        w.rt.start(pods[id], `mon.${id}`, rookMonArgv(id), { env: { POD_IP: pods[id].ip } });
      return keepRunning(`mon.${id}`, start, {
        cleanup: w.cleanup,
        onExit: (e) => w.timeline.mark(`a: mon.${id} exited (${e.code}); the kubelet restarts it`),
      });
    }

    /** Every mon says (admin socket) it is leader/peon of a quorum of all three: readiness, strictly. */
    async function allInQuorum(what: string): Promise<void> {
      await waitFor(
        what,
        async () => {
          const s = await watch.sample();
          const whole = MONS.every((id) => ["leader", "peon"].includes(s.mons[id]?.state ?? ""));
          return whole && formedQuorum(s).join(",") === MONS.join(",") ? true : undefined;
        },
        90_000,
        500,
      );
      w.timeline.mark(`a: all mons in quorum (${what})`);
    }

    test("MCS off: Rook's mon Services, ConfigMap and Secret; three mons on the ClusterIPs reach quorum", async () => {
      await setMcs(w, ns, { enabled: false });
      const uid = await cephClusterUid(w, ns);
      for (const id of MONS) {
        clusterIps[id] = await createRookDaemon(w.mcs.cp, ns, uid, { type: "mon", id });
        await w.mcs.setBackend("a", `rook-ceph-mon-${id}`, pods[id].ip);
      }
      await writeRookConfig(w.mcs.cp, ns, { uid, clusterIPs: clusterIps, port: 6789, outOfQuorum: [] });
      endpointsBefore = (await readEndpoints(w.mcs.cp, ns)).data ?? {};
      const monHost = await readMonHost(w.mcs.cp, ns);
      assert.equal(monHost, ceph.monHost(MONS.map((id) => clusterIps[id])));
      w.timeline.mark(
        `a: MCS off; Rook's mon Services ${MONS.map((id) => `${id}=${clusterIps[id]}`).join(" ")} ` +
          "(kube-proxy DNAT), ConfigMap rook-ceph-mon-endpoints and Secret rook-ceph-config with them",
      );
      await ceph.writeConf(monHost);
      clientConf = await ceph.writeConf(monHost, `${ceph.dir}/client.conf`);
      await ceph.createMonmap(MONS.map((id) => ({ id, ip: clusterIps[id] })));
      for (const id of MONS) {
        const mkfs = ["ceph-mon", "-c", ceph.conf, "--mkfs", "-i", id, "--monmap", `${ceph.dir}/monmap`];
        await w.rt.exec(pods[id], [
          ...mkfs,
          "--keyring",
          `${ceph.dir}/mon.keyring`,
          `--public-addr=${clusterIps[id]}`,
        ]);
        mons[id] = supervise(id);
      }
      await allInQuorum("first start");
      initial = await ceph.waitQuorum(pods.cli, MONS, 90_000, clientConf);
      w.timeline.mark(
        `a: quorum ${initial.quorum_names.join(",")} (leader ${initial.quorum_leader_name}), monmap e${initial.monmap.epoch}`,
      );
      assert.deepEqual(monIps(initial), clusterIps);
      watchStart = Date.now();
      watch.start();
      const ceph_ = [...ceph.cephPrefix(pods.cli, clientConf), "config-key"];
      await cmd([...ceph_, "set", "e2e/probe", "written-before-migration"]);
      assert.equal((await cmd([...ceph_, "get", "e2e/probe"])).stdout.trim(), "written-before-migration");
    });

    test("MCS on + controller (2 replicas): the leader exports, pins and migrates; ≥2 of 3 mons in quorum throughout", async () => {
      secrets = await secretHistory(w, "a");
      secrets.onChange = (v) => w.timeline.mark(`a: Secret mon_host ← ${v.monHost} (${v.writer ?? "Rook"})`);
      kit = await controllerKit(w, {
        cluster: "a",
        cliPod: pods.cli,
        ceph,
        monHost: await readMonHost(w.mcs.cp, ns),
      });
      kit.onLog = (name, l) => {
        const msg = msgOf(l);
        const interesting =
          /^(became the leader|exported the running mon|mon addresses updated|client mon addresses|migration)/;
        if (interesting.test(msg) || Number(l.level) >= 50) w.timeline.mark(`${name}: ${msg}`);
      };
      await setMcs(w, ns, { enabled: true, clusterID: "cluster-a" });
      w.timeline.mark(
        "a: CephCluster spec.network.multiClusterService = { enabled: true, clusterID: cluster-a }",
      );
      const procs = [kit.start("ctl-0"), kit.start("ctl-1")];
      // Polled, not waitForLog: the other replica's wait would keep a timer (and this process) alive.
      const end = await waitFor(
        "the end of the migration in a controller's log",
        () => Promise.resolve(endOfMigration(procs)),
        900_000,
        500,
      );
      leader = end.p;
      follower = procs.find((p) => p !== end.p);
      assert.match(msgOf(end.line), /^migration: done: migrated: moved /, JSON.stringify(end.line));
      const exported = leader.logs.filter((l) => msgOf(l).startsWith("exported the running mon"));
      assert.deepEqual(
        exported.map((l) => str(l.daemon)).sort(),
        MONS.map((id) => `mon.${id}`),
      );
      for (const p of procs)
        assert.deepEqual(
          p.logs.filter((l) => Number(l.level) >= 50),
          [],
          `${p.name} logged no errors`,
        );
      const lease = await w.mcs.cp
        .admin()
        .makeApiClient(CoordinationV1Api)
        .readNamespacedLease({ namespace: ns, name: "ceph-mcs-agent-controller" });
      assert.equal(lease.spec?.holderIdentity, leader.name, "the migrating replica holds the Lease");
      assert.deepEqual(follower!.logs.filter(isMigrationLine), [], "the other replica never migrated");
      const steps = stepRows(leader.logs);
      assert.deepEqual(steps.map((r) => r[0]).sort(), [...MONS], "one step per mon");
      assert.deepEqual(
        steps.map((r) => r[0] === r[2]),
        [false, false, true],
        "the quorum leader moves last",
      );
      await new Promise((r) => setTimeout(r, 3000)); // a few samples after the last step
      w.timeline.mark(checkQuorumSamples(watch.samples.filter((s) => s.at >= watchStart)));
    });

    test("every mon advertises its pinned global IP with the same name and rank; the mon itself agrees", async () => {
      const pins = await pinnedGlobals(w, ns);
      for (const id of MONS) {
        assert.match(pins[id] ?? "", /^242\.0\.1\.\d+$/, `mon.${id} pinned in cluster A's global slice`);
        globals[id] = pins[id]!;
      }
      assert.equal(new Set(Object.values(globals)).size, 3);
      const map = await w.topology.globalMap("a");
      for (const id of MONS) assert.equal(map[globals[id]], pods[id].ip, `gateway maps ${globals[id]}`);
      const newConf = await ceph.writeConf(
        ceph.monHost(MONS.map((id) => globals[id])),
        `${ceph.dir}/new.conf`,
      );
      const q = await ceph.waitQuorum(pods.cli, MONS, 60_000, newConf);
      assert.deepEqual(monIps(q), globals);
      assert.equal(ranks(q), ranks(initial));
      const last = await watch.sample();
      for (const id of MONS) assert.equal(last.mons[id]?.self, globals[id], `mon.${id}'s own monmap entry`);
      const exits = MONS.map((id) => `mon.${id}: ${mons[id].exits.map((e) => e.code).join(",") || "-"}`);
      w.timeline.mark(`exit codes after set-addrs (kubelet view): ${exits.join("; ")}`);
      for (const id of MONS) assert.ok(mons[id].exits.length >= 1, `mon.${id} exited and was restarted`);
      const probe = [...ceph.cephPrefix(pods.cli, newConf), "config-key", "get", "e2e/probe"];
      assert.equal((await cmd(probe)).stdout.trim(), "written-before-migration", "same stores");
    });

    test("Secret mon_host: old only → old+new for every mon during the migration → only the global IPs, Rook's format", async () => {
      const newOnly = ceph.monHost(MONS.map((id) => globals[id]));
      const oldOnly = ceph.monHost(MONS.map((id) => clusterIps[id]));
      assert.equal(await readMonHost(w.mcs.cp, ns), newOnly, "Rook's exact format, ConfigMap order");
      const both = new Set([...addrvecs(oldOnly), ...addrvecs(newOnly)]);
      const seq = secrets!.values.map((v) => addrvecs(v.monHost));
      const kinds = seq.map((s) =>
        sameSet(s, addrvecs(oldOnly))
          ? "old"
          : sameSet(s, both)
            ? "old+new"
            : sameSet(s, addrvecs(newOnly))
              ? "new"
              : "other",
      );
      assert.deepEqual(kinds, ["old", "old+new", "new"], secrets!.values.map((v) => v.monHost).join("\n"));
      const oldNew = secrets!.values[1]!;
      const firstMove = w.timeline.events.find((e) => e.what.includes("migration: set-addrs"));
      assert.ok(firstMove && oldNew.at - w.timeline.started <= firstMove.at, "old+new before the first move");
      for (const v of secrets!.values.slice(1))
        assert.match(v.writer ?? "", new RegExp(`^${leader!.name}/term-\\d+$`), "written by the leader");
      const data = (await readEndpoints(w.mcs.cp, ns)).data ?? {};
      assert.equal(data.data, MONS.map((id) => `${id}=${globals[id]}:6789`).join(","));
      const csi = JSON.parse(data["csi-cluster-config-json"] ?? "[]") as { monitors: string[] }[];
      assert.deepEqual(
        csi[0]?.monitors,
        MONS.map((id) => `${globals[id]}:6789`),
      );
      for (const key of ["maxMonId", "mapping", "outOfQuorum", "externalMons"])
        assert.equal(data[key], endpointsBefore[key], `${key} untouched`);
      const events = await migrationEvents(w, ns);
      w.timeline.mark(`Events: ${events.map((e) => e.split(":")[0]).join(", ")}`);
      assert.deepEqual(
        events.map((e) => e.split(" ")[0]),
        ["MonMigrationStarted", "MonMigrationDone"],
      );
    });

    test("cluster B's client, with mon_host from the Secret, reaches quorum over the global IPs only", async () => {
      const monHost = await readMonHost(w.mcs.cp, ns);
      const conf = await ceph.writeConf(monHost, `${ceph.dir}/from-b.conf`);
      const q = await ceph.waitQuorum(pods.cliB, MONS, 60_000, conf);
      w.timeline.mark(`b: quorum_status of A with the Secret's mon_host: ${q.quorum_names.join(",")}`);
      assert.deepEqual(monIps(q), globals);
      const [ca, cb] = [await w.topology.counters("a"), await w.topology.counters("b")];
      assert.equal(
        ca.transit_bad.packets + cb.transit_bad.packets,
        0,
        "only global IPs cross the transit link",
      );
      assert.equal(cb.pod_cidr.packets + cb.not_global.packets, 0, "B's client dialled only global IPs");
      assert.ok(cb.global_only_ok.packets > 0 && ca.transit_ok.packets > 0, "the guards saw the traffic");
    });

    test("a ClusterIP-only client is refused; after a hand-over the new leader has nothing to migrate", async () => {
      const onlyOld = await ceph.writeConf(
        ceph.monHost(MONS.map((id) => clusterIps[id])),
        `${ceph.dir}/old.conf`,
      );
      const old = cmd([
        ...w.rt.podArgv(pods.cli, ["ceph", "-c", onlyOld, "--connect-timeout", "5"]),
        "quorum_status",
      ]);
      await assert.rejects(old, /timed out|exit/, "the mons no longer advertise the ClusterIPs");
      w.timeline.mark("clients: ClusterIP-only mon_host is refused (the mons moved)");
      const monHost = await readMonHost(w.mcs.cp, ns);
      await kit!.stop(leader!);
      w.timeline.mark(`${leader!.name} stopped (SIGTERM)`);
      const next = follower!;
      await next.waitForLog((l) => l.msg === "became the leader", 60_000);
      const port = Number((await next.waitForLog((l) => typeof l.port === "number")).port);
      const okRounds = async () => {
        const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
        return Number(/ceph_mcs_reconcile_total\{result="ok"\} (\d+)/.exec(text)?.[1] ?? 0);
      };
      await waitFor(
        "3 reconcile rounds of the new leader",
        async () => ((await okRounds()) >= 3 ? true : undefined),
        60_000,
        500,
      );
      w.timeline.mark(`${next.name} leads: ${await okRounds()} rounds, no migration`);
      assert.deepEqual(next.logs.filter(isMigrationLine), []);
      assert.equal(await readMonHost(w.mcs.cp, ns), monHost, "nothing rewritten");
      assert.deepEqual((await migrationEvents(w, ns)).length, 2);
    });
  },
);
