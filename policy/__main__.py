"""The policy pack: `pulumi preview --policy-pack policy` (docs/design.md, "Guardrails").

Every rule is in rules.py, in one table (``RULES``), as a plain function the unit tests run on the program.
The language host runs this file with runpy.run_path, which puts this folder first on sys.path: `rules`
imports as it is.
"""

import rules
from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    PolicyPack,
    ResourceValidationPolicy,
    StackValidationPolicy,
)


def resource_policy(rule: rules.Rule) -> ResourceValidationPolicy:
    def validate(args, report_violation):
        if args.resource_type == rule.type:
            for problem in rule.check(args.props):
                report_violation(problem)

    level = EnforcementLevel.ADVISORY if rule.advisory else EnforcementLevel.MANDATORY
    return ResourceValidationPolicy(
        name=rule.name, description=rule.description, validate=validate, enforcement_level=level
    )


def lifetimes(args, report_violation):
    resources = [rules.Resource(r.resource_type, r.name, r.props) for r in args.resources]
    for problem in rules.lifetimes_nest(resources):
        report_violation(problem)


def mirrored(args, report_violation):
    resources = [rules.Resource(r.resource_type, r.name, r.props) for r in args.resources]
    for problem in rules.pulls_from_the_mirror(resources, args.get_config()):
        report_violation(problem)


# What `scripts/stack` hands the pack (--policy-pack-config) when the stack sets a mirror: scripts/policy_config.py.
MIRROR_CONFIG = PolicyConfigSchema(
    properties={
        "imageRegistries": {"type": "array", "items": {"type": "string"}},
        "chartRepositories": {"type": "array", "items": {"type": "string"}},
    }
)


PolicyPack(
    name="linkerd-vault-pki",
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=[
        *(resource_policy(rule) for rule in rules.RULES),
        StackValidationPolicy(name=rules.STACK_RULE[0], description=rules.STACK_RULE[1], validate=lifetimes),
        StackValidationPolicy(
            name=rules.MIRROR_RULE[0], description=rules.MIRROR_RULE[1], validate=mirrored, config_schema=MIRROR_CONFIG
        ),
    ],
)
