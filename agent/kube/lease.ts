// LeasePort over coordination.k8s.io/v1. Times go out as strings we format with six fraction digits
// (the apiserver rejects three) and come back as strings (client-node does not parse MicroTime).
import type { V1Lease } from "@kubernetes/client-node";
import type { LeasePort, LeaseSpec, StoredLease } from "../controller/leader.ts";
import { wrap } from "../errors.ts";
import type { ObjectRef } from "../ports.ts";
import type { KubeClients } from "./client.ts";
import { orUndefinedOn404, rbacHint } from "./init-kube.ts";

function stored(lease: V1Lease): StoredLease {
  const s = lease.spec ?? {};
  const time = (v: unknown): string | undefined =>
    v instanceof Date ? v.toISOString() : typeof v === "string" ? v : undefined;
  return {
    resourceVersion: lease.metadata?.resourceVersion ?? "",
    spec: {
      holderIdentity: s.holderIdentity,
      leaseDurationSeconds: s.leaseDurationSeconds,
      acquireTime: time(s.acquireTime),
      renewTime: time(s.renewTime),
      leaseTransitions: s.leaseTransitions,
    },
  };
}

function body(ref: ObjectRef, spec: LeaseSpec, resourceVersion?: string): V1Lease {
  return {
    apiVersion: "coordination.k8s.io/v1",
    kind: "Lease",
    metadata: {
      name: ref.name,
      namespace: ref.namespace,
      ...(resourceVersion !== undefined && { resourceVersion }),
      labels: { "app.kubernetes.io/name": "ceph-mcs-agent", "app.kubernetes.io/component": "controller" },
    },
    // MicroTime strings where the generated type says V1MicroTime (a Date): sent as they are.
    spec: spec as V1Lease["spec"],
  };
}

export function leasePort(c: KubeClients, ref: ObjectRef): LeasePort {
  const object = `Lease ${ref.namespace}/${ref.name}`;
  const fail = (err: unknown, action: string): never => {
    throw wrap(err, action, object, rbacHint(err));
  };
  return {
    async get() {
      try {
        const lease = await orUndefinedOn404(c.coordination.readNamespacedLease(ref, c.opts));
        return lease && stored(lease);
      } catch (err) {
        return fail(err, "read the controller Lease");
      }
    },
    async create(spec) {
      try {
        return stored(
          await c.coordination.createNamespacedLease(
            { namespace: ref.namespace, body: body(ref, spec) },
            c.opts,
          ),
        );
      } catch (err) {
        return fail(err, "create the controller Lease");
      }
    },
    async update(spec, resourceVersion) {
      try {
        const request = { ...ref, body: body(ref, spec, resourceVersion) };
        return stored(await c.coordination.replaceNamespacedLease(request, c.opts));
      } catch (err) {
        return fail(err, "update the controller Lease");
      }
    },
  };
}
