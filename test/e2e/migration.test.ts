// Issue 6 item 3 — enabling MCS on a RUNNING cluster: three real Ceph 18.2.7 (reef) mons of cluster A
// start on their Services' ClusterIPs (MCS off, Rook's plain command line), a client works; MCS is
// turned on (the agent's init in each mon pod gets the global IP, the pods are recreated one at a
// time with the wrapper); then migrateMons with the real ceph CLI moves every mon in place — same
// name, rank and store — to its global IP. The gateway DNATs both address sets to the pods, as
// Globalnet + kube-proxy would. A kubelet-like supervisor restarts each mon when it exits after
// `ceph mon set-addrs`. The mons' admin sockets are sampled every second; the test prints the quorum
// timeline and asserts that at least 2 of 3 mons took part in the quorum at every sample.
//
// Later the controller process replaces runMigration() (it reads the same pinned global IPs).
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { CoreV1Api } from "@kubernetes/client-node";
import { pino } from "pino";
import { CephCli } from "../../agent/ceph/cli.ts";
import { systemClock } from "../../agent/clock.ts";
import {
  migrateMons,
  type AddressMove,
  type MigrationReport,
  type MonTarget,
  type PublishPhase,
} from "../../agent/controller/migrate.ts";
import { cmd, e2eSkipReason, fmtSeconds } from "./harness/host.ts";
import { assertInitOk } from "./harness/mcs.ts";
import { CephCluster, waitFor, type QuorumStatus } from "./harness/ceph.ts";
import { keepRunning, type Supervised } from "./harness/kubelet.ts";
import {
  formedQuorum,
  noLeaderWindows,
  participating,
  QuorumWatch,
  renderQuorumTable,
} from "./harness/monwatch.ts";
import { startWorld, type World } from "./harness/world.ts";
import type { Pod } from "./harness/topology.ts";

const skip = e2eSkipReason();
const MONS = ["a", "b", "c"] as const;
type MonId = (typeof MONS)[number];

function monIps(q: QuorumStatus): Record<string, string> {
  return Object.fromEntries(
    q.monmap.mons.map((m) => [m.name, (m.public_addrs.addrvec[0]?.addr ?? "").replace(/:\d+$/, "")]),
  );
}

const ranks = (q: QuorumStatus) => q.monmap.mons.map((m) => `${m.rank}:${m.name}`).join(" ");

function stepsTable(report: MigrationReport, exits: (id: string) => string): string {
  const cols = [
    "mon",
    "rank",
    "leader",
    "via",
    "monmap",
    "set-addrs reply",
    "back in quorum",
    "extra epochs",
    "exit",
  ];
  const rows = report.steps.map((s) => [
    `mon.${s.id}`,
    String(s.rank),
    s.leader ? "yes" : "no",
    `mon.${s.via}`,
    `e${s.epochBefore} → e${s.epochAfter}`,
    s.replyMs === undefined ? "lost" : fmtSeconds(s.replyMs),
    fmtSeconds(s.doneMs),
    String(s.extraEpochs),
    exits(s.id),
  ]);
  const widths = cols.map((c, i) => Math.max(c.length, ...rows.map((r) => r[i]?.length ?? 0)));
  return [cols, ...rows].map((r) => r.map((c, i) => c.padEnd(widths[i] ?? 0)).join("  ")).join("\n");
}

describe(
  "e2e: in-place mon migration, ClusterIP → global IP, real reef mons",
  { skip, timeout: 900_000 },
  () => {
    let w: World;
    let ceph: CephCluster;
    const pods = {} as Record<MonId | "cli", Pod>;
    const clusterIps = {} as Record<MonId, string>;
    const globals = {} as Record<MonId, string>;
    const dirs = {} as Record<MonId, string>;
    const mons = {} as Record<MonId, Supervised>;
    let clientConf = "";
    let initial: QuorumStatus;
    let watch: QuorumWatch;
    let watchStart = 0;
    let report: MigrationReport | undefined;
    const tables: string[] = [];

    before(async () => {
      w = await startWorld();
      for (const [i, id] of MONS.entries()) pods[id] = await w.addPod("a", `mon-${id}`, 10 + i);
      pods.cli = await w.addPod("a", "cli", 30);
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
      const exits = (id: string) => mons[id as MonId].exits.map((e) => String(e.code)).join(",") || "-";
      if (report) tables.push(`── migration steps (${report.outcome})\n${stepsTable(report, exits)}`);
      process.stderr.write(
        `\n${started.timeline.render("e2e migration: timeline")}\n\n${tables.join("\n\n")}\n\n`,
      );
      await started.stop();
    });

    /** Rook's mon container command (MCS off: no wrapper). */
    const rookMonArgv = (id: MonId) => [
      "ceph-mon",
      "-c",
      ceph.conf,
      "--foreground",
      `--id=${id}`,
      `--public-addr=${clusterIps[id]}`,
      `--public-bind-addr=${pods[id].ip}`,
    ];

    function supervise(id: MonId, start: () => ReturnType<typeof ceph.startMon>): Supervised {
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

    async function publish(phase: PublishPhase, addrs: AddressMove[]): Promise<void> {
      const ips =
        phase === "old+new"
          ? [...addrs.map((a) => a.from), ...addrs.map((a) => a.to)]
          : addrs.map((a) => a.to);
      await ceph.writeConf(ceph.monHost([...new Set(ips)]), clientConf);
    }

    /** The controller's part (later: the controller process, reading the pinned global IPs). */
    async function runMigration(targets: MonTarget[]): Promise<MigrationReport> {
      const cli = new CephCli({
        argv: w.rt.podArgv(pods.cli, ["ceph", "-c", clientConf]),
        connectTimeoutSeconds: 10,
        callTimeoutMs: 30_000,
      });
      const log = pino(
        { level: "debug" },
        pino.destination({ dest: `${w.rt.logDir}/migration.log`, sync: true }),
      );
      return migrateMons(
        targets,
        {
          ceph: cli,
          clock: systemClock,
          log,
          publish,
          onTimeline: (e) => w.timeline.mark(`migration ${e.event}: ${e.detail}`),
        },
        AbortSignal.timeout(600_000),
      );
    }

    async function createRookMonService(id: MonId): Promise<string> {
      const ns = w.mcs.cluster("a").ns;
      const svc = await w.mcs.cp
        .admin()
        .makeApiClient(CoreV1Api)
        .createNamespacedService({
          namespace: ns,
          fieldManager: "rook",
          body: {
            metadata: { name: `rook-ceph-mon-${id}`, labels: { app: "rook-ceph-mon", mon: id } },
            spec: {
              selector: {
                app: "rook-ceph-mon",
                rook_cluster: ns,
                ceph_daemon_id: id,
                mon: id,
                mon_cluster: ns,
              },
              ports: [
                { name: "tcp-msgr1", port: 6789, targetPort: 6789, protocol: "TCP" },
                { name: "tcp-msgr2", port: 3300, targetPort: 3300, protocol: "TCP" },
              ],
            },
          },
        });
      await w.mcs.setBackend("a", `rook-ceph-mon-${id}`, pods[id].ip);
      return svc.spec?.clusterIP ?? "";
    }

    test("MCS off: three mons on their Services' ClusterIPs reach quorum and a client works", async () => {
      for (const id of MONS) clusterIps[id] = await createRookMonService(id);
      const old = MONS.map((id) => clusterIps[id]);
      w.timeline.mark(
        `a: Rook's mon Services: ${MONS.map((id) => `${id}=${clusterIps[id]}`).join(" ")} (kube-proxy DNAT)`,
      );
      await ceph.writeConf(ceph.monHost(old));
      clientConf = await ceph.writeConf(ceph.monHost(old), `${ceph.dir}/client.conf`);
      await ceph.createMonmap(MONS.map((id) => ({ id, ip: clusterIps[id] })));
      for (const id of MONS) {
        const mkfs = ["ceph-mon", "-c", ceph.conf, "--mkfs", "-i", id, "--monmap", `${ceph.dir}/monmap`];
        await w.rt.exec(pods[id], [
          ...mkfs,
          "--keyring",
          `${ceph.dir}/mon.keyring`,
          `--public-addr=${clusterIps[id]}`,
        ]);
        mons[id] = supervise(id, () =>
          w.rt.start(pods[id], `mon.${id}`, rookMonArgv(id), { env: { POD_IP: pods[id].ip } }),
        );
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

    test("MCS on: the agent's init gives each mon a global IP; recreated pods keep their monmap address", async () => {
      for (const id of MONS) dirs[id] = await w.sharedDir(pods[id], 1);
      const runs = await Promise.all(
        MONS.map((id) => w.mcs.runInit(pods[id], { type: "mon", id }, dirs[id])),
      );
      for (const [i, id] of MONS.entries()) globals[id] = assertInitOk(runs[i]!, `mon.${id}`);
      assert.equal(new Set(Object.values(globals)).size, 3);
      const map = await w.topology.globalMap("a");
      for (const id of MONS)
        assert.equal(map[globals[id]], pods[id].ip, `gateway maps ${globals[id]} to mon.${id}`);
      // The webhook injects the init container on pod re-creation: a rolling restart, one mon at a time,
      // now started through the wrapper with --public-addr=<global IP> (ignored: the mon is in the monmap).
      for (const id of MONS) {
        await mons[id].stop();
        mons[id] = supervise(id, () => ceph.startMon(pods[id], id, dirs[id], clusterIps[id]));
        w.timeline.mark(`a: pod mon-${id} recreated: mon.${id} runs through ceph-mcs-exec`);
        await allInQuorum(`mon.${id} back after its pod was recreated`);
      }
      const q = await ceph.waitQuorum(pods.cli, MONS, 90_000, clientConf);
      assert.deepEqual(
        monIps(q),
        clusterIps,
        "still advertising the ClusterIPs: a mon's address is its monmap entry",
      );
      assert.equal(q.monmap.epoch, initial.monmap.epoch);
    });

    test("migrateMons moves every mon to its global IP in place; at least 2 of 3 in the quorum throughout", async () => {
      const targets = MONS.map((id) => ({ id, to: globals[id], msgr2Only: false }));
      report = await runMigration(targets);
      assert.equal(report.outcome, "migrated", JSON.stringify(report.stop));
      assert.deepEqual([...report.moved].sort(), [...MONS]);
      assert.deepEqual(
        report.steps.map((s) => s.leader),
        [false, false, true],
        "the leader moves last",
      );
      await new Promise((r) => setTimeout(r, 3000)); // a few samples after the last step
      const samples = watch.samples;
      const short = samples.filter((s) => participating(s).length < 2);
      assert.deepEqual(short, [], "never fewer than 2 mons up and in quorum or electing");
      assert.deepEqual(formedQuorum(samples.at(-1)!), [...MONS]);
      const windows = noLeaderWindows(samples.filter((s) => s.at >= watchStart));
      w.timeline.mark(
        `quorum: ${samples.length} samples, ${windows.length} windows without a leader: ` +
          windows
            .map((x) => (x.to === undefined ? "open" : `${((x.to - x.from) / 1000).toFixed(0)} s`))
            .join(", "),
      );
    });

    test("every mon advertises its global IP with the same name and rank; the mon itself agrees", async () => {
      const q = await ceph.waitQuorum(pods.cli, MONS, 60_000, clientConf);
      assert.deepEqual(monIps(q), globals);
      assert.equal(ranks(q), ranks(initial));
      const last = await watch.sample();
      for (const id of MONS) assert.equal(last.mons[id]?.self, globals[id], `mon.${id}'s own monmap entry`);
      const exits = MONS.map((id) => `mon.${id}: ${mons[id].exits.map((e) => e.code).join(",") || "-"}`);
      w.timeline.mark(`exit codes after set-addrs (kubelet view): ${exits.join("; ")}`);
      const ceph_ = [...ceph.cephPrefix(pods.cli, clientConf), "config-key", "get", "e2e/probe"];
      assert.equal((await cmd(ceph_)).stdout.trim(), "written-before-migration", "same stores");
    });

    test("clients: only the global IPs work now; a second run changes nothing", async () => {
      const onlyNew = await ceph.writeConf(
        ceph.monHost(MONS.map((id) => globals[id])),
        `${ceph.dir}/new.conf`,
      );
      const onlyOld = await ceph.writeConf(
        ceph.monHost(MONS.map((id) => clusterIps[id])),
        `${ceph.dir}/old.conf`,
      );
      const q = await ceph.ceph<QuorumStatus>(pods.cli, ["quorum_status"], onlyNew, 30_000);
      assert.deepEqual([...q.quorum_names].sort(), [...MONS]);
      const old = cmd([
        ...w.rt.podArgv(pods.cli, ["ceph", "-c", onlyOld, "--connect-timeout", "5"]),
        "quorum_status",
      ]);
      await assert.rejects(
        old,
        /timed out|exit/,
        "a client with only the ClusterIPs cannot talk to the mons any more",
      );
      w.timeline.mark(
        "clients: global-only mon_host works; ClusterIP-only mon_host is refused (the mons moved)",
      );
      const again = await runMigration(MONS.map((id) => ({ id, to: globals[id], msgr2Only: false })));
      assert.equal(again.outcome, "unchanged", JSON.stringify(again.stop));
      assert.deepEqual([...again.alreadyThere].sort(), [...MONS]);
    });
  },
);
