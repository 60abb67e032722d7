"""Fixers that add a version, digest, commit or revision in place: pip, conda, FROM, git,
build-time downloads."""

from __future__ import annotations

import re

from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

from carpenter.fix.closure import choose, closures_of, dated_index, github_release_candidate
from carpenter.fix.constraints import cutoff_label
from carpenter.fix.context import Change, Job, Outcome
from carpenter.fix.edits import Edit
from carpenter.fix.pipreq import (
    is_pinned,
    line_has_hashes,
    parse,
    pin_text,
    requirement_extent,
    split_quotes,
    unquoted_word_end,
)
from carpenter.scan.finding import Finding
from carpenter.scan.payloads import ImageDigest
from carpenter.snapshot.lookup import Pin
from carpenter.snapshot.model import normalize_image_ref

_SHELL_SPECIAL = set(" \t;<>|&()$`\"'*?[]{}!#~")
_SHA = re.compile(r"^[0-9a-f]{40}$")


# -- pip ------------------------------------------------------------------------------------

def fix_pip(finding: Finding, job: Job) -> Outcome:
    if job.is_dockerfile(finding):
        return _pip_in_run(finding, job)
    return _pip_in_requirements_file(finding, job)


def _pip_in_run(finding: Finding, job: Job) -> Outcome:
    text = job.dockerfile.source.text
    start, end = finding.offset, finding.end_offset
    word = job.word_at(start)
    if word is not None and word.offset <= start and end <= word.end_offset:
        start, end = word.offset, word.end_offset
    # Unquoted `torch>=2.0.1`: the shell cut it at `>`; the fix swallows the redirect too.
    if text[start:start + 1] not in "'\"" and text[end:end + 1] in ("<", ">", "=", "!", "~"):
        end = unquoted_word_end(text, end)
    original = text[start:end]
    if "$" in original:
        return Outcome.skip("the requirement uses a variable; pin the variable's value instead")
    return _pin_edit(finding, job, finding.path, start, end, original, shell=True)


def _pin_edit(finding: Finding, job: Job, path: str, start: int, end: int, original: str,
              shell: bool) -> Outcome:
    req = parse(original)
    if req is None:
        return Outcome.skip(f"not a requirement pip understands: {original!r}")
    if is_pinned(req):
        return Outcome.skip("already pinned")
    version, why, refusal = _version_for(finding, job, req.name, str(req.specifier))
    if refusal:
        return Outcome.skip(refusal)
    if version is None:
        return Outcome.skip(f"{req.name}: not in snapshot {job.snapshot.name}")
    if req.specifier and not req.specifier.contains(version, prereleases=True):
        return Outcome.skip(f"{req.name}: no version inside {req.specifier} known on "
                            f"{job.snapshot.as_of} (snapshot has {version}); choose one by hand")
    pinned = pin_text(original, version)
    if pinned is None:
        return Outcome.skip(f"cannot rewrite {original!r}")
    new = pinned.text
    if shell and not split_quotes(original)[0] and any(c in _SHELL_SPECIAL for c in new):
        # A marker with spaces or <> must be quoted for the shell.
        new = f"'{new}'" if "'" not in new else None
        if new is None:
            return Outcome.skip("requirement needs shell quoting that cannot be added safely")
    via = "" if why == "snapshot" else f" ({why})"
    return Outcome([Change(path, Edit(start, end, new))],
                   summary=f"{original} -> {new}{via}")


def _version_for(finding: Finding, job: Job, name: str, specifier: str
                 ) -> tuple[str | None, str, str]:
    """(version, where it came from, refusal): the stage's resolved closure first; else the
    snapshot, or the newest in-range version of its dated index view."""
    stage = job.stage_at(finding.offset) if job.is_dockerfile(finding) else None
    path = None if job.is_dockerfile(finding) else job.disk_path(finding.path)
    choice = choose(closures_of(job.closures, stage, path), name, specifier, cutoff_label(job))
    if choice.refusal or choice.version is not None:
        return choice.version, choice.why, choice.refusal
    version, why = job.version_for(name)
    if version is not None and (not specifier or SpecifierSet(specifier).contains(
            version, prereleases=True)):
        return version, why, ""
    index = dated_index(job.snapshot)
    found = index.newest(name, specifier) if index is not None else None
    if found is not None:
        return str(found.version), "dated index view, not checked by a resolver", ""
    return version, why, ""


def _pip_in_requirements_file(finding: Finding, job: Job) -> Outcome:
    source = job.source(finding.path)
    if finding.path.endswith((".yml", ".yaml")):  # environment.yml pip: entries
        original = source.text[finding.offset:finding.end_offset]
        return _pin_edit(finding, job, finding.path, finding.offset, finding.end_offset,
                         original, shell=False)
    line_start = source.offset_of(finding.line)
    line = source.line_text(finding.line)
    logical = line
    number = finding.line
    while logical.rstrip().endswith("\\") and number < source.line_count:
        number += 1  # options such as --hash often sit on continuation lines
        logical += "\n" + source.line_text(number)
    rel_start, rel_end = requirement_extent(line)
    start, end = line_start + rel_start, line_start + rel_end
    original = source.text[start:end]
    if line_has_hashes(logical) and (req := parse(original)) is not None and not is_pinned(req):
        return Outcome.skip("unpinned requirement with --hash options: the hashes would no "
                            "longer match; regenerate the file with hashes")
    if original.startswith("-") or "://" in original:
        return Outcome.skip(f"not a plain requirement: {original!r}")
    return _pin_edit(finding, job, finding.path, start, end, original, shell=False)


# -- conda ----------------------------------------------------------------------------------

_CONDA_HEAD = re.compile(r"^(?P<name>[A-Za-z0-9_][A-Za-z0-9_.-]*)(?P<spec>.*)$")


def fix_conda(finding: Finding, job: Job) -> Outcome:
    text = job.source(finding.path).text
    start, end = job.word_span(finding)
    original = text[start:end]
    quote, inner, _ = split_quotes(original)
    if "::" in inner:  # channel::name
        channel, _, inner = inner.partition("::")
        prefix = channel + "::"
    else:
        prefix = ""
    match = _CONDA_HEAD.match(inner)
    if match is None or "$" in inner:
        return Outcome.skip(f"not a conda package spec: {original!r}")
    name = match.group("name")
    path = None if job.is_dockerfile(finding) else job.disk_path(finding.path)
    version, why = conda_version(job, name, path)
    if version is None:
        return Outcome.skip(f"{name}: no conda version in snapshot {job.snapshot.name}")
    # `name=1.2.3` is conda's fuzzy pin (1.2.3*), exact enough and what users write.
    new = f"{quote}{prefix}{name}={version}{quote}"
    return Outcome([Change(finding.path, Edit(start, end, new))],
                   summary=f"{original} -> {new}{why}")


# conda names whose PyPI project differs (or that PyPI does not version the same way).
_CONDA_ONLY = frozenset({"pytorch", "pytorch-cuda", "cudatoolkit", "cuda", "cudnn", "nccl",
                         "python", "mkl", "libgcc", "torch"})


def conda_version(job: Job, name: str, path: str | None = None) -> tuple[str | None, str]:
    """What the pip closure of the environment file at `path` resolved (for its Python, next
    to its `pip:` list); else the conda table; else the PyPI version of the same date, since
    conda-forge republishes PyPI releases under the same numbers (usually within days)."""
    if path is not None and name.lower() not in ("python", "pip"):
        pypi_name = {"pytorch": "torch"}.get(name.lower(), name)
        choice = choose(closures_of(job.closures, None, path), pypi_name, "",
                        cutoff_label(job))
        if choice.version is not None and choice.why != "snapshot":
            return choice.version, f" ({choice.why}, with the file's pip: list)"
    version = job.snapshot.conda.get(name.lower())
    if version is not None:
        return version, ""
    if name.lower() in _CONDA_ONLY:
        return None, ""
    version = job.snapshot.pypi.get(canonicalize_name(name))
    return version, " (PyPI version of the snapshot date; conda-forge republishes it)"


# -- FROM -----------------------------------------------------------------------------------

def fix_base_image(finding: Finding, payload: ImageDigest, job: Job) -> Outcome:
    stage = job.stage_at(finding.offset)
    if stage is None:
        return Outcome.skip("no FROM instruction at this place")
    if stage.is_stage_ref:
        return Outcome.skip("FROM names an earlier stage")
    ref = payload.image or stage.base
    if not ref:
        return Outcome.skip("the image reference comes from a build argument without a value")
    if "@" in ref:
        return Outcome.skip("already pinned by digest")
    pin = job.lookups.image_digest(ref)
    digest = pin.value
    if digest is None:
        return Outcome.skip(
            f"{pin.reason or 'no digest for ' + normalize_image_ref(ref)}; pin it by hand "
            "from a pulled image: docker inspect --format '{{index .RepoDigests 0}}' " + ref)
    if "$" not in stage.base_raw:
        end = stage.base_span.end_offset
        outcome = Outcome([Change(finding.path, Edit(end, end, "@" + digest))],
                          summary=f"FROM {ref} -> {ref}@{digest[:19]}... ({pin.origin})")
    else:
        outcome = _pin_arg_default(finding, job, stage.base_raw, ref, digest)
    return _noted(outcome, pin)


def _noted(outcome: Outcome, pin: Pin) -> Outcome:
    """Say where an applied pin came from (looked up, or the bundled table)."""
    if outcome.changes and pin.note:
        outcome.notes.append(pin.note)
    return outcome


def _pin_arg_default(finding: Finding, job: Job, raw: str, ref: str, digest: str) -> Outcome:
    """`FROM ${BASE}` with `ARG BASE=img:tag`: the digest goes onto the ARG default."""
    match = re.fullmatch(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?", raw)
    if not match:
        return Outcome.skip("the image reference mixes text and build arguments")
    name = match.group(1)
    for inst in job.dockerfile.instructions:
        if inst.keyword != "ARG" or inst.stage is not None:
            continue
        found = re.search(rf"(?:^|\s){re.escape(name)}=(\"?)([^\s\"]+)\1", inst.args)
        if found and "$" in found.group(2):
            # A digest fixes one image: on a reference assembled from other ARGs it would
            # silently override whatever --build-arg picks.
            return Outcome.skip(f"ARG {name} is assembled from other build arguments; pin "
                                "the digest where the final reference is chosen")
        if found and found.group(2) == ref:
            end = inst.args_offset + found.end(2)
            return Outcome([Change(finding.path, Edit(end, end, "@" + digest))],
                           summary=f"ARG {name}={ref} -> {ref}@{digest[:19]}...")
    return Outcome.skip(f"the image comes from --build-arg {name}; pin it where it is passed")


# -- git ------------------------------------------------------------------------------------

def fix_git(finding: Finding, job: Job) -> Outcome:
    located = job.command_at(finding.offset) if job.is_dockerfile(finding) else None
    if located and located[1].effective()[0][:1] and \
            located[1].effective()[0][0].text.rsplit("/", 1)[-1] == "git":
        return _pin_clone(finding, job, located[1])
    return _pin_vcs_requirement(finding, job)


def _pin_vcs_requirement(finding: Finding, job: Job) -> Outcome:
    text = job.source(finding.path).text
    start, end = job.word_span(finding)
    original = text[start:end]
    match = re.search(r"git\+[a-z]+://[^\s'\"#]+", original)
    if match is None:
        return Outcome.skip(f"no VCS URL in {original!r}")
    url = match.group(0)
    # The ref is an @ after the repository path (not the one in user@host).
    scheme_end = url.index("://") + 3
    path_start = url.find("/", scheme_end)
    at = url.find("@", path_start) if path_start != -1 else -1
    repo_url, ref = (url[:at], url[at + 1:]) if at != -1 else (url, "")
    if ref and is_commit(ref):
        return Outcome.skip("already pinned to a commit")
    # Only a bare URL: `@branch` asks for unreleased code, which a release would not have.
    released = None if ref else _pypi_instead(finding, job, start, end, original, repo_url)
    if released is not None:
        return released
    pin = job.lookups.git_commit(repo_url.removeprefix("git+"), ref or None)
    if pin.value is None:
        return Outcome.skip(pin.reason or f"no commit for {url}")
    commit = pin.value
    abs_start = start + match.start()
    return _noted(Outcome([Change(finding.path, Edit(abs_start, abs_start + len(url),
                                                     repo_url + "@" + commit))],
                          summary=f"{url} -> @{commit[:12]} ({pin.origin})"), pin)


def _pypi_instead(finding: Finding, job: Job, start: int, end: int, original: str,
                  repo_url: str) -> Outcome | None:
    """`git+https://github.com/<org>/<project>` whose project was on PyPI at the date: the
    release of that date replaces the clone (no build-time GitHub download, hashes on PyPI)."""
    quote, inner, _ = split_quotes(original)
    candidate = github_release_candidate(inner)
    if candidate is None:
        return None
    text = job.source(finding.path).text
    before = text[text.rfind("\n", 0, start) + 1:start].rstrip()
    if before.endswith("@"):  # `name @ git+...` with only the URL in the span: leave it
        return None
    name, extras, project = candidate
    pin = job.lookups.pypi_release(name, project)
    if pin.value is None:
        return None
    new = f"{quote}{name}{extras}=={pin.value}{quote}"
    return _noted(Outcome([Change(finding.path, Edit(start, end, new))],
                          summary=f"{original} -> {new} ({pin.origin})"), pin)


def _pin_clone(finding: Finding, job: Job, cmd) -> Outcome:
    words, _ = cmd.effective()
    args = [w for w in words[2:]]  # after `git clone`
    positional = []
    skip_next = False
    shallow = False
    branch: str | None = None
    for i, w in enumerate(args):
        if skip_next:
            skip_next = False
            continue
        if w.text in ("-b", "--branch") and i + 1 < len(args):
            branch = args[i + 1].text  # the ref whose date matters
        elif w.text.startswith("--branch="):
            branch = w.text.split("=", 1)[1]
        if w.text in ("--depth", "-b", "--branch", "--origin", "-o", "--shallow-since",
                      "--reference", "--separate-git-dir", "-c", "--config", "-j", "--jobs"):
            skip_next = True
            shallow = shallow or w.text == "--depth"
            continue
        if w.text.startswith("-"):
            shallow = shallow or w.text.startswith(("--depth=", "--shallow"))
            continue
        positional.append(w)
    if not positional:
        return Outcome.skip("git clone without a repository URL")
    url = positional[0].text
    if "$" in url:
        return Outcome.skip("the repository URL uses a variable")
    later = _later_checkout(job, cmd)
    pin = job.lookups.git_commit(url, later.text if later is not None else branch)
    if pin.value is None:
        return Outcome.skip(pin.reason or f"no commit for {url}")
    return _noted(_clone_edit(finding, job, cmd, url, positional, pin.value, later, shallow),
                  pin)


def _clone_edit(finding: Finding, job: Job, cmd, url: str, positional: list, commit: str,
                later, shallow: bool) -> Outcome:
    if later is not None:  # `git checkout v1.2` after the clone: it decides, so pin it there
        if shallow:
            return Outcome.skip("shallow clone followed by a checkout: fetch the commit "
                                f"{commit} explicitly (git fetch --depth 1 origin {commit})")
        return Outcome([Change(finding.path, Edit(later.offset, later.end_offset, commit))],
                       summary=f"git checkout {later.text} -> {commit[:12]}")
    dest = positional[1].raw if len(positional) > 1 else \
        url.rstrip("/").rsplit("/", 1)[-1].removesuffix(".git")
    step = f"git -C {dest} checkout {commit}"
    if shallow:  # a shallow clone lacks the commit: fetch exactly it (GitHub allows this)
        step = f"git -C {dest} fetch --depth 1 origin {commit} && {step}"
    end = max(w.end_offset for w in cmd.words)
    return Outcome([Change(finding.path, Edit(end, end, f" && {step}"))],
                   summary=f"git clone {url} -> checkout {commit[:12]}")


def _later_checkout(job: Job, clone):
    """The ref word of the first `git [-C dir] checkout REF` after the clone in its RUN."""
    inst = job.instruction_at(clone.offset)
    if inst is None:
        return None
    from carpenter.model.shell import all_commands

    for _, cmd in all_commands(inst):
        if cmd.offset <= clone.offset:
            continue
        words, _ = cmd.effective()
        argv = [w.text for w in words]
        if not argv or argv[0].rsplit("/", 1)[-1] != "git" or "checkout" not in argv:
            continue
        rest = words[argv.index("checkout") + 1:]
        refs = [w for w in rest if not w.text.startswith("-")]
        if refs and refs[0].text != "--":
            return refs[0]
    return None


# -- build-time downloads --------------------------------------------------------------------

_VALUED_OPTIONS = frozenset({"--revision", "--local-dir", "--cache-dir", "--repo-type",
                             "--include", "--exclude", "--token", "--max-workers"})
_CALL = re.compile(r"\b(snapshot_download|hf_hub_download|from_pretrained)\s*\(\s*"
                   r"(?:repo_id\s*=\s*)?(['\"])(?P<repo>[^'\"]+)\2")


def fix_download(finding: Finding, job: Job) -> Outcome:
    text = job.source(finding.path).text
    located = job.command_at(finding.offset) if job.is_dockerfile(finding) else None
    if located:
        words, _ = located[1].effective()
        argv = [w.text for w in words]
        if "download" in argv[:3] and argv and argv[0].rsplit("/", 1)[-1] in (
                "huggingface-cli", "hf"):
            return _cli_revision(finding, job, words, argv)
    return _call_revision(finding, job, text)


def _cli_revision(finding: Finding, job: Job, words, argv: list[str]) -> Outcome:
    index = argv.index("download") + 1
    repos = [w for i, w in enumerate(words[index:], index) if not w.text.startswith("-")
             and argv[i - 1] not in _VALUED_OPTIONS]
    if not repos:
        return Outcome.skip("download without a repository id")
    repo = repos[0].text
    repo_type = argv[argv.index("--repo-type") + 1] if "--repo-type" in argv[:-1] else "model"
    given = argv[argv.index("--revision") + 1] if "--revision" in argv[:-1] else "main"
    if is_commit(given):
        return Outcome.skip("already pinned to a commit")
    pin = job.lookups.hub_revision(repo, repo_type, given)
    if pin.value is None:
        return Outcome.skip(pin.reason or f"no revision for {repo}")
    return _noted(_cli_revision_edit(finding, words, repos, repo, pin.value, pin.origin), pin)


def _cli_revision_edit(finding: Finding, words, repos, repo: str, revision: str,
                       origin: str) -> Outcome:
    for i, word in enumerate(words):
        if word.text == "--revision" and i + 1 < len(words):  # a branch or tag: replace it
            value = words[i + 1]
            if is_commit(value.text):
                return Outcome.skip("already pinned to a commit")
            return Outcome([Change(finding.path, Edit(value.offset, value.end_offset,
                                                      revision))],
                           summary=f"--revision {value.text} -> {revision[:12]}")
        if word.text.startswith("--revision="):
            return Outcome.skip("--revision=VALUE form: set the commit by hand")
    end = repos[0].end_offset
    return Outcome([Change(finding.path, Edit(end, end, f" --revision {revision}"))],
                   summary=f"{repo} -> --revision {revision[:12]} ({origin})")


def _call_revision(finding: Finding, job: Job, text: str) -> Outcome:
    window_start = max(0, finding.offset - 200)
    for match in _CALL.finditer(text, window_start, finding.end_offset + 400):
        if match.end() < finding.offset:
            continue
        close = _closing_paren(text, match.end())
        if close is None:
            break
        repo = match.group("repo")
        call = text[match.start():close]
        kind = re.search(r"\brepo_type\s*=\s*['\"](\w+)['\"]", call)
        given = re.search(r"\brevision\s*=\s*(['\"])([^'\"]*)\1", call)
        if given is not None and is_commit(given.group(2)):
            return Outcome.skip("already pinned to a commit")
        pin = job.lookups.hub_revision(repo, kind.group(1) if kind else "model",
                                       given.group(2) if given else "main")
        if pin.value is None:
            return Outcome.skip(pin.reason or f"no revision for {repo}")
        return _noted(_call_revision_edit(finding, job, text, match, close, given, pin.value,
                                          pin.origin), pin)
    return Outcome.skip("no download call with a literal repository id found")


def _call_revision_edit(finding: Finding, job: Job, text: str, match: re.Match, close: int,
                        given: re.Match | None, revision: str, origin: str) -> Outcome:
    if given is not None:  # revision="main": a moving branch, replace the value
        at = match.start() + given.start(2)
        return Outcome([Change(finding.path, Edit(at, at + len(given.group(2)), revision))],
                       summary=f"revision={given.group(2)} -> {revision[:12]} ({origin})")
    quote = "'" if '"' in _enclosing_quote(text, finding.offset, job) else '"'
    return Outcome([Change(finding.path, Edit(close, close,
                                              f", revision={quote}{revision}{quote}"))],
                   summary=f"{match.group('repo')} -> revision={revision[:12]} ({origin})")


def _enclosing_quote(text: str, offset: int, job: Job) -> str:
    word = job.word_at(offset)
    return word.raw[:1] if word is not None and word.raw[:1] in "'\"" else ""


def _closing_paren(text: str, pos: int) -> int | None:
    depth = 1
    quote = ""
    while pos < len(text):
        char = text[pos]
        if quote:
            if char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                return pos
        pos += 1
    return None


def is_commit(value: str) -> bool:
    return bool(_SHA.match(value))
