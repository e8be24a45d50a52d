"""The model: edit :func:`build` to make it yours.

``build(contract, params)`` returns the scikit-learn Pipeline that training fits: the feature
preprocessing for the contract's columns, then the classifier. ``params`` is params.yaml's
``model`` section: ``params.estimator`` (a dotted path such as
``sklearn.linear_model.LogisticRegression``) and ``params.params`` (its keyword arguments) are
the classifier, ``params.seed`` its ``random_state`` (see :func:`iterate.core.estimators.make`).

What training relies on: a Pipeline whose last step is the classifier (with ``predict_proba``;
``partial_fit`` too for ``train.mode: incremental`` or ``auto``) and whose earlier steps take the
contract's columns as a DataFrame. Incremental updates continue only the last step: the steps
before it are frozen at the full refit. The same ``build`` serves the loader's allow-list, so a
saved model may hold exactly what this function builds.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sklearn.pipeline import Pipeline

from iterate.core import estimators, features

if TYPE_CHECKING:
    from iterate.params import Contract, Model


def build(contract: Contract, params: Model) -> Pipeline:
    """An unfitted Pipeline of the contract's feature preprocessing and the classifier."""
    classifier = estimators.make(params)
    if "categorical_features" in classifier.get_params(deep=False):
        # HistGradientBoosting: missing values and categories natively, numbers unscaled
        transformer, categorical = features.for_tree_model(contract)
        if "categorical_features" not in params.params:
            classifier.set_params(categorical_features=categorical or None)
    else:  # linear models, forests, ...: imputed and scaled numbers, one-hot categories
        transformer = features.for_linear_model(contract)
    return Pipeline([("features", transformer), ("estimator", classifier)])
