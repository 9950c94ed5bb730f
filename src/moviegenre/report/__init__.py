"""The data (and model) report: summary numbers, PNG figures and one self-contained page.

- :mod:`~moviegenre.report.summary`: the numbers (``summarize``, ``genre_terms``, history)
- :mod:`~moviegenre.report.figures`: the PNG figures (matplotlib's Figure API, no backend switch)
- :mod:`~moviegenre.report.grading`: how a model scores on the report's file, and on what terms
- :mod:`~moviegenre.report.html`: the page's HTML pieces and the label-audit page
- :mod:`~moviegenre.report.build`: ``build_report``, which draws and writes

This package re-exports the public names of the old ``moviegenre.report`` module, so
``from moviegenre.report import build_report`` keeps working.
"""

from moviegenre.report.build import build_report
from moviegenre.report.grading import ModelGrade, model_scores
from moviegenre.report.html import audit_section, write_audit_page
from moviegenre.report.summary import (
    ALL_ROWS,
    MODEL_CARD,
    ReportSettings,
    cooccurring_pairs,
    genre_counts,
    genre_terms,
    read_history,
    summarize,
)

__all__ = [
    "ALL_ROWS",
    "MODEL_CARD",
    "ModelGrade",
    "ReportSettings",
    "audit_section",
    "build_report",
    "cooccurring_pairs",
    "genre_counts",
    "genre_terms",
    "model_scores",
    "read_history",
    "summarize",
    "write_audit_page",
]
