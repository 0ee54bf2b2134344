"""The one error the analysis layer raises for input it cannot analyse."""

from __future__ import annotations


class AnalysisError(ValueError):
    """The input cannot be analysed: wrong type, shape or size, or an unreadable file."""
