"""The archive's downloads (A-1): one kind of record over one period as CSV or Excel, every
column as recorded plus who recorded it and when, and the corrections beside (never in
place of) the original values; and the dossiers of a period's service requests in one ZIP
with a manifest of SHA-256 hashes.

Bounded: the caller counts first and refuses more than ``MAX_ROWS`` records or
``MAX_DOSSIERS`` cases. Records are read ``BATCH`` at a time; the CSV is streamed as it is
read; the Excel file and the ZIP are written to a temporary file that spills to disk.
"""

from __future__ import annotations

import hashlib
import io
import json
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Iterator
from datetime import date, datetime
from typing import IO, Any
from zoneinfo import ZoneInfo

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from sqlalchemy.orm import Session

from . import corrections, spreadsheet_csv
from .models import Correction
from .records import Period, Record, RecordType, Visible

MAX_ROWS = 50_000  # records in one CSV or Excel download
MAX_DOSSIERS = 200  # cases in one ZIP of dossiers
BATCH = 500
SPOOL_BYTES = 8 * 1024 * 1024  # temporary files stay in memory up to this size
FORMAT = 1
LEAD = ("archive_type", "archive_key", "archive_author", "archive_time")
CORRECTION_COLUMNS = ("archive_key", "correction_id", "field", "original", "corrected", "reason", "author",
                      "at")


def cell(value: Any, zone: ZoneInfo) -> Any:
    """A value for a download: recorded instants in company time with their offset,
    dates in ISO 8601, true/false, numbers as numbers, nothing as an empty cell."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.astimezone(zone).isoformat() if value.tzinfo else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def header(kind: RecordType) -> list[str]:
    return [*LEAD, *(c.name for c in kind.columns), "corrections"]


def _correction_line(row: Correction, zone: ZoneInfo) -> str:
    return (f"#{row.id} {cell(row.at, zone)} {row.author}: {row.field or '—'}: "
            f"{row.original if row.original is not None else ''} → "
            f"{row.corrected if row.corrected is not None else ''} ({row.reason})")


def with_corrections(session: Session, kind: RecordType, period: Period, visible: Visible,
                     ) -> Iterator[tuple[Record, list[Correction]]]:
    """Every record of the period, newest first, with its corrections (oldest first)."""
    batch: list[Record] = []
    for record in kind.iterate(session, period, visible, batch=BATCH):
        batch.append(record)
        if len(batch) == BATCH:
            yield from _attach(session, kind, batch)
            batch = []
    yield from _attach(session, kind, batch)


def _attach(session, kind, batch):
    found = corrections.for_records(session, kind.name, [r.key for r in batch])
    for record in batch:
        yield record, found.get(record.key, [])


def row(kind: RecordType, record: Record, fixes: list[Correction], zone: ZoneInfo) -> list[Any]:
    return [kind.name, record.key, record.author or "", cell(record.at, zone),
            *(cell(record.values.get(c.name), zone) for c in kind.columns),
            "\n".join(_correction_line(fix, zone) for fix in fixes)]


def csv_lines(kind: RecordType, rows: Iterable[tuple[Record, list[Correction]]], zone: ZoneInfo,
              ) -> Iterator[bytes]:
    """The CSV, a few hundred rows per chunk, UTF-8 with a BOM so spreadsheet programs read
    Chinese correctly. Values are written as recorded, except that text a spreadsheet would
    run as a formula gets a leading apostrophe (``spreadsheet_csv``)."""
    out = io.StringIO()
    writer = spreadsheet_csv.Writer(out)
    writer.writerow(header(kind))
    yield "\ufeff".encode() + _drain(out)
    for n, (record, fixes) in enumerate(rows, start=1):
        writer.writerow(row(kind, record, fixes, zone))
        if n % BATCH == 0:
            yield _drain(out)
    yield _drain(out)


def _drain(out: io.StringIO) -> bytes:
    text = out.getvalue()
    out.seek(0)
    out.truncate()
    return text.encode("utf-8")


def _xlsx_cell(sheet, value: Any) -> Any:
    """Text is always text in the workbook: a value that starts with "=" stays a value,
    never becomes a formula."""
    if not isinstance(value, str):
        return value
    written = WriteOnlyCell(sheet, value=ILLEGAL_CHARACTERS_RE.sub("\ufffd", value))
    written.data_type = "s"
    return written


def xlsx_file(kind: RecordType, rows: Iterable[tuple[Record, list[Correction]]], zone: ZoneInfo) -> IO[bytes]:
    """The Excel workbook: sheet "records" (as in the CSV) and sheet "corrections" (one row
    per correction of those records, original and corrected value side by side)."""
    book = Workbook(write_only=True)
    records, fixes_sheet = book.create_sheet("records"), book.create_sheet("corrections")
    records.append(header(kind))
    fixes_sheet.append(list(CORRECTION_COLUMNS))
    for record, fixes in rows:
        records.append([_xlsx_cell(records, v) for v in row(kind, record, fixes, zone)])
        for fix in fixes:
            fixes_sheet.append([_xlsx_cell(fixes_sheet, v) for v in (
                record.key, fix.id, fix.field or "", fix.original or "", fix.corrected or "", fix.reason,
                fix.author, cell(fix.at, zone))])
    out = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115 - the response closes it
    book.save(out)
    out.seek(0)
    return out


def dossiers_file(cases: Iterable[tuple[str, str | None]], build: Callable[[str], tuple[str, bytes]], *,
                  period: tuple[date, date], generated_by: str, generated_at: datetime) -> IO[bytes]:
    """One ZIP: ``dossiers/<dossier>.zip`` for each (instance id, business key) of ``cases``
    (built by ``build``), and ``manifest.json`` with the size and SHA-256 of each."""
    out = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115 - the response closes it
    listed = []
    stamp = generated_at.timetuple()[:6]
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as archive:  # dossiers are compressed already
        for instance_id, business_key in cases:
            name, content = build(instance_id)
            archive.writestr(zipfile.ZipInfo(f"dossiers/{name}", date_time=stamp), content)
            listed.append({"file": f"dossiers/{name}", "business_key": business_key,
                           "instance_id": instance_id, "bytes": len(content),
                           "sha256": hashlib.sha256(content).hexdigest()})
        manifest = {"format": FORMAT, "kind": "service_request dossiers", "first_day": period[0].isoformat(),
                    "last_day": period[1].isoformat(), "generated_at": generated_at.isoformat(),
                    "generated_by": generated_by, "dossiers": listed}
        archive.writestr(zipfile.ZipInfo("manifest.json", date_time=stamp),
                         json.dumps(manifest, ensure_ascii=False, indent=2) + "\n")
    out.seek(0)
    return out
