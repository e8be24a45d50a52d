"""The repository's I/O: landed batches, model bundles (safe loading), registry, deploy journal,
plot files, and the DVC and git calls. Built on :mod:`iterate.core`."""
