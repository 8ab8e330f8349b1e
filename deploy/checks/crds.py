"""Set aside the custom resources a rendering holds, before it is validated against Kubernetes' own schemas.

    python deploy/checks/crds.py RENDERED.yaml CORE.yaml

kubernetes-validate knows Kubernetes' kinds only: a custom resource would be a warning there, which the k8s
check counts as a failure (this way a misspelled kind still fails). The custom kinds this project uses are
listed below; their manifests are left out of CORE.yaml, one line per manifest says so, and policy.py checks
them against the fields the operator's CRD defines. Any other kind stays in CORE.yaml and is validated.
Needs PyYAML only (deploy/checks/run.sh runs it in its own venv).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import yaml

# (apiVersion, kind) of the custom resources the manifests may hold, with what defines them
CUSTOM_KINDS = {("monitoring.coreos.com/v1", "ServiceMonitor"): "the Prometheus Operator's CRD"}


def main(rendered: str, core: str) -> int:
    kept = []
    for text in re.split(r"^---[ \t]*$", Path(rendered).read_text(), flags=re.MULTILINE):
        doc = yaml.safe_load(text) or {}
        origin = CUSTOM_KINDS.get((doc.get("apiVersion"), doc.get("kind")))
        if origin is None:
            kept.append(text.strip("\n"))  # as kustomize wrote it: validated exactly as rendered
        else:
            print(f"{doc['kind']}/{doc['metadata']['name']}: no Kubernetes schema ({origin}); checked by policy.py")
    Path(core).write_text("\n---\n".join(part for part in kept if part) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
