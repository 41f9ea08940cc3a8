"""AttachableComponentHost: a test-only launcher of the package's component provider, for the engine to attach to.

In a user's program, the Pulumi CLI launches ``provider/`` through the Python language host, which passes the
engine's address on the command line (``pulumi.provider.main`` reads it as its first argument). Here no
Python language host can be had (no registry serves it), so the test starts the provider itself and points the
engine at it with ``PULUMI_DEBUG_PROVIDERS=linkerd-vault-pki:<port>``. The engine then calls ``Handshake`` and
``Attach`` with its address (pulumi/pulumi proto/pulumi/provider.proto, ``Attach``: "sends the engine address to
an already running plugin"; plugin.proto, ``PluginAttach``), and the Python SDK's provider server (3.272)
implements neither. This launcher adds ``Attach``, which records the address exactly where the SDK's own
``main`` puts the command-line one (``ProviderServicer.engine_address``); ``Handshake`` stays unimplemented,
which the engine accepts (it falls back to ``Attach``). Everything else (``GetSchema``, ``Configure``,
``Construct``) is the SDK's, serving ``linkerd_vault_pki.provider.COMPONENTS`` as
``component_provider_host`` does.

Never used by the program: ``provider/__main__.py`` runs ``component_provider_host`` itself.

``python -m tests.integration.attachable_host``: prints the port, then serves until killed.
"""

from __future__ import annotations

import asyncio
import sys
from importlib.metadata import version

import grpc
from google.protobuf import empty_pb2
from pulumi.provider.experimental.component import ComponentProvider
from pulumi.provider.server import ProviderServicer
from pulumi.runtime.proto import provider_pb2_grpc

from linkerd_vault_pki import provider


class AttachableServicer(ProviderServicer):
    """The SDK's provider server, plus the ``Attach`` the engine calls on a provider it did not launch."""

    async def Attach(self, request, context):
        self.engine_address = request.address
        return empty_pb2.Empty()


async def serve() -> None:
    server = grpc.aio.server()
    hosted = ComponentProvider(provider.COMPONENTS, provider.PACKAGE, None, version("linkerd-vault-pki"))
    provider_pb2_grpc.add_ResourceProviderServicer_to_server(AttachableServicer(hosted, [], engine_address=""), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    print(port, flush=True)
    await server.wait_for_termination()


if __name__ == "__main__":
    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        sys.exit(0)
