"""Test doubles of Linkerd's control plane for L2.5, written from its code; never used by the program.

Linkerd's own identity service, proxy injector and images are served by no package registry, so they run only
in L3. What the rotation depends on is brought into L2.5 here, as stand-ins named for what they are:

- ``IdentityDouble``: Linkerd's identity service (linkerd/linkerd2 ``controller/cmd/identity`` and
  ``pkg/identity/service.go``). At its pod's start it loads the trust roots from ``linkerd-identity-trust-roots``
  (as the pod sees them then) and the issuer from ``linkerd-identity-issuer``; it watches the Secret, verifies a
  new issuer against its *startup* roots and takes it (event ``IssuerUpdated``) or keeps the one it holds (event
  ``IssuerUpdateSkipped``, "Skipping issuer update as certs could not be read from disk: failed to verify issuer
  credentials ..."), each recorded on the ``linkerd-identity`` Deployment; it certifies a workload's CSR for a
  ServiceAccount token (a TokenReview against the real API server) with a 24 h leaf (``issuanceLifetime``, with
  the 20 s clock skew allowance) from the issuer it holds.
- ``InjectorDouble``: the proxy injector (``controller/proxy-injector/webhook.go``), which reads its mounted
  copy of the roots on every admission and stamps the pod's proxy with them (``LINKERD2_PROXY_IDENTITY_
  TRUST_ANCHORS``) and with ``linkerd.io/trust-root-sha256``, their sha256sum (``charts/partials/templates/
  _metadata.tpl``). The kubelet refreshes that mounted copy only after its sync period: ``sync_seconds``.
- ``KubeletDouble``: there is no kubelet at L2.5. It "runs" every pod the API server holds: marks it Running and
  Ready with a start time (so Deployments become available and Helm's wait ends), and starts an identity double
  for each new identity pod and refreshes the injector's roots, as the kubelet would start their containers.
- ``stand_in_control_plane_chart``: the linkerd-control-plane chart at its pinned name and version, in a local
  folder, whose Deployments are named and built as Linkerd's (the proxies of identity, destination and the
  injector read the roots from the ConfigMap: ``charts/partials/templates/_proxy.tpl`` with
  ``proxy.loadTrustBundleFromConfigMap``) and take the chart's ``podAnnotations``; and a stand-in linkerd-crds.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import http.server
import ipaddress
import json
import ssl
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from cryptography.x509.verification import PolicyBuilder, Store

from linkerd_vault_pki import charts, names
from linkerd_vault_pki.x509 import issued_by
from tests.integration.kube import Api, KubeError, key_pem_bytes, make_certificate, pem_bytes
from tests.integration.openbao import free_port

NS = names.LINKERD_NAMESPACE
ROOTS = f"/api/v1/namespaces/{NS}/configmaps/{names.BUNDLE_NAME}"
ISSUER = f"/api/v1/namespaces/{NS}/secrets/{names.CERTIFICATE_NAME}"
TRUST_DOMAIN = "cluster.local"
ISSUANCE_LIFETIME = dt.timedelta(hours=24)  # identity.issuer.issuanceLifetime's default
CLOCK_SKEW = dt.timedelta(seconds=20)  # identity.issuer.clockSkewAllowance's default
PROXY_IMAGE = "stand-in.invalid/linkerd/proxy"  # never pulled: no kubelet


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _stamp(when: dt.datetime) -> str:
    return when.strftime(names.RFC3339)


def control_plane_deployments() -> list[dict[str, Any]]:
    """identity, destination and proxy-injector as Linkerd's chart names and labels them, one replica each."""
    found = []
    for component in ("identity", "destination", "proxy-injector"):
        labels = {names.COMPONENT_LABEL: component, "linkerd.io/control-plane-ns": NS}
        proxy_env = {
            "name": names.PROXY_TRUST_ENV,
            "valueFrom": {"configMapKeyRef": {"name": names.BUNDLE_NAME, "key": names.BUNDLE_KEY}},
        }
        found.append(
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": f"linkerd-{component}", "namespace": NS, "labels": labels},
                "spec": {
                    "replicas": 1,
                    "selector": {"matchLabels": labels},
                    "template": {
                        "metadata": {"labels": labels, "annotations": {}},
                        "spec": {
                            "automountServiceAccountToken": False,
                            "containers": [
                                {"name": component, "image": "stand-in.invalid/linkerd/controller"},
                                {
                                    "name": names.PROXY_CONTAINER,
                                    "image": PROXY_IMAGE,
                                    "env": [proxy_env],
                                },
                            ],
                        },
                    },
                },
            }
        )
    return found


def stand_in_control_plane_chart(folder: Path) -> None:
    """linkerd-crds and linkerd-control-plane at their pinned names and versions, stand-ins (see the module doc)."""
    crds, control_plane = charts.PINS["linkerd-crds"], charts.PINS["linkerd-control-plane"]
    for pin in (crds, control_plane):
        (folder / pin.name / "templates").mkdir(parents=True, exist_ok=True)
        (folder / pin.name / "Chart.yaml").write_text(
            f"apiVersion: v2\nname: {pin.name}\nversion: {pin.version}\n"
            "description: a stand-in for the pinned chart (tests/integration/linkerd_double.py)\n"
        )
    (folder / crds.name / "templates" / "record.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: linkerd-crds-stand-in\n"
        "  namespace: {{ .Release.Namespace }}\ndata:\n  chart: {{ .Chart.Name }}-{{ .Chart.Version }}\n"
    )
    (folder / control_plane.name / "values.yaml").write_text(
        yaml.safe_dump({"podAnnotations": {}, "standIn": {"deployments": control_plane_deployments()}})
    )
    # Like Linkerd's templates: podAnnotations go onto every control-plane pod template.
    (folder / control_plane.name / "templates" / "deployments.yaml").write_text(
        "{{- range .Values.standIn.deployments }}\n---\n"
        "{{- $d := deepCopy . }}\n"
        '{{- $_ := set $d.spec.template.metadata "annotations" (deepCopy ($.Values.podAnnotations | default dict)) }}\n'
        "{{ toYaml $d }}\n"
        "{{- end }}\n"
    )


def create_control_plane(api: Api) -> None:
    """Linkerd installed by another tool (``linkerd: skip``): the same Deployments, applied directly."""
    for deployment in control_plane_deployments():
        api.create(f"/apis/apps/v1/namespaces/{NS}/deployments", deployment)


def roll(api: Api, deployment: str, namespace: str = NS) -> None:
    """`kubectl rollout restart`: a new restartedAt annotation on the pod template."""
    api.request(
        "PATCH",
        f"/apis/apps/v1/namespaces/{namespace}/deployments/{deployment}",
        {"spec": {"template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": _stamp(_now())}}}}},
        content_type="application/merge-patch+json",
    )


def rolled_out(api: Api, deployments: tuple[str, ...] = names.CONTROL_PLANE_DEPLOYMENTS, namespace: str = NS) -> bool:
    """`kubectl rollout status`: every Deployment's new pods are ready and its old ones gone."""
    for name in deployments:
        found = api.find(f"/apis/apps/v1/namespaces/{namespace}/deployments/{name}")
        if found is None:
            return False
        status, want = found.get("status") or {}, found["spec"].get("replicas", 1)
        if not (
            status.get("observedGeneration", 0) >= found["metadata"]["generation"]
            and status.get("updatedReplicas") == want
            and status.get("replicas") == want
            and status.get("readyReplicas") == want
        ):
            return False
    return True


def _issuer_from_secret(secret: dict) -> tuple[list[x509.Certificate], Any]:
    data = secret.get("data") or {}
    chain = x509.load_pem_x509_certificates(base64.b64decode(data["tls.crt"]))
    key = serialization.load_pem_private_key(base64.b64decode(data["tls.key"]), password=None)
    return chain, key


@dataclass
class IdentityDouble:
    """One identity pod's service (see the module doc)."""

    api: Api
    pod: str
    roots: list[x509.Certificate]
    issuer: x509.Certificate
    key: Any
    version: str
    updates: list[str] = field(default_factory=list)  # IssuerUpdated / IssuerUpdateSkipped, in order
    lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def start(cls, api: Api, pod: str) -> IdentityDouble:
        text = api.get(ROOTS)["data"][names.BUNDLE_KEY]
        secret = api.get(ISSUER)
        chain, key = _issuer_from_secret(secret)
        roots = x509.load_pem_x509_certificates(text.encode())
        double = cls(api, pod, roots, chain[0], key, secret["metadata"]["resourceVersion"])
        if not double._verifies(chain[0]):  # identity's Initialize fails: the pod would crash-loop
            raise AssertionError(f"{pod}: the issuer does not verify against the roots identity starts with")
        return double

    def _verifies(self, issuer: x509.Certificate) -> bool:
        """creds.Crt.Verify(trustAnchors, expectedName): the issuer chains to a startup root."""
        return any(issued_by(issuer, root) for root in self.roots)

    def watch_once(self) -> None:
        """The issuer Secret changed on disk: take the new issuer, or skip it (``Service.Run``)."""
        secret = self.api.find(ISSUER)
        if secret is None or secret["metadata"]["resourceVersion"] == self.version:
            return
        self.version = secret["metadata"]["resourceVersion"]
        chain, key = _issuer_from_secret(secret)
        with self.lock:
            if chain[0].serial_number == self.issuer.serial_number:
                return
            if self._verifies(chain[0]):
                self.issuer, self.key = chain[0], key
                self._event("Normal", names.ISSUER_UPDATED, "Updated identity issuer")
            else:
                self._event(
                    "Warning",
                    names.ISSUER_UPDATE_SKIPPED,
                    "Skipping issuer update as certs could not be read from disk: failed to verify issuer "
                    f"credentials for 'identity.{NS}.{TRUST_DOMAIN}' with trust anchors: x509: certificate "
                    "signed by unknown authority",
                )

    def _event(self, kind: str, reason: str, message: str) -> None:
        self.updates.append(reason)
        now = _stamp(_now())
        self.api.create(
            f"/api/v1/namespaces/{NS}/events",
            {
                "apiVersion": "v1",
                "kind": "Event",
                "metadata": {"generateName": f"{names.IDENTITY_DEPLOYMENT}.", "namespace": NS},
                "involvedObject": {"kind": "Deployment", "name": names.IDENTITY_DEPLOYMENT, "namespace": NS},
                "reason": reason,
                "message": message,
                "type": kind,
                "firstTimestamp": now,
                "lastTimestamp": now,
                "source": {"component": "linkerd-identity"},
            },
        )

    def certify(self, token: str, namespace: str, service_account: str) -> list[x509.Certificate]:
        """``Certify``: review the token, check the CSR's name, issue a 24 h leaf; the chain a proxy sends."""
        review = self.api.create(
            "/apis/authentication.k8s.io/v1/tokenreviews",
            {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {"token": token}},
        )
        status = review.get("status") or {}
        if not status.get("authenticated"):
            raise PermissionError(f"authentication token could not be authenticated: {status.get('error')}")
        user = status["user"]["username"]  # system:serviceaccount:<ns>:<name>
        _, _, token_ns, token_sa = user.split(":")
        name = f"{token_sa}.{token_ns}.serviceaccount.identity.{NS}.{TRUST_DOMAIN}"
        if (token_ns, token_sa) != (namespace, service_account):
            raise PermissionError(f"requested identity did not match provided token: found={name}")
        key = ec.generate_private_key(ec.SECP256R1())
        now = _now()
        with self.lock:
            leaf = (
                x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
                .issuer_name(self.issuer.subject)
                .public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - CLOCK_SKEW)
                .not_valid_after(now + ISSUANCE_LIFETIME)
                .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(
                    x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
                    critical=False,
                )
                # Go's x509.CreateCertificate copies the parent's subject key id into the leaf's AKI.
                .add_extension(
                    x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), critical=False
                )
                .sign(self.key, hashes.SHA256())
            )
            return [leaf, self.issuer]


@dataclass
class InjectorDouble:
    """The proxy injector's admission (see the module doc): the roots it holds go into each pod it injects."""

    roots_text: str = ""

    def inject(self, pod: dict) -> dict:
        proxy = {
            "name": names.PROXY_CONTAINER,
            "image": PROXY_IMAGE,
            "env": [{"name": names.PROXY_TRUST_ENV, "value": self.roots_text}],
        }
        pod["spec"]["containers"].append(proxy)
        annotations = pod["metadata"].setdefault("annotations", {})
        annotations[names.INJECTED_ROOTS_SHA256] = hashlib.sha256(self.roots_text.encode()).hexdigest()
        return pod


class InjectorWebhook:
    """The injector double behind a real mutating admission webhook: the API server calls it for every pod created
    in a namespace labelled ``linkerd.io/inject: enabled`` (Linkerd's own webhook selects by the namespace's and
    the pod's annotations, ``controller/proxy-injector/webhook_config.go``; a label is what a selector can read),
    so the pods a Deployment's rollout makes are injected as Linkerd injects them. HTTPS on 127.0.0.1 only, with
    a CA of its own that the webhook configuration carries; ``close`` removes both."""

    NAME = "linkerd-proxy-injector-double"

    def __init__(self, api: Api, injector: InjectorDouble):
        self.api = api
        key = ec.generate_private_key(ec.SECP256R1())
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca = make_certificate("injector-double-ca", ca_key, None, ca=True)
        cert = make_certificate(
            "injector-double", key, (ca, ca_key), ca=False, sans=[x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
        )
        self._tmp = tempfile.TemporaryDirectory(prefix="lvp-injector-")
        (Path(self._tmp.name) / "tls.crt").write_bytes(pem_bytes(cert))
        (Path(self._tmp.name) / "tls.key").write_bytes(key_pem_bytes(key))
        port = free_port()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                review = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                request = review["request"]
                pod = request["object"]
                proxy = injector.inject({"metadata": {}, "spec": {"containers": []}})
                ops = [{"op": "add", "path": "/spec/containers/-", "value": proxy["spec"]["containers"][0]}]
                sha = proxy["metadata"]["annotations"][names.INJECTED_ROOTS_SHA256]
                if (pod.get("metadata") or {}).get("annotations"):
                    path = "/metadata/annotations/" + names.INJECTED_ROOTS_SHA256.replace("/", "~1")
                    ops.append({"op": "add", "path": path, "value": sha})
                else:
                    ops.append(
                        {"op": "add", "path": "/metadata/annotations", "value": {names.INJECTED_ROOTS_SHA256: sha}}
                    )
                answer = {
                    "apiVersion": "admission.k8s.io/v1",
                    "kind": "AdmissionReview",
                    "response": {
                        "uid": request["uid"],
                        "allowed": True,
                        "patchType": "JSONPatch",
                        "patch": base64.b64encode(json.dumps(ops).encode()).decode(),
                    },
                }
                body = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(Path(self._tmp.name) / "tls.crt", Path(self._tmp.name) / "tls.key")
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self._thread = threading.Thread(target=self.server.serve_forever, name="injector-webhook", daemon=True)
        self._thread.start()
        api.create(
            "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations",
            {
                "apiVersion": "admissionregistration.k8s.io/v1",
                "kind": "MutatingWebhookConfiguration",
                "metadata": {"name": self.NAME},
                "webhooks": [
                    {
                        "name": "injector-double.linkerd.io",
                        "clientConfig": {
                            "url": f"https://127.0.0.1:{port}/",
                            "caBundle": base64.b64encode(pem_bytes(ca)).decode(),
                        },
                        "rules": [
                            {"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"]}
                        ],
                        "namespaceSelector": {"matchLabels": {"linkerd.io/inject": "enabled"}},
                        "failurePolicy": "Fail",
                        "sideEffects": "None",
                        "admissionReviewVersions": ["v1"],
                    }
                ],
            },
        )

    def close(self) -> None:
        self.api.delete(f"/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/{self.NAME}")
        self.server.shutdown()
        self.server.server_close()
        self._tmp.cleanup()


def meshed_deployment(api: Api, namespace: str, name: str) -> None:
    """A Deployment in a namespace the injector webhook serves: its pods are injected when the ReplicaSet makes them."""
    if api.find(f"/api/v1/namespaces/{namespace}") is None:
        body = {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": namespace, "labels": {"linkerd.io/inject": "enabled"}},
        }
        api.create("/api/v1/namespaces", body)
    labels = {"app": name}
    api.create(
        f"/apis/apps/v1/namespaces/{namespace}/deployments",
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "automountServiceAccountToken": False,
                        "containers": [{"name": "app", "image": "stand-in.invalid/app"}],
                    },
                },
            },
        },
    )


def proxy_roots(pod: dict, roots_at_start: dict[str, str]) -> list[x509.Certificate]:
    """The roots a pod's proxy verifies peers with: its injected value, or the ConfigMap as it read it at start."""
    for container in pod["spec"]["containers"]:
        if container["name"] != names.PROXY_CONTAINER:
            continue
        for env in container.get("env", []):
            if env["name"] == names.PROXY_TRUST_ENV:
                text = env["value"] if "value" in env else roots_at_start[pod["metadata"]["uid"]]
                return x509.load_pem_x509_certificates(text.encode())
    raise AssertionError(f"{pod['metadata']['name']} has no proxy")


def verifies(chain: list[x509.Certificate], roots: list[x509.Certificate]) -> bool:
    """A peer proxy's check of a workload's chain (RFC 5280, as rustls/webpki does it)."""
    try:
        PolicyBuilder().store(Store(roots)).build_client_verifier().verify(chain[0], chain[1:])
    except Exception:
        return False
    return True


class KubeletDouble:
    """Runs every pod (see the module doc), in a thread of the test; ``stop`` ends it."""

    def __init__(self, api: Api, injector_sync_seconds: float = 60.0):
        self.api = api
        self.injector = InjectorDouble()
        self.injector_sync_seconds = injector_sync_seconds
        self.identities: dict[str, IdentityDouble] = {}  # by pod name, the running ones
        self.retired: list[IdentityDouble] = []
        self.roots_at_start: dict[str, str] = {}  # pod uid -> the roots ConfigMap when it started
        self.errors: list[str] = []
        self._pending_roots: tuple[str, float] | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="kubelet-double", daemon=True)

    def start(self) -> KubeletDouble:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    @property
    def identity(self) -> IdentityDouble:
        """The newest running identity."""
        if not self.identities:
            raise AssertionError("no identity pod runs")
        return list(self.identities.values())[-1]

    def skips(self) -> list[str]:
        return [
            u for d in [*self.retired, *self.identities.values()] for u in d.updates if u == names.ISSUER_UPDATE_SKIPPED
        ]

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
            except (KubeError, OSError, KeyError) as exc:  # a server restarting, an object mid-write
                self.errors.append(str(exc)[:300])
            self._stop.wait(0.25)

    def tick(self) -> None:
        pods = self.api.get("/api/v1/pods")["items"]
        roots = self.api.find(ROOTS)
        text = ((roots or {}).get("data") or {}).get(names.BUNDLE_KEY, "")
        live = set()
        for pod in pods:
            meta = pod["metadata"]
            live.add(meta["name"])
            if meta.get("deletionTimestamp") or (pod.get("status") or {}).get("startTime"):
                continue
            self._run(pod, text)
        for name in [n for n in self.identities if n not in live]:
            self.retired.append(self.identities.pop(name))
        for identity in list(self.identities.values()):
            identity.watch_once()
        # The injector's mounted copy of the roots follows the ConfigMap after the kubelet's sync period.
        if text and text != self.injector.roots_text:
            if self._pending_roots is None or self._pending_roots[0] != text:
                self._pending_roots = (text, time.monotonic())
            elif time.monotonic() - self._pending_roots[1] >= self.injector_sync_seconds:
                self.injector.roots_text = text

    def _run(self, pod: dict, roots_text: str) -> None:
        meta = pod["metadata"]
        component = (meta.get("labels") or {}).get(names.COMPONENT_LABEL)
        if component == "identity":
            if not roots_text or self.api.find(ISSUER) is None:
                return  # identity crash-loops until both are there: not Ready, not started
            self.identities[meta["name"]] = IdentityDouble.start(self.api, f"{meta['namespace']}/{meta['name']}")
        if component == "proxy-injector":
            self.injector.roots_text = roots_text  # a new pod mounts the ConfigMap as it is
            self._pending_roots = None
        self.roots_at_start[meta["uid"]] = roots_text
        now = _stamp(_now())
        ready = [
            {"type": kind, "status": "True", "lastTransitionTime": now}
            for kind in ("PodScheduled", "Initialized", "ContainersReady", "Ready")
        ]
        containers = [
            {"name": c["name"], "ready": True, "restartCount": 0, "image": c["image"], "imageID": "",
             "state": {"running": {"startedAt": now}}}
            for c in pod["spec"]["containers"]
        ]  # fmt: skip
        self.api.request(
            "PATCH",
            f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}/status",
            {"status": {"phase": "Running", "startTime": now, "conditions": ready, "containerStatuses": containers}},
            content_type="application/merge-patch+json",
        )

    # -- workloads -------------------------------------------------------------------------------

    def run_workload(self, namespace: str, name: str) -> dict:
        """A meshed pod created through the injector double (its ServiceAccount is ``name``); returned as created."""
        if self.api.find(f"/api/v1/namespaces/{namespace}") is None:
            self.api.create(
                "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
            )
        if self.api.find(f"/api/v1/namespaces/{namespace}/serviceaccounts/{name}") is None:
            self.api.create(
                f"/api/v1/namespaces/{namespace}/serviceaccounts",
                {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name}},
            )
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"generateName": f"{name}-", "namespace": namespace, "labels": {"app": name}},
            "spec": {
                "serviceAccountName": name,
                "automountServiceAccountToken": False,
                "containers": [{"name": "app", "image": "stand-in.invalid/app"}],
            },
        }
        created = self.api.create(f"/api/v1/namespaces/{namespace}/pods", self.injector.inject(pod))
        self.wait(
            f"{namespace}/{created['metadata']['name']} to run",
            lambda: created["metadata"]["uid"] in self.roots_at_start,
        )
        return created

    def delete_namespace(self, namespace: str) -> None:
        """The test's workloads go with their namespace (no stack manages it)."""
        self.api.delete(f"/api/v1/namespaces/{namespace}")
        self.wait(f"namespace {namespace} gone", lambda: self.api.find(f"/api/v1/namespaces/{namespace}") is None)

    def restart_workload(self, pod: dict) -> dict:
        """Delete and recreate (what a rollout does to a Deployment's pod)."""
        meta = pod["metadata"]
        self.api.delete(f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}")
        return self.run_workload(meta["namespace"], meta["labels"]["app"])

    def leaf(self, namespace: str, service_account: str) -> list[x509.Certificate]:
        """What identity certifies for a proxy of that ServiceAccount: a token, then Certify."""
        token = self.api.create(
            f"/api/v1/namespaces/{namespace}/serviceaccounts/{service_account}/token",
            {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {}},
        )["status"]["token"]
        return self.identity.certify(token, namespace, service_account)

    def wait(self, what: str, ok, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if ok():
                return
            time.sleep(0.25)
        raise AssertionError(f"{what} not reached within {timeout}s (kubelet double errors: {self.errors[-3:]})")
