"""Check a deployed stack the way an operator would, and say what passed.

Usage: scripts/stack verify [--skip-linkerd-check]

Reads the stack's outputs (the kubeconfig through a 0600 temporary file that is
removed afterwards), then checks on the cluster:
- the ClusterIssuer and the identity issuer Certificate are Ready;
- the issuer certificate Linkerd uses is ECDSA P-256, a CA, signed by the anchor
  Vault holds, and valid now (only tls.crt is read, never tls.key);
- the trust roots ConfigMap holds exactly the anchor (by SHA-256 fingerprint),
  and exists only in namespaces labelled as Linkerd's control plane;
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
import tempfile
from collections.abc import Callable
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ec

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from lib.names import (
    BUNDLE_KEY,
    BUNDLE_NAME,
    CERTIFICATE_NAME,
    CONTROL_PLANE_LABEL,
    ISSUER_NAME,
    LINKERD_NAMESPACE,
    RFC3339,
)
from lib.x509 import sha256_fingerprint


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


def issuer_checks(issuer: x509.Certificate, anchor: x509.Certificate) -> list[Check]:
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
        results.append(Check("the issuer is signed by the Vault anchor", True))
    except (InvalidSignature, ValueError, TypeError) as exc:
        results.append(Check("the issuer is signed by the Vault anchor", False, str(exc) or type(exc).__name__))
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


def checks(outputs: dict, kubectl: Callable[..., str], linkerd_check: Callable[[], str] | None) -> list[Check]:
    results: list[Check] = []
    anchor = x509.load_pem_x509_certificate(outputs["trustAnchorPem"].encode())
    results.append(
        Check(
            "the anchor output matches its fingerprint output",
            sha256_fingerprint(anchor) == outputs["trustAnchorSha256"],
            outputs["trustAnchorSha256"],
        )
    )

    issuer_name = outputs.get("clusterIssuer", ISSUER_NAME)
    ns = LINKERD_NAMESPACE
    ok, message = ready(json.loads(kubectl("get", "clusterissuer", issuer_name, "-o", "json")))
    results.append(Check(f"ClusterIssuer {issuer_name} is Ready", ok, message))
    ok, message = ready(json.loads(kubectl("-n", ns, "get", "certificate", CERTIFICATE_NAME, "-o", "json")))
    results.append(Check(f"Certificate {ns}/{CERTIFICATE_NAME} is Ready", ok, message))

    # Only the certificate: never fetch tls.key.
    crt_b64 = kubectl("-n", ns, "get", "secret", CERTIFICATE_NAME, "-o", r"jsonpath={.data.tls\.crt}")
    issuers = pem_certificates(base64.b64decode(crt_b64 or ""))
    results.append(
        Check(
            "the issuer Secret holds a certificate",
            bool(issuers),
            f"tls.crt of {ns}/{CERTIFICATE_NAME}" + ("" if issuers else " is empty or not PEM"),
        )
    )
    if issuers:
        results.extend(issuer_checks(issuers[0], anchor))

    bundle = json.loads(kubectl("-n", ns, "get", "configmap", BUNDLE_NAME, "-o", "json")).get("data", {})
    roots = pem_certificates(bundle.get(BUNDLE_KEY, "").encode())
    prints = sorted(sha256_fingerprint(c) for c in roots)
    results.append(
        Check(
            "the trust roots hold the Vault anchor",
            sha256_fingerprint(anchor) in prints,
            f"{len(prints)} root(s) in {ns}/{BUNDLE_NAME}",
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

    if linkerd_check is not None:
        try:
            linkerd_check()
            results.append(Check("linkerd check", True))
        except CannotLook as exc:
            results.append(Check("linkerd check", False, str(exc)))
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stack", default=os.environ.get("LVP_STACK", "dev"))
    parser.add_argument("--skip-linkerd-check", action="store_true")
    args = parser.parse_args(argv)

    try:
        outputs = json.loads(run(["pulumi", "stack", "output", "--json", "--show-secrets", "--stack", args.stack]))
        if "kubeconfig" not in outputs:
            raise CannotLook(f"stack {args.stack} has no cluster (clusterMode none?) or was never brought up")
        with tempfile.TemporaryDirectory(prefix="lvp-verify-") as tmp:
            path = os.path.join(tmp, "kubeconfig")
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(outputs["kubeconfig"])
            env = {**os.environ, "KUBECONFIG": path}

            def kubectl(*kargs: str) -> str:
                return run(["kubectl", *kargs], env=env)

            linkerd = None
            if not args.skip_linkerd_check:
                if shutil.which("linkerd") is None:
                    raise CannotLook("the linkerd CLI is not installed (or pass --skip-linkerd-check)")

                def linkerd() -> str:
                    return run(["linkerd", "check"], env=env)

            results = checks(outputs, kubectl, linkerd)
    except CannotLook as exc:
        print(f"verify: cannot check: {exc}", file=sys.stderr)
        return 2

    for check in results:
        print(f"{'PASS' if check.ok else 'FAIL'}  {check.name}" + (f"  ({check.detail})" if check.detail else ""))
    failed = [c for c in results if not c.ok]
    print(f"{len(results) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
