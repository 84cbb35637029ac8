"""CSV meant for spreadsheet programs. A text cell that a spreadsheet would run as a
formula — one starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return — is
written with a leading apostrophe (OWASP's advice on CSV injection), which spreadsheets show
as the text itself; numbers, dates and every other text are written unchanged."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from typing import Any

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def inert(cell: Any) -> Any:
    """``cell`` as a spreadsheet will show but never run it."""
    if isinstance(cell, str) and cell.startswith(FORMULA_START):
        return "'" + cell
    return cell


class Writer:
    """``csv.writer`` whose text cells cannot become formulas."""

    def __init__(self, out) -> None:
        self._writer = csv.writer(out)

    def writerow(self, row: Iterable[Any]) -> None:
        self._writer.writerow([inert(cell) for cell in row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)
