"""L0: mirrored installs. Every image and chart the stack pulls, in every mode, under the mirror when one is set
and upstream's when none is; the pull secrets; k3d's registry config; the charts' real values.yaml walked for
image keys the program would not move; the policy pack's mirror rule on programs broken on purpose.

What a chart pulls is computed as the chart computes it, from its real values.yaml (the reference data) merged
with the values the program renders, so an image the program forgets keeps its upstream name here and fails.
"""

from __future__ import annotations

import base64
import copy
import json
import re
from pathlib import Path

import pytest
import yaml

from linkerd_vault_pki import charts, images, names, versions
from policy import rules
from tests import reference
from tests.harness import (
    DOCKERCONFIG,
    MIRROR,
    MIRRORED,
    MODES,
    PULL_PASSWORD,
    cfg,
    config_problems,
    render,
    render_mode,
)

ROOT = Path(__file__).resolve().parents[2]
RELEASE = "kubernetes:helm.sh/v3:Release"
K3D = "command:local:Command"
UPSTREAM_REGISTRIES = ("docker.io", "quay.io", "cr.l5d.io", "ghcr.io", "registry.k8s.io", "gcr.io")


def chart_defaults(chart: str) -> dict:
    folder = {
        "cert-manager": reference.cert_manager_dir() / "chart",
        "trust-manager": reference.trust_manager_dir() / "chart",
        "linkerd-crds": reference.linkerd_dir() / "linkerd-crds",
        "linkerd-control-plane": reference.linkerd_dir() / "linkerd-control-plane",
    }[chart]
    return yaml.safe_load((folder / "values.yaml").read_text()) or {}


def get(values: dict, dotted: str):
    node = values
    for part in dotted.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node


def pulled_by_chart(chart: str, values: dict) -> dict[str, str]:
    """Each image key of ``chart`` -> the repository it pulls with ``values``, by the chart's own rules."""
    merged = images.deep_merge(copy.deepcopy(chart_defaults(chart)), copy.deepcopy(values))
    found = {}
    for image in images.chart_images(chart):
        node = get(merged, image.key)
        if chart in ("cert-manager", "trust-manager"):
            # repository, else imageRegistry/imageNamespace/name (cert-manager's and trust-manager's templates).
            found[image.key] = (
                node.get("repository") or f"{merged['imageRegistry']}/{merged['imageNamespace']}/{node['name']}"
            )
        elif image.style == "value":
            found[image.key] = node
        else:
            found[image.key] = node["name"]
    return found


def pulled(r) -> dict[str, str]:
    """Every image the rendered program pulls: where -> reference or repository."""
    found = {}
    for x in r.of_type("docker:index/remoteImage:RemoteImage"):
        found[x.name] = x.inputs["name"]
    for x in r.of_type(K3D):
        found[f"{x.name} --image"] = re.search(r"--image\s+'?([^\s']+)", x.inputs["create"]).group(1)
        for variable in rules.K3D_IMAGE_VARIABLES:
            if variable in (x.inputs.get("environment") or {}):
                found[f"{x.name} {variable}"] = x.inputs["environment"][variable]
    for x in r.of_type(RELEASE):
        for key, repo in pulled_by_chart(x.inputs["name"], x.inputs.get("values") or {}).items():
            found[f"{x.inputs['name']} {key}"] = repo
    return found


@pytest.fixture(scope="module", params=list(MODES))
def mode(request):
    return request.param, render_mode(request.param)


def test_every_image_is_under_the_mirror_when_one_is_set_and_upstreams_when_none_is(mode):
    name, r = mode
    found = pulled(r)
    if "imageRegistry" in MODES[name]:
        assert found, "a mirrored mode that pulls nothing"
        outside = {k: v for k, v in found.items() if not v.startswith(f"{MIRROR}/")}
        assert outside == {}, outside
        # Each keeps its repository path below the registry, and its pinned tag.
        for ref in found.values():
            path = ref.removeprefix(f"{MIRROR}/")
            assert (
                any(
                    images.upstream(i.repository).split("/", 1)[1] == images.split_reference(path)[0]
                    for i in images.images()
                )
                or "k3s" in path
            )
    else:
        upstream = {images.upstream(i.repository) for i in images.images()}
        for where, ref in found.items():
            assert images.upstream(images.split_reference(ref)[0]) in upstream, (where, ref)
        for x in r.of_type(RELEASE):
            values = x.inputs.get("values") or {}
            assert not [k for k in ("imageRegistry", "image", "controllerImage", "proxy") if k in values], values


def test_a_mirrored_reference_keeps_the_pinned_tag():
    mirror = images.Mirror(MIRROR)
    assert mirror.reference(versions.VAULT_IMAGE) == f"{MIRROR}/hashicorp/vault:{versions.VAULT_VERSION}"
    assert mirror.reference(versions.K3S_IMAGE) == f"{MIRROR}/rancher/k3s:{versions.K3S_VERSION}"
    assert mirror.reference("nginx@sha256:" + "a" * 64) == f"{MIRROR}/library/nginx@sha256:" + "a" * 64
    assert mirror.repository("quay.io/jetstack/trust-manager") == f"{MIRROR}/jetstack/trust-manager"
    assert images.Mirror().reference(versions.VAULT_IMAGE) == versions.VAULT_IMAGE  # no mirror: as written


def test_a_single_override_moves_only_its_image():
    override = "registry.example.com/cm/trust-manager"
    r = render(cfg(imageRegistry=MIRROR, images=json.dumps({"quay.io/jetstack/trust-manager": override})))
    found = pulled(r)
    assert found["trust-manager image"] == override
    assert found["cert-manager image"] == f"{MIRROR}/jetstack/cert-manager-controller"
    only_override = pulled(render(cfg(images=json.dumps({"hashicorp/vault": "registry.example.com/hc/vault"}))))
    assert only_override["vault-dev-image"] == f"registry.example.com/hc/vault:{versions.VAULT_VERSION}"
    assert only_override["cert-manager image"] == "quay.io/jetstack/cert-manager-controller"


IMAGE_KEY = re.compile(r"(^image$|Image$)")
IMAGE_STRING = re.compile(rf"^({'|'.join(re.escape(r) for r in UPSTREAM_REGISTRIES)})/[a-z0-9._/-]+")


def image_keys(values, path: str = "") -> set[str]:
    """Every key of a chart's values that names an image: `image`, `*Image`, or any value spelling one."""
    found = set()
    if isinstance(values, dict):
        for key, value in values.items():
            here = f"{path}.{key}" if path else str(key)
            if IMAGE_KEY.search(str(key)) or (isinstance(value, str) and IMAGE_STRING.match(value)):
                found.add(here)
            else:
                found |= image_keys(value, here)
    elif isinstance(values, list):
        for i, item in enumerate(values):
            found |= image_keys(item, f"{path}[{i}]")
    return found


@pytest.mark.parametrize("chart", sorted(charts.PINS))
def test_every_image_key_of_the_pinned_charts_is_moved_or_turned_off(chart):
    """The real values.yaml of each pinned chart, walked: a new image key in a new version fails here."""
    keys = image_keys(chart_defaults(chart))
    moved = {i.key for i in images.chart_images(chart)}
    off = {key for (owner, key) in images.DISABLED if owner == chart}
    assert keys == moved | off, f"{chart}: not moved {sorted(keys - moved - off)}; gone {sorted((moved | off) - keys)}"


def test_the_walk_finds_an_image_key_a_new_chart_version_would_add():
    values = copy.deepcopy(chart_defaults("linkerd-control-plane"))
    values["policyController"]["image"] = {"name": "cr.l5d.io/linkerd/policy-controller"}
    values["newThing"] = {"sidecar": "cr.l5d.io/linkerd/new-sidecar:edge-26.9.1"}
    assert image_keys(values) - {i.key for i in images.chart_images("linkerd-control-plane")} == {
        "policyController.image",
        "newThing.sidecar",
    }


def test_the_turned_off_images_are_off_in_every_mode_that_installs_their_chart():
    for name in MODES:
        for x in render_mode(name).of_type(RELEASE):
            for (chart, _key), (off, _why) in images.DISABLED.items():
                if x.inputs["name"] == chart:
                    values = x.inputs["values"]
                    assert images.deep_merge(copy.deepcopy(values), off) == values, (name, chart)


def test_the_pull_secret_is_in_each_namespace_installed_into_and_every_charts_values():
    r = render_mode("k3d+docker+mirror")
    secrets = {
        x.inputs["metadata"]["namespace"]: x
        for x in r.of_type("kubernetes:core/v1:Secret")
        if x.inputs["metadata"]["name"] == names.PULL_SECRET
    }
    assert set(secrets) == {"cert-manager", "linkerd"}
    for secret in secrets.values():
        assert secret.inputs["type"] == "kubernetes.io/dockerconfigjson"
        assert secret.inputs["stringData"] == {".dockerconfigjson": DOCKERCONFIG}
        assert secret.is_secret("stringData")
    releases = {x.inputs["name"]: x for x in r.of_type(RELEASE)}
    pull = [{"name": names.PULL_SECRET}]
    assert releases["cert-manager"].inputs["values"]["global"]["imagePullSecrets"] == pull
    assert releases["trust-manager"].inputs["values"]["imagePullSecrets"] == pull
    assert releases["linkerd-control-plane"].inputs["values"]["imagePullSecrets"] == pull
    # The Secret is there before the pods that pull with it.
    assert r.waits_for(releases["cert-manager"], r.one("kubernetes:core/v1:Secret", "cert-manager-pull-secret"))
    assert r.waits_for(releases["linkerd-control-plane"], r.one("kubernetes:core/v1:Secret", "linkerd-pull-secret"))
    assert not releases["cert-manager"].inputs.get("createNamespace")  # the stack's namespace, made first
    # The Vault container pulls with it too: a provider of its own, the password a secret.
    provider = r.one("pulumi:providers:docker", "vault-dev-registry")
    (auth,) = (
        provider.inputs["registryAuth"]
        if isinstance(provider.inputs["registryAuth"], list)
        else json.loads(provider.inputs["registryAuth"])
    )
    assert auth["address"] == "mirror.example.com:5000" and auth["username"] == "robot"
    assert PULL_PASSWORD not in json.dumps({k: v for k, v in r.outputs.items() if k not in r.secret_outputs})


def test_without_a_pull_secret_nothing_of_it_is_made():
    r = render(cfg(imageRegistry=MIRROR))
    assert not [x for x in r.of_type("kubernetes:core/v1:Secret") if x.inputs["metadata"]["name"] == names.PULL_SECRET]
    assert not r.of_type("pulumi:providers:docker")
    assert "global" not in r.one(RELEASE, "cert-manager-cert-manager").inputs["values"]


def test_k3ds_nodes_pull_through_the_mirror_with_the_pull_secrets_credentials():
    r = render_mode("k3d+docker+mirror")
    k3d = r.one(K3D)
    assert "--registry-config" in k3d.inputs["create"] and '"$LVP_REGISTRIES_FILE"' in k3d.inputs["create"]
    assert k3d.is_secret("environment")  # it holds the registry credentials
    registries = yaml.safe_load(k3d.inputs["environment"]["LVP_K3S_REGISTRIES"])
    assert registries["mirrors"]["*"] == {
        "endpoint": ["https://mirror.example.com:5000"],
        "rewrite": {"^(.*)$": "upstream/$1"},
    }
    assert registries["mirrors"]["mirror.example.com:5000"] == {"endpoint": ["https://mirror.example.com:5000"]}
    assert registries["configs"] == {
        "mirror.example.com:5000": {"auth": {"username": "robot", "password": PULL_PASSWORD}}
    }
    assert PULL_PASSWORD not in k3d.inputs["create"]  # only in the (secret) environment
    assert "environment" in k3d.replace_on_changes  # containerd reads it when the node starts


def test_without_a_mirror_k3d_is_created_as_before():
    k3d = render(cfg()).one(K3D)
    assert "--registry-config" not in k3d.inputs["create"] and not k3d.inputs.get("environment")


def test_charts_come_from_the_oci_mirror_the_http_mirror_or_a_local_directory(tmp_path):
    oci = {x.inputs["name"]: x.inputs for x in render_mode("k3d+docker+mirror").of_type(RELEASE)}
    assert oci["cert-manager"]["chart"] == "oci://mirror.example.com:5000/charts/cert-manager"
    assert oci["linkerd-crds"]["chart"] == "oci://mirror.example.com:5000/charts/linkerd-crds"
    assert oci["linkerd-crds"]["version"] == versions.LINKERD_CRDS.version and not oci["linkerd-crds"].get(
        "repositoryOpts"
    )
    http = {x.inputs["name"]: x.inputs for x in render_mode("platform+mirror").of_type(RELEASE)}
    assert http["trust-manager"]["chart"] == "trust-manager"
    assert http["trust-manager"]["repositoryOpts"] == {"repo": "https://charts.example.com/all"}
    assert http["trust-manager"]["version"] == versions.TRUST_MANAGER.version
    for pin in charts.PINS.values():
        write_chart(tmp_path, pin.name, pin.version)
    local = {x.inputs["name"]: x.inputs for x in render(cfg(chartRepository=f"file://{tmp_path}")).of_type(RELEASE)}
    assert local["linkerd-control-plane"]["chart"] == str(tmp_path / "linkerd-control-plane")
    assert "version" not in local["linkerd-control-plane"]  # the directory's Chart.yaml is the pin, checked
    per_chart = json.dumps({"linkerd-crds": str(tmp_path)})
    mixed = {x.inputs["name"]: x.inputs for x in render(cfg(chartRepositories=per_chart)).of_type(RELEASE)}
    assert mixed["linkerd-crds"]["chart"] == str(tmp_path / "linkerd-crds")
    assert mixed["cert-manager"]["chart"] == versions.CERT_MANAGER.chart  # the others upstream


def write_chart(folder: Path, name: str, version: str) -> Path:
    chart = folder / name
    chart.mkdir(parents=True, exist_ok=True)
    (chart / "Chart.yaml").write_text(f"apiVersion: v2\nname: {name}\nversion: {version}\n")
    return chart


def test_a_relative_chart_directory_is_the_projects(tmp_path, monkeypatch):
    for pin in charts.PINS.values():
        write_chart(tmp_path / "charts", pin.name, pin.version)
    monkeypatch.chdir(tmp_path)
    local = {x.inputs["name"]: x.inputs for x in render(cfg(chartRepository="charts")).of_type(RELEASE)}
    assert local["cert-manager"]["chart"] == str(tmp_path / "charts" / "cert-manager")


def dockerconfig(**auths) -> str:
    return json.dumps({"auths": auths})


@pytest.mark.parametrize(
    ("raw", "key", "says"),
    [
        ({"imageRegistry": "https://mirror.example.com"}, "imageRegistry", "no scheme"),
        ({"imageRegistry": "mirror"}, "imageRegistry", "a host with a dot or a port"),
        ({"imageRegistry": "Mirror.example.com"}, "imageRegistry", "lowercase"),
        ({"imageRegistry": "mirror.example.com/a b"}, "imageRegistry", "host[:port][/prefix]"),
        ({"imageRegistry": "mirror.example.com:5000/"}, "imageRegistry", "host[:port][/prefix]"),
        ({"imageRegistry": "mirror.corp.example:99999"}, "imageRegistry", "a port is 1 to 65535"),
        ({"imageRegistry": "mirror.corp.example:0/upstream"}, "imageRegistry", "a port is 1 to 65535"),
        ({"images": '{"quay.io/jetstack/trust-manager": "m.example:70000/tm"}'}, "images.quay.io/jetstack/trust-manager", "host[:port]/path"),
        ({"imagePullSecret": "not json"}, "imagePullSecret", "is not a dockerconfigjson"),
        ({"imagePullSecret": dockerconfig()}, "imagePullSecret", "is not a dockerconfigjson"),
        ({"imagePullSecret": dockerconfig(**{"r.example.com": {"auth": "bm9jb2xvbg=="}})}, "imagePullSecret", "is not a dockerconfigjson"),
        ({"imagePullSecret": dockerconfig(**{"r.example.com": {"username": "u"}})}, "imagePullSecret", "is not a dockerconfigjson"),
        ({"images": "[a]"}, "images", "is not a map"),
        ({"images": '{"quay.io/jetstack/nothing": "r.example.com/x"}'}, "images.quay.io/jetstack/nothing", "is not an image this stack pulls"),
        ({"images": '{"hashicorp/vault": "r.example.com/hc/vault:1.0"}'}, "images.hashicorp/vault", "with no tag or digest"),
        ({"chartRepository": "ftp://charts.example.com"}, "chartRepository", "is not a chart repository"),
        ({"chartRepository": "/nonexistent/charts"}, "chartRepository", "is not a directory"),
        ({"chartRepositories": '{"linkerd-viz": "oci://r.example.com/c"}'}, "chartRepositories.linkerd-viz", "is not a chart this stack installs"),
        ({**MODES["vault-only+external"], "imageRegistry": MIRROR}, "imageRegistry", "only used when"),
        ({**MODES["platform"], "chartRepository": "oci://r.example.com/c"}, "chartRepository", "only used when"),
    ],
)  # fmt: skip
def test_bad_mirror_config_names_the_key_once(raw, key, says):
    problems = config_problems(**raw)
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{key}:") and says in problems[0], problems


def test_a_bad_pull_secret_is_never_echoed():
    secret = dockerconfig(**{"r.example.com": {"username": "robot"}}).replace("robot", "s3cr3t-user")
    (problem,) = config_problems(imagePullSecret=secret)
    assert "s3cr3t-user" not in problem


def test_a_local_chart_directory_must_hold_each_installed_chart_at_its_pin(tmp_path):
    for pin in charts.PINS.values():
        if pin.name != "trust-manager":
            write_chart(tmp_path, pin.name, pin.version)
    (problem,) = config_problems(chartRepository=str(tmp_path))
    assert (
        problem.startswith("chartRepository: ") and "has no trust-manager chart (trust-manager/Chart.yaml)" in problem
    )
    assert f"helm pull {versions.TRUST_MANAGER.chart} --version {versions.TRUST_MANAGER.version} --untar" in problem
    write_chart(tmp_path, "trust-manager", "v0.23.0")
    (problem,) = config_problems(chartRepository=str(tmp_path))
    assert "Chart.yaml is version 'v0.23.0', not the pinned v0.24.0" in problem
    (tmp_path / "trust-manager" / "Chart.yaml").write_text("apiVersion: v2\nname: other\nversion: v0.24.0\n")
    (problem,) = config_problems(chartRepository=str(tmp_path))
    assert "names chart 'other', not trust-manager" in problem
    # Only the charts the stack installs are looked for: Linkerd's alone with certManager existing.
    (tmp_path / "trust-manager" / "Chart.yaml").unlink()
    assert config_problems(**MODES["existing+external"], certManager="existing", chartRepository=str(tmp_path)) == []


def test_the_policy_pack_passes_the_mirrored_program_and_catches_what_leaves_the_mirror():
    config = {"imageRegistries": [MIRROR], "chartRepositories": [MIRRORED["chartRepository"]]}
    resources = [
        rules.Resource(x.type, x.name, x.inputs) for x in render_mode("k3d+docker+mirror").resources if not x.read_id
    ]
    assert rules.violations(resources, config) == {}
    assert rules.violations(resources) == {}  # unconfigured: no mirror to hold anything to

    def broken(resource_type: str, mutate) -> list[str]:
        changed = copy.deepcopy(resources)
        for r in changed:
            if r.type == resource_type:
                mutate(r.props)
                break
        return rules.violations(changed, config).get("stack", [])

    def forget(dotted: str):
        def mutate(props):
            node = props["values"]
            *head, last = dotted.split(".")
            for part in head:
                node = node[part]
            del node[last]

        return mutate

    assert any(
        "image.repository of cert-manager is the upstream default" in p
        for p in broken(RELEASE, forget("image.repository"))
    )
    assert any(
        "the image is hashicorp/vault" in p
        for p in broken("docker:index/remoteImage:RemoteImage", lambda p: p.update(name=versions.VAULT_IMAGE))
    )
    assert any(
        "chart oci://quay.io" in p for p in broken(RELEASE, lambda p: p.update(chart=versions.CERT_MANAGER.chart))
    )
    assert any("K3D_IMAGE_TOOLS" in p for p in broken(K3D, lambda p: p["environment"].pop("K3D_IMAGE_TOOLS")))
    assert any(
        "no --registry-config" in p
        for p in broken(K3D, lambda p: p.update(create=p["create"].replace("--registry-config", "")))
    )


def test_scripts_policy_config_reads_the_mirror_from_the_stacks_config(tmp_path):
    from tests.helpers import load_script

    policy_config = load_script("policy_config")
    stack_config = {
        "linkerd-vault-pki:imageRegistry": {"value": MIRROR, "secret": False},
        "linkerd-vault-pki:images": {
            "value": json.dumps({"hashicorp/vault": "r.example.com/hc/vault"}),
            "secret": False,
        },
        "linkerd-vault-pki:chartRepository": {"value": "charts", "secret": False},
        "linkerd-vault-pki:imagePullSecret": {"secret": True},
    }
    assert policy_config.pack_config(stack_config, tmp_path) == {
        "pulls-from-the-mirror": {
            "imageRegistries": [MIRROR, "r.example.com/hc/vault"],
            "chartRepositories": [str(tmp_path / "charts")],
        }
    }
    assert policy_config.pack_config({}, tmp_path) == {}


def test_the_readme_table_of_images_and_charts_is_the_programs():
    readme = (ROOT / "README.md").read_text()
    assert images.markdown_table() in readme, "README's table of images is stale: python -m linkerd_vault_pki.images"
    assert images.charts_table() in readme, "README's table of charts is stale: python -m linkerd_vault_pki.images"


def test_every_image_of_the_table_is_one_the_program_pulls_in_some_mode():
    """By repository path (k3d's helper images are named by the program only under a mirror)."""
    found = set()
    for name in MODES:
        for ref in pulled(render_mode(name)).values():
            repo = images.split_reference(ref)[0].removeprefix(f"{MIRROR}/")
            found.add(images.upstream(repo).split("/", 1)[1] if not repo.startswith(MIRROR) else repo)
    assert {i.repository.split("/", 1)[1] for i in images.images()} <= found


def test_the_dockerconfigjson_reader():
    auth = base64.b64encode(b"u:p:with:colons").decode()
    assert images.registry_auths(dockerconfig(**{"https://r.example.com/": {"auth": auth}})) == {
        "r.example.com": ("u", "p:with:colons")
    }
    assert images.registry_auths(dockerconfig(**{"r.example.com": {"username": "u", "password": "p"}})) == {
        "r.example.com": ("u", "p")
    }
    assert images.registry_auths("[]") is None
