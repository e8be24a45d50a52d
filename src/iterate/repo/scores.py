"""A model's scores on the holdout, as the stage that loaded the model wrote them: one
probability per holdout row, in the holdout's order. The evaluate stage compares these and so
loads no model (nor scikit-learn) itself."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from iterate.errors import IterateError
from iterate.repo import atomic


def write(path: str | Path, proba: np.ndarray | None) -> None:
    """Save ``proba``; ``None`` (no model to score: no production model yet) saves no rows."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    values = np.asarray([] if proba is None else proba, dtype="float64")
    table = pa.table({"score": values})
    atomic.write_with(path, lambda tmp: pq.write_table(table, tmp))


def read(path: str | Path, rows: int) -> np.ndarray | None:
    """The scores saved at ``path`` (``None`` if no model scored the holdout), checked to be one
    finite probability per each of the holdout's ``rows``."""
    import pyarrow.parquet as pq

    values = column(pq.ParquetFile(path).read(columns=["score"]), "score", "float64")
    if len(values) == 0:
        return None
    if len(values) != rows or not np.all((values >= 0) & (values <= 1)):
        raise IterateError(f"{path}: not one probability per holdout row ({len(values)} for "
                           f"{rows}); rerun the stage that wrote it with `dvc repro --force`")
    return values


def column(table, name: str, dtype: str | None) -> np.ndarray:
    """A column of a pyarrow table as a numpy array (through Python objects: pyarrow's own
    ``to_numpy`` imports pandas, half a second of the evaluate stage's start)."""
    return np.asarray(table.column(name).to_pylist(), dtype=dtype)
