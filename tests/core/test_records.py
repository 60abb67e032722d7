"""core.records: `@record` classes behave as `@dataclass` classes with the same body.

Each test defines one class body twice, once under `dataclasses.dataclass` and once under
`record` with the same options, and compares what code and users see: repr, equality, hash,
ordering, frozen errors, defaults and factories, field options, `fields()`, `asdict`,
`astuple`, `replace`, inheritance, `__post_init__`, ClassVar, slots, pickling and copying.
"""

from __future__ import annotations

import copy
import dataclasses
import inspect
import pickle
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import pytest

from carpenter.core import records
from carpenter.core.records import compile_methods, is_record, record

Decorator = Callable[..., Any]
BOTH = pytest.mark.parametrize("deco", [dataclass, record], ids=["dataclass", "record"])


@pytest.fixture(autouse=True, params=["interpreted", "compiled"])
def init_tier(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test runs with the interpreted __init__ and again with the compiled one (classes
    defined inside a test read INTERPRETED_CALLS when they are defined)."""
    if request.param == "compiled":
        monkeypatch.setattr(records, "INTERPRETED_CALLS", 0)
    return str(request.param)


def pair(build: Callable[[Decorator], type]) -> tuple[type, type]:
    """The class `build` defines, made by dataclass and by record."""
    return build(dataclass), build(record)


def same(expected: Callable[[], Any], actual: Callable[[], Any]) -> None:
    """Both calls give equal results, or raise the same exception type and message."""
    try:
        want = expected()
    except Exception as error:  # the error is the result being compared
        with pytest.raises(type(error)) as got:
            actual()
        assert str(got.value) == str(error)
        return
    assert actual() == want


def _point(deco: Decorator) -> type:
    @deco
    class Point:
        """A point."""

        x: int
        y: int = 0
        tags: list[str] = field(default_factory=list)
        note: str = field(default="n", repr=False)
        seen: int = field(default=0, compare=False)
        kind: ClassVar[str] = "point"
        other: typing.ClassVar[int] = 3

    return Point


def test_plain_class_matches_dataclass() -> None:
    dc, rec = pair(_point)
    assert is_record(rec) and not is_record(dc)
    for cls in (dc, rec):
        assert dataclasses.is_dataclass(cls)
    a_dc, a_rec = dc(1, 2, ["t"]), rec(1, 2, ["t"])
    assert repr(a_rec) == repr(a_dc).replace(dc.__qualname__, rec.__qualname__)
    assert repr(a_rec) == f"{rec.__qualname__}(x=1, y=2, tags=['t'], seen=0)"
    assert [f.name for f in dataclasses.fields(rec)] == [f.name for f in dataclasses.fields(dc)]
    assert list(rec.__dataclass_fields__) == list(dc.__dataclass_fields__)  # ClassVars kept
    assert rec.__match_args__ == dc.__match_args__ == ("x", "y", "tags", "note", "seen")
    assert dataclasses.asdict(a_rec) == dataclasses.asdict(a_dc)
    assert dataclasses.astuple(a_rec) == dataclasses.astuple(a_dc)
    assert rec.__hash__ is None and dc.__hash__ is None  # eq, not frozen: unhashable
    assert (rec.y, rec.note, rec.kind, rec.other) == (dc.y, dc.note, dc.kind, dc.other)
    assert "tags" not in rec.__dict__ and "tags" not in dc.__dict__  # factory: no class attr
    assert str(rec.__dataclass_params__) == str(dc.__dataclass_params__)


# Module-level names the string annotations below resolve to, as dataclasses resolves them.
ClassVarAlias = ClassVar
ClassVarOfInt = ClassVar[int]
NotAClassVar = int


def test_classvar_detection_matches_dataclass() -> None:
    annotations = {"a": "ClassVarAlias", "b": "ClassVarOfInt", "c": "typing.ClassVar",
                   "d": " typing . ClassVar[str]", "e": "NotAClassVar", "f": "list[ClassVar]",
                   "g": "Undefined[int]", "h": "dataclasses.Field", "i": ClassVar[int],
                   "j": "'quoted'", "k": "os.ClassVar"}

    def build(deco: Decorator) -> type:
        namespace = {"__annotations__": dict(annotations), "__module__": __name__,
                     "__doc__": "Kinds.", **{name: 1 for name in annotations}}
        return deco(type("Kinds", (), namespace))

    dc, rec = pair(build)
    kinds = [(f.name, f._field_type) for f in dc.__dataclass_fields__.values()]
    assert [(f.name, f._field_type) for f in rec.__dataclass_fields__.values()] == kinds
    assert [f.name for f in dataclasses.fields(rec)] == ["e", "f", "g", "h", "j", "k"]


def test_defaults_and_factories_are_fresh_per_instance() -> None:
    _, rec = pair(_point)
    first, second = rec(1), rec(2)
    first.tags.append("a")
    assert second.tags == [] and first.y == 0 and first.note == "n"
    with pytest.raises(TypeError):
        rec()  # x has no default


def test_equality_compares_same_class_and_compare_fields_only() -> None:
    dc, rec = pair(_point)
    for cls in (dc, rec):
        assert cls(1, seen=5) == cls(1, seen=9)
        assert cls(1) != cls(2)
        assert cls(1).__eq__(object()) is NotImplemented
    assert rec(1) != dc(1)
    sub = type("Sub", (rec,), {})
    assert sub(1) != rec(1)  # dataclasses compares exactly the same class


def test_replace_and_copy() -> None:
    dc, rec = pair(_point)
    for cls in (dc, rec):
        moved = dataclasses.replace(cls(1, tags=["a"]), y=7)
        assert (moved.x, moved.y, moved.tags) == (1, 7, ["a"])
        original = cls(1, tags=["a"])
        assert copy.copy(original) == original and copy.deepcopy(original) == original


@BOTH
def test_frozen_hash_and_errors(deco: Decorator) -> None:
    @deco(frozen=True)
    class Word:
        """A word."""

        text: str
        offset: int = 0
        raw: str = field(default="", compare=False)
        flag: bool = field(default=False, hash=False)

    word = Word("a", 1, "r")
    assert hash(word) == hash(("a", 1))  # compare=False and hash=False fields are left out
    assert word == Word("a", 1, "other") and {word: 1}[Word("a", 1)] == 1
    with pytest.raises(dataclasses.FrozenInstanceError, match="cannot assign to field 'text'"):
        word.text = "b"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError, match="cannot delete field 'text'"):
        del word.text  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError, match="cannot assign to field 'x'"):
        word.x = 1  # type: ignore[attr-defined]


def test_frozen_matches_dataclass_results() -> None:
    def build(deco: Decorator) -> type:
        @deco(frozen=True)
        class Pin:
            """A pin."""

            name: str
            version: str | None = None

        return Pin

    dc, rec = pair(build)
    assert hash(rec("a", "1")) == hash(dc("a", "1"))
    assert repr(rec("a")).split("(", 1)[1] == repr(dc("a")).split("(", 1)[1]
    same(lambda: setattr(dc("a"), "name", "b"), lambda: setattr(rec("a"), "name", "b"))
    same(lambda: delattr(dc("a"), "version"), lambda: delattr(rec("a"), "version"))
    same(lambda: dataclasses.replace(dc("a"), version="2").version,
         lambda: dataclasses.replace(rec("a"), version="2").version)


@BOTH
def test_eq_false_keeps_identity_equality_and_hash(deco: Decorator) -> None:
    @deco(eq=False)
    class Node:
        """A node."""

        name: str

    a, b = Node("a"), Node("a")
    assert a != b and a == a
    assert Node.__hash__ is object.__hash__ and hash(a) == object.__hash__(a)
    assert "__eq__" not in Node.__dict__


@BOTH
def test_explicit_hash_and_eq_are_kept(deco: Decorator) -> None:
    @deco(frozen=True)
    class Keyed:
        """Hashes by key only."""

        key: str
        value: int

        def __hash__(self) -> int:
            return hash(self.key)

    assert hash(Keyed("k", 1)) == hash("k")

    @deco
    class Custom:
        """Its own equality."""

        value: int

        def __eq__(self, other: object) -> bool:
            return True

    assert Custom(1) == Custom(2) and Custom.__hash__ is None


def test_order_matches_dataclass() -> None:
    def build(deco: Decorator) -> type:
        @deco(frozen=True, order=True)
        class Edit:
            """An edit."""

            offset: int
            end: int
            text: str = field(default="", compare=False)

        return Edit

    dc, rec = pair(build)
    values = [(3, 4, "a"), (1, 9, "b"), (1, 2, "c"), (3, 4, "z")]
    assert ([(e.offset, e.end, e.text) for e in sorted(rec(*v) for v in values)]
            == [(e.offset, e.end, e.text) for e in sorted(dc(*v) for v in values)])
    for name in ("__lt__", "__le__", "__gt__", "__ge__"):
        assert getattr(rec(1, 2), name)(rec(1, 2)) == getattr(dc(1, 2), name)(dc(1, 2))
        assert getattr(rec(1, 2), name)(1) is NotImplemented
    same(lambda: dc(1, 2) < 1, lambda: rec(1, 2) < 1)


def test_slots_matches_dataclass() -> None:
    def build(deco: Decorator) -> type:
        @deco(eq=False, slots=True)
        class Span:
            """A span."""

            line: int
            column: int = 1
            parts: list[int] = field(default_factory=list)
            cached: int | None = field(default=None, init=False, repr=False)

        return Span

    dc, rec = pair(build)
    assert rec.__slots__ == dc.__slots__ == ("line", "column", "parts", "cached")
    span = rec(3)
    assert not hasattr(span, "__dict__") and span.cached is None and span.column == 1
    assert repr(span).split("(", 1)[1] == repr(dc(3)).split("(", 1)[1]
    with pytest.raises(AttributeError):
        span.other = 1  # type: ignore[attr-defined]
    assert rec.__qualname__.endswith("build.<locals>.Span")
    assert copy.copy(span).line == 3


@BOTH
def test_frozen_slots(deco: Decorator) -> None:
    @deco(frozen=True, slots=True)
    class Hit:
        """A hit."""

        start: int
        end: int = 0

    hit = Hit(1, 2)
    assert hash(hit) == hash((1, 2)) and copy.deepcopy(hit) == hit
    with pytest.raises(dataclasses.FrozenInstanceError):
        hit.start = 3  # type: ignore[misc]
    assert hit.__getstate__() == [1, 2]  # type: ignore[attr-defined]


# Module-level pairs for pickling (pickle finds classes by qualified name).
@dataclass(frozen=True, slots=True)
class DcPickled:
    """Pickled."""

    a: int
    b: tuple[int, ...] = ()


@record(frozen=True, slots=True)
class RecPickled:
    """Pickled."""

    a: int
    b: tuple[int, ...] = ()


@record
class RecPlain:
    """Pickled, with a factory."""

    a: int
    items: list[int] = field(default_factory=list)


def test_pickling_round_trips() -> None:
    for value in (RecPickled(1, (2,)), DcPickled(1, (2,)), RecPlain(1, [2])):
        assert pickle.loads(pickle.dumps(value)) == value


def test_post_init_runs_after_fields_are_set() -> None:
    def build(deco: Decorator) -> type:
        @deco(frozen=True)
        class Checked:
            """Checked."""

            low: int
            high: int

            def __post_init__(self) -> None:
                if self.low > self.high:
                    raise ValueError(f"{self.low} > {self.high}")

        return Checked

    dc, rec = pair(build)
    assert rec(1, 2) == rec(1, 2)
    same(lambda: dc(3, 2), lambda: rec(3, 2))


def test_inheritance_between_records_and_dataclasses() -> None:
    @record(frozen=True)
    class Payload:
        """Base."""

        def to_dict(self) -> dict[str, Any]:
            return dataclasses.asdict(self)

    @record(frozen=True)
    class PipPin(Payload):
        """A pin."""

        name: str
        version: str = ""

    @dataclass(frozen=True)
    class Later(PipPin):
        """A stdlib subclass of a record."""

        extra: int = 0

    @record(frozen=True)
    class Again(Later):
        """A record subclass of a stdlib dataclass."""

        more: str = "m"

    assert PipPin("a").to_dict() == {"name": "a", "version": ""}
    assert [f.name for f in dataclasses.fields(Again)] == ["name", "version", "extra", "more"]
    again = Again("a", "1", 2)
    assert repr(again).endswith("Again(name='a', version='1', extra=2, more='m')")
    assert Later("a") == Later("a") and hash(Later("a")) == hash(("a", "", 0))
    assert PipPin("a") != Again("a")
    with pytest.raises(TypeError, match="cannot inherit non-frozen dataclass from a frozen"):
        record(type("Loose", (PipPin,), {"__annotations__": {"x": "int"}}))
    with pytest.raises(TypeError, match="cannot inherit frozen dataclass from a non-frozen"):
        record(frozen=True)(type("Tight", (RecPlain,), {}))


def test_plain_subclass_uses_the_base_methods() -> None:
    _, rec = pair(_point)

    class Plain(rec):  # type: ignore[misc,valid-type]
        pass

    plain = Plain(1)
    assert plain.x == 1 and repr(plain).startswith(f"{Plain.__qualname__}(x=1")
    assert rec.__dict__["__init__"] is not Plain.__dict__.get("__init__")


def test_recursive_repr_is_guarded() -> None:
    def build(deco: Decorator) -> type:
        @deco(eq=False)
        class Loop:
            """Points at itself."""

            name: str
            other: Any = None

        return Loop

    for cls in pair(build):
        loop = cls("a")
        loop.other = loop
        assert repr(loop) == f"{cls.__qualname__}(name='a', other=...)"


def test_a_field_named_self_and_a_match_statement() -> None:
    def build(deco: Decorator) -> type:
        @deco
        class Odd:
            """Has a field called self."""

            self: int
            other: int = 2

        return Odd

    for cls in pair(build):
        odd = cls(1)
        match odd:
            case cls(a, b):  # type: ignore[misc]
                assert (a, b) == (1, 2)


def test_init_is_compiled_after_the_interpreted_calls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(records, "INTERPRETED_CALLS", 3)
    dc, rec = pair(_point)
    stub = rec.__dict__["__init__"]
    assert getattr(stub, "_record_stub", False)
    for x in range(3):
        assert rec(x).x == x
    assert rec.__dict__["__init__"] is stub  # interpreted so far: nothing compiled
    assert rec(4).x == 4
    compiled = rec.__dict__["__init__"]
    assert not getattr(compiled, "_record_stub", False)
    assert compiled.__qualname__ == f"{rec.__qualname__}.__init__"
    assert inspect.signature(rec) == inspect.signature(dc)
    assert compiled.__annotations__ == dc.__init__.__annotations__
    kept = rec.__new__(rec)
    stub(kept, 2)  # a stub met again (kept by a caller) runs the compiled init
    assert kept.x == 2


def test_a_call_the_interpreter_cannot_bind_raises_the_dataclass_error() -> None:
    dc, rec = pair(_point)
    calls: list[tuple[tuple[Any, ...], dict[str, Any]]] = [
        ((), {}), ((1, 2, [], "n", 0, "extra"), {}), ((1,), {"x": 2}), ((1,), {"nope": 2}),
        ((), {"y": 1}), ((1,), {"self": 1})]
    for args, kwargs in calls:
        same(lambda: dc(*args, **kwargs), lambda: rec(*args, **kwargs))  # noqa: B023


def _everything(deco: Decorator, **options: bool) -> type:
    @deco(**options)
    class Everything:
        """Every kind of field the interpreter sets."""

        a: int
        b: str = "b"
        c: list[int] = field(default_factory=list)
        d: dict[str, int] = field(default_factory=dict, init=False)
        e: int = field(default=5, init=False)
        f: tuple[int, ...] = field(default=(), repr=False, compare=False)

        def __post_init__(self) -> None:
            object.__setattr__(self, "e", self.e + self.a)

    return Everything


@pytest.mark.parametrize("options", [{}, {"frozen": True}, {"slots": True},
                                     {"frozen": True, "slots": True}, {"eq": False}])
def test_interpreted_and_compiled_init_set_the_same_fields(options: dict[str, bool]) -> None:
    dc, rec = _everything(dataclass, **options), _everything(record, **options)
    compiled = _everything(record, **options)
    compile_methods(compiled)
    for args, kwargs in [((1,), {}), ((1, "x", [2]), {"f": (3,)}), ((), {"a": 2, "c": [1]})]:
        values = [dataclasses.astuple(cls(*args, **kwargs)) for cls in (dc, rec, compiled)]
        assert values[0] == values[1] == values[2]
        first, second = rec(*args, **kwargs), rec(*args, **kwargs)
        assert first.d is not second.d  # a fresh factory value per instance


def test_compile_methods_compiles_ahead() -> None:
    _, rec = pair(_point)
    compile_methods(rec)
    assert not getattr(rec.__dict__["__init__"], "_record_stub", False)
    compile_methods(rec)  # nothing left to do
    assert rec(1).x == 1


def test_a_class_without_docstring_gets_the_dataclass_doc() -> None:
    def build(deco: Decorator) -> type:
        @deco
        class Bare:
            name: str
            size: int = 0
            items: list[int] = field(default_factory=list)

        return Bare

    dc, rec = pair(build)
    assert rec.__doc__ == dc.__doc__
    assert rec.__doc__ == "Bare(name: 'str', size: 'int' = 0, items: 'list[int]' = <factory>)"


@BOTH
def test_definition_errors(deco: Decorator) -> None:
    with pytest.raises(TypeError, match="non-default argument 'b' follows default argument"):
        deco(type("Bad", (), {"__annotations__": {"a": "int", "b": "int"}, "a": 1}))
    with pytest.raises(ValueError, match="mutable default"):
        deco(type("Mutable", (), {"__annotations__": {"a": "list"}, "a": []}))
    with pytest.raises(TypeError, match="is a field but has no type annotation"):
        deco(type("Stray", (), {"a": field(default=1)}))
    with pytest.raises(ValueError, match="eq must be true if order is true"):
        deco(eq=False, order=True)(type("Order", (), {}))


def test_unsupported_options_are_type_errors() -> None:
    for option in ("init", "repr", "unsafe_hash", "match_args", "kw_only", "weakref_slot"):
        with pytest.raises(TypeError):
            record(**{option: True})
    with pytest.raises(TypeError, match="kw_only"):
        record(type("Kw", (), {"__annotations__": {"a": "int"}, "a": field(kw_only=True)}))
    with pytest.raises(TypeError, match="InitVar"):
        record(type("Iv", (), {"__annotations__": {"a": "dataclasses.InitVar[int]"},
                               "__module__": __name__}))
    with pytest.raises(TypeError, match="KW_ONLY"):
        record(type("Ko", (), {"__annotations__": {"_": dataclasses.KW_ONLY}}))


@BOTH
def test_an_own_init_is_kept(deco: Decorator) -> None:
    @deco
    class Own:
        """Builds itself."""

        value: int

        def __init__(self, text: str) -> None:
            self.value = int(text)

    assert Own("3").value == 3 and Own.__init__.__qualname__.endswith("Own.__init__")
