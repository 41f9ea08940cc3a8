"""The mocks harness still has what it needs from the Pulumi SDK (see ``tests.harness.SDK_INTERNALS``)."""

from __future__ import annotations

import inspect

import pytest
from pulumi.runtime import mocks, settings, sync_await
from pulumi.runtime.proto import resource_pb2

from tests import harness
from tests.harness import SDK_INTERNALS, cfg, render

UPGRADE = "a Pulumi SDK upgrade changed what tests/harness.py relies on ({}): adapt the harness"


def test_every_internal_the_harness_uses_is_still_there():
    checks = {
        "pulumi.runtime.mocks.MockMonitor": lambda: (
            inspect.isclass(mocks.MockMonitor)
            and all(hasattr(mocks.MockMonitor, m) for m in ("RegisterResource", "ReadResource"))
        ),
        "pulumi.runtime.settings.set_root_resource": lambda: callable(settings.set_root_resource),
        "pulumi.runtime.sync_await._sync_await": lambda: callable(sync_await._sync_await),
        "RegisterResourceRequest: the resource options recorded": lambda: (
            {
                "deleteBeforeReplace",
                "replaceOnChanges",
                "ignoreChanges",
                "dependencies",
                "parent",
                "provider",
            }
            <= set(resource_pb2.RegisterResourceRequest.DESCRIPTOR.fields_by_name)
        ),
        "ReadResourceRequest.id": lambda: "id" in resource_pb2.ReadResourceRequest.DESCRIPTOR.fields_by_name,
        "MockCallArgs.token / args": lambda: {"token", "args"} <= set(inspect.signature(mocks.MockCallArgs).parameters),
        "MockMonitor.resources": lambda: (
            "resources" in vars(mocks.MockMonitor(harness.RecordingMocks("")))
            if "mocks" in inspect.signature(mocks.MockMonitor.__init__).parameters
            else False
        ),
    }
    assert set(checks) == set(SDK_INTERNALS), "SDK_INTERNALS and this test must name the same things"
    for name, check in checks.items():
        try:
            ok = check()
        except Exception as exc:  # the point is to name what broke, whatever broke it
            pytest.fail(UPGRADE.format(f"{name}: {type(exc).__name__}: {exc}"))
        assert ok, UPGRADE.format(f"{name}, used as: {SDK_INTERNALS[name]}")


def test_the_harness_records_what_the_program_registers():
    rendered = render(cfg())
    assert rendered.resources, UPGRADE.format("nothing recorded")
    # The recording carries what the ordering and replacement tests read.
    k3d = rendered.one("command:local:Command")
    assert k3d.delete_before_replace and "create" in k3d.replace_on_changes
    assert any(r.dependencies for r in rendered.resources)
    assert rendered.outputs["signPath"] == "pki/issuer/linkerd-trust-anchor/sign-intermediate"
