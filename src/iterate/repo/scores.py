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


def slice_keys(column) -> np.ndarray:
    """Each row's slice key of a pyarrow column: ``str`` of its value, ``"nan"`` when missing
    (how both engines group the rows into slices)."""
    return np.asarray(["nan" if v is None else str(v) for v in column.to_pylist()])


def write_shuffled(path: str | Path, shuffled: tuple[np.ndarray, dict[str, np.ndarray]] | None,
                   ) -> None:
    """Save a model's scores of the holdout sample with each feature shuffled
    (:func:`iterate.core.importance.shuffled_scores`): a row per (repeat, sampled row), the
    holdout row's index and a column per feature; ``None`` (no model) saves no rows."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if shuffled is None:
        table = pa.table({"repeat": pa.array([], "int64"), "row": pa.array([], "int64")})
    else:
        rows, scores = shuffled
        repeats = next(iter(scores.values())).shape[0] if scores else 0
        table = pa.table({"repeat": np.repeat(np.arange(repeats), len(rows)),
                          "row": np.tile(rows, repeats),
                          **{f: s.reshape(-1).astype("float32")  # halves the file
                             for f, s in scores.items()}})
    atomic.write_with(path, lambda tmp: pq.write_table(table, tmp))


def read_shuffled(path: str | Path, holdout_rows: int,
                  ) -> tuple[np.ndarray, dict[str, np.ndarray]] | None:
    """What :func:`write_shuffled` saved (``None`` if no model scored), checked: probabilities,
    rows of the holdout, every repeat over the same rows."""
    import pyarrow.parquet as pq

    table = pq.ParquetFile(path).read()
    if table.num_rows == 0:
        return None
    repeat, row = column(table, "repeat", "int64"), column(table, "row", "int64")
    repeats = int(repeat.max()) + 1
    rows = row[repeat == 0]
    scores = {f: column(table, f, "float64").reshape(repeats, len(rows))
              for f in table.column_names if f not in ("repeat", "row")}
    if (len(row) != repeats * len(rows) or not np.array_equal(row, np.tile(rows, repeats))
            or rows.min() < 0 or rows.max() >= holdout_rows
            or not all(np.all((s >= 0) & (s <= 1)) for s in scores.values())):
        raise IterateError(f"{path}: not shuffled scores of this holdout ({holdout_rows} rows); "
                           "rerun the stage that wrote it with `dvc repro --force`")
    return rows, scores
