// `npm run bench`: measures, side by side in one run, what ceph-mcs-agent promises (goals in the
// table) against one real control plane, and prints/writes the summary (test/bench/RESULTS.md).
// Not a test: nothing here fails the build; a missed goal is a row marked "misses".
// Knobs (env): BENCH_SAMPLES (a, default 7), BENCH_ROUNDS (b, default 12), BENCH_AGENTS (e, default 500),
// BENCH_AGENT_LOG_LEVEL (e, the agents' LOG_LEVEL), BENCH_WEBHOOK_PODS (w, default 200),
// BENCH_CONTROLLER_SAMPLES (k, default 10).
import { spawnSync } from "node:child_process";
import { rmSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { cpus, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { ROOT, publishState, startControlPlane, type ControlPlane } from "../harness/controlplane.ts";
import { buildBundle } from "./bundle.ts";
import { measureLatency, type LatencyResult } from "./latency.ts";
import { printTable, writeMarkdown, type Section } from "./report.ts";
import { measureRestart, type RestartResult } from "./restart.ts";
import { latencySection } from "./section-latency.ts";
import { benchScenario } from "./scenario.ts";
import { restartSections } from "./section-restart.ts";
import { swarmSection } from "./section-swarm.ts";
import { measureWebhook, webhookSection } from "./section-webhook.ts";
import { controllerSection, measureController } from "./section-controller.ts";
import { measureSwarm } from "./swarm.ts";

const RESULTS = join(ROOT, "test/bench/RESULTS.md");
const CLUSTER_ID = "cluster-a";

function knob(name: string, fallback: number): number {
  const v = Number(process.env[name]);
  return Number.isInteger(v) && v > 0 ? v : fallback;
}

function say(text: string): void {
  process.stderr.write(`[bench] ${text}\n`);
}

/** (a)–(d) on one namespace with realistic (timeScale 1) Lighthouse ≥0.21 + Globalnet delays. */
async function measureSingle(cp: ControlPlane, tmp: string): Promise<{ a: LatencyResult; b: RestartResult }> {
  const s = await benchScenario(cp, { profile: "lighthouse-0.21-globalnet", timeScale: 1 });
  try {
    const target = { ns: s.ns, kubeconfig: s.kubeconfig, dns: s.dns, tmp };
    const admin = cp.admin();
    say(`(a) ${knob("BENCH_SAMPLES", 7)} rounds of agent bundled / unbundled / baseline at timeScale 1`);
    const a = await measureLatency(
      { target, emulator: s.emulator, admin, clusterID: CLUSTER_ID },
      knob("BENCH_SAMPLES", 7),
    );
    say(`(b)–(d) restarts of ${a.restart.daemon.type}.${a.restart.daemon.id}`);
    const b = await measureRestart(target, a.restart, {
      rounds: knob("BENCH_ROUNDS", 12),
      rssRuns: 5,
      admin,
    });
    return { a, b };
  } finally {
    await s.stop();
  }
}

/** Which agent code was measured: the commit, and whether agent/ had uncommitted changes. */
function provenance(): string {
  const git = (...args: string[]) => spawnSync("git", args, { cwd: ROOT, encoding: "utf8" }).stdout.trim();
  const commit = git("rev-parse", "--short", "HEAD") || "?";
  const dirty = git("status", "--porcelain", "--", "agent", "scripts", "package.json");
  return dirty === "" ? `agent at commit ${commit}` : `agent at commit ${commit} plus uncommitted changes`;
}

async function measureAll(cp: ControlPlane, tmp: string): Promise<Section[]> {
  say("building dist/ceph-mcs-agent.mjs (npm run build)");
  const bundle = await buildBundle(tmp);
  const { a, b } = await measureSingle(cp, tmp);
  const e = await measureSwarm(cp, knob("BENCH_AGENTS", 500), tmp);
  say(`(w) admission webhook: ${knob("BENCH_WEBHOOK_PODS", 200)} pods at once, twice`);
  const w = await measureWebhook(cp, knob("BENCH_WEBHOOK_PODS", 200));
  say(`(k) controller: ${knob("BENCH_CONTROLLER_SAMPLES", 10)} pin changes, hand-overs, RSS`);
  const k = await measureController(cp, knob("BENCH_CONTROLLER_SAMPLES", 10));
  return [
    latencySection(a),
    ...restartSections(a, b, bundle),
    swarmSection(e),
    webhookSection(w),
    controllerSection(k),
  ];
}

async function main(): Promise<void> {
  const startedAt = new Date();
  const tmp = await mkdtemp(join(tmpdir(), "ceph-mcs-bench-"));
  process.once("exit", () => rmSync(tmp, { recursive: true, force: true }));
  for (const sig of ["SIGINT", "SIGTERM"] as const) process.once(sig, () => process.exit(130));
  say("starting etcd + kube-apiserver");
  const cp = await startControlPlane();
  process.once("exit", () => cp.killNow());
  publishState(cp);
  try {
    const measured = provenance();
    const sections = await measureAll(cp, tmp);
    const info = {
      startedAt: startedAt.toISOString(),
      durationMs: Date.now() - startedAt.getTime(),
      machine: `${cpus().length} × ${cpus()[0]?.model ?? "CPU"}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB`,
      versions: `${measured}; Node ${process.version}, kube-apiserver ${cp.versions.K8S_VERSION ?? "?"}, etcd ${cp.versions.ETCD_VERSION ?? "?"}`,
    };
    process.stdout.write(`\n${printTable(sections)}\n\n`);
    await writeMarkdown(RESULTS, info, sections);
    say(`wrote ${RESULTS} (${(info.durationMs / 1000).toFixed(0)} s)`);
  } finally {
    await cp.stop();
    await rm(tmp, { recursive: true, force: true });
  }
}

await main();
