"""Every internal URL of the deployment files names a service that exists, and the network lets the call through.

An internal URL is a setting such as ``GATEWAY_WEB_URL`` or ``WEB_GATEWAY_URL``: in
docker-compose.yml ``http://<service>:8000``, in Kubernetes ``http://<Service>`` (port 80
to the pods' 8000). In Kubernetes the call also needs two NetworkPolicy rules, since
everything is denied first: an egress rule of the caller's pods and an ingress rule of
the callee's. A new edge forgotten in network-policies.yaml fails here rather than as a
timeout in a cluster.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
BASE = ROOT / "deploy" / "k8s" / "base"
COMPOSE_URL = re.compile(r"http://([a-z-]+):8000")
K8S_URL = re.compile(r"http://([a-z-]+)")


def compose_edges() -> list[tuple[str, str, str]]:
    """(caller, setting, callee) of every internal URL in docker-compose.yml."""
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    return [(caller, key, match[1])
            for caller, service in services.items()
            for key, _, value in (entry.partition("=") for entry in service.get("environment", []))
            if (match := COMPOSE_URL.fullmatch(value))]


def k8s_edges() -> list[tuple[str, str, str]]:
    """(caller, setting, callee Service) of every internal URL in the base's generated ConfigMaps."""
    kustomization = yaml.safe_load((BASE / "kustomization.yaml").read_text())
    return [(generator["name"].removesuffix("-config"), key, match[1])
            for generator in kustomization["configMapGenerator"] if generator["name"].endswith("-config")
            for key, _, value in (literal.partition("=") for literal in generator.get("literals", []))
            if (match := K8S_URL.fullmatch(value))]


def base_docs(kind: str) -> list[dict]:
    return [doc for path in sorted(BASE.rglob("*.yaml")) if path.name != "kustomization.yaml"
            for doc in yaml.safe_load_all(path.read_text()) if doc and doc.get("kind") == kind]


def server_labels(name: str) -> dict[str, str]:
    """The labels of the pods of Deployment ``name``."""
    deployment = next(d for d in base_docs("Deployment") if d["metadata"]["name"] == name)
    return deployment["spec"]["template"]["metadata"]["labels"]


def selects(selector: dict, labels: dict) -> bool:
    return all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items())


def allowed(direction: str, pod: dict, peer: dict) -> bool:
    """Whether a NetworkPolicy of ``pod`` lets traffic to (Egress) or from (Ingress) ``peer``'s server port.

    After the Service's translation the packets go to the pods' port: 8000, named http.
    """
    peers_key = "to" if direction == "Egress" else "from"
    for policy in base_docs("NetworkPolicy"):
        spec = policy["spec"]
        if direction not in spec.get("policyTypes", []) or not selects(spec["podSelector"], pod):
            continue
        for rule in spec.get(direction.lower(), []):
            peer_ok = peers_key not in rule or any(
                "namespaceSelector" not in p and "podSelector" in p and selects(p["podSelector"], peer)
                for p in rule[peers_key])
            ports_ok = "ports" not in rule or any(p.get("port") in (8000, "http") for p in rule["ports"])
            if peer_ok and ports_ok:
                return True
    return False


@pytest.mark.parametrize(("caller", "setting", "callee"), compose_edges())
def test_compose_urls_name_a_service_on_the_callers_network(caller: str, setting: str, callee: str) -> None:
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    assert callee in services, f"{caller}: {setting} names no service {callee!r}"
    assert set(services[caller]["networks"]) & set(services[callee]["networks"]), f"{setting}: no shared network"


@pytest.mark.parametrize(("caller", "setting", "callee"), k8s_edges())
def test_kubernetes_urls_name_a_service_and_the_network_policies_allow_the_call(caller: str, setting: str,
                                                                                callee: str) -> None:
    service = next((s for s in base_docs("Service") if s["metadata"]["name"] == callee), None)
    assert service is not None, f"{caller}: {setting} names no Service {callee!r}"
    # the URL has no port, so 80: the Service's http port (the other one is its metrics port, for Prometheus)
    assert [p["name"] for p in service["spec"]["ports"] if p["port"] == 80] == ["http"], f"{callee}: no http port 80"
    source, target = server_labels(caller), server_labels(callee)
    assert selects({"matchLabels": service["spec"]["selector"]}, target), f"Service {callee} misses its pods"
    assert allowed("Egress", source, target), f"no egress rule lets {caller} reach {callee}"
    assert allowed("Ingress", target, source), f"no ingress rule lets {caller} into {callee}"


def test_the_gateway_and_the_pages_reach_each_other() -> None:
    """The edges this file guards first: the gateway forwards pages to web, web calls the API through the gateway."""
    for edges in (compose_edges(), k8s_edges()):
        pairs = {(caller, callee) for caller, _, callee in edges}
        assert {("gateway", "web"), ("web", "gateway")} <= pairs
