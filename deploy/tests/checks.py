#!/usr/bin/env python3
"""Checks on webhook-inbox's deployment files that no schema can make: that the manifests, the
compose file and the Dockerfile agree with the services (configuration keys, ports, grace periods,
secrets, migrations, security settings) and with the Makefile.

Run by deploy/validate.sh with the Python of its tool environment (PyYAML; the `dockerfile`
package, which wraps BuildKit's own Dockerfile parser). Every finding is printed; exit 1 if any.

  checks.py rendered FILE --overlay NAME [--min-replicas N] [--external-secret]
  checks.py compose FILE
  checks.py dockerfile FILE
"""

import argparse
import fnmatch
import re
import sys
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_CONFIG = ROOT / "config" / "inbox.example.toml"
PROVIDER_KEYS = {"preset", "secrets", "signature", "fields"}
API_KEY_KEYS = {"scopes", "secrets"}
API_SCOPES = {"read", "write", "admin"}
# The api refuses a key shorter than this (crates/config/src/api.rs, MIN_KEY_LEN).
MIN_API_KEY_LEN = 24
# The example Secret's placeholders; an API key placeholder is short on purpose (never accepted).
PLACEHOLDER = "CHANGE-ME"
SECRET_NAME = "webhook-inbox-secrets"
EXAMPLE_ANNOTATION = "webhook-inbox/example"


class Findings:
    def __init__(self):
        self.problems = []

    def check(self, ok, message):
        if not ok:
            self.problems.append(message)
        return ok

    def finish(self, what):
        for p in self.problems:
            print(f"  FAIL {what}: {p}")
        return 1 if self.problems else 0


# ---- configuration files -------------------------------------------------------------------

def known_config_keys():
    """Section -> keys documented in config/inbox.example.toml (set ones and commented ones,
    like `# url = ...`), plus the preset names of its `# preset: a | b` line. The tables of
    [providers.<name>] and [api.keys.<name>] are checked on their own (PROVIDER_KEYS,
    API_KEY_KEYS)."""
    keys, presets, section = {}, set(), None
    for line in EXAMPLE_CONFIG.read_text().splitlines():
        header = re.match(r"^\[([a-z_]+)\]\s*$", line)
        if header:
            section = header.group(1)
            keys.setdefault(section, set())
            continue
        if line.startswith("[api.keys."):
            # The example's key tables: `keys` is a key of [api].
            keys.setdefault("api", set()).add("keys")
        if line.startswith(("[providers.", "[api.keys.")):
            section = None
            continue
        preset_line = re.match(r"^# preset: (.+?)(?: \(|$)", line)
        if preset_line:
            presets = {p.strip() for p in preset_line.group(1).split("|")}
        key = re.match(r"^(?:# ?)?([a-z_]+) = ", line)
        if key and section:
            keys[section].add(key.group(1))
    return keys, presets


def check_config(f, text, where):
    """Parses a configuration file and checks every key against the example. Returns it."""
    try:
        config = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        f.check(False, f"{where}: not valid TOML: {e}")
        return {}
    keys, presets = known_config_keys()
    f.check(presets, f"{EXAMPLE_CONFIG}: no '# preset:' line found")
    for section, values in config.items():
        if section == "providers":
            for name, provider in values.items():
                f.check(re.fullmatch(r"[A-Za-z0-9_-]+", name), f"{where}: provider name {name!r}")
                unknown = set(provider) - PROVIDER_KEYS
                f.check(not unknown, f"{where}: providers.{name}: unknown keys {sorted(unknown)}")
                f.check(provider.get("preset") in presets,
                        f"{where}: providers.{name}.preset {provider.get('preset')!r} not in {sorted(presets)}")
            continue
        if not f.check(section in keys, f"{where}: unknown section [{section}]"):
            continue
        unknown = set(values) - keys[section]
        f.check(not unknown, f"{where}: [{section}] unknown keys {sorted(unknown)}")
        if section == "api":
            check_api_keys(f, values.get("keys", {}), where)
    return config


def check_api_keys(f, keys, where):
    """[api.keys.<name>] as the api validates them at start-up (crates/config/src/api.rs)."""
    for name, key in keys.items():
        at = f"{where}: api.keys.{name}"
        f.check(re.fullmatch(r"[A-Za-z0-9_-]+", name), f"{at}: key name {name!r}")
        unknown = set(key) - API_KEY_KEYS
        f.check(not unknown, f"{at}: unknown keys {sorted(unknown)}")
        scopes = key.get("scopes", [])
        f.check(scopes and set(scopes) <= API_SCOPES, f"{at}.scopes {scopes!r} not some of {sorted(API_SCOPES)}")
        f.check(1 <= len(key.get("secrets", [])) <= 2, f"{at}.secrets must name one or two variables")


def provider_secret_names(config):
    return {v for p in config.get("providers", {}).values() for v in p.get("secrets", [])}


def api_key_names(config):
    return {v for k in config.get("api", {}).get("keys", {}).values() for v in k.get("secrets", [])}


def secret_names(config):
    """Every variable the configuration names: the providers' secrets and the API keys."""
    return provider_secret_names(config) | api_key_names(config)


def notify_secret_names(config):
    notify = config.get("notify", {})
    return set(notify.get("secrets", [])) if notify.get("url") else set()


def needed_variables(role, config):
    """What a role reads from the environment (checked by starting each binary with only these):
    the api the database and its keys; the receiver the database and the providers' secrets (it
    refuses to start when one is unset); the processor the database, Redis (its locks) and, when
    it delivers notifications, their secrets; the migrate Job the database."""
    if role == "api":
        return {"DATABASE_URL"} | api_key_names(config)
    if role == "receiver":
        return {"DATABASE_URL"} | provider_secret_names(config)
    if role == "processor":
        return {"DATABASE_URL", "REDIS_URL"} | notify_secret_names(config)
    return {"DATABASE_URL"}


def check_api_key_values(f, values, where):
    """The material of the API keys, where the file holds it: 24 characters at least and each key
    its own, or the api would refuse to start. Placeholders (CHANGE-ME) are meant to be refused."""
    real = {var: str(v) for var, v in values.items() if PLACEHOLDER not in str(v)}
    for var, value in sorted(real.items()):
        f.check(len(value.strip()) >= MIN_API_KEY_LEN,
                f"{where}: API key {var} is shorter than {MIN_API_KEY_LEN} characters: the api would refuse to start")
    seen = {}
    for var, value in sorted(real.items()):
        f.check(value not in seen, f"{where}: API keys {seen.get(value)} and {var} share their material")
        seen.setdefault(value, var)


def port_of(address):
    return int(address.rsplit(":", 1)[1])


# ---- rendered Kubernetes manifests ---------------------------------------------------------

def load_docs(path):
    with open(path) as fh:
        return [d for d in yaml.safe_load_all(fh) if d]


def find(docs, kind, name_prefix):
    return [d for d in docs if d["kind"] == kind and d["metadata"]["name"].startswith(name_prefix)]


def only(f, docs, kind, name):
    found = find(docs, kind, name)
    f.check(len(found) == 1, f"expected one {kind} {name}*, found {len(found)}")
    return found[0] if found else None


def containers(workload):
    return workload["spec"]["template"]["spec"]["containers"]


def check_pod_security(f, workload):
    name = workload["metadata"]["name"]
    pod = workload["spec"]["template"]["spec"]
    psc = pod.get("securityContext", {})
    f.check(psc.get("runAsNonRoot") is True, f"{name}: pod securityContext.runAsNonRoot is not true")
    f.check(psc.get("seccompProfile", {}).get("type") == "RuntimeDefault", f"{name}: no RuntimeDefault seccomp")
    f.check(pod.get("automountServiceAccountToken") is False, f"{name}: service account token mounted")
    for c in containers(workload):
        sc = c.get("securityContext", {})
        where = f"{name}/{c['name']}"
        f.check(sc.get("readOnlyRootFilesystem") is True, f"{where}: root filesystem not read-only")
        f.check(sc.get("allowPrivilegeEscalation") is False, f"{where}: privilege escalation allowed")
        f.check(sc.get("capabilities", {}).get("drop") == ["ALL"], f"{where}: capabilities not dropped (ALL)")
        res = c.get("resources", {})
        for kind in ("requests", "limits"):
            f.check({"cpu", "memory"} <= set(res.get(kind, {})), f"{where}: resources.{kind} lacks cpu/memory")


def role(workload):
    return workload["metadata"].get("labels", {}).get("app.kubernetes.io/component")


def check_config_source(f, workload, configmap, secret, config):
    """The pod mounts the generated ConfigMap, points INBOX_CONFIG at it and gets every variable
    its role needs (needed_variables) from the Secret, variable by variable (env valueFrom
    secretKeyRef), and nothing else from it. With the Secret
    rendered, each of them must be one of its keys; without it (prod), each must at least be
    taken from it."""
    name = workload["metadata"]["name"]
    pod = workload["spec"]["template"]["spec"]
    mounted = {v["name"]: v["configMap"]["name"] for v in pod.get("volumes", []) if "configMap" in v}
    secret_keys = set(secret.get("stringData", {})) | set(secret.get("data", {})) if secret is not None else None
    for c in containers(workload):
        where = f"{name}/{c['name']}"
        env = {e["name"]: e.get("value") for e in c.get("env", [])}
        mounts = {m["name"]: m["mountPath"] for m in c.get("volumeMounts", [])}
        paths = [f"{mounts[v]}/inbox.toml" for v, cm in mounted.items()
                 if v in mounts and configmap and cm == configmap["metadata"]["name"]]
        f.check(env.get("INBOX_CONFIG") in paths,
                f"{where}: INBOX_CONFIG={env.get('INBOX_CONFIG')} is not the mounted ConfigMap's inbox.toml {paths}")
        from_secret = [s["secretRef"]["name"] for s in c.get("envFrom", []) if "secretRef" in s]
        refs = {}
        for e in c.get("env", []):
            ref = (e.get("valueFrom") or {}).get("secretKeyRef")
            if ref:
                f.check(ref.get("name") == SECRET_NAME,
                        f"{where}: {e['name']} comes from Secret {ref.get('name')}, not {SECRET_NAME}")
                refs[e["name"]] = ref.get("key")
        f.check(SECRET_NAME in from_secret or refs,
                f"{where}: takes nothing from Secret {SECRET_NAME} (no envFrom secretRef, no secretKeyRef)")
        needed = needed_variables(role(workload), config)
        # Least privilege: a pod sees only the secrets its role reads, so that a receiver (facing
        # the internet) never holds the API keys, nor the api the providers' secrets.
        f.check(SECRET_NAME not in from_secret,
                f"{where}: takes the whole Secret {SECRET_NAME} (envFrom); take only {sorted(needed)} "
                f"with secretKeyRef")
        extra = set(refs) - needed
        f.check(not extra, f"{where}: takes {sorted(extra)} from Secret {SECRET_NAME}, which it does not read")
        plain = {n for n, v in env.items() if v is not None}
        from_whole_secret = needed - plain - set(refs) if SECRET_NAME in from_secret else set()
        untaken = needed - plain - set(refs) - from_whole_secret
        f.check(not untaken, f"{where}: {sorted(untaken)} not taken from Secret {SECRET_NAME} (envFrom or secretKeyRef)")
        if secret_keys is not None:
            # A secretKeyRef to a missing key keeps the pod from starting, needed or not.
            wanted = set(refs.values()) | from_whole_secret
            f.check(wanted <= secret_keys, f"{where}: Secret lacks {sorted(wanted - secret_keys)}")


def http_probe(container, kind):
    probe = container.get(kind) or {}
    get = probe.get("httpGet") or {}
    return get.get("path"), get.get("port")


CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "PriorityClass", "StorageClass"}


def check_rendered(path, overlay, min_replicas, external_secret):
    f = Findings()
    docs = load_docs(path)
    # Everything in the one Namespace the overlay creates: an object without a namespace would land
    # in whatever namespace kubectl's context points at.
    namespaces = [d["metadata"]["name"] for d in docs if d["kind"] == "Namespace"]
    if f.check(len(namespaces) == 1, f"expected one Namespace, found {namespaces}"):
        for d in docs:
            if d["kind"] not in CLUSTER_SCOPED:
                f.check(d["metadata"].get("namespace") == namespaces[0],
                        f"{d['kind']} {d['metadata']['name']} is not in namespace {namespaces[0]}")
    configmap = only(f, docs, "ConfigMap", "webhook-inbox-config")
    config = check_config(f, configmap["data"]["inbox.toml"], "ConfigMap inbox.toml") if configmap else {}
    processor_cfg = config.get("processor", {})

    secrets = find(docs, "Secret", SECRET_NAME)
    secret = secrets[0] if secrets else None
    if external_secret:
        examples = [s for s in docs if s["kind"] == "Secret"
                    and s["metadata"].get("annotations", {}).get(EXAMPLE_ANNOTATION) == "true"]
        f.check(not examples, "ships the EXAMPLE Secret; it would overwrite the real one")
        keys = ", ".join(sorted(secret_names(config) | {"DATABASE_URL", "REDIS_URL"}))
        print(f"  note: {overlay} expects Secret {SECRET_NAME} (created outside the manifests) with keys {keys}")
    else:
        f.check(secret is not None, f"no Secret {SECRET_NAME}")
    if secret is not None:
        data = secret.get("stringData", {})
        f.check(str(data.get("DATABASE_URL", "")).startswith(("postgres://", "postgresql://")),
                "DATABASE_URL is not a PostgreSQL URL")
        f.check(str(data.get("REDIS_URL", "")).startswith(("redis://", "rediss://")),
                "REDIS_URL is not a Redis URL")

    job = only(f, docs, "Job", "webhook-inbox-migrate")
    if job:
        f.check(containers(job)[0].get("command") == ["inboxctl", "migrate"], "migrate Job does not run inboxctl migrate")
        f.check(config.get("database", {}).get("run_migrations") is False,
                "a migrate Job runs, but database.run_migrations is not false")

    receiver = only(f, docs, "Deployment", "webhook-inbox-receiver")
    processor = only(f, docs, "Deployment", "webhook-inbox-processor")
    api = only(f, docs, "Deployment", "webhook-inbox-api")
    services = [w for w in (receiver, processor, api) if w]
    for workload in filter(None, (receiver, processor, api, job)):
        check_pod_security(f, workload)
        check_config_source(f, workload, configmap, secret, config)
    for workload in services:
        f.check(containers(workload)[0].get("command") == [role(workload)],
                f"{workload['metadata']['name']} does not run {role(workload)}")
    if secret is not None:
        keys = api_key_names(config)
        check_api_key_values(f, {k: v for k, v in secret.get("stringData", {}).items() if k in keys},
                             f"Secret {SECRET_NAME}")

    if receiver:
        check_http_server(f, docs, receiver, config.get("receiver", {}))
        hpa = only(f, docs, "HorizontalPodAutoscaler", "webhook-inbox-receiver")
        if hpa:
            f.check(hpa["spec"]["scaleTargetRef"]["name"] == receiver["metadata"]["name"], "HPA targets another object")
            f.check(hpa["spec"].get("minReplicas", 1) >= min_replicas,
                    f"HPA minReplicas {hpa['spec'].get('minReplicas')} < {min_replicas}")
        replicas = receiver["spec"].get("replicas")
        f.check(replicas is None or replicas >= min_replicas, f"receiver replicas {replicas} < {min_replicas}")

    if api:
        check_http_server(f, docs, api, config.get("api", {}))
        # No autoscaler: the replicas field owns the count.
        f.check(api["spec"].get("replicas", 1) >= min_replicas,
                f"api replicas {api['spec'].get('replicas', 1)} < {min_replicas}")

    if processor:
        c = containers(processor)[0]
        pod = processor["spec"]["template"]["spec"]
        ports = {p["name"]: p["containerPort"] for p in c.get("ports", [])}
        addr = processor_cfg.get("metrics_addr", "127.0.0.1:9090")
        f.check(not addr.startswith("127."), f"processor.metrics_addr {addr} is loopback: probes cannot reach it")
        f.check(ports.get("metrics") == port_of(addr), f"processor port metrics {ports.get('metrics')} != {addr}")
        f.check(http_probe(c, "readinessProbe") == ("/readyz", "metrics"), "processor readiness is not GET /readyz")
        f.check(http_probe(c, "livenessProbe") == ("/healthz", "metrics"), "processor liveness is not GET /healthz")
        grace = processor_cfg.get("shutdown_grace_secs", 30)
        f.check(pod.get("terminationGracePeriodSeconds", 30) > grace,
                f"processor terminationGracePeriodSeconds {pod.get('terminationGracePeriodSeconds', 30)} "
                f"<= processor.shutdown_grace_secs {grace}")
        f.check(processor["spec"].get("replicas", 1) >= min_replicas,
                f"processor replicas {processor['spec'].get('replicas', 1)} < {min_replicas}")
        f.check(len(pod.get("topologySpreadConstraints", [])) >= 1, "processor has no topologySpreadConstraints")

    for workload in services:
        selector = workload["spec"]["selector"]["matchLabels"]
        pdbs = [d for d in docs if d["kind"] == "PodDisruptionBudget"
                and d["spec"]["selector"].get("matchLabels") == selector]
        f.check(len(pdbs) == 1, f"{workload['metadata']['name']}: {len(pdbs)} PodDisruptionBudgets select it")

    for scrape in find(docs, "ConfigMap", "webhook-inbox-prometheus"):
        check_scrape_config(f, scrape, services)
    return f.finish(f"{overlay}")


# Built-in listen addresses (crates/config): what a section without bind/metrics_addr gets.
DEFAULT_ADDRESSES = {"receiver": ("127.0.0.1:8080", "127.0.0.1:9091"), "api": ("127.0.0.1:8081", "127.0.0.1:9092")}


def check_http_server(f, docs, workload, cfg):
    """A Deployment serving HTTP to clients (receiver, api): its configuration section `cfg`
    listens beyond loopback on the container ports `http` and `metrics`; GET /readyz for
    readiness and /healthz for liveness on `http`; a grace period longer than the preStop pause
    plus shutdown_grace_secs; spread; and a Service sending to port `http` of these pods."""
    name = role(workload)
    c = containers(workload)[0]
    pod = workload["spec"]["template"]["spec"]
    ports = {p["name"]: p["containerPort"] for p in c.get("ports", [])}
    default_bind, default_metrics = DEFAULT_ADDRESSES[name]
    bind = cfg.get("bind", default_bind)
    f.check(not bind.startswith("127."), f"{name}.bind {bind} is loopback: unreachable in a pod")
    f.check(ports.get("http") == port_of(bind), f"{name} port http {ports.get('http')} != {name}.bind {bind}")
    metrics_addr = cfg.get("metrics_addr", default_metrics)
    f.check(not metrics_addr.startswith("127."),
            f"{name}.metrics_addr {metrics_addr} is loopback: Prometheus cannot reach it")
    f.check(ports.get("metrics") == port_of(metrics_addr),
            f"{name} port metrics {ports.get('metrics')} != {name}.metrics_addr {metrics_addr}")
    f.check(http_probe(c, "readinessProbe") == ("/readyz", "http"), f"{name} readiness is not GET /readyz")
    f.check(http_probe(c, "livenessProbe") == ("/healthz", "http"), f"{name} liveness is not GET /healthz")
    pause = 0
    pre_stop = (c.get("lifecycle", {}).get("preStop") or {}).get("exec", {}).get("command", [])
    if pre_stop[:1] == ["sleep"]:
        pause = int(pre_stop[1])
    grace = cfg.get("shutdown_grace_secs", 30)
    f.check(pod.get("terminationGracePeriodSeconds", 30) > pause + grace,
            f"{name} terminationGracePeriodSeconds {pod.get('terminationGracePeriodSeconds', 30)} "
            f"<= preStop {pause} + {name}.shutdown_grace_secs {grace}")
    f.check(len(pod.get("topologySpreadConstraints", [])) >= 1, f"{name} has no topologySpreadConstraints")
    labels = workload["spec"]["template"]["metadata"]["labels"]
    services = [d for d in docs if d["kind"] == "Service" and d["spec"].get("selector")
                and d["spec"]["selector"].items() <= labels.items()]
    if f.check(len(services) == 1, f"{name}: {len(services)} Services select its pods"):
        targets = [p.get("targetPort") for p in services[0]["spec"].get("ports", [])]
        f.check(targets == ["http"], f"{name}: Service {services[0]['metadata']['name']} targets {targets}, not port http")


def check_scrape_config(f, configmap, workloads):
    """The scrape configuration's keep rules select the pods and ports the Deployments have."""
    for key, text in configmap["data"].items():
        jobs = yaml.safe_load(text).get("scrape_configs", [])
        f.check(jobs, f"{key}: no scrape_configs")
        for job in jobs:
            keeps = {tuple(r["source_labels"]): re.compile(f"^(?:{r['regex']})$")
                     for r in job.get("relabel_configs", []) if r.get("action") == "keep"}
            name_rule = keeps.get(("__meta_kubernetes_pod_label_app_kubernetes_io_name",))
            port_rule = keeps.get(("__meta_kubernetes_pod_container_port_name",))
            for w in workloads:
                labels = w["spec"]["template"]["metadata"]["labels"]
                f.check(name_rule and name_rule.match(labels.get("app.kubernetes.io/name", "")),
                        f"{key}: job {job['job_name']} does not keep {w['metadata']['name']} pods")
                for c in containers(w):
                    names = [p["name"] for p in c.get("ports", [])]
                    # Metrics are served on the port named `metrics` only (never the webhook port).
                    f.check("metrics" in names and port_rule and port_rule.match("metrics"),
                            f"{key}: job {job['job_name']} does not scrape port metrics of {w['metadata']['name']}")
                    for name in names:
                        if name != "metrics":
                            f.check(not (port_rule and port_rule.match(name)),
                                    f"{key}: job {job['job_name']} scrapes port {name} of "
                                    f"{w['metadata']['name']}, which serves no metrics")


# ---- docker-compose.yml ----------------------------------------------------------------------

def compose_default(value):
    """The value Compose gives `${VAR:-default}` (or `${VAR-default}`) when VAR is unset."""
    match = re.fullmatch(r"\$\{\w+:?-(.*)\}", value)
    return match.group(1) if match else value


def check_compose(path):
    f = Findings()
    compose = yaml.safe_load(Path(path).read_text())
    services = compose.get("services", {})
    for name in ("postgres", "redis", "migrate", "receiver", "processor", "api"):
        f.check(name in services, f"no service {name}")
    if f.problems:
        return f.finish("compose")
    f.check("healthcheck" in services["postgres"], "postgres has no healthcheck")
    f.check("healthcheck" in services["redis"], "redis has no healthcheck")
    migrate = services["migrate"]
    f.check(migrate.get("command") == ["inboxctl", "migrate"], "migrate does not run inboxctl migrate")
    f.check(migrate.get("depends_on", {}).get("postgres", {}).get("condition") == "service_healthy",
            "migrate does not wait for postgres healthy")
    f.check(str(migrate.get("restart", "no")) == "no", "migrate must not restart (one-shot)")
    processor = services["processor"]
    f.check("container_name" not in processor, "processor has container_name: --scale cannot work")
    f.check("ports" not in processor, "processor publishes a host port: --scale cannot work")
    for name in ("receiver", "processor", "api"):
        svc = services[name]
        f.check(svc.get("command") == [name], f"{name} does not run {name}")
        deps = svc.get("depends_on", {})
        f.check(deps.get("migrate", {}).get("condition") == "service_completed_successfully",
                f"{name} does not wait for migrate to complete successfully")
        if name != "api":  # the api takes no locks: it needs no Redis
            f.check(deps.get("redis", {}).get("condition") == "service_healthy", f"{name} does not wait for redis healthy")
        f.check("healthcheck" in svc, f"{name} has no healthcheck")
    for name in ("migrate", "receiver", "processor", "api"):
        svc = services[name]
        env = {k: str(v) for k, v in svc.get("environment", {}).items()}
        f.check(env.get("INBOX__DATABASE__RUN_MIGRATIONS") == "false",
                f"{name}: INBOX__DATABASE__RUN_MIGRATIONS is not false while migrate runs")
        f.check(env.get("DATABASE_URL", "").startswith("postgres://"), f"{name}: DATABASE_URL is not PostgreSQL")
        if name != "api":
            f.check(env.get("REDIS_URL", "").startswith("redis://"), f"{name}: REDIS_URL is not Redis")
        mounts = dict(v.split(":")[:2][::-1] for v in svc.get("volumes", []))
        source = mounts.get(env.get("INBOX_CONFIG"))
        if f.check(source, f"{name}: INBOX_CONFIG {env.get('INBOX_CONFIG')} is not a mounted file"):
            file = (ROOT / source).resolve()
            if f.check(file.is_file(), f"{name}: mounted config {source} does not exist"):
                config = check_config(f, file.read_text(), str(source))
                missing = needed_variables(name, config) - set(env)
                f.check(not missing, f"{name}: variables the configuration names not set: {sorted(missing)}")
                if name == "api":
                    keys = api_key_names(config)
                    check_api_key_values(f, {k: compose_default(v) for k, v in env.items() if k in keys},
                                         "compose api")
                if name in ("receiver", "processor", "api"):
                    grace = config.get(name, {}).get("shutdown_grace_secs", 30)
                    stop = int(str(svc.get("stop_grace_period", "10s")).rstrip("s"))
                    f.check(stop > grace, f"{name} stop_grace_period {stop}s <= shutdown_grace_secs {grace}")
    for name, port in (("receiver", 8080), ("api", 8081)):
        svc = services[name]
        env = {k: str(v) for k, v in svc.get("environment", {}).items()}
        var = f"INBOX__{name.upper()}__BIND"
        bind = env.get(var, "")
        f.check(bind == f"0.0.0.0:{port}", f"{name}: {var} {bind!r} is not 0.0.0.0:{port}")
        published = [str(p).rsplit(":", 1)[-1] for p in svc.get("ports", [])]
        f.check(published == [str(port)], f"{name}: publishes container ports {published}, not its bind port {port}")
        health = " ".join(svc.get("healthcheck", {}).get("test", []))
        f.check(f"http://127.0.0.1:{port}/readyz" in health, f"{name}: healthcheck is not GET /readyz on port {port}")
    return f.finish("compose")


# ---- Dockerfile ------------------------------------------------------------------------------

def dockerignore_patterns():
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    return [ln.strip().rstrip("/") for ln in lines if ln.strip() and not ln.startswith("#")]


def ignored(rel, patterns):
    """Whether .dockerignore excludes `rel` (or a parent of it). Enough for the simple patterns
    used there (no `!` exceptions); `**/x` matches x at any depth."""
    parts = Path(rel).parts
    for i in range(1, len(parts) + 1):
        prefix = "/".join(parts[:i])
        for p in patterns:
            if fnmatch.fnmatch(prefix, p) or (p.startswith("**/") and fnmatch.fnmatch(parts[i - 1], p[3:])):
                return True
    return False


def workspace_binaries():
    """(member path, binary names) for each workspace member."""
    workspace = tomllib.loads((ROOT / "Cargo.toml").read_text())["workspace"]
    result = []
    for member in workspace["members"]:
        manifest = tomllib.loads((ROOT / member / "Cargo.toml").read_text())
        bins = [b["name"] for b in manifest.get("bin", [])]
        if not bins and (ROOT / member / "src" / "main.rs").is_file():
            bins = [manifest["package"]["name"]]
        # Tools (the load generator) say so in their manifest and are not shipped.
        if not manifest["package"].get("metadata", {}).get("webhook-inbox", {}).get("ship", True):
            bins = []
        result.append((member, bins))
    return result


def makefile_release_command():
    text = (ROOT / "Makefile").read_text()
    match = re.search(r"^release:\s*\n\t(.+)$", text, re.M)
    return match.group(1).strip() if match else None


def check_dockerfile(path):
    import dockerfile  # BuildKit's parser (PyPI `dockerfile`)

    f = Findings()
    try:
        commands = dockerfile.parse_file(path)
    except dockerfile.GoParseError as e:
        f.check(False, f"does not parse: {e}")
        return f.finish("Dockerfile")
    # ARG defaults, to read FROM and USER as a build without --build-arg would.
    args = dict(c.value[0].split("=", 1) for c in commands if c.cmd == "ARG" and "=" in c.value[0])

    def resolve(text):
        return re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), m.group(0)), text)

    stages = [c for c in commands if c.cmd == "FROM"]
    f.check(len(stages) == 2, f"expected 2 stages (builder, runtime), found {len(stages)}")
    if len(stages) == 2:
        builder, runtime = resolve(stages[0].value[0]), resolve(stages[1].value[0])
        f.check(re.fullmatch(r"rust:[\d.]+-bookworm", builder), f"builder is not rust:<version>-bookworm: {builder}")
        f.check(runtime == "debian:bookworm-slim", f"runtime is not debian:bookworm-slim: {runtime}")
    runtime_start = stages[-1].start_line if stages else 0
    runs = [c for c in commands if c.cmd == "RUN"]
    builder_runs = " ; ".join(c.value[0] for c in runs if c.start_line < runtime_start)
    runtime_runs = " ; ".join(c.value[0] for c in runs if c.start_line > runtime_start)
    for pkg in ("libssl-dev", "pkg-config"):
        f.check(re.search(rf"\b{pkg}\b", builder_runs), f"builder does not install {pkg}")
    for pkg in ("ca-certificates", "libssl3"):
        f.check(re.search(rf"\b{pkg}\b", runtime_runs), f"runtime does not install {pkg}")

    # The build command is the Makefile's: the Dockerfile runs `make release`, unmodified.
    release = makefile_release_command()
    f.check(release and "--release --locked --workspace --bins --features $(RELEASE_FEATURES)" in release,
            f"Makefile release recipe changed: {release!r}")
    f.check(re.search(r"(^|&&|;)\s*make release\s*(&&|;|$)", builder_runs),
            "builder does not run make release (unmodified, as in the Makefile)")

    # Every COPY source from the context exists and survives .dockerignore.
    patterns = dockerignore_patterns()
    for c in commands:
        if c.cmd == "COPY" and not any(fl.startswith("--from") for fl in c.flags):
            for src in c.value[:-1]:
                f.check((ROOT / src).exists(), f"COPY source {src} does not exist")
                f.check(src == "." or not ignored(src, patterns), f"COPY source {src} is excluded by .dockerignore")
    # What the build reads must be in the context.
    needed = ["Cargo.toml", "Cargo.lock", "Makefile", "migrations/postgres", "migrations/sqlite"]
    members = workspace_binaries()
    for rel in needed + [m for m, _ in members]:
        f.check((ROOT / rel).exists() and not ignored(rel, patterns), f"{rel} is missing from the build context")

    # The binaries: the image ships the services and inboxctl; every workspace binary is shipped.
    shipped = re.findall(r"target/release/([\w-]+)", builder_runs)
    f.check(set(shipped) == {"receiver", "processor", "api", "inboxctl"}, f"image ships {shipped}")
    declared = {b for _, bins in members for b in bins}
    f.check(declared <= set(shipped), f"workspace binaries not in the image: {sorted(declared - set(shipped))}")
    pending = sorted(set(shipped) - declared)
    if pending:
        print(f"  note: not yet built by this workspace (the image build fails until they land): {', '.join(pending)}")

    users = [c.value[0] for c in commands if c.cmd == "USER"]
    user = resolve(users[-1]) if users else ""
    f.check(re.fullmatch(r"[1-9]\d*(:\d+)?", user), f"runtime USER is not a numeric non-root uid: {user!r}")
    exposed = {p for c in commands if c.cmd == "EXPOSE" for p in c.value}
    f.check({"8080", "8081", "9090"} <= exposed, f"EXPOSE {sorted(exposed)} lacks 8080/8081/9090")
    for c in commands:
        if c.cmd in ("CMD", "ENTRYPOINT"):
            f.check(c.json, f"{c.cmd} is in shell form: {c.original}")
    cmds = [c for c in commands if c.cmd == "CMD"]
    f.check(cmds and list(cmds[-1].value) == ["receiver"], "default CMD is not [\"receiver\"]")
    f.check(not any(c.cmd == "COPY" and "inbox.example.toml" in c.original for c in commands),
            "the example configuration is baked into the image")
    return f.finish("Dockerfile")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="what", required=True)
    rendered = sub.add_parser("rendered")
    rendered.add_argument("file")
    rendered.add_argument("--overlay", required=True)
    rendered.add_argument("--min-replicas", type=int, default=2)
    rendered.add_argument("--external-secret", action="store_true",
                          help="the Secret is created outside these manifests; the example must not be rendered")
    sub.add_parser("compose").add_argument("file")
    sub.add_parser("dockerfile").add_argument("file")
    a = parser.parse_args()
    if a.what == "rendered":
        return check_rendered(a.file, a.overlay, a.min_replicas, a.external_secret)
    if a.what == "compose":
        return check_compose(a.file)
    return check_dockerfile(a.file)


if __name__ == "__main__":
    sys.exit(main())
