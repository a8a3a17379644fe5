"""Deterministic synthetic cohort generator (extracts + ground truth); see docs/synthetic-data.md."""

from trscohort.synth.core import generate

__all__ = ["generate"]
