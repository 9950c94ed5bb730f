"""Batch scoring: a whole file in constant memory, resumably, here or on a Ray cluster.

- :mod:`~moviegenre.batch.local`: ``score_file`` (chunks, worker processes, the summary)
- :mod:`~moviegenre.batch.ray`: the same chunks scored on a Ray cluster
- :mod:`~moviegenre.batch.scoring`: ``BatchSettings`` and the scoring of one chunk's rows,
  shared by both engines
- :mod:`~moviegenre.batch.store`: the parts, the manifest and the final output file

This package re-exports the public names of the old ``moviegenre.batch`` module, so
``from moviegenre.batch import BatchSettings, score_file`` keeps working.
"""

from moviegenre.batch.local import ENGINES, BatchSummary, model_fingerprint, score_file
from moviegenre.batch.scoring import BatchSettings

__all__ = ["ENGINES", "BatchSettings", "BatchSummary", "model_fingerprint", "score_file"]
