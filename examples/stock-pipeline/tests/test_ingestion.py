from pathlib import Path

import pytest

from ingestion import COLUMNS, IngestionError, read_quotes

DATA = Path(__file__).parent / "data"


def test_rows_keep_values_source_and_line():
    rows = list(read_quotes(DATA / "quotes-a.csv"))
    assert len(rows) == 7
    first = rows[0]
    assert first["symbol"] == "MSFT" and first["close"] == "370.60"
    assert first["_source"].endswith("quotes-a.csv")
    assert first["_line"] == "2"
    assert rows[-1]["_line"] == "8"


def test_columns_in_any_order_and_extras_kept():
    rows = list(read_quotes(DATA / "quotes-b.csv"))
    assert rows[0]["symbol"] == "aapl"
    assert rows[0]["exchange"] == "NASDAQ"
    assert set(COLUMNS) <= set(rows[0])


def test_missing_columns_named(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("date,symbol,open\n2024-01-02,AAPL,1\n")
    with pytest.raises(IngestionError, match="missing column.*high, low, close, volume"):
        list(read_quotes(bad))


def test_empty_file(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(IngestionError, match="empty file"):
        list(read_quotes(empty))


def test_blank_lines_skipped(tmp_path):
    f = tmp_path / "blank.csv"
    f.write_text("date,symbol,open,high,low,close,volume\n\n2024-01-02,X,1,1,1,1,1\n\n")
    rows = list(read_quotes(f))
    assert [r["_line"] for r in rows] == ["3"]
