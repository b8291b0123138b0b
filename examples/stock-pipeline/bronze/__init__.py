"""The bronze layer: quote rows kept exactly as ingested, with where they came from."""
from .records import BronzeRecord, ingest

__all__ = ["BronzeRecord", "ingest"]
