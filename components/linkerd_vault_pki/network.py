"""The laptop's Docker network: the one both the k3d cluster and the Vault dev container join.

One resource, so a helper, not a component; a module of its own so that a stack with a Vault container
and no k3d cluster imports pulumi_docker only (not pulumi_command).
"""

from __future__ import annotations

import pulumi_docker as docker


def local_network(resource_name: str, network_name: str) -> docker.Network:
    """The user-defined Docker network shared by the k3d nodes and the Vault container."""
    return docker.Network(resource_name, name=network_name, driver="bridge")
