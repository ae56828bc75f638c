// The bench's scenario: test/harness/scenario.ts's namespace, CephCluster, shipped init Role and
// dnsmasq, plus the emulated MCS controller started here with one difference: its API client keeps
// connections alive. client-node 2.0.1's KubeConfig makes a new undici Agent — a new TLS connection —
// for every request and never closes it; a real controller (client-go) reuses its connections. With
// 500 exports that artifact alone costs the apiserver thousands of TLS handshakes, so the emulator
// gets a KubeConfig whose requests share one pool.
import { KubeConfig, type RequestContext } from "@kubernetes/client-node";
import type { AgentOptions } from "node:https";
import { Agent } from "undici";
import { startEmulator, type Emulator, type EmulatorOptions } from "../emulator/mcs-controller.ts";
import type { ControlPlane } from "../harness/controlplane.ts";
import { startScenario, type Scenario } from "../harness/scenario.ts";

const SA = "ceph-mcs-agent-init";

class PooledKubeConfig extends KubeConfig {
  private pool: Agent | undefined;

  override async applySecurityAuthentication(context: RequestContext): Promise<void> {
    await super.applySecurityAuthentication(context);
    this.pool ??= await this.makePool();
    context.setDispatcher(this.pool);
  }

  private async makePool(): Promise<Agent> {
    const tls: AgentOptions = {};
    await this.applyToHTTPSOptions(tls);
    return new Agent({ connect: { ca: tls.ca, cert: tls.cert, key: tls.key }, connections: 32 });
  }

  async close(): Promise<void> {
    await this.pool?.close();
  }
}

export interface BenchScenario {
  ns: string;
  dns: string;
  /** The init Role's ServiceAccount, as a kubeconfig file for the agents. */
  kubeconfig: string;
  emulator: Emulator;
  stop(): Promise<void>;
}

type EmulatorSettings = Omit<EmulatorOptions, "kubeConfig" | "namespace" | "onDnsRecord" | "onDnsRemove">;

export async function benchScenario(cp: ControlPlane, emulator: EmulatorSettings): Promise<BenchScenario> {
  const s: Scenario = await startScenario({});
  const kc = new PooledKubeConfig();
  kc.loadFromFile(cp.kubeconfigPath);
  try {
    const em = await startEmulator({
      ...emulator,
      kubeConfig: kc,
      namespace: s.ns,
      onDnsRecord: (name, addrs) => void s.dns.setRecord(name, addrs).catch(() => undefined),
      onDnsRemove: (name) => void s.dns.removeRecord(name).catch(() => undefined),
    });
    const kubeconfig = await cp.serviceAccountKubeconfigFile(s.ns, SA);
    const stop = async () => {
      await em.stop();
      await kc.close();
      await s.stop();
    };
    return { ns: s.ns, dns: s.dns.server, kubeconfig, emulator: em, stop };
  } catch (err) {
    await kc.close();
    await s.stop();
    throw err;
  }
}
