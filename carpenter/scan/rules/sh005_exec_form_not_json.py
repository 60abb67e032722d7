"""SH005: an exec-form CMD/ENTRYPOINT/RUN that is not valid JSON (Docker runs it as a shell)."""

from __future__ import annotations

import json
from collections.abc import Iterator

from carpenter.scan.context import ScanContext
from carpenter.scan.finding import Finding
from carpenter.scan.registry import Rule


def json_problem(text: str) -> str:
    if "'" in text and '"' not in text:
        return "it uses single quotes; JSON needs double quotes"
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        return f"invalid JSON: {exc.msg} at character {exc.pos + 1}"
    return "it is not a JSON array of strings"


class ExecFormNotJson(Rule):
    """Flag `CMD [...]`/`ENTRYPOINT [...]`/`RUN [...]` that Docker does not read as JSON.

    ## What it does
    Reports instructions whose arguments start with `[` but do not parse as a JSON array of
    strings (single quotes, a trailing comma, an unquoted word).

    ## Why it matters
    Docker silently falls back to shell form: `CMD ['python', 'serve.py']` becomes
    `/bin/sh -c "['python', 'serve.py']"`, which fails when the container starts ("[python,:
    not found") - after the build has passed. The serving contract of a submission breaks.

    ## Example
    ```dockerfile
    CMD ['uvicorn', 'main:app', '--host', '0.0.0.0']
    ```

    ## Fix
    Use double quotes and valid JSON: `CMD ["uvicorn", "main:app", "--host", "0.0.0.0"]`.

    ```dockerfile
    CMD ["uvicorn", "main:app", "--host", "0.0.0.0"]
    ```
    """

    id = "SH005"
    name = "exec-form-not-json"
    category = "shell-bug"
    severity = "error"

    def check(self, ctx: ScanContext) -> Iterator[Finding]:
        for inst in ctx.dockerfile.instructions:
            if inst.keyword not in ("CMD", "ENTRYPOINT", "RUN", "SHELL", "HEALTHCHECK"):
                continue
            stripped = inst.args.strip()
            if inst.json_args is not None or not stripped.startswith("["):
                continue
            start = inst.args_offset + (len(inst.args) - len(inst.args.lstrip()))
            end = inst.args_offset + len(inst.args.rstrip())
            yield self.at(
                ctx, start, end,
                f"{inst.keyword} looks like exec form but {json_problem(stripped)}: Docker runs "
                "it through /bin/sh -c as a single string",
                fix_hint='write a JSON array with double quotes: ["prog", "arg"]',
                keyword=inst.keyword,
            )
