"""Renraku: care-team information sharing for home medical and elderly care."""

__version__ = "0.1.0"
