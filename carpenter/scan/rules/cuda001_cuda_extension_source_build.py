"""CUDA001: pip (or setup.py) compiles a known CUDA extension package during the build."""

from __future__ import annotations

import posixpath
from collections.abc import Iterator

from carpenter.model.copies import cwd_for
from carpenter.model.dockerfile import Instruction
from carpenter.model.pip import PipInstall, PipRequirement, pip_installs
from carpenter.model.shell import scripts_of
from carpenter.scan.context import ScanContext
from carpenter.scan.cuda import (
    CudaPackage,
    ImageEnv,
    clone_at,
    clones_before,
    cuda_build_word,
    cuda_data,
    image_env,
    is_build_tool,
    is_setup_build,
    package_for_url,
    package_named,
    prebuilt_for,
    wheel_url,
)
from carpenter.scan.facts import pip_uses
from carpenter.scan.finding import Finding
from carpenter.scan.payloads import CudaBuild
from carpenter.scan.registry import Rule


class CudaExtensionSourceBuild(Rule):
    """Report installs that compile CUDA extensions (flash-attn, xformers, apex, deepspeed ops...).

    ## What it does
    For each package listed in `carpenter/data/cuda_extensions.toml` (flash-attn, xformers, apex,
    deepspeed with `DS_BUILD_*`, bitsandbytes, auto-gptq, exllama, mamba-ssm, causal-conv1d,
    vllm, PyG extensions, detectron2, pytorch3d, ...), reports a `pip install` (on the command
    line or in a requirements file it reads), `python setup.py install` or a CUDA `make`/`cmake`
    (bitsandbytes' `CUDA_VERSION=118 make cuda11x`) that compiles it - one finding a build:
    from git or a cloned source tree, from a PyPI source distribution, with `--no-binary` or a
    force-build variable, or where no prebuilt wheel matches the torch / CUDA / Python the image
    fixes (read from the base image tag and pinned torch
    installs). Each finding estimates the build cost and names the prebuilt alternative.

    ## Why it matters
    Compiling flash-attn or vllm takes from half an hour to several hours and needs the CUDA
    toolkit (a `-devel` image) and a lot of memory; builds time out or get OOM-killed on the
    organizers' machines, and a source build from git HEAD produces a different binary each time.

    ## Example
    ```dockerfile
    FROM pytorch/pytorch:2.1.0-cuda12.1-cudnn8-devel
    RUN pip install flash-attn --no-build-isolation
    ```

    ## Fix
    Install a prebuilt wheel matching the image (the message names one), pinned by version or
    URL; when a compile is unavoidable, set `MAX_JOBS` and `TORCH_CUDA_ARCH_LIST` to the target
    GPU and build it once into a wheelhouse.

    ```dockerfile
    RUN pip install \\
        https://github.com/Dao-AILab/flash-attention/releases/download/v2.3.3/flash_attn-2.3.3+cu122torch2.1cxx11abiFALSE-cp310-cp310-linux_x86_64.whl
    ```
    """

    id = "CUDA001"
    name = "cuda-extension-source-build"
    category = "cuda-source-build"
    fixable = True  # carpenter fix: the snapshot's prebuilt wheel, or a pin + MAX_JOBS
    severity = "warning"

    def check(self, ctx: ScanContext) -> Iterator[Finding]:
        for inst in ctx.dockerfile.instructions:
            if inst.keyword != "RUN":
                continue
            env = None
            clones = None
            built: set[str] = set()  # clones already reported in this RUN: one finding a build
            for install in pip_installs(inst):
                for req in install.requirements:
                    if req.kind == "requirement" and package_named(req.name) is None:
                        continue  # the common case: not a CUDA extension, nothing to compute
                    if env is None:
                        env, clones = image_env(inst), clones_before(inst)
                    found = self._requirement(inst, install, req, env, clones)
                    if found is not None:
                        package, why, version = found
                        if req.kind == "path":
                            built.add(why)
                        yield self._finding(ctx, inst, req.word.offset, req.word.end_offset,
                                            req.text, package, why, version, env, install)
            yield from self._requirement_files(ctx, inst)
            for script in scripts_of(inst):
                for cmd in script.commands:
                    # setup.py or the build tool is a word of the command: skip effective()
                    # otherwise.
                    if not any(w.text.endswith("setup.py") or is_build_tool(w.text)
                               for w in cmd.words):
                        continue
                    words, assigned = cmd.effective()
                    argv = [w.text for w in words]
                    tool_word = cuda_build_word(argv, [a.text for a in assigned])
                    if not tool_word and not is_setup_build(argv):
                        continue
                    if env is None:
                        env, clones = image_env(inst), clones_before(inst)
                    url = clone_at(clones, cwd_for(inst, cmd))
                    package = package_for_url(url)
                    if package is None or f"from a clone of {url}" in built:
                        continue
                    built.add(f"from a clone of {url}")
                    # A build tool's CUDA switch is often its env prefix: show it with the call.
                    shown = [*assigned, *words] if tool_word else words
                    how = f"{argv[0]} with {tool_word}" if tool_word else "setup.py"
                    yield self._finding(ctx, inst, shown[0].offset, words[-1].end_offset,
                                        " ".join(w.text for w in shown), package,
                                        f"{how} in a clone of {url}", None, env, None,
                                        assigned=[a.text for a in assigned])

    def _requirement_files(self, ctx: ScanContext, inst: Instruction) -> Iterator[Finding]:
        """CUDA packages listed in the requirements files a `pip install -r` reads."""
        for use in _uses_by_instruction(ctx).get(id(inst), ()):
            env = clones = None
            for file in use.requirement_files:
                for line in file.requirements:
                    req = line.requirement
                    if req is None or (req.kind == "requirement"
                                       and package_named(req.name) is None):
                        continue
                    if env is None:
                        env, clones = image_env(inst), clones_before(inst)
                    found = self._requirement(inst, use.install, req, env, clones)
                    if found is None:
                        continue
                    package, why, version = found
                    yield self._finding(ctx, inst, req.word.offset, req.word.end_offset,
                                        req.text, package, why, version, env, use.install,
                                        source=file.source)

    def _requirement(self, inst: Instruction, install: PipInstall, req: PipRequirement,
                     env: ImageEnv, clones: dict[str, str]):
        if req.kind == "vcs":
            package = package_for_url(req.url) or package_named(req.name)
            return (package, "from git source", None) if package else None
        if req.kind == "url":
            url = (req.url or req.text).split("#", 1)[0]
            if url.endswith(".whl"):
                return None  # a prebuilt wheel
            package = package_for_url(url)
            return (package, "from a source archive", None) if package else None
        if req.kind == "path":
            folder = posixpath.normpath(posixpath.join(cwd_for(inst, install.command), req.text))
            url = clone_at(clones, folder)
            package = package_for_url(url)
            return (package, f"from a clone of {url}", None) if package else None
        package = package_named(req.name)
        if package is None or req.kind != "requirement":
            return None
        version = req.pinned_version
        assigned = {w.text.split("=", 1)[0]: w.text.split("=", 1)[1]
                    for w in install.command.effective()[1] if "=" in w.text}
        variables = {**env.env, **assigned}
        if any(variables.get(name, "").lower() not in ("", "0", "false") for name in
               package.force_env) and package.name != "vllm":
            return package, "a force-build variable is set", version
        if package.build_env_prefix and any(
            k.startswith(package.build_env_prefix) and v not in ("0", "")
            for k, v in variables.items()
        ):
            return package, f"{package.build_env_prefix}* asks for the ops at install", version
        no_binary = [o.value or "" for o in install.option_values("--no-binary")]
        if any(package.name in v.replace("_", "-").split(",") or ":all:" in v for v in no_binary):
            return package, "--no-binary forces a source build", version
        if package.pypi == "wrong":
            return package, "the PyPI project of that name is an unrelated package", version
        if package.pypi == "sdist" and not package.build_env_prefix:
            return package, "PyPI has only a source distribution", version
        if package.pypi == "wheels" and prebuilt_for(package, version, env) is False:
            return package, f"no prebuilt wheel matches {env.describe()}", version
        return None

    def _finding(self, ctx: ScanContext, inst: Instruction, start: int, end: int, text: str,
                 package: CudaPackage, why: str, version: str | None, env: ImageEnv,
                 install: PipInstall | None, source=None,
                 assigned: list[str] | None = None) -> Finding:
        parts = [f"{text!r} compiles {package.name} during the build ({why}); "
                 f"{package.cost()} ({package.build_note})"]
        if package.setup_downloads and why == "PyPI has only a source distribution":
            exists = prebuilt_for(package, version, env)
            if exists:
                parts.append("its setup.py first downloads a release wheel for "
                             f"{env.describe()} from GitHub (a build-time download)")
            elif exists is False:
                parts.append(f"no release wheel exists for {env.describe()}, so it compiles")
            else:
                parts.append(f"it compiles unless a release wheel matches {env.describe()} "
                             "exactly")
        if env.flavour in ("runtime", "base", "none"):
            parts.append("the base image has no CUDA compiler (nvcc), so the compile fails")
        variables = dict(env.env)
        if install is not None:
            variables.update({w.text.split("=", 1)[0]: "" for w in install.command.effective()[1]
                              if "=" in w.text})
        variables.update({text.split("=", 1)[0]: "" for text in assigned or () if "=" in text})
        if "MAX_JOBS" not in variables:
            parts.append(cuda_data().max_jobs_note)
        url = wheel_url(package, version, env)
        alternative = package.alternative + (f": {url}" if url else "")
        parts.append(f"prebuilt alternative: {alternative}")
        low, high = package.build_minutes
        return self.at(ctx, start, end, "; ".join(parts), fix_hint=alternative, source=source,
                       payload=CudaBuild(package=package.name, version=version,
                                         build_minutes=(low, high),
                                         prebuilt_alternative=alternative, prebuilt_url=url,
                                         torch=env.torch, cuda=env.cuda, python=env.python))


def _uses_by_instruction(ctx: ScanContext) -> dict[int, list]:
    """pip uses grouped by instruction, once per scan: filtering the whole list for every
    instruction was quadratic (2,000 `RUN pip install` lines took seconds)."""
    cached = getattr(ctx, "_cuda001_uses", None)
    if cached is None:
        cached = {}
        for use in pip_uses(ctx):
            cached.setdefault(id(use.inst), []).append(use)
        ctx._cuda001_uses = cached  # type: ignore[attr-defined]
    return cached
