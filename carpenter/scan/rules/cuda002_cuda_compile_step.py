"""CUDA002: a build step that compiles CUDA code outside the known package list."""

from __future__ import annotations

import posixpath
from collections.abc import Iterator

from carpenter.model.copies import cwd_for
from carpenter.model.pip import pip_installs
from carpenter.model.shell import scripts_of
from carpenter.scan.context import ScanContext
from carpenter.scan.cuda import (
    clone_at,
    clones_before,
    cuda_data,
    image_env,
    is_setup_build,
    package_for_url,
)
from carpenter.scan.finding import Finding
from carpenter.scan.registry import Rule


class CudaCompileStep(Rule):
    """Report `nvcc` calls and source builds that CUDA build variables point at.

    ## What it does
    Reports `nvcc` invoked in a RUN, and `python setup.py install|develop|build_ext` or `pip
    install <folder>` of source trees not in the package list when the stage sets CUDA build
    variables (`MAX_JOBS`, `TORCH_CUDA_ARCH_LIST`, `FORCE_CUDA`, `CUDA_HOME`...): signs that
    the step compiles CUDA kernels. Known packages are reported by CUDA001 with their facts.

    ## Why it matters
    Kernel compiles run for tens of minutes to hours, need a `-devel` image and lots of memory,
    and depend on the GPU architecture list; they are the most common cause of build timeouts.

    ## Example
    ```dockerfile
    ENV TORCH_CUDA_ARCH_LIST="8.0;8.6"
    RUN git clone https://github.com/example/kernels && cd kernels && python setup.py install
    ```

    ## Fix
    Build the extension once into a wheel, publish or vendor it, and install that pinned wheel;
    keep `TORCH_CUDA_ARCH_LIST` to the competition GPU to shorten any remaining compile.

    ```dockerfile
    # built once with `pip wheel --no-deps .` (TORCH_CUDA_ARCH_LIST="8.0"), vendored in wheels/
    COPY wheels/kernels-0.1.0-cp310-cp310-linux_x86_64.whl /tmp/
    RUN pip install /tmp/kernels-0.1.0-cp310-cp310-linux_x86_64.whl
    ```
    """

    id = "CUDA002"
    name = "cuda-compile-step"
    category = "cuda-source-build"
    severity = "warning"

    def check(self, ctx: ScanContext) -> Iterator[Finding]:
        indicators = cuda_data().indicators
        for inst in ctx.dockerfile.instructions:
            if inst.keyword != "RUN":
                continue
            for script in scripts_of(inst):
                for cmd in script.commands:
                    # Both checks below need a word naming nvcc or setup.py: skip effective().
                    if not any(w.text.endswith(("nvcc", "setup.py")) for w in cmd.words):
                        continue
                    words, assigned = cmd.effective()
                    if words and words[0].text.rsplit("/", 1)[-1] == "nvcc":
                        yield self.at(ctx, words[0].offset, words[-1].end_offset,
                                      "nvcc compiles CUDA code during the build: needs a -devel "
                                      "image and adds minutes to hours of build time",
                                      fix_hint="build once, install the prebuilt artifact")
                        continue
                    if not is_setup_build([w.text for w in words]):
                        continue
                    names = set(inst.vars) | {a.text.split("=", 1)[0] for a in assigned}
                    hits = sorted(n for n in indicators if n in names)
                    clones = clones_before(inst)
                    url = clone_at(clones, cwd_for(inst, cmd))
                    if not hits or package_for_url(url) is not None:
                        continue
                    yield self._found(ctx, words[0].offset, words[-1].end_offset, hits, url,
                                      image_env(inst).flavour)
            for install in pip_installs(inst):
                names = set(inst.vars) | {a.text.split("=", 1)[0]
                                          for a in install.command.effective()[1]}
                hits = sorted(n for n in indicators if n in names)
                if not hits:
                    continue
                for req in install.requirements:
                    if req.kind != "path" or not req.is_local_dir:
                        continue
                    folder = posixpath.normpath(posixpath.join(cwd_for(inst, install.command),
                                                               req.text))
                    url = clone_at(clones_before(inst), folder)
                    if package_for_url(url) is not None:
                        continue
                    yield self._found(ctx, req.word.offset, req.word.end_offset, hits, url,
                                      image_env(inst).flavour)

    def _found(self, ctx, start: int, end: int, hits: list[str], url: str | None,
               flavour: str | None) -> Finding:
        origin = f" (a clone of {url})" if url else ""
        message = (f"this step builds a source tree{origin} with CUDA build variables set "
                   f"({', '.join(hits)}): it compiles CUDA kernels, typically 5-60 min")
        if flavour in ("runtime", "base", "none"):
            message += "; the base image has no nvcc, so the compile fails"
        return self.at(ctx, start, end, message, indicators=hits, source_url=url,
                       fix_hint="build a wheel once and install that pinned wheel")
