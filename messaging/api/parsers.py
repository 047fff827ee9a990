"""The API's JSON parser: DRF's, plus a clean 400 for what the database cannot store.

- a body nested too deeply: json.loads recurses once per level, so `[[[[...` of a few KB
  raises RecursionError, which is no ValueError and would be a 500;
- a string with a lone UTF-16 surrogate (`"\\ud800"`) or a NUL character (`"\\u0000"`):
  valid JSON, but neither UTF-8 (SQLite) nor PostgreSQL's text and jsonb can hold them.
"""

from typing import Any

from rest_framework import parsers
from rest_framework.exceptions import ParseError

from core.text import is_storable


def _bad_string(data: Any) -> str | None:
    """The first string (key or value) that cannot be stored, else None. Iterative, so any
    depth json.loads accepted is fine."""
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, str) and not is_storable(item):
            return item
    return None


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - the body is nested too deeply.") from None
        if _bad_string(data) is not None:
            raise ParseError(
                "JSON parse error - a string holds a NUL character or a lone UTF-16 surrogate."
            )
        return data
