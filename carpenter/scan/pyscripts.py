"""Downloads a Python script makes when a RUN executes it (parsed with `ast`, never run).

`RUN python download.py` hides the download in the script. This module walks the script's
calls (`snapshot_download`, `hf_hub_download`, `from_pretrained`, `load_dataset`,
`nltk.download`, `torch.hub.load`, urllib/requests/wget/gdown fetches, `subprocess`/`os.system`
running wget, curl, `huggingface-cli`, `gsutil`, `aws s3`), resolves their arguments through
literals, module-level constants, function parameter defaults and argparse defaults
(`args.repo_id` -> `default="org/model"`), and follows the script's local imports
(`from utils import fetch_weights`, `from helpers import loader`) up to two levels inside the
build context. In an imported module only what runs counts: its module-level code and the
functions and classes the importer uses (and those they use in turn); a `utils.py` whose unused
`fetch()` helper downloads is not a download of the script that imports it for something else.
"""

from __future__ import annotations

import ast
import posixpath
from collections.abc import Callable
from dataclasses import replace

from carpenter.core.records import record
from carpenter.scan.downloads import SHA40

MAX_DEPTH = 2  # local imports followed: the script's own, and theirs
HUB_FUNCS = frozenset({"snapshot_download", "hf_hub_download", "from_pretrained",
                       "load_dataset", "cached_download", "hf_hub_url"})
REPO_KEYWORDS = ("repo_id", "pretrained_model_name_or_path", "path", "model_id")
URL_FUNCS = frozenset({"urlretrieve", "urlopen", "download_url_to_file",
                       "load_state_dict_from_url", "download_url"})
HTTP_MODULES = frozenset({"requests", "httpx", "wget", "gdown"})
SHELL_FUNCS = frozenset({"run", "call", "check_call", "check_output", "Popen", "system", "popen"})
SHELL_DOWNLOADERS = frozenset({"wget", "curl", "huggingface-cli", "hf", "gsutil", "aws", "gcloud",
                               "azcopy", "aria2c", "git"})
# `load_dataset("json", data_files=...)` reads local files through a packaged builder.
LOCAL_BUILDERS = frozenset({"json", "csv", "parquet", "text", "arrow", "pandas", "imagefolder",
                            "audiofolder", "webdataset", "sql", "generator"})

ReadLocal = Callable[[str], str | None]  # context-relative path -> text, None when absent


@record(eq=False, slots=True)
class ScriptDownload:
    """A download made by a Python script the build runs."""

    fn: str  # the call as written (last component): snapshot_download, nltk.download, wget...
    target: str | None  # repo id, URL, package or command, when it resolves to a literal
    revision: str | None
    rel: str  # context-relative file holding the call
    line: int
    kind: str  # hub | nltk | torch-hub | url | shell
    start: int = 0  # character offsets of the call in the parsed text
    end: int = 0

    @property
    def pinned(self) -> bool:
        if self.kind == "torch-hub" and self.target and ":" in self.target:
            return SHA40.fullmatch(self.target.rsplit(":", 1)[1]) is not None
        return bool(self.revision and SHA40.fullmatch(self.revision))


def script_downloads(rel: str, text: str, read_local: ReadLocal,
                     argv: list[str] | None = None) -> list[ScriptDownload]:
    """Downloads made by the script `rel` (context-relative) and the local modules it uses;
    `argv`, the script's command-line arguments, override its argparse defaults."""
    out: list[ScriptDownload] = []
    seen: set[str] = set()
    _walk(rel, text, read_local, 0, seen, out, command_options(argv or []))
    return out


def command_options(argv: list[str]) -> dict[str, str]:
    """`--model_name org/m --revision=x` -> {"model_name": "org/m", "revision": "x"}."""
    options: dict[str, str] = {}
    for index, arg in enumerate(argv):
        if not arg.startswith("--") or arg == "--":
            continue
        name, eq, value = arg[2:].partition("=")
        if not eq:
            if index + 1 >= len(argv) or argv[index + 1].startswith("-"):
                continue
            value = argv[index + 1]
        options[name.replace("-", "_")] = value
    return options


def code_downloads(code: str, where: str) -> list[ScriptDownload] | None:
    """Downloads in a code string (`python -c`, heredoc); None when it does not parse."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return None
    return _Module(tree, code).downloads(where)


Wanted = frozenset[str] | None  # names an importer uses from a module; None: all of it


def _walk(rel: str, text: str, read_local: ReadLocal, depth: int, seen: set,
          out: list[ScriptDownload], options: dict[str, str] | None = None,
          wanted: Wanted = None) -> None:
    if (rel, wanted) in seen:
        return
    seen.add((rel, wanted))
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError):
        return
    module = _Module(tree, text, options)
    nodes = module.reachable(wanted)
    out.extend(module.downloads(rel, nodes))
    if depth >= MAX_DEPTH:
        return
    for candidates in module.used_imports(nodes):
        for dotted, names in candidates:
            for candidate in _module_files(rel, dotted):
                child = read_local(candidate)
                if child is not None:
                    _walk(candidate, child, read_local, depth + 1, seen, out, wanted=names)
                    break
            else:
                continue
            break


def _module_files(rel: str, dotted: str) -> list[str]:
    """Where `import dotted` may live: next to the script, then at the context root."""
    here = posixpath.dirname(rel)
    dots = len(dotted) - len(dotted.lstrip("."))
    name = dotted.lstrip(".").replace(".", "/")
    if dots:
        base = here
        for _ in range(dots - 1):
            base = posixpath.dirname(base)
        roots = [base]
    else:
        roots = [here, ""] if here else [""]
    files = []
    for root in roots:
        stem = posixpath.join(root, name) if name else root
        files += [stem + ".py", posixpath.join(stem, "__init__.py")]
    return [posixpath.normpath(f) for f in files if f and not f.startswith("/")]


class _Module:
    """One parsed file: its string constants, argparse defaults and calls."""

    def __init__(self, tree: ast.Module, text: str,
                 options: dict[str, str] | None = None) -> None:
        self.tree = tree
        self.options = options or {}
        self.lines = text.splitlines(keepends=True)
        self.starts = [0]
        for line in self.lines:
            self.starts.append(self.starts[-1] + len(line))
        self.consts: dict[str, str] = {}
        self.arg_defaults: dict[str, str] = {}
        # local name -> (module it comes from, the name imported from it; None: the module)
        self.imports: dict[str, tuple[str, str | None]] = {}
        self.defs: dict[str, ast.AST] = {}  # top-level functions and classes by name
        self.nltk_names: set[str] = set()
        self._collect()

    def _collect(self) -> None:
        for node in ast.walk(self.tree):
            if isinstance(node, ast.Assign) and len(node.targets) == 1 \
                    and isinstance(node.targets[0], ast.Name):
                value = _literal(node.value)
                if value is None:
                    value = _env_default(node.value)  # MODEL = os.getenv("MODEL", "org/m")
                if value is not None:
                    self.consts.setdefault(node.targets[0].id, value)
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                self._param_defaults(node.args)
            elif isinstance(node, ast.Call) and _last(node.func) == "add_argument":
                self._argparse(node)
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    self.imports[(alias.asname or alias.name).split(".")[0]] = (alias.name, None)
            elif isinstance(node, ast.ImportFrom):
                module = "." * node.level + (node.module or "")
                for alias in node.names:
                    local = alias.asname or alias.name
                    self.imports[local] = (module, alias.name)
                    if node.module == "nltk" and alias.name == "download":
                        self.nltk_names.add(local)
        for stmt in self.tree.body:
            if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                self.defs[stmt.name] = stmt

    def _param_defaults(self, args: ast.arguments) -> None:
        positional = args.posonlyargs + args.args
        for arg, default in zip(positional[len(positional) - len(args.defaults):], args.defaults,
                                strict=True):
            value = self.resolve(default)
            if value is not None:
                self.consts.setdefault(arg.arg, value)
        for arg, default in zip(args.kwonlyargs, args.kw_defaults, strict=True):
            value = self.resolve(default)
            if value is not None:
                self.consts.setdefault(arg.arg, value)

    def _argparse(self, call: ast.Call) -> None:
        names = [a.value for a in call.args if isinstance(a, ast.Constant)
                 and isinstance(a.value, str)]
        keywords = {k.arg: k.value for k in call.keywords if k.arg}
        dest = _literal(keywords["dest"]) if "dest" in keywords else None
        if dest is None:
            longs = [n for n in names if n.startswith("--")] or names
            if not longs:
                return
            dest = longs[0].lstrip("-").replace("-", "_")
        default = keywords.get("default")
        value = self.options.get(dest)
        if value is None and default is not None:
            value = self.resolve(default)
        if value is not None:
            self.arg_defaults.setdefault(dest, value)

    def resolve(self, node: ast.AST | None) -> str | None:
        """A string expression's value when it is known without running the code."""
        if node is None:
            return None
        value = _literal(node)
        if value is not None:
            return value
        if isinstance(node, ast.Name):
            return self.consts.get(node.id)
        if isinstance(node, ast.Attribute):
            return self.arg_defaults.get(node.attr)  # args.repo_id, cfg.model_name
        if isinstance(node, ast.JoinedStr):
            parts = [self.resolve(v.value) if isinstance(v, ast.FormattedValue) else _literal(v)
                     for v in node.values]
            return None if any(p is None for p in parts) else "".join(parts)  # type: ignore[arg-type]
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            left, right = self.resolve(node.left), self.resolve(node.right)
            return None if left is None or right is None else left + right
        if isinstance(node, ast.Call) and _last(node.func) in ("getenv", "get") \
                and len(node.args) >= 2:
            return self.resolve(node.args[1])  # os.getenv("MODEL", "org/model"): the default
        return None

    def reachable(self, wanted: Wanted) -> list[ast.AST]:
        """The code that runs: all of it for the script itself (`wanted` None); for an imported
        module, its module-level statements plus the top-level functions and classes named in
        `wanted` or referenced by code already reached."""
        if wanted is None:
            return [self.tree]
        defined = {id(node) for node in self.defs.values()}
        nodes: list[ast.AST] = [stmt for stmt in self.tree.body
                                if id(stmt) not in defined and not _main_guard(stmt)]
        # A worklist: each definition is walked once, when something reached names it.
        pending = (set(wanted) | {n for node in nodes for n in _names(node)}) & self.defs.keys()
        taken: set[str] = set()
        while pending:
            name = pending.pop()
            taken.add(name)
            nodes.append(self.defs[name])
            pending |= (_names(self.defs[name]) & self.defs.keys()) - taken
        return nodes

    def used_imports(self, nodes: list[ast.AST]) -> list[list[tuple[str, Wanted]]]:
        """For each local module this code uses: where it may live, and what it uses of it
        (`from helpers import loader` may be the module helpers/loader.py or a name in
        helpers/__init__.py)."""
        used = {n for node in nodes for n in _names(node)}
        uses = _attribute_uses(nodes)
        out = []
        for local, (module, name) in sorted(self.imports.items()):
            if local not in used:
                continue
            attrs = uses.get(local)
            if name is None:
                out.append([(module, attrs)])
            else:
                sub = f"{module}.{name}" if module.strip(".") else module + name
                out.append([(sub, attrs), (module, frozenset({name}))])
        return out

    def downloads(self, rel: str, nodes: list[ast.AST] | None = None) -> list[ScriptDownload]:
        out = []
        for root in [self.tree] if nodes is None else nodes:
            for node in ast.walk(root):
                if isinstance(node, ast.Call):
                    found = self._call(node, rel)
                    if found is not None:
                        out.append(replace(found,
                                           start=self._offset(node.lineno, node.col_offset),
                                           end=self._offset(node.end_lineno,
                                                            node.end_col_offset)))
        return sorted(out, key=lambda d: (d.line, d.start))

    def _offset(self, line: int | None, col: int | None) -> int:
        """A character offset from ast's line and UTF-8 byte column."""
        if line is None or col is None or not 0 < line <= len(self.lines):
            return self.starts[-1]
        text = self.lines[line - 1].encode("utf-8")[:col].decode("utf-8", errors="ignore")
        return self.starts[line - 1] + len(text)

    def _call(self, call: ast.Call, rel: str) -> ScriptDownload | None:
        dotted = _dotted(call.func)
        last = dotted.rsplit(".", 1)[-1]
        keywords = {k.arg: k.value for k in call.keywords if k.arg}
        first = call.args[0] if call.args else None
        line = call.lineno
        if last in HUB_FUNCS:
            return self._hub(last, first, keywords, rel, line)
        if dotted.endswith("nltk.download") or dotted in self.nltk_names:
            package = self.resolve(first or keywords.get("info_or_id"))
            return ScriptDownload("nltk.download", package, None, rel, line, "nltk")
        if dotted.endswith("hub.load") or dotted.endswith("hub.load_state_dict_from_url"):
            target = self.resolve(first or keywords.get("repo_or_dir"))
            if target is not None and target.startswith((".", "/")):
                return None
            kind = "torch-hub" if last == "load" else "url"
            return ScriptDownload(dotted, target, None, rel, line, kind)
        if last in URL_FUNCS or (dotted.split(".")[0] in HTTP_MODULES
                                 and last in ("get", "download", "stream", "request")):
            target = self.resolve(first or keywords.get("url"))
            if target is None or not target.startswith(("http", "ftp", "s3:", "gs:")):
                return None
            return ScriptDownload(dotted, target, None, rel, line, "url")
        if last in SHELL_FUNCS and dotted.split(".")[0] in ("subprocess", "os", "sp") \
                and first is not None:
            return self._shell(dotted, first, rel, line)
        return None

    def _hub(self, fn: str, first: ast.AST | None, keywords: dict, rel: str,
             line: int) -> ScriptDownload | None:
        node = first
        for name in REPO_KEYWORDS:
            if node is None:
                node = keywords.get(name)
        repo = self.resolve(node)
        revision = self.resolve(keywords.get("revision"))
        if repo is None and fn not in ("snapshot_download", "hf_hub_download", "load_dataset"):
            return None  # from_pretrained(variable): perhaps a local folder, stay quiet
        if repo is not None:
            if repo.startswith((".", "/", "~")) or repo.endswith((".json", ".csv", ".jsonl")):
                return None
            if fn == "from_pretrained" and "/" not in repo:
                return None  # a bare name is usually a local folder
            if fn == "load_dataset" and repo in LOCAL_BUILDERS:
                return None
        return ScriptDownload(fn, repo, revision, rel, line, "hub")

    def _shell(self, fn: str, first: ast.AST, rel: str, line: int) -> ScriptDownload | None:
        if isinstance(first, ast.List | ast.Tuple):
            words = [self.resolve(e) for e in first.elts]
            if not words or words[0] is None:
                return None
            command = " ".join(w if w is not None else "…" for w in words)
        else:
            command = self.resolve(first)
            if command is None:
                return None
        import shlex  # only for a script that runs a shell command

        try:
            argv = shlex.split(command)
        except ValueError:
            argv = command.split()
        if not argv or posixpath.basename(argv[0]) not in SHELL_DOWNLOADERS:
            return None
        tool = posixpath.basename(argv[0])
        if tool == "git" and "clone" not in argv[1:3]:
            return None
        if tool in ("hf", "huggingface-cli") and "download" not in argv[1:3]:
            return None
        if tool == "aws" and "s3" not in argv[1:2]:
            return None
        return ScriptDownload(fn, command, None, rel, line, "shell")


def _env_default(node: ast.AST) -> str | None:
    """The literal default of `os.getenv("X", "d")` / `os.environ.get("X", "d")`."""
    if isinstance(node, ast.Call) and _last(node.func) in ("getenv", "get") \
            and len(node.args) >= 2:
        return _literal(node.args[1])
    return None


def _literal(node: ast.AST | None) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def _dotted(node: ast.AST) -> str:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
    elif isinstance(node, ast.Call):
        parts.append(_dotted(node.func) + "()")
    return ".".join(reversed(parts))


def _last(node: ast.AST) -> str:
    return _dotted(node).rsplit(".", 1)[-1]


def _root(node: ast.AST) -> str:
    return _dotted(node).split(".", 1)[0]


def _names(node: ast.AST) -> set[str]:
    """Every plain name the code refers to (calls, and functions passed as values)."""
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


def _attribute_uses(nodes: list[ast.AST]) -> dict[str, Wanted]:
    """For each name: the attributes used on it (`loader.fetch_all()` -> {"fetch_all"}), or
    None when the name itself is passed around (then all of the module may run)."""
    uses: dict[str, set[str] | None] = {}
    for root in nodes:
        for parent in ast.walk(root):
            for child in ast.iter_child_nodes(parent):
                if not isinstance(child, ast.Name):
                    continue
                known = uses.setdefault(child.id, set())
                if isinstance(parent, ast.Attribute) and parent.value is child:
                    if known is not None:
                        known.add(parent.attr)
                else:
                    uses[child.id] = None
    return {name: None if attrs is None or not attrs else frozenset(attrs)
            for name, attrs in uses.items()}


def _main_guard(stmt: ast.stmt) -> bool:
    """`if __name__ == "__main__":` does not run when the module is imported."""
    return isinstance(stmt, ast.If) and isinstance(stmt.test, ast.Compare) \
        and isinstance(stmt.test.left, ast.Name) and stmt.test.left.id == "__name__"
