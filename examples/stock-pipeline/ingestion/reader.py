import csv
import os
from typing import Dict, Iterator, Union

COLUMNS = ("date", "symbol", "open", "high", "low", "close", "volume")


class IngestionError(Exception):
    """A file that cannot be read as quotes at all (missing columns, bad CSV)."""


def read_quotes(path: Union[str, "os.PathLike[str]"]) -> Iterator[Dict[str, str]]:
    """Yield each data row as a dict of strings, plus "_source" and "_line".

    Values are returned exactly as written (no stripping, no typing): judging
    them is the silver layer's job.
    """
    source = os.fspath(path)
    with open(source, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        try:
            header = next(reader)
        except StopIteration:
            raise IngestionError(f"{source}: empty file, expected a header line") from None
        names = [h.strip().lower() for h in header]
        missing = [c for c in COLUMNS if c not in names]
        if missing:
            raise IngestionError(f"{source}: missing column(s) {', '.join(missing)}")
        try:
            for row in reader:
                if not row or all(not cell.strip() for cell in row):
                    continue
                record = {name: (row[i] if i < len(row) else "") for i, name in enumerate(names)}
                record["_source"] = source
                record["_line"] = str(reader.line_num)
                yield record
        except csv.Error as e:
            raise IngestionError(f"{source}:{reader.line_num}: {e}") from None
