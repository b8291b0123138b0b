import datetime
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Dict, Iterable, List, Tuple

from bronze import BronzeRecord

SYMBOL = re.compile(r"^[A-Z][A-Z0-9.\-]{0,9}$")


class ValidationError(ValueError):
    pass


@dataclass(frozen=True, order=True)
class Quote:
    symbol: str
    date: datetime.date
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: int


@dataclass(frozen=True)
class Reject:
    source: str
    line: int
    reason: str


@dataclass
class Result:
    quotes: List[Quote] = field(default_factory=list)
    rejects: List[Reject] = field(default_factory=list)


def _price(record: BronzeRecord, name: str) -> Decimal:
    text = record.get(name).strip()
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ValidationError(f"{name} is not a number: {text!r}") from None
    if not value.is_finite() or value <= 0:
        raise ValidationError(f"{name} must be a positive number: {text!r}")
    return value


def _volume(record: BronzeRecord) -> int:
    text = record.get("volume").strip()
    if not (text.isascii() and text.isdigit()):
        raise ValidationError(f"volume is not a whole number: {record.get('volume')!r}")
    return int(text)


def _date(record: BronzeRecord) -> datetime.date:
    text = record.get("date").strip()
    try:
        return datetime.date.fromisoformat(text)
    except ValueError:
        raise ValidationError(f"date is not YYYY-MM-DD: {text!r}") from None


def validate(record: BronzeRecord) -> Quote:
    """Type one bronze record, or raise ValidationError saying what is wrong."""
    symbol = record.get("symbol").strip().upper()
    if not SYMBOL.match(symbol):
        raise ValidationError(f"symbol is not a ticker: {record.get('symbol')!r}")
    quote = Quote(symbol=symbol, date=_date(record), open=_price(record, "open"),
                  high=_price(record, "high"), low=_price(record, "low"),
                  close=_price(record, "close"), volume=_volume(record))
    if quote.high < quote.low:
        raise ValidationError(f"high {quote.high} is below low {quote.low}")
    for name in ("open", "close"):
        value = getattr(quote, name)
        if not quote.low <= value <= quote.high:
            raise ValidationError(f"{name} {value} is outside low..high {quote.low}..{quote.high}")
    return quote


def refine(records: Iterable[BronzeRecord]) -> Result:
    """Validate every record; keep one quote per (symbol, date), sorted.

    An exact duplicate is dropped. A different quote for the same symbol and
    day replaces the earlier one (a later file corrects an earlier one); the
    replaced row is reported as a reject so nothing disappears silently.
    """
    result = Result()
    kept: Dict[Tuple[str, datetime.date], Tuple[Quote, BronzeRecord]] = {}
    for record in records:
        try:
            quote = validate(record)
        except ValidationError as e:
            result.rejects.append(Reject(record.source, record.line, str(e)))
            continue
        key = (quote.symbol, quote.date)
        previous = kept.get(key)
        if previous is not None and previous[0] != quote:
            old = previous[1]
            result.rejects.append(Reject(old.source, old.line,
                                         f"replaced by {record.source}:{record.line}"))
        if previous is None or previous[0] != quote:
            kept[key] = (quote, record)
    result.quotes = sorted(q for q, _ in kept.values())
    return result
