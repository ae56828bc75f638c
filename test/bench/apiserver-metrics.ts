// Counts requests on the kube-apiserver's side, from its Prometheus metrics (scraped with the admin
// certificate; GET /metrics itself shows in neither counter used here, measured on 1.35):
// - apiserver_flowcontrol_dispatched_requests_total{flow_schema="service-accounts"}: every request of
//   every ServiceAccount outside kube-system that API Priority and Fairness let through — discovery
//   and watches included. In the bench only the agents use a ServiceAccount (the emulator and the
//   bench use the admin certificate, flow schema "exempt"), so its growth is exactly the agents'
//   requests, even while the emulator is busy. Its _rejected_ twin counts the 429s.
// - apiserver_request_total{verb, resource, subresource, code}: which requests, but for everyone,
//   and without non-resource requests such as discovery (GET /apis).
import { request } from "node:https";
import type { AgentOptions } from "node:https";
import type { KubeConfig } from "@kubernetes/client-node";

/** Series "name{labels}" → value. */
export type Metrics = ReadonlyMap<string, number>;

export async function scrapeMetrics(kc: KubeConfig): Promise<Metrics> {
  const server = kc.getCurrentCluster()?.server;
  if (server === undefined) throw new Error("admin kubeconfig has no server");
  const tls: AgentOptions = {};
  await kc.applyToHTTPSOptions(tls);
  const text = await get(`${server}/metrics`, tls);
  const series = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line.startsWith("#") || line === "") continue;
    const cut = line.lastIndexOf(" ");
    series.set(line.slice(0, cut), Number(line.slice(cut + 1)));
  }
  return series;
}

function get(url: string, tls: AgentOptions): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(url, { ca: tls.ca, cert: tls.cert, key: tls.key, timeout: 10_000 }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (body += chunk));
      res.on("end", () => {
        if (res.statusCode === 200) resolve(body);
        else reject(new Error(`GET ${url}: HTTP ${res.statusCode ?? "?"}`));
      });
    });
    req.on("error", reject);
    req.on("timeout", () => req.destroy(new Error(`GET ${url}: timed out`)));
    req.end();
  });
}

/** Growth of every series of `name` whose labels contain `match`, by label set. */
function growth(before: Metrics, after: Metrics, name: string, match = ""): Map<string, number> {
  const out = new Map<string, number>();
  for (const [series, n] of after) {
    if (!series.startsWith(`${name}{`) || !series.includes(match)) continue;
    const d = n - (before.get(series) ?? 0);
    if (d > 0) out.set(series.slice(name.length + 1, -1), d);
  }
  return out;
}

export function total(delta: ReadonlyMap<string, number>): number {
  let n = 0;
  for (const d of delta.values()) n += d;
  return n;
}

const SA_FLOW = 'flow_schema="service-accounts"';

/** Requests of ServiceAccounts (= the agents here) that the apiserver let through. */
export function agentRequests(before: Metrics, after: Metrics): number {
  return total(growth(before, after, "apiserver_flowcontrol_dispatched_requests_total", SA_FLOW));
}

/** Requests of ServiceAccounts the apiserver refused with 429 (API Priority and Fairness). */
export function agentRejections(before: Metrics, after: Metrics): number {
  return total(growth(before, after, "apiserver_flowcontrol_rejected_requests_total", SA_FLOW));
}

/** apiserver_request_total growth as "n × VERB resource[/subresource] → code" lines. */
export function requestBreakdown(before: Metrics, after: Metrics): string[] {
  return [...growth(before, after, "apiserver_request_total")].map(([labels, n]) => {
    const label = (k: string) => new RegExp(`(?:^|,)${k}="([^"]*)"`).exec(labels)?.[1] ?? "";
    const sub = label("subresource");
    const what = label("resource") ? `${label("resource")}${sub ? `/${sub}` : ""}` : sub;
    return `${n} × ${label("verb")} ${what} → ${label("code")}`;
  });
}
