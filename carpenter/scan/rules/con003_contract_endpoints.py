"""CON003: the server code lacks the contract's endpoints (profile rule)."""

from __future__ import annotations

from collections.abc import Iterator

from carpenter.scan.context import ScanContext
from carpenter.scan.finding import Finding
from carpenter.scan.registry import Rule


class ContractEndpoints(Rule):
    """Report required endpoints missing from the server code (or with the wrong method).

    ## What it does
    Finds the server code the final CMD runs (`uvicorn main:app` -> `main.py`, `python
    serve.py`) in the build context through COPY/ADD and WORKDIR, reads its FastAPI / Flask /
    Starlette route declarations (and those of the other copied Python files when it includes
    routers or blueprints) and checks the contract's endpoints: for `neurips-2023`, `POST
    /process` and `POST /tokenize`, plus `/decode` (an info finding: HELM needs it since
    September 2023 to truncate long prompts).

    ## Why it matters
    HELM calls these routes by name; a missing route or a GET-only one answers 404/405 and the
    evaluation fails.

    ## Example
    ```python
    @app.post("/generate")   # HELM calls /process
    def generate(req: Request): ...
    ```

    ## Fix
    Serve `@app.post("/process")` and `@app.post("/tokenize")` (and `/decode`) with the
    request and response fields the contract documents.

    ```python
    @app.post("/process")
    def process(req: ProcessRequest) -> ProcessResponse: ...

    @app.post("/tokenize")
    def tokenize(req: TokenizeRequest) -> TokenizeResponse: ...
    ```
    """

    id = "CON003"
    name = "contract-endpoints"
    category = "contract"
    severity = "error"
    profile_only = True

    def check(self, ctx: ScanContext) -> Iterator[Finding]:
        # profile-only rule: its helpers load only when a profile selects it
        from carpenter.scan.contract import (
            contract_settings,
            final_stage,
            find_server,
            locate_code,
            routes,
            script_binding,
            start_instruction,
        )

        stage = final_stage(ctx.dockerfile)
        inst = start_instruction(stage) if stage else None
        server = find_server(inst) if inst else None
        if server is None:
            return
        rel = locate_code(ctx, server)
        source = ctx.context_file(rel) if rel else None
        if source is None:
            return
        if server.kind == "python" and not script_binding(source.text)[2]:
            return  # the script starts no server: CON001
        declared = routes(source.text)
        if any(k in source.text for k in ("include_router", "register_blueprint", ".mount(")):
            for other in _python_files(ctx):
                if other != rel and (code := ctx.context_file(other)) is not None:
                    for path, methods in routes(code.text).items():
                        declared.setdefault(path, set()).update(methods)
        contract = contract_settings(ctx.config.profile)
        method = str(contract.get("method", "POST")).upper()
        required = [(p, "error") for p in contract["endpoints"]]
        required += [(p, "info") for p in contract.get("recommended_endpoints", [])]
        for path, severity in required:
            methods = declared.get(path.rstrip("/"))
            if methods is None:
                message = (f"the server code {source.path} declares no {method} {path} "
                           f"endpoint, which {contract['name']} calls")
            elif method not in methods:
                message = (f"{path} in {source.path} accepts {', '.join(sorted(methods))}, "
                           f"not {method}")
            else:
                continue
            if severity == "info":
                message += " (needed for long prompts since HELM#1832)"
            yield self.at(ctx, inst.offset, inst.end_offset, message, severity=severity,
                          fix_hint=f"add @app.{method.lower()}({path!r}) to {rel}",
                          endpoint=path, server_code=rel)


def _python_files(ctx: ScanContext) -> list[str]:
    context = ctx.build_context
    files = [r for r in context.sent_files() if r.endswith(".py")] if context else []
    return files[:200]
