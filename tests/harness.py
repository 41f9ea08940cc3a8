"""Run the whole program under Pulumi mocks and record what it registers.

``render(cfg)`` returns every resource with its resolved inputs, the URNs each
one waits for (what the engine would order on), which provider it uses, and the
stack outputs with their secretness.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pulumi
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import settings
from pulumi.runtime.rpc import UNKNOWN
from pulumi.runtime.sync_await import _sync_await

from linkerd_vault_pki.x509 import self_signed
from stack import config as config_module

# What of the Pulumi SDK this harness relies on beyond its documented testing API
# (``set_mocks``, ``Mocks``, ``runtime.test``): an SDK upgrade that changes any of these breaks
# the harness, and ``tests/unit/test_harness.py`` says which, by name.
SDK_INTERNALS = {
    "pulumi.runtime.mocks.MockMonitor": "subclassed to record every RegisterResource and ReadResource request",
    "MockMonitor.resources": "the monitor's map of URN to registration, holding each resource's resolved state",
    "pulumi.runtime.settings.set_root_resource": "reset between renders, so each render starts a new stack",
    "pulumi.runtime.sync_await._sync_await": "resolves export Outputs after the program has run",
    "RegisterResourceRequest: the resource options recorded": (
        "the resource options the engine orders and replaces on"
    ),
    "ReadResourceRequest.id": "the id a `.get` reads",
    "MockCallArgs.token / args": "answer the engine's readStackOutputs (the stack's last outputs) in `call`",
}

PROJECT = "linkerd-vault-pki"
CONTAINER_IP = "172.28.0.3"
ROLE_ID = "6f1f7a0c-role-id"
SECRET_ID = "c0ffee00-secret-id"
CLIENT_TOKEN = "hvs.client-token-value"
TOKEN_STARTED = "2026-11-28T00:00:00Z"

os.environ.setdefault("PULUMI_ERROR_OUTPUT_STRING", "true")


def make_ca(
    common_name: str = "root.linkerd.cluster.local",
    days: int = 90,
    key: Any = None,
    ca: bool = True,
    start: dt.datetime | None = None,
) -> tuple[str, Any]:
    """A self-signed certificate made for the test at run time (nothing committed), from ``start`` for ``days``."""
    now = start or dt.datetime(2026, 11, 28, tzinfo=dt.UTC)
    return self_signed(common_name, now, dt.timedelta(days=days), key=key, ca=ca)


ANCHOR_PEM, ANCHOR_KEY = make_ca()
# The CA of a cluster's API server (k3s makes one per cluster), as its kubeconfig carries it.
CLUSTER_CA_PEM, _ = make_ca(common_name="k3s-server-ca")
FAKE_KUBECONFIG = (
    "apiVersion: v1\nkind: Config\n"
    "clusters: [{name: k3d-pki-cluster, cluster: {server: 'https://127.0.0.1:6550', "
    f"certificate-authority-data: {base64.b64encode(CLUSTER_CA_PEM.encode()).decode()}}}}}]\n"
    "users: [{name: admin, user: {client-key-data: c2VjcmV0}}]\n"
    "contexts: [{name: k3d-pki-cluster, context: {cluster: k3d-pki-cluster, user: admin}}]\n"
    "current-context: k3d-pki-cluster\n"
)


@dataclass
class Registration:
    type: str
    name: str
    urn: str
    inputs: dict
    provider: str | None
    dependencies: list[str]
    parent: str
    secret_paths: set[str] = field(default_factory=set)  # dotted input paths sent as secrets
    delete_before_replace: bool = False
    replace_on_changes: list[str] = field(default_factory=list)
    ignore_changes: list[str] = field(default_factory=list)
    protect: bool = False  # the registration request's protect, as the engine receives it
    read_id: str | None = None  # set for a resource read (``.get``), not managed
    aliases: list[str] = field(default_factory=list)  # the URNs it was known by, given as aliases

    def is_secret(self, path: str) -> bool:
        """True when the input at ``path`` (or a value enclosing it) was sent as a secret."""
        return any(path == p or path.startswith(p + ".") for p in self.secret_paths)


@dataclass
class Rendered:
    resources: list[Registration] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)
    secret_outputs: set[str] = field(default_factory=set)

    def of_type(self, token: str) -> list[Registration]:
        return [r for r in self.resources if r.type == token]

    def one(self, token: str, name_suffix: str = "") -> Registration:
        found = [r for r in self.of_type(token) if r.name.endswith(name_suffix)]
        assert len(found) == 1, f"expected one {token} named *{name_suffix}, found {[r.name for r in found]}"
        return found[0]

    def custom_resource(self, kind: str) -> Registration:
        found = [r for r in self.resources if r.type.startswith("kubernetes:") and r.type.endswith(f":{kind}")]
        assert len(found) == 1, f"expected one {kind}, found {[r.name for r in found]}"
        return found[0]

    def waits_for(self, resource: Registration, other: Registration) -> bool:
        """True when ``resource`` is ordered after ``other`` (directly or through others)."""
        by_urn = {r.urn: r for r in self.resources}
        seen: set[str] = set()
        stack = _upstream(resource)
        while stack:
            urn = stack.pop()
            if urn == other.urn:
                return True
            if urn in seen or urn not in by_urn:
                continue
            seen.add(urn)
            stack.extend(_upstream(by_urn[urn]))
        return False

    @property
    def type_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for r in self.resources:
            counts[r.type] = counts.get(r.type, 0) + 1
        return counts


def _upstream(resource: Registration) -> list[str]:
    """URNs the engine orders ``resource`` after: its dependencies and its provider."""
    provider = [resource.provider.rsplit("::", 1)[0]] if resource.provider else []
    return list(resource.dependencies) + provider


def _per_role(value: str, role_name: str) -> str:
    return value if role_name == "cert-manager" else f"{value}-{role_name}"


class RecordingMocks(pulumi.runtime.Mocks):
    """Computed outputs shaped like the real providers' for the fields the program reads."""

    def __init__(
        self,
        anchor_pem: str,
        deployed: dict[str, Any] | None = None,
        read_failures: int = 0,
        stacks: dict[str, StackOutputs] | None = None,
    ):
        self.anchor_pem = anchor_pem
        self.deployed = deployed or {}  # the outputs of the stack's last `up`, as readStackOutputs returns them
        self.read_failures = read_failures  # how many reads of them fail first (a backend mid-write)
        self.reads = 0
        self.stacks = stacks or {}  # other stacks on the backend, by full name: what a StackReference reads
        self.preview = False  # set by render_program: a preview's computed outputs are unknown

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        state = dict(args.inputs)
        computed: dict[str, Callable[[dict], Any]] = {
            "vault:pkiSecret/secretBackendRootCert:SecretBackendRootCert": lambda s: {
                "certificate": self.anchor_pem,
                "issuingCa": self.anchor_pem,
                "serialNumber": "1a:2b",
                "issuerId": f"issuer-id-{s['issuerName']}",
            },
            "vault:pkiSecret/secretBackendKey:SecretBackendKey": lambda s: {"keyId": f"key-id-{s['keyName']}"},
            "docker:index/remoteImage:RemoteImage": lambda s: {"imageId": f"{s['name']}@sha256:{'0' * 64}"},
            "docker:index/container:Container": lambda s: {
                "networkDatas": [{"ipAddress": CONTAINER_IP, "networkName": "pki-network"}],
            },
            "command:local:Command": lambda s: {"stdout": FAKE_KUBECONFIG, "stderr": ""},
            # A listed cluster's role (cert-manager-<name>) gets values of its own.
            "vault:appRole/authBackendRole:AuthBackendRole": lambda s: {"roleId": _per_role(ROLE_ID, s["roleName"])},
            "vault:appRole/authBackendRoleSecretId:AuthBackendRoleSecretId": lambda s: {
                "secretId": _per_role(SECRET_ID, s["roleName"]),
                "accessor": "acc",
            },
            "vault:index/token:Token": lambda s: {
                "clientToken": f"{CLIENT_TOKEN}-{args.name}" if args.name != "linkerd-pki-token" else CLIENT_TOKEN,
                "leaseStarted": TOKEN_STARTED,
                "leaseDuration": 767 * 3600,
            },
            "vault:index/mount:Mount": lambda s: {"accessor": "pki_accessor"},
            "vault:index/authBackend:AuthBackend": lambda s: {"accessor": "approle_accessor"},
        }
        if args.typ == "pulumi:pulumi:StackReference":
            other = self._stack(state["name"])
            return state["name"], {**state, "outputs": other.outputs, "secretOutputNames": sorted(other.secret)}
        if args.typ in computed:
            outputs = computed[args.typ](state)
            # As the engine previews a create: the inputs as given, every computed output unknown.
            state.update({k: UNKNOWN for k in outputs} if self.preview and not args.resource_id else outputs)
        if args.typ.startswith("kubernetes:") and "metadata" in state:
            state.setdefault("metadata", {}).setdefault("name", args.name)
        return f"{args.name}_id", state

    def call(self, args: pulumi.runtime.MockCallArgs):
        if args.token == "pulumi:pulumi:readStackOutputs":
            if args.args["name"] != f"organization/{PROJECT}/dev":
                other = self._stack(args.args["name"])
                return {"name": args.args["name"], "outputs": other.outputs, "secretOutputNames": sorted(other.secret)}
            self.reads += 1
            if self.reads <= self.read_failures:
                raise RuntimeError("failed to load checkpoint: EOF")
            return {"name": args.args["name"], "outputs": self.deployed, "secretOutputNames": []}
        return {}

    def _stack(self, name: str) -> StackOutputs:
        if name not in self.stacks:
            # What the engine says of a stack that does not exist.
            raise RuntimeError(f"unknown stack {name!r}")
        return self.stacks[name]


@dataclass
class StackOutputs:
    """Another stack's last outputs, as the engine hands them to a StackReference (and which are secret)."""

    outputs: dict[str, Any]
    secret: set[str] = field(default_factory=set)

    @classmethod
    def of(cls, rendered: Rendered) -> StackOutputs:
        """What a stack rendered here would leave on the backend after its `up`."""
        return cls(dict(rendered.outputs), set(rendered.secret_outputs))


def unknown(value: Any) -> bool:
    """True for a value the engine does not know yet (a preview's computed output)."""
    return value == UNKNOWN or type(value).__name__ == "Unknown"


SECRET_SIG = "4dabf18193072939515e22adb298388d"


def _unwrap(value: Any, path: str, secret_paths: set[str]) -> Any:
    """Strip the wire format's secret envelopes, noting where they were."""
    if isinstance(value, dict):
        if value.get(SECRET_SIG) == "1b47061264138c4ac30d75fd1eb44270":
            secret_paths.add(path)
            return _unwrap(value.get("value"), path, secret_paths)
        return {k: _unwrap(v, f"{path}.{k}" if path else k, secret_paths) for k, v in value.items()}
    if isinstance(value, list):
        return [_unwrap(v, f"{path}.{i}" if path else str(i), secret_paths) for i, v in enumerate(value)]
    return value


class RecordingMonitor(pulumi_mocks.MockMonitor):
    def __init__(self, mocks: RecordingMocks):
        super().__init__(mocks)
        self.registrations: list[Registration] = []

    def RegisterResource(self, request):
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            registered = self.resources[response.urn]
            secret_paths: set[str] = set()
            self.registrations.append(
                Registration(
                    type=request.type,
                    name=request.name,
                    urn=response.urn,
                    inputs=_unwrap(registered.state, "", secret_paths),
                    secret_paths=secret_paths,
                    delete_before_replace=request.deleteBeforeReplace,
                    replace_on_changes=list(request.replaceOnChanges),
                    ignore_changes=list(request.ignoreChanges),
                    protect=request.protect,
                    provider=request.provider or None,
                    dependencies=list(request.dependencies),
                    parent=request.parent,
                    aliases=[*request.aliasURNs, *(a.urn for a in request.aliases if a.urn)],
                )
            )
        return response

    def ReadResource(self, request):
        response = super().ReadResource(request)
        self.registrations.append(
            Registration(
                type=request.type,
                name=request.name,
                urn=response.urn,
                inputs={},
                provider=request.provider or None,
                dependencies=list(request.dependencies),
                parent=request.parent,
                read_id=request.id,
            )
        )
        return response


def issued_by(ca_pem: str, ca_key: Any, common_name: str = "identity.linkerd.cluster.local", hours: int = 48) -> str:
    """An identity issuer (a CA) signed by ``ca_pem``'s key, made at run time."""
    ca = x509.load_pem_x509_certificate(ca_pem.encode())
    key = ec.generate_private_key(ec.SECP256R1())
    start = ca.not_valid_before_utc
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(hours=hours))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def quiet_cluster_stand_in(deployed: dict[str, Any]):
    """A stand-in for the live cluster the rotation's gates read (linkerd_vault_pki/gates.py, ``read_cluster``) under
    mocks.

    A cluster where the last `up` went through and nothing of Linkerd's runs: the trust roots ConfigMap holds
    every anchor that `up` deployed, no pod is meshed, and the identity issuer is signed by ``ANCHOR_KEY``
    (the mocks' anchor). The gates' own decisions are tested against fake clusters in tests/unit/test_gates.py
    and against the real API server at L2.5; this only lets a program test reach the registrations.
    """
    from linkerd_vault_pki import gates, mesh
    from linkerd_vault_pki.names import BUNDLE_KEY

    pems = [str(a.get("pem", "")) for a in (deployed.get("trustAnchors") or {}).values()]
    roots = mesh.Roots.from_configmap({"data": {BUNDLE_KEY: "".join(pems)}})
    issuer = x509.load_pem_x509_certificate(issued_by(ANCHOR_PEM, ANCHOR_KEY).encode())
    return lambda _kubeconfig, _context: gates.ClusterView(pods=[], roots=roots, issuer=issuer)


def render(
    cfg: config_module.StackConfig,
    preview: bool = False,
    anchor_pem: str = ANCHOR_PEM,
    deployed: dict[str, Any] | None = None,
    partial: Rendered | None = None,
    read_failures: int = 0,
    stacks: dict[str, StackOutputs] | None = None,
    cluster: Callable[[str, str | None], Any] | None = None,
) -> Rendered:
    """Run ``program.run(cfg)`` under mocks; ``deployed``: the outputs of the stack's last `up`, whose first
    ``read_failures`` reads fail; ``stacks``: other stacks' outputs, by full name."""
    from stack import program

    return render_program(
        lambda: program.run(cfg),
        preview=preview,
        anchor_pem=anchor_pem,
        deployed=deployed,
        partial=partial,
        read_failures=read_failures,
        stacks=stacks,
        cluster=cluster,
    )


def render_program(
    run: Callable[[], None],
    preview: bool = False,
    anchor_pem: str = ANCHOR_PEM,
    partial: Rendered | None = None,
    deployed: dict[str, Any] | None = None,
    read_failures: int = 0,
    stacks: dict[str, StackOutputs] | None = None,
    mocks: RecordingMocks | None = None,
    cluster: Callable[[str, str | None], Any] | None = None,
) -> Rendered:
    """Run any program callable under mocks; ``partial`` receives what was registered even if it raises.

    ``cluster``: what the rotation's gates read of a live cluster (default: ``quiet_cluster_stand_in``).

    ``mocks``: another answerer of the registrations (the L2 applier's, which applies them to OpenBao)."""
    mocks = mocks or RecordingMocks(anchor_pem, deployed, read_failures, stacks)
    mocks.preview = preview
    monitor = RecordingMonitor(mocks)
    settings.set_root_resource(None)  # type: ignore[arg-type]
    pulumi.runtime.set_mocks(
        mocks, project=PROJECT, stack="dev", preview=preview, monitor=monitor, organization="organization"
    )

    rendered = partial if partial is not None else Rendered()
    rendered.resources = monitor.registrations
    exported: dict[str, Any] = {}
    original_export = pulumi.export
    pulumi.export = lambda name, value: exported.__setitem__(name, pulumi.Output.from_input(value))
    from linkerd_vault_pki import gates

    original_read = gates.read_cluster
    gates.read_cluster = cluster or quiet_cluster_stand_in(mocks.deployed)
    try:
        pulumi.runtime.test(run)()
    finally:
        pulumi.export = original_export
        gates.read_cluster = original_read

    for key, output in exported.items():
        rendered.outputs[key] = _sync_await(output.future())
        if _sync_await(output.is_secret()):
            rendered.secret_outputs.add(key)
    return rendered


def cfg(**overrides: str) -> config_module.StackConfig:
    """A valid config for the laptop stack, with overrides (secrets marked as such)."""
    creates = overrides.get("vaultSide", "create") == "create"
    raw: dict[str, str] = {"vaultToken": "root-token-for-tests"} if creates else {}
    raw.update(overrides)
    return config_module.parse(raw, secret_keys=SECRET_KEYS)


SECRET_KEYS = {"vaultToken", "kubeconfig", "clusters", "approleSecretId", "issuerToken", "imagePullSecret"}


def parse_with_token(**raw: str) -> config_module.StackConfig:
    """``raw`` with a Vault token, parsed with the token and a kubeconfig marked secret."""
    return config_module.parse({"vaultToken": "t", **raw}, secret_keys={"vaultToken", "kubeconfig"})


def refused(**raw: str) -> list[str]:
    """What ``parse_with_token(**raw)`` is refused for; it must be refused, ending the program without a traceback."""
    try:
        parse_with_token(**raw)
    except config_module.ConfigError as err:
        assert isinstance(err, pulumi.RunError), "config errors must end the program without a traceback"
        return err.problems
    raise AssertionError(f"accepted: {raw}")


def config_problems(**raw: str) -> list[str]:
    """What ``cfg(**raw)`` refuses, problem by problem; [] when it accepts."""
    try:
        cfg(**raw)
    except config_module.ConfigError as err:
        return err.problems
    return []


EXISTING_KUBECONFIG = (
    "apiVersion: v1\nkind: Config\nclusters: [{name: prod, cluster: {server: https://k8s.example.com}}]\n"
    "users: [{name: admin, user: {token: not-a-real-token}}]\n"
    "contexts: [{name: prod-admin, context: {cluster: prod, user: admin}}]\ncurrent-context: prod-admin\n"
)

MODES = {
    "k3d+docker": {},
    "k3d+external": {"vaultMode": "external", "vaultAddress": "https://vault.example.com"},
    "existing+external": {
        "clusterMode": "existing",
        "kubeconfig": EXISTING_KUBECONFIG,
        "vaultMode": "external",
        "vaultAddress": "https://vault.example.com",
    },
    "existing+docker": {
        "clusterMode": "existing",
        "kubeconfig": EXISTING_KUBECONFIG,
        "vaultClusterAddress": "http://192.168.1.20:8200",
    },
    "platform": {  # a platform cluster: cert-manager and trust-manager there, Linkerd installed by another tool
        "clusterMode": "existing",
        "kubeconfig": EXISTING_KUBECONFIG,
        "vaultMode": "external",
        "vaultAddress": "https://vault.example.com",
        "certManager": "existing",
        "trustNamespace": "platform-certs",
        "linkerd": "skip",
    },
    "vault-only+external": {
        "clusterMode": "none",
        "vaultMode": "external",
        "vaultAddress": "https://vault.example.com",
    },
}

# The cluster-only stacks: the Vault side made by a security team (provided), or by a Vault-only stack of
# this project (reference: VAULT_ONLY_STACK, rendered here with two consumers).
VAULT_ONLY_STACK = "organization/linkerd-vault-pki/pki"
MODES["cluster-only+provided"] = {
    "clusterMode": "existing",
    "kubeconfig": EXISTING_KUBECONFIG,
    "vaultSide": "provided",
    "vaultClusterAddress": "https://vault.example.com",
    "signPath": "pki/issuer/linkerd-trust-anchor/sign-intermediate",
    "anchorPems": json.dumps({"linkerd-trust-anchor": ANCHOR_PEM}),
    "approleRoleId": "handed-over-role-id",
    "approleSecretId": "handed-over-secret-id",
}
MODES["cluster-only+reference"] = {
    "clusterMode": "existing",
    "kubeconfig": EXISTING_KUBECONFIG,
    "vaultSide": "reference",
    "vaultStack": "pki",
    "vaultConsumer": "east",
}


# Kubernetes auth (credential kubernetes): each cluster's API server as Vault reaches it, and its CA.
_CA_DATA = base64.b64encode(CLUSTER_CA_PEM.encode()).decode()
EXISTING_KUBECONFIG_WITH_CA = EXISTING_KUBECONFIG.replace(
    "{server: https://k8s.example.com}", f"{{server: https://k8s.example.com, certificate-authority-data: {_CA_DATA}}}"
)
KUBERNETES_HOST = "https://k8s.example.com:6443"
KUBERNETES_CONSUMERS = json.dumps(
    [
        {"name": name, "kubernetesHost": f"https://{name}.k8s.example.com:6443", "kubernetesCaCert": CLUSTER_CA_PEM}
        for name in ("east", "west")
    ]
)
MODES["k3d+docker+kubernetes"] = {"credential": "kubernetes"}
MODES["existing+external+kubernetes"] = {
    **MODES["existing+external"],
    "kubeconfig": EXISTING_KUBECONFIG_WITH_CA,
    "credential": "kubernetes",
    "kubernetesHost": KUBERNETES_HOST,
}
MODES["vault-only+kubernetes"] = {
    **MODES["vault-only+external"],
    "credential": "kubernetes",
    "consumers": KUBERNETES_CONSUMERS,
}
MODES["cluster-only+provided+kubernetes"] = {
    **{k: v for k, v in MODES["cluster-only+provided"].items() if not k.startswith("approle")},
    "credential": "kubernetes",
    "kubernetesAuthMount": "kubernetes-east",
}
MODES["cluster-only+reference+kubernetes"] = {**MODES["cluster-only+reference"], "vaultStack": "pki-kubernetes"}
# A mirror: every image from one registry (a path prefix under it), every chart from an OCI mirror, a pull secret.
MIRROR = "mirror.example.com:5000/upstream"
PULL_PASSWORD = "robot-password-for-tests"
DOCKERCONFIG = json.dumps(
    {"auths": {"mirror.example.com:5000": {"auth": base64.b64encode(f"robot:{PULL_PASSWORD}".encode()).decode()}}}
)
MIRRORED = {
    "imageRegistry": MIRROR,
    "imagePullSecret": DOCKERCONFIG,
    "chartRepository": "oci://mirror.example.com:5000/charts",
}
MODES["k3d+docker+mirror"] = dict(MIRRORED)
MODES["platform+mirror"] = {
    **MODES["existing+external"],
    **MIRRORED,
    "chartRepository": "https://charts.example.com/all",
}
VAULT_ONLY_KUBERNETES_STACK = "organization/linkerd-vault-pki/pki-kubernetes"


def vault_only_stack(**overrides: str) -> StackOutputs:
    """The outputs a Vault-only stack with consumers east and west leaves on the backend."""
    return StackOutputs.of(render(cfg(**{**MODES["vault-only+external"], "consumers": "[east, west]", **overrides})))


@functools.cache
def _vault_only_stack_of_the_modes() -> StackOutputs:
    return vault_only_stack()  # rendered once: every reference-mode render reads the same outputs


@functools.cache
def _vault_only_kubernetes_stack() -> StackOutputs:
    return StackOutputs.of(render(cfg(**MODES["vault-only+kubernetes"])))


def mode_stacks(mode: str) -> dict[str, StackOutputs] | None:
    if mode == "cluster-only+reference":
        return {VAULT_ONLY_STACK: _vault_only_stack_of_the_modes()}
    if mode == "cluster-only+reference+kubernetes":
        return {VAULT_ONLY_KUBERNETES_STACK: _vault_only_kubernetes_stack()}
    return None


def render_mode(mode: str, **overrides: Any) -> Rendered:
    """A mode of MODES rendered, with the other stacks it reads."""
    settings = {k: v for k, v in overrides.items() if isinstance(v, str) or v is None}
    options = {k: v for k, v in overrides.items() if k not in settings}
    raw = {k: v for k, v in {**MODES[mode], **settings}.items() if v is not None}  # None: the key left out
    return render(cfg(**raw), stacks=mode_stacks(mode), **options)
