// Harness for the admission webhook: kubectl (built like kube-apiserver), the kustomize output of
// manifests/, a serving certificate for 127.0.0.1, `ceph-mcs-agent webhook` as a real process, and the
// shipped MutatingWebhookConfiguration registered against it (URL instead of the in-cluster Service).
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { execFile } from "node:child_process";
import {
  AdmissionregistrationV1Api,
  RbacAuthorizationV1Api,
  type V1ClusterRole,
  type V1MutatingWebhookConfiguration,
} from "@kubernetes/client-node";
import { parseAllDocuments } from "yaml";
import { ROOT, type ControlPlane } from "./controlplane.ts";
import { freePort } from "./processes.ts";

const run = promisify(execFile);
export const NODE = join(ROOT, "node_modules/.bin/node");
export const CLI = join(ROOT, "agent/cli.ts");
export const AGENT_IMAGE = "registry.test/ceph-mcs-agent:0.1.0";

/** kubectl of the control plane's version from .cache/bin, built by build-binaries.sh when missing. */
export function kubectlPath(cp: ControlPlane): string {
  const bin = join(
    process.env.CEPH_MCS_CACHE ?? join(ROOT, ".cache"),
    "bin",
    `kubectl-v${cp.versions.K8S_VERSION}`,
  );
  if (!existsSync(bin)) {
    const built = spawnSync("bash", [join(ROOT, "test/harness/build-binaries.sh")], { stdio: "inherit" });
    if (built.status !== 0 || !existsSync(bin))
      throw new Error(`building kubectl failed (exit ${built.status})`);
  }
  return bin;
}

export interface Kubectl {
  (args: readonly string[], input?: string): Promise<{ code: number; stdout: string; stderr: string }>;
}

export function kubectl(cp: ControlPlane, kubeconfig = cp.kubeconfigPath): Kubectl {
  const bin = kubectlPath(cp);
  return (args, input) =>
    new Promise((resolve) => {
      const child = spawn(bin, [`--kubeconfig=${kubeconfig}`, ...args], { cwd: ROOT });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
      child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
      child.on("close", (code) => resolve({ code: code ?? -1, stdout, stderr }));
      child.stdin.end(input ?? "");
    });
}

/** The objects `kubectl kustomize <dir>` builds (the real kustomize inside kubectl). */
export async function kustomize(cp: ControlPlane, dir: string): Promise<Record<string, unknown>[]> {
  const { stdout } = await run(kubectlPath(cp), ["kustomize", join(ROOT, dir)], { maxBuffer: 16 << 20 });
  return parseAllDocuments(stdout).map((d) => d.toJS() as Record<string, unknown>);
}

function pick(objs: readonly Record<string, unknown>[], kind: string, name?: string): unknown {
  const found = objs.find(
    (o) => o.kind === kind && (name === undefined || (o.metadata as { name?: string }).name === name),
  );
  if (!found) throw new Error(`manifests have no ${kind}${name ? ` ${name}` : ""}`);
  return found;
}

export async function shippedWebhookConfig(cp: ControlPlane): Promise<V1MutatingWebhookConfiguration> {
  const found = pick(await kustomize(cp, "manifests"), "MutatingWebhookConfiguration", "ceph-mcs-agent");
  return found as V1MutatingWebhookConfiguration;
}

export async function shippedWebhookRole(cp: ControlPlane): Promise<V1ClusterRole> {
  return pick(await kustomize(cp, "manifests"), "ClusterRole", "ceph-mcs-agent-webhook") as V1ClusterRole;
}

export interface Certs {
  dir: string;
  caCert: string;
  /** Folder with tls.crt and tls.key, as a mounted kubernetes.io/tls Secret. */
  tlsDir: string;
  /** Issues a new leaf from the same CA into tlsDir (for reload tests); returns its serial. */
  reissue(): Promise<string>;
  cleanup(): Promise<void>;
}

async function openssl(dir: string, args: string[]): Promise<string> {
  return (await run("openssl", args, { cwd: dir })).stdout;
}

async function leaf(dir: string, tlsDir: string): Promise<string> {
  await openssl(dir, ["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "leaf.key"]);
  await openssl(dir, [
    "req",
    "-new",
    "-key",
    "leaf.key",
    "-subj",
    "/CN=ceph-mcs-agent-webhook",
    "-out",
    "leaf.csr",
  ]);
  await writeFile(
    join(dir, "leaf.ext"),
    "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n",
  );
  const sign = ["x509", "-req", "-in", "leaf.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial"];
  await openssl(dir, [...sign, "-days", "2", "-out", "leaf.crt", "-extfile", "leaf.ext"]);
  // Written as the kubelet swaps a Secret volume: each file replaced whole.
  await writeFile(join(tlsDir, "tls.key.tmp"), await readFile(join(dir, "leaf.key")));
  await writeFile(join(tlsDir, "tls.crt.tmp"), await readFile(join(dir, "leaf.crt")));
  await run("mv", ["-f", join(tlsDir, "tls.key.tmp"), join(tlsDir, "tls.key")]);
  await run("mv", ["-f", join(tlsDir, "tls.crt.tmp"), join(tlsDir, "tls.crt")]);
  return (await openssl(dir, ["x509", "-in", "leaf.crt", "-noout", "-serial"]))
    .trim()
    .replace(/^serial=/, "");
}

/** A throwaway CA and a serving certificate for 127.0.0.1. */
export async function makeCerts(): Promise<Certs & { serial: string }> {
  const dir = await mkdtemp(join(tmpdir(), "ceph-mcs-webhook-pki-"));
  const tlsDir = join(dir, "tls");
  await run("mkdir", [tlsDir]);
  await openssl(dir, [
    "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
    "-subj", "/CN=ceph-mcs-agent-webhook-ca", "-keyout", "ca.key", "-out", "ca.crt",
    "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
  ]); // prettier-ignore
  const serial = await leaf(dir, tlsDir);
  return {
    dir,
    caCert: join(dir, "ca.crt"),
    tlsDir,
    serial,
    reissue: () => leaf(dir, tlsDir),
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}

export interface WebhookProcess {
  port: number;
  httpPort: number;
  proc: ChildProcess;
  logs(): string;
  /** GET on the probe/metrics port. */
  get(path: string): Promise<{ status: number; text: string }>;
  stop(): Promise<void>;
}

export interface WebhookOptions {
  kubeconfig: string;
  tlsDir: string;
  env?: Record<string, string>;
  /** Wait for /readyz (default true). */
  waitReady?: boolean;
  /** The agent to run: agent/cli.ts (default) or the bundle dist/ceph-mcs-agent.mjs. */
  entry?: string;
}

/** `ceph-mcs-agent webhook` as a real process on 127.0.0.1. */
export async function startWebhookProcess(opts: WebhookOptions): Promise<WebhookProcess> {
  const [port, httpPort] = [await freePort(), await freePort()];
  const env = {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    KUBECONFIG: opts.kubeconfig,
    CEPH_MCS_WEBHOOK_IMAGE: AGENT_IMAGE,
    CEPH_MCS_WEBHOOK_LISTEN: `127.0.0.1:${port}`,
    CEPH_MCS_LISTEN: `127.0.0.1:${httpPort}`,
    CEPH_MCS_WEBHOOK_TLS_DIR: opts.tlsDir,
    LOG_LEVEL: "debug",
    ...opts.env,
  };
  const proc = spawn("setpriv", ["--pdeathsig", "KILL", "--", NODE, opts.entry ?? CLI, "webhook"], {
    env,
    cwd: ROOT,
  });
  let out = "";
  proc.stdout.on("data", (c: Buffer) => (out += c.toString()));
  proc.stderr.on("data", (c: Buffer) => (out += c.toString()));
  const exited = new Promise<void>((resolve) => proc.once("exit", () => resolve()));
  const get = async (path: string): Promise<{ status: number; text: string }> => {
    const res = await fetch(`http://127.0.0.1:${httpPort}${path}`);
    return { status: res.status, text: await res.text() };
  };
  const stop = async (): Promise<void> => {
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    proc.kill("SIGTERM");
    const timer = setTimeout(() => proc.kill("SIGKILL"), 10_000);
    await exited;
    clearTimeout(timer);
  };
  const w = { port, httpPort, proc, logs: () => out, get, stop };
  if (opts.waitReady ?? true) await waitFor(w, "/readyz", 200);
  return w;
}

/** Polls the probe port until `path` answers `status`; fails with the process's log. */
export async function waitFor(
  w: WebhookProcess,
  path: string,
  status: number,
  timeoutMs = 30_000,
): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (w.proc.exitCode !== null) throw new Error(`webhook exited (${w.proc.exitCode}):\n${w.logs()}`);
    const got = await w.get(path).catch(() => undefined);
    if (got?.status === status) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`webhook ${path} did not answer ${status} within ${timeoutMs} ms:\n${w.logs()}`);
}

/** Label that confines a registered webhook to this test run's namespaces. */
export const TEST_SCOPE_LABEL = "ceph-mcs-test/webhook";

/**
 * The shipped MutatingWebhookConfiguration pointed at a local URL, named uniquely, and confined to
 * namespaces labelled TEST_SCOPE_LABEL=<scope> (other test files create Rook-labelled pods too).
 */
export function forTest(
  shipped: V1MutatingWebhookConfiguration,
  target: { port: number; caCert: string; scope: string },
): V1MutatingWebhookConfiguration {
  const ca = readFileSync(target.caCert).toString("base64");
  const config = structuredClone(shipped);
  for (const w of config.webhooks ?? []) {
    w.clientConfig = {
      url: `https://127.0.0.1:${target.port}${w.clientConfig.service?.path ?? ""}`,
      caBundle: ca,
    };
    w.namespaceSelector ??= {};
    w.namespaceSelector.matchExpressions = [
      ...(w.namespaceSelector.matchExpressions ?? []),
      { key: TEST_SCOPE_LABEL, operator: "In", values: [target.scope] },
    ];
  }
  config.metadata = {
    name: `${shipped.metadata?.name ?? "ceph-mcs-agent"}-${target.scope}`,
    labels: shipped.metadata?.labels,
  };
  return config;
}

export async function registerWebhook(
  cp: ControlPlane,
  config: V1MutatingWebhookConfiguration,
): Promise<() => Promise<void>> {
  const api = cp.admin().makeApiClient(AdmissionregistrationV1Api);
  await api.createMutatingWebhookConfiguration({ body: config });
  const name = config.metadata?.name ?? "";
  return async () => {
    await api.deleteMutatingWebhookConfiguration({ name }).catch(() => undefined);
  };
}

/** A ServiceAccount bound (cluster-wide) to `role`; returns its kubeconfig file and a cleanup. */
export async function serviceAccountWithClusterRole(
  cp: ControlPlane,
  ns: string,
  name: string,
  role: V1ClusterRole,
): Promise<{ kubeconfig: string; cleanup: () => Promise<void> }> {
  const rbac = cp.admin().makeApiClient(RbacAuthorizationV1Api);
  const roleName = `${name}-${ns}`;
  const body = structuredClone(role);
  body.metadata = { name: roleName };
  await rbac.createClusterRole({ body });
  await rbac.createClusterRoleBinding({
    body: {
      metadata: { name: roleName },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: roleName },
      subjects: [{ kind: "ServiceAccount", name, namespace: ns }],
    },
  });
  const kubeconfig = await cp.serviceAccountKubeconfigFile(ns, name);
  return {
    kubeconfig,
    cleanup: async () => {
      await rbac.deleteClusterRoleBinding({ name: roleName }).catch(() => undefined);
      await rbac.deleteClusterRole({ name: roleName }).catch(() => undefined);
    },
  };
}
