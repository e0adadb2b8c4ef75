"""Checklist: Code nodes in sandboxed runners — and the images they run are n8n's own, pinned.

- Pinned: every image names a tag that does not float (`latest` moves without a review) or a digest;
  n8n and its runners run an exact release (2.41.1, or a team's build of it such as
  2.41.1-community.1), all of them the same one — the runners image must match the n8n it serves,
  and main and workers on different releases fight over database migrations.
- From an allowed source: whatever runs n8n or its runner launcher (or looks like it) is pulled from a
  registry and repository the stack trusts: n8n's official images on Docker Hub and GitHub's registry,
  and whatever the policy-pack config adds (a team's own DOCR or GHCR build). Which components these are
  is decided by what they run (policies/platform_model/roles.py), never by the image's name.

Unknown values: an image, tag or registry unknown at preview is a violation (literals in this program).
A digest cannot say which release it is: n8n and runners pinned by digest are compared digest to
digest within each group, not release to release.
"""

from __future__ import annotations

from typing import Any

from pulumi_policy import PolicyConfigSchema, Severity

from platform_model import catalog
from platform_model.catalog import APP
from platform_model.images import DOCR, REGISTRY_HOSTS, image_of, release_of
from platform_model.roles import UNRECOGNISED
from platform_model.spec_fields import is_unknown
from platform_model.spec_reader import AppSpec, Component

from .resources import app_check, resource_policy

FLOATING_TAGS = frozenset({"latest", "stable", "next", "beta", "nightly", "edge", "master", "main"})

# --- pinned images -------------------------------------------------------------------------------


def _pin_problem(component: Component, image: dict) -> str | None:
    tag, digest = image.get("tag"), image.get("digest")
    shown = f"{component.name}: {image.get('repository')}"
    if digest:
        return f"{component.name}: its image digest is not known at preview" if is_unknown(digest) else None
    if is_unknown(tag):
        return f"{component.name}: its image tag is not known at preview"
    if not tag:
        return f"{shown} has no tag, so App Platform pulls `latest`; pin a release"
    if str(tag).lower() in FLOATING_TAGS:
        return f"{shown}:{tag} is a floating tag; pin a release"
    return None


def _group(component: Component) -> str | None:
    if component.runs_n8n:
        return "n8n"
    return "runners" if component.is_runner_pool else None


def _pin(component: Component, image: dict) -> tuple[str | None, str | None]:
    """(release, digest) of an n8n or runners image pinned by tag or by digest."""
    if image.get("digest"):
        return None, str(image["digest"])
    return release_of(image.get("tag")), None


def pinning_problems(spec: AppSpec, _args) -> list[str]:
    problems: list[str] = []
    releases: dict[str, dict[str, str]] = {"n8n": {}, "runners": {}}  # group -> component -> release
    digests: dict[str, dict[str, str]] = {"n8n": {}, "runners": {}}
    for component in spec.components():
        image = component.data.get("image")
        if not isinstance(image, dict):
            if is_unknown(image):
                problems.append(f"{component.name}: its image is not known at preview")
            continue
        problem, group = _pin_problem(component, image), _group(component)
        if problem or not group:
            problems += [problem] if problem else []
            continue
        release, digest = _pin(component, image)
        if digest:
            digests[group][component.name] = digest
        elif release:
            releases[group][component.name] = release
        else:
            problems.append(f"{component.name}: {image.get('repository')}:{image.get('tag')} is not an exact n8n "
                            "release (like 2.41.1)")
    return problems + _same_release(releases, digests)


def _listed(pins: dict[str, str]) -> str:
    return ", ".join(f"{name} {pin}" for name, pin in sorted(pins.items()))


def _same_release(releases: dict[str, dict[str, str]], digests: dict[str, dict[str, str]]) -> list[str]:
    problems = []
    tagged = {**releases["n8n"], **releases["runners"]}
    if len(set(tagged.values())) > 1:
        problems.append(f"n8n and its runners run different releases ({_listed(tagged)}); pin every n8n and "
                        "runners image to the same release")
    for group in ("n8n", "runners"):
        if len(set(digests[group].values())) > 1:
            problems.append(f"the {group} images are pinned to different digests ({_listed(digests[group])}); "
                            "run one image")
        if digests[group] and releases[group]:
            problems.append(f"the {group} images are pinned partly by digest ({', '.join(sorted(digests[group]))}) "
                            f"and partly by tag ({', '.join(sorted(releases[group]))}), so their releases cannot "
                            "be compared; pin them alike")
    return problems


image_pinning = resource_policy(
    name="image-pinning",
    description=("Every image is pinned; n8n and its runners run one exact release, the same for all of them."),
    severity=Severity.MEDIUM,
    remediation=(
        "Set `n8n.version` to an exact release (e.g. 2.41.1); the program uses it as the tag of both "
        "n8nio/n8n and n8nio/runners. Never use `latest` or another floating tag; a team's own build is tagged "
        "with the release it is built from (2.41.1-<suffix>) or pinned by digest."
    ),
    types=(APP,),
    check=app_check(pinning_problems),
)


# --- allowed sources -----------------------------------------------------------------------------

ALLOWED_IMAGES = "allowedImages"
DEFAULT_ALLOWED = [*catalog.OFFICIAL_N8N_IMAGES, *catalog.OFFICIAL_RUNNERS_IMAGES]
_GIT_SOURCES = ("github", "gitlab", "bitbucket", "git")


def _what(component: Component) -> str | None:
    if component.runs_n8n:
        return "n8n"
    if component.is_runner_pool:
        return "n8n's runner launcher"
    return "what looks like n8n" if component.role == UNRECOGNISED else None


def _source_problem(component: Component, what: str, allowed: list[str]) -> str | None:
    image, unreadable = image_of(component.data, is_unknown)
    if unreadable:
        return f"{component.name} runs {what}, but {unreadable}"
    if image is None:
        source = next((k for k in _GIT_SOURCES if component.data.get(k)), "source")
        return (f"{component.name} runs {what} built from its {source} repository, not an image from an allowed "
                f"registry; build the image, push it to your registry and list it in `image-sources.{ALLOWED_IMAGES}` "
                "in the policy-pack config")
    if image.allowed_by(allowed):
        return None
    listed = ", ".join(allowed) or "none"
    return (f"{component.name} runs {what} from {image.shown()}, which is not an allowed image (allowed: {listed}). "
            f"If you trust it, add \"{image.reference}\" to `image-sources.{ALLOWED_IMAGES}` in the policy-pack "
            "config")


def source_problems(spec: AppSpec, args) -> list[str]:
    allowed = list(args.get_config().get(ALLOWED_IMAGES, DEFAULT_ALLOWED))
    problems = []
    for component in spec.components():
        what = _what(component)
        problem = _source_problem(component, what, allowed) if what else None
        if problem:
            problems.append(problem)
    return problems


# An allowed image as `docker pull` names it: docker.io/<account>/<repository>, ghcr.io/<owner>/<repository>,
# or registry.digitalocean.com/<registry>/<repository> for the team's own DigitalOcean registry.
_HOSTS = "|".join(h.replace(".", r"\.") for h in REGISTRY_HOSTS.values())
IMAGE_REFERENCE = rf"^({_HOSTS})/[a-z0-9][a-z0-9._-]*(/[a-z0-9][a-z0-9._-]*)+$"


def _allowed_schema() -> dict[str, Any]:
    hosts = REGISTRY_HOSTS
    return {
        "type": "array",
        "items": {"type": "string", "pattern": IMAGE_REFERENCE,
                  "description": (f"an image as `docker pull` names it: {hosts['DOCKER_HUB']}/<account>/<repository>, "
                                  f"{hosts['GHCR']}/<owner>/<repository> or {hosts[DOCR]}/<registry>/<repository> "
                                  "(App Platform pulls from these registries only)")},
        "default": DEFAULT_ALLOWED,
        "description": "a list of the images n8n and its runners may come from; it replaces the defaults",
    }


image_sources = resource_policy(
    name="image-sources",
    description=("Every component that runs n8n or its runner launcher pulls an allowed image: n8n's official "
                 "images unless the policy-pack config allows others."),
    severity=Severity.HIGH,
    remediation=(
        "Use n8nio/n8n and n8nio/runners from Docker Hub or ghcr.io/n8n-io/n8n and ghcr.io/n8n-io/runners. To run "
        "your own build (community nodes, a mirror), push it to your registry and list it in this policy's "
        f"`{ALLOWED_IMAGES}` in the policy-pack config, e.g. {{\"image-sources\": {{\"{ALLOWED_IMAGES}\": "
        f"[\"{REGISTRY_HOSTS[DOCR]}/acme/n8n\", \"{REGISTRY_HOSTS[DOCR]}/acme/runners\"]}}}} (the list replaces "
        "the defaults)."
    ),
    types=(APP,),
    check=app_check(source_problems),
    config_schema=PolicyConfigSchema(properties={ALLOWED_IMAGES: _allowed_schema()}),
)

POLICIES = [image_pinning, image_sources]
