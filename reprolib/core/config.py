"""Typed run configurations, scale profiles and validated overrides.

Every experiment is described by a frozen dataclass whose fields are the *whole*
description of a run: the run cache (:mod:`reprolib.core.runs`) hashes it, so two runs
with equal configs are the same run.  A profile fills the defaults for one scale:

* ``smoke`` – seconds, for the tests;
* ``cpu``   – minutes on a 2-core laptop, the default book;
* ``full``  – the report's own scale, on a GPU.

Papermill parameters and ``--set key=value`` override single fields.  Unknown keys,
wrong types and out-of-range values raise :class:`ConfigError` naming the key and
the allowed values, before any compute is spent.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import types
import typing
from typing import Any, ClassVar

PROFILES = ("smoke", "cpu", "full")
#: what each profile is for (the intro page and ``python -m reprolib chapters`` show it)
PROFILE_HELP = {
    "smoke": "seconds per chapter; tiny data and models, used by the tests",
    "cpu": "minutes per chapter on a 2-core laptop CPU; the default book",
    "full": "the reports' own scale; needs a GPU",
}


#: the largest seed every generator the package seeds accepts (NumPy, scikit-learn: 0 <= seed < 2**32); config
#: fields named ``seed`` or ``*_seed`` are checked against it
SEED_MAX = 2**32 - 1


class ConfigError(ValueError):
    """A configuration value that cannot describe a run (unknown key, bad type or range)."""


def option(default: Any, *, choices=None, low=None, high=None, help: str = "", added: bool = False):
    """A config field with its allowed values stated where it is declared.

    ``added=True`` marks a field added after runs were cached: while it has its default
    value it is left out of the run-cache key, so every earlier run keeps its key; any
    other value is keyed as usual.
    """
    meta = {"choices": tuple(choices) if choices is not None else None, "low": low, "high": high, "help": help,
            "added": added}
    if isinstance(default, (list, dict, set)):
        raise TypeError("config defaults must be immutable; use a tuple")
    return dataclasses.field(default=default, metadata=meta)


def require(name: Any, known, what: str) -> None:
    """Raise :class:`ConfigError` naming ``what`` and the known values when ``name`` is not among them."""
    if name not in known:
        raise ConfigError(f"unknown {what} {name!r}; known: {sorted(known)}")


def check_profile(profile: Any) -> str:
    """``profile`` if it is one of :data:`PROFILES`, else a ConfigError naming the allowed values."""
    if not isinstance(profile, str) or profile not in PROFILES:
        raise ConfigError(f"unknown profile {profile!r}; choose from {list(PROFILES)}")
    return profile


def _type_name(tp) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _coerce(key: str, value: Any, tp) -> Any:
    """Check ``value`` against the annotation ``tp``; convert lossless cases (int→float, list→tuple)."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arm in (a for a in args if a is not type(None)):
            try:
                return _coerce(key, value, arm)
            except ConfigError as err:
                errors.append(str(err))
        raise ConfigError(f"{key}={value!r}: expected {' or '.join(_type_name(a) for a in args)}")
    if origin is tuple:
        item_tp = args[0] if args else Any
        if isinstance(value, str):  # "crop,flip" or "3,5" from a command line
            items = [v for v in value.replace(" ", "").split(",") if v]
            value = tuple(parse_value(v) if item_tp in (int, float) else v for v in items)
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}={value!r}: expected a tuple of {_type_name(args[0]) if args else 'values'}")
        return tuple(_coerce(f"{key}[{i}]", v, item_tp) for i, v in enumerate(value))
    if tp is Any:
        return value
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{key}={value!r}: expected bool (True/False), got {type(value).__name__}")
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise ConfigError(f"{key}={value!r}: expected int, got {type(value).__name__}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key}={value!r}: expected float, got {type(value).__name__}")
        if not math.isfinite(value):
            raise ConfigError(f"{key}={value!r}: expected a finite number")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key}={value!r}: expected str, got {type(value).__name__}")
        return value
    raise TypeError(f"unsupported config annotation {tp!r} for {key}")


def parse_value(text: str) -> Any:
    """Parse a command-line value: JSON literals, Python-style bools/None, else the raw string."""
    lowered = text.strip()
    aliases = {"True": True, "False": False, "None": None, "true": True, "false": False, "none": None, "null": None}
    if lowered in aliases:
        return aliases[lowered]
    try:
        return json.loads(lowered)
    except json.JSONDecodeError:
        return text


def parse_sets(pairs) -> dict[str, Any]:
    """``["lr=0.1", "milestones=[3,6]"]`` → ``{"lr": 0.1, "milestones": [3, 6]}``."""
    out = {}
    for pair in pairs or ():
        if "=" not in pair:
            raise ConfigError(f"--set expects key=value, got {pair!r}")
        key, value = pair.split("=", 1)
        out[key.strip()] = parse_value(value)
    return out


@dataclasses.dataclass(frozen=True)
class Config:
    """Base class: subclasses declare fields with :func:`option` and a ``PROFILE_DEFAULTS`` table.

    ``PROFILE_DEFAULTS[profile]`` maps field names to the values that profile uses; fields
    it does not name keep their dataclass default.  A chapter's config class takes this
    table from the chapter's settings table, so each value lives in one place.
    """

    PROFILE_DEFAULTS: ClassVar[dict[str, dict[str, Any]]] = {}
    #: name under which the run cache stores and runs this config (see :mod:`reprolib.core.registry`)
    EXPERIMENT: ClassVar[str] = ""

    def __post_init__(self):
        hints = typing.get_type_hints(type(self))
        for f in dataclasses.fields(self):
            value = _coerce(f.name, getattr(self, f.name), hints[f.name])
            meta = f.metadata
            choices = meta.get("choices")
            if choices is not None:
                items = value if isinstance(value, tuple) and not isinstance(choices[0] if choices else None, tuple) else (value,)
                for item in items:
                    if item not in choices:
                        raise ConfigError(
                            f"{type(self).__name__}.{f.name}={item!r} is not allowed; choose from {list(choices)}"
                        )
            high = meta.get("high")
            if f.name == "seed" or f.name.endswith("_seed"):  # NumPy's and scikit-learn's generators take 0 <= seed < 2**32
                high = SEED_MAX if high is None else min(high, SEED_MAX)
            for bound, ok, word in ((meta.get("low"), lambda v, b: v >= b, ">="), (high, lambda v, b: v <= b, "<=")):
                if bound is None or value is None:
                    continue
                values = value if isinstance(value, tuple) else (value,)
                for v in values:
                    if not ok(v, bound):
                        raise ConfigError(f"{type(self).__name__}.{f.name}={v!r} is out of range: must be {word} {bound}")
            object.__setattr__(self, f.name, value)
        self.check()

    def check(self) -> None:
        """Cross-field validation hook for subclasses."""

    def upstream(self) -> list["Config"]:
        """Configs of the runs this run reads (a teacher, a source model): the cost table and sweeps use it."""
        return []

    # ----------------------------------------------------------------- construction
    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def from_profile(cls, profile: str = "cpu", **overrides):
        """Defaults of ``profile``, then ``overrides`` (papermill parameters, ``--set``)."""
        check_profile(profile)
        values = dict(cls.PROFILE_DEFAULTS.get(profile, {}))
        unknown = sorted(set(overrides) - set(cls.field_names()))
        if unknown:
            raise ConfigError(
                f"unknown {cls.__name__} key(s) {unknown}; known keys: {sorted(cls.field_names())}"
            )
        values.update(overrides)
        return cls(**values)

    def replace(self, **overrides):
        unknown = sorted(set(overrides) - set(self.field_names()))
        if unknown:
            raise ConfigError(f"unknown {type(self).__name__} key(s) {unknown}; known keys: {sorted(self.field_names())}")
        return dataclasses.replace(self, **overrides)

    # ----------------------------------------------------------------- identity
    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    def key_dict(self) -> dict[str, Any]:
        """The fields that identify the run: all of them, except ``added`` fields at their default."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                if not (f.metadata.get("added") and getattr(self, f.name) == f.default)}

    def matches_stored(self, stored: dict[str, Any]) -> bool:
        """Whether ``stored`` (the ``config.json`` of a cache entry) describes this config.

        An entry written before a field was added lacks that field; it still matches while
        the field is at its default (the same rule that keeps its key unchanged).
        """
        mine = json.loads(json.dumps(self.to_dict(), default=str))
        for f in dataclasses.fields(self):
            if f.metadata.get("added") and f.name not in stored and getattr(self, f.name) == f.default:
                mine.pop(f.name, None)
        return stored == mine

    def key(self) -> str:
        """Content hash of the identifying fields plus the package version (the run-cache key)."""
        from reprolib import __version__

        payload = json.dumps(
            {"class": type(self).__name__, "version": __version__, "config": self.key_dict()},
            sort_keys=True,
            default=str,
        )
        return hashlib.sha256(payload.encode()).hexdigest()[:20]

    def describe(self) -> str:
        """One line per field, for a chapter's 'setup' section."""
        return "\n".join(f"{k} = {v!r}" for k, v in self.to_dict().items())
