"""CONDA002: an environment.yml (or spec file) used by the build lists unpinned packages."""

from __future__ import annotations

from collections.abc import Iterator

from carpenter.model.conda import parse_spec
from carpenter.model.pip import classify_requirement
from carpenter.model.shell import Word
from carpenter.scan.context import ScanContext
from carpenter.scan.facts import CondaEnvUse, conda_env_uses, env_pip_files
from carpenter.scan.finding import Finding
from carpenter.scan.payloads import CondaPin, PipPin
from carpenter.scan.registry import Rule


class CondaUnpinnedEnvironmentFile(Rule):
    """Read the `environment.yml` a build uses and flag each unpinned dependency in it.

    ## What it does
    For `conda env create -f FILE`, `conda env update -f FILE`, `mamba env create`,
    `micromamba create|install -f FILE` and `conda install --file specs.txt`, maps the file
    back into the build context through COPY/ADD and WORKDIR, and reports every conda
    dependency without a version and every entry of its `pip:` section without an exact
    `==` pin, at its line in the file. Without `-f`, `conda env create` reads
    `environment.yml` from the working directory.

    ## Why it matters
    An environment file with bare names resolves to new packages on every build, and its
    `pip:` section is invisible to pip linters.

    ## Example
    ```yaml
    dependencies:
      - python=3.10
      - pytorch
      - pip:
        - transformers>=4.34
    ```

    ## Fix
    Pin each dependency (`pytorch=2.1.0`, `transformers==4.35.1`) or lock the environment
    with `conda-lock`.

    ```yaml
    dependencies:
      - python=3.10.13
      - pytorch=2.1.0
      - pip:
        - transformers==4.35.1
    ```
    """

    id = "CONDA002"
    name = "conda-unpinned-environment-file"
    category = "unpinned-conda"
    severity = "warning"
    fixable = True

    def check(self, ctx: ScanContext) -> Iterator[Finding]:
        seen: set[str] = set()
        for use in conda_env_uses(ctx):
            if use.rel in seen:
                continue
            seen.add(use.rel)
            yield from self._file(ctx, use, seen)

    def _file(self, ctx: ScanContext, use: CondaEnvUse, seen: set[str]) -> Iterator[Finding]:
        source = use.source
        if use.env is not None:  # an environment.yml (one that cannot be read is reported)
            items = [(e.manager, e.text, e.offset, e.end_offset) for e in use.env.entries]
        else:  # a spec list: one conda spec per line
            items = []
            for number in range(1, source.line_count + 1):
                text = source.line_text(number).split("#", 1)[0].strip()
                if text and not text.startswith("@"):
                    start = source.offset_of(number) + source.line_text(number).find(text)
                    items.append(("conda", text, start, start + len(text)))
        for manager, text, start, end in items:
            if manager == "conda":
                spec = parse_spec(text, start, end)
                if spec is None or spec.pinned:
                    continue
                why = "has no version" if not spec.constraint.strip() else (
                    f"{spec.constraint.strip()} is not an exact version")
                yield self.at(ctx, start, end, f"conda dependency {spec.name} {why}",
                              fix_hint=f"pin it: {spec.name}=<version>", source=source,
                              payload=CondaPin(package=spec.name))
                continue
            if text.startswith(("-r", "--requirement")):
                yield from self._pip_file(ctx, use, text, seen)
                continue
            if text.startswith("-"):
                continue  # other pip options (--extra-index-url ...) in the pip: section
            req = classify_requirement(text, Word(text, text, start, end))
            if req.kind not in ("requirement", "url") or req.pinned:
                continue
            label = req.raw_name or text
            why = "is not pinned" if not req.specifier else f"{req.specifier} is a range"
            yield self.at(ctx, start, end, f"pip dependency {label} {why}",
                          fix_hint=f"pin it: {label}==<version>", source=source,
                          payload=PipPin(package=req.name, requirement=text, manager="pip"))

    def _pip_file(self, ctx: ScanContext, use: CondaEnvUse, option: str, seen: set[str]
                  ) -> Iterator[Finding]:
        """`- -r requirements.txt` in the pip: section: conda runs pip next to the yml."""
        for inc in env_pip_files(ctx, use, option):
            rel = inc.file.rel
            if rel is None or rel in seen or inc.kind != "requirement":
                continue
            seen.add(rel)
            for line in inc.file.requirements:
                req = line.requirement
                if req is None or req.kind not in ("requirement", "url") or req.pinned:
                    continue
                label = req.raw_name or req.text
                why = "is not pinned" if not req.specifier else f"{req.specifier} is a range"
                yield self.at(ctx, req.word.offset, req.word.end_offset,
                              f"pip dependency {label} {why} (read by the pip: section of an "
                              "environment file)", fix_hint=f"pin it: {label}==<version>",
                              source=inc.file.source,
                              payload=PipPin(package=req.name, requirement=req.text,
                                             manager="pip", spec_offset=line.spec_offset,
                                             spec_end_offset=line.spec_end_offset))
