"""Keep a scikit-learn model current as new batches of data arrive, with DVC."""
