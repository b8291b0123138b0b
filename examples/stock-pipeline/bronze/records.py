from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Union
import os

from ingestion import read_quotes


@dataclass(frozen=True)
class BronzeRecord:
    """One raw row: every value a string as written, plus file and line."""

    source: str
    line: int
    fields: Dict[str, str] = field(default_factory=dict)

    def get(self, name: str) -> str:
        return self.fields.get(name, "")


def ingest(paths: Iterable[Union[str, "os.PathLike[str]"]]) -> List[BronzeRecord]:
    """Read every file in order; rows keep their order of ingestion."""
    out: List[BronzeRecord] = []
    for path in paths:
        for row in read_quotes(path):
            source = row.pop("_source")
            line = int(row.pop("_line"))
            out.append(BronzeRecord(source=source, line=line, fields=row))
    return out
