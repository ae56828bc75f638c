import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  chooseAddress,
  normaliseIp,
  type AddressOptions,
  type AddressReadings,
  type AddressVerdict,
} from "../../../agent/mcs/address.ts";

const v4: AddressOptions = { family: 4 };
const v6: AddressOptions = { family: 6 };

interface Case {
  name: string;
  readings: AddressReadings;
  options?: AddressOptions;
  expect:
    | Partial<Extract<AddressVerdict, { ok: true }>>
    | { kind: "retryable" | "permanent"; reason: string; message?: RegExp };
}

const G = "242.1.255.253";

const cases: Case[] = [
  {
    name: "all three sources agree",
    readings: { globalIngressIP: [G], endpointSlice: [G], dns: [G] },
    expect: { ip: G, family: 4, agreed: ["globalIngressIP", "endpointSlice", "dns"], pending: [] },
  },
  {
    name: "only GlobalIngressIP applies",
    readings: { globalIngressIP: [G] },
    expect: { ip: G, agreed: ["globalIngressIP"], pending: [] },
  },
  {
    name: "sources still empty are pending, not blocking",
    readings: { globalIngressIP: [G], endpointSlice: [], dns: [] },
    expect: { ip: G, agreed: ["globalIngressIP"], pending: ["endpointSlice", "dns"] },
  },
  {
    name: "the same address twice in one source is not ambiguous",
    readings: { dns: [G, G] },
    expect: { ip: G, agreed: ["dns"] },
  },
  {
    name: "IPv6 in different spellings agrees",
    readings: { endpointSlice: ["2001:DB8::5"], dns: ["2001:db8:0:0:0:0:0:5"] },
    options: v6,
    expect: { ip: "2001:db8::5", family: 6, agreed: ["endpointSlice", "dns"] },
  },
  {
    name: "IPv4-mapped IPv6 counts as the IPv4 address",
    readings: { globalIngressIP: [G], dns: [`::ffff:${G}`] },
    expect: { ip: G, family: 4, agreed: ["globalIngressIP", "dns"] },
  },
  {
    name: "240/4 (Globalnet's 242/8) is fine",
    readings: { dns: ["242.0.0.1"] },
    expect: { ip: "242.0.0.1" },
  },
  {
    name: "inside one of several global CIDRs",
    readings: { dns: [G] },
    options: { family: 4, globalCidrs: ["242.0.0.0/16", "242.1.0.0/16"] },
    expect: { ip: G },
  },
  {
    name: "inside an IPv6 global CIDR",
    readings: { dns: ["fd00:1::7"] },
    options: { family: 6, globalCidrs: ["fd00:1::/64"] },
    expect: { ip: "fd00:1::7" },
  },
  {
    name: "without Globalnet the ClusterIP is the exported address",
    readings: { endpointSlice: ["10.96.0.10"], dns: ["10.96.0.10"] },
    options: { family: 4, serviceClusterIP: "10.96.0.10" },
    expect: { ip: "10.96.0.10", agreed: ["endpointSlice", "dns"] },
  },
  {
    name: "a headless ClusterIP (None) is ignored",
    readings: { dns: [G] },
    options: { family: 4, serviceClusterIP: "None" },
    expect: { ip: G },
  },
  {
    name: "a clusterset VIP that differs is fine",
    readings: { dns: [G] },
    options: { family: 4, clusterSetVIPs: ["243.0.0.1"] },
    expect: { ip: G },
  },
  // errors
  {
    name: "no source enabled",
    readings: {},
    expect: { kind: "permanent", reason: "NoSource", message: /enable at least one/ },
  },
  {
    name: "no source has an address yet",
    readings: { globalIngressIP: [], endpointSlice: [], dns: [] },
    expect: { kind: "retryable", reason: "NoAddressYet", message: /globalIngressIP, endpointSlice, dns/ },
  },
  {
    name: "sources disagree: every source and its value listed",
    readings: { globalIngressIP: [G], endpointSlice: [], dns: ["242.1.0.9"] },
    expect: {
      kind: "retryable",
      reason: "Disagreement",
      message: /globalIngressIP=242\.1\.255\.253, endpointSlice=\(none yet\), dns=242\.1\.0\.9.*converge/,
    },
  },
  {
    name: "disagreement lists unused sources too",
    readings: { endpointSlice: [G], dns: ["242.1.0.9"] },
    expect: { kind: "retryable", reason: "Disagreement", message: /globalIngressIP=\(not used\)/ },
  },
  {
    name: "several addresses in one source are ambiguous",
    readings: { endpointSlice: [G, "242.1.0.9"] },
    expect: {
      kind: "permanent",
      reason: "Ambiguous",
      message: /242\.1\.255\.253, 242\.1\.0\.9.*share the same cluster ID/,
    },
  },
  {
    name: "wrong family",
    readings: { dns: ["2001:db8::1"] },
    expect: { kind: "permanent", reason: "WrongFamily", message: /IPv6 address.*configured for IPv4/ },
  },
  {
    name: "IPv4-mapped is IPv4, wrong for an IPv6 agent",
    readings: { dns: [`::ffff:${G}`] },
    options: v6,
    expect: { kind: "permanent", reason: "WrongFamily" },
  },
  ...(
    [
      ["127.0.0.1", "loopback", v4],
      ["127.255.0.9", "loopback", v4],
      ["::1", "loopback", v6],
      ["0.0.0.0", "unspecified", v4],
      ["0.1.2.3", "unspecified", v4],
      ["::", "unspecified", v6],
      ["::ffff:0.0.0.0", "unspecified", v4],
      ["169.254.10.1", "link-local", v4],
      ["fe80::1", "link-local", v6],
      ["febf::1", "link-local", v6],
      ["224.0.0.1", "multicast", v4],
      ["239.255.255.255", "multicast", v4],
      ["ff02::1", "multicast", v6],
      ["255.255.255.255", "broadcast", v4],
      ["::ffff:127.0.0.1", "loopback", v4],
    ] as const
  ).map(([ip, kind, options]): Case => ({
    name: `${kind} ${ip} is refused`,
    readings: { dns: [ip] },
    options,
    expect: { kind: "permanent", reason: "SpecialAddress", message: new RegExp(`a ${kind} address`) },
  })),
  ...["not-an-ip", "01.2.3.4", "1.2.3", "fe80::1%eth0", " 242.1.0.1", "", "0x7f.0.0.1"].map(
    (value): Case => ({
      name: `garbage ${JSON.stringify(value)} is refused`,
      readings: { endpointSlice: [value] },
      expect: { kind: "permanent", reason: "InvalidAddress", message: /not an IP address/ },
    }),
  ),
  {
    name: "outside the global CIDR",
    readings: { dns: ["242.2.0.1"] },
    options: { family: 4, globalCidrs: ["242.1.0.0/16"] },
    expect: { kind: "permanent", reason: "OutsideGlobalCidr", message: /242\.2\.0\.1.*242\.1\.0\.0\/16/ },
  },
  ...["242.1.0.0/33", "242.1.0.0", "foo/8", "242.1.0.0/08", "fd00::/129", "fe80::%eth0/64"].map(
    (cidr): Case => ({
      name: `invalid global CIDR ${cidr}`,
      readings: { dns: [G] },
      options: { family: 4, globalCidrs: [cidr] },
      expect: { kind: "permanent", reason: "InvalidOption", message: /not a CIDR/ },
    }),
  ),
  {
    name: "a clusterset VIP is never accepted",
    readings: { dns: ["243.0.0.1"] },
    options: { family: 4, clusterSetVIPs: ["243.0.0.1"] },
    expect: { kind: "permanent", reason: "ClusterSetVIP", message: /clusterset VIP/ },
  },
  {
    name: "a clusterset VIP in another spelling is still refused",
    readings: { dns: ["fd00::1"] },
    options: { family: 6, clusterSetVIPs: ["FD00:0:0:0:0:0:0:1"] },
    expect: { kind: "permanent", reason: "ClusterSetVIP" },
  },
  {
    name: "without Globalnet, an address other than the ClusterIP waits",
    readings: { endpointSlice: ["10.96.0.11"] },
    options: { family: 4, serviceClusterIP: "10.96.0.10" },
    expect: { kind: "retryable", reason: "NotServiceClusterIP", message: /10\.96\.0\.11.*10\.96\.0\.10/ },
  },
  {
    name: "with Globalnet, the ClusterIP is refused",
    readings: { globalIngressIP: [], endpointSlice: ["10.96.0.10"] },
    options: { family: 4, serviceClusterIP: "10.96.0.10" },
    expect: { kind: "permanent", reason: "ServiceClusterIP", message: /Globalnet/ },
  },
  {
    name: "a permanent problem wins over a disagreement, all problems reported",
    readings: { globalIngressIP: ["127.0.0.1"], endpointSlice: [G], dns: ["2001:db8::1"] },
    expect: {
      kind: "permanent",
      reason: "SpecialAddress",
      message: /globalIngressIP reports 127\.0\.0\.1.*; dns reports 2001:db8::1/,
    },
  },
];

for (const tc of cases) {
  test(`chooseAddress: ${tc.name}`, () => {
    const v = chooseAddress(tc.readings, tc.options ?? v4);
    if ("kind" in tc.expect) {
      assert.equal(v.ok, false, JSON.stringify(v));
      assert.equal(v.kind, tc.expect.kind);
      assert.equal(v.reason, tc.expect.reason);
      if (tc.expect.message) assert.match(v.message, tc.expect.message);
    } else {
      assert.equal(v.ok, true, JSON.stringify(v));
      for (const [k, value] of Object.entries(tc.expect))
        assert.deepEqual((v as Record<string, unknown>)[k], value, k);
    }
  });
}

test("normaliseIp: examples", () => {
  const table: [string, string | undefined, 4 | 6 | undefined][] = [
    ["242.1.0.1", "242.1.0.1", 4],
    ["2001:DB8:0:0:0:0:0:1", "2001:db8::1", 6],
    ["2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1", 6],
    ["2001:0db8:0000:0000:0000:ff00:0042:8329", "2001:db8::ff00:42:8329", 6],
    ["2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1", 6],
    ["::FFFF:242.1.0.1", "242.1.0.1", 4],
    ["::ffff:f201:1", "242.1.0.1", 4],
    ["0:0:0:0:0:0:0:0", "::", 6],
    ["fe80::1%eth0", undefined, undefined],
    ["1.2.3.04", undefined, undefined],
    ["[::1]", undefined, undefined],
  ];
  for (const [input, ip, family] of table) {
    const n = normaliseIp(input);
    assert.deepEqual(n, ip === undefined ? undefined : { ip, family }, input);
  }
  assert.equal(normaliseIp(42), undefined);
});

/** 16 bytes of an IPv6 text (with an optional dotted-quad tail); independent of the code under test. */
function bytes6(text: string): number[] {
  let t = text.toLowerCase();
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(t);
  if (dotted) {
    const [a, b, c, d] = dotted.slice(1).map(Number) as [number, number, number, number];
    t = `${t.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = "", tail] = t.split("::");
  const h = head === "" ? [] : head.split(":");
  const tl = tail === undefined || tail === "" ? [] : tail.split(":");
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - tl.length).fill("0"), ...tl];
  return groups.flatMap((g) => [parseInt(g, 16) >> 8, parseInt(g, 16) & 255]);
}

/** RFC 5952 text of 16 bytes (no dotted tail). */
function rfc5952(b: number[]): string {
  const groups = Array.from({ length: 8 }, (_, i) => (b[2 * i]! << 8) | b[2 * i + 1]!);
  let best = { start: -1, len: 0 };
  for (let i = 0; i < 8;) {
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > best.len && j - i >= 2) best = { start: i, len: j - i };
    i = j === i ? i + 1 : j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best.start < 0) return hex.join(":");
  return `${hex.slice(0, best.start).join(":")}::${hex.slice(best.start + best.len).join(":")}`;
}

test("property: IPv4 dotted quads are kept as they are", () => {
  fc.assert(
    fc.property(fc.ipV4(), (ip) => {
      assert.deepEqual(normaliseIp(ip), { ip, family: 4 });
      assert.deepEqual(normaliseIp(`::ffff:${ip}`), { ip, family: 4 });
      assert.deepEqual(normaliseIp(`::FFFF:${ip}`), { ip, family: 4 });
    }),
  );
});

test("property: IPv6 normalisation is canonical, idempotent and keeps the address", () => {
  fc.assert(
    fc.property(fc.ipV6(), (text) => {
      const n = normaliseIp(text);
      assert.ok(n !== undefined, text);
      assert.deepEqual(normaliseIp(n.ip), n);
      assert.equal(n.ip, n.ip.toLowerCase());
      if (n.family === 4) {
        assert.deepEqual(bytes6(text), bytes6(`::ffff:${n.ip}`));
        return;
      }
      assert.deepEqual(bytes6(n.ip), bytes6(text));
      if (!n.ip.includes(".")) assert.equal(n.ip, rfc5952(bytes6(text)));
    }),
    { numRuns: 2000 },
  );
});

test("property: any spelling of one address in every source agrees", () => {
  const expanded = (ip: string) => {
    const b = bytes6(ip);
    return Array.from({ length: 8 }, (_, i) =>
      ((b[2 * i]! << 8) | b[2 * i + 1]!).toString(16).padStart(4, "0"),
    ).join(":");
  };
  const spelling = (ip: string) => fc.constantFrom(ip, ip.toUpperCase(), expanded(ip));
  const spelled = fc
    .ipV6()
    .chain((ip) => fc.tuple(fc.constant(ip), spelling(ip), spelling(ip), spelling(ip)));
  fc.assert(
    fc.property(spelled, ([ip, a, b, c]) => {
      const v = chooseAddress({ globalIngressIP: [a], endpointSlice: [b], dns: [c] }, { family: 6 });
      if (v.ok) assert.equal(v.ip, normaliseIp(ip)?.ip);
      else assert.equal(v.reason, "SpecialAddress", v.message);
    }),
    { numRuns: 1000 },
  );
});

test("fuzz: chooseAddress never throws on arbitrary readings", () => {
  const reading = fc.option(
    fc.array(fc.oneof(fc.string(), fc.ipV4(), fc.ipV6(), fc.ipV4Extended()), { maxLength: 3 }),
    {
      nil: undefined,
    },
  );
  fc.assert(
    fc.property(reading, reading, reading, fc.constantFrom(4 as const, 6 as const), (g, e, d, family) => {
      const v = chooseAddress({ globalIngressIP: g, endpointSlice: e, dns: d }, { family });
      if (v.ok) {
        assert.equal(normaliseIp(v.ip)?.family, family);
        assert.ok(v.agreed.length > 0);
      } else {
        assert.ok(v.message.length > 0);
        assert.ok(["retryable", "permanent"].includes(v.kind));
      }
    }),
    { numRuns: 2000 },
  );
});
