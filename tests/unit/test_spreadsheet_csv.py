"""CSV cells a spreadsheet would run as formulas are written as text (CSV injection)."""

import csv
import io

import pytest

from web.spreadsheet_csv import Writer, inert


@pytest.mark.parametrize("cell", ["=1+2", "+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1",
                                  '=HYPERLINK("http://evil")'])
def test_formula_text_gets_an_apostrophe(cell):
    assert inert(cell) == "'" + cell


@pytest.mark.parametrize("cell", ["漏水 Leak", "2026-03-05T09:30:00+08:00", "a=b", "", "—", 5, -3, 4.5, None])
def test_everything_else_is_written_as_it_is(cell):
    assert inert(cell) == cell


def test_the_writer_applies_it_to_every_cell():
    out = io.StringIO()
    writer = Writer(out)
    writer.writerow(["subject", "score"])
    writer.writerows([["=cmd|' /C calc'!A0", -1], ["水管 Pipe", 3]])
    assert list(csv.reader(io.StringIO(out.getvalue()))) == [
        ["subject", "score"], ["'=cmd|' /C calc'!A0", "-1"], ["水管 Pipe", "3"]]
