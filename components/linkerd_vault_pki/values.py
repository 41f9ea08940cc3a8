"""The value types the components take beside ``pulumi.Input``s: a secret string, a duration (and its grammar).

Plain values, so that a program reads them once (the stack's config does) and passes them on; no component
reads config.
"""

from __future__ import annotations

import re
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


# The one duration grammar of this project (the stack's config, the policy pack): hours, then minutes, then
# seconds, each at most once (``48h``, ``1h30m``, ``3600s``): the Go durations cert-manager and Vault read,
# without the units (ns, us, ms, fractions) no certificate lifetime needs.
DURATION = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


def parse_duration(text: str) -> Duration | None:
    """``text`` as a Duration; None when it is not one, or is zero."""
    match = DURATION.match(text.strip()) if text else None
    if not match or not any(match.groups()):
        return None
    hours, minutes, seconds = (int(g) if g else 0 for g in match.groups())
    total = hours * 3600 + minutes * 60 + seconds
    return Duration(text=text.strip(), seconds=total) if total > 0 else None


@dataclass(frozen=True)
class Duration:
    """A duration as written in config (``48h``) and in whole seconds."""

    text: str
    seconds: int

    @classmethod
    def parse(cls, text: str) -> Duration:
        """``Duration.parse("48h")``; a ValueError naming the grammar when ``text`` is not a duration."""
        parsed = parse_duration(text)
        if parsed is None:
            raise ValueError(f"{text!r} is not a duration: hours, then minutes, then seconds (48h, 1h30m, 3600s)")
        return parsed

    @property
    def vault_ttl(self) -> str:
        """As Vault takes a TTL: whole seconds."""
        return f"{self.seconds}s"
