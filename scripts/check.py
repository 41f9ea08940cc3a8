"""``scripts/stack check``: a stack's config file and its whole graph, evaluated offline.

No Pulumi CLI, no plugin, no backend, no network: the stack's ``Pulumi.<stack>.yaml`` (over the project's
``Pulumi.yaml`` config) is read as the engine hands config to a program, validated by the program's own
parser (every problem, by key), and then the program itself runs under the Pulumi SDK's mocks
(``pulumi.runtime.set_mocks``), which stand in for the providers: every resource is registered as a first
``up`` would register it, and the summary says what the stack would make, export and pull. It is what a
pull request that changes a stack file runs in CI (``terraform validate`` for this project).

What it cannot know, and says: the stack's last outputs and its cluster (it evaluates a first ``up``: the
rotation's order and gates are checked by ``preview``), a secret's value (a ``secure:`` value is read as a
placeholder of its key's shape, never decrypted, never printed), and a Vault-only stack that lives in another
directory (a stand-in of the defaults is read in its place).

How the engine hands config over, read in Pulumi's sources (``sdk/go/common/resource/config``, v3.274.1):
a key is ``<namespace>:<name>`` (``key.go``, ``ParseKey``); a string reaches the program as written, a bool or
a number as its JSON text, a map or a list as JSON, and a value holding ``{secure: ...}`` anywhere is secret
(``object.go``, ``MarshalString``). A project's ``Pulumi.yaml`` ``config:`` gives a key's ``value`` (or
``default``) to every stack that does not set it.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json
import os
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi

PROJECT = "linkerd-vault-pki"
ORGANIZATION = "organization"  # what a file backend calls every stack's organization
DEV_STACK = "dev"  # scripts/stack generates its vaultToken at the first `up`
# A secure value's placeholder, for the keys whose value is only a token (Vault's tokens are printable ASCII).
PLACEHOLDER = "offline-placeholder-not-a-secret"
# The documentation address block (RFC 5737): where a container's address stands in, offline.
CONTAINER_IP = "192.0.2.3"


class Unreadable(Exception):
    """The stack file cannot be read as Pulumi would read it; the message names the file and why."""


@dataclass
class StackSettings:
    raw: dict[str, str]  # this project's keys, without the prefix, as the engine hands them to the program
    secret_keys: set[str]
    foreign: list[str]  # keys of other namespaces (the parser refuses a look-alike of ours)
    notes: list[str] = field(default_factory=list)


def _is_secure(value: Any) -> bool:
    return isinstance(value, dict) and list(value) == ["secure"] and isinstance(value["secure"], str)


def _holds_secure(value: Any) -> bool:
    if _is_secure(value):
        return True
    if isinstance(value, dict):
        return any(_holds_secure(v) for v in value.values())
    if isinstance(value, list):
        return any(_holds_secure(v) for v in value)
    return False


def _as_engine_hands_it(value: Any) -> str:
    """A config value as the program receives it (object.go, MarshalString)."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    return json.dumps(value, separators=(",", ":"))


def _test_ca(common_name: str = "offline placeholder CA", seconds: int = 3 * 365 * 86400) -> tuple[str, str]:
    """A throwaway self-signed CA (PEM, base64 of the PEM), made now for ``seconds``: where Vault's generated
    anchor, or a secret kubeconfig's CA, stands in."""
    from linkerd_vault_pki.x509 import self_signed

    pem, _key = self_signed(common_name, dt.datetime.now(dt.UTC), dt.timedelta(seconds=seconds))
    return pem, base64.b64encode(pem.encode()).decode()


def placeholder_kubeconfig(context: str | None, server: str = "https://127.0.0.1:6550") -> str:
    """A kubeconfig of one cluster whose context is ``context`` (the stack's kubeContext, else current)."""
    name = context or "offline-placeholder"
    _pem, ca_data = _test_ca()
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": name, "cluster": {"server": server, "certificate-authority-data": ca_data}}],
            "users": [{"name": name, "user": {"token": PLACEHOLDER}}],
            "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
            "current-context": name,
        }
    )


def _placeholder(key: str, around: dict[str, Any]) -> str:
    """A secure value's stand-in, of the shape its key needs: the config rules judge what they can see."""
    if key == "kubeconfig":
        return placeholder_kubeconfig(around.get("kubeContext"))
    if key == "imagePullSecret":
        host = str(around.get("imageRegistry") or "registry.invalid").split("/")[0]
        auth = base64.b64encode(f"{PLACEHOLDER}:{PLACEHOLDER}".encode()).decode()
        return json.dumps({"auths": {host: {"auth": auth}}})
    return PLACEHOLDER


def _replace_secure(value: Any, key: str, around: dict[str, Any]) -> Any:
    """``value`` with every ``{secure: ...}`` in it replaced by its key's placeholder (ciphertext never read)."""
    if _is_secure(value):
        return _placeholder(key, around)
    if isinstance(value, dict):
        return {k: _replace_secure(v, k, value) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace_secure(v, key, around) for v in value]
    return value


def _settings_file(path: Path, what: str) -> dict[str, Any]:
    """A project or stack settings file, read once, its ``config`` checked to be a mapping."""
    import yaml

    try:
        doc = yaml.safe_load(path.read_text())
    except OSError as err:
        raise Unreadable(f"{path.name}: cannot be read ({err.strerror})") from err
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise Unreadable(f"{path.name}: is not YAML{where}: {getattr(err, 'problem', err)}") from err
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise Unreadable(f"{path.name}: is not a YAML mapping ({what})")
    if not isinstance(doc.get("config") or {}, dict):
        raise Unreadable(f"{path.name}: its config is not a mapping of key to value")
    return doc


def _environments(doc: dict[str, Any]) -> list[str]:
    """The Pulumi ESC environments a stack file imports (``environment:``, a name or a list): their values
    reach the program at `up`, and are not read offline."""
    found = doc.get("environment")
    if isinstance(found, str):
        return [found]
    if isinstance(found, dict):
        found = found.get("imports")
    return [str(e) for e in found] if isinstance(found, list) else []


def _full_key(key: Any, path: Path) -> str:
    text = str(key)
    if text.count(":") == 1 or (text.count(":") == 2 and text.split(":")[1] == "config"):
        namespace, _, name = text.partition(":")
        return f"{namespace}:{name.removeprefix('config:')}"
    if ":" not in text and path.name == "Pulumi.yaml":
        return f"{PROJECT}:{text}"  # a project file's key of its own namespace
    raise Unreadable(
        f"{path.name}: {text!r} is not a config key: Pulumi reads <namespace>:<name>, such as {PROJECT}:{text}"
    )


def stack_settings(project_dir: Path, stack: str) -> StackSettings:
    """The config the engine would hand the program for ``stack``, read from the project's files alone."""
    values: dict[str, Any] = {}
    project_file = project_dir / "Pulumi.yaml"
    if project_file.is_file():
        for key, entry in (_settings_file(project_file, "a Pulumi project").get("config") or {}).items():
            if isinstance(entry, dict) and ("value" in entry or "default" in entry):
                values[_full_key(key, project_file)] = entry.get("value", entry.get("default"))
            elif not isinstance(entry, dict):
                values[_full_key(key, project_file)] = entry
    stack_file = project_dir / f"Pulumi.{stack}.yaml"
    notes = []
    if stack_file.is_file():
        doc = _settings_file(stack_file, "stack settings")
        for key, value in (doc.get("config") or {}).items():
            values[_full_key(key, stack_file)] = value
        if imported := _environments(doc):
            notes.append(
                f"the stack imports the ESC environment(s) {', '.join(imported)}: what they set is not read "
                "offline, so a key only they set is reported missing here"
            )
    else:
        notes.append(f"there is no Pulumi.{stack}.yaml: the stack is checked with every default")
    prefix = f"{PROJECT}:"
    ours = {k[len(prefix) :]: v for k, v in values.items() if k.startswith(prefix)}
    secret_keys = {k for k, v in ours.items() if _holds_secure(v)}
    raw = {k: _as_engine_hands_it(_replace_secure(v, k, ours)) for k, v in ours.items()}
    if stack == DEV_STACK and "vaultToken" not in raw:
        raw["vaultToken"] = PLACEHOLDER
        secret_keys.add("vaultToken")
        notes.append("vaultToken counts as set: scripts/stack generates it at the dev stack's first `up`")
    if secret_keys:
        notes.append(f"secrets not read (placeholders of their shape): {', '.join(sorted(secret_keys))}")
    from stack.config.rules import foreign_lookalikes

    foreign = foreign_lookalikes({k: _as_engine_hands_it(v) for k, v in values.items()}, PROJECT)
    return StackSettings(raw, secret_keys, foreign, notes)


# --- the providers, stood in for -------------------------------------------------------------------------


@dataclass
class Registered:
    type: str
    name: str
    urn: str
    parent: str
    custom: bool
    inputs: dict[str, Any]


class OfflineMocks(pulumi.runtime.Mocks):
    """What the providers would answer, offline: each resource's inputs as its state, and the computed outputs
    the program reads (a certificate, a container's address, k3d's kubeconfig, Vault's ids and tokens) as
    placeholders of their shape. Another stack's outputs are those given in ``stacks``; this stack has none
    (a first `up`)."""

    def __init__(self, stack: str, stacks: dict[str, dict[str, Any]]):
        self.stack = stack
        self.stacks = stacks  # full name -> {"outputs": ..., "secretOutputNames": [...]}

    def new_resource(self, args) -> tuple[str, dict[str, Any]]:
        state = dict(args.inputs)
        if args.typ == "pulumi:pulumi:StackReference":
            return state["name"], {**state, **self._stack(state["name"])}
        computed = {
            "vault:pkiSecret/secretBackendRootCert:SecretBackendRootCert": self._anchor,
            "vault:pkiSecret/secretBackendKey:SecretBackendKey": lambda s: {"keyId": f"key-id-{s.get('keyName')}"},
            "docker:index/remoteImage:RemoteImage": lambda s: {"imageId": f"{s.get('name')}@sha256:{'0' * 64}"},
            "docker:index/container:Container": lambda s: {
                "networkDatas": [{"ipAddress": CONTAINER_IP, "networkName": "offline"}],
            },
            "command:local:Command": lambda s: {"stdout": placeholder_kubeconfig(None), "stderr": ""},
            "vault:appRole/authBackendRole:AuthBackendRole": lambda s: {"roleId": PLACEHOLDER},
            "vault:appRole/authBackendRoleSecretId:AuthBackendRoleSecretId": lambda s: {
                "secretId": PLACEHOLDER,
                "accessor": PLACEHOLDER,
            },
            "vault:index/token:Token": lambda s: {
                "clientToken": PLACEHOLDER,
                "leaseStarted": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "leaseDuration": 767 * 3600,
            },
            "vault:index/mount:Mount": lambda s: {"accessor": PLACEHOLDER},
            "vault:index/authBackend:AuthBackend": lambda s: {"accessor": PLACEHOLDER},
        }
        if args.typ in computed:
            state.update(computed[args.typ](state))
        if args.typ.startswith("kubernetes:") and "metadata" in state:
            state.setdefault("metadata", {}).setdefault("name", args.name)
        return f"{args.name}_id", state

    @staticmethod
    def _anchor(inputs: dict[str, Any]) -> dict[str, Any]:
        """The anchor Vault would generate: the common name and lifetime asked for (Vault's ``ttl``: seconds)."""
        ttl = str(inputs.get("ttl") or "0").removesuffix("s")
        pem, _ = _test_ca(str(inputs.get("commonName")), int(ttl) if ttl.isdigit() else 90 * 86400)
        return {
            "certificate": pem,
            "issuingCa": pem,
            "serialNumber": "00",
            "issuerId": f"id-{inputs.get('issuerName')}",
        }

    def call(self, args) -> dict[str, Any]:
        if args.token == "pulumi:pulumi:readStackOutputs":
            name = args.args["name"]
            if name == f"{ORGANIZATION}/{PROJECT}/{self.stack}":
                return {"name": name, "outputs": {}, "secretOutputNames": []}  # a first `up`
            return {"name": name, **self._stack(name)}
        return {}

    def _stack(self, name: str) -> dict[str, Any]:
        if name not in self.stacks:
            raise RuntimeError(f"stack {name} is not one this check evaluated")
        return self.stacks[name]


@dataclass
class Evaluation:
    stack: str
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    resources: list[Registered] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)
    secret_outputs: set[str] = field(default_factory=set)

    @property
    def ok(self) -> bool:
        return not self.problems


def evaluate(project_dir: Path, stack: str, _seen: tuple[str, ...] = ()) -> Evaluation:
    """Check ``stack``'s config and run its program offline; problems by key, or what it would make."""
    result = Evaluation(stack)
    try:
        found = stack_settings(project_dir, stack)
    except Unreadable as err:
        result.problems.append(str(err))
        return result
    result.notes.extend(found.notes)
    from stack import config as config_module

    try:
        cfg = config_module.parse(found.raw, found.secret_keys, found.foreign, base=project_dir)
    except config_module.ConfigError as err:
        result.problems.extend(err.problems)
        return result
    stacks = _referenced_stacks(project_dir, stack, cfg, result, _seen)
    if result.problems:
        return result
    _run_program(cfg, stack, stacks, result)
    result.notes.append(
        "evaluated as a first `up` (the stack's last outputs and its cluster are not read offline: "
        "`scripts/stack preview` checks an anchor rotation's order and gates)"
    )
    return result


def _referenced_stacks(
    project_dir: Path, stack: str, cfg, result: Evaluation, seen: tuple[str, ...]
) -> dict[str, dict[str, Any]]:
    """The Vault-only stack a `vaultSide: reference` stack reads: evaluated here from its file, or a stand-in."""
    side = cfg.vault_side
    if side.source != "reference" or side.stack is None:
        return {}
    parts = side.stack.split("/")
    full = "/".join([ORGANIZATION, PROJECT, *parts][-3:]) if len(parts) < 3 else side.stack
    short = parts[-1]
    same_project = len(parts) == 1 or parts[-2] == PROJECT
    if same_project and (project_dir / f"Pulumi.{short}.yaml").is_file() and short not in (*seen, stack):
        other = evaluate(project_dir, short, (*seen, stack))
        if not other.ok:
            result.problems.extend(f"vaultStack: {side.stack} (Pulumi.{short}.yaml): {p}" for p in other.problems)
            return {}
        result.notes.append(f"vaultStack {side.stack}: read as Pulumi.{short}.yaml would make it (evaluated too)")
    else:
        consumers = [side.consumer] if side.consumer else []
        stand_in = {"clusterMode": "none", "vaultMode": "external", "vaultAddress": "https://vault.invalid"}
        if consumers:
            stand_in["consumers"] = json.dumps(consumers)
        other = Evaluation(short)
        from stack import config as config_module

        _run_program(config_module.parse({**stand_in, "vaultToken": PLACEHOLDER}, {"vaultToken"}), short, {}, other)
        if not other.ok:
            result.problems.extend(other.problems)
            return {}
        result.notes.append(
            f"vaultStack {side.stack}: its config is not in this directory; a Vault-only stack of the defaults "
            "stands in for what it exports (`scripts/stack preview` reads the real one)"
        )
    return {full: {"outputs": other.outputs, "secretOutputNames": sorted(other.secret_outputs)}}


def _run_program(cfg, stack: str, stacks: dict[str, dict[str, Any]], result: Evaluation) -> None:
    from pulumi.runtime import mocks as pulumi_mocks
    from pulumi.runtime import settings

    from linkerd_vault_pki import gates
    from stack import program

    mocks = OfflineMocks(stack, stacks)
    registered = result.resources

    class Monitor(pulumi_mocks.MockMonitor):
        """The SDK's mock monitor, noting each registration's parent (what groups resources by component)."""

        def RegisterResource(self, request):
            response = super().RegisterResource(request)
            if request.type != "pulumi:pulumi:Stack":
                state = self.resources[response.urn].state
                registered.append(
                    Registered(request.type, request.name, response.urn, request.parent, request.custom, state)
                )
            return response

    settings.set_root_resource(None)  # type: ignore[arg-type]
    pulumi.runtime.set_mocks(
        mocks, project=PROJECT, stack=stack, preview=False, monitor=Monitor(mocks), organization=ORGANIZATION
    )
    exported: dict[str, Any] = {}
    logged = {"warn": result.warnings, "error": result.problems}
    originals = {name: getattr(pulumi.log, name) for name in ("warn", "error", "info")}
    original_export, original_read = pulumi.export, gates.read_cluster

    def not_offline(_kubeconfig, _context):
        raise gates.CannotRead("a cluster is not read offline")

    def run():
        program.run(cfg)

        async def collect():
            for key, output in exported.items():
                result.outputs[key] = await output.future()
                if await output.is_secret():
                    result.secret_outputs.add(key)

        return asyncio.ensure_future(collect())

    pulumi.export = lambda name, value: exported.__setitem__(name, pulumi.Output.from_input(value))
    gates.read_cluster = not_offline
    for name, sink in logged.items():
        setattr(pulumi.log, name, lambda message, *_a, _sink=sink, **_k: _sink.append(str(message)))
    pulumi.log.info = lambda *_a, **_k: None
    try:
        pulumi.runtime.test(run)()
    except pulumi.RunError as err:
        result.problems.extend(getattr(err, "problems", None) or [str(err)])
    finally:
        pulumi.export, gates.read_cluster = original_export, original_read
        for name, function in originals.items():
            setattr(pulumi.log, name, function)


# --- the summary -------------------------------------------------------------------------------------------


def _top_level(resources: list[Registered]) -> dict[str, Registered]:
    """Each resource's outermost component (itself, for one the program registers at the top)."""
    by_urn = {r.urn: r for r in resources}
    top = {}
    for r in resources:
        node = r
        while node.parent in by_urn:
            node = by_urn[node.parent]
        top[r.urn] = node
    return top


def _pulled(resources: list[Registered]) -> tuple[list[str], list[str]]:
    """The images and charts the stack would pull, as its resources name them."""
    import re

    from linkerd_vault_pki import images as image_table

    pulled: list[str] = []
    charts: list[str] = []
    for r in resources:
        if r.type == "docker:index/remoteImage:RemoteImage":
            pulled.append(str(r.inputs.get("name")))
        elif r.type == "command:local:Command" and "k3d cluster create" in str(r.inputs.get("create") or ""):
            match = re.search(r"--image\s+'?([^\s']+)", str(r.inputs.get("create")))
            if match:
                pulled.append(match.group(1))
            env = r.inputs.get("environment") or {}
            pulled.extend(str(env.get(v) or image.reference) for v, image in image_table.K3D_HELPERS.items())
        elif r.type == "kubernetes:helm.sh/v3:Release":
            chart = str(r.inputs.get("name") or r.inputs.get("chart"))
            where = (r.inputs.get("repositoryOpts") or {}).get("repo") or ""
            version = r.inputs.get("version")
            charts.append(
                f"{r.inputs.get('chart')}{' ' + version if version else ''}{' from ' + where if where else ''}"
            )
            values = r.inputs.get("values") or {}
            for image in image_table.chart_images(chart):
                assert image.key is not None
                dotted = image.key if image.style == "value" else f"{image.key}.{image.style}"
                node: Any = values
                for part in dotted.split("."):
                    node = node.get(part) if isinstance(node, dict) else None
                pulled.append(f"{node if isinstance(node, str) else image.repository}:{image.tag}")
    return sorted(set(pulled)), sorted(set(charts))


def summary(result: Evaluation) -> str:
    lines = []
    if not result.ok:
        count = len(result.problems)
        lines.append(f"stack {result.stack}: {count} problem{'' if count == 1 else 's'}; nothing would be made:")
        lines.extend(f"  - {p}" for p in result.problems)
    else:
        custom = [r for r in result.resources if r.custom and not r.type.startswith("pulumi:providers:")]
        providers = [r for r in result.resources if r.type.startswith("pulumi:providers:")]
        top = _top_level(result.resources)
        lines.append(
            f"stack {result.stack}: the config is sound; a first `up` would make {len(custom)} resources "
            f"through {len(providers)} provider{'' if len(providers) == 1 else 's'}:"
        )
        groups: dict[tuple[str, str], Counter] = {}
        for r in custom:
            owner = top[r.urn]
            label = (owner.name, owner.type) if owner is not r else ("(the stack)", "")
            groups.setdefault(label, Counter())[r.type.split(":")[-1]] += 1
        for (name, typ), counts in groups.items():
            kinds = ", ".join(f"{n} {t}" for t, n in sorted(counts.items()))
            lines.append(f"  {name}{f' ({typ})' if typ else ''}: {sum(counts.values())}: {kinds}")
        outputs = [f"{k} (secret)" if k in result.secret_outputs else k for k in sorted(result.outputs)]
        lines.append(f"outputs: {', '.join(outputs) or 'none'}")
        pulled, charts = _pulled(result.resources)
        lines.append(f"images: {', '.join(pulled) or 'none'}")
        lines.append(f"charts: {', '.join(charts) or 'none'}")
    lines.extend(f"warning: {w}" for w in result.warnings)
    lines.extend(f"note: {n}" for n in result.notes)
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    """``python -m scripts.check [--stack NAME] [PROJECT_DIR]``: exit 0 and a summary, or 1 and every problem."""
    import argparse

    parser = argparse.ArgumentParser(prog="scripts/stack check", description=__doc__.splitlines()[0])
    parser.add_argument("--stack", default=None, help="the stack (default: LVP_STACK, else dev)")
    parser.add_argument("project_dir", nargs="?", default=".", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    stack = args.stack or os.environ.get("LVP_STACK") or DEV_STACK
    result = evaluate(Path(args.project_dir).resolve(), stack)
    print(summary(result), file=sys.stdout if result.ok else sys.stderr)
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
