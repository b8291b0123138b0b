"""The silver layer: validated, typed, deduplicated and sorted quotes."""
from .quotes import Quote, Reject, Result, ValidationError, refine, validate

__all__ = ["Quote", "Reject", "Result", "ValidationError", "refine", "validate"]
