// `ceph-mcs-agent controller` in the e2e: real processes on the host (the apiserver and dnsmasq listen on
// the host link), with the shipped Role's ServiceAccount, init mode's DNS/CIDR env for its exporter, and
// the ceph CLI run inside a pod of the cluster, configured as manifests/base/controller.yaml does it
// (`--conf /dev/null --name client.admin --keyring … --mon-host <Secret mon_host at start>`).
//
//   const kit = await controllerKit(w, { cluster: "a", cliPod, ceph, monHost });
//   const p = kit.start("ctl-0");            // registered with the world's Cleanup (SIGTERM, then SIGKILL)
//   kit.onLog = (name, line) => …;            // every JSON log line of every replica
//   const h = await secretHistory(w, "a");    // every value Secret rook-ceph-config `mon_host` takes
import { createWriteStream } from "node:fs";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { Watch, type V1Secret } from "@kubernetes/client-node";
import { grantControllerRole, startController, type ControllerProcess } from "../../harness/controller.ts";
import type { CephCluster } from "./ceph.ts";
import type { Pod } from "./topology.ts";
import type { World } from "./world.ts";

export interface ControllerKitOptions {
  cluster: string;
  /** The pod whose netns and root the controller's ceph CLI runs in. */
  cliPod: Pod;
  ceph: CephCluster;
  /** What the Deployment's $(ROOK_CEPH_MON_HOST) would hold when the replica starts. */
  monHost: string;
  env?: Record<string, string>;
}

export interface ControllerKit {
  readonly procs: ControllerProcess[];
  readonly cephCommand: string;
  onLog: ((name: string, line: Record<string, unknown>) => void) | undefined;
  start(name: string): ControllerProcess;
  /** SIGTERM, and the exit (SIGKILL after `graceMs`). */
  stop(p: ControllerProcess, graceMs?: number): Promise<void>;
}

const shq = (s: string): string => `'${s.replaceAll("'", `'\\''`)}'`;

async function stopProcess(p: ControllerProcess, graceMs = 15_000): Promise<void> {
  if (p.proc.exitCode !== null || p.proc.signalCode !== null) return;
  const timer = setTimeout(() => p.kill("SIGKILL"), graceMs);
  p.kill("SIGTERM");
  await p.exited;
  clearTimeout(timer);
}

export async function controllerKit(w: World, o: ControllerKitOptions): Promise<ControllerKit> {
  const c = w.mcs.cluster(o.cluster);
  const kubeconfig = await grantControllerRole(w.mcs.cp, c.ns);
  // CEPH_MCS_CEPH_COMMAND is split on blanks: a script enters the pod (netns + chroot + mounts).
  const enter = join(w.rt.runDir, `enter-${o.cliPod.cluster}-${o.cliPod.name}.sh`);
  await writeFile(enter, `#!/bin/sh\nexec ${w.rt.podArgv(o.cliPod, []).map(shq).join(" ")} "$@"\n`, {
    mode: 0o755,
  });
  const keyring = `${o.ceph.dir}/ceph.client.admin.keyring`;
  const cephCommand = `${enter} ceph --conf /dev/null --name client.admin --keyring ${keyring} --mon-host ${o.monHost}`;
  const env = {
    KUBECONFIG: kubeconfig,
    POD_NAMESPACE: c.ns,
    CEPH_MCS_CEPH_COMMAND: cephCommand,
    CEPH_MCS_DNS_SERVERS: w.mcs.dns.server,
    CEPH_MCS_GLOBAL_CIDRS: c.globalCidr,
    CEPH_MCS_RESYNC_SECONDS: "2",
    CEPH_MCS_LISTEN: "127.0.0.1:0",
    // The shipped defaults: a busy 2-core machine must not cost the leader its lease mid-migration.
    CEPH_MCS_LEASE_DURATION: "15",
    CEPH_MCS_RENEW_DEADLINE: "10",
    CEPH_MCS_RETRY_PERIOD: "2",
    ...o.env,
  };
  const kit: ControllerKit = {
    procs: [],
    cephCommand,
    onLog: undefined,
    start(name) {
      const p = startController(name, env);
      kit.procs.push(p);
      const file = createWriteStream(join(w.rt.logDir, `controller-${name}.log`));
      p.proc.stdout!.pipe(file);
      createInterface({ input: p.proc.stdout! }).on("line", (text) => {
        try {
          kit.onLog?.(name, JSON.parse(text) as Record<string, unknown>);
        } catch {
          // not JSON: startController keeps it as { msg }
        }
      });
      w.cleanup.add(
        `controller ${name}`,
        () => stopProcess(p),
        () => p.kill("SIGKILL"),
      );
      return p;
    },
    stop: stopProcess,
  };
  return kit;
}

export interface SecretValue {
  at: number;
  monHost: string;
  writer: string | undefined;
}

export interface SecretHistory {
  /** Distinct consecutive values of `mon_host`, the first one as it was when the watch began. */
  readonly values: SecretValue[];
  onChange: ((v: SecretValue) => void) | undefined;
  stop(): void;
}

/** Watches Secret rook-ceph-config (resuming from the last resourceVersion) and keeps each mon_host. */
export async function secretHistory(w: World, cluster: string): Promise<SecretHistory> {
  const ns = w.mcs.cluster(cluster).ns;
  const values: SecretValue[] = [];
  let stopped = false;
  let rv: string | undefined;
  let abort: AbortController | undefined;
  const seen = (s: V1Secret): void => {
    rv = s.metadata?.resourceVersion ?? rv;
    const monHost = Buffer.from(s.data?.mon_host ?? "", "base64").toString("utf8");
    if (values.at(-1)?.monHost === monHost) return;
    const writer = s.metadata?.annotations?.["ceph-mcs-agent.io/written-by"];
    const v = { at: Date.now(), monHost, writer };
    values.push(v);
    h.onChange?.(v);
  };
  const watch = async (): Promise<void> => {
    if (stopped) return;
    abort = await new Watch(w.mcs.cp.admin()).watch(
      `/api/v1/namespaces/${ns}/secrets`,
      { fieldSelector: "metadata.name=rook-ceph-config", ...(rv && { resourceVersion: rv }) },
      (_type, obj: V1Secret) => seen(obj),
      () => {
        setTimeout(() => {
          watch().catch(() => undefined);
        }, 200);
      },
    );
  };
  const h: SecretHistory = {
    values,
    onChange: undefined,
    stop: () => {
      stopped = true;
      abort?.abort();
    },
  };
  await watch();
  w.cleanup.add(
    "Secret watch",
    () => {
      h.stop();
      return Promise.resolve();
    },
    () => h.stop(),
  );
  return h;
}
