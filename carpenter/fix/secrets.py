"""Secrets: take the value out of the Dockerfile and hand it to the commands that need it
through a BuildKit secret mount, which never lands in a layer, the image config or history.

We use the file form (`--mount=type=secret,id=hf_token` + `$(cat /run/secrets/hf_token)`):
the `env=` form needs Dockerfile frontend 1.10, i.e. a `# syntax=` line that pulls a frontend
image, which an offline engine (or engine 20.10's built-in BuildKit) cannot do.
"""

from __future__ import annotations

import re

from carpenter.fix.context import Change, Job, Outcome
from carpenter.fix.edits import Edit
from carpenter.model.dockerfile import Instruction
from carpenter.model.shell import all_commands
from carpenter.scan.finding import Finding
from carpenter.scan.payloads import SecretMove

# Commands that read tokens from the environment (hub downloads, git, trackers).
CONSUMERS = frozenset({"python", "python3", "huggingface-cli", "hf", "wandb", "git", "curl",
                       "wget", "accelerate", "torchrun", "deepspeed", "bash", "sh", "kaggle"})
_PREFIX_VARS = (("hf_", "HF_TOKEN"), ("api_org_", "HF_TOKEN"), ("ghp_", "GITHUB_TOKEN"),
                ("github_pat_", "GITHUB_TOKEN"), ("wandb_", "WANDB_API_KEY"),
                ("sk-", "OPENAI_API_KEY"), ("AKIA", "AWS_ACCESS_KEY_ID"))
_PAIR = re.compile(r"(?P<key>[A-Za-z_][A-Za-z0-9_]*)=(?P<value>\"(?:[^\"\\]|\\.)*\"|'[^']*'|\S*)")


def variable_for(value: str, move: SecretMove) -> str:
    """The variable a literal secret in a RUN becomes: the one the rule saw it assigned to,
    else one named after the token's prefix."""
    name = move.variable
    if name and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        return name
    for prefix, var in _PREFIX_VARS:
        if value.startswith(prefix):
            return var
    if re.fullmatch(r"[0-9a-f]{40}", value):
        return "WANDB_API_KEY"
    return "SECRET_TOKEN"


def fix_secret(finding: Finding, move: SecretMove, job: Job) -> Outcome:
    if not job.is_dockerfile(finding):
        return Outcome.skip("secret in a build-context file: delete it there, add the file to "
                            ".dockerignore and rotate the token")
    inst = job.instruction_at(finding.offset)
    if inst is None:
        return Outcome.skip("secret outside any instruction (a comment?): delete the line by "
                            "hand and rotate the token")
    value = job.dockerfile.source.text[finding.offset:finding.end_offset]
    if inst.keyword in ("ENV", "ARG"):
        return _from_variable(finding, move, job, inst, value)
    if inst.keyword == "RUN":
        return _from_command(finding, move, job, inst, value)
    return Outcome.skip(f"secret in a {inst.keyword} instruction cannot be moved automatically; "
                        "remove it and rotate the token")


def _pair_at(inst: Instruction, offset: int) -> re.Match[str] | None:
    for match in _PAIR.finditer(inst.args):
        start, end = inst.args_offset + match.start(), inst.args_offset + match.end()
        if start <= offset <= end:
            return match
    return None


def _from_variable(
    finding: Finding, move: SecretMove, job: Job, inst: Instruction, value: str
) -> Outcome:
    source = job.dockerfile.source
    pair = _pair_at(inst, finding.offset)
    pairs = list(_PAIR.finditer(inst.args))
    if pair is None:
        # Legacy `ENV KEY value` or a bare `ARG KEY`: the whole instruction holds one variable.
        name = inst.args.split()[0] if inst.args.split() else ""
        if not name:
            return Outcome.skip("cannot tell which variable holds the secret")
        pairs = []
    else:
        name = pair.group("key")
    # The literal to mask: SEC001 spans the token itself; SEC005 spans `NAME=$NAME` (no
    # literal at all).
    literal = pair.group("value").strip("\"'") if pair is not None else ""
    secret_value = "" if not literal or literal.startswith("$") or \
        move.secret_kind == "placeholder" else literal
    if finding.category == "secret" and value and value != name and "=" not in value:
        secret_value = value
    if pair is None or len(pairs) == 1:
        # The only variable: drop the instruction with its line end.
        line_start = source.offset_of(inst.start_line)
        end = inst.end_offset + (1 if source.text[inst.end_offset:inst.end_offset + 1] == "\n"
                                 else 0)
        removal = Edit(line_start, end, "")
    else:
        start = inst.args_offset + pair.start()
        stop = inst.args_offset + pair.end()
        last = pair.span() == pairs[-1].span()
        rest = source.text[stop:]
        gap = 0 if last else len(rest) - len(rest.lstrip(" \t\\\n"))
        if last:  # remove the separator before the last pair instead
            before = source.text[:start]
            start -= len(before) - len(before.rstrip(" \t\\\n"))
        removal = Edit(start, stop + gap, "")
    secret_id = name.lower()
    changes = [Change(finding.path, removal)]
    consumers = _later_runs(job, inst, name)
    for run in consumers:
        changes.extend(Change(finding.path, e) for e in _mount_edits(job, run))
    return _secret_outcome(changes, name, secret_id, secret_value, len(consumers),
                           f"{inst.keyword} {name}=<redacted> -> RUN --mount=type=secret,"
                           f"id={secret_id}")


def _from_command(
    finding: Finding, move: SecretMove, job: Job, inst: Instruction, value: str
) -> Outcome:
    if inst.json_args is not None:
        return Outcome.skip("exec-form RUN: rewrite it in shell form to use a secret mount")
    word = job.word_at(finding.offset)
    if word is not None and word.raw.startswith("'"):
        return Outcome.skip("the secret sits inside single quotes, where $VAR does not expand")
    name = variable_for(value, move)
    secret_id = name.lower()
    changes = [Change(finding.path, Edit(finding.offset, finding.end_offset, "${" + name + "}"))]
    changes.extend(Change(finding.path, e) for e in _mount_edits(job, inst))
    outcome = _secret_outcome(changes, name, secret_id, value, 1,
                              f"literal secret -> ${{{name}}} from a secret mount")
    text = job.dockerfile.source.text[inst.offset:inst.end_offset]
    if re.search(r"\b(huggingface-cli|hf|wandb)\s+(auth\s+)?login\b", text):
        outcome.notes.append(f"line {inst.start_line}: `login` writes the token into the layer "
                             "even from a secret mount; let the download step read "
                             f"${name} instead of logging in")
    return outcome


def _secret_outcome(changes: list[Change], name: str, secret_id: str, value: str,
                    consumers: int, summary: str) -> Outcome:
    if value:
        notes = [f"{name} was in the Dockerfile: rotate that token now (it is in the git "
                 "history and in any image built from it)"]
    else:
        notes = [f"{name} no longer passes through ENV/ARG; a token passed with --build-arg "
                 "before sits in those images' history: rotate it"]
    notes.append(f"if the container needs {name} at run time, pass it with docker run -e "
                 f"{name} (or a mounted file), never in the image")
    if consumers == 0:
        notes.append(f"no later RUN uses {name}; add --mount=type=secret,id={secret_id} to "
                     "the steps that need it")
    return Outcome(changes, summary=summary, notes=notes,
                   build_flags=[f"--secret id={secret_id},env={name}"],
                   secrets=[value] if value else [])


def _later_runs(job: Job, inst: Instruction, name: str) -> list[Instruction]:
    """RUNs after `inst` in its stage (and stages built on it) that may read the variable."""
    stage = inst.stage
    if stage is None:  # a global ARG: every stage may use it
        candidates = [i for i in job.dockerfile.instructions if i.offset > inst.offset]
    else:
        derived = {stage.index}
        for other in job.dockerfile.stages[stage.index + 1:]:
            parent = job.dockerfile.stage_named(other.base or "") if other.is_stage_ref else None
            if parent is not None and parent.index in derived:
                derived.add(other.index)
        candidates = [i for i in job.dockerfile.instructions if i.offset > inst.offset
                      and i.stage is not None and i.stage.index in derived]
    runs = []
    pattern = re.compile(rf"\$\{{?{re.escape(name)}\b")
    for cand in candidates:
        if cand.keyword != "RUN" or cand.json_args is not None:
            continue
        text = job.dockerfile.source.text[cand.offset:cand.end_offset]
        names = {c.effective()[0][0].text.rsplit("/", 1)[-1]
                 for _, c in all_commands(cand) if c.effective()[0]}
        if pattern.search(text) or names & CONSUMERS:
            runs.append(cand)
    return runs


def _target(finding: Finding, move: SecretMove, job: Job) -> tuple[str, Instruction] | None:
    """(variable, instruction) a secret finding moves to a mount, as fix_secret decides."""
    if not job.is_dockerfile(finding) or not finding.fixable:
        return None
    inst = job.instruction_at(finding.offset)
    if inst is None:
        return None
    if inst.keyword in ("ENV", "ARG"):
        pair = _pair_at(inst, finding.offset)
        name = pair.group("key") if pair else (inst.args.split() or [""])[0]
        return (name, inst) if name else None
    if inst.keyword == "RUN" and inst.json_args is None:
        value = job.dockerfile.source.text[finding.offset:finding.end_offset]
        return variable_for(value, move), inst
    return None


def _mounts_for(job: Job, run: Instruction) -> list[str]:
    """Every variable any secret fix of this Dockerfile routes into `run`, sorted: each
    secret fixer then proposes the same edit for a RUN, so several secrets compose."""
    plan = job.__dict__.get("_secret_plan")
    if plan is None:
        plan = {}
        for finding in job.findings:
            move = finding.payload
            if not isinstance(move, SecretMove) or (target := _target(finding, move, job)) is None:
                continue
            name, inst = target
            runs = [inst] if inst.keyword == "RUN" else _later_runs(job, inst, name)
            for consumer in runs:
                plan.setdefault(consumer.offset, set()).add(name)
        job.__dict__["_secret_plan"] = plan
    return sorted(plan.get(run.offset, ()))


def _mount_edits(job: Job, inst: Instruction) -> list[Edit]:
    text = job.dockerfile.source.text
    head = text[inst.offset:inst.args_offset]
    names = [n for n in _mounts_for(job, inst) if f"id={n.lower()}" not in head]
    if not names:
        return []
    keyword_end = inst.offset + len(inst.raw_keyword)
    mount = Edit(keyword_end, keyword_end,
                 "".join(f" --mount=type=secret,id={n.lower()}" for n in names))
    exports = [f'export {n}="$(cat /run/secrets/{n.lower()})"' for n in names]
    if inst.heredocs and inst.args.strip().startswith("<<"):
        body = inst.heredocs[0].offset  # `RUN <<EOF` script: exports are its first lines
        return [mount, Edit(body, body, "".join(e + "\n" for e in exports))]
    return [mount, Edit(inst.args_offset, inst.args_offset, " && ".join(exports) + " && ")]
