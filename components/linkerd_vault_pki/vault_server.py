"""A Vault dev server in Docker, on the same network as the k3d cluster.

One server, two addresses: the operator's machine reaches it through the
published port on 127.0.0.1, the cluster's workloads through the container's
address on the Docker network. The container is healthchecked and Pulumi waits
for it to be healthy, so nothing talks to Vault before it answers.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_docker as docker

from linkerd_vault_pki import versions

VAULT_PORT = 8200


@dataclass
class VaultDevServerArgs:
    network: pulumi.Input[str]
    root_token: pulumi.Input[str]
    host_port: int
    container_name: str = "vault"
    image: str = versions.VAULT_IMAGE
    """The image as pulled: upstream's, or the mirror's name for it (images.py)."""
    pull_provider: docker.Provider | None = None
    """The Docker provider the image alone is pulled with: one holding a registry's credentials (the caller
    makes it; ``registry_provider`` below is how). By default the image is pulled as the container is run:
    with the Docker provider of ``opts``, or the default one."""


class VaultDevServer(pulumi.ComponentResource):
    """Vault in dev mode (in-memory, unsealed): for laptops and demos, never production."""

    # Its type token: what a deployed stack knows it by.
    TYPE = "linkerd-vault-pki:vault_server:VaultDevServer"

    address: pulumi.Output[str]
    cluster_address: pulumi.Output[str]

    def __init__(self, name: str, args: VaultDevServerArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(self.TYPE, name, None, opts)
        # The pull's credentials are the image's alone (the container and the network need none).
        pull = pulumi.ResourceOptions(parent=self, provider=args.pull_provider)
        image = docker.RemoteImage(f"{name}-image", name=args.image, keep_locally=True, opts=pull)
        container = docker.Container(
            f"{name}-container",
            name=args.container_name,
            image=image.image_id,
            # `vault server`, not the image's `server` shorthand: its entrypoint would turn that into
            # `vault server -dev-root-token-id="$VAULT_DEV_ROOT_TOKEN_ID" ...`, putting the token in
            # the process's argv (visible to `ps` on a Linux host). Vault reads it from the environment.
            command=["vault", "server", "-dev", f"-dev-listen-address=0.0.0.0:{VAULT_PORT}"],
            envs=[pulumi.Output.concat("VAULT_DEV_ROOT_TOKEN_ID=", args.root_token)],
            # After a Docker or host restart the container comes back (empty: dev mode keeps
            # everything in memory) so that `pulumi refresh` sees the Vault side gone, and
            # `pulumi up` rebuilds it, instead of both failing on a closed port.
            restart="unless-stopped",
            capabilities=docker.ContainerCapabilitiesArgs(adds=["IPC_LOCK"]),
            ports=[docker.ContainerPortArgs(internal=VAULT_PORT, external=args.host_port, ip="127.0.0.1")],
            networks_advanced=[docker.ContainerNetworksAdvancedArgs(name=args.network)],
            healthcheck=docker.ContainerHealthcheckArgs(
                tests=["CMD", "vault", "status", f"-address=http://127.0.0.1:{VAULT_PORT}"],
                interval="2s",
                timeout="2s",
                retries=30,
                start_period="2s",
            ),
            wait=True,
            wait_timeout=120,
            # The container's name and host port are fixed: free them before a replacement starts.
            opts=pulumi.ResourceOptions(parent=self, additional_secret_outputs=["envs"], delete_before_replace=True),
        )
        # Both addresses come from the container's outputs, so whatever uses them (the
        # Vault provider first) waits for a healthy container, and stays unknown in a
        # first preview instead of calling a server that does not exist yet.
        self.address = container.ports.apply(_host_address)
        self.cluster_address = container.network_datas.apply(_network_address)
        self.register_outputs({"address": self.address, "cluster_address": self.cluster_address})


def registry_provider(
    resource_name: str, registry_auths: dict[str, tuple[str, str]], opts: pulumi.ResourceOptions | None = None
) -> docker.Provider:
    """A Docker provider that pulls with these registries' credentials (by host: user, password), the passwords
    kept secrets: what ``VaultDevServerArgs.pull_provider`` takes for a registry that needs them."""
    return docker.Provider(
        resource_name,
        registry_auth=[
            docker.ProviderRegistryAuthArgs(address=host, username=user, password=pulumi.Output.secret(password))
            for host, (user, password) in sorted(registry_auths.items())
        ],
        opts=opts,
    )


def _output_field(obj: object, key: str) -> object:
    """A field of a provider output element: a dict on the wire, an object under some SDK paths."""
    return obj.get(key) if isinstance(obj, dict) else getattr(obj, key)


def _host_address(ports: list | None) -> str:
    if not ports:
        raise ValueError("the Vault container reported no published port")
    return f"http://127.0.0.1:{_output_field(ports[0], 'external')}"


def _network_address(network_datas: list | None) -> str:
    if not network_datas:
        raise ValueError("the Vault container reported no network address")
    return f"http://{_output_field(network_datas[0], 'ip_address')}:{VAULT_PORT}"
