"""Placeholder rendering for message templates (SMS length and encoding: core.sms).

Message templates are written by tenants and rendered with caller-supplied data, so we use a
tiny renderer of our own instead of Django or Jinja templates: the only construct is
``{{name}}`` (optionally dotted for nested dicts), a template can reach nothing but the mapping
it is given (no attribute access, no method calls, no list indexing, no filters or tags, so no
way to run code or leak objects), a missing value is an error instead of silently rendering an
empty string (a blank OTP is worse than a failed send), syntax errors are reported with their
position for the template editor, and a compiled template is an immutable list of parts that
renders with a single ``"".join`` so bulk sends stay cheap.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

__all__ = [
    "CompiledTemplate",
    "MissingPlaceholder",
    "TemplateSyntaxError",
    "compile_template",
    "placeholders_of",
    "render",
]


class TemplateSyntaxError(ValueError):
    """A template that cannot be compiled; ``position`` is the 0-based offset in the source."""

    def __init__(self, reason: str, position: int) -> None:
        # Both go into args so the exception pickles (Django-Q ships errors between processes).
        super().__init__(reason, position)
        self.reason = reason
        self.position = position

    def __str__(self) -> str:
        return self.reason


class MissingPlaceholder(KeyError):
    """No usable value for a placeholder; ``name`` is the placeholder as written, e.g. "otp"."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name

    def __str__(self) -> str:
        # KeyError.__str__ would print the bare repr of the key; say what is actually wrong.
        return f"missing value for placeholder '{self.name}'"


# Delimiters are found together so a stray "}}" or a nested "{{" is seen in source order.
_DELIMITER = re.compile(r"\{\{|\}\}")
_NAME = re.compile(r"[A-Za-z0-9_]+(?:[.-][A-Za-z0-9_]+)*")
_MISSING = object()


def _parse(source: str) -> tuple[str, tuple[tuple[str, str], ...], tuple[str, ...]]:
    """Split ``source`` into a leading literal and (name, following literal) pairs."""
    head: str | None = None
    pairs: list[tuple[str, str]] = []
    pending_name: str | None = None
    literal_start = 0
    open_at = -1  # position of the unclosed "{{", or -1 when outside a placeholder
    for match in _DELIMITER.finditer(source):
        pos = match.start()
        if match.group() == "{{":
            if open_at >= 0:
                raise TemplateSyntaxError(f"nested placeholder '{{{{' at position {pos}", pos)
            literal = source[literal_start:pos]
            if pending_name is None:
                head = literal
            else:
                pairs.append((pending_name, literal))
            open_at = pos
            continue
        if open_at < 0:
            raise TemplateSyntaxError(
                f"unexpected '}}}}' without an opening '{{{{' at position {pos}", pos
            )
        name = source[open_at + 2 : pos].strip()
        if not name:
            raise TemplateSyntaxError(f"empty placeholder at position {open_at}", open_at)
        if not _NAME.fullmatch(name):
            raise TemplateSyntaxError(
                f"invalid placeholder name {name!r} at position {open_at}", open_at
            )
        pending_name = name
        literal_start = match.end()
        open_at = -1
    if open_at >= 0:
        raise TemplateSyntaxError(f"unclosed placeholder '{{{{' at position {open_at}", open_at)
    tail = source[literal_start:]
    if pending_name is None:
        return tail, (), ()
    pairs.append((pending_name, tail))
    # dict.fromkeys keeps first-appearance order while dropping repeats.
    names = tuple(dict.fromkeys(name for name, _ in pairs))
    return head or "", tuple(pairs), names


def _lookup(data: Mapping[str, Any], name: str) -> Any:
    """Resolve ``name`` in ``data`` through Mappings only; never getattr, call or index."""
    # A flat key such as "customer.name" wins over walking the nested dicts.
    value = data.get(name, _MISSING)
    if value is not _MISSING and value is not None:
        return value
    if "." not in name:
        raise MissingPlaceholder(name)
    current: Any = data
    for part in name.split("."):
        if not isinstance(current, Mapping):
            raise MissingPlaceholder(name)
        current = current.get(part, _MISSING)
        if current is _MISSING:
            raise MissingPlaceholder(name)
    if current is None:
        raise MissingPlaceholder(name)
    return current


def _to_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    # bool before the generic str(): JSON-style lowercase reads better in messages than "True".
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list | tuple):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    return str(value)


@dataclass(frozen=True)
class CompiledTemplate:
    """A validated template; immutable, so one instance can be cached and shared freely."""

    source: str
    placeholders: tuple[str, ...] = field(init=False)
    _head: str = field(init=False, repr=False, compare=False)
    _pairs: tuple[tuple[str, str], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Parsing in __post_init__ means no CompiledTemplate can exist with an invalid source.
        head, pairs, names = _parse(self.source)
        object.__setattr__(self, "placeholders", names)
        object.__setattr__(self, "_head", head)
        object.__setattr__(self, "_pairs", pairs)

    def render(self, data: Mapping[str, Any], *, escape_html: bool = False) -> str:
        if not self._pairs:
            return self._head
        if not isinstance(data, Mapping):
            raise TypeError(f"template data must be a mapping, not {type(data).__name__}")
        pieces = [self._head]
        append = pieces.append
        for name, literal in self._pairs:
            text = _to_text(_lookup(data, name))
            # Only the substituted values are escaped: the template text is trusted markup.
            append(html.escape(text, quote=True) if escape_html else text)
            append(literal)
        return "".join(pieces)


@lru_cache(maxsize=512)
def compile_template(source: str) -> CompiledTemplate:
    """Compile ``source``; cached, since the same few templates are rendered over and over."""
    return CompiledTemplate(source)


def placeholders_of(source: str) -> list[str]:
    """Unique placeholder names in order of first appearance; raises TemplateSyntaxError."""
    return list(compile_template(source).placeholders)


def render(source: str, data: Mapping[str, Any], *, escape_html: bool = False) -> str:
    return compile_template(source).render(data, escape_html=escape_html)
