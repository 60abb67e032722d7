"""Tiny random-weight stand-ins for the hub models a submission loads, in a Hugging Face cache.

A 2023 server calls `AutoModelForCausalLM.from_pretrained("mistralai/Mistral-7B-v0.1")` at start
and dies offline. We build a model of the same architecture class, model_type and special
tokens, but a few thousand parameters, under that repo id, and mount the cache with
`HF_HUB_OFFLINE=1`: the submission's own loading and generation code then runs on CPU in
seconds. This proves the code path, never the model's quality (the result says so).

The build runs inside the submission's image (its transformers writes what it reads; the host
has none) and is cached on the host by content: repo id, family shape, the image's transformers
version and the builder script.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import tempfile
import time
import tomllib
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from carpenter import containers
from carpenter.core.errors import ConfigError, EngineError
from carpenter.core.redact import redact
from carpenter.core.resources import data_dir
from carpenter.smoke.containers import HARDENING

HARNESS_DIR = Path(__file__).resolve().parent / "harness"
BUILDER = "tiny_model.py"
RESULT_MARKER = "CARPENTER_TINY_RESULT "
OUT_MOUNT = "/carpenter-tiny"
HF_MOUNT = "/carpenter-hf"
BUILD_TIMEOUT_S = 300
# An HF repo id: optional org, a name; no scheme, no leading slash (a local path is not an id).
REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*(/[A-Za-z0-9][A-Za-z0-9_.\-]*)?$")
VERSION_PROBE = ("import importlib.metadata as m\n"
                 "print(m.version('transformers'))\n")
FIND_PYTHON = ('for p in python3 python; do command -v "$p" >/dev/null 2>&1 && exec "$p" "$@"; '
               'done; echo "carpenter: no python3 or python on PATH" >&2; exit 127')


@dataclass(frozen=True)
class Family:
    name: str
    model_type: str
    architecture: str
    special_tokens: dict[str, str]
    config: dict[str, Any]
    lora_targets: tuple[str, ...]
    match: tuple[str, ...]

    def spec(self) -> dict[str, Any]:
        return {"model_type": self.model_type, "architecture": self.architecture,
                "special_tokens": self.special_tokens, "config": self.config}


@dataclass
class Shapes:
    families: list[Family]
    remote_code: list[str]

    def family_for(self, repo: str) -> Family | None:
        for family in self.families:
            if any(re.search(pattern, repo, re.IGNORECASE) for pattern in family.match):
                return family
        return None

    def needs_remote_code(self, repo: str) -> bool:
        return any(re.search(pattern, repo, re.IGNORECASE) for pattern in self.remote_code)


@dataclass
class TinyCache:
    """What was substituted, for the result: the weights are random, the code path is real."""

    hf_home: Path | None = None
    substituted: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    build_s: float = 0.0
    cached: bool = True
    transformers: str | None = None

    def env(self) -> dict[str, str]:
        if self.hf_home is None:
            return {}
        return {"HF_HOME": HF_MOUNT, "HF_HUB_CACHE": f"{HF_MOUNT}/hub",
                "HUGGINGFACE_HUB_CACHE": f"{HF_MOUNT}/hub", "TRANSFORMERS_CACHE": f"{HF_MOUNT}/hub",
                "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}

    def volumes(self) -> dict[str, dict[str, str]]:
        if self.hf_home is None:
            return {}
        return {str(self.hf_home): {"bind": HF_MOUNT, "mode": "rw"}}

    def cleanup(self) -> None:
        if self.hf_home is not None:
            shutil.rmtree(self.hf_home, ignore_errors=True)


def shapes_path() -> Path:
    return data_dir() / "models" / "shapes.toml"


def load_shapes(path: Path | None = None) -> Shapes:
    path = path or shapes_path()
    try:
        data = tomllib.loads(path.read_text())
        families = [
            Family(name=name, model_type=item["model_type"], architecture=item["architecture"],
                   special_tokens=dict(item["special_tokens"]), config=dict(item["config"]),
                   lora_targets=tuple(item["lora_targets"]), match=tuple(item["match"]))
            for name, item in data["families"].items()
        ]
        for family in families:
            for pattern in family.match:
                re.compile(pattern)
        return Shapes(families, list(data.get("remote_code", [])))
    except (OSError, tomllib.TOMLDecodeError, KeyError, TypeError, re.error) as exc:
        raise ConfigError(f"malformed model shapes: {exc}", path=str(path)) from exc


def check_repo_id(repo: str, option: str = "--model") -> str:
    if not REPO_ID.match(repo) or ".." in repo:
        raise ConfigError(f"{option} {repo[:80]!r}: expected a hub id like org/name")
    return repo


def cache_root() -> Path:
    import os

    base = os.environ.get("CARPENTER_CACHE_DIR") or Path.home() / ".cache" / "carpenter"
    return Path(base) / "tiny-models"


def _digest(*parts: Any) -> str:
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def builder_digest() -> str:
    return hashlib.sha256((HARNESS_DIR / BUILDER).read_bytes()).hexdigest()


def repo_folder_name(repo: str) -> str:
    return "models--" + repo.replace("/", "--")


@dataclass
class Plan:
    """Entries to build, each with its content key (its cache folder) and revision."""

    models: list[dict[str, Any]] = field(default_factory=list)
    adapters: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    keys: dict[str, str] = field(default_factory=dict)  # repo -> content key


def plan(shapes: Shapes, models: list[str], adapters: dict[str, str], version: str) -> Plan:
    """Which repo ids get which family; remote-code and unknown families become notes."""
    out = Plan()
    script = builder_digest()
    for repo in dict.fromkeys([*models, *adapters.values()]):
        if shapes.needs_remote_code(repo):
            out.notes.append(f"{repo}: needs trust_remote_code (its modelling files come from "
                             "the hub); no tiny stand-in can provide them, so it was not "
                             "substituted and loading it offline will fail")
            continue
        family = shapes.family_for(repo)
        if family is None:
            known = ", ".join(f.name for f in shapes.families)
            out.notes.append(f"{repo}: no known architecture family in the id (known: {known}); "
                             "not substituted")
            continue
        key = _digest("base", repo, family.spec(), version, script)
        out.keys[repo] = key
        out.models.append({"repo": repo, "revision": key[:40], "family": family.spec(),
                           "family_name": family.name, "key": key})
    for repo, base in adapters.items():
        if base not in out.keys:
            out.notes.append(f"{repo}: adapter of {base}, which has no tiny stand-in; "
                             "not substituted")
            continue
        family = shapes.family_for(base)
        key = _digest("adapter", repo, out.keys[base], family.lora_targets if family else ())
        out.keys[repo] = key
        base_entry = next(m for m in out.models if m["repo"] == base)
        out.adapters.append({"repo": repo, "revision": key[:40], "base_repo": base,
                             "base_revision": base_entry["revision"], "key": key,
                             "targets": list(family.lora_targets if family else ())})
    return out


def image_transformers(client, image: str) -> str | None:
    """The image's transformers version without importing it (a metadata read, < 1 s)."""
    output = _run(client, image, ["-c", VERSION_PROBE], volumes={}, timeout=60)[1]
    line = output.strip().splitlines()[-1:] or [""]
    return line[0] if re.fullmatch(r"[0-9][0-9A-Za-z.+\-]*", line[0]) else None


def _run(client, image: str, args: list[str], volumes: dict[str, Any],
         timeout: float) -> tuple[int | None, str, str]:
    """Run the image's python with args, network none; (exit code, stdout, stderr)."""
    import requests

    container = None
    try:
        container = client.containers.create(
            image, command=args, entrypoint=["/bin/sh", "-c", FIND_PYTHON, "carpenter-tiny"],
            network_mode="none", mem_limit="2g", memswap_limit="2g", volumes=volumes,
            environment={"OMP_NUM_THREADS": "1", "PYTHONDONTWRITEBYTECODE": "1",
                         "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
                         "HF_HOME": f"{OUT_MOUNT}/.hf", "TOKENIZERS_PARALLELISM": "false"},
            labels=containers.labels(uuid.uuid4().hex[:12]), **HARDENING)
        container.start()
        try:
            code = container.wait(timeout=timeout).get("StatusCode")
        except (requests.exceptions.RequestException, OSError):
            container.kill()
            code = None
        stdout = container.logs(stdout=True, stderr=False).decode("utf-8", "replace")
        stderr = container.logs(stdout=False, stderr=True).decode("utf-8", "replace")
        return code, stdout, stderr
    except Exception as exc:  # docker APIError and friends: the engine refused
        raise EngineError(f"cannot build the tiny model in {image}: {exc}") from exc
    finally:
        if container is not None:
            containers.remove_quietly(container)


def _missing(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in entries if not (cache_root() / e["key"][:24] / ".complete").exists()]


def build(client, image: str, todo: Plan) -> tuple[dict[str, Any], float]:
    """Run the builder in the image for the entries not cached yet; store each by its key."""
    models, adapters = _missing(todo.models), _missing(todo.adapters)
    if not models and not adapters:
        return {}, 0.0
    # An adapter needs its base in the same run's output folder.
    needed = {a["base_repo"] for a in adapters}
    models += [m for m in todo.models if m["repo"] in needed and m not in models]
    work = Path(tempfile.mkdtemp(prefix="carpenter-tiny-"))
    work.chmod(0o777)  # the image may run as a non-root user
    scripts = Path(tempfile.mkdtemp(prefix="carpenter-tiny-src-"))
    shutil.copy2(HARNESS_DIR / BUILDER, scripts / BUILDER)
    (scripts / BUILDER).chmod(0o644)
    scripts.chmod(0o755)
    started = time.monotonic()
    try:
        spec = {"out": OUT_MOUNT, "models": models, "adapters": adapters}
        volumes = {str(work): {"bind": OUT_MOUNT, "mode": "rw"},
                   str(scripts): {"bind": "/carpenter-tiny-src", "mode": "ro"}}
        code, stdout, stderr = _run(client, image, ["-B", f"/carpenter-tiny-src/{BUILDER}",
                                                    json.dumps(spec)], volumes, BUILD_TIMEOUT_S)
        result = _parse(stdout)
        if code != 0 or result is None or result.get("status") != "ok":
            reason = (result or {}).get("error") or (stderr.strip().splitlines() or ["?"])[-1]
            raise _BuildFailed(f"tiny-model build failed in the image (exit {code}): "
                               f"{redact(reason)[:300]}")
        built = {b["repo"]: b for b in result.get("built", [])}
        for entry in models + adapters:
            _store(work / repo_folder_name(entry["repo"]), entry["key"],
                   built.get(entry["repo"]) or {})
        return result, round(time.monotonic() - started, 2)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(scripts, ignore_errors=True)


class _BuildFailed(Exception):
    pass


def _parse(stdout: str) -> dict[str, Any] | None:
    for line in reversed(stdout.splitlines()):
        if line.startswith(RESULT_MARKER):
            try:
                return json.loads(line[len(RESULT_MARKER):])
            except json.JSONDecodeError:
                return None
    return None


def _store(folder: Path, key: str, meta: dict[str, Any]) -> None:
    dest = cache_root() / key[:24]
    if (dest / ".complete").exists():
        return
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=dest.name + ".", dir=dest.parent))
    shutil.copytree(folder, tmp / folder.name)
    (tmp / "meta.json").write_text(json.dumps(meta))
    (tmp / ".complete").write_text("ok\n")
    shutil.rmtree(dest, ignore_errors=True)
    tmp.rename(dest)


def _meta(key: str) -> dict[str, Any]:
    try:
        return json.loads((cache_root() / key[:24] / "meta.json").read_text())
    except (OSError, ValueError):
        return {}


def assemble(todo: Plan) -> Path:
    """A private HF_HOME holding every planned repo (copies: the server may write locks)."""
    home = Path(tempfile.mkdtemp(prefix="carpenter-hf-"))
    hub = home / "hub"
    hub.mkdir()
    for entry in todo.models + todo.adapters:
        folder = repo_folder_name(entry["repo"])
        shutil.copytree(cache_root() / entry["key"][:24] / folder, hub / folder)
    for path in [home, *home.rglob("*")]:
        path.chmod(0o777 if path.is_dir() else 0o666)
    return home


def prepare(client, image: str, models: list[str], adapters: dict[str, str]) -> TinyCache:
    """Plan, build what is not cached, and assemble an HF_HOME for one server run."""
    out = TinyCache()
    if not models and not adapters:
        return out
    out.transformers = image_transformers(client, image)
    if out.transformers is None:
        out.notes.append("the image has no transformers: no tiny model substituted")
        return out
    todo = plan(load_shapes(), models, adapters, out.transformers)
    out.notes += todo.notes
    try:
        result, out.build_s = build(client, image, todo)
    except _BuildFailed as exc:
        out.notes.append(str(exc))
        return out
    out.cached = not result
    for entry in todo.models + todo.adapters:
        kind = "LoRA adapter" if "base_repo" in entry else entry.get("family_name")
        meta = _meta(entry["key"])
        out.substituted.append({"repo": entry["repo"], "family": kind,
                                "class": meta.get("class"), "revision": entry["revision"],
                                "params": meta.get("params")})
    if todo.models or todo.adapters:
        out.hf_home = assemble(todo)
    return out
