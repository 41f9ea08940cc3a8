"""The laptop's k3d cluster, on the Docker network of network.py.

k3d has no Pulumi provider, so the cluster is a pulumi-command resource whose
create prints the kubeconfig (kept as a secret, never logged) and whose delete
removes the cluster: `pulumi destroy` leaves nothing behind.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field

import pulumi
import pulumi_command as command
import yaml

from linkerd_vault_pki import images, versions
from linkerd_vault_pki.pulls import Pulls
from linkerd_vault_pki.x509 import kubeconfig_ca

# The walkthrough's k3s components that Linkerd does not need. `--disable` is a k3s
# server flag: it goes to the servers only (an agent given it would refuse to start).
K3S_DISABLED = "--disable=local-storage,traefik,metrics-server@server:*"
# How long `k3d cluster create --wait` may wait for the servers (k3d's default, 0, is forever).
K3D_WAIT_TIMEOUT = "300s"


@dataclass
class K3dClusterArgs:
    cluster_name: str
    network: pulumi.Input[str]
    api_port: int
    k3s_image: str = versions.K3S_IMAGE
    """The node image as pulled (upstream's, or the mirror's name for it)."""
    mirror: Pulls = field(default_factory=Pulls)
    """With a mirror: k3d's helper images from it, and the nodes' containerd pulling through it."""


REGISTRY_CONFIG_ENV = "LVP_K3S_REGISTRIES"  # the registries.yaml, handed to the command in its environment


def k3d_environment(mirror: Pulls) -> dict[str, pulumi.Input[str]]:
    """k3d's helper images under the mirror, and the nodes' registries.yaml (a secret when it holds credentials)."""
    if not mirror.configures_nodes:
        return {}
    env: dict[str, pulumi.Input[str]] = {
        variable: mirror.images.reference(image.reference) for variable, image in images.K3D_HELPERS.items()
    }
    registries = yaml.safe_dump(images.k3s_registries(mirror.images, mirror.registry_auths()), sort_keys=True)
    env[REGISTRY_CONFIG_ENV] = pulumi.Output.secret(registries) if mirror.pull_secret else registries
    return env


def k3d_create_command(args: K3dClusterArgs, network: str) -> str:
    """The shell command that creates the cluster and prints its kubeconfig on stdout."""
    create = [
        "k3d", "cluster", "create", args.cluster_name,
        "--image", args.k3s_image,
        "--network", network,
        "--api-port", f"127.0.0.1:{args.api_port}",
        # No `-p 80/443@loadbalancer` (the walkthrough's): traefik is off, nothing serves them,
        # and binding them fails when they are taken or on rootless Docker/Podman.
        "--k3s-arg", K3S_DISABLED,
        "--kubeconfig-update-default=false",
        "--kubeconfig-switch-context=false",
        "--wait",
        "--timeout", K3D_WAIT_TIMEOUT,
    ]  # fmt: skip
    get = f"k3d kubeconfig get {shlex.quote(args.cluster_name)}"
    if args.mirror.configures_nodes:
        # The nodes' registries.yaml, from the environment (it may hold the pull secret's credentials) into a
        # file of the command's own, removed when it ends.
        write = (
            "LVP_REGISTRIES_FILE=$(mktemp) && trap 'rm -f \"$LVP_REGISTRIES_FILE\"' EXIT && "
            f'printf \'%s\' "${REGISTRY_CONFIG_ENV}" > "$LVP_REGISTRIES_FILE" && '
        )
        return f'{write}{shlex.join(create)} --registry-config "$LVP_REGISTRIES_FILE" 1>&2 && {get}'
    # k3d's progress goes to stderr so that stdout carries only the kubeconfig.
    return f"{shlex.join(create)} 1>&2 && {get}"


class K3dCluster(pulumi.ComponentResource):
    """A k3d cluster on the shared network; exposes its kubeconfig as a secret."""

    # Its type token: what a deployed stack knows it by.
    TYPE = "linkerd-vault-pki:cluster:K3dCluster"

    kubeconfig: pulumi.Output[str]
    in_network_server: str
    """The API server as a container on the Docker network reaches it (the laptop's Vault, for TokenReview)."""
    ca_pem: pulumi.Output[str]
    """The CA of the API server's serving certificate, from the kubeconfig (public: not a secret)."""

    def __init__(self, name: str, args: K3dClusterArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(self.TYPE, name, None, opts)
        cluster = command.local.Command(
            f"{name}-k3d",
            create=pulumi.Output.from_input(args.network).apply(lambda net: k3d_create_command(args, net)),
            environment=k3d_environment(args.mirror) or None,
            delete=f"k3d cluster delete {shlex.quote(args.cluster_name)}",
            # The kubeconfig holds the cluster's admin client key: keep it out of logs and state in plain.
            logging=command.local.Logging.STDERR,
            # pulumi-command would hand the previous stdout (the kubeconfig) to `delete` in its environment.
            add_previous_output_in_env=False,
            opts=pulumi.ResourceOptions(
                parent=self,
                additional_secret_outputs=["stdout"],
                # Without an `update` command, pulumi-command re-runs `create` on any change, which k3d
                # refuses for an existing name (and a renamed cluster would leave the old one running).
                # Every setting that defines the cluster is in `create`: a change replaces the cluster,
                # deleting the old one first (a cluster of the same name or port cannot exist twice).
                replace_on_changes=["create", "delete", "environment"],
                delete_before_replace=True,
            ),
        )
        self.kubeconfig = pulumi.Output.secret(cluster.stdout)
        # k3s serves the API on 6443 inside its server container, whose name k3d derives from the cluster's and
        # which k3s's serving certificate names.
        self.in_network_server = f"https://k3d-{args.cluster_name}-server-0:6443"
        self.ca_pem = pulumi.Output.unsecret(cluster.stdout.apply(kubeconfig_ca_pem))
        self.register_outputs({"kubeconfig": self.kubeconfig})


def kubeconfig_ca_pem(kubeconfig: str) -> str:
    """The cluster CA k3d's kubeconfig carries (its certificate-authority-data, decoded)."""
    ca = kubeconfig_ca(kubeconfig, None)
    if ca is None:
        raise ValueError("k3d's kubeconfig carries no certificate-authority-data for its cluster")
    return ca
