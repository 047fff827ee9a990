"""The "Export CSV" admin action: the selected rows, streamed, as the changelist scopes them.

The action gets the changelist's queryset (already limited to the user's tenants by
TenantScopedAdmin.get_queryset), so an export never holds another tenant's row. Rows are
written as they are read (StreamingHttpResponse over an iterator): a large selection neither
builds in memory nor holds the request until the whole file is ready.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime

from django.contrib import admin
from django.db.models import Model, QuerySet
from django.http import HttpRequest, StreamingHttpResponse
from django.utils import timezone

# Columns never exported: hashes and claim bookkeeping say nothing to a reader.
NEVER_EXPORTED = frozenset({"key_hash", "recipient_hash", "claim_token", "claimed_until"})
# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection);
# a phone number ("+61...", "-") is left as it is.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
PLAIN_NUMBER = re.compile(r"[+-]?[\d\s().\-/]*")


class _Echo:
    """A file-like object whose write returns the line, for csv.writer over a stream."""

    def write(self, value: str) -> str:
        return value


def export_columns(model: type[Model], exclude: Iterable[str] = ()) -> list[str]:
    """The concrete fields of `model` as attribute names (a foreign key as its id)."""
    skip = NEVER_EXPORTED | set(exclude)
    return [f.attname for f in model._meta.concrete_fields if f.name not in skip]


def cell(value: object) -> str:
    """One value as CSV text: datetimes in ISO 8601 UTC, formulas defused."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        if timezone.is_aware(value):
            value = value.astimezone(UTC)
        return value.isoformat()
    text = str(value)
    if text.startswith(FORMULA_START) and not PLAIN_NUMBER.fullmatch(text):
        return "'" + text
    return text


def csv_rows(queryset: QuerySet, columns: list[str]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow(columns)
    for row in queryset.values_list(*columns).iterator(chunk_size=2000):
        yield writer.writerow([cell(v) for v in row])


class ExportCsvMixin:
    """Adds the "Export CSV" action to a ModelAdmin (list it in `actions`)."""

    export_exclude: tuple[str, ...] = ()

    @admin.action(description="Export the selected rows as CSV", permissions=["view"])
    def export_csv(self, request: HttpRequest, queryset: QuerySet) -> StreamingHttpResponse:
        opts = self.model._meta
        columns = export_columns(self.model, self.export_exclude)
        stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
        response = StreamingHttpResponse(
            csv_rows(queryset.order_by("pk"), columns), content_type="text/csv; charset=utf-8"
        )
        response["Content-Disposition"] = (
            f'attachment; filename="{opts.app_label}-{opts.model_name}-{stamp}.csv"'
        )
        return response
