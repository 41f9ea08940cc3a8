"""L2.5: charts from a local directory, through the real engine's Helm code, into the real API server.

The real charts cannot be had here (no chart repository is reachable): they run
in L3. This test writes, into a folder, minimal charts with the pinned charts'
names and versions (a stand-in for `helm pull --untar` of them, named so:
``stand_in_chart``), each rendering one ConfigMap that records the values Helm
was given. A cluster-only stack with `certManager: install`, `chartRepository`
set to that folder and a mirror (`imageRegistry`) installs them with
pulumi-kubernetes' Helm release code into the local API server; its identity
issuer then becomes Ready as always (cert-manager and trust-manager run as
local processes). What the charts recorded is what the real charts would have
been given: every image under the mirror.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from linkerd_vault_pki import charts, images
from tests.integration.cluster_only import CERTIFICATE, cluster_stack, up
from tests.integration.kube import CERT_MANAGER_NAMESPACE, is_true

pytestmark = pytest.mark.integration

MIRROR = "mirror.example.com:5000/upstream"
RECORD = "linkerd-vault-pki-stand-in-{}"


def stand_in_chart(folder: Path, pin) -> Path:
    """A minimal chart with ``pin``'s name and version: one ConfigMap holding the values it was installed with."""
    chart = folder / pin.name
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text(
        f"apiVersion: v2\nname: {pin.name}\nversion: {pin.version}\n"
        "description: a stand-in for the pinned chart (tests/integration/test_cluster_charts.py)\n"
    )
    (chart / "templates" / "values.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n"
        f"  name: {RECORD.format(pin.name)}\n"
        "  namespace: {{ .Release.Namespace }}\n"
        "data:\n  values.json: {{ toJson .Values | quote }}\n  chart: {{ .Chart.Name }}-{{ .Chart.Version }}\n"
    )
    return chart


def test_charts_from_a_local_directory_install_through_the_engines_helm(engine, openbao, cluster, tmp_path):
    folder = tmp_path / "charts"
    for name in ("cert-manager", "trust-manager"):
        stand_in_chart(folder, charts.PINS[name])
    with cluster_stack(engine, tmp_path / "stack", openbao, prefix="l25-charts") as stack:
        deployed = up(
            stack,
            cluster,
            openbao,
            certManager="install",
            chartRepository=f"file://{folder}",
            imageRegistry=MIRROR,
        )
        assert is_true("Ready")(cluster.api.get(CERTIFICATE))
        for name in ("cert-manager", "trust-manager"):
            pin = charts.PINS[name]
            record = cluster.api.get(f"/api/v1/namespaces/{CERT_MANAGER_NAMESPACE}/configmaps/{RECORD.format(name)}")
            assert record["data"]["chart"] == f"{pin.name}-{pin.version}"  # the pinned name and version, from disk
            values = json.loads(record["data"]["values.json"])
            for image in images.chart_images(name):
                moved = values
                for part in f"{image.key}.repository".split("."):
                    moved = moved[part]
                assert moved == f"{MIRROR}/{image.repository.split('/', 1)[1]}", (name, image.key)
            # Helm's own record of the release: installed from the folder.
            release = cluster.api.get(
                f"/api/v1/namespaces/{CERT_MANAGER_NAMESPACE}/secrets/sh.helm.release.v1.{name}.v1"
            )
            assert release["type"] == "helm.sh/release.v1"
        assert json.loads(
            cluster.api.get(f"/api/v1/namespaces/{CERT_MANAGER_NAMESPACE}/configmaps/{RECORD.format('trust-manager')}")[
                "data"
            ]["values.json"]
        )["defaultPackage"] == {"enabled": False}
        stack.stack.preview(expect_no_changes=True, on_output=lambda _line: None)
        print(f"\n[l2.5] up with the charts from a local directory: {deployed.up_seconds:.1f}s", flush=True)
        stack.stack.destroy(on_output=lambda _line: None)
        for name in ("cert-manager", "trust-manager"):
            assert (
                cluster.api.find(f"/api/v1/namespaces/{CERT_MANAGER_NAMESPACE}/configmaps/{RECORD.format(name)}")
                is None
            )
