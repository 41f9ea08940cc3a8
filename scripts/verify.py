"""Check a deployed stack the way an operator would, and say what passed.

Usage: scripts/stack verify [--skip-linkerd-check]
       scripts/stack verify --within DURATION   (what expires within it, one line each: for a scheduled job)

Reads the stack's outputs (each kubeconfig through a 0600 temporary file that is
removed afterwards), then checks on each cluster (every one of `clusters`, when listed):
- the ClusterIssuer and the identity issuer Certificate are Ready;
- with Kubernetes auth (`credential: kubernetes`), the ServiceAccount cert-manager logs in to Vault as
  exists, and cert-manager's controller may request its tokens (`kubectl auth can-i`, impersonating it);
- the issuer certificate Linkerd uses is ECDSA P-256, a CA, signed by the anchor
  that signs now (`signingAnchor`), and valid now (only tls.crt is read, never tls.key);
- the trust roots ConfigMap holds every anchor in Vault (by SHA-256 fingerprint),
  and exists only in namespaces labelled as Linkerd's control plane;
- every meshed pod's proxy trusts every anchor (what it was injected with, or, for the control
  plane's pods, the roots ConfigMap they read at start): the sign that a rotation may go on;
- Linkerd's identity has taken the issuer in the Secret (its IssuerUpdated / IssuerUpdateSkipped
  events, or the roots it started with): a skipped issuer is a FAIL with identity's reason;
- `linkerd check` passes (its warning about an issuer valid < 60 days is expected).
Exit status 0 when every check passed, 1 otherwise, 2 when it could not look.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ec

from linkerd_vault_pki import expiry, gates, mesh
from linkerd_vault_pki.names import (
    BUNDLE_KEY,
    BUNDLE_NAME,
    CERTIFICATE_NAME,
    CONTROL_PLANE_LABEL,
    ISSUER_UPDATE_SKIPPED,
    ISSUER_UPDATED,
    LINKERD_NAMESPACE,
    RFC3339,
)
from linkerd_vault_pki.x509 import issued_by, sha256_fingerprint


class CannotLook(Exception):
    pass


@dataclass
class Check:
    name: str
    ok: bool
    detail: str = ""


def run(cmd: list[str], env: dict[str, str] | None = None) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env, check=False)
    except FileNotFoundError as exc:
        raise CannotLook(f"{cmd[0]} is not installed") from exc
    if out.returncode != 0:
        raise CannotLook(f"`{' '.join(cmd[:4])} ...` failed: {out.stderr.strip()[-500:]}")
    return out.stdout


def ready(obj: dict) -> tuple[bool, str]:
    for cond in obj.get("status", {}).get("conditions", []):
        if cond.get("type") == "Ready":
            return cond.get("status") == "True", cond.get("message", "")
    return False, "no Ready condition yet"


def pem_certificates(data: bytes) -> list[x509.Certificate]:
    """The certificates in a PEM blob; none when it is empty or not PEM (a FAIL to report, not a crash)."""
    try:
        return x509.load_pem_x509_certificates(data)
    except ValueError:
        return []


def issuer_checks(issuer: x509.Certificate, anchor: x509.Certificate, anchor_name: str) -> list[Check]:
    results = []
    key = issuer.public_key()
    results.append(
        Check(
            "the issuer is ECDSA P-256",
            isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name == "secp256r1",
            type(key).__name__,
        )
    )
    try:
        issuer.verify_directly_issued_by(anchor)
        results.append(Check(f"the issuer is signed by the signing anchor ({anchor_name})", True))
    except (InvalidSignature, ValueError, TypeError) as exc:
        results.append(
            Check(
                f"the issuer is signed by the signing anchor ({anchor_name})",
                False,
                str(exc) or type(exc).__name__,
            )
        )
    now = dt.datetime.now(dt.UTC)
    results.append(
        Check(
            "the issuer is valid now",
            issuer.not_valid_before_utc <= now < issuer.not_valid_after_utc,
            f"until {issuer.not_valid_after_utc.strftime(RFC3339)}",
        )
    )
    try:
        is_ca = issuer.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        is_ca = False
    results.append(Check("the issuer is a CA", is_ca))
    return results


def anchors_of(outputs: dict) -> tuple[dict[str, x509.Certificate], str]:
    """Every anchor the stack keeps in Vault, by name, and the signing one's name."""
    listed = outputs.get("trustAnchors") or {}
    if not listed:  # a stack from before rotation: one anchor
        return {"anchor": x509.load_pem_x509_certificate(outputs["trustAnchorPem"].encode())}, "anchor"
    anchors = {name: x509.load_pem_x509_certificate(a["pem"].encode()) for name, a in listed.items()}
    signing = next((name for name, a in listed.items() if a.get("signing")), next(iter(listed)))
    return anchors, signing


def checks(outputs: dict, kubectl: Callable[..., str], linkerd_check: Callable[[], str] | None) -> list[Check]:
    results: list[Check] = []
    anchors, signing_name = anchors_of(outputs)
    signing = anchors[signing_name]
    results.append(
        Check(
            "the anchor output matches its fingerprint output",
            sha256_fingerprint(signing) == outputs["trustAnchorSha256"],
            outputs["trustAnchorSha256"],
        )
    )

    issuer_name = outputs["clusterIssuer"]
    ns = outputs.get("linkerdNamespace", LINKERD_NAMESPACE)
    ok, message = ready(json.loads(kubectl("get", "clusterissuer", issuer_name, "-o", "json")))
    results.append(Check(f"ClusterIssuer {issuer_name} is Ready", ok, message))
    if outputs.get("vaultLogin"):
        results.extend(login_checks(outputs["vaultLogin"], kubectl))
    ok, message = ready(json.loads(kubectl("-n", ns, "get", "certificate", CERTIFICATE_NAME, "-o", "json")))
    results.append(Check(f"Certificate {ns}/{CERTIFICATE_NAME} is Ready", ok, message))

    # Only the certificate: never fetch tls.key.
    # A Secret not there (deleted, or never issued) is a failed check, not a check that could not run.
    crt_b64 = kubectl(
        "-n", ns, "get", "secret", CERTIFICATE_NAME, "--ignore-not-found", "-o", r"jsonpath={.data.tls\.crt}"
    )  # fmt: skip
    issuers = pem_certificates(base64.b64decode(crt_b64 or ""))
    results.append(
        Check(
            "the issuer Secret holds a certificate",
            bool(issuers),
            f"tls.crt of {ns}/{CERTIFICATE_NAME}" + ("" if issuers else " is missing, empty or not PEM"),
        )
    )
    if issuers:
        results.extend(issuer_checks(issuers[0], signing, signing_name))

    roots_map = json.loads(kubectl("-n", ns, "get", "configmap", BUNDLE_NAME, "--show-managed-fields", "-o", "json"))
    current = mesh.Roots.from_configmap(roots_map)
    roots = pem_certificates((roots_map.get("data") or {}).get(BUNDLE_KEY, "").encode())
    prints = {sha256_fingerprint(c) for c in roots}
    missing = sorted(name for name, cert in anchors.items() if sha256_fingerprint(cert) not in prints)
    results.append(
        Check(
            "the trust roots hold every Vault anchor",
            not missing,
            f"{len(prints)} root(s) in {ns}/{BUNDLE_NAME}" + (f"; missing {', '.join(missing)}" if missing else ""),
        )
    )

    namespaces = json.loads(kubectl("get", "namespaces", "-o", "json"))["items"]
    labelled = {
        n["metadata"]["name"] for n in namespaces if n["metadata"].get("labels", {}).get(CONTROL_PLANE_LABEL) == "true"
    }
    maps = json.loads(
        kubectl("get", "configmaps", "-A", "--field-selector", f"metadata.name={BUNDLE_NAME}", "-o", "json")
    )
    holders = {m["metadata"]["namespace"] for m in maps["items"]}
    results.append(
        Check(
            "the bundle is only in control-plane namespaces",
            holders <= labelled and ns in holders,
            f"in {sorted(holders)}; labelled {sorted(labelled)}",
        )
    )

    pods = json.loads(kubectl("get", "pods", "-A", "-o", "json"))["items"]
    proxies = mesh.meshed(pods, current)
    wanted = {sha256_fingerprint(c) for c in anchors.values()}
    behind = [t.pod for t in proxies if t.fingerprints is None or not wanted <= t.fingerprints]
    results.append(
        Check(
            "every meshed proxy trusts every anchor",
            not behind,
            f"{len(proxies)} meshed pod(s)"
            + (f"; these lack one (restart them): {mesh.listed(behind)}" if behind else ""),
        )
    )
    if issuers:
        events = gates.identity_events(kubectl, ns)
        results.append(identity_check(issuers[0], mesh.identity_pods(pods, ns), events, current))

    if linkerd_check is not None:
        try:
            linkerd_check()
            results.append(Check("linkerd check", True))
        except CannotLook as exc:
            results.append(Check("linkerd check", False, str(exc)))
    return results


def identity_check(issuer: x509.Certificate, pods: list[dict], events: list[dict], roots: mesh.Roots) -> Check:
    """Has Linkerd's identity taken the issuer in the Secret? It verifies a new issuer against the roots it loaded
    at start and skips one that does not verify (linkerd2 pkg/identity/service.go: IssuerUpdateSkipped), signing
    with the old one until that expires: the Secret alone does not say what identity signs with."""
    name = "Linkerd's identity has taken the current issuer"
    if not pods:
        return Check(name, True, "no identity pod on this cluster (Linkerd not running here): nothing to check")
    issued = issuer.not_valid_before_utc
    skipped = mesh.newest_issuer_event(events, (ISSUER_UPDATE_SKIPPED,))
    updated = mesh.newest_issuer_event(events, (ISSUER_UPDATED,))
    if (
        skipped
        and mesh.event_time(skipped) >= issued
        and (updated is None or mesh.event_time(updated) < mesh.event_time(skipped))
    ):
        return Check(
            name,
            False,
            f"identity skipped it ({ISSUER_UPDATE_SKIPPED}: {skipped.get('message', '')[:300]}); it signs with the "
            f"issuer it held before, until that expires. Restart the control plane: kubectl -n "
            f"{LINKERD_NAMESPACE} rollout restart deploy",
        )
    if updated and mesh.event_time(updated) >= issued:
        return Check(name, True, f"{ISSUER_UPDATED} at {mesh.event_time(updated).strftime(RFC3339)}")
    stale = []
    for pod in pods:
        started = mesh.started_at(pod)
        if started is not None and started >= issued and mesh.holds_current_roots(pod, roots):
            continue  # loaded this issuer at start, against the current roots
        if mesh.holds_current_roots(pod, roots) and any(
            issued_by(issuer, root) for root in pem_certificates(roots.text.encode())
        ):
            continue  # no event since it was issued (events live an hour), but it verifies against identity's roots
        stale.append(mesh.pod_name(pod))
    if stale:
        return Check(
            name,
            False,
            f"{mesh.listed(stale)} started before the trust roots last changed and reported no {ISSUER_UPDATED} "
            f"since the issuer was issued: restart the control plane (kubectl -n {LINKERD_NAMESPACE} rollout "
            "restart deploy)",
        )
    return Check(name, True, f"{len(pods)} identity pod(s) hold roots the issuer verifies against")


def login_checks(login: dict, kubectl: Callable[..., str]) -> list[Check]:
    """Kubernetes auth: the ServiceAccount exists, and cert-manager may create its tokens (and so log in)."""
    namespace, account = login["serviceAccount"].split("/", 1)
    requester_ns, requester = login["tokenRequester"].split("/", 1)
    found = kubectl("-n", namespace, "get", "serviceaccount", account, "--ignore-not-found", "-o", "name").strip()
    results = [
        Check(
            f"ServiceAccount {namespace}/{account} exists",
            bool(found),
            "" if found else "cert-manager cannot log in to Vault: `scripts/stack refresh --yes` then `up` restores it",
        )
    ]
    try:
        answer = kubectl(
            "auth", "can-i", "create", f"serviceaccounts/{account}", "--subresource=token", "-n", namespace,
            f"--as=system:serviceaccount:{requester_ns}:{requester}",
        ).strip()  # fmt: skip
    except CannotLook as exc:  # kubectl answers "no" with exit status 1
        answer = str(exc)
    results.append(
        Check(
            f"cert-manager ({requester_ns}/{requester}) may create its tokens",
            answer == "yes",
            "" if answer == "yes" else f"kubectl auth can-i: {answer[-200:]}",
        )
    )
    return results


def clusters_of(outputs: dict) -> dict[str, dict]:
    """Each cluster's outputs (the stack's one, or every listed one), its kubeconfig included."""
    if "clusters" in outputs:
        secrets = outputs.get("clusterSecrets") or {}
        return {
            name: {**outputs, **facts, "kubeconfig": secrets.get(name, {}).get("kubeconfig", "")}
            for name, facts in outputs["clusters"].items()
        }
    if "kubeconfig" in outputs:
        return {"": outputs}
    return {}


def check_cluster(outputs: dict, with_linkerd_check: bool) -> list[Check]:
    """Every check on one cluster, through kubectl with its kubeconfig in a 0600 file removed afterwards."""
    with gates.kubeconfig_env(outputs["kubeconfig"]) as env:

        def kubectl(*kargs: str) -> str:
            return run(["kubectl", *kargs], env=env)

        def linkerd() -> str:
            return run(["linkerd", "check"], env=env)

        return checks(outputs, kubectl, linkerd if with_linkerd_check else None)


def expiring(
    outputs: dict, issuers: dict[str, x509.Certificate | None], within: dt.timedelta, now: dt.datetime
) -> list[str]:
    """Everything that ends within ``within``, one line each: the anchors, each cluster's identity issuer, and a
    credential that expires (a token's ``vaultTokenExpiresAt``, the stack's or a consumer's)."""
    until = now + within
    found: list[str] = []

    def due(what: str, when: dt.datetime, then: str) -> None:
        if when <= until:
            left = when - now
            said = "expired" if left.total_seconds() <= 0 else f"expires in {expiry.time_left(left.total_seconds())}"
            found.append(f"EXPIRING  {what} {said} ({when.strftime(RFC3339)}): {then}")

    rotate = 'rotate it (docs/operations.md, "Rotating the trust anchor")'
    for name, anchor in (outputs.get("trustAnchors") or {}).items():
        due(f"trust anchor {name}", x509.load_pem_x509_certificate(anchor["pem"].encode()).not_valid_after_utc, rotate)
    for cluster, issuer in issuers.items():
        where = f"[{cluster}] " if cluster else ""
        if issuer is not None:
            due(
                f"{where}identity issuer",
                issuer.not_valid_after_utc,
                "cert-manager has not renewed it (scripts/stack verify says why)",
            )
    tokens = {"": outputs.get("vaultTokenExpiresAt")}
    tokens.update({k: (c or {}).get("vaultTokenExpiresAt") for k, c in (outputs.get("consumers") or {}).items()})
    for consumer, when in tokens.items():
        if when:
            due(
                f"Vault token{f' of {consumer}' if consumer else ''}",
                mesh.parse_time(str(when)),
                'rotate it (docs/operations.md, "Credentials, and what expires")',
            )
    return found


def issuer_of(outputs: dict) -> x509.Certificate | None:
    """A cluster's identity issuer certificate (tls.crt only), or None where there is none to read."""
    with gates.kubeconfig_env(outputs["kubeconfig"]) as env:
        crt = run(
            ["kubectl", "-n", outputs.get("linkerdNamespace", LINKERD_NAMESPACE), "get", "secret", CERTIFICATE_NAME,
             "--ignore-not-found", "-o", r"jsonpath={.data.tls\.crt}"],
            env=env,
        )  # fmt: skip
    found = pem_certificates(base64.b64decode(crt or ""))
    return found[0] if found else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stack", default=os.environ.get("LVP_STACK", "dev"))
    parser.add_argument("--skip-linkerd-check", dest="linkerd_check", action="store_false")
    parser.add_argument(
        "--within",
        metavar="DURATION",
        help="only say what expires within DURATION (such as 24h or 720h), one line each; exit 1 if anything does",
    )
    args = parser.parse_args(argv)
    if args.within is not None:
        from linkerd_vault_pki.values import parse_duration

        within = parse_duration(args.within)
        if within is None:
            parser.error(f"--within: {args.within!r} is not a duration such as 24h, 90m or 720h")
        return within_main(args.stack, dt.timedelta(seconds=within.seconds))

    results: list[Check] = []
    try:
        outputs = json.loads(run(["pulumi", "stack", "output", "--json", "--show-secrets", "--stack", args.stack]))
        clusters = clusters_of(outputs)
        if not clusters:
            raise CannotLook(f"stack {args.stack} has no cluster (clusterMode none?) or was never brought up")
        if args.linkerd_check and shutil.which("linkerd") is None:
            raise CannotLook("the linkerd CLI is not installed (or pass --skip-linkerd-check)")
        for name, cluster_outputs in clusters.items():
            found = check_cluster(cluster_outputs, args.linkerd_check)
            results.extend(Check(f"[{name}] {c.name}", c.ok, c.detail) if name else c for c in found)
    except CannotLook as exc:
        print(f"verify: cannot check: {exc}", file=sys.stderr)
        return 2

    for check in results:
        print(f"{'PASS' if check.ok else 'FAIL'}  {check.name}" + (f"  ({check.detail})" if check.detail else ""))
    failed = [c for c in results if not c.ok]
    print(f"{len(results) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0


def within_main(stack: str, within: dt.timedelta) -> int:
    """`verify --within`: for a scheduled job; a stack without a cluster checks its anchors and credentials."""
    try:
        outputs = json.loads(run(["pulumi", "stack", "output", "--json", "--show-secrets", "--stack", stack]))
        if not outputs:
            raise CannotLook(f"stack {stack} has no outputs: was it ever brought up?")
        issuers = {name: issuer_of(cluster) for name, cluster in clusters_of(outputs).items()}
    except CannotLook as exc:
        print(f"verify: cannot check: {exc}", file=sys.stderr)
        return 2
    found = expiring(outputs, issuers, within, dt.datetime.now(dt.UTC))
    for line in found:
        print(line)
    print(f"{len(found)} expiring within {within}" if found else f"nothing expires within {within}")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
