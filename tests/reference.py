"""The upstream CRDs and chart schemas at the pinned versions, and strict validators.

Looked up in $LVP_REFERENCE_DIR, then ../shared/reference beside the checkout.
They are upstream's files, not ours, so they are never copied into the repo.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import tempfile
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from linkerd_vault_pki import versions

ROOT = Path(__file__).resolve().parent.parent


class ReferenceMissing(AssertionError):
    pass


@cache
def reference_dir() -> Path:
    candidates = []
    if os.environ.get("LVP_REFERENCE_DIR"):
        candidates.append(Path(os.environ["LVP_REFERENCE_DIR"]))
    candidates.append(ROOT.parent / "shared" / "reference")
    for candidate in candidates:
        if (candidate / f"cert-manager-{versions.CERT_MANAGER.version}").is_dir():
            return candidate
    raise ReferenceMissing(
        "upstream reference CRDs and chart schemas not found; looked in "
        + ", ".join(str(c) for c in candidates)
        + ". Point LVP_REFERENCE_DIR at a folder holding cert-manager-"
        + versions.CERT_MANAGER.version
        + "/, trust-manager-"
        + versions.TRUST_MANAGER.version
        + "/ and linkerd-edge-<version>/, or run `python -m scripts.fetch_reference DIR` (docs/testing.md)"
    )


def cert_manager_dir() -> Path:
    return reference_dir() / f"cert-manager-{versions.CERT_MANAGER.version}"


def trust_manager_dir() -> Path:
    return reference_dir() / f"trust-manager-{versions.TRUST_MANAGER.version}"


def linkerd_dir() -> Path:
    year, month, patch = versions.LINKERD_CONTROL_PLANE.version.split(".")
    return reference_dir() / f"linkerd-edge-{int(year) % 100}.{month}.{patch}"


@cache
def prometheus_operator_crd_dir() -> Path:
    """The Prometheus Operator's CRDs at the pinned version, in its root module as the Go module proxy serves it
    (``go mod download``, into the module cache; the opt-in PrometheusRule is checked against them)."""
    module = f"github.com/prometheus-operator/prometheus-operator@{versions.PROMETHEUS_OPERATOR_VERSION}"
    with tempfile.TemporaryDirectory() as empty:  # outside any module: a plain download
        out = subprocess.run(
            ["go", "mod", "download", "-json", module], cwd=empty, capture_output=True, text=True, check=False
        )
    try:
        info = json.loads(out.stdout)
    except ValueError:
        raise ReferenceMissing(f"`go mod download {module}` failed: {out.stderr.strip()[-500:]}") from None
    if info.get("Error"):
        raise ReferenceMissing(f"`go mod download {module}`: {info['Error']}")
    return Path(info["Dir"]) / "example" / "prometheus-operator-crd"


class _CrdLoader(yaml.SafeLoader):
    """YAML 1.1 reads a bare ``=`` as its "value" type; in a CRD (the Prometheus Operator's enums) it is a string."""


_CrdLoader.add_constructor("tag:yaml.org,2002:value", lambda loader, node: loader.construct_scalar(node))


def crd_schemas(folders: tuple[Path, ...]) -> dict[tuple[str, str], dict[str, Any]]:
    """(apiVersion, kind) -> openAPIV3Schema, for every served version of every CRD in ``folders``."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for folder in folders:
        for path in sorted(folder.glob("*.yaml")):
            for doc in yaml.load_all(path.read_text(), Loader=_CrdLoader):  # a SafeLoader
                if not doc or doc.get("kind") != "CustomResourceDefinition":
                    continue
                group, kind = doc["spec"]["group"], doc["spec"]["names"]["kind"]
                for version in doc["spec"]["versions"]:
                    if version.get("served"):
                        found[(f"{group}/{version['name']}", kind)] = version["schema"]["openAPIV3Schema"]
    return found


@cache
def crds() -> dict[tuple[str, str], dict[str, Any]]:
    """(apiVersion, kind) -> openAPIV3Schema, for every served version of every reference CRD."""
    return crd_schemas((cert_manager_dir() / "crds", trust_manager_dir() / "crds"))


def validate_prometheus_rule(spec: dict[str, Any]) -> None:
    """Raise jsonschema.ValidationError if the Prometheus Operator's PrometheusRule CRD refuses ``spec``."""
    schema = crd_schemas((prometheus_operator_crd_dir(),))[("monitoring.coreos.com/v1", "PrometheusRule")]
    jsonschema.Draft7Validator(closed(schema["properties"]["spec"])).validate(spec)


def closed(schema: Any) -> Any:
    """Treat every object schema that lists properties as closed, as strict field validation does."""
    schema = copy.deepcopy(schema)

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if (
                "properties" in node
                and not node.get("x-kubernetes-preserve-unknown-fields")
                and "additionalProperties" not in node
            ):
                node["additionalProperties"] = False
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    return schema


def validate_custom_resource(api_version: str, kind: str, spec: dict[str, Any]) -> None:
    """Raise jsonschema.ValidationError if ``spec`` is not accepted by the CRD, strictly."""
    key = (api_version, kind)
    if key not in crds():
        raise AssertionError(f"{kind} {api_version} is not served by the reference CRDs: {sorted(crds())}")
    spec_schema = closed(crds()[key]["properties"]["spec"])
    jsonschema.Draft7Validator(spec_schema).validate(spec)


@cache
def chart_schema(chart_dir: Path) -> dict[str, Any]:
    return json.loads((chart_dir / "chart" / "values.schema.json").read_text())


def validate_chart_values(chart_dir: Path, values: dict[str, Any]) -> None:
    schema = chart_schema(chart_dir)
    jsonschema.validators.validator_for(schema)(schema).validate(values)


@cache
def linkerd_values(chart: str) -> dict[str, Any]:
    return yaml.safe_load((linkerd_dir() / chart / "values.yaml").read_text())


def unknown_keys(values: dict[str, Any], defaults: dict[str, Any], prefix: str = "") -> list[str]:
    """Dotted paths set in ``values`` that the chart's values.yaml lacks or types differently."""
    problems = []
    for key, value in values.items():
        path = f"{prefix}{key}"
        if not isinstance(defaults, dict) or key not in defaults:
            problems.append(f"{path} (not in values.yaml)")
        elif isinstance(value, dict) and isinstance(defaults[key], dict):
            # An empty map in values.yaml is a free-form one (podAnnotations, nodeSelector): any key goes.
            if defaults[key]:
                problems.extend(unknown_keys(value, defaults[key], f"{path}."))
        elif defaults[key] is not None and type(value) is not type(defaults[key]):
            problems.append(f"{path} ({type(value).__name__}, chart default is {type(defaults[key]).__name__})")
    return problems
