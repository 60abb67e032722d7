"""Registry mirrors for base-image look-ups, from the places organizers configure them.

In order: `--registry-mirror` values, then `CARPENTER_REGISTRY_MIRRORS`, then (for Docker Hub)
the Docker daemon's own `registry-mirrors`, so a machine whose dockerd pulls through a cache
looks digests up there too. Each value is `[registry=]url`, `docker.io` when no registry is
named; values in one string are separated by commas or spaces.

The path of a `--registry-mirror`/environment URL is a repository prefix on the mirror, the
form of a Harbor proxy-cache project (`docker.io=https://harbor.example.org/dockerhub` serves
`python:3.10` as `harbor.example.org/dockerhub/library/python:3.10`). The daemon's entries are
read as dockerd reads them: their path is where the /v2/ API lives.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from urllib.parse import urlsplit

from carpenter.core.errors import ConfigError
from carpenter.snapshot.registry import Mirror, upstream_host

ENV_VAR = "CARPENTER_REGISTRY_MIRRORS"
OPTION = "--registry-mirror"
DAEMON_CONFIG = Path("/etc/docker/daemon.json")
_REGISTRY = re.compile(r"[a-z0-9]+(?:[.-][a-z0-9]+)*(?::[0-9]+)?")
_PREFIX = re.compile(r"[a-z0-9]+(?:[._/-]+[a-z0-9]+)*")


def parse_mirror(text: str, source: str) -> Mirror:
    """`[registry=]scheme://host[:port][/prefix]` -> Mirror; a ConfigError names `source`."""
    registry, sep, url = text.strip().partition("=")
    if not sep or "/" in registry:  # an `=` inside the URL (a query) names no registry
        registry, url = "docker.io", text.strip()
    registry = registry.strip().lower()
    if not _REGISTRY.fullmatch(registry):
        raise ConfigError(f"{source}: {registry!r} is not a registry name (docker.io, "
                          f"nvcr.io, ghcr.io, host:port) in {_shown(text)!r}")
    root, path = _split_url(url.strip(), source)
    prefix = path.strip("/")
    if prefix and not _PREFIX.fullmatch(prefix):
        raise ConfigError(f"{source}: {prefix!r} is not a repository prefix in "
                          f"{_shown(text)!r}")
    return Mirror(upstream_host(registry), root, prefix, source)


def parse_mirrors(values: Iterable[str], source: str) -> list[Mirror]:
    """Every mirror in `values`, each of which may hold several (commas or spaces)."""
    return [parse_mirror(item, source) for value in values
            for item in re.split(r"[\s,]+", value) if item.strip()]


def daemon_mirrors(path: Path | None = None) -> list[Mirror]:
    """Docker Hub mirrors of the Docker daemon (`registry-mirrors` in daemon.json).

    A daemon.json that cannot be read or holds no valid list gives none: dockerd itself
    refuses to start on one it cannot parse, so such a file configures no mirror."""
    path = path or daemon_config_path()
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    values = doc.get("registry-mirrors") if isinstance(doc, dict) else None
    if not isinstance(values, list):
        return []
    out = []
    for value in values:
        if not isinstance(value, str):
            continue
        try:
            root, path_part = _split_url(value.strip(), str(path))
        except ConfigError:
            continue  # dockerd would refuse it too
        out.append(Mirror(upstream_host("docker.io"), root + path_part.rstrip("/"), "",
                          str(path)))
    return out


def daemon_config_path() -> Path:
    """The rootless daemon's config when it exists (dockerd-rootless reads that one), else
    the system daemon's."""
    config_home = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    rootless = Path(config_home) / "docker" / "daemon.json"
    return rootless if rootless.is_file() else DAEMON_CONFIG


def configured_mirrors(explicit: Iterable[str] = (), env: Mapping[str, str] | None = None,
                       daemon_config: Path | None = None) -> tuple[Mirror, ...]:
    """The mirrors to ask, in order: options, environment, the Docker daemon's; no repeats."""
    env = os.environ if env is None else env
    found = [*parse_mirrors(explicit, OPTION), *parse_mirrors([env.get(ENV_VAR, "")], ENV_VAR),
             *daemon_mirrors(daemon_config)]
    seen: set[tuple[str, str, str]] = set()
    out = []
    for mirror in found:
        key = (mirror.registry, mirror.root, mirror.prefix)
        if key not in seen:
            seen.add(key)
            out.append(mirror)
    return tuple(out)


def _split_url(url: str, source: str) -> tuple[str, str]:
    """(scheme://host[:port], path) of a mirror URL; credentials in it are refused (they
    belong in the docker config, where `docker login` puts them)."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise ConfigError(f"{source}: {_shown(url)!r} is not a URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{source}: a mirror must be an http:// or https:// URL, not "
                          f"{_shown(url)!r}")
    if parts.username or parts.password:
        raise ConfigError(f"{source}: no user or password in a mirror URL; `docker login "
                          f"{parts.hostname}` stores them where Carpenter reads them")
    if parts.query or parts.fragment:
        raise ConfigError(f"{source}: a mirror URL takes no query or fragment: "
                          f"{_shown(url)!r}")
    return f"{parts.scheme}://{parts.netloc.lower()}", parts.path


def _shown(text: str) -> str:
    """The value as it may be printed: a password in a URL is masked before any message."""
    return re.sub(r"(://[^/:@\s]*:)[^@/\s]*@", r"\1***@", text.strip())
