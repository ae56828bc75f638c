// The real kube-apiserver calls `ceph-mcs-agent webhook` (a real process, the shipped ClusterRole, the
// shipped MutatingWebhookConfiguration with a caBundle) when Rook-shaped pods are created. Stored pod
// specs are compared with golden files (REFRESH_GOLDEN=true rewrites them).
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:https";
import { connect } from "node:tls";
import { join } from "node:path";
import { AdmissionregistrationV1Api, CoreV1Api, CustomObjectsApi, type V1Pod } from "@kubernetes/client-node";
import { parse, stringify } from "yaml";
import { ROOT, sharedControlPlane, type ControlPlane } from "../harness/controlplane.ts";
import { freePort } from "../harness/processes.ts";
import {
  AGENT_IMAGE,
  TEST_SCOPE_LABEL,
  forTest,
  kubectl,
  kubectlPath,
  kustomize,
  makeCerts,
  registerWebhook,
  serviceAccountWithClusterRole,
  shippedWebhookConfig,
  shippedWebhookRole,
  startWebhookProcess,
  type Certs,
  type WebhookProcess,
} from "../harness/webhook.ts";

const FIXTURES = join(ROOT, "test/fixtures/rook-pods");
const GOLDEN = join(FIXTURES, "golden-stored");
const REFRESH = process.env.REFRESH_GOLDEN === "true";
const INJECTED = ["mon-a", "mon-b-msgr2", "osd-0", "osd-3-pvc", "osd-4-flapping"];
const STATUS = "ceph-mcs-agent.io/status";

let cp: ControlPlane;
let certs: Certs;
let webhook: WebhookProcess;
const cleanups: (() => Promise<void>)[] = [];
const scope = Math.random().toString(36).slice(2, 8);
const ns = { opted: "", cluster: "", off: "", sa: "" };

const fixture = (name: string): V1Pod => parse(readFileSync(join(FIXTURES, `${name}.yaml`), "utf8")) as V1Pod;
const core = (): CoreV1Api => cp.admin().makeApiClient(CoreV1Api);

async function namespace(prefix: string, labels: Record<string, string>): Promise<string> {
  const name = `${prefix}-${scope}`;
  await core().createNamespace({
    body: { metadata: { name, labels: { ...labels, [TEST_SCOPE_LABEL]: scope } } },
  });
  cleanups.push(async () => {
    await core()
      .deleteNamespace({ name })
      .catch(() => undefined);
  });
  return name;
}

async function cephCluster(namespace: string, enabled: boolean): Promise<void> {
  await cp
    .admin()
    .makeApiClient(CustomObjectsApi)
    .createNamespacedCustomObject({
      group: "ceph.rook.io",
      version: "v1",
      namespace,
      plural: "cephclusters",
      body: {
        apiVersion: "ceph.rook.io/v1",
        kind: "CephCluster",
        metadata: { name: "rook-ceph" },
        spec: { network: { multiClusterService: { enabled, clusterID: "cluster-a" } } },
      },
    });
}

async function create(namespace: string, pod: V1Pod, dryRun = false): Promise<V1Pod> {
  return core().createNamespacedPod({ namespace, body: pod, ...(dryRun && { dryRun: "All" }) });
}

const isInjected = (pod: V1Pod): boolean =>
  (pod.spec?.initContainers ?? []).some((c) => c.name === "ceph-mcs-init");

/** The apiserver sees a new webhook configuration through an informer: wait until it is in effect. */
async function untilEffective(namespace: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (isInjected(await create(namespace, fixture("osd-0"), true))) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail("the registered webhook never took effect");
}

/** The stored pod without what differs run to run. */
function normalized(pod: V1Pod): V1Pod {
  const {
    name: _n,
    namespace: _ns,
    uid: _u,
    resourceVersion: _r,
    creationTimestamp: _c,
    managedFields: _m,
    ...meta
  } = pod.metadata ?? {};
  return { apiVersion: "v1", kind: "Pod", metadata: meta, spec: pod.spec };
}

function golden(name: string, pod: V1Pod): void {
  const text = stringify(JSON.parse(JSON.stringify(normalized(pod))) as unknown, { lineWidth: 0 });
  const path = join(GOLDEN, `${name}.yaml`);
  if (REFRESH) {
    mkdirSync(GOLDEN, { recursive: true });
    writeFileSync(path, text);
    return;
  }
  assert.ok(existsSync(path), `golden ${path} is missing: run with REFRESH_GOLDEN=true`);
  assert.equal(text, readFileSync(path, "utf8"), `stored pod differs from golden-stored/${name}.yaml`);
}

async function metric(outcome: string, path: string): Promise<number> {
  const { text } = await webhook.get("/metrics");
  const line = text
    .split("\n")
    .find(
      (l) =>
        l.startsWith("ceph_mcs_webhook_admissions_total{") &&
        l.includes(`outcome="${outcome}"`) &&
        l.includes(`path="${path}"`),
    );
  return line === undefined ? 0 : Number(line.split(" ").at(-1));
}

before(async () => {
  cp = await sharedControlPlane();
  certs = await makeCerts();
  cleanups.push(() => certs.cleanup());
  ns.sa = await namespace("webhook-sa", {});
  ns.opted = await namespace("webhook-opted", { "ceph-mcs-agent.io/inject": "enabled" });
  ns.cluster = await namespace("webhook-cluster", {});
  ns.off = await namespace("webhook-off", {});
  await cephCluster(ns.cluster, true);
  await cephCluster(ns.off, false);
  const sa = await serviceAccountWithClusterRole(
    cp,
    ns.sa,
    "ceph-mcs-agent-webhook",
    await shippedWebhookRole(cp),
  );
  cleanups.push(sa.cleanup);
  webhook = await startWebhookProcess({ kubeconfig: sa.kubeconfig, tlsDir: certs.tlsDir });
  cleanups.push(() => webhook.stop());
  const config = forTest(await shippedWebhookConfig(cp), { port: webhook.port, caCert: certs.caCert, scope });
  cleanups.push(await registerWebhook(cp, config));
  await untilEffective(ns.opted);
});

after(async () => {
  for (const c of cleanups.reverse()) await c();
});

describe("webhook: the real apiserver calls it", () => {
  test("Rook-shaped mon and OSD pods come out injected (golden stored specs)", async () => {
    for (const name of INJECTED) {
      const stored = await create(ns.opted, fixture(name));
      assert.ok(isInjected(stored), `${name} injected`);
      golden(name, stored);
    }
  });

  test("an opted-in namespace tells the init container MCS is on; a CephCluster namespace does not", async () => {
    const initEnv = (pod: V1Pod): Record<string, string | undefined> =>
      Object.fromEntries((pod.spec?.initContainers?.[0]?.env ?? []).map((e) => [e.name, e.value]));
    assert.equal(initEnv(await create(ns.opted, fixture("mon-a"))).CEPH_MCS_ENABLED, "true");
    const viaCluster = await create(ns.cluster, fixture("mon-a"));
    assert.ok(isInjected(viaCluster), "injected where the CephCluster has multiClusterService.enabled");
    assert.ok(!("CEPH_MCS_ENABLED" in initEnv(viaCluster)));
    assert.equal(viaCluster.spec?.initContainers?.[0]?.image, AGENT_IMAGE);
  });

  test("other pods are untouched: the mgr, the mon canary, a CephCluster with MCS off", async () => {
    for (const [namespace, name] of [
      [ns.opted, "mgr-a"],
      [ns.opted, "mon-canary"],
      [ns.off, "mon-a"],
      [ns.off, "osd-3-pvc"],
    ] as const) {
      const stored = await create(namespace, fixture(name));
      assert.ok(!isInjected(stored), `${namespace} ${name} not injected`);
      assert.equal(stored.metadata?.annotations?.[STATUS], undefined);
      assert.deepEqual(
        stored.spec?.containers.map((c) => c.command),
        fixture(name).spec?.containers.map((c) => c.command),
      );
    }
  });

  test("a host-network mon is admitted uninjected, with a warning kubectl shows", async () => {
    const text = readFileSync(join(FIXTURES, "mon-hostnet.yaml"), "utf8");
    const r = await kubectl(cp)(["create", "-n", ns.opted, "-f", "-", "-o", "json"], text);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /Warning: ceph-mcs-agent: host-network pod left uninjected/);
    assert.ok(!isInjected(JSON.parse(r.stdout) as V1Pod));
  });

  test("a second admission of an injected pod is a no-op", async () => {
    const first = await create(ns.opted, fixture("mon-a"));
    const before = await metric("unchanged", "/inject");
    const again = await create(ns.opted, structuredClone(normalized(first)));
    assert.deepEqual(normalized(again), normalized(first));
    assert.equal(await metric("unchanged", "/inject"), before + 1);
  });
});

describe("webhook: reinvocation after another webhook changed the pod", () => {
  let other: Server | undefined;
  after(() => other?.close());

  test("reinvocationPolicy IfNeeded calls it again, and the second call changes nothing", async () => {
    const port = await freePort();
    other = createServer(
      { cert: readFileSync(join(certs.tlsDir, "tls.crt")), key: readFileSync(join(certs.tlsDir, "tls.key")) },
      (req, res) => {
        let body = "";
        req.on("data", (c: Buffer) => (body += c.toString()));
        req.on("end", () => {
          const review = JSON.parse(body) as { request: { uid: string } };
          const patch = [{ op: "add", path: "/metadata/labels/touched-by-another-webhook", value: "yes" }];
          res.writeHead(200, { "content-type": "application/json" }).end(
            JSON.stringify({
              apiVersion: "admission.k8s.io/v1",
              kind: "AdmissionReview",
              response: {
                uid: review.request.uid,
                allowed: true,
                patchType: "JSONPatch",
                patch: Buffer.from(JSON.stringify(patch)).toString("base64"),
              },
            }),
          );
        });
      },
    );
    await new Promise<void>((resolve) => other!.listen(port, "127.0.0.1", resolve));
    const base = forTest(await shippedWebhookConfig(cp), { port, caCert: certs.caCert, scope });
    const touch = structuredClone(base);
    touch.metadata = { name: `zz-another-${scope}` };
    touch.webhooks = touch.webhooks?.slice(0, 1);
    const unregister = await registerWebhook(cp, touch);
    try {
      const before = await metric("unchanged", "/inject");
      let pod: V1Pod | undefined;
      for (let i = 0; i < 200 && pod?.metadata?.labels?.["touched-by-another-webhook"] !== "yes"; i++)
        pod = await create(ns.opted, fixture("osd-0"), true);
      assert.ok(isInjected(pod!), "still injected");
      assert.ok((await metric("unchanged", "/inject")) > before, "called again, nothing to change");
      const stored = await create(ns.opted, fixture("osd-0"));
      assert.equal(stored.spec?.initContainers?.filter((c) => c.name === "ceph-mcs-init").length, 1);
    } finally {
      await unregister();
    }
  });
});

describe("webhook: operations", () => {
  test("kubectl apply --dry-run=server -k manifests/ passes", async () => {
    await core()
      .createNamespace({ body: { metadata: { name: "rook-ceph" } } })
      .catch((err: unknown) => {
        if ((err as { code?: number }).code !== 409) throw err;
      });
    const r = await kubectl(cp)(["apply", "--dry-run=server", "-k", "manifests/"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stdout,
      /mutatingwebhookconfiguration.admissionregistration.k8s.io\/ceph-mcs-agent created \(server dry run\)/,
    );
    assert.match(r.stdout, /deployment.apps\/ceph-mcs-agent-webhook created \(server dry run\)/);
    assert.match(r.stdout, /deployment.apps\/ceph-mcs-agent-controller created \(server dry run\)/);
  });

  test("the example overlay builds, and all but cert-manager's own kinds pass a server dry run", async () => {
    const objs = await kustomize(cp, "manifests/overlays/example");
    const kinds = objs.map((o) => o.kind);
    assert.ok(kinds.includes("Certificate") && kinds.includes("Issuer"), "cert-manager objects present");
    const ours = objs.filter((o) => !String(o.apiVersion).startsWith("cert-manager.io/"));
    await core()
      .createNamespace({ body: { metadata: { name: "storage" } } })
      .catch((err: unknown) => {
        if ((err as { code?: number }).code !== 409) throw err;
      });
    const r = await kubectl(cp)(
      ["apply", "--dry-run=server", "-f", "-"],
      ours.map((o) => stringify(o)).join("---\n"),
    );
    assert.equal(r.code, 0, r.stderr);
  });

  test("scripts/webhook-cert.sh: Secret for the Service name, caBundle on every entry", async () => {
    const shipped = forTest(await shippedWebhookConfig(cp), {
      port: 1,
      caCert: certs.caCert,
      scope: `${scope}-cert`,
    });
    shipped.metadata = { name: `ceph-mcs-agent-cert-${scope}` };
    const unregister = await registerWebhook(cp, shipped);
    try {
      const r = spawnSync(
        "bash",
        [join(ROOT, "scripts/webhook-cert.sh"), "-n", ns.sa, "--webhook-config", shipped.metadata.name ?? ""],
        {
          env: { ...process.env, KUBECTL: kubectlPath(cp), KUBECONFIG: cp.kubeconfigPath },
          encoding: "utf8",
        },
      );
      assert.equal(r.status, 0, r.stderr);
      const secret = await core().readNamespacedSecret({
        namespace: ns.sa,
        name: "ceph-mcs-agent-webhook-tls",
      });
      assert.equal(secret.type, "kubernetes.io/tls");
      const crt = Buffer.from(secret.data?.["tls.crt"] ?? "", "base64").toString();
      const stored = await cp
        .admin()
        .makeApiClient(AdmissionregistrationV1Api)
        .readMutatingWebhookConfiguration({ name: shipped.metadata.name ?? "" });
      const bundles = new Set((stored.webhooks ?? []).map((w) => w.clientConfig.caBundle));
      assert.equal(bundles.size, 1, "the same CA on every entry");
      const ca = Buffer.from([...bundles][0] ?? "", "base64").toString();
      const cert = new X509Certificate(crt);
      assert.ok(cert.verify(new X509Certificate(ca).publicKey), "signed by the CA in caBundle");
      assert.equal(
        cert.checkHost(`ceph-mcs-agent-webhook.${ns.sa}.svc`),
        `ceph-mcs-agent-webhook.${ns.sa}.svc`,
      );
    } finally {
      await unregister();
    }
  });

  test("/metrics counts admissions by outcome", async () => {
    assert.ok((await metric("injected", "/inject")) >= INJECTED.length);
    assert.ok((await metric("injected", "/inject-if-enabled")) >= 1);
    assert.ok((await metric("skipped", "/inject-if-enabled")) >= 1, "the MCS-off namespace");
  });

  test("a new serving certificate is picked up without a restart", async () => {
    const serial = await certs.reissue();
    const served = (): Promise<string> =>
      new Promise((resolve, reject) => {
        const s = connect({ host: "127.0.0.1", port: webhook.port, ca: readFileSync(certs.caCert) }, () => {
          resolve(s.getPeerCertificate().serialNumber.toUpperCase());
          s.end();
        });
        s.on("error", reject);
      });
    let seen = "";
    for (let i = 0; i < 300 && seen !== serial.toUpperCase(); i++) {
      seen = await served();
      if (seen !== serial.toUpperCase()) await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(seen, serial.toUpperCase(), webhook.logs());
    assert.ok(isInjected(await create(ns.opted, fixture("osd-0"))), "the apiserver still talks to it");
  });

  test("webhook down: opted-in namespaces refuse mon/OSD pods (Fail), CephCluster ones admit them uninjected (Ignore)", async () => {
    await webhook.stop();
    await assert.rejects(create(ns.opted, fixture("mon-a")), (err: { body?: string; code?: number }) => {
      assert.match(String(err.body), /failed calling webhook \\"opted-in.ceph-mcs-agent.io\\"/);
      return true;
    });
    const admitted = await create(ns.cluster, fixture("mon-a"));
    assert.ok(!isInjected(admitted), "admitted without the init container");
    // Rook's own --public-addr (the exported IP when Rook's switch is on) is what the mon starts with.
    assert.deepEqual(admitted.spec?.containers[0]?.command, ["ceph-mon"]);
    // Pods the webhook never sees are never held back.
    const mgr = await create(ns.opted, fixture("mgr-a"));
    assert.ok(mgr.metadata?.uid);
  });
});
