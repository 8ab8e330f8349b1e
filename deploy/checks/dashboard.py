"""The Grafana dashboard and the alert rules, against the metrics the services declare.

    python deploy/checks/dashboard.py ROOT PANELS.rules.yaml

- ROOT/deploy/grafana/twofold.json is a dashboard: JSON with a uid, a title, a Prometheus datasource variable,
  and panels with distinct ids, each (but a row) querying that datasource with PromQL;
- every metric named by an expression there or in ROOT/deploy/prometheus/alerts.yaml is one the services
  export: declared in their code (``counter("twofold_...", ...)``, ``gauge(...)``, ``histogram(...)``, with the
  series each type exposes), by prometheus_client's process collector, or by Prometheus itself (``up``);
- PANELS.rules.yaml receives every panel's expression as a recording rule, Grafana's interval variables
  replaced, for ``promtool check rules`` to parse (run.sh does): a panel that would not parse fails.

Prints one line per problem and exits 1 when there is any. Needs PyYAML only (run.sh's venv).
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import yaml

DASHBOARD = "deploy/grafana/twofold.json"
ALERTS = "deploy/prometheus/alerts.yaml"
# where the services declare their metrics (twofold_common.metrics.Metrics and each service's own)
CODE = ("libs/common/src", "services/*/src")
_DECLARED = re.compile(r"\b(counter|gauge|histogram)\(\s*\"(twofold_[a-z0-9_]+)\"")
SERIES = {"counter": ("",), "gauge": ("",), "histogram": ("_bucket", "_count", "_sum")}
# prometheus_client's ProcessCollector (every service registers one), and what Prometheus adds to each target
BUILT_IN = {"process_cpu_seconds_total", "process_resident_memory_bytes", "process_virtual_memory_bytes",
            "process_open_fds", "process_max_fds", "process_start_time_seconds",
            "up", "scrape_duration_seconds", "scrape_samples_scraped"}
# Grafana's interval variables, as a query would see them
GRAFANA_VARIABLES = {"__rate_interval": "5m", "__interval": "1m", "__range": "1h"}

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_BRACES = re.compile(r"\{[^{}]*\}")  # label matchers (strings already emptied)
_RANGE = re.compile(r"\[[^\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_WORD = re.compile(r"(?<![\w.:])[A-Za-z_:][A-Za-z0-9_:]*")
_KEYWORDS = {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring", "group_left",
             "group_right", "inf", "nan", "start", "end"}
_VARIABLE = re.compile(r"\$\{(\w+)\}|\$(\w+)")


def declared(root: Path) -> set[str]:
    names = set()
    for pattern in CODE:
        for path in sorted(root.glob(f"{pattern}/**/*.py")):
            for kind, name in _DECLARED.findall(path.read_text()):
                base = name.removesuffix("_total") if kind == "counter" else name
                names |= {name if kind == "counter" else base + suffix for suffix in SERIES[kind]}
                if kind in ("counter", "histogram"):
                    names.add(base + "_created")
    return names


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (functions, keywords, labels and durations left out)."""
    text = _RANGE.sub("", _BRACES.sub("", _STRING.sub('""', expr)))
    text = _GROUPING.sub("", text)
    return {word.group() for word in _WORD.finditer(text)
            if word.group().lower() not in _KEYWORDS and not text[word.end():].lstrip().startswith("(")}


def with_grafana_variables(expr: str, problems: list[str], where: str) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        if name not in GRAFANA_VARIABLES:
            problems.append(f"{where}: ${name} is not a variable this check knows")
            return "1m"
        return GRAFANA_VARIABLES[name]

    return _VARIABLE.sub(value, expr)


def dashboard_queries(dashboard: dict, problems: list[str]) -> list[tuple[str, str]]:
    """``(where, expr)`` of every panel's query, after the dashboard's own structure is checked."""
    for key in ("uid", "title", "panels"):
        if not dashboard.get(key):
            problems.append(f"{DASHBOARD}: no {key}")
    variables = {v.get("name"): v for v in dashboard.get("templating", {}).get("list", [])}
    source = variables.get("datasource", {})
    if source.get("type") != "datasource" or source.get("query") != "prometheus":
        problems.append(f"{DASHBOARD}: no Prometheus datasource variable named datasource")
    panels = list(dashboard.get("panels", []))
    panels += [inner for panel in panels for inner in panel.get("panels", [])]  # inside collapsed rows
    ids = [panel.get("id") for panel in panels]
    if len(ids) != len(set(ids)) or None in ids:
        problems.append(f"{DASHBOARD}: panel ids are missing or repeated")
    queries = []
    for panel in panels:
        if panel.get("type") == "row":
            continue
        where = f"{DASHBOARD}: panel {panel.get('id')} ({panel.get('title')!r})"
        targets = panel.get("targets") or []
        if not targets or not panel.get("title") or "gridPos" not in panel:
            problems.append(f"{where}: a panel needs a title, a gridPos and a query")
        for target in targets:
            if (target.get("datasource") or panel.get("datasource") or {}).get("uid") != "${datasource}":
                problems.append(f"{where}: a query not on the datasource variable")
            if not target.get("expr"):
                problems.append(f"{where}: target {target.get('refId')} has no PromQL expression")
                continue
            queries.append((f"{where} {target.get('refId')}", target["expr"]))
    return queries


def main(root: Path, rules_out: Path) -> int:
    problems: list[str] = []
    try:
        dashboard = json.loads((root / DASHBOARD).read_text())
    except ValueError as exc:
        print(f"dashboard: {DASHBOARD} is not JSON: {exc}")
        return 1
    queries = dashboard_queries(dashboard, problems)
    alerts = yaml.safe_load((root / ALERTS).read_text())
    alert_queries = [(f"{ALERTS}: {rule.get('alert') or rule.get('record')}", str(rule["expr"]))
                     for group in alerts["groups"] for rule in group["rules"]]
    known = declared(root) | BUILT_IN
    if not any(name.startswith("twofold_") for name in known):
        problems.append(f"no metric declarations found under {', '.join(CODE)}")
    for where, expr in queries + alert_queries:
        for name in sorted(metric_names(expr) - known):
            problems.append(f"{where}: {name} is not a metric the services export")
    rules = [{"record": f"dashboard:panel_{index}", "expr": with_grafana_variables(expr, problems, where)}
             for index, (where, expr) in enumerate(queries)]
    rules_out.write_text(json.dumps({"groups": [{"name": "dashboard-queries", "rules": rules}]}, indent=1))
    for problem in problems:
        print(f"dashboard: {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2])))
