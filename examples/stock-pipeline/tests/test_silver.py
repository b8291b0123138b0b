import datetime
from decimal import Decimal
from pathlib import Path

import pytest

import bronze
from bronze import BronzeRecord
from silver import Quote, ValidationError, refine, validate

DATA = Path(__file__).parent / "data"


def rec(**fields):
    base = dict(date="2024-01-02", symbol="AAPL", open="10", high="12", low="9",
                close="11", volume="100")
    base.update(fields)
    return BronzeRecord(source="t.csv", line=2, fields=base)


def test_validate_types_values():
    q = validate(rec(symbol=" aapl ", close="11.50"))
    assert q == Quote("AAPL", datetime.date(2024, 1, 2), Decimal("10"), Decimal("12"),
                      Decimal("9"), Decimal("11.50"), 100)


@pytest.mark.parametrize("fields, message", [
    (dict(date="2024/01/02"), "date is not YYYY-MM-DD"),
    (dict(open="ten"), "open is not a number"),
    (dict(close="-1"), "close must be a positive number"),
    (dict(high="NaN"), "high must be a positive number"),
    (dict(volume="1.5"), "volume is not a whole number"),
    (dict(volume="１２"), "volume is not a whole number"),
    (dict(symbol="$$"), "symbol is not a ticker"),
    (dict(high="8", low="9", open="8.5", close="8.5"), "high 8 is below low 9"),
    (dict(open="13"), "open 13 is outside low..high"),
])
def test_validate_rejects(fields, message):
    with pytest.raises(ValidationError, match=message):
        validate(rec(**fields))


def test_refine_files():
    result = refine(bronze.ingest([DATA / "quotes-a.csv", DATA / "quotes-b.csv"]))
    keys = [(q.symbol, q.date.isoformat()) for q in result.quotes]
    assert keys == [("AAPL", "2024-01-02"), ("AAPL", "2024-01-03"), ("AAPL", "2024-01-04"),
                    ("MSFT", "2024-01-02"), ("MSFT", "2024-01-03")]
    msft_0102 = result.quotes[3]
    assert msft_0102.close == Decimal("371.00")        # the later file's correction wins
    reasons = sorted(f"{Path(r.source).name}:{r.line}: {r.reason}" for r in result.rejects)
    assert reasons == [
        "quotes-a.csv:4: replaced by " + str(DATA / "quotes-b.csv") + ":3",
        "quotes-a.csv:7: volume is not a whole number: 'abc'",
        "quotes-a.csv:8: high 365.00 is below low 370.00",
        "quotes-b.csv:4: date is not YYYY-MM-DD: '2024/01/05'",
    ]


def test_exact_duplicate_dropped_silently():
    result = refine([rec(), rec()])
    assert len(result.quotes) == 1 and result.rejects == []
