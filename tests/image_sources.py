"""Where a stack's n8n and runner images come from: Docker Hub (what the program deploys), n8n's own images on
GitHub's registry, and a team's own build in its DigitalOcean registry under names that say nothing of n8n.

Each source rewrites the images of a recorded stack (tests/stackedit.py) the way a pull request that only
changes where the images come from would, and names the policy-pack config that source needs.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from stackedit import StackEdit

# The program's images, as the engine receives them: the Docker Hub account and repository.
N8N, RUNNERS = ("n8nio", "n8n"), ("n8nio", "runners")
# A team's own build in its DOCR registry `acme`, named for what it is to the team, not for n8n.
TEAM_REGISTRY = "registry.digitalocean.com/acme"
TEAM_REPOSITORIES = {N8N: "workflow-engine", RUNNERS: "code-sandbox"}


def _ghcr(repository: tuple[str, str], tag: str) -> dict:
    # The spelling DigitalOcean's own templates use: the host in `registry`, owner/name in `repository`.
    return {"registryType": "GHCR", "registry": "ghcr.io", "repository": f"n8n-io/{repository[1]}", "tag": tag}


def _team_docr(repository: tuple[str, str], tag: str) -> dict:
    # A team build carries the release it is built from, with its own suffix.
    return {"registryType": "DOCR", "repository": TEAM_REPOSITORIES[repository], "tag": f"{tag}-acme.2"}


@dataclass(frozen=True)
class ImageSource:
    name: str
    image: Callable[[tuple[str, str], str], dict] | None  # None: leave the program's Docker Hub images
    allowed_images: list[str] | None = None  # image-sources.allowedImages this source needs (None: defaults)

    def rewrite(self, edit: StackEdit) -> None:
        if self.image is None:
            return
        for kind in ("services", "workers", "jobs"):
            for component in edit.spec.get(kind, []):
                image = component.get("image", {})
                repository = (image.get("registry"), image.get("repository"))
                if repository in (N8N, RUNNERS):
                    component["image"] = self.image(repository, image["tag"])

    def given(self) -> dict:
        """The policy-pack config this source needs ({} for the pack's defaults)."""
        return {} if self.allowed_images is None else {"image-sources": {"allowedImages": self.allowed_images}}

    def policy_config(self, directory: Path) -> Path | None:
        """The `--policy-pack-config` file this source needs, written into `directory`."""
        if self.allowed_images is None:
            return None
        path = directory / "image-sources.json"
        path.write_text(json.dumps(self.given()))
        return path


SOURCES = [
    ImageSource("Docker Hub", None),
    ImageSource("GHCR", _ghcr),
    ImageSource("team DOCR build", _team_docr,
                [f"{TEAM_REGISTRY}/{TEAM_REPOSITORIES[N8N]}", f"{TEAM_REGISTRY}/{TEAM_REPOSITORIES[RUNNERS]}"]),
]
