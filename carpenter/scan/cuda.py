"""Facts about CUDA extension packages (carpenter/data/cuda_extensions.toml) and the image
they build in.

`package_for(name_or_url)` finds a package by PyPI name, alias or repository URL;
`image_env(inst)` reads the torch / CUDA / Python versions a stage fixes (base image tag, pinned
torch installs, PyTorch index URLs); `prebuilt_for(package, version, env)` says whether a
prebuilt binary is published for that combination (True / False / None when unknown).
"""

from __future__ import annotations

import re
from dataclasses import field, replace
from functools import lru_cache
from typing import Any

from carpenter.core.errors import ConfigError
from carpenter.core.lazyre import lazy_compile
from carpenter.core.records import record
from carpenter.core.resources import data_file
from carpenter.core.tomldata import TomlDataError, load_toml_data
from carpenter.model.dockerfile import Instruction, stage_chain
from carpenter.model.pip import canonicalize_name

# A final release (`2.5.6`) and a specifier set of comparisons with final releases
# (`>=2.4.0,<2.5.7`, what the data file writes): PEP 440 then orders release tuples padded with
# zeros, so `contains` answers without importing packaging (~20 ms of a cold scan). Anything
# else (pre/post/dev/local versions, `~=`, `!=`, wildcards) goes to packaging.
_RELEASE = lazy_compile(r"\d+(?:\.\d+)*")
_SIMPLE_CLAUSE = lazy_compile(r"\s*(>=|<=|==|<|>)\s*(\d+(?:\.\d+)*)\s*")
_COMPARE = {">=": tuple.__ge__, "<=": tuple.__le__, "==": tuple.__eq__,
            ">": tuple.__gt__, "<": tuple.__lt__}


def _release(text: str, width: int) -> tuple[int, ...]:
    parts = tuple(int(p) for p in text.split("."))
    return parts + (0,) * (width - len(parts))


def _simple_contains(specifier: str, version: str) -> bool | None:
    """Whether a final release satisfies a set of plain comparisons (None: not that case)."""
    if _RELEASE.fullmatch(version) is None:
        return None
    clauses = [_SIMPLE_CLAUSE.fullmatch(c) for c in specifier.split(",")]
    if not all(clauses):
        return None
    for clause in clauses:
        operator, bound = clause.groups()  # type: ignore[union-attr]
        width = max(version.count("."), bound.count(".")) + 1
        if not _COMPARE[operator](_release(version, width), _release(bound, width)):
            return False
    return True


@record(eq=False)
class WheelSet:
    """The releases of a CUDA extension with prebuilt wheels, and their torch/CUDA/Python."""

    versions: str  # a PEP 440 specifier set, as written in the data file

    def contains(self, version: str) -> bool | None:
        """Whether this set covers `version` (None: not a PEP 440 version)."""
        simple = _simple_contains(self.versions, version)
        if simple is not None:
            return simple
        from packaging.specifiers import SpecifierSet
        from packaging.version import InvalidVersion, Version

        try:
            return Version(version) in SpecifierSet(self.versions)
        except InvalidVersion:
            return None

    torch: tuple[str, ...]
    cuda: tuple[str, ...]
    python: tuple[str, ...]
    cuda_tag: dict[str, str] = field(default_factory=dict)  # CUDA major -> tag in wheel names


@record(eq=False)
class CudaPackage:
    """A CUDA extension package of cuda_extensions.toml: build cost, wheels, alternative."""

    name: str
    aliases: tuple[str, ...]
    repos: tuple[str, ...]
    pypi: str
    setup_downloads: bool
    build_minutes: tuple[int, int]
    build_note: str
    alternative: str
    wheel_url: str
    force_env: tuple[str, ...]
    build_env_prefix: str
    wheels: tuple[WheelSet, ...]

    def cost(self) -> str:
        low, high = self.build_minutes
        return f"typically {low}-{high} min of compiling"


@record(eq=False)
class ImageEnv:
    """The torch, CUDA and Python versions a stage's image fixes (None: unknown)."""

    torch: str | None = None  # major.minor
    cuda: str | None = None  # major.minor
    python: str | None = None  # major.minor
    flavour: str | None = None  # devel | runtime | base | none (no CUDA toolkit)
    env: dict[str, str] = field(default_factory=dict)  # ENV/ARG in force

    def describe(self) -> str:
        parts = [f"{k} {v}" for k, v in (("torch", self.torch), ("CUDA", self.cuda),
                                         ("Python", self.python)) if v]
        return ", ".join(parts) if parts else "unknown torch/CUDA/Python"


@record(eq=False)
class CudaData:
    """Everything cuda_extensions.toml says, patterns compiled on first use."""

    packages: tuple[CudaPackage, ...]
    images: tuple[tuple[re.Pattern[str], dict[str, str]], ...]
    ubuntu_python: dict[str, str]
    indicators: tuple[str, ...]
    max_jobs_note: str
    build_tools: frozenset[str] = frozenset()
    build_tool_cuda: re.Pattern[str] | None = None


@lru_cache(maxsize=1)
def cuda_data() -> CudaData:
    path = data_file("cuda_extensions.toml")
    try:
        return _compile(load_toml_data(path), path)
    except (OSError, TomlDataError, KeyError, re.error) as exc:
        raise ConfigError(f"cannot load CUDA package facts: {exc}", path=path) from None


def _checked_specifier(text: str, origin: str) -> str:
    """The data file's specifier set; packaging checks the ones the fast path cannot read."""
    if _simple_contains(text, "0") is None:
        from packaging.specifiers import InvalidSpecifier, SpecifierSet

        try:
            SpecifierSet(text)
        except InvalidSpecifier as exc:
            raise ConfigError(f"cannot load CUDA package facts: {exc}", path=origin) from None
    return text


def _compile(raw: dict[str, Any], origin: str) -> CudaData:
    packages = []
    for item in raw["package"]:
        wheels = tuple(
            WheelSet(_checked_specifier(w["versions"], origin), tuple(w["torch"]),
                     tuple(w["cuda"]),
                     tuple(w["python"]), dict(w.get("cuda_tag", {})))
            for w in item.get("wheels", [])
        )
        packages.append(CudaPackage(
            name=canonicalize_name(item["name"]),
            aliases=tuple(canonicalize_name(a) for a in item.get("aliases", [])),
            repos=tuple(r.lower().rstrip("/") for r in item.get("repos", [])),
            pypi=item["pypi"], setup_downloads=bool(item.get("setup_downloads")),
            build_minutes=tuple(item["build_minutes"]), build_note=item.get("build_note", ""),
            alternative=item["alternative"], wheel_url=item.get("wheel_url", ""),
            force_env=tuple(item.get("force_env", [])),
            build_env_prefix=item.get("build_env_prefix", ""), wheels=wheels,
        ))
    images = tuple(
        (lazy_compile(item["match"], 0, origin),
         {k: str(v) for k, v in item.items() if k != "match"})
        for item in raw.get("image", [])
    )
    defaults = raw.get("defaults", {})
    cuda_words = defaults.get("build_tool_cuda")
    return CudaData(tuple(packages), images, dict(raw.get("ubuntu_python", {})),
                    tuple(defaults.get("indicators", [])), defaults.get("max_jobs_note", ""),
                    frozenset(defaults.get("build_tools", [])),
                    lazy_compile(cuda_words, 0, origin) if cuda_words else None)


@lru_cache(maxsize=4096)  # pure: the data file is read once
def package_named(name: str | None) -> CudaPackage | None:
    if not name:
        return None
    key = canonicalize_name(name)
    for package in cuda_data().packages:
        if key == package.name or key in package.aliases:
            return package
    return None


@lru_cache(maxsize=4096)  # pure: the data file is read once
def package_for_url(url: str | None) -> CudaPackage | None:
    if not url:
        return None
    lowered = url.lower()
    lowered = re.sub(r"^(?:git\+)?(?:https?|ssh|git)://(?:[^@/]+@)?", "", lowered)
    lowered = lowered.replace("git@github.com:", "github.com/")
    lowered = lowered.removesuffix(".git")
    for package in cuda_data().packages:
        for repo in package.repos:
            if lowered == repo or lowered.startswith((repo + "/", repo + ".git", repo + "@")):
                return package
    return None


# ---------------------------------------------------------------------------------------------
# What the stage fixes


def image_env(inst: Instruction) -> ImageEnv:
    """torch / CUDA / Python of the stage running `inst`, from its base and earlier installs."""
    # Several rules ask for the same instruction: compute once, hand out copies (ImageEnv is
    # mutable).
    cached = getattr(inst, "_image_env", None)
    if cached is None:
        cached = _image_env(inst)
        inst._image_env = cached  # type: ignore[attr-defined]
    return replace(cached, env=dict(cached.env))


def _image_env(inst: Instruction) -> ImageEnv:
    env = ImageEnv()
    stage = inst.stage
    if stage is None:
        return env
    chain = stage_chain(stage)
    _from_base(env, chain[0].base)
    for current in chain:
        for other in current.instructions:
            _from_install(env, other)  # the same RUN counts: `pip install torch==X pkg`
            if other is inst:
                break
    env.env = {k: v for k, v in inst.vars.items() if v is not None}
    return env


def _from_base(env: ImageEnv, base: str | None) -> None:
    if not base:
        return
    data = cuda_data()
    for regex, facts in data.images:
        match = regex.match(base)
        if match is None:
            continue
        groups = {k: v for k, v in match.groupdict().items() if v}
        env.torch = groups.get("torch") or env.torch
        env.cuda = groups.get("cuda") or env.cuda
        env.python = groups.get("python") or facts.get("python") or env.python
        env.flavour = groups.get("flavour") or facts.get("flavour") or env.flavour
        if "ubuntu" in groups and env.python is None:
            env.python = data.ubuntu_python.get(groups["ubuntu"])
        return


_TORCH_PIN = lazy_compile(r"^torch==(?P<v>\d+\.\d+)(?:\.\d+)?(?:\+cu(?P<cu>\d+))?$")
_INDEX_CUDA = lazy_compile(r"/whl/(?:nightly/)?cu(?P<cu>\d{3,})")


def _from_install(env: ImageEnv, inst: Instruction) -> None:
    if inst.keyword != "RUN":
        return
    from carpenter.model.pip import pip_installs

    for install in pip_installs(inst):
        for req in install.requirements:
            match = _TORCH_PIN.match(req.text.replace(" ", ""))
            if match:
                env.torch = match.group("v")
                if match.group("cu"):
                    env.cuda = _cu(match.group("cu"))
        if any(r.name == "torch" for r in install.requirements):
            for option in install.index_urls:
                found = _INDEX_CUDA.search(option.value or "")
                if found:
                    env.cuda = _cu(found.group("cu"))


def _cu(digits: str) -> str:
    return f"{digits[:-1]}.{digits[-1]}"


def prebuilt_for(package: CudaPackage, version: str | None, env: ImageEnv) -> bool | None:
    """Whether a prebuilt binary exists for this version and environment (None: unknown)."""
    if not package.wheels:
        return False if package.pypi in ("none", "wrong") else None
    sets = package.wheels
    if version:
        covering = [wheel.contains(version) for wheel in sets]
        if None in covering:
            return None  # not a PEP 440 version
        sets = tuple(wheel for wheel, covers in zip(sets, covering, strict=True) if covers)
        if not sets:
            return False
    unknown = False
    for wheel in sets:
        results = [_covers(wheel.torch, env.torch), _covers(wheel.cuda, env.cuda, cuda=True),
                   _covers(wheel.python, env.python)]
        if all(r is True for r in results):
            return True
        if all(r is not False for r in results):
            unknown = True
    return None if unknown else False


def _covers(allowed: tuple[str, ...], value: str | None, cuda: bool = False) -> bool | None:
    if "*" in allowed:
        return True
    if value is None:
        return None
    if value in allowed:
        return True
    if cuda:  # CUDA minor versions are forward compatible within a major (11.8 wheel on 11.x)
        return any(a.split(".")[0] == value.split(".")[0] for a in allowed)
    return False


def wheel_url(package: CudaPackage, version: str | None, env: ImageEnv) -> str | None:
    """The release wheel for this version and image, when the data knows its file name."""
    if not package.wheel_url or not version or not env.torch or not env.cuda or not env.python:
        return None
    if prebuilt_for(package, version, env) is not True:
        return None
    major = env.cuda.split(".")[0]
    tag = next((w.cuda_tag[major] for w in package.wheels
                if major in w.cuda_tag and w.contains(version)), None)
    if tag is None:
        return None
    return package.wheel_url.format(version=version, cuda_tag=tag, torch_mm=env.torch,
                                    py=env.python.replace(".", ""))


# ---------------------------------------------------------------------------------------------
# Source trees cloned earlier in the stage

_SETUP_VERBS = frozenset({"install", "develop", "build_ext", "bdist_wheel", "build"})


def clones_before(inst: Instruction) -> dict[str, str]:
    """In-image folder -> repository URL for every `git clone` that ran before (or in) `inst`."""
    cached = getattr(inst, "_clones_before", None)
    if cached is None:
        cached = _clones_before(inst)
        inst._clones_before = cached  # type: ignore[attr-defined]
    return dict(cached)  # a copy: callers own the dict


def _clones_before(inst: Instruction) -> dict[str, str]:
    import posixpath

    from carpenter.model.copies import cwd_for
    from carpenter.model.shell import scripts_of

    found: dict[str, str] = {}
    for stage in stage_chain(inst.stage) if inst.stage else []:
        for other in stage.instructions:
            if other.keyword == "RUN":
                for script in scripts_of(other):
                    for cmd in script.commands:
                        if not any(w.text == "clone" for w in cmd.words):
                            continue  # cheap test first: effective() below is the slow part
                        words, _ = cmd.effective()
                        argv = [w.text for w in words]
                        if len(argv) < 3 or argv[0] != "git" or "clone" not in argv[1:3]:
                            continue
                        positional = _positional(argv[argv.index("clone") + 1:])
                        if not positional:
                            continue
                        url = positional[0]
                        target = positional[1] if len(positional) > 1 else \
                            url.rstrip("/").rsplit("/", 1)[-1].removesuffix(".git")
                        folder = posixpath.normpath(posixpath.join(cwd_for(other, cmd), target))
                        found[folder] = url
            if other is inst:
                return found
    return found


def _positional(args: list[str]) -> list[str]:
    valued = {"-b", "--branch", "--depth", "-o", "--origin", "-c", "--config", "--reference",
              "--shallow-since", "--filter", "-j", "--jobs", "-u", "--upload-pack"}
    out = []
    skip = False
    for arg in args:
        if skip:
            skip = False
            continue
        if arg in valued:
            skip = True
            continue
        if arg.startswith("-"):
            continue
        out.append(arg)
    return out


def clone_at(clones: dict[str, str], folder: str) -> str | None:
    """The URL of the clone holding `folder` (the folder itself or inside it)."""
    for path, url in clones.items():
        if folder == path or folder.startswith(path.rstrip("/") + "/"):
            return url
    return None


def is_build_tool(word: str) -> bool:
    """`make`, `cmake`... (a path or a bare name): worth asking `cuda_build_word`."""
    return word.rsplit("/", 1)[-1] in cuda_data().build_tools


def cuda_build_word(argv: list[str], assigned: list[str]) -> str | None:
    """The word that makes a build-tool run compile CUDA code (`cuda11x`, `CUDA_VERSION=118`,
    `-DCOMPUTE_BACKEND=cuda`, `LLAMA_CUBLAS=1`), or None; `argv` starts at the tool."""
    data = cuda_data()
    if not argv or not is_build_tool(argv[0]) or data.build_tool_cuda is None:
        return None
    for word in [*assigned, *argv[1:]]:
        if data.build_tool_cuda.fullmatch(word):
            return word
    return None


def is_setup_build(argv: list[str]) -> bool:
    """`python setup.py install|develop|build_ext|bdist_wheel`."""
    from carpenter.model.shell import PYTHONS

    if len(argv) < 3 or not PYTHONS.match(argv[0].rsplit("/", 1)[-1]):
        return False
    rest = argv[1:]
    return rest[0].endswith("setup.py") and any(v in _SETUP_VERBS for v in rest[1:])
