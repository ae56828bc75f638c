// Composition root of `ceph-mcs-agent init`: real adapters in, one exit code out. Exit codes are
// distinct (misconfigured / gave up waiting / mon address changed), and every failure is also put in
// the container's termination message and a Kubernetes Event on the pod.
import { writeFile } from "node:fs/promises";
import { isAbsolute } from "node:path";
import { systemClock } from "../clock.ts";
import {
  loadInitEnv,
  logSettings,
  parseCephCluster,
  processEnv,
  resolveInitConfig,
  type InitConfig,
  type InitEnv,
} from "../config.ts";
import { NodeDnsResolver } from "../dns/resolver.ts";
import { AgentError, ConfigError, ExitCode } from "../errors.ts";
import { createClients, type KubeClients } from "../kube/client.ts";
import { initKube } from "../kube/init-kube.ts";
import { createLogger, type Logger } from "../log.ts";
import type { ObjectRef } from "../ports.ts";
import { nodeFiles, type InitResult } from "./files.ts";
import type { InitKubePort } from "./kube-port.ts";
import { retrying } from "./retrying.ts";
import { AddressChangedError, runInitFlow } from "./run.ts";
import { WaitDeadlineError } from "./wait.ts";

const REQUEST_TIMEOUT_MS = 10_000;

export async function runInit(): Promise<number> {
  const raw = processEnv();
  const settings = logSettings(raw);
  const log = createLogger({ level: settings.level, pretty: settings.pretty, bindings: settings.bindings });
  let env: InitEnv;
  try {
    env = loadInitEnv(raw);
  } catch (err) {
    // The env failed validation: only an absolute path from it is trusted for the failure reason.
    const asked = raw.CEPH_MCS_TERMINATION_LOG ?? "";
    return report(err, { log, terminationLog: isAbsolute(asked) ? asked : "/dev/termination-log" });
  }
  const clients = await openClients(env).catch((err: unknown) => err as ConfigError);
  if (clients instanceof ConfigError) return report(clients, { log, terminationLog: env.terminationLog });
  try {
    return await runWithClients(env, clients, log);
  } finally {
    log.info({ apiRequests: clients.stats.requests }, "API requests sent");
    await clients.close();
  }
}

async function openClients(env: InitEnv): Promise<KubeClients> {
  try {
    return await createClients({ kubeconfigPath: env.kubeconfig, requestTimeoutMs: REQUEST_TIMEOUT_MS });
  } catch (err) {
    throw new ConfigError(
      [
        `cannot load the Kubernetes client configuration: ${err instanceof Error ? err.message : String(err)}`,
      ],
      "set KUBECONFIG to a readable kubeconfig, or run the pod with a service account token",
    );
  }
}

async function runWithClients(env: InitEnv, clients: KubeClients, log: Logger): Promise<number> {
  const deadline = AbortSignal.timeout(env.deadlineSeconds * 1000);
  const kube = retrying(initKube(clients), deadline, log);
  const pod = { namespace: env.pod.namespace, name: env.pod.name, uid: env.pod.uid };
  const warn = setTimeout(() => void warnSlow(kube, pod, env), env.warnAfterSeconds * 1000);
  const ctx = { log, terminationLog: env.terminationLog, kube, pod, deadline };
  try {
    const cfg = await configure(env, kube);
    for (const w of cfg.warnings) log.warn(w);
    const dns = new NodeDnsResolver({
      servers: cfg.dns.servers.length > 0 ? cfg.dns.servers.map((s) => s.server) : undefined,
      timeoutMs: cfg.dns.timeoutMs,
      tries: 2,
    });
    const result = await runInitFlow(
      cfg,
      { kube, dns, files: nodeFiles(), clock: systemClock, log },
      deadline,
    );
    await succeed(result, ctx);
    return ExitCode.ok;
  } catch (err) {
    return await report(err, ctx);
  } finally {
    clearTimeout(warn);
  }
}

async function configure(env: InitEnv, kube: InitKubePort): Promise<InitConfig> {
  const ref = { namespace: env.cephCluster.namespace, name: env.cephCluster.name };
  const cluster = parseCephCluster(await kube.readCephCluster(ref.namespace, ref.name), ref);
  const needLabels = env.daemon.type === undefined || env.daemon.id === undefined;
  const labels = needLabels
    ? await kube.readPodLabels({ namespace: env.pod.namespace, name: env.pod.name })
    : {};
  return resolveInitConfig(env, cluster, labels);
}

async function warnSlow(kube: InitKubePort, pod: ObjectRef, env: InitEnv): Promise<void> {
  await kube.emitEvent(pod, {
    type: "Warning",
    reason: "GlobalAddressSlow",
    note: `still waiting for the ServiceExport and the global IP after ${env.warnAfterSeconds}s (gives up after ${env.deadlineSeconds}s); the pod log has the export's state`,
  });
}

interface ReportContext {
  log: Logger;
  terminationLog: string;
  kube?: InitKubePort;
  pod?: ObjectRef;
  deadline?: AbortSignal;
}

async function succeed(
  result: InitResult | undefined,
  ctx: ReportContext & { kube: InitKubePort; pod: ObjectRef },
): Promise<void> {
  if (!result) return;
  const note = `advertising global IP ${result.globalIP} (sources agreeing: ${result.sources
    .filter((s) => s.agreed)
    .map((s) => s.name)
    .join(", ")})`;
  ctx.log.info({ globalIP: result.globalIP, totalMs: result.timings.totalMs }, note);
  await ctx.kube.emitEvent(ctx.pod, { type: "Normal", reason: "GlobalAddressReady", note });
}

/** One log line, the termination message and an Event; returns the exit code. */
async function report(err: unknown, ctx: ReportContext): Promise<number> {
  const code = exitCodeFor(err, ctx.deadline);
  const message = err instanceof Error ? err.message : String(err);
  ctx.log.error({ err, exitCode: code }, message);
  await writeFile(ctx.terminationLog, message.slice(0, 4000)).catch(() => undefined);
  if (ctx.kube && ctx.pod) {
    await ctx.kube.emitEvent(ctx.pod, { type: "Warning", reason: reasonFor(code), note: message });
  }
  return code;
}

function exitCodeFor(err: unknown, deadline: AbortSignal | undefined): number {
  if (err instanceof AddressChangedError) return ExitCode.addressChanged;
  if (err instanceof ConfigError) return ExitCode.misconfigured;
  if (err instanceof WaitDeadlineError || deadline?.aborted === true) return ExitCode.deadline;
  // notFound/conflict that reach the top are missing or clashing objects: configuration, not a bug.
  if (err instanceof AgentError && err.kind !== "retryable") return ExitCode.misconfigured;
  return ExitCode.internal;
}

function reasonFor(code: number): string {
  const reasons: Record<number, string> = {
    [ExitCode.misconfigured]: "GlobalAddressFailed",
    [ExitCode.deadline]: "GlobalAddressTimeout",
    [ExitCode.addressChanged]: "MonAddressChanged",
  };
  return reasons[code] ?? "GlobalAddressError";
}
