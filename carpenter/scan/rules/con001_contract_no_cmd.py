"""CON001: the image starts nothing (no CMD/ENTRYPOINT) or no HTTP server (profile rule)."""

from __future__ import annotations

from collections.abc import Iterator

from carpenter.scan.context import ScanContext
from carpenter.scan.finding import Finding
from carpenter.scan.registry import Rule


class ContractNoServer(Rule):
    """Report images whose CMD does not start the inference server (competition profile).

    ## What it does
    With a competition profile (`--profile neurips-2023`), checks that the final stage has a
    CMD or ENTRYPOINT (its own or inherited from the stage it builds on) and that it starts an
    HTTP server: uvicorn, gunicorn, hypercorn, `fastapi run`, `flask run`, or a Python script
    that calls `uvicorn.run` / `app.run`.

    ## Why it matters
    The organizers run `docker run -p 8080:80 <image>` and poll `POST /process`; an image that
    starts a shell, a training script or the base image's default command never answers, and
    the submission is scored as failed after the health-check window.

    ## Example
    ```dockerfile
    FROM pytorch/pytorch:2.1.0-cuda12.1-cudnn8-runtime
    COPY . /app
    CMD ["python", "train.py"]
    ```

    ## Fix
    End the Dockerfile with the server: `CMD ["uvicorn", "main:app", "--host", "0.0.0.0",
    "--port", "80"]`.

    ```dockerfile
    FROM pytorch/pytorch:2.1.0-cuda12.1-cudnn8-runtime@sha256:<digest>
    COPY . /app
    CMD ["uvicorn", "main:app", "--host", "0.0.0.0", "--port", "80"]
    ```
    """

    id = "CON001"
    name = "contract-no-server"
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
            script_binding,
            start_instruction,
        )

        stage = final_stage(ctx.dockerfile)
        if stage is None:
            return
        contract = contract_settings(ctx.config.profile)
        inst = start_instruction(stage)
        if inst is None:
            head = stage.instruction
            yield self.at(ctx, head.offset, head.args_offset + len(head.args.rstrip()),
                          f"the final stage has no CMD or ENTRYPOINT: {contract['name']} starts "
                          "the image and expects it to serve HTTP on port "
                          f"{contract['port']}",
                          fix_hint=f'CMD ["uvicorn", "main:app", "--host", "0.0.0.0", '
                                   f'"--port", "{contract["port"]}"]')
            return
        server = find_server(inst)
        if server is not None and server.kind != "python":
            return
        if server is not None:
            rel = locate_code(ctx, server)
            if rel is None:
                return  # a script we cannot read: no claim either way
            source = ctx.context_file(rel)
            if source is None or script_binding(source.text)[2]:
                return
            message = (f"{inst.keyword} runs {server.module_file!r}, which starts no HTTP server "
                       f"(no uvicorn.run / app.run found in {rel})")
        else:
            message = (f"{inst.keyword} does not start an HTTP server; {contract['name']} "
                       f"expects one on port {contract['port']}")
        yield self.at(ctx, inst.offset, inst.end_offset, message,
                      fix_hint="start the inference server in CMD (uvicorn/gunicorn ...)")
