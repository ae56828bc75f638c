#!/usr/bin/env bash
# The no-dependency way to give the webhook a serving certificate (the other is cert-manager, see
# manifests/components/cert-manager): makes a CA and a certificate for the webhook's Service with
# openssl, stores them as the Secret the webhook Deployment mounts, and puts the CA into both entries
# of the MutatingWebhookConfiguration. Re-run it to rotate (the webhook reloads the Secret by itself).
#
#   scripts/webhook-cert.sh [-n NAMESPACE] [--days DAYS] [--webhook-config NAME]
#
# Needs openssl and kubectl (KUBECTL=/path/to/kubectl to choose one; its KUBECONFIG/context as usual).
set -euo pipefail

ns=rook-ceph days=365 config=ceph-mcs-agent
service=ceph-mcs-agent-webhook secret=ceph-mcs-agent-webhook-tls
while [ "$#" -gt 0 ]; do
  case $1 in
    -n | --namespace) ns=$2; shift 2 ;;
    --days) days=$2; shift 2 ;;
    --webhook-config) config=$2; shift 2 ;;
    -h | --help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "webhook-cert.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
kubectl=${KUBECTL:-kubectl}
command -v openssl >/dev/null || { echo "webhook-cert.sh: openssl is needed" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days "$days" \
  -subj "/CN=ceph-mcs-agent-webhook-ca" -keyout ca.key -out ca.crt \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
openssl ecparam -name prime256v1 -genkey -noout -out tls.key
openssl req -new -key tls.key -subj "/CN=$service.$ns.svc" -out tls.csr
printf 'subjectAltName=DNS:%s.%s.svc,DNS:%s.%s.svc.cluster.local\nextendedKeyUsage=serverAuth\n' \
  "$service" "$ns" "$service" "$ns" > tls.ext
openssl x509 -req -in tls.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days "$days" \
  -out tls.crt -extfile tls.ext 2>/dev/null

"$kubectl" -n "$ns" create secret tls "$secret" --cert=tls.crt --key=tls.key --dry-run=client -o yaml |
  "$kubectl" apply -f - >/dev/null
ca=$(base64 < ca.crt | tr -d '\n')
count=$("$kubectl" get mutatingwebhookconfiguration "$config" -o jsonpath='{range .webhooks[*]}x{end}')
patch=
for i in $(seq 0 $((${#count} - 1))); do
  patch="$patch${patch:+,}{\"op\":\"add\",\"path\":\"/webhooks/$i/clientConfig/caBundle\",\"value\":\"$ca\"}"
done
"$kubectl" patch mutatingwebhookconfiguration "$config" --type=json -p "[$patch]" >/dev/null
echo "webhook-cert.sh: Secret $ns/$secret written for $service.$ns.svc (valid $days days); caBundle set on ${#count} webhooks of $config"
