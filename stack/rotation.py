"""Trust-anchor rotation as a change of config, one phase per `pulumi up`.

Linkerd's proxies trust what the bundle held when they started, so a rotation
must go in order, with proxies restarted between phases:

- **add**: a new anchor joins ``anchors`` (Vault generates it; the bundle carries both);
  the old one still signs.
- **switch**: ``signingAnchor`` names the new one; cert-manager re-issues the identity
  issuer under it.
- **retire**: the old anchor leaves ``anchors``: out of the bundle, out of Vault.

What the stack last deployed (its ``anchorRotation`` output) and what the config
asks for now decide the phase; a step that would break the mesh is refused
before anything is touched. A first `up` (nothing deployed) takes any valid set.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

OUTPUT = "anchorRotation"  # the stack output this module reads back at the next run


@dataclass(frozen=True)
class Rotation:
    anchors: tuple[str, ...]
    signing: str

    def as_output(self) -> dict[str, Any]:
        return {"anchors": list(self.anchors), "signing": self.signing}

    @classmethod
    def from_output(cls, value: Any) -> Rotation | None:
        """What a previous `up` exported; None when it exported nothing readable (a new stack)."""
        if not isinstance(value, Mapping):
            return None
        anchors, signing = value.get("anchors"), value.get("signing")
        if (
            not isinstance(anchors, list)
            or not all(isinstance(a, str) for a in anchors)
            or not isinstance(signing, str)
        ):
            return None
        return cls(tuple(anchors), signing)


def phase(deployed: Rotation | None, wanted: Rotation) -> str:
    """The phase this `up` carries out: first, none, add, switch, retire (also of an added anchor never
    switched to: a rotation called off), or unsafe."""
    if deployed is None:
        return "first"
    before, after = set(deployed.anchors), set(wanted.anchors)
    if before == after and deployed.signing == wanted.signing:
        return "none"
    if before == after:
        return "switch"
    if after > before and len(after - before) == 1 and deployed.signing == wanted.signing:
        return "add"
    if after < before and len(before - after) == 1 and deployed.signing == wanted.signing:
        return "retire"  # the retired anchor does not sign: signing is unchanged and in the new set
    return "unsafe"


def problems(deployed: Rotation | None, wanted: Rotation) -> list[str]:
    """Why this step would break the mesh; empty when it is one safe phase (or none)."""
    if phase(deployed, wanted) != "unsafe":
        return []
    assert deployed is not None
    before, after = set(deployed.anchors), set(wanted.anchors)
    added, removed = sorted(after - before), sorted(before - after)
    last = f"the last `up` deployed anchors [{', '.join(deployed.anchors)}], signing {deployed.signing}"
    found = []
    if deployed.signing in removed:
        found.append(
            f"anchors: removes {deployed.signing}, which signs the identity issuer now ({last}); "
            "switch signingAnchor to another anchor first, and retire it in a later `up`, once every "
            "proxy holds an issuer from the new anchor"
        )
    if wanted.signing not in before:
        found.append(
            f"signingAnchor: {wanted.signing} was not in the trust bundle of the last `up` ({last}); "
            "add it to anchors in one `up`, restart the meshed workloads so their proxies trust it, then switch"
        )
    if not found:
        steps = [f"adds {', '.join(added)}"] if added else []
        steps += [f"retires {', '.join(removed)}"] if removed else []
        steps += [f"switches signing to {wanted.signing}"] if wanted.signing != deployed.signing else []
        found.append(
            f"anchors: this `up` {' and '.join(steps)}: {len(steps)} phases of a rotation in one step ({last}); "
            "run one phase per `up` (add, switch, retire), restarting the meshed workloads between them"
        )
    return found
