"""Where a component's image comes from and how it is pinned, read from the App spec's `image`.

App Platform pulls from three registries, named by `registry_type` (DigitalOcean's OpenAPI app spec,
`apps_image_source_spec`): DOCKER_HUB and GHCR name an account or organisation in `registry` and the
image in `repository`; DOCR is the team's own DigitalOcean registry, so `registry` stays empty there.
Both spellings found in templates are read: `registry: n8nio, repository: n8n` and `registry: ghcr.io,
repository: n8n-io/n8n` (a registry host, unlike an account name, has a dot). An image is pinned by `tag`
or by `digest`, never both; with neither App Platform pulls `latest`. `registry_credentials`
(`user:token`) is a secret: nothing here reads or shows it.

Image references are written as `docker pull` takes them (`docker.io/n8nio/n8n`, `ghcr.io/n8n-io/n8n`,
`registry.digitalocean.com/<registry>/n8n`). A DOCR image in an App spec names no registry — App
Platform pulls from the team's one registry — so it matches an allowed DOCR reference by repository.
Stdlib only: the policy pack imports it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeGuard

from . import catalog
from .spec_fields import spec_value

DOCKER_HUB, GHCR, DOCR = "DOCKER_HUB", "GHCR", "DOCR"
REGISTRY_HOSTS = {DOCKER_HUB: "docker.io", GHCR: "ghcr.io", DOCR: "registry.digitalocean.com"}
# Docker Hub answers under several names; an image named by any of them is a Docker Hub image.
_DOCKER_HUB_ALIASES = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com",
                                 "hub.docker.com"})
# A release as n8n tags it (2.41.1), optionally with a build suffix a team adds to its own image
# (2.41.1-community-nodes.3); what the suffix is built from is the release before it.
RELEASE_TAG = re.compile(r"(\d+\.\d+\.\d+)(?:[-+][0-9A-Za-z][0-9A-Za-z._-]*)?")


def _never(_value: Any) -> bool:
    return False


def release_of(tag: Any) -> str | None:
    """The n8n release a tag names (2.41.1), or None: a floating, partial or unknown tag."""
    match = RELEASE_TAG.fullmatch(tag) if isinstance(tag, str) else None
    return match.group(1) if match else None


@dataclass(frozen=True)
class Image:
    registry_type: str  # DOCKER_HUB, GHCR or DOCR
    path: str  # the repository inside the registry: n8nio/n8n, n8n-io/runners, or a DOCR repository
    tag: Any = None  # None, a string, or the engine's unknown sentinel
    digest: Any = None

    @property
    def reference(self) -> str:
        host = REGISTRY_HOSTS[self.registry_type]
        return f"{host}/<your registry>/{self.path}" if self.registry_type == DOCR else f"{host}/{self.path}"

    def shown(self) -> str:
        """The reference with its pin, as a reader would pull it."""
        if self.digest:
            return f"{self.reference}@{self.digest}"
        return f"{self.reference}:{self.tag}" if self.tag else f"{self.reference} (no tag)"


    def allowed_by(self, references: Iterable[str]) -> bool:
        return any(self._matches(r) for r in references)

    def _matches(self, reference: str) -> bool:
        host, _, path = reference.partition("/")
        if self.registry_type == DOCR:
            return host == REGISTRY_HOSTS[DOCR] and path.partition("/")[2] == self.path
        return host == REGISTRY_HOSTS[self.registry_type] and _hub_path(host, path) == self.path


def _hub_path(host: str, path: str) -> str:
    # Docker Hub's official images live under `library/` (`postgres` is `library/postgres`).
    return f"library/{path}" if host == REGISTRY_HOSTS[DOCKER_HUB] and "/" not in path else path


def image_of(component: Mapping[str, Any], is_unknown: Callable[[Any], bool] = _never
             ) -> tuple[Image | None, str | None]:
    """The component's image, or why it cannot be read (None, None: it has no `image`, e.g. it is built
    from a Git repository)."""
    image = component.get("image")
    if image is None:
        return None, None
    if is_unknown(image) or not isinstance(image, Mapping):
        return None, "its image is not known at preview"
    kind, registry, repository = (spec_value(image, k) for k in ("registry_type", "registry", "repository"))
    if any(is_unknown(v) for v in (kind, registry, repository)):
        return None, "its image's registry or repository is not known at preview"
    if kind not in REGISTRY_HOSTS:
        return None, (f"its image's registry_type is {kind!r}; App Platform pulls from "
                      f"{', '.join(REGISTRY_HOSTS)} only")
    if not isinstance(repository, str) or not repository:
        return None, "its image names no repository"
    path, problem = _path(kind, registry if isinstance(registry, str) else "", repository)
    if problem:
        return None, problem
    return Image(kind, path, image.get("tag"), image.get("digest")), None


def _path(kind: str, registry: str, repository: str) -> tuple[str, str | None]:
    """The repository's path inside the registry `kind` names, whichever spelling the spec uses."""
    if kind == DOCR:
        if registry:
            return "", (f"its DOCR image names registry {registry!r}; App Platform pulls DOCR images from the "
                        "team's own registry and wants `registry` empty")
        return repository, None
    host = REGISTRY_HOSTS[kind]
    if "." not in registry and registry:
        return _hub_path(host, f"{registry}/{repository}"), None
    if registry and registry != host and not (kind == DOCKER_HUB and registry in _DOCKER_HUB_ALIASES):
        return "", f"its image's registry {registry!r} is not {host}, where registry_type {kind} pulls from"
    return _hub_path(host, repository), None


OFFICIAL_N8N = catalog.OFFICIAL_N8N_IMAGES
OFFICIAL_RUNNERS = catalog.OFFICIAL_RUNNERS_IMAGES


def is_official_n8n(image: Image | None) -> bool:
    return image is not None and image.allowed_by(OFFICIAL_N8N)


def is_official_runners(image: Image | None) -> TypeGuard[Image]:
    return image is not None and image.allowed_by(OFFICIAL_RUNNERS)
