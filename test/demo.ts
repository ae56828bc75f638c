// `npm run demo`: the whole init-mode flow on the real test control plane, in one go. A real
// kube-apiserver + etcd, a real DNS server for clusterset.local, an emulated Submariner Lighthouse
// 0.21 with Globalnet, and the agent run as real processes for mon.a and osd.0, as the kubelet would
// run the init containers. Then each daemon's command is shown as the wrapper would exec it.
import { spawnSync } from "node:child_process";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sharedControlPlane } from "./harness/controlplane.ts";
import { startScenario, WRAPPER, type AgentRun, type Daemon } from "./harness/scenario.ts";

const say = (s = ""): boolean => process.stdout.write(`${s}\n`);
const DAEMONS: Daemon[] = [
  { type: "mon", id: "a" },
  { type: "osd", id: "0" },
];

function wrappedCommand(d: Daemon, run: AgentRun, podIP: string): string {
  const bin = mkdtempSync(join(tmpdir(), "demo-bin-"));
  const stub = join(bin, `ceph-${d.type}`);
  writeFileSync(stub, '#!/bin/sh\necho "$(basename "$0") $*"\n');
  chmodSync(stub, 0o755);
  const args =
    d.type === "mon"
      ? ["--foreground", "--id", d.id, "--public-addr=10.96.0.10"]
      : ["--foreground", "--id", d.id];
  const r = spawnSync("/bin/sh", [WRAPPER, stub, ...args], {
    env: { PATH: process.env.PATH, CEPH_MCS_DIR: run.dir, POD_IP: podIP },
    encoding: "utf8",
  });
  rmSync(bin, { recursive: true, force: true });
  return r.stdout.trim();
}

function show(d: Daemon, run: AgentRun, podIP: string): void {
  const r = run.result;
  say(`── ${d.type}.${d.id}: exit ${run.code} after ${run.ms} ms (pod IP ${podIP})`);
  for (const l of run.logs) say(`   log  ${String(l.msg)}`);
  say(`   wrote ${run.dir}/public-addr = ${run.publicAddr ?? "(nothing)"}`);
  if (r) {
    const sources = r.sources.map((s) => `${s.name}=${s.value ?? "-"}${s.agreed ? " ✓" : ""}`).join("  ");
    say(
      `   result.json: sources ${sources}; export ${r.export?.apiVersion ?? ""}; pinned ${r.pin?.changed ? "now" : "before"}`,
    );
  }
  say(`   the daemon starts as: ${wrappedCommand(d, run, podIP)}`);
  say();
}

async function main(): Promise<void> {
  say(
    "Starting a real kube-apiserver + etcd, dnsmasq for clusterset.local, and an emulated Lighthouse 0.21 + Globalnet …",
  );
  const started = Date.now();
  const s = await startScenario({ emulator: { profile: "lighthouse-0.21-globalnet", timeScale: 0.5 } });
  try {
    say(
      `Control plane ${s.cp.server} (kube-apiserver v${s.cp.versions.K8S_VERSION}), namespace ${s.ns}, ready in ${Date.now() - started} ms.`,
    );
    say(
      "Running `ceph-mcs-agent init` for mon.a and osd.0 at the same time, as their init containers would …",
    );
    say();
    const runs = await Promise.all(DAEMONS.map((d) => s.run(d)));
    DAEMONS.forEach((d, i) => show(d, runs[i]!, s.podIP(d)));
    say("What the emulated MCS controller wrote, in order:");
    for (const e of s.emulator?.events ?? []) say(`   ${e.kind.padEnd(13)} ${e.key}  ${e.detail}`);
    const ok = runs.every((r) => r.code === 0);
    say();
    say(
      ok
        ? "Both daemons advertise their global IP and bind their pod IP."
        : "Something failed: see the log lines above.",
    );
    process.exitCode = ok ? 0 : 1;
  } finally {
    await s.stop();
    await (await sharedControlPlane()).stop();
  }
}

await main();
