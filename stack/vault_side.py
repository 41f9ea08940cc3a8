"""What the cluster side consumes of Vault's side, and the two ways a cluster-only stack gets it.

A stack with ``vaultSide: create`` makes the Vault side itself (``linkerd_vault_pki/vault_pki.py``).
A cluster-only stack consumes one that exists (docs/design.md, "Where the Vault side comes from"):

- ``reference``: a Vault-only stack of this project (``clusterMode: none``) made it; its outputs are
  read through a ``StackReference``, the credential (a secret output) staying a secret;
- ``provided``: a security team made it by hand and handed over a sign path, the anchors' PEMs and
  a credential, all in config.

Neither imports ``pulumi_vault`` or registers a Vault resource. Both keep the rotation's order from
the cluster's side: the anchors and the signing anchor are what the Vault side says now, and a step
this cluster's bundle has not been through (a switch to an anchor it never carried) is refused
before anything is registered.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import pulumi

from linkerd_vault_pki import credential as credentials
from linkerd_vault_pki import x509
from linkerd_vault_pki.credential import VaultCredential
from stack import rotation
from stack.config import ConfigError, PkiConfig, StackConfig
from stack.rotation import Rotation

# What a Vault-only stack must export for a cluster stack to consume it.
REFERENCED_OUTPUTS = (rotation.OUTPUT, "trustAnchors", "signPath", "vaultClusterAddress", "credentialKind")


@dataclass
class VaultEndpoint:
    """Where the Vault side is reached: by Pulumi on the operator's machine, and by the cluster's workloads."""

    address: pulumi.Output[str]
    cluster_address: pulumi.Output[str]


@dataclass
class VaultSide:
    """The Vault side as the cluster side uses it, whoever made it."""

    source: str
    """create, reference or provided."""
    cluster_address: pulumi.Output[str]
    """Where the cluster's cert-manager reaches Vault."""
    sign_path: pulumi.Output[str]
    """The one path the credential may sign at."""
    anchors: dict[str, pulumi.Output[str]]
    """Every anchor's public certificate by name (plain names: they name the bundle's sources)."""
    pki: PkiConfig
    """The issuer's lifetimes, the anchors' names and which one signs."""
    credentials: dict[str, VaultCredential]
    """The credential of each cluster of this stack, by its key ("" for the stack's one cluster)."""
    known_pems: dict[str, str] = dataclasses.field(default_factory=dict)
    """The anchors' PEMs as plain text where they are known before anything is registered (config, or the
    Vault-only stack's last outputs): what the expiry check reads."""

    @property
    def signing_pem(self) -> pulumi.Output[str]:
        return self.anchors[self.pki.signing_anchor]

    def anchor_facts(self) -> dict[str, pulumi.Output[x509.AnchorFacts]]:
        return {name: pem.apply(x509.anchor_facts) for name, pem in self.anchors.items()}


def read_stack_outputs(name: str) -> dict[str, Any]:
    """The last outputs of a stack on this backend, synchronously: what decides which resources exist.

    The engine's built-in ``readStackOutputs`` (what a StackReference reads). Only plain values are used
    from it; secrets come through a ``StackReference`` resource, which keeps them secret.
    """
    result = pulumi.runtime.invoke("pulumi:pulumi:readStackOutputs", {"name": name})
    return (result.value or {}).get("outputs") or {}


def full_stack_name(name: str) -> str:
    """``pki`` -> ``organization/<project>/pki``; ``project/pki`` -> ``organization/project/pki``."""
    parts = name.split("/")
    if len(parts) == 1:
        return f"{pulumi.get_organization()}/{pulumi.get_project()}/{name}"
    if len(parts) == 2:
        return f"{pulumi.get_organization()}/{name}"
    return name


def check_rotation(deployed: Rotation | None, wanted: Rotation, where: str) -> str:
    """The phase this `up` is; ConfigError for a step the cluster's bundle has not been through."""
    problems = rotation.problems(deployed, wanted)
    if problems:
        raise ConfigError(f"{where}{p}" for p in problems)
    return rotation.phase(deployed, wanted)


def provided(cfg: StackConfig, deployed: Rotation | None) -> VaultSide:
    """A hand-made Vault side: everything from config."""
    side = cfg.vault_side
    check_rotation(deployed, Rotation(cfg.pki.anchors, cfg.pki.signing_anchor), "")
    if cfg.credential.kind == "approle":
        assert side.role_id is not None and side.secret_id is not None  # required by the config rules
        login: VaultCredential = credentials.AppRoleLogin(
            mount=cfg.credential.approle_mount, role_id=side.role_id, secret_id=side.secret_id.output()
        )
    elif cfg.credential.kind == "kubernetes":
        # Nothing handed over but names: the security team's mount and role, bound to our ServiceAccount.
        login = credentials.KubernetesLogin(
            mount=cfg.credential.kubernetes_mount,
            role=cfg.credential.kubernetes_role,
            namespace=cfg.cert_manager.namespace,
        )
    else:
        assert side.token is not None
        login = credentials.TokenLogin(token=side.token.output(), expires_at="")
    return VaultSide(
        source="provided",
        cluster_address=pulumi.Output.from_input(cfg.vault.cluster_address or ""),
        sign_path=pulumi.Output.from_input(side.sign_path or ""),
        anchors={name: pulumi.Output.from_input(pem) for name, pem in side.anchor_pems},
        pki=cfg.pki,
        credentials={"": login},
        known_pems=dict(side.anchor_pems),
    )


def referenced(cfg: StackConfig, deployed: Rotation | None) -> VaultSide:
    """A Vault-only stack's Vault side, read through a StackReference."""
    side = cfg.vault_side
    assert side.stack is not None  # required by the config rules
    name = full_stack_name(side.stack)
    try:
        outputs = read_stack_outputs(name)
    except Exception:
        # The SDK fails the run on a failed invoke whatever is caught here: say which key to look at.
        pulumi.log.error(
            f"vaultStack: could not read the stack {name}; check the name (organization/project/stack) and that "
            "it is on this backend and has been `up`ped"
        )
        raise
    missing = [key for key in REFERENCED_OUTPUTS if key not in outputs]
    if missing:
        raise ConfigError(
            [
                f"vaultStack: {name} has no output {', '.join(missing)}: name a Vault-only stack of this project "
                "(clusterMode none) that has been `up`ped"
            ]
        )
    facts, secret_key = _consumer_facts(outputs, side.consumer, name)
    wanted = Rotation.from_output(outputs[rotation.OUTPUT])
    if wanted is None:
        raise ConfigError([f"vaultStack: {name}'s {rotation.OUTPUT} output is not a list of anchors and a signer"])
    check_rotation(deployed, wanted, f"vaultStack: {name} has moved on since this cluster's last `up`: ")

    ref = pulumi.StackReference("vault-side", name)
    anchors = {
        anchor: ref.require_output("trustAnchors").apply(lambda t, a=anchor: t[a]["pem"]) for anchor in wanted.anchors
    }
    cluster_address = ref.require_output("vaultClusterAddress")
    kind = str(outputs["credentialKind"])
    keys = credentials.KINDS[kind].SECRET_KEYS
    if secret_key is None or not keys:  # flat, or a credential with no secret part (Kubernetes auth)
        secret = pulumi.Output.all(*(ref.require_output(k) for k in keys)).apply(
            lambda values: dict(zip(keys, values, strict=True))
        )
    else:
        secret = ref.require_output("consumerSecrets").apply(lambda s, c=secret_key: s[c])
    login = credentials.from_outputs(kind, facts, secret)
    bound = login.bound_namespace()  # Kubernetes auth: the one namespace the Vault side's role binds
    if bound is not None and bound != cfg.cert_manager.namespace:
        raise ConfigError(
            [
                f"trustNamespace: {cfg.cert_manager.namespace} is not where {name}'s Kubernetes auth role expects "
                f"cert-manager ({bound}): set trustNamespace to {bound}, or that consumer's trustNamespace to "
                f"{cfg.cert_manager.namespace}"
            ]
        )
    return VaultSide(
        source="reference",
        cluster_address=cluster_address,
        sign_path=ref.require_output("signPath"),
        anchors=anchors,
        pki=dataclasses.replace(cfg.pki, anchors=wanted.anchors, signing_anchor=wanted.signing),
        credentials={"": login},
        known_pems=anchor_pems_of(outputs.get("trustAnchors")),
    )


def anchor_pems_of(listed: Any) -> dict[str, str]:
    """Each anchor's PEM from a stack's ``trustAnchors`` output, where it is there and plain."""
    if not isinstance(listed, dict):
        return {}
    return {name: a["pem"] for name, a in listed.items() if isinstance(a, dict) and isinstance(a.get("pem"), str)}


def _consumer_facts(outputs: dict[str, Any], consumer: str | None, name: str) -> tuple[dict[str, Any], str | None]:
    """This cluster's credential facts in the Vault-only stack, and its key in ``consumerSecrets`` (None: flat)."""
    declared = outputs.get("consumers") or {}
    kind = str(outputs.get("credentialKind"))
    if kind not in credentials.KINDS:
        raise ConfigError(
            [f"vaultStack: {name} exports credentialKind {kind!r}, not one of {', '.join(credentials.KINDS)}"]
        )
    if consumer is None:
        if declared:
            raise ConfigError(
                [
                    f"vaultConsumer: is required: {name} declares consumers ({', '.join(sorted(declared))}), "
                    "each with a credential of its own; name this cluster's"
                ]
            )
        fact_keys = credentials.KINDS[kind].FACT_KEYS
        missing = [k for k in fact_keys if k not in outputs]
        if missing:
            raise ConfigError([f"vaultStack: {name} has no output {', '.join(missing)} for its {kind} credential"])
        return {k: outputs[k] for k in fact_keys}, None
    if consumer not in declared:
        have = ", ".join(sorted(declared)) or "none"
        raise ConfigError(
            [
                f"vaultConsumer: {consumer} is not one of the consumers {name} declares ({have}); add it to that "
                "stack's consumers and `up` it first"
            ]
        )
    return dict(declared[consumer]), consumer
