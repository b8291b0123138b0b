from pathlib import Path

from bronze import BronzeRecord, ingest

DATA = Path(__file__).parent / "data"


def test_ingest_keeps_raw_strings_in_order():
    records = ingest([DATA / "quotes-a.csv", DATA / "quotes-b.csv"])
    assert len(records) == 10
    assert all(isinstance(r, BronzeRecord) for r in records)
    assert records[5].get("volume") == "abc"          # kept as ingested, not judged
    assert records[7].get("symbol") == "aapl"         # not normalised
    assert records[7].source.endswith("quotes-b.csv") and records[7].line == 2
    assert "_source" not in records[0].fields


def test_missing_field_reads_empty():
    r = BronzeRecord(source="x.csv", line=2, fields={"date": "2024-01-02"})
    assert r.get("close") == ""
