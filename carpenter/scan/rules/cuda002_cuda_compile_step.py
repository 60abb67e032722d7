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
    cuda_build_word,
    cuda_data,
    image_env,
    is_build_tool,
    is_setup_build,
    package_for_url,
    package_named,
)
from carpenter.scan.finding import Finding
from carpenter.scan.registry import Rule


class CudaCompileStep(Rule):
    """Report `nvcc` calls, CUDA builds by make/cmake, and source builds that CUDA build
    variables point at.

    ## What it does
    Reports `nvcc` invoked in a RUN; `make`/`cmake` runs switched to CUDA by a target or a
    variable (`make cuda11x`, `CUDA_VERSION=118 make`, `cmake -DCOMPUTE_BACKEND=cuda`,
    `make LLAMA_CUBLAS=1`, `-DCMAKE_CUDA_ARCHITECTURES=80`; the words are listed in
    `cuda_extensions.toml`); and, when CUDA build variables are in force (`ARG`/`ENV` or a
    command prefix: `MAX_JOBS`, `TORCH_CUDA_ARCH_LIST`, `FORCE_CUDA`, `CUDA_HOME`...),
    `python setup.py install|develop|build_ext` or `pip install <folder>` of a source tree,
    and `pip install` of a git or archive source when the variable is set on that very
    command or the install turns build isolation off. Known packages (flash-attn,
    bitsandbytes...) are reported by CUDA001 with their facts.

    Not reported: the variables alone (`TORCH_CUDA_ARCH_LIST` next to prebuilt wheels only
    compiles nothing); a git install of a pure-Python package under a stage-wide variable
    (`pip install git+https://github.com/huggingface/transformers@<sha>`); a release wheel
    URL; `make` without a CUDA switch (`make install`, `make -j8`, `cmake -DGGML_CUDA=OFF`).

    ## Why it matters
    Kernel compiles run for tens of minutes to hours, need a `-devel` image and lots of memory,
    and depend on the GPU architecture list; they are the most common cause of build timeouts.

    ## Example
    ```dockerfile
    ENV TORCH_CUDA_ARCH_LIST="8.0;8.6"
    RUN git clone https://github.com/example/kernels && cd kernels && python setup.py install
    COPY vendor/kernels /k
    RUN cd /k && make cuda12x
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
                    # The checks below need a word naming nvcc, setup.py or a build tool: skip
                    # effective() otherwise.
                    if not any(w.text.endswith(("nvcc", "setup.py")) or is_build_tool(w.text)
                               for w in cmd.words):
                        continue
                    words, assigned = cmd.effective()
                    tool_word = cuda_build_word([w.text for w in words],
                                                [a.text for a in assigned])
                    if tool_word:
                        url = clone_at(clones_before(inst), cwd_for(inst, cmd))
                        if package_for_url(url) is None:  # known packages: CUDA001
                            shown = [*assigned, *words]
                            yield self._tool(ctx, shown, tool_word, url, image_env(inst).flavour)
                        continue
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
                here = {a.text.split("=", 1)[0] for a in install.command.effective()[1]}
                names = set(inst.vars) | here
                hits = sorted(n for n in indicators if n in names)
                if not hits:
                    continue
                # A remote source (git, sdist URL) of an unknown package is a CUDA build when
                # the variables are set for this very command, or the stage sets them and the
                # install turns build isolation off (the extension needs the installed torch).
                remote = bool(here & set(indicators)) or install.has("--no-build-isolation")
                for req in install.requirements:
                    if remote and self._remote_source(req):
                        yield self._found(ctx, req.word.offset, req.word.end_offset, hits,
                                          req.url or req.text, image_env(inst).flavour,
                                          remote=True)
                        continue
                    if req.kind != "path" or not req.is_local_dir:
                        continue
                    folder = posixpath.normpath(posixpath.join(cwd_for(inst, install.command),
                                                               req.text))
                    url = clone_at(clones_before(inst), folder)
                    if package_for_url(url) is not None:
                        continue
                    yield self._found(ctx, req.word.offset, req.word.end_offset, hits, url,
                                      image_env(inst).flavour)

    @staticmethod
    def _remote_source(req) -> bool:
        if req.kind not in ("vcs", "url") or (req.url or req.text).split("#")[0].endswith(".whl"):
            return False
        return package_for_url(req.url) is None and package_named(req.name) is None

    def _tool(self, ctx, shown: list, tool_word: str, url: str | None,
              flavour: str | None) -> Finding:
        command = " ".join(w.text for w in shown)
        origin = f" in a clone of {url}" if url else ""
        message = (f"`{command}` compiles CUDA code during the build ({tool_word} selects the "
                   f"CUDA build{origin}): typically 5-60 min")
        if flavour in ("runtime", "base", "none"):
            message += "; the base image has no nvcc, so the compile fails"
        return self.at(ctx, shown[0].offset, shown[-1].end_offset, message,
                       cuda_switch=tool_word, source_url=url,
                       fix_hint="build once into a wheel or binary and install that pinned "
                                "artifact (or a prebuilt release)")

    def _found(self, ctx, start: int, end: int, hits: list[str], url: str | None,
               flavour: str | None, remote: bool = False) -> Finding:
        origin = f" (a clone of {url})" if url else ""
        if remote:
            origin = f" (the source of {url})"
        message = (f"this step builds a source tree{origin} with CUDA build variables set "
                   f"({', '.join(hits)}): it compiles CUDA kernels, typically 5-60 min")
        if flavour in ("runtime", "base", "none"):
            message += "; the base image has no nvcc, so the compile fails"
        return self.at(ctx, start, end, message, indicators=hits, source_url=url,
                       fix_hint="build a wheel once and install that pinned wheel")
