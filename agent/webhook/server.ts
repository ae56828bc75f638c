// The HTTPS admission server (two endpoints, one per webhook entry) and the plain HTTP server for
// probes and metrics. Only I/O here: what to answer is admission.ts.
import {
  createServer as createHttp,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from "node:http";
import { createServer as createHttps, type Server as HttpsServer } from "node:https";
import type { AddressInfo, Socket } from "node:net";
import type { Logger } from "../log.ts";
import { BadReview, review, type Mode, type ReviewContext, type ReviewResult } from "./admission.ts";
import type { WebhookMetrics } from "./metrics.ts";
import type { TlsPair } from "./tls.ts";

/** The apiserver sends at most a 3 MiB object; an AdmissionReview wraps it (and oldObject) once. */
const MAX_BODY = 8 * 1024 * 1024;

export const PATHS: Readonly<Record<string, Mode>> = {
  "/inject": "opted-in",
  "/inject-if-enabled": "cephcluster",
};

export interface AdmissionDeps {
  readonly context: (mode: Mode) => ReviewContext;
  readonly metrics: WebhookMetrics;
  readonly log: Logger;
}

export interface Listening {
  readonly host: string;
  readonly port: number;
}

export interface AdmissionServer {
  readonly port: number;
  setTls(pair: TlsPair): void;
  close(): Promise<void>;
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new BadReview(`request body larger than ${MAX_BODY} bytes`));
        req.destroy();
      } else chunks.push(c);
    });
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = typeof body === "string" ? body : JSON.stringify(body);
  res.writeHead(status, { "content-type": typeof body === "string" ? "text/plain" : "application/json" });
  res.end(text);
}

const round = (ms: number): number => Math.round(ms * 100) / 100;

/**
 * When each connection was accepted (TCP), to log how long its TLS handshake took (a burst of new
 * connections queues handshakes on the one thread). Keyed by the peer's address: the TCP socket and
 * its TLS socket are different objects.
 */
const accepted = new Map<string, bigint>();
const peer = (s: { remoteAddress?: string; remotePort?: number }): string =>
  `${s.remoteAddress}:${s.remotePort}`;

function trackHandshakes(server: HttpsServer, log: Logger): void {
  server.on("connection", (socket: Socket) => {
    const key = peer(socket);
    accepted.set(key, process.hrtime.bigint());
    socket.once("close", () => accepted.delete(key));
  });
  server.on("secureConnection", (socket: Socket) => {
    const at = accepted.get(peer(socket));
    if (at !== undefined)
      log.debug({ handshakeMs: round(Number(process.hrtime.bigint() - at) / 1e6) }, "TLS connection");
  });
}

function logResult(log: Logger, path: string, r: ReviewResult, ms: number): void {
  const { outcome } = r;
  const fields = { path, pod: r.pod, outcome: outcome.kind, ms: round(ms) };
  if (outcome.kind === "injected")
    log.info({ ...fields, ops: outcome.ops }, "injected the ceph-mcs-agent init container");
  else if (outcome.kind === "refused")
    log.warn({ ...fields, reason: outcome.reason }, "refused a pod it cannot inject");
  else if (r.body.response.warnings)
    log.warn({ ...fields, warnings: r.body.response.warnings }, "left a pod uninjected");
  else log.debug(fields, "nothing to inject");
}

function reasonOf(r: ReviewResult): string {
  const o = r.outcome;
  return o.kind === "skipped" || o.kind === "refused" ? o.reason : "";
}

async function answer(
  req: IncomingMessage,
  res: ServerResponse,
  route: { path: string; mode: Mode },
  deps: AdmissionDeps,
): Promise<void> {
  const { path, mode } = route;
  const started = process.hrtime.bigint();
  const timer = deps.metrics.seconds.startTimer({ path });
  try {
    const result = review(JSON.parse((await readBody(req)).toString("utf8")) as unknown, deps.context(mode));
    send(res, 200, result.body);
    deps.metrics.admissions.inc({ path, outcome: result.outcome.kind, reason: reasonOf(result) });
    logResult(deps.log, path, result, Number(process.hrtime.bigint() - started) / 1e6);
  } catch (err) {
    const bad = err instanceof BadReview || err instanceof SyntaxError;
    deps.metrics.admissions.inc({ path, outcome: "error", reason: bad ? "bad-request" : "internal" });
    deps.log.error({ err, path }, bad ? "malformed admission request" : "admission failed");
    send(res, bad ? 400 : 500, `${(err as Error).message}\n`);
  } finally {
    timer();
  }
}

function handleAdmission(req: IncomingMessage, res: ServerResponse, deps: AdmissionDeps): Promise<void> {
  const path = (req.url ?? "/").split("?")[0] ?? "/";
  const mode = PATHS[path];
  if (mode !== undefined && req.method === "POST") return answer(req, res, { path, mode }, deps);
  send(res, mode === undefined ? 404 : 405, `use POST ${Object.keys(PATHS).join(" or ")}\n`);
  return Promise.resolve();
}

function listen(server: Server | HttpsServer, at: Listening): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(at.port, at.host, () => {
      server.off("error", reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

function closeServer(server: Server | HttpsServer): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeIdleConnections();
  });
}

export async function startAdmissionServer(
  at: Listening,
  tls: TlsPair,
  deps: AdmissionDeps,
): Promise<AdmissionServer> {
  const server = createHttps({ cert: tls.cert, key: tls.key, minVersion: "TLSv1.2" }, (req, res) => {
    void handleAdmission(req, res, deps);
  });
  trackHandshakes(server, deps.log);
  // The apiserver keeps connections to webhooks open; match its idle time rather than Node's 5 s.
  server.keepAliveTimeout = 65_000;
  const port = await listen(server, at);
  return {
    port,
    setTls: (pair) => server.setSecureContext({ cert: pair.cert, key: pair.key, minVersion: "TLSv1.2" }),
    close: () => closeServer(server),
  };
}

export interface ProbeServer {
  readonly port: number;
  close(): Promise<void>;
}

/** /healthz (the process serves), /readyz (CephCluster cache synced), /metrics. */
export async function startProbeServer(
  at: Listening,
  ready: () => string | undefined,
  metrics: WebhookMetrics,
): Promise<ProbeServer> {
  const server = createHttp((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (req.method !== "GET") send(res, 405, "GET only\n");
    else if (path === "/healthz") send(res, 200, "ok\n");
    else if (path === "/readyz") {
      const problem = ready();
      send(res, problem === undefined ? 200 : 503, `${problem ?? "ok"}\n`);
    } else if (path === "/metrics") {
      metrics.registry.metrics().then(
        (text) => res.writeHead(200, { "content-type": metrics.registry.contentType }).end(text),
        () => send(res, 500, "metrics failed\n"),
      );
    } else send(res, 404, "/healthz, /readyz, /metrics\n");
  });
  const port = await listen(server, at);
  return { port, close: () => closeServer(server) };
}
