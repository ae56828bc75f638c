// /healthz and /metrics. Healthy means the process is not wedged: a leader whose rounds stopped
// finishing for a long time is not healthy (the kubelet restarts it and another replica leads).
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { ControllerMetrics } from "./metrics.ts";

export interface Health {
  /** Undefined when healthy, else why not. */
  problem(): string | undefined;
}

export interface HttpServer {
  readonly port: number;
  close(): Promise<void>;
}

export async function startHttp(
  listen: { host: string; port: number },
  metrics: ControllerMetrics,
  health: Health,
): Promise<HttpServer> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (req.method !== "GET") {
      res.writeHead(405).end();
    } else if (path === "/healthz") {
      const problem = health.problem();
      res.writeHead(problem ? 503 : 200, { "content-type": "text/plain" }).end(problem ?? "ok\n");
    } else if (path === "/metrics") {
      metrics.registry.metrics().then(
        (text) => res.writeHead(200, { "content-type": metrics.registry.contentType }).end(text),
        () => res.writeHead(500).end(),
      );
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(listen.port, listen.host, resolve);
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
