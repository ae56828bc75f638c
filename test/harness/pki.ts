// A throwaway PKI for one control-plane run, made with Debian's openssl: a CA, the apiserver's serving
// certificate, an admin client certificate (system:masters) and the service-account signing key.
import { execFile } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

export interface Pki {
  caCert: string;
  servingCert: string;
  servingKey: string;
  adminCert: string;
  adminKey: string;
  saKey: string;
  saPub: string;
}

async function openssl(dir: string, args: string[]): Promise<void> {
  await run("openssl", args, { cwd: dir });
}

async function signed(dir: string, name: string, subject: string, ext: string): Promise<void> {
  await openssl(dir, ["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", `${name}.key`]);
  await openssl(dir, ["req", "-new", "-key", `${name}.key`, "-subj", subject, "-out", `${name}.csr`]);
  await writeFile(join(dir, `${name}.ext`), ext);
  await openssl(dir, [
    "x509",
    "-req",
    "-in",
    `${name}.csr`,
    "-CA",
    "ca.crt",
    "-CAkey",
    "ca.key",
    "-CAcreateserial",
    "-days",
    "2",
    "-out",
    `${name}.crt`,
    "-extfile",
    `${name}.ext`,
  ]);
}

/** `extraIps`: more addresses the apiserver serves on (e.g. an e2e host-link address). */
export async function makePki(dir: string, extraIps: readonly string[] = []): Promise<Pki> {
  await openssl(dir, [
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:P-256",
    "-nodes",
    "-days",
    "2",
    "-subj",
    "/CN=ceph-mcs-test-ca",
    "-keyout",
    "ca.key",
    "-out",
    "ca.crt",
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign",
  ]);
  await signed(
    dir,
    "serving",
    "/CN=kube-apiserver",
    `subjectAltName=${["127.0.0.1", ...extraIps].map((ip) => `IP:${ip}`).join(",")},DNS:localhost,DNS:kubernetes.default.svc\nextendedKeyUsage=serverAuth\n`,
  );
  await signed(dir, "admin", "/O=system:masters/CN=admin", "extendedKeyUsage=clientAuth\n");
  await openssl(dir, ["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "sa.key"]);
  await openssl(dir, ["ec", "-in", "sa.key", "-pubout", "-out", "sa.pub"]);
  const p = (f: string): string => join(dir, f);
  return {
    caCert: p("ca.crt"),
    servingCert: p("serving.crt"),
    servingKey: p("serving.key"),
    adminCert: p("admin.crt"),
    adminKey: p("admin.key"),
    saKey: p("sa.key"),
    saPub: p("sa.pub"),
  };
}
