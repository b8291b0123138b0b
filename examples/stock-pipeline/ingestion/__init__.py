"""Read daily stock quotes from CSV files.

A quote file has one header line naming at least the columns in COLUMNS
(in any order; extra columns are kept) and one row per symbol and day.
"""
from .reader import COLUMNS, IngestionError, read_quotes

__all__ = ["COLUMNS", "IngestionError", "read_quotes"]
