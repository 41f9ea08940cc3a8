"""One way to install a pinned chart, from wherever it comes (charts.py): a Helm release that waits for its
workloads."""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from linkerd_vault_pki.charts import ChartSource


def pinned_release(
    resource_name: str,
    pin: ChartSource,
    *,
    release_name: str,
    namespace: pulumi.Input[str],
    values: dict[str, Any],
    timeout_seconds: int,
    opts: pulumi.ResourceOptions,
    create_namespace: bool = False,
) -> k8s.helm.v3.Release:
    """``pin``'s chart at its exact version (a local chart's Chart.yaml is the pin, checked by config); Pulumi
    waits until its resources and jobs are ready."""
    return k8s.helm.v3.Release(
        resource_name,
        name=release_name,
        chart=pin.chart,
        version=pin.version,
        repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=pin.repo) if pin.repo else None,
        namespace=namespace,
        create_namespace=create_namespace,
        values=values,
        wait_for_jobs=True,
        timeout=timeout_seconds,
        opts=opts,
    )
