"""Build the smoke test images from fixtures/smoke/ (offline wheelhouses, content-addressed tags).

Each image is `carpenter-smoke/<name>:<hash>` where the hash covers its Dockerfile, pinned
requirements, extra files and the parent image's id: a second run finds the tag and skips the
build. Wheelhouses are `pip download`ed once into ~/.cache/carpenter/smoke-wheelhouses/<hash>,
isolated from this machine's pip configuration (only PIP_CERT is kept, for the TLS proxy).

Run `python tests/smoke/smoke_images.py [NAME...]` to prebuild (bench/ does).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "fixtures" / "smoke"
BASE_IMAGE = os.environ.get("CARPENTER_BASE_IMAGE", "carpenter/bookworm-python:local")
CACHE = Path(os.environ.get("CARPENTER_SMOKE_CACHE", Path.home() / ".cache" / "carpenter"))
LOCAL_WHEELS = Path("/opt/wheels")
LABEL = "org.carpenter.smoke-fixture"
# Bookworm has glibc 2.36; pip 23 does not expand manylinux_2_X to older tags by itself.
PLATFORMS = [f"manylinux_2_{minor}_x86_64" for minor in range(5, 37)] + [
    "manylinux1_x86_64", "manylinux2010_x86_64", "manylinux2014_x86_64"]
DOWNLOAD_RECIPE = "v1 cp311 " + " ".join(PLATFORMS)


@dataclass(frozen=True)
class ImageSpec:
    name: str
    parent: str | None  # another spec's name; None = the local base image
    wheels: bool = True
    extra_files: tuple[str, ...] = ()


SPECS: dict[str, ImageSpec] = {
    spec.name: spec
    for spec in (
        ImageSpec("torch", None),
        ImageSpec("current", "torch"),
        ImageSpec("era2023", "torch"),
        ImageSpec("nopeft", "torch"),
        ImageSpec("current-nonroot", "current", wheels=False),
        ImageSpec("server", "current", extra_files=("server.py",)),
        ImageSpec("server-wrongport", "server", wheels=False),
        ImageSpec("server-strict", "server", wheels=False),
        ImageSpec("server-hub", "server", wheels=False, extra_files=("server.py",)),
        ImageSpec("server-hub-lora", "server-hub", wheels=False),
        ImageSpec("server-hub-token", "server-hub", wheels=False),
        ImageSpec("server-hub-slow", "server-hub", wheels=False),
        ImageSpec("train-lora", "current", wheels=False, extra_files=("train.py",)),
    )
}


def pip_env() -> dict[str, str]:
    """This machine's pip config adds find-links and a constraints file: keep them out."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_") or k == "PIP_CERT"}
    env["PIP_CONFIG_FILE"] = os.devnull
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def torch_requirements(text: str) -> tuple[str, list[str]]:
    """Use the local CPU torch wheel when present; otherwise PyPI's torch (the multi-GB CUDA
    build on Linux, since PyPI has no +cpu wheels) with the local version suffix dropped."""
    if any(LOCAL_WHEELS.glob("torch-*.whl")):
        return text, ["--find-links", str(LOCAL_WHEELS)]
    lines = [line.split("+", 1)[0] if line.startswith("torch==") else line
             for line in text.splitlines()]
    return "\n".join(lines) + "\n", []


def wheelhouse(requirements: Path) -> Path:
    """Download the pinned wheels (no dependency resolution: the file is a full lock)."""
    text, extra = torch_requirements(requirements.read_text())
    key = hashlib.sha256((DOWNLOAD_RECIPE + "\n" + text + " ".join(extra)).encode()).hexdigest()
    dest = CACHE / "smoke-wheelhouses" / key[:20]
    if (dest / ".complete").exists():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=dest.name + ".", dir=dest.parent))
    try:
        (tmp / "requirements.txt").write_text(text)
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               "--dest", str(tmp), "--python-version", "3.11", "--implementation", "cp",
               "--abi", "cp311", *[a for p in PLATFORMS for a in ("--platform", p)],
               *extra, "-r", str(tmp / "requirements.txt")]
        proc = subprocess.run(cmd, env=pip_env(), capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"pip download failed for {requirements}:\n{proc.stderr[-3000:]}")
        (tmp / ".complete").write_text("ok\n")
        if dest.exists():  # another process finished first
            shutil.rmtree(tmp)
        else:
            tmp.rename(dest)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return dest


def _file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def image_tag(spec: ImageSpec, parent_id: str) -> str:
    folder = FIXTURES / spec.name
    parts = [spec.name, parent_id, _file_digest(folder / "Dockerfile")]
    if spec.wheels:
        parts.append(_file_digest(folder / "requirements.txt"))
    parts += [_file_digest(folder / f) for f in spec.extra_files]
    digest = hashlib.sha256(" ".join(parts).encode()).hexdigest()[:16]
    return f"carpenter-smoke/{spec.name}:{digest}"


def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _context(spec: ImageSpec, work: Path) -> None:
    folder = FIXTURES / spec.name
    shutil.copy2(folder / "Dockerfile", work / "Dockerfile")
    for name in spec.extra_files:
        shutil.copy2(folder / name, work / name)
    if spec.wheels:
        house = wheelhouse(folder / "requirements.txt")
        (work / "wheels").mkdir()
        for item in house.iterdir():
            if item.name != ".complete":
                _link_or_copy(item, work / "wheels" / item.name)


def _build(client, spec: ImageSpec, tag: str, parent_tag: str) -> None:
    work = Path(tempfile.mkdtemp(prefix=f"carpenter-smoke-{spec.name}-"))
    try:
        _context(spec, work)
        image_id, log = None, []
        for event in client.api.build(path=str(work), tag=tag, buildargs={"BASE": parent_tag},
                                      pull=False, rm=True, forcerm=True, network_mode="none",
                                      labels={LABEL: spec.name}, decode=True):
            log.append(str(event.get("stream") or event.get("error") or ""))
            if "error" in event:
                raise RuntimeError(f"building {tag} failed: {event['error']}\n"
                                   + "".join(log[-40:]))
            if "aux" in event and "ID" in event["aux"]:
                image_id = event["aux"]["ID"]
        if image_id is None:
            raise RuntimeError(f"building {tag} produced no image id\n" + "".join(log[-40:]))
    finally:
        shutil.rmtree(work, ignore_errors=True)


def ensure_image(client, name: str) -> str:
    """The tag of image `name`, building it (and its parents) only when missing."""
    import docker

    spec = SPECS[name]
    parent_tag = ensure_image(client, spec.parent) if spec.parent else BASE_IMAGE
    parent_id = client.images.get(parent_tag).id
    tag = image_tag(spec, parent_id)
    try:
        client.images.get(tag)
        return tag
    except docker.errors.ImageNotFound:
        pass
    _build(client, spec, tag, parent_tag)
    return tag


if __name__ == "__main__":
    import time

    import docker

    docker_client = docker.from_env(timeout=600)
    for image_name in sys.argv[1:] or list(SPECS):
        started = time.monotonic()
        print(f"{image_name}: {ensure_image(docker_client, image_name)} "
              f"({time.monotonic() - started:.1f} s)", flush=True)
