// node --test --test-global-setup: one control plane for the whole run, shared by every test file.
import { publishState, startControlPlane, type ControlPlane } from "./controlplane.ts";

let cp: ControlPlane | undefined;

export async function globalSetup(): Promise<void> {
  const started = Date.now();
  cp = await startControlPlane();
  publishState(cp);
  const v = cp.versions;
  process.stderr.write(
    `control plane: kube-apiserver v${v.K8S_VERSION}, etcd v${v.ETCD_VERSION}, mcs-api v${v.MCS_API_VERSION} CRDs, ` +
      `${cp.server}, ready in ${Date.now() - started} ms\n`,
  );
}

export async function globalTeardown(): Promise<void> {
  await cp?.stop();
}
