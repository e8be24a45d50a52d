"""The Dask cluster one command runs on (``compute.engine: dask``; docs/scale.md).

:func:`session` opens it and closes it when the command ends: with ``compute.scheduler`` null a
``LocalCluster`` of ``compute.workers`` processes (one thread each) on 127.0.0.1, its dashboard
off; with an address, a client of that running scheduler. Dask is imported here only, and only
when a session opens, so a command on the local engine never imports it.

:func:`run_in_order` runs one task per partition and returns their results in partition order;
:func:`fold_in_order` merges them on the workers instead, pairwise in partition order, so only
the merged result reaches the client. When tasks fail, the first failing partition's error is
raised (what the local engine, reading the partitions in order, would have stopped at).
:func:`run_chain` runs tasks one after the other, each taking the state the one before returned
(a model learning partition by partition): the state travels from worker to worker and reaches
the client once, at the end.
:func:`partitioned_arrays` keeps the partitions of a matrix on the workers as Dask arrays (a
distributed fit's input).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from iterate.errors import IterateError
from iterate.params import Compute

CONNECT_SECONDS = 10  # a scheduler address that does not answer within this is refused


def _distributed():
    try:
        import distributed
    except ImportError:
        raise IterateError("compute.engine: dask needs the optional extra `dask`, which is not "
                           "installed; run `make setup-dask` (or `pip install -e .[dask]`), or "
                           "set compute.engine: local in params.yaml") from None
    return distributed


@contextmanager
def session(compute: Compute) -> Iterator[Any]:
    """A ``distributed.Client`` on the cluster ``compute`` names, closed (with the
    ``LocalCluster`` it started, if any) when the block ends."""
    distributed = _distributed()
    cluster = None
    if compute.scheduler is None:
        # no dashboard; the scheduler's small HTTP server (health, metrics) on a free port of
        # loopback, so two clusters of two commands never collide on 8787
        cluster = distributed.LocalCluster(
            n_workers=compute.workers, threads_per_worker=1, processes=True, host="127.0.0.1",
            dashboard_address=None, silence_logs=logging.CRITICAL,
            scheduler_kwargs={"dashboard": False, "dashboard_address": "127.0.0.1:0"})
        client = distributed.Client(cluster)
    else:
        try:
            client = distributed.Client(compute.scheduler, timeout=CONNECT_SECONDS)
        except (OSError, TimeoutError) as exc:
            raise IterateError(f"compute.scheduler: cannot reach {compute.scheduler} "
                               f"({type(exc).__name__}); start the scheduler, check the "
                               "address in params.yaml, or set it to null for a LocalCluster")\
                from None
    try:
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def run_in_order(client: Any, task: Callable[..., Any], items: Sequence[tuple],
                 **shared: Any) -> list[Any]:
    """``task(*item, **shared)`` for every item, each a task on the cluster; the results in
    the items' order. Values in ``shared`` are sent to every worker once (scattered)."""
    distributed = _distributed()
    futures = _submit(client, task, items, shared)
    distributed.wait(futures)
    try:
        results = client.gather(futures)  # a bug in a task (not a refusal) raises here
    finally:
        client.cancel(futures)
    for refused, value in results:  # the first refused partition, in order
        if refused:
            raise value
    return [value for _, value in results]


def fold_in_order(client: Any, task: Callable[..., Any], items: Sequence[tuple],
                  merge: Callable[[Any, Any], Any], **shared: Any) -> Any:
    """``merge`` of every ``task(*item, **shared)``, merged on the workers in a fixed binary
    tree over the items' order (so the result does not depend on which task ends first); only
    the final result is gathered. At least one item."""
    if not items:
        raise ValueError("fold_in_order: no items")
    level = _submit(client, task, items, shared)
    made = list(level)
    while len(level) > 1:
        pairs = [client.submit(_merged, merge, a, b, pure=False)
                 for a, b in zip(level[::2], level[1::2], strict=False)]
        level = pairs + level[len(pairs) * 2:]
        made += pairs
    try:
        refused, value = level[0].result()  # a bug in a task (not a refusal) raises here
    finally:
        client.cancel(made)
    if refused:
        raise value
    return value


def run_chain(client: Any, task: Callable[..., Any], state: Any, items: Sequence[tuple],
              **shared: Any) -> Any:
    """``state = task(state, *item, **shared)`` for every item in order, each a task on the
    cluster that depends on the one before, so they run one at a time wherever the scheduler
    puts them; the last state. Only the state moves between workers (the client holds the
    future of the last task only); a refusal in a task skips the rest and is raised here."""
    scattered = _scatter(client, shared)
    previous: Any = (False, state)
    last = None
    try:
        for item in items:  # a link's future dropped here is kept by the scheduler till used
            last = previous = client.submit(_chained, task, previous, *item, **scattered,
                                            pure=False)
        refused, value = previous if last is None else last.result()
    finally:
        if last is not None:
            client.cancel([last])
    if refused:
        raise value
    return value


def _scatter(client: Any, shared: dict[str, Any]) -> dict[str, Any]:
    """Each value sent to every worker once. hash=False: a fresh key per call; the same value
    scattered by the call before (its key being released as that call ends) would otherwise
    cancel this call's tasks."""
    return {k: client.scatter([v], broadcast=True, hash=False)[0] for k, v in shared.items()}


def _submit(client: Any, task: Callable[..., Any], items: Sequence[tuple],
            shared: dict[str, Any]) -> list[Any]:
    scattered = _scatter(client, shared)
    return [client.submit(_guarded, task, *item, **scattered, pure=False) for item in items]


def _merged(merge: Callable[[Any, Any], Any], a: tuple[bool, Any],
            b: tuple[bool, Any]) -> tuple[bool, Any]:
    """On a worker: two guarded results merged; a refusal passes on, the earlier one first."""
    if a[0]:
        return a
    if b[0]:
        return b
    return False, merge(a[1], b[1])


def _chained(task: Callable[..., Any], previous: tuple[bool, Any], *args: Any,
             **kwargs: Any) -> tuple[bool, Any]:
    """On the worker: one link of :func:`run_chain`. The state is copied first: a task never
    changes its input (a task run again after a lost worker would see it changed)."""
    import copy

    refused, state = previous
    if refused:
        return previous
    return _guarded(task, copy.deepcopy(state), *args, **kwargs)


def partitioned_arrays(client: Any, task: Callable[..., Any], items: Sequence[tuple],
                       rows: Sequence[int], width: int, dtype: Any,
                       **shared: Any) -> tuple[Any, Any]:
    """Dask arrays ``(X, y)`` of the partitions ``task(*item, **shared)`` makes, each a task on
    the cluster returning ``(matrix of rows[k] x width, labels)``; the parts stay in the
    workers' memory (the client holds their futures only). Part ``k`` is made and kept on the
    ``k % n``-th of the ``n`` workers (sorted by address): the same parts on the same number of
    workers are laid out alike, and no worker is left without rows while another holds two
    (a distributed fit depends on which rows each worker holds). Errors raise here."""
    import operator

    import dask
    import dask.array as da

    distributed = _distributed()
    scattered = _scatter(client, shared)
    workers = sorted(client.scheduler_info()["workers"])
    placed = [{"workers": [workers[k % len(workers)]], "allow_other_workers": False}
              for k in range(len(items))]
    parts = [client.submit(task, *item, **scattered, pure=False, **where)
             for item, where in zip(items, placed, strict=True)]
    distributed.wait(parts)
    for part in parts:
        if part.status == "error":
            part.result()  # raises the task's error
    pieces = []
    for k, part in enumerate(parts):
        x = client.submit(operator.itemgetter(0), part, **placed[k])
        y = client.submit(operator.itemgetter(1), part, **placed[k])
        pieces.append((da.from_delayed(dask.delayed(x), shape=(rows[k], width), dtype=dtype),
                       da.from_delayed(dask.delayed(y), shape=(rows[k],), dtype="int64")))
    return (da.concatenate([x for x, _ in pieces]), da.concatenate([y for _, y in pieces]))


def _guarded(task: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[bool, Any]:
    """On the worker: ``task``'s result, or the refusal (an :class:`IterateError`) it raised,
    returned rather than raised, so the worker logs no traceback for bad input."""
    try:
        return False, task(*args, **kwargs)
    except IterateError as exc:
        return True, exc
