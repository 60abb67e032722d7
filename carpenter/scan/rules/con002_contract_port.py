"""CON002: the server listens on another port or interface than the contract's (profile rule)."""

from __future__ import annotations

from collections.abc import Iterator

from carpenter.scan.context import ScanContext
from carpenter.scan.finding import Finding
from carpenter.scan.registry import Rule


class ContractPort(Rule):
    """Report servers that do not listen on the contract's port on all interfaces.

    ## What it does
    Reads the host and port of the server the final CMD starts: command-line options
    (`--port`, `--host`, `--bind host:port`, ARG/ENV expanded), each server's own defaults
    (uvicorn, gunicorn and hypercorn listen on 127.0.0.1:8000, `flask run` on 127.0.0.1:5000)
    and, for `python serve.py`, the `uvicorn.run(...)` / `app.run(...)` call in the script.
    With `--profile neurips-2023` the contract is port 80 on 0.0.0.0.

    ## Why it matters
    The organizers map `-p 8080:80`; a server on 8000 or on 127.0.0.1 inside the container is
    unreachable, every health check fails, and the submission counts as broken.

    ## Example
    ```dockerfile
    CMD ["uvicorn", "main:app", "--port", "8000"]
    ```

    ## Fix
    `CMD ["uvicorn", "main:app", "--host", "0.0.0.0", "--port", "80"]`.

    ```dockerfile
    CMD ["uvicorn", "main:app", "--host", "0.0.0.0", "--port", "80"]
    ```
    """

    id = "CON002"
    name = "contract-port"
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
        inst = start_instruction(stage) if stage else None
        server = find_server(inst) if inst else None
        if server is None:
            return
        contract = contract_settings(ctx.config.profile)
        port, hosts = int(contract["port"]), list(contract["hosts"])
        source = None
        if server.kind == "python":
            rel = locate_code(ctx, server)
            source = ctx.context_file(rel) if rel else None
            if source is None:
                return
            host, found_port, found = script_binding(source.text)
            if not found:
                return
            server.host, server.port = host, found_port
        problems = []
        if server.port is not None and server.port != port:
            how = "" if server.port_explicit or source else " (its default)"
            problems.append(f"port {server.port}{how} instead of {port}")
        if server.host is not None and server.host not in hosts:
            how = "" if server.host_explicit or source else " (its default)"
            problems.append(f"host {server.host}{how}, unreachable from outside the container")
        if not problems:
            return
        word = server.port_word or server.host_word
        start, end = (word.offset, word.end_offset) if word else (inst.offset, inst.end_offset)
        where = f"{server.kind}" + (f" in {source.path}" if source else "")
        yield self.at(ctx, start, end,
                      f"the server ({where}) listens on " + " and ".join(problems) +
                      f": {contract['name']} calls port {port} on all interfaces",
                      fix_hint=f"--host 0.0.0.0 --port {port}", port=server.port,
                      host=server.host, expected_port=port)
