"""The policy pack: `pulumi preview --policy-pack policy` (docs/design.md, "Guardrails").

Every rule is in rules.py, as a plain function the unit tests run on the program.
"""

import sys
from pathlib import Path

from pulumi_policy import (
    EnforcementLevel,
    PolicyPack,
    ResourceValidationPolicy,
    StackValidationPolicy,
)

sys.path.insert(0, str(Path(__file__).resolve().parent))
import rules

DESCRIPTIONS = {
    rules.VAULT_POLICY: (
        "vault-policy-least-privilege",
        "A Vault policy grants only update on a sign-intermediate path",
    ),
    rules.ROOT_CERT: ("anchor-generated-in-vault", "The trust anchor is generated inside Vault, ECDSA P-256"),
    rules.PKI_KEY: ("anchor-key-generated-in-vault", "A PKI key is generated inside Vault, ECDSA P-256"),
    rules.CERTIFICATE: (
        "identity-issuer-certificate",
        "The identity issuer is a P-256 CA, renewed >= 5m before expiry",
    ),
    rules.BUNDLE: ("trust-bundle-labelled-targets", "The trust bundle targets labelled namespaces, from no Secret"),
    rules.RELEASE: ("helm-release-pinned", "Every Helm release pins an exact chart version"),
    rules.TOKEN: ("vault-token-expires", "A Vault token credential has a fixed lifetime"),
}
ADVISORY = {rules.TOKEN}


def resource_policy(resource_type: str) -> ResourceValidationPolicy:
    name, description = DESCRIPTIONS[resource_type]
    check = rules.RESOURCE_RULES[resource_type]

    def validate(args, report_violation):
        if args.resource_type == resource_type:
            for problem in check(args.props):
                report_violation(problem)

    level = EnforcementLevel.ADVISORY if resource_type in ADVISORY else EnforcementLevel.MANDATORY
    return ResourceValidationPolicy(name=name, description=description, validate=validate, enforcement_level=level)


def lifetimes(args, report_violation):
    resources = [rules.Resource(r.resource_type, r.name, r.props) for r in args.resources]
    for problem in rules.lifetimes_nest(resources):
        report_violation(problem)


PolicyPack(
    name="linkerd-vault-pki",
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=[
        *(resource_policy(t) for t in rules.RESOURCE_RULES),
        StackValidationPolicy(
            name="lifetimes-nest",
            description="The anchor fits its mount's max TTL; the issuer is shorter-lived than the anchor",
            validate=lifetimes,
        ),
    ],
)
