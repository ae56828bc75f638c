// DnsPort over node:dns/promises (c-ares). resolve4/resolve6 send a name as-is (ares_query, no search
// list) while getaddrinfo expands it, so a relative name could mean two things: only absolute names are
// accepted. Each query gets its own Resolver: cancel() rejects every in-flight query of a Resolver, so
// a shared one would let one caller's deadline kill another's query; a fresh channel costs ~0.05 ms
// (measured) and carries no server-health state over from earlier queries.
import { Resolver } from "node:dns/promises";
import type { RecordWithTtl } from "node:dns";
import { AgentError, ConfigError, classify, type ErrorKind } from "../errors.ts";
import type { DnsAnswer, DnsPort, IpFamily } from "../ports.ts";

export interface DnsResolverOptions {
  /** "ip", "ip:port" or "[ipv6]:port"; default: the nameservers of /etc/resolv.conf, read per query. */
  servers?: readonly string[];
  /**
   * Per-try timeout, also c-ares' maxTimeout (caps the per-try doubling). c-ares' own total stays
   * approximate (200 ms × 2 tries measured 400–800 ms): the caller's signal is the hard deadline.
   */
  timeoutMs: number;
  /** Attempts per server before c-ares gives up with ETIMEOUT. */
  tries: number;
}

interface Failure {
  kind: ErrorKind;
  what: string;
  hint: string;
}

const CHECK_SERVER =
  "check that the DNS server is up and reachable from this pod (address, port, NetworkPolicy)";
const CHECK_ZONE =
  "check that this DNS server serves clusterset.local (the MCS DNS plugin, e.g. Lighthouse, and its CoreDNS forward)";

// c-ares error code → what it means for the caller. ENODATA/ENOTFOUND are answers, not failures.
// EBADRESP: c-ares already re-sent the query `tries` times before reporting it; a garbled reply is
// usually a transient fault of a proxy/middlebox, so the caller may retry within its deadline.
const FAILURES: Readonly<Record<string, Failure>> = {
  ETIMEOUT: { kind: "retryable", what: "no answer in time", hint: CHECK_SERVER },
  ECONNREFUSED: { kind: "retryable", what: "connection refused", hint: CHECK_SERVER },
  ESERVFAIL: { kind: "retryable", what: "the server answered SERVFAIL", hint: `${CHECK_ZONE} and its logs` },
  EREFUSED: { kind: "retryable", what: "the server answered REFUSED", hint: CHECK_ZONE },
  EBADRESP: {
    kind: "retryable",
    what: "malformed response",
    hint: "check the DNS server and any DNS proxy on the way",
  },
  EOF: {
    kind: "retryable",
    what: "the response ended early",
    hint: "check the DNS server and any DNS proxy on the way",
  },
  EFORMERR: {
    kind: "permanent",
    what: "the server answered FORMERR",
    hint: "check the DNS server's software",
  },
  ENOTIMP: {
    kind: "permanent",
    what: "the server answered NOTIMP",
    hint: "use a DNS server that resolves A/AAAA",
  },
  EBADNAME: {
    kind: "permanent",
    what: "not a valid DNS name",
    hint: "check the cluster ID, Service and namespace",
  },
};

const UNKNOWN: Failure = { kind: "permanent", what: "unexpected resolver error", hint: CHECK_SERVER };

interface QueryContext {
  name: string;
  type: "A" | "AAAA";
  servers: string;
}

export class NodeDnsResolver implements DnsPort {
  readonly #timeoutMs: number;
  readonly #tries: number;
  readonly #servers: readonly string[] | undefined;

  /** Throws ConfigError when a server address or a number is invalid, so misconfiguration shows at start. */
  constructor(options: DnsResolverOptions) {
    this.#timeoutMs = options.timeoutMs;
    this.#tries = options.tries;
    this.#servers = options.servers === undefined ? undefined : [...options.servers];
    try {
      this.#newResolver();
    } catch (err) {
      throw new ConfigError([`DNS resolver options: ${err instanceof Error ? err.message : String(err)}`]);
    }
  }

  async query(name: string, family: IpFamily, signal: AbortSignal): Promise<DnsAnswer> {
    requireAbsolute(name);
    const resolver = this.#newResolver();
    const ctx: QueryContext = { name, type: family === 4 ? "A" : "AAAA", servers: describeServers(resolver) };
    try {
      signal.throwIfAborted(); // before sending anything
      const lookup =
        family === 4 ? resolver.resolve4(name, { ttl: true }) : resolver.resolve6(name, { ttl: true });
      return toAnswer(await untilAborted(lookup, signal, () => resolver.cancel()));
    } catch (err) {
      if (signal.aborted) throw aborted(ctx, signal.reason);
      return this.#fromError(err, ctx);
    }
  }

  #newResolver(): Resolver {
    const resolver = new Resolver({
      timeout: this.#timeoutMs,
      tries: this.#tries,
      maxTimeout: this.#timeoutMs,
    });
    if (this.#servers !== undefined) resolver.setServers(this.#servers);
    return resolver;
  }

  #fromError(err: unknown, ctx: QueryContext): DnsAnswer {
    const code = (err as { code?: unknown } | null)?.code;
    if (code === "ENODATA") return { kind: "nodata" };
    if (code === "ENOTFOUND") return { kind: "nxdomain" };
    const failure = (typeof code === "string" ? FAILURES[code] : undefined) ?? UNKNOWN;
    const tries = this.#tries === 1 ? "1 try" : `${this.#tries} tries`;
    const budget = code === "ETIMEOUT" ? ` after ${tries} of ${this.#timeoutMs} ms per server` : "";
    const detail = `${typeof code === "string" ? code : String(err)}, ${failure.what}${budget}`;
    throw new AgentError(failure.kind, `DNS ${ctx.type} query via ${ctx.servers} failed with ${detail}`, {
      object: ctx.name,
      hint: failure.hint,
      cause: err,
    });
  }
}

function requireAbsolute(name: string): void {
  if (name.length > 1 && name.endsWith(".")) return;
  throw new AgentError("permanent", `DNS name "${name}" is not absolute`, {
    hint: "pass the fully qualified name with a trailing dot, e.g. <clusterID>.<svc>.<ns>.svc.clusterset.local.",
  });
}

function describeServers(resolver: Resolver): string {
  const servers = resolver.getServers();
  return servers.length > 0 ? servers.join(", ") : "the system resolver (no nameserver in /etc/resolv.conf)";
}

function toAnswer(records: readonly RecordWithTtl[]): DnsAnswer {
  // c-ares reports an empty answer as ENODATA; guard anyway so Math.min never sees an empty list.
  if (records.length === 0) return { kind: "nodata" };
  return {
    kind: "addresses",
    addresses: records.map((r) => r.address),
    ttl: Math.min(...records.map((r) => r.ttl)),
  };
}

/** Settles with `work`, or rejects as soon as `signal` aborts (after calling `cancel`). */
function untilAborted<T>(work: Promise<T>, signal: AbortSignal, cancel: () => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => {
      cancel();
      reject(signal.reason as Error);
    };
    signal.addEventListener("abort", onAbort, { once: true });
    // The listener is removed once settled so a long-lived signal does not collect one per query.
    void work.then(resolve, reject).finally(() => {
      signal.removeEventListener("abort", onAbort);
    });
  });
}

/** A deadline (TimeoutError) stays retryable for the caller's policy; a cancellation is final. */
function aborted(ctx: QueryContext, reason: unknown): AgentError {
  const why = reason instanceof Error ? reason.message : String(reason);
  const kind = classify(reason);
  return new AgentError(kind, `DNS ${ctx.type} query via ${ctx.servers} aborted before an answer: ${why}`, {
    object: ctx.name,
    hint: kind === "retryable" ? CHECK_SERVER : undefined,
    cause: reason,
  });
}
