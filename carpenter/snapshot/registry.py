"""Image tag -> digest through the OCI distribution API, as of a cut-off date where possible.

A registry answers `HEAD /v2/<repository>/manifests/<tag>` with the digest in
`Docker-Content-Digest`. Public registries first answer 401 with a `WWW-Authenticate` header
that names the token endpoint (realm), service and scope; the client follows it instead of
knowing hosts (Docker Hub, ghcr.io, nvcr.io and the reference server all work this way).
Credentials from the docker client's config.json are used when present and never printed.

Registries keep no tag history: the digest proves the image the tag names *now*. Where the
registry says when the tag was last pushed (Docker Hub's tag API), a push after the cut-off
is reported so the user knows the digest is of a later image.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import json
import os
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

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
class ImageDigest:
    ref: str
    digest: str
    media_type: str = ""
    pushed: datetime | None = None  # the tag's last push, when the registry says

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
                 session: requests.Session | None = None) -> None:
        self.timeout = timeout
        self.config_dir = config_dir
        self.session = session or requests.Session()
        self._tokens: dict[tuple[str, str], str] = {}
        self._secrets: list[str] = []  # every credential seen, masked in every message

    def resolve(self, ref: str, with_push_time: bool = True) -> ImageDigest:
        name = parse_image_name(ref)
        digest, media_type = self.manifest_digest(name)
        pushed = self.push_time(name) if with_push_time else None
        return ImageDigest(ref, digest, media_type, pushed)

    def manifest_digest(self, name: ImageName) -> tuple[str, str]:
        url = f"{name.scheme}://{name.host}/v2/{name.repository}/manifests/{name.tag}"
        response = self._get(name, url, method="HEAD")
        if response.status_code == 405 or (response.ok and not response.headers.get(
                "Docker-Content-Digest")):
            response = self._get(name, url, method="GET")  # some registries do not HEAD
        if response.status_code == 404:
            raise RegistryError(f"{name.display()}: no such tag on the registry")
        if not response.ok:
            raise RegistryError(f"{name.display()}: registry answered HTTP "
                                f"{response.status_code}")
        media_type = response.headers.get("Content-Type", "").split(";")[0].strip()
        digest = response.headers.get("Docker-Content-Digest", "")
        if not digest and response.content:
            digest = "sha256:" + hashlib.sha256(response.content).hexdigest()
        if not re.fullmatch(r"sha256:[0-9a-f]{64}", digest):
            raise RegistryError(f"{name.display()}: registry gave no sha256 digest")
        return digest, media_type

    def push_time(self, name: ImageName) -> datetime | None:
        """Docker Hub's tag API reports the tag's last push; the OCI API has no such field."""
        if not name.is_docker_hub:
            return None
        namespace, _, repo = name.repository.partition("/")
        url = (f"{DOCKER_HUB_API}/v2/repositories/{namespace}/{repo}/tags/"
               f"{name.tag}")
        try:
            response = self.session.get(url, timeout=self.timeout)
            if not response.ok:
                return None
            return parse_push_time(response.json())
        except (requests.RequestException, ValueError):
            return None  # the push time is a bonus; the digest stands without it

    # -- HTTP with the token flow ----------------------------------------------------------
    def _get(self, name: ImageName, url: str, method: str) -> requests.Response:
        headers = {"Accept": MANIFEST_ACCEPT}
        scope = f"repository:{name.repository}:pull"
        token = self._tokens.get((name.host, scope))
        if token:
            headers["Authorization"] = token
        response = self._send(method, url, headers)
        if response.status_code == 401 and not token:
            challenge = response.headers.get("WWW-Authenticate", "")
            headers["Authorization"] = self._authorize(name, challenge, scope)
            self._tokens[(name.host, scope)] = headers["Authorization"]
            response = self._send(method, url, headers)
        if response.status_code == 401:
            raise RegistryError(f"{name.display()}: the registry refused access "
                                "(private image? log in with docker login)")
        return response

    def _send(self, method: str, url: str, headers: dict[str, str],
              auth: tuple[str, str] | None = None, params: dict | None = None
              ) -> requests.Response:
        try:
            return self.session.request(method, url, headers=headers, auth=auth,
                                        params=params, timeout=self.timeout,
                                        allow_redirects=True)
        except requests.RequestException as exc:
            raise RegistryError(self.safe(f"cannot reach {url.split('/v2/')[0]}: "
                                          f"{type(exc).__name__}")) from None

    def _authorize(self, name: ImageName, challenge: str, scope: str) -> str:
        """The Authorization header value the challenge asks for."""
        scheme, params = parse_challenge(challenge)
        creds = docker_credentials(name.host, self.config_dir)
        if creds:
            self._secrets.append(creds[1])
        if scheme == "basic":
            if creds is None:
                raise RegistryError(f"{name.display()}: the registry wants a login "
                                    "(docker login)")
            raw = base64.b64encode(f"{creds[0]}:{creds[1]}".encode()).decode()
            self._secrets.append(raw)
            return f"Basic {raw}"
        if scheme != "bearer" or not params.get("realm"):
            raise RegistryError(f"{name.display()}: unsupported authentication challenge "
                                f"{scheme or '(none)'}")
        query = {"service": params.get("service", ""),
                 "scope": params.get("scope") or scope}
        response = self._send("GET", params["realm"], {}, auth=creds,
                              params={k: v for k, v in query.items() if v})
        if not response.ok:
            raise RegistryError(f"{name.display()}: token endpoint answered HTTP "
                                f"{response.status_code}")
        try:
            body = response.json()
        except ValueError:
            raise RegistryError(f"{name.display()}: token endpoint gave no JSON") from None
        token = body.get("token") or body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise RegistryError(f"{name.display()}: token endpoint gave no token")
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
