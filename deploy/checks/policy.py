"""The project's own rules for its deployment files, beyond what the schemas can say.

    python deploy/checks/policy.py ROOT NAME=RENDERED.yaml [NAME=RENDERED.yaml ...]

ROOT is the repository (for docker-compose.yml); each NAME=FILE is one kustomize
rendering (base, production...). Prints one line per violation and exits 1 when
there is any. Needs PyYAML only (deploy/checks/run.sh runs it in its own venv).
"""

from __future__ import annotations

import re
import sys
from collections import defaultdict
from pathlib import Path

import yaml

# Settings whose value is a secret: never a literal in a manifest or in docker-compose.yml.
SECRET_NAME = re.compile(r"(SECRET|PEPPER|_KEYS|_KEY|PASSWORD|DATABASE_URL)$")
# ...except public keys (the ring of internal keys), which every service reads from one ConfigMap.
PUBLIC_NAME = re.compile(r"_PUBLIC_KEYS$")


def secret_name(name: str) -> bool:
    return bool(SECRET_NAME.search(name)) and not PUBLIC_NAME.search(name)
PREFIXES = {"auth": "AUTH", "registration": "REGISTRATION", "vault": "VAULT", "gateway": "GATEWAY", "web": "WEB"}


class Report:
    def __init__(self) -> None:
        self.problems: list[str] = []

    def check(self, ok: bool, where: str, message: str) -> None:
        if not ok:
            self.problems.append(f"{where}: {message}")


def pod_specs(doc: dict) -> list[dict]:
    kind = doc.get("kind")
    if kind == "Deployment" or kind == "Job":
        return [doc["spec"]["template"]["spec"]]
    if kind == "CronJob":
        return [doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]]
    return []


def pod_labels(doc: dict) -> dict:
    if doc["kind"] == "CronJob":
        return doc["spec"]["jobTemplate"]["spec"]["template"]["metadata"].get("labels", {})
    return doc["spec"]["template"]["metadata"].get("labels", {})


def selects(selector: dict, labels: dict) -> bool:
    match = selector.get("matchLabels", selector)
    return bool(match) and all(labels.get(k) == v for k, v in match.items())


def check_rendering(name: str, docs: list[dict], report: Report) -> None:
    by_kind: dict[str, list[dict]] = defaultdict(list)
    for doc in docs:
        by_kind[doc["kind"]].append(doc)
    report.check(not by_kind.get("Secret"), name, "a Secret is defined in the manifests (keys belong outside them)")
    config = {k: v for cm in by_kind["ConfigMap"] for k, v in (cm.get("data") or {}).items()}
    for key in config:
        report.check(not secret_name(key), name, f"secret setting {key} is in a ConfigMap")

    secret_refs: dict[str, dict[str, set]] = defaultdict(dict)  # service -> workload -> {(env, secret, key)}
    for doc in by_kind["Deployment"] + by_kind["Job"] + by_kind["CronJob"]:
        where = f"{name}: {doc['kind']}/{doc['metadata']['name']}"
        service = pod_labels(doc).get("app.kubernetes.io/name", "?")
        for spec in pod_specs(doc):
            report.check(spec.get("enableServiceLinks") is False, where,
                         "enableServiceLinks must be false (VAULT_PORT & co. would override the services' settings)")
            report.check(spec.get("automountServiceAccountToken") is False, where, "the pod mounts an API token")
            context = spec.get("securityContext", {})
            report.check(context.get("runAsNonRoot") is True, where, "runAsNonRoot is not true")
            report.check(context.get("seccompProfile", {}).get("type") == "RuntimeDefault", where,
                         "no RuntimeDefault seccomp")
            refs = set()
            for container in spec["containers"]:
                c_where = f"{where} container {container['name']}"
                security = container.get("securityContext", {})
                report.check(security.get("readOnlyRootFilesystem") is True, c_where, "root filesystem is writable")
                report.check(security.get("allowPrivilegeEscalation") is False, c_where, "privilege escalation allowed")
                report.check(security.get("capabilities", {}).get("drop") == ["ALL"], c_where,
                             "capabilities not dropped")
                resources = container.get("resources", {})
                report.check({"cpu", "memory"} <= set(resources.get("requests", {})), c_where, "no cpu/memory requests")
                report.check("memory" in resources.get("limits", {}), c_where, "no memory limit")
                image = container.get("image", "")
                report.check(":" in image.rsplit("/", 1)[-1] and not image.endswith(":latest"), c_where,
                             f"image {image!r} has no pinned tag")
                for env in container.get("env", []):
                    ref = env.get("valueFrom", {}).get("secretKeyRef")
                    if secret_name(env["name"]):
                        report.check(ref is not None, c_where, f"{env['name']} is not taken from a Secret")
                    if ref is not None:
                        refs.add((env["name"], ref["name"], ref["key"]))
                        report.check(not ref.get("optional"), c_where, f"{env['name']}: an optional secret")
            secret_refs[service][f"{doc['kind']}/{doc['metadata']['name']}"] = refs
    for service, workloads in secret_refs.items():
        distinct = {frozenset(refs) for refs in workloads.values()}
        report.check(len(distinct) == 1, f"{name}: {service}",
                     f"its workloads reference different secrets: {sorted(workloads)}")

    policies = by_kind["NetworkPolicy"]
    report.check(any(p["spec"]["podSelector"] == {} and set(p["spec"].get("policyTypes", [])) == {"Ingress", "Egress"}
                     and not p["spec"].get("ingress") and not p["spec"].get("egress") for p in policies),
                 name, "no default-deny NetworkPolicy")
    for deployment in by_kind["Deployment"]:
        dname = deployment["metadata"]["name"]
        where = f"{name}: Deployment/{dname}"
        labels = pod_labels(deployment)
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        report.check(container.get("readinessProbe", {}).get("httpGet", {}).get("path") == "/readyz", where,
                     "readiness probe is not GET /readyz")
        report.check(container.get("livenessProbe", {}).get("httpGet", {}).get("path") == "/healthz", where,
                     "liveness probe is not GET /healthz")
        report.check(any(selects(s["spec"].get("selector", {}), labels) for s in by_kind["Service"]), where,
                     "no Service selects its pods")
        report.check(any(selects(p["spec"]["selector"], labels) for p in by_kind["PodDisruptionBudget"]), where,
                     "no PodDisruptionBudget")
        hpas = [h for h in by_kind["HorizontalPodAutoscaler"] if h["spec"]["scaleTargetRef"]["name"] == dname]
        report.check(len(hpas) == 1, where, "no HorizontalPodAutoscaler")
        report.check(any(selects(p["spec"]["podSelector"], labels) and "Ingress" in p["spec"].get("policyTypes", [])
                         and p["spec"].get("ingress") for p in policies), where, "no NetworkPolicy lets anything in")
        prefix = PREFIXES.get(labels.get("app.kubernetes.io/name", ""))
        # only a Kafka client's replicas share partitions (web has no consumer)
        if prefix and hpas and labels.get("twofold.dev/kafka") == "client":
            partitions = int(config.get(f"{prefix}_KAFKA_TOPIC_PARTITIONS", 3))
            report.check(partitions >= hpas[0]["spec"]["maxReplicas"], where,
                         f"{partitions} topic partitions for up to {hpas[0]['spec']['maxReplicas']} replicas: "
                         "the extra consumers would idle")

    check_metrics(name, by_kind, config, report)

    environments = {config.get(f"{p}_ENVIRONMENT") for p in PREFIXES.values()}
    report.check(len(environments) == 1, name, f"services run in different environments: {environments}")
    issuer = config.get("AUTH_ISSUER")
    for key in ("GATEWAY_TOKEN_ISSUER", "REGISTRATION_TOKEN_ISSUER"):
        report.check(config.get(key) == issuer, name, f"{key} ({config.get(key)}) differs from AUTH_ISSUER ({issuer})")
    report.check(str(config.get("REGISTRATION_CALLBACK_URL", "")).startswith(f"{issuer}/"), name,
                 "REGISTRATION_CALLBACK_URL is not under the public address (AUTH_ISSUER)")
    if environments == {"production"}:
        for key, value in config.items():
            if key.endswith(("_ISSUER", "_CALLBACK_URL", "_PROVIDER_BASE_URL")):
                report.check(value.startswith("https://"), name, f"{key} must be https in production")


# The fields of the Prometheus Operator's ServiceMonitor (monitoring.coreos.com/v1) the manifests may use. The
# operator ignores a field it does not know, and Kubernetes' schemas do not describe this kind (crds.py): a
# misspelled field would pass unseen.
SERVICE_MONITOR_FIELDS = {
    "spec": {"selector", "endpoints", "namespaceSelector", "jobLabel", "targetLabels", "podTargetLabels"},
    "endpoint": {"port", "path", "interval", "scrapeTimeout", "scheme", "honorLabels", "relabelings",
                 "metricRelabelings"},
    "relabeling": {"sourceLabels", "separator", "targetLabel", "regex", "modulus", "replacement", "action"},
}


def admits(rule: dict, port: str, number: int) -> bool:
    """Whether an ingress rule lets traffic reach ``port`` (by name or number); a rule without ports admits all."""
    ports = rule.get("ports")
    return not ports or any(entry.get("port") in (port, number) for entry in ports)


def check_metrics(name: str, by_kind: dict[str, list[dict]], config: dict, report: Report) -> None:
    """Each server's metrics port: the one its setting names, scraped through its Service by the ServiceMonitor,
    and reachable from another namespace's pods (the monitoring one) only."""
    monitors = by_kind["ServiceMonitor"]
    report.check(len(monitors) == 1, name, f"{len(monitors)} ServiceMonitors: one scrapes every service")
    for monitor in monitors:
        spec = monitor["spec"]
        endpoints = spec.get("endpoints", [])
        unknown = (set(spec) - SERVICE_MONITOR_FIELDS["spec"]) \
            | {key for ep in endpoints for key in ep} - SERVICE_MONITOR_FIELDS["endpoint"] \
            | {key for ep in endpoints for rule in ep.get("relabelings", []) for key in rule} \
            - SERVICE_MONITOR_FIELDS["relabeling"]
        report.check(not unknown, f"{name}: ServiceMonitor/{monitor['metadata']['name']}",
                     f"fields its CRD does not define: {sorted(unknown)}")
    for deployment in by_kind["Deployment"]:
        where = f"{name}: Deployment/{deployment['metadata']['name']}"
        labels = pod_labels(deployment)
        prefix = PREFIXES.get(labels.get("app.kubernetes.io/name", ""))
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        port = {entry.get("name"): entry["containerPort"] for entry in container.get("ports", [])}.get("metrics")
        report.check(port is not None and str(port) == config.get(f"{prefix}_METRICS_PORT"), where,
                     f"its container port 'metrics' ({port}) is not {prefix}_METRICS_PORT "
                     f"({config.get(f'{prefix}_METRICS_PORT')})")
        services = [service for service in by_kind["Service"] if selects(service["spec"].get("selector", {}), labels)]
        report.check(any(selects(monitor["spec"].get("selector", {}), service["metadata"].get("labels", {}))
                         and {ep.get("port") for ep in monitor["spec"].get("endpoints", [])}
                         & {entry.get("name") for entry in service["spec"]["ports"]}
                         for monitor in monitors for service in services), where,
                     "no ServiceMonitor scrapes a Service of its pods on a port that Service has")
        rules = [rule for policy in by_kind["NetworkPolicy"] if selects(policy["spec"]["podSelector"], labels)
                 and "Ingress" in policy["spec"].get("policyTypes", []) for rule in policy["spec"].get("ingress", [])
                 if admits(rule, "metrics", port or 0)]
        report.check(bool(rules), where, "no NetworkPolicy lets Prometheus reach its metrics port")
        report.check(all(rule.get("from") and all(set(peer) == {"namespaceSelector"} for peer in rule["from"])
                         for rule in rules), where,
                     "its metrics port is open to more than another namespace (the monitoring one)")


def check_compose(root: Path, report: Report) -> None:
    where = "docker-compose.yml"
    compose = yaml.safe_load((root / where).read_text())
    services = compose["services"]
    for name, service in services.items():
        report.check(("ports" in service) == (name == "gateway"), f"{where}: {name}",
                     "only the gateway publishes a port")
        for entry in service.get("environment", []) if isinstance(service.get("environment"), list) else []:
            key, _, value = entry.partition("=")
            if secret_name(key) and not key.endswith("DATABASE_URL"):
                report.check(value == "", f"{where}: {name}", f"{key} has a value here: secrets come from .env")
        for dependency in service.get("depends_on", {}):
            condition = service["depends_on"][dependency].get("condition")
            report.check(condition == "service_healthy", f"{where}: {name}",
                         f"starts before {dependency} is healthy ({condition})")
        if name in PREFIXES:
            build = service.get("build", {})
            report.check(build.get("dockerfile") == "deploy/docker/Dockerfile" and "SERVICE" in build.get("args", {}),
                         f"{where}: {name}", "not built from deploy/docker/Dockerfile with a SERVICE")
    volumes = set(compose.get("volumes", {}))
    report.check({"postgres-data", "kafka-data"} <= volumes, where, "postgres and kafka data need named volumes")


def main(argv: list[str]) -> int:
    root = Path(argv[1])
    report = Report()
    for spec in argv[2:]:
        name, _, path = spec.partition("=")
        docs = [doc for doc in yaml.safe_load_all(Path(path).read_text()) if doc]
        check_rendering(name, docs, report)
    check_compose(root, report)
    for problem in report.problems:
        print(f"policy: {problem}")
    return 1 if report.problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
