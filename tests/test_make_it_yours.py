"""docs/make-it-yours.md, followed: a dataset that is not flights (other column names, a
date-only time column, a categorical slice, a week whose label holds one class) is adopted by
editing params.yaml and src/iterate/model.py only, and the loop runs three iterations on it."""

from __future__ import annotations

import json
import sys

import pytest
import yaml
from helpers import rain_history, rain_params

from iterate.repo.registry import parse

# The guide's "your own Pipeline": another step between the features and the classifier.
OWN_STEP = """
    from sklearn.preprocessing import PolynomialFeatures

    interactions = PolynomialFeatures(degree=2, interaction_only=True, include_bias=False)
    return Pipeline([("features", transformer), ("interactions", interactions),
                     ("estimator", classifier)])
"""
# An edit that drops types the shipped file builds (the standard scaler, the missing flags).
ONE_PREPROCESSING = '''def build(contract, params):
    """Median-imputed, robustly scaled numbers; one-hot categories."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, RobustScaler

    numeric, categorical = features.numeric_and_categorical(contract)
    transformer = ColumnTransformer([
        ("numeric", make_pipeline(SimpleImputer(strategy="median"), RobustScaler()), numeric),
        ("categorical", OneHotEncoder(handle_unknown="ignore"), categorical)])
    return Pipeline([("features", transformer), ("estimator", estimators.make(params))])
'''
FEATURES = """
from iterate.repo import bundles
print(bundles.load("models/{}").pipeline[0])
"""
STEPS = """
from iterate.repo import bundles
print(list(bundles.load("models/production").pipeline.named_steps))
"""


@pytest.mark.slow
def test_own_data_and_own_pipeline_by_params_and_the_model_file_run_three_iterations(
        template_repo):
    repo = template_repo
    rain_history(weeks=6, dry=(4,)).to_csv(repo.path / "data/source/rain.csv", index=False)
    repo.set_params(**rain_params("data/source/rain.csv"))
    model_file = repo.path / "src/iterate/model.py"
    text = model_file.read_text()
    shipped_return = '    return Pipeline([("features", transformer), ("estimator", classifier)])\n'
    assert shipped_return in text, "the guide's edit point moved: update the guide and this test"
    model_file.write_text(text.replace(shipped_return, OWN_STEP))
    repo.git("add", "-A")
    repo.git("commit", "-qm", "make it mine: rain data, a pipeline with interactions")
    changed = repo.git("show", "--name-only", "--format=", "HEAD").stdout.split()
    assert sorted(changed) == ["data/source/rain.csv", "params.yaml", "src/iterate/model.py"]

    result = repo.iterate("loop", "--iterations", "3")

    rows = [line for line in result.stdout.splitlines() if line[:2] in ("3 ", "4 ", "5 ")]
    assert len(rows) == 3, result.stdout
    assert rows[1].endswith("skipped: holdout holds one class (0) only; it trains later models")
    assert "warning: batch 2021-03-22_2021-03-28 (rain.csv)" in result.stderr
    registry = parse((repo.path / "models/registry.yaml").read_text())
    assert registry and registry[0]["version"] == "1.0.0"
    steps = repo.run(sys.executable, "-c", STEPS).stdout
    assert "interactions" in steps, "the production model is the user's own pipeline, loadable"
    card = (repo.path / "models/production/CARD.md").read_text()
    assert "**Predicts:** Whether it rains at the station that day" in card
    assert not any(word in card.lower() for word in ("flight", "new york", "2013"))
    slices = json.loads((repo.path / "metrics/slices.json").read_text())
    assert slices["column"] == "station"
    assert json.loads(repo.dvc("status", "--json").stdout) == {}
    assert repo.git("status", "--porcelain").stdout.strip() == ""
    params = yaml.safe_load((repo.path / "params.yaml").read_text())
    assert params["contract"]["time_column"] == "day" and params["contract"]["label"] == "rain"



@pytest.mark.slow
def test_editing_the_model_file_after_a_promotion_keeps_production_loadable(template_repo):
    """Production was built by the model file as it was; after an edit that drops types it
    holds, the next iteration still loads it (the allow-list of the code that built it was kept
    on this machine when it was saved) and trains the candidate with the edited file."""
    repo = template_repo
    rain_history(weeks=5).to_csv(repo.path / "data/source/rain.csv", index=False)
    repo.set_params(**rain_params("data/source/rain.csv"))
    repo.git("add", "-A")
    repo.git("commit", "-qm", "rain data")
    repo.iterate("loop", "--iterations", "1")
    model_file = repo.path / "src/iterate/model.py"
    text = model_file.read_text()
    model_file.write_text(text[:text.index("def build(")] + ONE_PREPROCESSING)
    repo.git("commit", "-qam", "one preprocessing for every classifier")

    result = repo.iterate("loop", "--iterations", "1", check=False)

    assert result.returncode == 0, result.stderr  # its train stage loaded production
    assert "StandardScaler" in repo.run(sys.executable, "-c", FEATURES.format("baseline")).stdout
    assert "RobustScaler" in repo.run(sys.executable, "-c", FEATURES.format("candidate")).stdout, \
        "the candidate is built by the edited model file"
