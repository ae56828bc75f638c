// The ServiceExport condition state machine (research/mcs-api.md §6.2), implementation-neutral:
// Lighthouse of every version, Cilium, Antrea and the short-lived upstream July-2025 vocabulary.
// Pure and total: whatever the MCS controller wrote, evaluateExport returns a verdict and never throws.

export type ConditionStatus = "True" | "False" | "Unknown";

/** One condition after validation; absent reason/message are "". */
export interface Condition {
  type: string;
  status: ConditionStatus;
  reason: string;
  message: string;
  lastTransitionTime?: string;
}

/** A best guess of the controller that wrote the conditions, for logs only. */
export type Implementation =
  | "lighthouse<=0.12"
  | "lighthouse<=0.13"
  | "lighthouse-0.14/0.15"
  | "lighthouse-0.16..0.20"
  | "lighthouse>=0.21"
  | "lighthouse"
  | "cilium"
  | "antrea"
  | "mcs-api-2025-07"
  | "gke"
  | "unknown";

export type ExportState = "ready" | "waiting" | "failing" | "failed";

/**
 * - ready: Valid=True and every Ready/Synced/Exported present is True.
 * - waiting: transient; keep watching until the caller's deadline.
 * - failing: Ready=False Failed/ExportFailed; the caller fails after a grace period.
 * - failed: permanent until someone changes the configuration; fail fast.
 */
export interface ExportVerdict {
  state: ExportState;
  /** The deciding condition's reason verbatim (may be ""), or the agent's own reason when no condition decided. */
  reason: string;
  /** The deciding condition's message verbatim; the agent's own text only when the controller gave none. */
  message: string;
  /** The condition that decided, as written by the controller. */
  condition?: Condition;
  /** What the user can do about it (non-ready verdicts where known). */
  hint?: string;
  /** To be logged loudly; the export continues (e.g. a port conflict). */
  warnings: string[];
  implementation: Implementation;
  /** The effective conditions: one per type, the last occurrence of each. */
  conditions: Condition[];
}

const VALID_TYPES = new Set(["Valid", "Accepted"]);
const READY_TYPES = new Set(["Ready", "Synced", "Exported"]);
const CONFLICT_TYPES = new Set(["Conflict", "Conflicted"]);
const STATUSES = new Set<string>(["True", "False", "Unknown"]);

const SERVICE_TYPE_HINT =
  "the Service must be of type ClusterIP with a cluster IP (not headless, NodePort, LoadBalancer or ExternalName); delete it so the agent recreates it";

// Valid=False reasons that stay until someone changes the configuration.
const PERMANENT_VALID = new Map<string, string>([
  ["InvalidServiceType", SERVICE_TYPE_HINT],
  ["UnsupportedServiceType", SERVICE_TYPE_HINT],
  ["ServiceTypeNotSupported", SERVICE_TYPE_HINT],
  ["ServiceNoClusterIP", SERVICE_TYPE_HINT],
  [
    "RestrictedNamespace",
    "the MCS controller refuses exports from this namespace (Lighthouse import-namespace-deny-list / allow-list); allow the namespace in the MCS controller's configuration",
  ],
  [
    "IPPoolAllocationFailed",
    "Globalnet could not allocate a global IP (pool exhausted?); free global IPs or enlarge this cluster's GlobalCIDR, see the Service's GlobalIngressIP",
  ],
  [
    "ImportedService",
    "the Service is itself a multi-cluster import and cannot be exported; check that no other tool owns this Service",
  ],
  [
    "UnsupportedIPFamily",
    "the MCS controller does not support the Service's IP family; configure the family the MCS implementation supports",
  ],
]);

// Valid=False reasons known to clear by themselves; some deserve a hint while they last.
const TRANSIENT_VALID = new Map<string, string | undefined>([
  ["AwaitingSync", undefined],
  ["AwaitingExport", undefined],
  ["ServiceGlobalIPUnavailable", undefined],
  ["NoService", undefined],
  ["ServiceUnavailable", undefined],
  ["ServiceNotFound", undefined],
  ["ServiceRetrievalFailed", undefined],
  [
    "InternalServiceCreationFailed",
    "Globalnet could not create its internal Service; check the globalnet pod's logs",
  ],
  ["ProgramIPTableRulesFailed", "Globalnet could not program its rules; check the globalnet pod's logs"],
  [
    "ServiceWithoutEndpoints",
    "Antrea exports only Services with ready endpoints: the Service needs publishNotReadyAddresses: true",
  ],
]);

const TRANSIENT_READY = new Set(["Pending", "AwaitingExport", "AwaitingSync", "NoServiceImport"]);
const FAILING_READY = new Set(["Failed", "ExportFailed"]);
const FAILING_HINT =
  "the MCS controller could not export the Service; check its logs (Lighthouse: submariner-lighthouse-agent) and its connection to the broker";
const TYPE_CONFLICTS = new Set(["TypeConflict", "ConflictingType"]);
const TYPE_CONFLICT_HINT =
  "another cluster exports a Service with this name and namespace but a different type; make both ClusterIP or remove the other export";

/** Evaluates `status.conditions` of a ServiceExport. Never throws. */
export function evaluateExport(conditions: unknown): ExportVerdict {
  try {
    const parsed = parseConditions(conditions);
    if (typeof parsed === "string") return malformed(parsed);
    return decide(parsed.conditions, guessImplementation(parsed));
  } catch (err) {
    // Only hostile inputs (throwing getters, revoked proxies) get here.
    return malformed(`they could not be read (${safeText(err)})`);
  }
}

interface Parsed {
  conditions: Condition[];
  duplicated: boolean;
}

/** The effective conditions (last occurrence of each type wins), or a problem description. */
export function parseConditions(input: unknown): Parsed | string {
  if (input === undefined || input === null) return { conditions: [], duplicated: false };
  if (!Array.isArray(input)) return `status.conditions is ${describe(input)}, not a list`;
  const byType = new Map<string, Condition>();
  for (const [i, entry] of (input as unknown[]).entries()) {
    const condition = parseEntry(entry);
    if (typeof condition === "string") return `condition #${i + 1} ${condition}`;
    // Delete first so the order follows the last occurrences (Lighthouse <= 0.12 appended).
    byType.delete(condition.type);
    byType.set(condition.type, condition);
  }
  return { conditions: [...byType.values()], duplicated: byType.size < input.length };
}

function parseEntry(entry: unknown): Condition | string {
  if (typeof entry !== "object" || entry === null || Array.isArray(entry))
    return `is ${describe(entry)}, not an object`;
  const { type, status, reason, message, lastTransitionTime } = entry as Record<string, unknown>;
  if (typeof type !== "string" || type === "")
    return `has type ${describe(type)}, expected a non-empty string`;
  const shown = type.slice(0, 60);
  if (!isStatus(status))
    return `(${shown}) has status ${describe(status)}, expected "True", "False" or "Unknown"`;
  const texts = { reason: optionalText(reason), message: optionalText(message) };
  if (texts.reason === undefined) return `(${shown}) has reason ${describe(reason)}, expected a string`;
  if (texts.message === undefined) return `(${shown}) has message ${describe(message)}, expected a string`;
  const condition: Condition = { type, status, reason: texts.reason, message: texts.message };
  if (typeof lastTransitionTime === "string") condition.lastTransitionTime = lastTransitionTime;
  return condition;
}

function isStatus(value: unknown): value is ConditionStatus {
  return typeof value === "string" && STATUSES.has(value);
}

// Old controllers omit reason/message (v0.1.0 API: optional pointers): absent is "".
function optionalText(value: unknown): string | undefined {
  if (value === undefined || value === null) return "";
  return typeof value === "string" ? value : undefined;
}

function malformed(problem: string): ExportVerdict {
  return {
    state: "failed",
    reason: "MalformedConditions",
    message: `the MCS controller wrote malformed ServiceExport status.conditions: ${problem}`,
    hint: "this is a bug or version mismatch in the MCS controller (or a CRD without schema validation); upgrade or report it",
    warnings: [],
    implementation: "unknown",
    conditions: [],
  };
}

// A more severe finding wins; on a tie Valid speaks before Conflict before Ready, because the
// earliest unmet step is the one the user has to look at.
const GROUP_ORDER = [VALID_TYPES, CONFLICT_TYPES, READY_TYPES];
const SEVERITY: Record<ExportState, number> = { ready: 0, waiting: 1, failing: 2, failed: 3 };

interface Finding {
  state: ExportState;
  condition: Condition;
  hint?: string;
  warning?: string;
}

function decide(conditions: Condition[], implementation: Implementation): ExportVerdict {
  const findings = [...conditions]
    .sort(byGroup)
    .map(judge)
    .filter((f): f is Finding => f !== undefined);
  const warnings = findings.flatMap((f) => (f.warning === undefined ? [] : [f.warning]));
  const base = { warnings, implementation, conditions };
  let worst: Finding | undefined;
  for (const f of findings) if (worst === undefined || SEVERITY[f.state] > SEVERITY[worst.state]) worst = f;
  if (worst !== undefined && worst.state !== "ready") return { ...fromFinding(worst), ...base };
  if (!conditions.some((c) => VALID_TYPES.has(c.type))) return { ...notValidatedYet(conditions), ...base };
  const decider =
    conditions.find((c) => READY_TYPES.has(c.type)) ?? conditions.find((c) => VALID_TYPES.has(c.type));
  return { ...fromFinding({ state: "ready", condition: decider as Condition }), ...base };
}

function byGroup(a: Condition, b: Condition): number {
  const rank = (c: Condition): number => GROUP_ORDER.findIndex((types) => types.has(c.type));
  return rank(a) - rank(b);
}

function fromFinding(f: Finding): Pick<ExportVerdict, "state" | "reason" | "message" | "condition" | "hint"> {
  const c = f.condition;
  const message =
    c.message === ""
      ? `${c.type}=${c.status}${c.reason ? ` (${c.reason})` : ""} without a message`
      : c.message;
  const verdict: Pick<ExportVerdict, "state" | "reason" | "message" | "condition" | "hint"> = {
    state: f.state,
    reason: c.reason,
    message,
    condition: c,
  };
  if (f.hint !== undefined) verdict.hint = f.hint;
  return verdict;
}

function notValidatedYet(conditions: Condition[]): Pick<ExportVerdict, "state" | "reason" | "message"> {
  if (conditions.length === 0) {
    return {
      state: "waiting",
      reason: "NoConditions",
      message: "the MCS controller has not written any condition yet",
    };
  }
  const seen = conditions.map((c) => `${c.type}=${c.status}`).join(", ");
  return {
    state: "waiting",
    reason: "NotValidated",
    message: `the MCS controller has not written a Valid condition yet (seen: ${seen})`,
  };
}

function judge(c: Condition): Finding | undefined {
  if (VALID_TYPES.has(c.type)) return judgeValid(c);
  if (READY_TYPES.has(c.type)) return judgeReady(c);
  if (CONFLICT_TYPES.has(c.type)) return judgeConflict(c);
  return undefined;
}

function judgeValid(c: Condition): Finding {
  if (c.status !== "False") return { state: c.status === "True" ? "ready" : "waiting", condition: c };
  const permanent = PERMANENT_VALID.get(c.reason);
  if (permanent !== undefined) return { state: "failed", condition: c, hint: permanent };
  if (TRANSIENT_VALID.has(c.reason))
    return withHint({ state: "waiting", condition: c }, TRANSIENT_VALID.get(c.reason));
  return { state: "waiting", condition: c, warning: unknownReason(c) };
}

function judgeReady(c: Condition): Finding {
  if (c.status !== "False") return { state: c.status === "True" ? "ready" : "waiting", condition: c };
  if (FAILING_READY.has(c.reason)) return { state: "failing", condition: c, hint: FAILING_HINT };
  if (TRANSIENT_READY.has(c.reason)) return { state: "waiting", condition: c };
  return { state: "waiting", condition: c, warning: unknownReason(c) };
}

function judgeConflict(c: Condition): Finding {
  if (c.status !== "True") return { state: "ready", condition: c };
  // Several conflicts are comma-joined into one reason.
  const reasons = c.reason.split(",").map((r) => r.trim());
  if (reasons.some((r) => TYPE_CONFLICTS.has(r)))
    return { state: "failed", condition: c, hint: TYPE_CONFLICT_HINT };
  const warning = `ServiceExport conflict ${c.reason || "(no reason)"}: ${c.message || "(no message)"} — the export continues; the oldest export's settings win`;
  return { state: "ready", condition: c, warning };
}

function withHint(f: Finding, hint: string | undefined): Finding {
  return hint === undefined ? f : { ...f, hint };
}

function unknownReason(c: Condition): string {
  return `${c.type}=False with unrecognised reason ${JSON.stringify(c.reason)}; treating it as transient until the deadline: ${c.message || "(no message)"}`;
}

// Reasons only one implementation uses.
const ANTREA_REASONS = new Set([
  "Succeed",
  "ServiceNotFound",
  "ServiceTypeNotSupported",
  "ServiceNoClusterIP",
  "ServiceWithoutEndpoints",
  "ImportedService",
]);
const LIGHTHOUSE_REASONS = new Set([
  "AwaitingSync",
  "AwaitingExport",
  "ExportFailed",
  "NoServiceImport",
  "ServiceGlobalIPUnavailable",
  "IPPoolAllocationFailed",
  "InternalServiceCreationFailed",
  "ProgramIPTableRulesFailed",
  "RestrictedNamespace",
  "UnsupportedServiceType",
  "ServiceUnavailable",
  "ServiceRetrievalFailed",
  "UnsupportedIPFamily",
]);
const LIGHTHOUSE_0_16_READY = new Set(["", "AwaitingExport", "ExportFailed", "NoServiceImport"]);

interface Clues {
  types: Set<string>;
  reasons: Set<string>;
  ready: Condition | undefined;
  valid: Condition | undefined;
  broker: boolean;
  duplicated: boolean;
}

const RULES: readonly (readonly [Implementation, (k: Clues) => boolean])[] = [
  ["mcs-api-2025-07", (k) => k.types.has("Accepted") || k.types.has("Conflicted")],
  ["gke", (k) => k.types.has("Initialized")],
  ["lighthouse<=0.12", (k) => k.duplicated && k.types.has("Valid")],
  ["lighthouse-0.14/0.15", (k) => k.types.has("Synced")],
  ["antrea", (k) => [...k.reasons].some((r) => ANTREA_REASONS.has(r))],
  ["cilium", (k) => k.reasons.has("NoConflicts") || k.ready?.reason === "Ready" || isCiliumMessage(k)],
  ["lighthouse-0.16..0.20", (k) => k.ready !== undefined && LIGHTHOUSE_0_16_READY.has(k.ready.reason)],
  ["lighthouse>=0.21", (k) => k.ready !== undefined && (k.broker || k.valid?.reason === "Valid")],
  ["lighthouse<=0.13", (k) => k.types.size === 1 && k.valid !== undefined && isOldLighthouse(k.valid)],
  ["lighthouse", (k) => k.broker || [...k.reasons].some((r) => LIGHTHOUSE_REASONS.has(r))],
];

function isCiliumMessage(k: Clues): boolean {
  return [k.valid, k.ready].some((c) => c !== undefined && /^ServiceExport (is|has) /.test(c.message));
}

function isOldLighthouse(valid: Condition): boolean {
  return valid.reason === "AwaitingSync" || (valid.reason === "" && /broker/.test(valid.message));
}

function guessImplementation(parsed: Parsed): Implementation {
  const cs = parsed.conditions;
  const clues: Clues = {
    types: new Set(cs.map((c) => c.type)),
    reasons: new Set(cs.map((c) => c.reason)),
    ready: cs.find((c) => READY_TYPES.has(c.type)),
    valid: cs.find((c) => VALID_TYPES.has(c.type)),
    broker: cs.some((c) => /\bbroker\b/.test(c.message)),
    duplicated: parsed.duplicated,
  };
  return RULES.find(([, matches]) => matches(clues))?.[0] ?? "unknown";
}

/** A short, safe description of a value of unknown shape for error messages. */
function describe(value: unknown): string {
  if (value === null) return "null";
  if (value === undefined) return "missing";
  if (Array.isArray(value)) return "a list";
  if (typeof value === "object") return "an object";
  if (typeof value === "string") return JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}…` : value);
  if (typeof value === "number" || typeof value === "boolean") return `${typeof value} ${String(value)}`;
  return `a ${typeof value}`;
}

function safeText(err: unknown): string {
  try {
    return err instanceof Error ? err.message : String(err);
  } catch {
    return "unreadable error";
  }
}
