// One error type and one classifier for the whole agent. Every message says what failed, on which
// object, and what to do; callers decide retry policy from `kind` alone.

export type ErrorKind = "notFound" | "conflict" | "retryable" | "permanent";

export interface AgentErrorOptions {
  /** The object concerned, e.g. `ServiceExport rook-ceph/rook-ceph-mon-a`. */
  object?: string;
  /** What the operator should do about it. */
  hint?: string;
  cause?: unknown;
}

export class AgentError extends Error {
  readonly kind: ErrorKind;
  readonly object: string | undefined;
  readonly hint: string | undefined;

  constructor(kind: ErrorKind, message: string, options: AgentErrorOptions = {}) {
    super(formatMessage(message, options), { cause: options.cause });
    this.name = "AgentError";
    this.kind = kind;
    this.object = options.object;
    this.hint = options.hint;
  }
}

function formatMessage(message: string, { object, hint }: AgentErrorOptions): string {
  const on = object ? ` (${object})` : "";
  const todo = hint ? `: ${hint}` : "";
  return `${message}${on}${todo}`;
}

/** Configuration problems: wrong env, wrong CephCluster spec. Exit code for misconfiguration. */
export class ConfigError extends AgentError {
  readonly problems: readonly string[];
  constructor(
    problems: readonly string[],
    hint = "fix the pod's env or the CephCluster spec and restart the pod",
  ) {
    super("permanent", `invalid configuration: ${problems.join("; ")}`, { hint });
    this.name = "ConfigError";
    this.problems = problems;
  }
}

/** Exit codes of `ceph-mcs-agent init`; distinct so `kubectl describe pod` tells them apart. */
export const ExitCode = {
  ok: 0,
  internal: 1,
  misconfigured: 2,
  deadline: 3,
  addressChanged: 4,
} as const;

export interface ApiErrorInfo {
  status: number | undefined;
  reason: string | undefined;
  message: string | undefined;
}

interface ApiExceptionShape {
  code: number;
  body: unknown;
  headers: unknown;
}

// Recognised by shape, not instanceof: importing client-node here would load all of it for every
// command (even --version), and a second copy of the package would defeat instanceof anyway.
function isApiException(err: unknown): err is ApiExceptionShape {
  return (
    err instanceof Error &&
    typeof (err as Partial<ApiExceptionShape>).code === "number" &&
    "body" in err &&
    "headers" in err
  );
}

/** Parses a client-node ApiException (whose body is the raw response text) without leaking headers. */
export function apiErrorInfo(err: unknown): ApiErrorInfo | undefined {
  if (!isApiException(err)) return undefined;
  const parsed = parseStatusBody(err.body);
  return { status: err.code, reason: parsed.reason, message: parsed.message };
}

function parseStatusBody(body: unknown): { reason?: string; message?: string } {
  if (typeof body === "object" && body !== null) return body;
  if (typeof body !== "string" || body === "") return {};
  try {
    return JSON.parse(body) as { reason?: string; message?: string };
  } catch {
    return { message: body.slice(0, 200) };
  }
}

const RETRYABLE_STATUS = new Set([408, 410, 429, 500, 502, 503, 504]);
const RETRYABLE_NET_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "EPIPE",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EAI_AGAIN",
  "UND_ERR_CONNECT_TIMEOUT",
  "UND_ERR_HEADERS_TIMEOUT",
  "UND_ERR_BODY_TIMEOUT",
  "UND_ERR_SOCKET",
  "UND_ERR_CLOSED",
]);

/** The single error classifier: notFound / conflict / retryable / permanent. */
export function classify(err: unknown): ErrorKind {
  if (err instanceof AgentError) return err.kind;
  const api = apiErrorInfo(err);
  if (api) return classifyStatus(api.status);
  if (isTimeout(err)) return "retryable";
  return RETRYABLE_NET_CODES.has(networkCode(err) ?? "") ? "retryable" : "permanent";
}

function classifyStatus(status: number | undefined): ErrorKind {
  if (status === 404) return "notFound";
  if (status === 409) return "conflict";
  return status !== undefined && RETRYABLE_STATUS.has(status) ? "retryable" : "permanent";
}

function isTimeout(err: unknown): boolean {
  return err instanceof Error && err.name === "TimeoutError";
}

/** The errno-style code of a transport error (undici puts it on `cause`). */
export function networkCode(err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 4; e = e.cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string") return code;
  }
  return undefined;
}

/** Wraps any error with the action and object, keeping its classification. */
export function wrap(err: unknown, action: string, object: string, hint?: string): AgentError {
  if (err instanceof AgentError && err.object !== undefined) return err;
  const detail = apiErrorInfo(err)?.message ?? (err instanceof Error ? err.message : String(err));
  return new AgentError(classify(err), `failed to ${action}: ${detail}`, { object, hint, cause: err });
}
