"""Dataclasses that cost almost nothing to define: `@record` instead of `@dataclass`.

`dataclasses.dataclass` writes Python source for `__init__`, `__repr__`, `__eq__`, `__hash__`
and a frozen class's `__setattr__`/`__delattr__`, and `exec()`s it when the class is defined:
1.1-1.5M instructions per class, and a cold `carpenter scan` imports about 70 of them, most of
which a typical submission never instantiates. `record` gives a class the same fields and the
same behaviour for everything the code and users see:

- `__dataclass_fields__` holds real `dataclasses.Field` objects and `__dataclass_params__` the
  stdlib's parameters, so `dataclasses.fields`, `asdict`, `astuple`, `replace`,
  `is_dataclass`, and stdlib dataclasses inheriting from a record keep working;
- `__init__` is a stub: its first calls (`INTERPRETED_CALLS`) bind and set the fields by
  walking the class's field list; after them, or at once for a call it cannot bind, it compiles
  the real one (the source dataclasses would write: defaults, factories, `object.__setattr__`
  for frozen classes, `__post_init__`) and installs it on the class. A class that is never
  instantiated, or only a few times, never pays for compiling; `compile_methods` compiles
  ahead of time (a warm-up's job);
- `__repr__`, `__eq__`, the ordering methods, `__hash__` and a frozen class's
  `__setattr__`/`__delattr__` are closures over one shared implementation each (no `exec`),
  with dataclasses' results (repr format and recursion guard, same-class comparison of field
  tuples, `FrozenInstanceError`).

Only the options this code base uses are accepted (`eq`, `frozen`, `order`, `slots`; `field()`
without `kw_only=True`); anything else is a TypeError rather than a silent difference. One
difference remains: until the __init__ is compiled, `inspect.signature(cls)` shows the stub's
`(*args, **kwargs)`; call `compile_methods(cls)` first where the signature matters.
"""

from __future__ import annotations

import abc
import dataclasses
import operator
import sys
import types
from _thread import get_ident
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

_C = TypeVar("_C", bound=type)

_FIELDS = "__dataclass_fields__"
_PARAMS = "__dataclass_params__"
_MISSING: Any = dataclasses.MISSING
# dataclasses' own markers: `fields()`, `replace()` and `asdict()` test `_field_type` by
# identity, and the signature shows `<factory>` for its default-factory sentinel.
_FIELD = dataclasses._FIELD  # type: ignore[attr-defined]
_FIELD_CLASSVAR = dataclasses._FIELD_CLASSVAR  # type: ignore[attr-defined]
_HAS_DEFAULT_FACTORY = dataclasses._HAS_DEFAULT_FACTORY  # type: ignore[attr-defined]
# The regex dataclasses reads string annotations with (already compiled by its import), so a
# string annotation is a ClassVar here exactly when it is one for dataclasses.
_IDENTIFIER = dataclasses._MODULE_IDENTIFIER_RE  # type: ignore[attr-defined]


class _RecordParams(dataclasses._DataclassParams):  # type: ignore[name-defined,misc]
    """dataclasses' parameters object; its own type marks a class made by `record`."""

    __slots__ = ()


def _params(eq: bool, order: bool, frozen: bool, slots: bool) -> _RecordParams:
    """The parameters dataclass(eq=..., order=..., frozen=..., slots=...) would record.

    Built by name from the slots of `_DataclassParams`, whose fields grew after 3.11.
    """
    values = {"init": True, "repr": True, "eq": eq, "order": order, "unsafe_hash": False,
              "frozen": frozen, "match_args": True, "kw_only": False, "slots": slots,
              "weakref_slot": False}
    return _RecordParams(*(values[name] for name in dataclasses._DataclassParams.__slots__))  # type: ignore[attr-defined]


def is_record(cls: type) -> bool:
    """True when `cls` itself (not only a base) was made by `record`."""
    return type(cls.__dict__.get(_PARAMS)) is _RecordParams


def record(cls: _C | None = None, /, *, eq: bool = True, frozen: bool = False,
           order: bool = False, slots: bool = False) -> Any:
    """`dataclasses.dataclass` for the options used here, with no code generated at import.

    Used as `@record` or `@record(frozen=True, ...)`; any other option is a TypeError.
    """
    def wrap(cls: _C) -> _C:
        return _process(cls, eq=eq, frozen=frozen, order=order, slots=slots)

    return wrap if cls is None else wrap(cls)


def compile_methods(cls: type) -> None:
    """Compile now the `__init__` of `cls` and of its record bases (a warm-up's job)."""
    for klass in cls.__mro__:
        stub = klass.__dict__.get("__init__")
        if getattr(stub, "_record_stub", False):
            stub._record_compile()


# --- fields -------------------------------------------------------------------------------


def _process(cls: _C, *, eq: bool, frozen: bool, order: bool, slots: bool) -> _C:
    """Turn `cls` into a dataclass, as dataclasses._process_class does."""
    params = _params(eq, order, frozen, slots)
    setattr(cls, _PARAMS, params)
    fields = _collect_fields(cls, frozen)
    setattr(cls, _FIELDS, fields)
    if order and not eq:
        raise ValueError("eq must be true if order is true")
    real = [f for f in fields.values() if f._field_type is _FIELD]
    init_fields = [f for f in real if f.init]
    _check_default_order(init_fields)
    _add_methods(cls, real, eq=eq, frozen=frozen, order=order)
    _set_new(cls, "__match_args__", tuple(f.name for f in init_fields))
    if slots:
        cls = _with_slots(cls, real, frozen)
    # Added after the slots class exists: both close over the final class.
    _set_new(cls, "__init__", _init_stub(cls, real, frozen, slots))
    if frozen:
        _add_frozen_guards(cls, tuple(f.name for f in real))
    if not cls.__doc__:
        cls.__doc__ = _LazyDoc(cls)  # type: ignore[assignment]
    if "__abstractmethods__" in cls.__dict__:  # an ABC (the attribute lives in its own dict)
        abc.update_abstractmethods(cls)
    return cls


def _collect_fields(cls: type, frozen: bool) -> dict[str, dataclasses.Field[Any]]:
    """Base classes' fields (reverse MRO order), then the class's own annotations."""
    fields: dict[str, dataclasses.Field[Any]] = {}
    frozen_base = has_bases = False
    for base in cls.__mro__[-1:0:-1]:
        base_fields = _class_attr(base, _FIELDS, None)
        if base_fields is not None:
            has_bases = True
            for f in base_fields.values():
                fields[f.name] = f
            frozen_base = frozen_base or getattr(base, _PARAMS).frozen
    # The class's own annotations, read as dataclasses reads them (no inspect import).
    annotations = cls.__dict__.get("__annotations__", {})  # noqa: RUF063
    module = sys.modules.get(cls.__module__)
    namespace = module.__dict__ if module is not None else {}
    for name, annotation in annotations.items():
        fields[name] = _own_field(cls, name, annotation, namespace)
    for name, value in cls.__dict__.items():
        if isinstance(value, dataclasses.Field) and name not in annotations:
            raise TypeError(f"{name!r} is a field but has no type annotation")
    if has_bases and frozen_base and not frozen:
        raise TypeError("cannot inherit non-frozen dataclass from a frozen one")
    if has_bases and frozen and not frozen_base:
        raise TypeError("cannot inherit frozen dataclass from a non-frozen one")
    return fields


def _own_field(cls: type, name: str, annotation: Any,
               namespace: dict[str, Any]) -> dataclasses.Field[Any]:
    """The Field for one annotation of `cls`; its class attribute becomes the plain default."""
    default = original = _class_attr(cls, name, _MISSING)
    if isinstance(default, dataclasses.Field):
        f = default
    else:
        if isinstance(default, types.MemberDescriptorType):
            default = _MISSING  # a __slots__ entry, not a default
        f = dataclasses.field(default=default)
    f.name, f.type = name, annotation
    f._field_type = _kind(annotation, namespace)  # type: ignore[attr-defined]
    if f._field_type is _FIELD_CLASSVAR:  # type: ignore[attr-defined]
        if f.default_factory is not _MISSING:
            raise TypeError(f"field {name} cannot have a default factory")
        if f.kw_only is not _MISSING:
            raise TypeError(f"field {name} is a ClassVar but specifies kw_only")
    else:
        if f.kw_only is True:
            raise TypeError(f"record does not support kw_only fields ({name})")
        f.kw_only = False  # type: ignore[assignment]
        if f.default.__class__.__hash__ is None:
            raise ValueError(f"mutable default {type(f.default)} for field {name} is not"
                             " allowed: use default_factory")
    # Normal introspection sees the plain default, not the Field (none: no class attribute).
    if isinstance(original, dataclasses.Field):
        if f.default is _MISSING:
            delattr(cls, name)
        else:
            setattr(cls, name, f.default)
    return f


def _class_attr(cls: type, name: str, default: Any) -> Any:
    """getattr(cls, name, default) without raising AttributeError inside for a missing name.

    dataclasses calls getattr on the class for every field, and for a field without a
    default (most of them) the AttributeError it builds and drops costs several times the
    look-up. A plain metaclass finds nothing outside these dicts, so when none has the name
    the answer is `default`; otherwise getattr answers (descriptors included).
    """
    if type(cls) is type:
        for klass in cls.__mro__:
            if name in klass.__dict__:
                break
        else:
            if name not in type.__dict__:
                return default
    return getattr(cls, name, default)


def _kind(annotation: Any, namespace: dict[str, Any]) -> Any:
    """_FIELD or _FIELD_CLASSVAR, decided as dataclasses decides; InitVar/KW_ONLY: TypeError."""
    typing = sys.modules.get("typing")
    if isinstance(annotation, str):
        match = _IDENTIFIER.match(annotation)
        if match is None:
            return _FIELD
        module_name, name = match.groups()
        if not module_name:
            # One look-up serves both tests; most names (int, str, list, ...) are builtins,
            # absent from the module's namespace, hence plain fields.
            as_typing = as_dataclasses = namespace.get(name)
            if as_typing is None:
                return _FIELD
        else:
            as_typing = _named(namespace, module_name, name, typing) if typing else None
            as_dataclasses = _named(namespace, module_name, name, dataclasses)
    else:
        as_typing = as_dataclasses = annotation
    if typing is not None and _is_classvar(as_typing, typing):
        return _FIELD_CLASSVAR
    if (as_dataclasses is dataclasses.InitVar or type(as_dataclasses) is dataclasses.InitVar
            or as_dataclasses is dataclasses.KW_ONLY):
        raise TypeError(f"record does not support InitVar or KW_ONLY ({annotation!r})")
    return _FIELD


def _named(namespace: dict[str, Any], module_name: str, name: str,
           module: types.ModuleType) -> Any:
    """What `module_name.name` refers to when `module_name` is `module` in the namespace."""
    if namespace.get(module_name) is module:
        return vars(module).get(name)
    return None


def _is_classvar(value: Any, typing: types.ModuleType) -> bool:
    """`ClassVar` or `ClassVar[...]` (dataclasses' test)."""
    return (value is typing.ClassVar  # type: ignore[attr-defined]
            or (type(value) is typing._GenericAlias  # type: ignore[attr-defined]
                and value.__origin__ is typing.ClassVar))  # type: ignore[attr-defined]


def _check_default_order(init_fields: list[dataclasses.Field[Any]]) -> None:
    """dataclasses refuses this when the class is defined; the lazy __init__ must too."""
    seen_default = False
    for f in init_fields:
        if f.default is not _MISSING or f.default_factory is not _MISSING:
            seen_default = True
        elif seen_default:
            raise TypeError(f"non-default argument {f.name!r} follows default argument")


def _set_new(cls: type, name: str, value: Any) -> bool:
    """Set `name` unless the class body defined it; True when it was already there."""
    if name in cls.__dict__:
        return True
    if isinstance(value, types.FunctionType):
        value.__qualname__ = f"{cls.__qualname__}.{value.__name__}"
    setattr(cls, name, value)
    return False


# --- shared methods -----------------------------------------------------------------------


def _add_methods(cls: type, real: list[dataclasses.Field[Any]], *, eq: bool, frozen: bool,
                 order: bool) -> None:
    """__repr__, __eq__, ordering and __hash__, by dataclasses' rules for unsafe_hash=False."""
    _set_new(cls, "__repr__", _make_repr(tuple(f.name for f in real if f.repr)))
    compared = _getter(tuple(f.name for f in real if f.compare)) if eq else None
    class_hash = cls.__dict__.get("__hash__", _MISSING)
    explicit_hash = not (class_hash is _MISSING
                         or (class_hash is None and "__eq__" in cls.__dict__))
    if eq:
        _set_new(cls, "__eq__", _make_compare("__eq__", operator.eq, compared))  # type: ignore[arg-type]
    if order:
        for name, op in _ORDER:
            if _set_new(cls, name, _make_compare(name, op, compared)):  # type: ignore[arg-type]
                raise TypeError(f"Cannot overwrite attribute {name} in class {cls.__name__}."
                                " Consider using functools.total_ordering")
    for name in ("__setattr__", "__delattr__") if frozen else ():
        # Checked here, installed after a slots class exists (_add_frozen_guards).
        if name in cls.__dict__:
            raise TypeError(f"Cannot overwrite attribute {name} in class {cls.__name__}")
    if eq and not explicit_hash:
        if frozen:
            hashed = tuple(f.name for f in real if (f.compare if f.hash is None else f.hash))
            cls.__hash__ = _set_qualname(cls, _make_hash(_getter(hashed)))  # type: ignore[method-assign]
        else:
            cls.__hash__ = None  # type: ignore[assignment]


_ORDER = (("__lt__", operator.lt), ("__le__", operator.le), ("__gt__", operator.gt),
          ("__ge__", operator.ge))


def _set_qualname(cls: type, fn: Callable[..., Any]) -> Callable[..., Any]:
    fn.__qualname__ = f"{cls.__qualname__}.{fn.__name__}"
    return fn


def _getter(names: tuple[str, ...]) -> Callable[[Any], tuple[Any, ...]]:
    """obj -> (obj.a, obj.b, ...): the tuple dataclasses' generated code compares and hashes."""
    if not names:
        return lambda obj: ()
    if len(names) == 1:
        one = operator.attrgetter(names[0])
        return lambda obj: (one(obj),)
    return operator.attrgetter(*names)


def _make_repr(names: tuple[str, ...]) -> Callable[[Any], str]:
    """`Cls(a=1, b='x')`, with `...` for an object met again while it is being printed."""
    running: set[tuple[int, int]] = set()

    def __repr__(self: Any) -> str:
        key = id(self), get_ident()
        if key in running:
            return "..."
        running.add(key)
        try:
            inner = ", ".join([f"{name}={getattr(self, name)!r}" for name in names])
            return f"{self.__class__.__qualname__}({inner})"
        finally:
            running.discard(key)

    return __repr__


def _make_compare(name: str, op: Callable[[Any, Any], Any],
                  fields_of: Callable[[Any], tuple[Any, ...]]) -> Callable[[Any, Any], Any]:
    """Compare field tuples of two instances of exactly the same class, else NotImplemented."""
    def compare(self: Any, other: Any) -> Any:
        if other.__class__ is self.__class__:
            return op(fields_of(self), fields_of(other))
        return NotImplemented

    compare.__name__ = name
    return compare


def _make_hash(fields_of: Callable[[Any], tuple[Any, ...]]) -> Callable[[Any], int]:
    def __hash__(self: Any) -> int:
        return hash(fields_of(self))

    return __hash__


def _add_frozen_guards(cls: type, names: tuple[str, ...]) -> None:
    """Frozen instances refuse assignment and deletion, as dataclasses' generated methods do."""
    def __setattr__(self: Any, name: str, value: Any) -> None:
        if type(self) is cls or name in names:
            raise dataclasses.FrozenInstanceError(f"cannot assign to field {name!r}")
        super(cls, self).__setattr__(name, value)

    def __delattr__(self: Any, name: str) -> None:
        if type(self) is cls or name in names:
            raise dataclasses.FrozenInstanceError(f"cannot delete field {name!r}")
        super(cls, self).__delattr__(name)

    _set_new(cls, "__setattr__", __setattr__)
    _set_new(cls, "__delattr__", __delattr__)


# --- slots --------------------------------------------------------------------------------


def _with_slots(cls: _C, real: list[dataclasses.Field[Any]], frozen: bool) -> _C:
    """A new class with __slots__ for the fields (dataclasses._add_slots, no weakref slot)."""
    if "__slots__" in cls.__dict__:
        raise TypeError(f"{cls.__name__} already specifies __slots__")
    namespace = dict(cls.__dict__)
    inherited = {slot for base in cls.__mro__[1:-1] for slot in _slots_of(base)}
    names = tuple(f.name for f in real)
    namespace["__slots__"] = tuple(name for name in names if name not in inherited)
    for name in names:
        namespace.pop(name, None)  # defaults live in the Fields and in __init__
    namespace.pop("__dict__", None)
    namespace.pop("__weakref__", None)
    qualname = getattr(cls, "__qualname__", None)
    new = type(cls)(cls.__name__, cls.__bases__, namespace)
    if qualname is not None:
        new.__qualname__ = qualname
    if frozen:
        # Frozen slotted instances cannot be restored by setattr: pickle needs these.
        if "__getstate__" not in namespace:
            new.__getstate__ = _getstate  # type: ignore[attr-defined]
        if "__setstate__" not in namespace:
            new.__setstate__ = _setstate  # type: ignore[attr-defined]
    return new


def _slots_of(cls: type) -> Iterator[str]:
    slots = cls.__dict__.get("__slots__")
    if slots is None:
        return
    if isinstance(slots, str):
        yield slots
    elif hasattr(slots, "__next__"):
        raise TypeError(f"Slots of '{cls.__name__}' cannot be determined")
    else:
        yield from slots


def _getstate(self: Any) -> list[Any]:
    return [getattr(self, f.name) for f in dataclasses.fields(self)]


def _setstate(self: Any, state: list[Any]) -> None:
    for f, value in zip(dataclasses.fields(self), state, strict=False):
        object.__setattr__(self, f.name, value)


# --- the lazy __init__ --------------------------------------------------------------------


# Instantiations a class's __init__ serves by interpreting its fields before the real one is
# compiled. Compiling costs about 1M instructions (the compiler, for ~10 lines), an interpreted
# instantiation a few thousand more than a compiled one: a cold scan makes ~230 instances of
# ~45 classes (Word the most, 37), so almost none is worth compiling, while a long run (a large
# submission, the scan server, batch) compiles the classes it uses many times.
INTERPRETED_CALLS = 100

_UNSET: Any = object()  # a parameter the call did not pass


def _init_stub(cls: type, real: list[dataclasses.Field[Any]], frozen: bool,
               slots: bool) -> Callable[..., None]:
    """An __init__ that interprets the fields for the first calls, then compiles the real one.

    A call the interpreter does not take (wrong arity, unknown or repeated keyword, missing
    argument) goes to the compiled __init__, so errors are exactly dataclasses' errors.
    """
    # Decided at definition, as dataclasses does.
    has_post_init = _class_attr(cls, "__post_init__", _MISSING) is not _MISSING
    compiled: list[Callable[..., None]] = []
    interpreter: list[Callable[[Any, tuple[Any, ...], dict[str, Any]], bool]] = []
    left = [INTERPRETED_CALLS]
    calls = [0]  # instantiations through the stub (tests/scan/test_cold_scan_imports.py)

    def compile_init() -> Callable[..., None]:
        if not compiled:
            init = _compile_init(cls, real, frozen, slots, has_post_init)
            init._record_calls = calls  # type: ignore[attr-defined]
            compiled.append(init)
            if cls.__dict__.get("__init__") is __init__:
                cls.__init__ = init  # type: ignore[misc]
        return compiled[0]

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        calls[0] += 1
        if left[0] > 0 and not compiled:
            left[0] -= 1
            if not interpreter:
                interpreter.append(_interpreter(real, frozen, slots, has_post_init))
            if interpreter[0](self, args, kwargs):
                return
        compile_init()(self, *args, **kwargs)

    __init__._record_stub = True  # type: ignore[attr-defined]
    __init__._record_compile = compile_init  # type: ignore[attr-defined]
    __init__._record_calls = calls  # type: ignore[attr-defined]
    return __init__


def _interpreter(real: list[dataclasses.Field[Any]], frozen: bool, slots: bool,
                 has_post_init: bool) -> Callable[[Any, tuple[Any, ...], dict[str, Any]], bool]:
    """A function doing what the compiled __init__ does for a well-formed call.

    It returns False, having changed nothing, for a call it does not bind; the caller then
    runs the compiled __init__, which raises dataclasses' TypeError.
    """
    params = [f for f in real if f.init]
    index = {f.name: i for i, f in enumerate(params)}
    required = [i for i, f in enumerate(params)
                if f.default is _MISSING and f.default_factory is _MISSING]
    # (name, parameter index or -1, default, factory) per field the compiled body sets, in
    # its order (a factory runs between the assignments before and after it, as there).
    steps = [(f.name, index[f.name] if f.init else -1, f.default, f.default_factory)
             for f in real
             if f.init or f.default_factory is not _MISSING
             or (slots and f.default is not _MISSING)]
    assign = object.__setattr__ if frozen else setattr
    count = len(params)

    def run(self: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
        given = len(args)
        if given > count:
            return False
        bound = [*args, *(_UNSET,) * (count - given)]
        for key, value in kwargs.items():
            i = index.get(key, -1)
            if i < given:  # unknown (-1) or already given by position
                return False
            bound[i] = value
        for i in required:
            if bound[i] is _UNSET:
                return False
        for name, i, default, factory in steps:
            if i >= 0 and (value := bound[i]) is not _UNSET:
                assign(self, name, value)
            else:
                assign(self, name, default if factory is _MISSING else factory())
        if has_post_init:
            self.__post_init__()
        return True

    return run


def _compile_init(cls: type, real: list[dataclasses.Field[Any]], frozen: bool, slots: bool,
                  has_post_init: bool) -> Callable[..., None]:
    """The __init__ dataclasses would generate (dataclasses._init_fn), compiled now."""
    self_name = "__dataclass_self__" if "self" in {f.name for f in real} else "self"
    names: dict[str, Any] = {f"_type_{f.name}": f.type for f in real}
    names.update({"MISSING": _MISSING, "_HAS_DEFAULT_FACTORY": _HAS_DEFAULT_FACTORY,
                  "__dataclass_builtins_object__": object, "_return_type": None})
    body = [line for f in real
            if (line := _field_line(f, frozen, slots, self_name, names)) is not None]
    if has_post_init:
        body.append(f"{self_name}.__post_init__()")
    params = ",".join([self_name] + [_param(f) for f in real if f.init])
    lines = "\n".join(f"  {line}" for line in body or ["pass"])
    source = (f"def __create_fn__({', '.join(names)}):\n"
              f" def __init__({params})->_return_type:\n{lines}\n return __init__")
    module = sys.modules.get(cls.__module__)
    scope: dict[str, Any] = {}
    # dont_inherit: this module's `from __future__ import annotations` would turn the
    # annotations into the strings "_type_x" instead of the field types.
    code = compile(source, "<string>", "exec", dont_inherit=True)
    exec(code, module.__dict__ if module is not None else {}, scope)
    init = scope["__create_fn__"](**names)
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    return init


def _field_line(f: dataclasses.Field[Any], frozen: bool, slots: bool, self_name: str,
                names: dict[str, Any]) -> str | None:
    """The statement that sets one field (dataclasses._field_init); None: the class default."""
    default_name = f"_dflt_{f.name}"
    if f.default_factory is not _MISSING:
        names[default_name] = f.default_factory
        value = (f"{default_name}() if {f.name} is _HAS_DEFAULT_FACTORY else {f.name}"
                 if f.init else f"{default_name}()")
    elif f.init:
        if f.default is not _MISSING:
            names[default_name] = f.default
        value = f.name
    elif slots and f.default is not _MISSING:
        names[default_name] = f.default
        value = default_name
    else:
        return None
    if frozen:
        return f"__dataclass_builtins_object__.__setattr__({self_name},{f.name!r},{value})"
    return f"{self_name}.{f.name}={value}"


def _param(f: dataclasses.Field[Any]) -> str:
    """`name:_type_name=default` (dataclasses._init_param)."""
    if f.default is not _MISSING:
        default = f"=_dflt_{f.name}"
    elif f.default_factory is not _MISSING:
        default = "=_HAS_DEFAULT_FACTORY"
    else:
        default = ""
    return f"{f.name}:_type_{f.name}{default}"


class _LazyDoc:
    """A class without a docstring reads `Name(signature)`, as dataclasses writes it.

    dataclasses computes that with `inspect.signature` at definition; here it is computed
    (after compiling __init__, whose signature it shows) only when `__doc__` is read.
    """

    def __init__(self, cls: type) -> None:
        self._cls = cls

    def __get__(self, obj: Any, owner: type | None = None) -> str:
        import inspect  # only a docstring-less record's __doc__ needs it

        cls = self._cls
        compile_methods(cls)
        try:
            text = str(inspect.signature(cls)).replace(" -> None", "")
        except (TypeError, ValueError):
            text = ""
        doc = cls.__name__ + text
        cls.__doc__ = doc
        return doc
