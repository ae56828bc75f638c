// (b) restart wall time, (c) API requests, (d) peak RSS, as rows and details.
import type { BundleInfo } from "./bundle.ts";
import type { LatencyResult } from "./latency.ts";
import { markdownTable, verdict, type Row, type Section } from "./report.ts";
import { VARIANTS, type RestartResult, type RestartRun, type Variant } from "./restart.ts";
import { fmtKb, fmtMs, fmtRatio, kbToMb, max, median, quantile } from "./stats.ts";

export const WALL_GOAL = 3;
export const REQUEST_GOAL = 6;
export const RSS_GOAL_MB = 60;

const of = (r: RestartResult, v: Variant): RestartRun[] => r.runs.filter((x) => x.variant === v && x.ok);
const ms = (r: RestartResult, v: Variant): number => median(of(r, v).map((x) => x.ms));

function wallRows(r: RestartResult): Row[] {
  const node = ms(r, "node -e 0");
  const ratio = (v: Variant) => ms(r, v) / node;
  const row = (v: Variant, goal: boolean): Row => ({
    metric: `(b) restart wall time, ${v.replace(" init", "")} ÷ node -e 0 (medians)`,
    measured: `${fmtRatio(ratio(v))} (${fmtMs(ms(r, v))} ÷ ${fmtMs(node)})`,
    goal: goal ? `≤ ${WALL_GOAL}×` : "—",
    verdict: goal ? verdict(ratio(v) <= WALL_GOAL) : "info",
  });
  const out = [
    row("bundled init", true),
    row("unbundled init", false),
    row("bundled init + compile cache", false),
  ];
  if (r.failures.length > 0)
    out.push({ metric: "(b) failed runs", measured: r.failures.join("; "), goal: "0", verdict: "failed" });
  return out;
}

/** Unbundled init loads hundreds of files with type stripping; unbundled --version loads no Kubernetes code. */
function unbundledNote(r: RestartResult): string {
  const faster = ms(r, "unbundled --version") < ms(r, "bundled --version");
  return (
    " The unbundled init is slower because Node strips types from and loads hundreds of files" +
    (faster
      ? "; its `--version` is faster, as it imports no Kubernetes code while the bundle is compiled whole."
      : ".")
  );
}

function phaseCells(runs: readonly RestartRun[]): string[] {
  const p = runs.map((x) => x.phases).filter((x) => x !== undefined);
  if (p.length === 0) return ["—", "—", "—"];
  return [median(p.map((x) => x.toFlow)), median(p.map((x) => x.flow)), median(p.map((x) => x.exit))].map(
    fmtMs,
  );
}

function wallDetails(r: RestartResult, bundle: BundleInfo): string[] {
  const node = ms(r, "node -e 0");
  const table = markdownTable(
    ["variant", "runs", "p50", "p90", "÷ node -e 0", "spawn → flow start", "flow", "written → exit"],
    VARIANTS.map((v) => [
      v,
      String(of(r, v).length),
      fmtMs(ms(r, v)),
      fmtMs(
        quantile(
          of(r, v).map((x) => x.ms),
          0.9,
        ),
      ),
      fmtRatio(ms(r, v) / node),
      ...phaseCells(of(r, v)),
    ]),
  );
  const load = ms(r, "bundled --version") - node;
  const evaluate = ms(r, "bundled init, empty env") - ms(r, "bundled --version");
  const rest = ms(r, "bundled init") - ms(r, "bundled init, empty env");
  const cachedLoad = ms(r, "bundled init + compile cache") - ms(r, "bundled init");
  const flow = median(of(r, "bundled init").map((x) => x.phases?.flow ?? Number.NaN));
  const prof = bundle.versionProfile;
  const parts = bundle.byPackage
    .slice(0, 4)
    .map(([pkg, bytes]) => `${pkg} ${(bytes / 1e6).toFixed(2)} MB`)
    .join(", ");
  return [
    "The daemon from (a)'s first bundled sample (already exported, Valid/Ready, pinned) is started again with " +
      "the same folder — the restart path — with the project's Node (node_modules/.bin/node). Every round runs " +
      "all variants one after the other, each round starting at the next variant; one warm-up round is " +
      "dropped. Wall time is spawn → exit on the monotonic clock. *bundled init, empty env* loads and " +
      "evaluates everything init needs and stops at the env check (exit 2, no I/O). Phases come from " +
      "result.json timings and the spawn/exit wall-clock times: *spawn → flow start* is node start, module " +
      "load, kubeconfig, the first TLS connection and the CephCluster read; *flow* is result.json totalMs " +
      "(discovery, Service and export apply, export check, address sources, pin check, files); *written → " +
      "exit* is the closing Event and connection close.",
    "",
    ...table,
    "",
    `Where the bundled restart's ${fmtMs(ms(r, "bundled init"))} go (medians): node itself ${fmtMs(node)}; ` +
      `loading the ${(bundle.bytes / 1e6).toFixed(2)} MB bundle ${fmtMs(load)} (\`--version\` − \`node -e 0\`; ` +
      `a V8 CPU profile of \`--version\` has ${fmtMs(prof.compileMs)} of its ${fmtMs(prof.totalMs)} in ` +
      "compileSourceTextModule, V8 compiling the one big ESM file, whose largest parts are " +
      `${parts}); evaluating the modules init needs ${fmtMs(evaluate)} (empty env − \`--version\`); ` +
      `the I/O ${fmtMs(rest)} (init − empty env), of which the flow proper is ${fmtMs(flow)}. ` +
      `Node's on-disk compile cache (NODE_COMPILE_CACHE, warmed once by \`--version\` as an image build step ` +
      `could) changes the restart by ${fmtMs(cachedLoad)}.${unbundledNote(r)}`,
  ];
}

function requestRows(a: LatencyResult, r: RestartResult): Row[] {
  const agents = a.samples.filter((s) => s.who !== "rook");
  const first = agents.map((s) => s.apiserverRequests).filter((n) => n !== undefined);
  const firstOwn = agents.map((s) => s.requests).filter((n) => n !== undefined);
  const againOwn = r.runs.map((x) => x.requests).filter((n) => n !== undefined);
  const cc = r.crossCheck;
  return [
    {
      metric: "(c) API requests per pod, first start, apiserver-counted (median / max)",
      measured: `${median(first)} / ${max(first)} (agent's own count ${median(firstOwn)} / ${max(firstOwn)})`,
      goal: `≤ ${REQUEST_GOAL}`,
      verdict: verdict(max(first) <= REQUEST_GOAL),
    },
    {
      metric: "(c) API requests per pod, restart, apiserver-counted",
      measured: `${cc.apiserver} (agent's own count ${median(againOwn)} / ${max(againOwn)})`,
      goal: `≤ ${REQUEST_GOAL}`,
      verdict: verdict(cc.apiserver <= REQUEST_GOAL),
    },
  ];
}

function requestDetails(a: LatencyResult, r: RestartResult): string[] {
  const cc = r.crossCheck;
  const gaps = a.samples
    .filter((s) => s.requests !== undefined && s.apiserverRequests !== undefined)
    .map((s) => s.apiserverRequests! - s.requests!);
  const gap = [...new Set([...gaps, cc.apiserver - (cc.agent ?? Number.NaN)])];
  const missed =
    gap.length === 1 && gap[0] === 1
      ? [
          "",
          "The agent's own count is one short on every run: its discovery request (GET /apis) bypasses " +
            "its client middleware (agent/kube/init-kube.ts calls `c.apis.getAPIVersions(c.opts)`, which " +
            "takes the options as its *second* parameter), so it is neither counted nor given the request " +
            "timeout or the shared connection pool.",
        ]
      : [];
  return [
    "*Agent's own count*: the agent counts every request it sends (client middleware; a watch counts " +
      'once) and logs `{"apiRequests": N, "msg": "API requests sent"}` at exit. *Apiserver-counted*: growth ' +
      "of kube-apiserver's apiserver_flowcontrol_dispatched_requests_total for flow schema " +
      "service-accounts, scraped (admin certificate) right before and after each agent process; only the " +
      "agents use a ServiceAccount here (emulator and bench are `exempt`), so this is exact even while the " +
      "emulator works, and it includes discovery and watches. First starts: every agent sample of (a). " +
      "Restart: one extra bundled restart after (b). The audit log would need a harness change. The " +
      "restart's requests by kind (apiserver_request_total, which has no non-resource requests such as " +
      "GET /apis):",
    "",
    ...cc.breakdown.map((b) => `- ${b}`),
    ...missed,
    "",
    "The first bundled first start's requests by kind, keeping only kinds the emulator never sends " +
      "(it writes status subresources, creates GlobalIngressIPs and EndpointSlices and otherwise watches):",
    "",
    ...firstStartKinds(a).map((b) => `- ${b}`),
  ];
}

/** Request kinds only the agent sends (the emulator's are status writes, creations and watches). */
const AGENT_KINDS =
  /× (GET cephclusters|APPLY services|APPLY serviceexports|WATCH serviceexports|GET serviceexports|GET globalingressips|LIST endpointslices|GET serviceimports|PATCH services|PATCH serviceexports|POST events) /;

function firstStartKinds(a: LatencyResult): string[] {
  const kinds = a.samples.find((s) => s.who === "bundled")?.kinds ?? [];
  return kinds.filter((k) => AGENT_KINDS.test(k));
}

function rssRows(a: LatencyResult, r: RestartResult): Row[] {
  const first = (b: string) =>
    a.samples.filter((s) => s.who === b && s.rssKb !== undefined).map((s) => s.rssKb!);
  const restart = (v: Variant) => r.rssKb[v] ?? [];
  const row = (what: string, firstKb: number[], againKb: number[]): Row => {
    const worst = max([...firstKb, ...againKb]);
    return {
      metric: `(d) peak RSS, ${what} (max of first starts / restarts)`,
      measured: `${fmtKb(max(firstKb))} / ${fmtKb(max(againKb))}`,
      goal: `≤ ${RSS_GOAL_MB} MB`,
      verdict: verdict(kbToMb(worst) <= RSS_GOAL_MB),
    };
  };
  return [
    row("bundled", first("bundled"), restart("bundled init")),
    row("unbundled", first("unbundled"), restart("unbundled init")),
    {
      metric: "(d) peak RSS: node -e 0 / bundle loaded (--version) / + evaluated (empty env), max",
      measured: ["node -e 0", "bundled --version", "bundled init, empty env"]
        .map((v) => fmtKb(max(restart(v as Variant))))
        .join(" / "),
      goal: "—",
      verdict: "info",
    },
  ];
}

function rssDetails(a: LatencyResult, r: RestartResult): string[] {
  const first = (b: string) =>
    a.samples.filter((s) => s.who === b && s.rssKb !== undefined).map((s) => s.rssKb!);
  const row = (what: string, kb: number[]) => [what, String(kb.length), fmtKb(median(kb)), fmtKb(max(kb))];
  return [
    "Peak RSS is GNU time's `%M` (the kernel's ru_maxrss of the process; /proc VmHWM polling is the " +
      "fallback when /usr/bin/time is missing). First starts: every agent sample of (a). The other rows: " +
      "extra runs after (b)'s timed rounds (so GNU time's fork+exec stays out of (b)'s wall times).",
    "",
    ...markdownTable(
      ["run", "runs", "median", "max"],
      [
        row("first start, bundled", first("bundled")),
        row("first start, unbundled", first("unbundled")),
        ...Object.entries(r.rssKb).map(([v, kb]) => row(v === "bundled init" ? "restart, bundled" : v, kb)),
      ],
    ),
  ];
}

export function restartSections(a: LatencyResult, r: RestartResult, bundle: BundleInfo): Section[] {
  return [
    { title: "(b) Restart wall time vs bare node", rows: wallRows(r), details: wallDetails(r, bundle) },
    { title: "(c) API requests per pod", rows: requestRows(a, r), details: requestDetails(a, r) },
    { title: "(d) Peak RSS", rows: rssRows(a, r), details: rssDetails(a, r) },
  ];
}
