// A real Kubernetes control plane for the tests: etcd + kube-apiserver built from Go modules
// (build-binaries.sh), a throwaway PKI, RBAC authorization, service-account tokens, and the
// upstream mcs-api CRDs plus the test CRDs installed and Established. One per test run.
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { request } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  ApiextensionsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  KubernetesObjectApi,
  type KubernetesObject,
} from "@kubernetes/client-node";
import { parseAllDocuments } from "yaml";
import { makePki, type Pki } from "./pki.ts";
import { freePort, killNow, startManaged, waitUntil, type Managed } from "./processes.ts";

export const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const CACHE = process.env.CEPH_MCS_CACHE ?? join(ROOT, ".cache");
const STATE_ENV = "CEPH_MCS_TEST_CONTROLPLANE";

export interface Binaries {
  apiserver: string;
  etcd: string;
  crdDirs: string[];
  versions: Record<string, string>;
}

/** The cached binaries, building them first when the cache is empty (progress goes to stderr). */
export function ensureBinaries(): Binaries {
  const bin = join(CACHE, "bin");
  let versions = readVersions(bin);
  if (!versions || !existsSync(join(bin, `kube-apiserver-v${versions.K8S_VERSION}`))) {
    const built = spawnSync("bash", [join(ROOT, "test/harness/build-binaries.sh")], { stdio: "inherit" });
    if (built.status !== 0)
      throw new Error(`building the control-plane binaries failed (exit ${built.status})`);
    versions = readVersions(bin);
  }
  if (!versions) throw new Error(`no ${join(bin, "versions.env")} after the build`);
  return {
    apiserver: join(bin, `kube-apiserver-v${versions.K8S_VERSION}`),
    etcd: join(bin, `etcd-v${versions.ETCD_VERSION}`),
    crdDirs: [join(CACHE, "crds", `mcs-api-v${versions.MCS_API_VERSION}`), join(ROOT, "test/crds")],
    versions,
  };
}

function readVersions(bin: string): Record<string, string> | undefined {
  const file = join(bin, "versions.env");
  if (!existsSync(file)) return undefined;
  const pairs = readFileSync(file, "utf8")
    .split("\n")
    .filter((l) => l.includes("="))
    .map((l) => l.split("=", 2) as [string, string]);
  return Object.fromEntries(pairs);
}

/** What a test process needs to connect to a running control plane. */
export interface ControlPlaneState {
  server: string;
  kubeconfigPath: string;
  dir: string;
  caCert: string;
  versions: Record<string, string>;
}

export interface ControlPlane extends ControlPlaneState {
  admin(): KubeConfig;
  newNamespace(prefix: string): Promise<string>;
  serviceAccountKubeConfig(namespace: string, name: string): Promise<KubeConfig>;
  /** Writes a kubeconfig file for the ServiceAccount (for agent processes) and returns its path. */
  serviceAccountKubeconfigFile(namespace: string, name: string): Promise<string>;
  /** Stops etcd and the apiserver and removes the run folder (no-op for a shared connection). */
  stop(): Promise<void>;
  /** Synchronous stop for process exit hooks. */
  killNow(): void;
  /** Stops the apiserver (etcd keeps running), waits `downMs`, starts it again on the same port. */
  apiserverOutage?: (downMs: number) => Promise<void>;
}

export interface ControlPlaneOptions {
  /**
   * Serve on this address instead of 127.0.0.1 (it must already exist on an interface), e.g. the
   * e2e host link that pods in network namespaces reach; the serving certificate includes it.
   */
  bindAddress?: string;
}

export async function startControlPlane(options: ControlPlaneOptions = {}): Promise<ControlPlane> {
  const bins = ensureBinaries();
  const dir = await mkdtemp(join(tmpdir(), "ceph-mcs-cp-"));
  const bindAddress = options.bindAddress ?? "127.0.0.1";
  const pki = await makePki(dir, bindAddress === "127.0.0.1" ? [] : [bindAddress]);
  const procs: Managed[] = [];
  const stopAll = async (): Promise<void> => {
    for (const p of procs.reverse()) await p.stop();
    await rm(dir, { recursive: true, force: true });
  };
  try {
    const etcdUrl = await startEtcd(bins.etcd, dir, procs);
    const input = { bins, dir, pki, etcdUrl, bindAddress };
    const server = await startApiserver(input, procs);
    const kubeconfigPath = await writeAdminKubeconfig(dir, server, pki);
    const state: ControlPlaneState = {
      server,
      kubeconfigPath,
      dir,
      caCert: pki.caCert,
      versions: bins.versions,
    };
    await writeFile(join(dir, "state.json"), JSON.stringify(state));
    const cp = {
      ...connect(state, stopAll),
      killNow: () => {
        killNow(procs);
        rmSync(dir, { recursive: true, force: true });
      },
      apiserverOutage: (downMs: number) => apiserverOutage(input, procs, { server, downMs }),
    };
    await installCrds(cp.admin(), bins.crdDirs);
    return cp;
  } catch (err) {
    const logs = await Promise.all(procs.map(async (p) => `--- ${p.name}\n${await tail(p.logPath)}`));
    await stopAll();
    throw new Error(`control plane failed to start: ${(err as Error).message}\n${logs.join("\n")}`, {
      cause: err,
    });
  }
}

async function tail(path: string): Promise<string> {
  const text = await readFile(path, "utf8").catch(() => "");
  return text.split("\n").slice(-25).join("\n");
}

async function startEtcd(etcd: string, dir: string, procs: Managed[]): Promise<string> {
  const [client, peer] = [await freePort(), await freePort()];
  const url = `http://127.0.0.1:${client}`;
  procs.push(
    startManaged(
      "etcd",
      [
        etcd,
        `--data-dir=${join(dir, "etcd")}`,
        `--listen-client-urls=${url}`,
        `--advertise-client-urls=${url}`,
        `--listen-peer-urls=http://127.0.0.1:${peer}`,
        `--initial-advertise-peer-urls=http://127.0.0.1:${peer}`,
        `--initial-cluster=default=http://127.0.0.1:${peer}`,
        "--unsafe-no-fsync",
        "--log-level=warn",
      ],
      join(dir, "etcd.log"),
    ),
  );
  await waitUntil("etcd", async () => (await fetch(`${url}/health`)).ok, 30_000);
  return url;
}

interface ApiserverInput {
  bins: Binaries;
  dir: string;
  pki: Pki;
  etcdUrl: string;
  bindAddress: string;
}

async function apiserverOutage(
  input: ApiserverInput,
  procs: Managed[],
  { server, downMs }: { server: string; downMs: number },
): Promise<void> {
  const index = procs.findIndex((p) => p.name === "kube-apiserver");
  const old = procs[index];
  if (!old) throw new Error("no kube-apiserver to stop");
  await old.stop();
  procs.splice(index, 1);
  await new Promise((resolve) => setTimeout(resolve, downMs));
  await startApiserver(input, procs, Number(new URL(server).port));
}

async function startApiserver(
  { bins, dir, pki, etcdUrl, bindAddress }: ApiserverInput,
  procs: Managed[],
  fixedPort?: number,
): Promise<string> {
  const port = fixedPort ?? (await freePort());
  const args = [
    bins.apiserver,
    `--etcd-servers=${etcdUrl}`,
    `--bind-address=${bindAddress}`,
    `--advertise-address=${bindAddress}`,
    `--secure-port=${port}`,
    `--cert-dir=${dir}`,
    `--tls-cert-file=${pki.servingCert}`,
    `--tls-private-key-file=${pki.servingKey}`,
    `--client-ca-file=${pki.caCert}`,
    "--authorization-mode=RBAC",
    // Room for the 500-agent benchmark: one Service per daemon.
    "--service-cluster-ip-range=10.96.0.0/16",
    "--service-account-issuer=https://kubernetes.default.svc",
    `--service-account-key-file=${pki.saPub}`,
    `--service-account-signing-key-file=${pki.saKey}`,
    // No kube-controller-manager runs, so no "default" ServiceAccount exists for Pod admission.
    "--disable-admission-plugins=ServiceAccount",
    "--allow-privileged=true",
    "--v=1",
  ];
  procs.push(startManaged("kube-apiserver", args, join(dir, "kube-apiserver.log")));
  const server = `https://${bindAddress}:${port}`;
  await waitUntil("kube-apiserver", () => healthy(server, pki), 120_000);
  return server;
}

function healthy(server: string, pki: Pki): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request(`${server}/readyz`, {
      ca: readFileSync(pki.caCert),
      cert: readFileSync(pki.adminCert),
      key: readFileSync(pki.adminKey),
      timeout: 2000,
    });
    req.on("response", (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on("error", () => resolve(false));
    req.on("timeout", () => req.destroy());
    req.end();
  });
}

async function writeAdminKubeconfig(dir: string, server: string, pki: Pki): Promise<string> {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: "test", server, caFile: pki.caCert }],
    users: [{ name: "admin", certFile: pki.adminCert, keyFile: pki.adminKey }],
    contexts: [{ name: "admin", cluster: "test", user: "admin" }],
    currentContext: "admin",
  });
  const path = join(dir, "admin.kubeconfig");
  await writeFile(path, kc.exportConfig(), { mode: 0o600 });
  return path;
}

async function installCrds(kc: KubeConfig, dirs: string[]): Promise<void> {
  const objects = KubernetesObjectApi.makeApiClient(kc);
  const names: string[] = [];
  for (const file of dirs.flatMap(yamlFiles)) {
    for (const doc of parseAllDocuments(await readFile(file, "utf8"))) {
      const crd = doc.toJS() as KubernetesObject | null;
      if (crd?.kind !== "CustomResourceDefinition") continue;
      await objects.create(crd);
      names.push(crd.metadata?.name ?? "");
    }
  }
  const ext = kc.makeApiClient(ApiextensionsV1Api);
  const custom = kc.makeApiClient(CustomObjectsApi);
  for (const name of names) {
    await waitUntil(
      `CRD ${name} Established`,
      async () => {
        const crd = await ext.readCustomResourceDefinition({ name });
        return crd.status?.conditions?.some((c) => c.type === "Established" && c.status === "True") ?? false;
      },
      30_000,
    );
    // Established comes before the storage is served ("storage is (re)initializing", 429): list it.
    const crd = await ext.readCustomResourceDefinition({ name });
    for (const v of crd.spec.versions.filter((x) => x.served)) {
      const ref = { group: crd.spec.group, version: v.name, plural: crd.spec.names.plural };
      await waitUntil(
        `CRD ${name} ${v.name} served`,
        async () => {
          await custom.listClusterCustomObject(ref);
          return true;
        },
        30_000,
      );
    }
  }
}

function yamlFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith(".yaml"))
    .sort()
    .map((f) => join(dir, f));
}

function connect(state: ControlPlaneState, stop: () => Promise<void>): Omit<ControlPlane, "killNow"> {
  const admin = (): KubeConfig => {
    const kc = new KubeConfig();
    kc.loadFromFile(state.kubeconfigPath);
    return kc;
  };
  const saConfig = (ns: string, name: string): Promise<KubeConfig> =>
    serviceAccountConfig(state, admin(), ns, name);
  return {
    ...state,
    admin,
    newNamespace: (prefix) => createNamespace(admin(), prefix),
    serviceAccountKubeConfig: saConfig,
    serviceAccountKubeconfigFile: async (ns, name) => {
      const path = join(state.dir, `sa-${ns}-${name}.kubeconfig`);
      await writeFile(path, (await saConfig(ns, name)).exportConfig(), { mode: 0o600 });
      return path;
    },
    stop,
  };
}

async function createNamespace(kc: KubeConfig, prefix: string): Promise<string> {
  const name = `${prefix}-${Math.random().toString(36).slice(2, 8)}`;
  await kc.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name } } });
  return name;
}

/** Creates the ServiceAccount (if needed) and a bound token for it via the TokenRequest API. */
async function serviceAccountConfig(state: ControlPlaneState, admin: KubeConfig, ns: string, name: string) {
  const core = admin.makeApiClient(CoreV1Api);
  await core
    .createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name } } })
    .catch((err: unknown) => {
      if ((err as { code?: number }).code !== 409) throw err;
    });
  const tr = await core.createNamespacedServiceAccountToken({
    name,
    namespace: ns,
    body: { spec: { audiences: [], expirationSeconds: 3600 } },
  });
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: "test", server: state.server, caFile: state.caCert }],
    users: [{ name: `${ns}:${name}`, token: tr.status?.token }],
    contexts: [{ name: "sa", cluster: "test", user: `${ns}:${name}`, namespace: ns }],
    currentContext: "sa",
  });
  return kc;
}

/** Exports the state for the test processes that the runner starts after the global setup. */
export function publishState(cp: ControlPlane): void {
  process.env[STATE_ENV] = join(cp.dir, "state.json");
}

let shared: Promise<ControlPlane> | undefined;

/**
 * The run's control plane: the one the global setup started (tests run in their own processes), or,
 * when a test file is run on its own, one started for this process and stopped after its tests.
 */
export function sharedControlPlane(): Promise<ControlPlane> {
  shared ??= (async () => {
    const statePath = process.env[STATE_ENV];
    if (statePath) {
      const state = JSON.parse(await readFile(statePath, "utf8")) as ControlPlaneState;
      return { ...connect(state, async () => {}), killNow: () => undefined };
    }
    const cp = await startControlPlane();
    process.once("exit", () => cp.killNow());
    return cp;
  })();
  return shared;
}
