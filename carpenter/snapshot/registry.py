"""Image tag -> digest through the OCI distribution API, as of a cut-off date where possible.

A registry answers `HEAD /v2/<repository>/manifests/<tag>` with the digest in
`Docker-Content-Digest`. Public registries first answer 401 with a `WWW-Authenticate` header
that names the token endpoint (realm), service and scope; the client follows it instead of
knowing hosts (Docker Hub, ghcr.io, nvcr.io and the reference server all work this way).
Credentials from the docker client's config.json are used when present and never printed.

Registries keep no tag history: the digest proves the image the tag names *now*. Where the
registry says when the tag was last pushed (Docker Hub's tag API), a push after the cut-off
is reported so the user knows the digest is of a later image.

Mirrors (pull-through caches: Docker's `registry-mirrors`, a Harbor proxy-cache project,
`registry` with `proxy.remoteurl`) are asked first, in order, and the upstream registry last,
as dockerd does; the answer says which one gave the digest. An endpoint that cannot be
reached is asked once per client.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

import requests

from carpenter.core.redact import safe_text

# Index types first: a multi-arch tag must give its index digest, not one platform's.
MANIFEST_ACCEPT = ", ".join((
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
))
DOCKER_HUB_HOST = "registry-1.docker.io"
DOCKER_HUB_API = "https://hub.docker.com"
_DOCKER_HUB_NAMES = ("docker.io", "index.docker.io", "registry-1.docker.io")
_DOCKER_HUB_AUTH_KEYS = ("https://index.docker.io/v1/", "index.docker.io", "docker.io",
                         "registry-1.docker.io")


class RegistryError(Exception):
    """The registry could not be asked or refused to answer; the message is safe to print."""


@dataclass(frozen=True)
class ImageName:
    """A parsed `[host[:port]/]repository[:tag]` reference."""

    host: str  # where the API lives: registry-1.docker.io for Docker Hub short names
    repository: str  # library/python for `python`
    tag: str

    @property
    def is_docker_hub(self) -> bool:
        return self.host == DOCKER_HUB_HOST

    @property
    def scheme(self) -> str:
        # dockerd itself talks plain HTTP to loopback registries; so do we (test servers).
        return "http" if _is_loopback(self.host) else "https"

    def display(self) -> str:
        return f"{self.host}/{self.repository}:{self.tag}"


@dataclass(frozen=True)
class Mirror:
    """A pull-through cache that serves the repositories of one upstream registry."""

    registry: str  # the upstream API host it mirrors (registry-1.docker.io for docker.io)
    root: str  # where its /v2/ API lives: scheme://host[:port][/path], no trailing slash
    prefix: str = ""  # repository prefix on the mirror (a Harbor proxy-cache project)
    source: str = ""  # where it was configured (shown in notes)

    @property
    def host(self) -> str:
        """The mirror's host[:port]: the key of its credentials in the docker config."""
        return urlsplit(self.root).netloc

    def shown(self) -> str:
        return self.root + (f" (repository prefix {self.prefix}/)" if self.prefix else "")


@dataclass(frozen=True)
class ImageDigest:
    ref: str
    digest: str
    media_type: str = ""
    pushed: datetime | None = None  # the tag's last push, when the registry says
    mirror: Mirror | None = None  # the mirror that answered; None: the registry itself
    skipped: tuple[str, ...] = ()  # why the mirrors asked before the answer gave none

    def pushed_after(self, cutoff: datetime) -> bool:
        return self.pushed is not None and self.pushed > cutoff


def parse_image_name(ref: str) -> ImageName:
    """Docker's rules: the first component is a host when it has a dot or a colon, or is
    `localhost`; otherwise the image is on Docker Hub, under `library/` when it has no slash."""
    ref = ref.strip().split("@", 1)[0]
    if not ref or any(c.isspace() for c in ref):
        raise RegistryError(f"not an image reference: {ref!r}")
    first, sep, rest = ref.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        host, path = first, rest
    else:
        host, path = "docker.io", ref
    name, tag = path, "latest"
    last = path.rsplit("/", 1)[-1]
    if ":" in last:
        name, tag = path.rsplit(":", 1)
    if host in _DOCKER_HUB_NAMES:
        host = DOCKER_HUB_HOST
        if "/" not in name:
            name = "library/" + name
    if not re.fullmatch(r"[a-z0-9]+(?:[._/-]+[a-z0-9]+)*", name) or not re.fullmatch(
            r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}", tag):
        raise RegistryError(f"not an image reference: {ref!r}")
    return ImageName(host, name, tag)


def upstream_host(registry: str) -> str:
    """The API host of a registry name as users write it (`docker.io` -> Docker Hub's)."""
    registry = registry.strip().lower()
    return DOCKER_HUB_HOST if registry in _DOCKER_HUB_NAMES else registry


@dataclass(frozen=True)
class _Target:
    """One place to ask for a manifest: the registry itself or a mirror of it."""

    host: str  # credentials and tokens are kept per host
    root: str  # scheme://host[/path] where /v2/ lives
    repository: str
    tag: str
    shown: str  # in messages

    @property
    def url(self) -> str:
        return f"{self.root}/v2/{self.repository}/manifests/{self.tag}"

    @classmethod
    def upstream(cls, name: ImageName) -> _Target:
        return cls(name.host, f"{name.scheme}://{name.host}", name.repository, name.tag,
                   name.display())

    @classmethod
    def through(cls, mirror: Mirror, name: ImageName) -> _Target:
        repository = f"{mirror.prefix}/{name.repository}" if mirror.prefix else name.repository
        return cls(mirror.host, mirror.root, repository, name.tag,
                   f"{name.display()} via mirror {mirror.root}")


def _is_loopback(host: str) -> bool:
    name = host.rsplit(":", 1)[0] if host.count(":") == 1 or host.startswith("[") else host
    name = name.strip("[]")
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


# -- the WWW-Authenticate challenge ----------------------------------------------------------

_PARAM = re.compile(r'([A-Za-z_]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))')


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """`Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="..."`
    -> ("bearer", {realm, service, scope}). Quoted values may contain commas (scopes do)."""
    scheme, _, params = header.strip().partition(" ")
    values = {m.group(1).lower(): m.group(2) if m.group(2) is not None else m.group(3)
              for m in _PARAM.finditer(params)}
    return scheme.lower(), values


# -- credentials ------------------------------------------------------------------------------

def docker_credentials(host: str, config_dir: str | None = None) -> tuple[str, str] | None:
    """(user, secret) for a registry host from the docker client's config.json `auths`.

    Credential helpers (credsStore) are not run: they may prompt or reach a keychain."""
    folder = config_dir or os.environ.get("DOCKER_CONFIG") or str(Path.home() / ".docker")
    path = Path(folder) / "config.json"
    try:
        auths = json.loads(path.read_text(encoding="utf-8")).get("auths", {})
    except (OSError, ValueError, AttributeError):
        return None
    if not isinstance(auths, dict):
        return None
    keys = _DOCKER_HUB_AUTH_KEYS if host == DOCKER_HUB_HOST else (
        host, f"https://{host}", f"http://{host}", f"https://{host}/v1/", f"https://{host}/v2/")
    for key in keys:
        entry = auths.get(key)
        if isinstance(entry, dict):
            pair = _decode_auth(entry)
            if pair is not None:
                return pair
    return None


def _decode_auth(entry: dict) -> tuple[str, str] | None:
    if isinstance(entry.get("auth"), str):
        try:
            user, _, secret = base64.b64decode(entry["auth"]).decode("utf-8").partition(":")
        except (ValueError, UnicodeDecodeError):
            return None
        return (user, secret) if secret else None
    if isinstance(entry.get("username"), str) and isinstance(entry.get("password"), str):
        return entry["username"], entry["password"]
    return None


# -- the client -------------------------------------------------------------------------------

class RegistryClient:
    """One client per run: tokens are kept per (host, scope)."""

    def __init__(self, timeout: float = 20, config_dir: str | None = None,
                 session: requests.Session | None = None,
                 mirrors: Sequence[Mirror] = ()) -> None:
        self.timeout = timeout
        self.config_dir = config_dir
        self.session = session or requests.Session()
        self.mirrors = tuple(mirrors)
        self._tokens: dict[tuple[str, str], str] = {}
        self._secrets: list[str] = []  # every credential seen, masked in every message
        self._unreachable: dict[str, str] = {}  # endpoint root -> the error it gave

    def mirrors_for(self, name: ImageName) -> list[Mirror]:
        return [m for m in self.mirrors if m.registry == name.host]

    def resolve(self, ref: str, with_push_time: bool = True) -> ImageDigest:
        """The digest from the first mirror of the image's registry that has the tag, else
        from the registry itself; the error names every place asked."""
        name = parse_image_name(ref)
        skipped: list[str] = []
        for mirror in self.mirrors_for(name):
            try:
                digest, media_type = self.manifest_digest(name, mirror)
            except RegistryError as exc:
                skipped.append(str(exc))
                continue
            return self._found(ref, name, digest, media_type, with_push_time, mirror, skipped)
        try:
            digest, media_type = self.manifest_digest(name)
        except RegistryError as exc:
            if skipped:
                raise RegistryError("; ".join([*skipped, str(exc)])) from None
            raise
        return self._found(ref, name, digest, media_type, with_push_time, None, skipped)

    def _found(self, ref: str, name: ImageName, digest: str, media_type: str,
               with_push_time: bool, mirror: Mirror | None, skipped: list[str]) -> ImageDigest:
        pushed = None
        if with_push_time:
            pushed, upstream_digest = self.push_record(name)
            if mirror is not None and upstream_digest not in (None, digest):
                # The mirror holds an earlier push of the tag: Docker Hub's date is another
                # image's, so it says nothing about this one.
                pushed = None
        return ImageDigest(ref, digest, media_type, pushed, mirror, tuple(skipped))

    def manifest_digest(self, name: ImageName, mirror: Mirror | None = None) -> tuple[str, str]:
        target = _Target.upstream(name) if mirror is None else _Target.through(mirror, name)
        where = "registry" if mirror is None else "mirror"
        response = self._get(target, method="HEAD")
        if response.status_code == 405 or (response.ok and not response.headers.get(
                "Docker-Content-Digest")):
            response = self._get(target, method="GET")  # some registries do not HEAD
        if response.status_code == 404:
            raise RegistryError(f"{target.shown}: no such tag on the {where}")
        if not response.ok:
            raise RegistryError(f"{target.shown}: {where} answered HTTP "
                                f"{response.status_code}")
        media_type = response.headers.get("Content-Type", "").split(";")[0].strip()
        digest = response.headers.get("Docker-Content-Digest", "")
        if not digest and response.content:
            digest = "sha256:" + hashlib.sha256(response.content).hexdigest()
        if not re.fullmatch(r"sha256:[0-9a-f]{64}", digest):
            raise RegistryError(f"{target.shown}: {where} gave no sha256 digest")
        return digest, media_type

    def push_time(self, name: ImageName) -> datetime | None:
        return self.push_record(name)[0]

    def push_record(self, name: ImageName) -> tuple[datetime | None, str | None]:
        """(last push, digest the tag names now) from Docker Hub's tag API; the OCI API has
        no such field. Asked once per client when Docker Hub's API cannot be reached."""
        if not name.is_docker_hub or DOCKER_HUB_API in self._unreachable:
            return None, None
        namespace, _, repo = name.repository.partition("/")
        url = (f"{DOCKER_HUB_API}/v2/repositories/{namespace}/{repo}/tags/"
               f"{name.tag}")
        try:
            response = self.session.get(url, timeout=self.timeout)
            if not response.ok:
                return None, None
            body = response.json()
        except requests.RequestException as exc:
            self._unreachable[DOCKER_HUB_API] = type(exc).__name__
            return None, None  # the push time is a bonus; the digest stands without it
        except ValueError:
            return None, None
        digest = body.get("digest") if isinstance(body, dict) else None
        return parse_push_time(body), digest if isinstance(digest, str) and digest else None

    # -- HTTP with the token flow ----------------------------------------------------------
    def _get(self, target: _Target, method: str) -> requests.Response:
        headers = {"Accept": MANIFEST_ACCEPT}
        scope = f"repository:{target.repository}:pull"
        token = self._tokens.get((target.host, scope))
        if token:
            headers["Authorization"] = token
        response = self._send(method, target.url, headers, root=target.root)
        if response.status_code == 401 and not token:
            challenge = response.headers.get("WWW-Authenticate", "")
            headers["Authorization"] = self._authorize(target, challenge, scope)
            self._tokens[(target.host, scope)] = headers["Authorization"]
            response = self._send(method, target.url, headers, root=target.root)
        if response.status_code == 401:
            raise RegistryError(f"{target.shown}: the registry refused access "
                                "(private image? log in with docker login)")
        return response

    def _send(self, method: str, url: str, headers: dict[str, str],
              auth: tuple[str, str] | None = None, params: dict | None = None,
              root: str | None = None) -> requests.Response:
        root = root or url.split("/v2/")[0]
        if root in self._unreachable:
            raise RegistryError(self._unreachable[root])
        try:
            return self.session.request(method, url, headers=headers, auth=auth,
                                        params=params, timeout=self.timeout,
                                        allow_redirects=True)
        except requests.RequestException as exc:
            message = self.safe(f"cannot reach {root}: {type(exc).__name__}")
            self._unreachable[root] = message
            raise RegistryError(message) from None

    def _authorize(self, target: _Target, challenge: str, scope: str) -> str:
        """The Authorization header value the challenge asks for."""
        scheme, params = parse_challenge(challenge)
        creds = docker_credentials(target.host, self.config_dir)
        if creds:
            self._secrets.append(creds[1])
        if scheme == "basic":
            if creds is None:
                raise RegistryError(f"{target.shown}: the registry wants a login "
                                    "(docker login)")
            raw = base64.b64encode(f"{creds[0]}:{creds[1]}".encode()).decode()
            self._secrets.append(raw)
            return f"Basic {raw}"
        if scheme != "bearer" or not params.get("realm"):
            raise RegistryError(f"{target.shown}: unsupported authentication challenge "
                                f"{scheme or '(none)'}")
        query = {"service": params.get("service", ""),
                 "scope": params.get("scope") or scope}
        response = self._send("GET", params["realm"], {}, auth=creds,
                              params={k: v for k, v in query.items() if v})
        if not response.ok:
            raise RegistryError(f"{target.shown}: token endpoint answered HTTP "
                                f"{response.status_code}")
        try:
            body = response.json()
        except ValueError:
            raise RegistryError(f"{target.shown}: token endpoint gave no JSON") from None
        token = body.get("token") or body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise RegistryError(f"{target.shown}: token endpoint gave no token")
        self._secrets.append(token)
        return f"Bearer {token}"

    def safe(self, text: str) -> str:
        return safe_text(text, tuple(self._secrets))


def parse_push_time(body: object) -> datetime | None:
    """`tag_last_pushed` (newer API) or `last_updated` from Docker Hub's tag JSON."""
    if not isinstance(body, dict):
        return None
    for key in ("tag_last_pushed", "last_updated"):
        value = body.get(key)
        if isinstance(value, str) and value:
            try:
                return datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                continue
    return None
