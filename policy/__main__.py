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


def program(args) -> list:
    return [rules.Resource(r.resource_type, r.name, r.props, bool(r.opts.protect)) for r in args.resources]


def lifetimes(args, report_violation):
    for problem in rules.lifetimes_nest(program(args)):
        report_violation(problem)


def stack_policy(name: str, description: str, check, advisory: bool = False) -> StackValidationPolicy:
    def validate(args, report_violation):
        for problem in check(program(args)):
            report_violation(problem)

    level = EnforcementLevel.ADVISORY if advisory else EnforcementLevel.MANDATORY
    return StackValidationPolicy(name=name, description=description, validate=validate, enforcement_level=level)


def mirrored(args, report_violation):
    for problem in rules.pulls_from_the_mirror(program(args), args.get_config()):
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
        stack_policy(*rules.ROOT_RULES[0], rules.root_of_trust_protected),
        stack_policy(*rules.ROOT_RULES[1], rules.no_token_outside_the_laptop, advisory=True),
        stack_policy(*rules.ROOT_RULES[2], rules.signing_anchor_life),
    ],
)
