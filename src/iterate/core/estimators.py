"""The classifier a dotted path names (``model.estimator``), made with its keyword arguments.

The path may come from a model's metadata, which loading does not trust: it must name a
scikit-learn estimator class that predicts probabilities, outside the standard library (some of
whose modules act when imported); nothing is called before that is known.
"""

from __future__ import annotations

import importlib
import inspect
import sys
from typing import Any

from iterate.errors import IterateError
from iterate.params import DOTTED_PATH, Model


def resolve(path: str, key: str = "model.estimator") -> type:
    """The class ``path`` names; one line naming ``key`` when it is not a classifier."""
    from sklearn.base import BaseEstimator

    def refuse(problem: str) -> IterateError:
        return IterateError(f"{key}: {path!r} {problem}; name a scikit-learn-compatible "
                            "classifier, e.g. sklearn.linear_model.SGDClassifier")

    if not isinstance(path, str) or not DOTTED_PATH.fullmatch(path):
        raise refuse("is not a dotted path to a class")
    module_name, _, name = path.rpartition(".")
    if module_name.partition(".")[0] in sys.stdlib_module_names:
        raise refuse("is in Python's standard library")
    if module_name.partition(".")[0] == "lightgbm":
        raise IterateError(
            f"{key}: {path!r} holds its booster as a native object, which a model file could "
            "hold only as state LightGBM parses unchecked; name "
            "iterate.core.boosting.LightGBMClassifier (the same parameters, saved as LightGBM's "
            "checked text model; docs/make-it-yours.md#lightgbm)")
    try:
        found = getattr(importlib.import_module(module_name), name)
    except (ImportError, AttributeError) as exc:
        raise refuse(f"cannot be imported ({exc})") from None
    if not (inspect.isclass(found) and issubclass(found, BaseEstimator)):
        raise refuse("is not a scikit-learn estimator class")
    if not hasattr(found, "predict_proba"):
        raise refuse("has no predict_proba")
    return found


def make(model: Model, key: str = "model") -> Any:
    """A new ``model.estimator`` with ``model.params``, and ``model.seed`` as its
    ``random_state`` when it takes one and the params do not set it."""
    cls = resolve(model.estimator, f"{key}.estimator")
    accepted = cls().get_params(deep=False) if _has_defaults(cls) else None
    kwargs = dict(model.params)
    if accepted is not None:
        unknown = sorted(set(kwargs) - set(accepted))
        if unknown:
            raise IterateError(f"{key}.params.{unknown[0]}: not a parameter of {cls.__name__} "
                               f"(it takes {', '.join(sorted(accepted))})")
        if "random_state" in accepted and "random_state" not in kwargs:
            kwargs["random_state"] = model.seed
    try:
        estimator = cls(**kwargs)
        check = getattr(estimator, "_validate_params", None)  # scikit-learn's, else at fit
        if check is not None:
            check()
    except (TypeError, ValueError) as exc:
        raise IterateError(f"{key}.params: {cls.__name__} refuses them "
                           f"({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})"
                           ) from None
    return estimator


def _has_defaults(cls: type) -> bool:
    """Whether ``cls()`` needs no argument (so its parameters can be listed)."""
    try:
        signature = inspect.signature(cls)
    except (TypeError, ValueError):
        return False
    return all(p.default is not p.empty or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
               for p in signature.parameters.values())


def label(estimator: Any) -> str:
    """The short name of a fitted model's classifier (the last step of a Pipeline)."""
    final = estimator[-1] if hasattr(estimator, "steps") else estimator
    return type(final).__name__


def learns_incrementally(estimator: Any) -> bool:
    """Whether the final step can be continued with ``partial_fit``."""
    final = estimator[-1] if hasattr(estimator, "steps") else estimator
    return hasattr(final, "partial_fit")
