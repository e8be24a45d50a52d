"""``iterate backtest``: replay the whole history under several model-update policies, in one
process (no DVC per step; ``backtest.jobs`` may add worker processes for the fits known in
advance), test-then-train, and compare what each policy would have delivered.

Reads the params file (the ``backtest`` section, and ``replay.source``, the contract, model,
split, train, evaluate, gate and drift settings), cuts the source into batches as
``iterate replay`` does, runs :mod:`core.backtest` and writes, relative to the current folder:

    metrics/backtest.json          per policy: mean metrics, refits, promotions, compute, series
    plots/backtest/metrics.csv     one row per batch x policy
    plots/backtest/<policy>.csv    the same, one file per policy (for ``dvc plots``)
    plots/backtest/backtest.png    ROC AUC, F1 and log loss over time, one line per policy

It prints a progress line on stderr while it runs (on a terminal) and a table at the end.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path
from typing import Any

from iterate import params as params_module
from iterate.commands.helptext import plain
from iterate.errors import IterateError, reported
from iterate.params import POLICY_NAMES, Backtest

PARAMS = ("backtest", "replay", "contract", "split", "model", "train", "evaluate", "gate",
          "drift", "monitor", "trigger")
METRICS_FILE = Path("metrics/backtest.json")
PLOTS_DIR = Path("plots/backtest")
TABLE_FILE = PLOTS_DIR / "metrics.csv"
FIGURE_FILE = PLOTS_DIR / "backtest.png"
COLORS = {"frozen": "#7f7f7f", "full-every-k": "#1f77b4", "incremental": "#2ca02c",
          "drift-triggered": "#ff7f0e", "gated": "#d62728", "loop": "#9467bd"}


# --------------------------------------------------------------------------- params


def load(path: str | Path = params_module.DEFAULT_PATH) -> tuple[params_module.Params, Backtest]:
    """The params file, validated, and its ``backtest`` section."""
    p = params_module.load(path)
    return p, p.backtest


def settings(p: params_module.Params, bt: Backtest):
    """The core's settings: ``backtest.model`` (or, when null, ``model``'s estimator and params)
    with ``model``'s threshold and seed."""
    from iterate.core import backtest

    window = bt.window if bt.window is not None else p.split.window
    model = p.model if bt.model is None else dataclasses.replace(
        p.model, estimator=bt.model.estimator, params=bt.model.params)
    return backtest.Settings(
        contract=p.contract, model=model, gate=p.gate,
        evaluate=p.evaluate, drift=p.drift, policies=tuple(bt.policies), warmup=bt.warmup,
        window=None if window == "all" else window, every=bt.every,
        reference_rows=p.train.reference_rows, jobs=bt.jobs, trigger=p.trigger,
        monitor=p.monitor, change=bt.change_at - 1 if bt.change_at else None)


# --------------------------------------------------------------------------- the command


def add_parsers(sub: Any) -> argparse.ArgumentParser:
    """Register ``backtest`` on the sub-parsers of ``iterate``'s parser."""
    parser = sub.add_parser("backtest", help="replay the history under several update policies "
                            "(one run, no DVC per step) and compare them",
                            description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.set_defaults(func=cmd_backtest)
    return parser


def main(argv: list[str] | None = None) -> int:
    """``python -m iterate.commands.backtest [--params PATH]``: the command on its own."""
    parser = argparse.ArgumentParser(prog="iterate backtest", description=plain(__doc__),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--params", type=Path, default=params_module.DEFAULT_PATH,
                        help="params file (default: params.yaml)")
    args = parser.parse_args(argv)
    try:
        return reported(lambda: cmd_backtest(args))
    except KeyboardInterrupt:
        print("\ninterrupted; outputs are written only at the end, so none is half-written",
              file=sys.stderr)
        return 130


def cmd_backtest(args: argparse.Namespace) -> int:
    began = time.perf_counter()
    p, bt = load(getattr(args, "params", None) or params_module.DEFAULT_PATH)
    s = settings(p, bt)
    from iterate.core import backtest
    from iterate.repo import landing

    source = Path(p.replay.source)
    if not source.is_file():
        raise IterateError(f"replay.source: {source} not found; point replay.source in the "
                           "params file at your history (CSV, CSV.gz or Parquet)")
    seconds: dict[str, float] = {}
    tick = time.perf_counter()
    table = landing.read_table(source)
    seconds["read"] = time.perf_counter() - tick
    tick = time.perf_counter()
    batches, skipped = backtest.cut(table, p.contract, p.replay.batch_days)
    seconds["cut_and_validate"] = time.perf_counter() - tick
    for item in skipped:  # before any refusal of the whole run: its reasons are these
        print(f"  refused source batch {item['batch']}: {item['reason']}")
    backtest.check(s, len(batches))
    print(f"backtest: {len(batches)} batches of {p.replay.batch_days} day(s) from {source} "
          f"({sum(len(b.frame) for b in batches):,} good rows); first fit on "
          f"{s.warmup}, then {len(batches) - s.warmup} scored and learnt from one by one; "
          f"{len(s.policies)} policies, {s.model.estimator}, window "
          f"{s.window if s.window is not None else 'all'}")
    from iterate.core import gate

    for batch in batches[s.warmup:]:
        if batch.one_class is not None:
            print(f"  batch {batch.index + 1} ({batch.id}): {gate.skip_reason(batch.one_class)}")

    tick = time.perf_counter()
    result = backtest.run(batches, s, progress=Progress(sys.stderr))
    seconds["replay"] = time.perf_counter() - tick
    summary = backtest.summary(result)
    tick = time.perf_counter()
    write(result, summary, source=source, batch_days=p.replay.batch_days, skipped=skipped,
          seconds=seconds)
    seconds["write"] = time.perf_counter() - tick
    print()
    print(table_text(summary))
    print(f"\nwrote {METRICS_FILE}, {TABLE_FILE} (+ one CSV per policy) and {FIGURE_FILE} in "
          f"{time.perf_counter() - began:.1f} s (replay {seconds['replay']:.1f} s)")
    return 0


class Progress:
    """A tqdm bar of the scored batches (with the time left) on a terminal; silent otherwise."""

    def __init__(self, stream: Any):
        self.stream = stream
        self.live = hasattr(stream, "isatty") and stream.isatty()
        self.bar: Any = None

    def __call__(self, done: int, total: int, batch: Any) -> None:
        if not self.live:
            return
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(total=total, file=self.stream, desc="backtest", unit=" batches",
                            ncols=100, mininterval=0)
        self.bar.set_postfix_str(batch.start, refresh=False)
        self.bar.update(done - self.bar.n)
        if done == total:
            self.bar.close()


# --------------------------------------------------------------------------- outputs


def write(result: Any, summary: dict[str, Any], *, source: Path, batch_days: int,
          skipped: list[dict[str, Any]], seconds: dict[str, float]) -> None:
    """Write the JSON, the CSVs and the PNG (each atomically)."""
    from iterate.core import backtest
    from iterate.repo import atomic
    from iterate.repo.jsonfile import write_json

    write_json(METRICS_FILE, {
        "source": str(source), "batch_days": batch_days, **summary, "skipped": skipped,
        "seconds": {k: round(v, 3) for k, v in seconds.items()},
    })
    rows = backtest.frame(result)
    atomic.write_with(TABLE_FILE, lambda tmp: rows.to_csv(tmp, index=False))
    for name in POLICY_NAMES:
        path = PLOTS_DIR / f"{name}.csv"
        if name in result.policies:
            mine = rows[rows["policy"] == name].drop(columns="policy")
            atomic.write_with(path, lambda tmp, mine=mine: mine.to_csv(tmp, index=False))
        else:
            path.unlink(missing_ok=True)  # a policy of an earlier run: not part of this one
    fig = figure(rows, summary)
    atomic.write_with(FIGURE_FILE, lambda tmp: fig.savefig(tmp, format="png", dpi=90))


def figure(rows: Any, summary: dict[str, Any]) -> Any:
    """ROC AUC, F1 and log loss per batch, one line per policy: a rolling mean over the raw
    series drawn faint (readable at hundreds of batches), the loop's triggered fits and
    promotions marked, and a known change point (``backtest.change_at``) as a line."""
    import pandas as pd
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
    from matplotlib.figure import Figure

    s = summary["settings"]
    panels = (("roc_auc", "ROC AUC", "ROC AUC\n(higher is better)"),
              ("f1", "F1", f"F1 at threshold {_cut(s['threshold'])}\n(higher is better)"),
              ("log_loss", "log loss", "log loss\n(lower is better)"))
    n = int(rows["batch"].nunique())
    roll = max(1, n // 25)
    fig = Figure(figsize=(14, 10), layout="constrained")
    axes = fig.subplots(len(panels), 1, sharex=True)
    for ax, (metric, short, label) in zip(axes, panels, strict=True):
        for name, info in summary["policies"].items():
            mine = rows[rows["policy"] == name]
            when = pd.to_datetime(mine["start"])
            frozen = name == "frozen"
            color = COLORS.get(name)
            if roll > 1:
                ax.plot(when, mine[metric], color=color, linewidth=0.6, alpha=0.25)
            smooth = mine[metric].rolling(roll, min_periods=1).mean()
            ax.plot(when, smooth, color=color, marker="." if roll == 1 else None,
                    linewidth=1.8 if frozen else 1.3, linestyle="--" if frozen else "-",
                    label=f"{name}: {_fmt(info['mean'][metric])}\n  {_changes(name, info)}")
            if name == "loop" and metric == "roc_auc":
                promoted = mine["action"] == "promote"
                ax.scatter(when[promoted], smooth[promoted], marker="^", s=40, color=color,
                           zorder=3, label="loop: promotion")
        if s.get("change_at"):
            first = rows[rows["batch"] == s["change_at"]]["start"]
            if len(first):
                ax.axvline(pd.to_datetime(first.iloc[0]), color="black", linestyle=":",
                           label=f"change at batch {s['change_at']}")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize="small",
                  title=f"mean {short}" + (f", rolling {roll}" if roll > 1 else ""),
                  title_fontsize="small")
    losses = rows["log_loss"].dropna()
    if len(losses):  # a few extreme batches would squash the rest: clip at the 99th percentile
        axes[-1].set_ylim(max(0.0, losses.min() * 0.9), losses.quantile(0.99) * 1.1)
    locator = AutoDateLocator(maxticks=10)
    axes[-1].xaxis.set_major_locator(locator)
    axes[-1].xaxis.set_major_formatter(ConciseDateFormatter(locator))
    axes[-1].set_xlabel("batch (its first day); each batch is scored by the model a policy had "
                        "before learning from that batch")
    b = summary["batches"]
    fig.suptitle(f"Backtest of model-update policies: {b['scored']} batches scored "
                 f"({b['first_scored'][:10]} .. {b['last_scored'][-10:]}), {s['model']}, "
                 f"refit window {s['window']} batches, first fit on {s['warmup']} batches")
    return fig


def _cut(setting: float | str) -> str:
    return setting if isinstance(setting, str) else f"{setting:g}"


def _changes(name: str, info: dict[str, Any]) -> str:
    if name == "incremental":
        return f"{info['partial_fits']} partial fits"
    if name == "gated":
        return f"{info['promotions']} of {info['refits']} candidates promoted"
    if name == "loop":
        return f"{info['refits']} fits, {info['promotions']} promoted"
    return f"{info['refits']} refits"


def _fmt(value: float | None, digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def table_text(summary: dict[str, Any]) -> str:
    """The policies side by side: mean metrics over the scored batches, updates and compute."""
    header = ["policy", "ROC AUC", "F1", "log loss", "refits", "partial fits", "promotions",
              "fit s", "check s", "rows trained", "to recover"]
    body = []
    for name, info in summary["policies"].items():
        mean = info["mean"]
        body.append([name, _fmt(mean["roc_auc"]), _fmt(mean["f1"]), _fmt(mean["log_loss"]),
                     str(info["refits"]), str(info["partial_fits"]), str(info["promotions"]),
                     f"{info['fit_seconds']:.1f}", f"{info['check_seconds']:.1f}",
                     f"{info['rows_trained']:,}",
                     "—" if info.get("recover") is None else str(info["recover"])])
    from iterate.core import tables

    b = summary["batches"]
    skipped = (f"; {len(b['one_class'])} batch(es) of one class skipped as holdouts (trained on)"
               if b["one_class"] else "")
    return (f"mean over {b['scored']} scored batches ({b['first_scored'][:10]} .. "
            f"{b['last_scored'][-10:]}, {b['rows_scored']:,} rows{skipped}), each batch scored "
            "before the policy learnt from it:\n"
            + tables.text(header, body, right=range(1, len(header))))


if __name__ == "__main__":
    sys.exit(main())
