import { test } from "node:test";
import assert from "node:assert/strict";
import { apiSurface } from "../../../agent/kube/init-kube.ts";

const group = (name: string, ...versions: string[]) => ({
  name,
  versions: versions.map((version) => ({ version })),
});

test("the ServiceExport version comes from discovery: v1beta1 when served, else v1alpha1", () => {
  assert.equal(apiSurface([group("multicluster.x-k8s.io", "v1beta1", "v1alpha1")]).exportVersion, "v1beta1");
  assert.equal(apiSurface([group("multicluster.x-k8s.io", "v1alpha1")]).exportVersion, "v1alpha1");
  assert.equal(apiSurface([group("net.gke.io", "v1")]).exportVersion, undefined);
});

test("Globalnet's API is recognised by the submariner.io/v1 group", () => {
  assert.equal(apiSurface([group("submariner.io", "v1")]).globalnet, true);
  assert.equal(apiSurface([group("multicluster.x-k8s.io", "v1alpha1")]).globalnet, false);
});
