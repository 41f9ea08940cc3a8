"""The value types the components take beside ``pulumi.Input``s: a secret string, a duration.

Plain values, so that a program reads them once (the stack's config does) and passes them on; no component
reads config.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi


class Secret:
    """A secret value (a token, a kubeconfig, a pull secret). Its repr never shows the value."""

    __slots__ = ("value",)

    def __init__(self, value: str):
        self.value = value

    def __repr__(self) -> str:
        return "Secret(***)"

    def output(self) -> pulumi.Output[str]:
        return pulumi.Output.secret(self.value)


@dataclass(frozen=True)
class Duration:
    """A duration as written in config (``48h``) and in whole seconds."""

    text: str
    seconds: int

    @property
    def vault_ttl(self) -> str:
        """As Vault takes a TTL: whole seconds."""
        return f"{self.seconds}s"
