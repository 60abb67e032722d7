"""The competition inference contract: what the image's CMD serves, on which port and routes.

`serving(ctx)` finds the final stage's CMD/ENTRYPOINT, recognises the HTTP server it starts
(uvicorn, gunicorn, hypercorn, fastapi, flask, or a Python script calling `uvicorn.run` /
`app.run`), its host and port (with each server's own defaults), and the server code in the
build context (through COPY/ADD and WORKDIR), whose route decorators give the endpoints.
The contract itself (port, endpoints) is data in the profile (carpenter/data/profiles/<name>.toml).
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import field
from typing import Any

from carpenter.core.lazyre import lazy_compile
from carpenter.core.records import record
from carpenter.model.dockerfile import Instruction, Stage
from carpenter.model.shell import PYTHONS, SimpleCommand, Word, scripts_of

# server -> (default host, default port)
DEFAULTS = {
    "uvicorn": ("127.0.0.1", 8000),
    "gunicorn": ("127.0.0.1", 8000),
    "hypercorn": ("127.0.0.1", 8000),
    "fastapi run": ("0.0.0.0", 8000),
    "fastapi dev": ("127.0.0.1", 8000),
    "flask run": ("127.0.0.1", 5000),
    "litgpt serve": ("127.0.0.1", 8000),
    "python": (None, None),
}
DEFAULT_CONTRACT = {"port": 80, "hosts": ["0.0.0.0", "::", "[::]"],
                    "endpoints": ["/process", "/tokenize"], "recommended_endpoints": ["/decode"],
                    "method": "POST", "name": "the competition"}

_ROUTE = lazy_compile(
    r"""@\s*\w+(?:\.\w+)*\.(?P<method>get|post|put|delete|patch|route|api_route)\s*\(\s*"""
    r"""["'](?P<path>/[^"']*)["'](?P<rest>[^)]*)\)"""
    r"""|\.add_api_route\s*\(\s*["'](?P<path2>/[^"']*)["'](?P<rest2>[^)]*)\)"""
    r"""|\.add_url_rule\s*\(\s*["'](?P<path3>/[^"']*)["'](?P<rest3>[^)]*)\)""",
)
_RUN_CALL = lazy_compile(r"\b(?:uvicorn\.run|\w+\.run|serve|run_simple)\s*\((?P<args>[^)]*)\)")
_KW = lazy_compile(r"""\b(?P<key>host|port)\s*=\s*(?P<value>["'][^"']*["']|\d+|[A-Za-z_][\w.]*)""")


@record
class Server:
    kind: str  # key of DEFAULTS
    inst: Instruction  # the CMD / ENTRYPOINT
    host: str | None
    port: int | None
    host_word: Word | None = None
    port_word: Word | None = None
    module_file: str | None = None  # in-image path of the app module / script
    code_rel: str | None = None  # context-relative path of the server code
    port_explicit: bool = False
    host_explicit: bool = False
    notes: list[str] = field(default_factory=list)


def contract_settings(profile: str | None) -> dict[str, Any]:
    """The [contract] table of the selected profile (the NeurIPS 2023 one by default)."""
    from carpenter.core.errors import ConfigError
    from carpenter.scan.config import load_profile

    for name in (profile, "neurips-2023"):
        if not name:
            continue
        try:
            data = load_profile(name)
        except ConfigError:
            continue
        if isinstance(data.get("contract"), dict):
            return {**DEFAULT_CONTRACT, **data["contract"]}
    return dict(DEFAULT_CONTRACT)


def final_stage(dockerfile) -> Stage | None:
    return dockerfile.stages[-1] if dockerfile.stages else None


def start_instruction(stage: Stage) -> Instruction | None:
    """The last CMD or ENTRYPOINT in force for the stage (inherited from `FROM <stage>`)."""
    current: Stage | None = stage
    seen = set()
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        for inst in reversed(current.instructions):
            if inst.keyword in ("CMD", "ENTRYPOINT"):
                return inst
        current = getattr(current, "parent", None)
    return None


def find_server(inst: Instruction) -> Server | None:
    for script in scripts_of(inst):
        for cmd in script.commands:
            server = _server_of(inst, cmd)
            if server is not None:
                return server
    return None


def _server_of(inst: Instruction, cmd: SimpleCommand) -> Server | None:
    words, _ = cmd.effective()
    argv = [_expand(inst, w.text) for w in words]
    if not argv:
        return None
    name = argv[0].rsplit("/", 1)[-1]
    offset = 0
    if PYTHONS.match(name) and len(argv) > 2 and argv[1] == "-m":
        name, offset = argv[2], 2
    elif PYTHONS.match(name):
        script = next((a for a in argv[1:] if not a.startswith("-")), None)
        if script and script.endswith(".py"):
            return Server("python", inst, None, None, module_file=script)
        return None
    if name in ("fastapi", "flask", "litgpt") and len(argv) > offset + 1:
        name = f"{name} {argv[offset + 1]}"
        offset += 1
    if name not in DEFAULTS:
        return None
    host, port = DEFAULTS[name]
    server = Server(name, inst, host, port)
    rest = list(zip(argv[offset + 1:], words[offset + 1:], strict=False))
    for index, (arg, word) in enumerate(rest):
        following = rest[index + 1] if index + 1 < len(rest) else (None, None)
        key, eq, inline = arg.partition("=")
        value, value_word = (inline, word) if eq else following
        if key in ("--port", "-p") and value is not None and name != "gunicorn":
            server.port, server.port_word, server.port_explicit = _int(value), value_word, True
        elif key in ("--host", "-h") and value is not None and name not in ("gunicorn",):
            server.host, server.host_word, server.host_explicit = value, value_word, True
        elif key in ("--bind", "-b") and value is not None:
            host, _, port_text = value.rpartition(":")
            server.host, server.port = host or "0.0.0.0", _int(port_text)
            server.host_word = server.port_word = value_word
            server.host_explicit = server.port_explicit = True
        elif ":" in arg and not arg.startswith("-") and server.module_file is None:
            module = arg.split(":", 1)[0]
            if re.fullmatch(r"[A-Za-z_][\w.]*", module):
                server.module_file = module.replace(".", "/") + ".py"
    return server


def _int(text: str | None) -> int | None:
    try:
        return int(str(text).strip())
    except (TypeError, ValueError):
        return None


def _expand(inst: Instruction, text: str) -> str:
    """CMD/ENTRYPOINT see ENV at run time, never build ARGs (Docker does not expand them)."""
    if "$" not in text:
        return text
    from carpenter.model.variables import expand

    value, missing = expand(text, runtime_env(inst))
    return text if missing else value


def runtime_env(inst: Instruction) -> dict[str, str | None]:
    """ENV values in force for the container started from `inst`'s stage."""
    from carpenter.model.variables import expand, split_assignments

    env: dict[str, str | None] = {}
    stage = inst.stage
    chain: list[Stage] = []
    while stage is not None and stage not in chain:
        chain.insert(0, stage)
        stage = getattr(stage, "parent", None)
    for current in chain:
        for other in current.instructions:
            if other.keyword == "ENV":
                pairs = split_assignments(other.args)
                if pairs and pairs[0][1] is None:
                    name, _, rest = other.args.strip().partition(" ")
                    pairs = [(name, rest.strip())]
                for name, value in pairs:
                    env[name] = expand(value or "", other.vars)[0]
            if other is inst:
                return env
    return env


def locate_code(ctx, server: Server) -> str | None:
    """Context-relative path of the server code, through COPY/ADD and WORKDIR."""
    if server.module_file is None or ctx.build_context is None:
        return None
    from carpenter.model.copies import context_source, workdir_at

    context = ctx.build_context
    cwd = workdir_at(server.inst)
    target = posixpath.join(cwd, server.module_file)
    found = context_source(server.inst, target, cwd,
                           lambda rel: _is_dir(context, rel))

    # Never read through a symlink leading outside the context (a hostile submission).
    if found is not None and found.rel and ctx.context_file(found.rel) is not None:
        return found.rel
    return None


def _is_dir(context, rel: str) -> bool | None:
    import os

    path = context.fs_path(rel)
    return os.path.isdir(path) if os.path.exists(path) else None


def script_binding(code: str) -> tuple[str | None, int | None, bool]:
    """(host, port, found) of `uvicorn.run(app, host=..., port=...)` / `app.run(...)` in code."""
    for match in _RUN_CALL.finditer(code):
        args = match.group("args")
        if "app" not in args and "host" not in args and "port" not in args:
            continue
        values = {m.group("key"): m.group("value").strip("\"'") for m in _KW.finditer(args)}
        if "uvicorn.run" in match.group(0) or "host" in values or "port" in values:
            default_port = 8000 if "uvicorn" in match.group(0) else 5000
            port = _int(values.get("port")) if "port" in values else default_port
            if "port" in values and port is None:
                port = _variable_default(code, values["port"])
            host = values.get("host", "127.0.0.1")
            return host, port, True
    return None, None, False


def _variable_default(code: str, name: str) -> int | None:
    """`PORT = int(os.environ.get("PORT", 80))` / `PORT = 80` -> 80."""
    match = re.search(rf"\b{re.escape(name)}\s*=\s*(?:int\()?[^\n]*?(\d{{2,5}})", code)
    return int(match.group(1)) if match else None


def routes(code: str) -> dict[str, set[str]]:
    """path -> HTTP methods declared with FastAPI / Flask / Starlette decorators."""
    found: dict[str, set[str]] = {}
    for match in _ROUTE.finditer(code):
        path = match.group("path") or match.group("path2") or match.group("path3")
        rest = match.group("rest") or match.group("rest2") or match.group("rest3") or ""
        method = (match.group("method") or "").lower()
        if method in ("route", "api_route", "") or not method:
            listed = re.findall(r"""["'](GET|POST|PUT|DELETE|PATCH)["']""", rest, re.IGNORECASE)
            methods = {m.upper() for m in listed} or {"GET"}
            if match.group("path2") and not listed:
                methods = {"GET"}
        else:
            methods = {method.upper()}
        found.setdefault(path.rstrip("/") or "/", set()).update(methods)
    return found
