// The shipped Roles, read from manifests/ (optionally without some rules, for minimality tests), and
// bound to their ServiceAccount in a test namespace: tests run with exactly what users install.
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { RbacAuthorizationV1Api, type V1PolicyRule, type V1Role } from "@kubernetes/client-node";
import { parseAllDocuments } from "yaml";
import type { ControlPlane } from "./controlplane.ts";

const ROOT = join(import.meta.dirname, "../..");

export type RuleFilter = (rule: V1PolicyRule, index: number) => boolean;

/** The Role in `manifests/base/<file>`, keeping the rules `filter` accepts. */
export async function shippedRole(file: string, filter?: RuleFilter): Promise<V1Role> {
  const docs = parseAllDocuments(await readFile(join(ROOT, "manifests/base", file), "utf8"));
  const role = docs.map((d) => d.toJS() as V1Role).find((d) => d.kind === "Role");
  if (!role) throw new Error(`manifests/base/${file} has no Role`);
  const rules = (role.rules ?? []).filter((r, i) => filter?.(r, i) ?? true);
  return { apiVersion: role.apiVersion, kind: role.kind, metadata: role.metadata, rules };
}

/** Creates the Role and binds it to ServiceAccount `sa`; returns that account's kubeconfig file. */
export async function grantShippedRole(
  cp: ControlPlane,
  ns: string,
  role: { file: string; sa: string; filter?: RuleFilter | undefined },
): Promise<string> {
  const rbac = cp.admin().makeApiClient(RbacAuthorizationV1Api);
  const body = await shippedRole(role.file, role.filter);
  await rbac.createNamespacedRole({ namespace: ns, body });
  await rbac.createNamespacedRoleBinding({
    namespace: ns,
    body: {
      metadata: { name: role.sa },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: body.metadata?.name ?? role.sa },
      subjects: [{ kind: "ServiceAccount", name: role.sa, namespace: ns }],
    },
  });
  return cp.serviceAccountKubeconfigFile(ns, role.sa);
}
