// Pure: one AdmissionReview (admission.k8s.io/v1) in, the response and what happened out. The HTTP
// server around it only moves bytes; policy per webhook entry lives here.
import type { V1Pod } from "@kubernetes/client-node";
import { planInjection, type InjectSettings, type PatchOp, type SkipReason } from "./inject.ts";

/**
 * Which entry of the MutatingWebhookConfiguration called: `opted-in` (namespace labelled
 * ceph-mcs-agent.io/inject=enabled, failurePolicy Fail) or `cephcluster` (inject only where the
 * namespace's CephCluster has multiClusterService.enabled, failurePolicy Ignore).
 */
export type Mode = "opted-in" | "cephcluster";

export type Outcome =
  | { kind: "injected"; ops: number }
  | { kind: "unchanged" }
  | { kind: "skipped"; reason: SkipReason }
  | { kind: "refused"; reason: SkipReason }
  | { kind: "ignored"; why: string };

export interface ReviewContext {
  readonly mode: Mode;
  readonly settings: Omit<InjectSettings, "forceEnabled">;
  /** Whether the namespace's CephCluster has MCS on (cephcluster mode only). */
  clusterEnabled(namespace: string): boolean;
}

export interface AdmissionResponse {
  uid: string;
  allowed: boolean;
  patchType?: "JSONPatch";
  patch?: string;
  warnings?: string[];
  status?: { code: number; reason?: string; message: string };
}

export interface ReviewResult {
  /** The AdmissionReview to send back. */
  body: { apiVersion: string; kind: "AdmissionReview"; response: AdmissionResponse };
  outcome: Outcome;
  /** For logs: namespace and name (or generateName) of the pod. */
  pod: string;
  ops: readonly PatchOp[];
}

/** A request that is not an AdmissionReview at all: the HTTP layer answers 400 with this message. */
export class BadReview extends Error {
  constructor(message: string) {
    super(message);
    this.name = "BadReview";
  }
}

interface Request {
  uid: string;
  namespace: string;
  operation: string;
  kind: string;
  object: V1Pod;
}

const isObj = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

function str(v: unknown): string {
  return typeof v === "string" ? v : "";
}

function kindOf(req: Record<string, unknown>): string {
  const k = req.kind;
  return isObj(k) ? `${str(k.group)}/${str(k.version)}/${str(k.kind)}` : "";
}

function checkEnvelope(body: unknown): { apiVersion: string; req: Record<string, unknown> } {
  if (!isObj(body) || body.kind !== "AdmissionReview")
    throw new BadReview("expected an AdmissionReview object (kind: AdmissionReview)");
  const apiVersion = str(body.apiVersion);
  if (apiVersion !== "admission.k8s.io/v1" && apiVersion !== "admission.k8s.io/v1beta1")
    throw new BadReview(
      `unsupported AdmissionReview apiVersion ${JSON.stringify(apiVersion)}: expected admission.k8s.io/v1`,
    );
  const req = body.request;
  if (!isObj(req) || str(req.uid) === "") throw new BadReview("AdmissionReview has no request.uid");
  return { apiVersion, req };
}

function parseRequest(body: unknown): { apiVersion: string; request: Request } {
  const { apiVersion, req } = checkEnvelope(body);
  const object = isObj(req.object) ? (req.object as V1Pod) : {};
  // A pod made from a template has no name yet; its namespace is in the request, not always in the object.
  const namespace = str(req.namespace) || str(object.metadata?.namespace);
  const request = { uid: str(req.uid), namespace, operation: str(req.operation), kind: kindOf(req), object };
  return { apiVersion, request };
}

function podName(r: Request): string {
  const meta = r.object.metadata;
  const name = meta?.name ?? (meta?.generateName ? `${meta.generateName}*` : "(unnamed)");
  return `${r.namespace}/${name}`;
}

function respond(apiVersion: string, response: AdmissionResponse): ReviewResult["body"] {
  return { apiVersion, kind: "AdmissionReview", response };
}

/** Handles one review. Throws BadReview only for bodies that are not AdmissionReviews. */
export function review(body: unknown, ctx: ReviewContext): ReviewResult {
  const { apiVersion, request: r } = parseRequest(body);
  const pod = podName(r);
  const allow = (outcome: Outcome, warnings: string[] = []): ReviewResult => ({
    body: respond(apiVersion, { uid: r.uid, allowed: true, ...(warnings.length > 0 ? { warnings } : {}) }),
    outcome,
    pod,
    ops: [],
  });
  if (r.kind !== "/v1/Pod" || r.operation !== "CREATE")
    return allow({ kind: "ignored", why: `${r.operation} ${r.kind}` });
  if (ctx.mode === "cephcluster" && !ctx.clusterEnabled(r.namespace))
    return allow({ kind: "skipped", reason: "cluster-disabled" });
  const plan = planInjection(r.object, { ...ctx.settings, forceEnabled: ctx.mode === "opted-in" });
  if (plan.kind === "skip") return skipped(plan, ctx.mode, { apiVersion, r, pod, allow });
  if (plan.ops.length === 0) return allow({ kind: "unchanged" });
  const patch = Buffer.from(JSON.stringify(plan.ops)).toString("base64");
  return {
    body: respond(apiVersion, { uid: r.uid, allowed: true, patchType: "JSONPatch", patch }),
    outcome: { kind: "injected", ops: plan.ops.length },
    pod,
    ops: plan.ops,
  };
}

interface SkipInput {
  apiVersion: string;
  r: Request;
  pod: string;
  allow: (outcome: Outcome, warnings?: string[]) => ReviewResult;
}

/** Quiet skips for pods that were never candidates; a warning (or, opted in, a refusal) otherwise. */
function skipped(
  plan: { reason: SkipReason; message: string },
  mode: Mode,
  { apiVersion, r, pod, allow }: SkipInput,
): ReviewResult {
  const quiet: readonly SkipReason[] = ["not-a-daemon", "canary", "opted-out"];
  if (quiet.includes(plan.reason)) return allow({ kind: "skipped", reason: plan.reason });
  // Opted in means Rook's own switch may be off: such a mon started as is would advertise its ClusterIP.
  if (mode === "opted-in" && plan.reason === "no-daemon-container") {
    const message = `${plan.message} (namespace ${r.namespace} is labelled ceph-mcs-agent.io/inject=enabled, so the pod is refused rather than started with a non-global address)`;
    return {
      body: respond(apiVersion, {
        uid: r.uid,
        allowed: false,
        status: { code: 403, reason: "Forbidden", message },
      }),
      outcome: { kind: "refused", reason: plan.reason },
      pod,
      ops: [],
    };
  }
  return allow({ kind: "skipped", reason: plan.reason }, [plan.message]);
}
