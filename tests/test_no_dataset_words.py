"""No code names the embedded dataset: its words live in params.yaml, dvc.yaml and data/source
only, so a user's own data gets none of them (in the model card, the changelog or a message)."""

from __future__ import annotations

import re
from pathlib import Path

from helpers import ROOT, shipped_params

SRC = ROOT / "src"
# Words of the embedded flights data, matched anywhere (also inside `flights_weather_2013`).
DATASET = re.compile(r"flight|new york|departure|nycflights|\b(?:jfk|lga|ewr)\b|2013", re.I)
# Its column names that are ordinary words of statistics and code (a Jensen-Shannon distance,
# typing.get_origin, argparse's action.dest) are not its words.
ORDINARY = {"origin", "distance", "dest"}


def dataset_columns() -> set[str]:
    contract = shipped_params().contract
    return {contract.time_column, contract.label, *contract.columns} - ORDINARY


def hits(pattern: re.Pattern, root: Path) -> list[str]:
    return [f"{path.name}:{n}: {line.strip()}"
            for path in sorted(root.rglob("*.py"))
            for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
            if pattern.search(line)]


def test_no_source_file_holds_a_word_of_the_embedded_dataset():
    assert hits(DATASET, SRC) == []


def test_no_source_file_names_a_column_of_the_embedded_dataset():
    columns = re.compile(r"\b(?:" + "|".join(map(re.escape, dataset_columns())) + r")\b", re.I)

    assert hits(columns, SRC) == []


def test_the_check_finds_the_words_it_looks_for(tmp_path):
    """A check of the test itself: it would see the card's old flights sentence."""
    (tmp_path / "card.py").write_text('TEXT = "Trained on 2013 New York departures"\n'
                                      'LATE = row["late"]\n')

    assert len(hits(DATASET, tmp_path)) == 1
    assert "late" in dataset_columns()
