"""LightGBM as a model choice: ``model.estimator: iterate.core.boosting.LightGBMClassifier``.

A scikit-learn classifier whose fitted state is LightGBM's own text model
(``Booster.model_to_string``) held as a plain string, plus the classes and the input width: skops
stores it as JSON, so a model file holds no LightGBM object and nothing pickled. Loading
(:meth:`LightGBMClassifier.check_loaded`, which :mod:`iterate.repo.bundles` calls) checks the
text before LightGBM's parser sees it: its size, its header line by line against the one a
binary model of this input width has, each tree's arrays (lengths, child and feature indices,
categorical boundaries) and the offsets ``tree_sizes`` declares; only then is it parsed.

It fits in process with ``lightgbm.LGBMClassifier`` (the local engine) or on a Dask cluster with
``lightgbm.dask.DaskLGBMClassifier`` (:meth:`LightGBMClassifier.fit_distributed`, the train
stage with ``compute.engine: dask``). Nothing here imports lightgbm (or dask) until a model of
this class is fitted or used.
"""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

from iterate.errors import IterateError

MAX_TEXT_CHARS = 64 * 2**20  # ~2,000 trees of 255 leaves; more is refused before parsing
MAX_LEAVES = 131_072  # LightGBM's own limit on num_leaves
MAX_TREES = 100_000
INT_MAX = 2**31 - 1  # LightGBM's integer parameters are C ints
NUMBER = r"-?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?|-?inf"
INTEGER = re.compile(r"-?\d{1,10}")
FLOATS = re.compile(rf"(?:{NUMBER})(?: (?:{NUMBER}))*")
FEATURE_INFO = re.compile(rf"none|\[(?:{NUMBER}):(?:{NUMBER})\]|-?\d{{1,10}}(?::-?\d{{1,10}})*")
# no [ ] inside, nor " \ { }: LightGBM copies the values into JSON its Python side parses
PARAMETER = re.compile(r"\[[a-z0-9_]{1,64}: [\x20\x21\x23-\x5a\x5e-\x7a\x7c\x7e]{0,4096}\]")
# The keys of a tree LightGBM writes, in order (the cat_ ones only with categorical splits)
TREE_KEYS = ("num_leaves", "num_cat", "split_feature", "split_gain", "threshold",
             "decision_type", "left_child", "right_child", "leaf_value", "leaf_weight",
             "leaf_count", "internal_value", "internal_weight", "internal_count",
             "cat_boundaries", "cat_threshold", "is_linear", "shrinkage")
NODE_KEYS = ("split_feature", "split_gain", "threshold", "decision_type", "left_child",
             "right_child", "internal_value", "internal_weight", "internal_count")
FITTED = ("booster_text_", "classes_", "n_features_in_")


class _PartsInOrder:
    """A Dask client whose ``who_has`` lists the futures in the order asked. LightGBM ranks the
    workers in the order ``who_has`` gives their parts, and ``distributed`` gives them in the
    order of a set of keys (string hashes differ per process); each rank bins its share of the
    features from its own rows, so the rank of each part changes the model. In part order, the
    worker holding the first part is rank 0 in every run (:mod:`iterate.repo.cluster` places
    part k on the k-th worker)."""

    def __init__(self, client: Any):
        self._client = client

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def who_has(self, futures: Any = None, **kwargs: Any) -> dict:
        found = self._client.who_has(futures, **kwargs)
        if futures is None:
            return found
        keys = dict.fromkeys(f.key for f in self._client.futures_of(futures))
        return {key: found[key] for key in keys}


class ModelTextError(ValueError):
    """A LightGBM text model that is not one this class writes (what is wrong, in one line)."""


class LightGBMClassifier(ClassifierMixin, BaseEstimator):
    """Gradient-boosted trees by LightGBM for a 0/1 label, saved as LightGBM's text model.

    The parameters are ``lightgbm.LGBMClassifier``'s of the same names. ``categorical_features``
    are the input positions LightGBM splits as categories (:func:`iterate.model.build` sets them
    to the contract's categorical columns, coded as integers, -1 for unknown or missing).
    Defaults: deterministic, row-wise histograms, one thread (the same inputs give the same
    model and the same bytes; more threads are faster and give the same model only on the same
    thread count).
    """

    def __init__(self, n_estimators: int = 100, learning_rate: float = 0.1,
                 num_leaves: int = 31, max_depth: int = -1, min_child_samples: int = 20,
                 min_child_weight: float = 1e-3, min_split_gain: float = 0.0,
                 subsample: float = 1.0, subsample_freq: int = 0,
                 colsample_bytree: float = 1.0, reg_alpha: float = 0.0,
                 reg_lambda: float = 0.0, max_bin: int = 255,
                 categorical_features: list[int] | None = None,
                 random_state: int | None = None, n_jobs: int = 1):
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.max_depth = max_depth
        self.min_child_samples = min_child_samples
        self.min_child_weight = min_child_weight
        self.min_split_gain = min_split_gain
        self.subsample = subsample
        self.subsample_freq = subsample_freq
        self.colsample_bytree = colsample_bytree
        self.reg_alpha = reg_alpha
        self.reg_lambda = reg_lambda
        self.max_bin = max_bin
        self.categorical_features = categorical_features
        self.random_state = random_state
        self.n_jobs = n_jobs

    # --- parameters -------------------------------------------------------------------------

    def _validate_params(self) -> None:
        """Each parameter's type and range, one ``ValueError`` naming the first wrong one (and
        LightGBM installed: one :class:`IterateError` if not)."""
        _require_lightgbm()
        # LightGBM reads its integer parameters as C ints: a larger one wraps (max_bin 2**31 is
        # refused by LightGBM mid-fit, max_depth 2**31 silently means no limit)
        ints = {"n_estimators": (1, INT_MAX), "num_leaves": (2, MAX_LEAVES),
                "max_depth": (-1, INT_MAX), "min_child_samples": (0, INT_MAX),
                "subsample_freq": (0, INT_MAX), "max_bin": (2, INT_MAX), "n_jobs": (1, 1024)}
        reals = {"learning_rate": (0.0, False), "min_child_weight": (0.0, True),
                 "min_split_gain": (0.0, True), "reg_alpha": (0.0, True),
                 "reg_lambda": (0.0, True)}
        fractions = ("subsample", "colsample_bytree")
        for name, (low, high) in ints.items():
            value = getattr(self, name)
            if not _is_int(value) or not low <= value <= high:
                raise ValueError(f"{name} must be an integer from {low} to {high}, not {value!r}")
        for name, (low, closed) in reals.items():
            value = getattr(self, name)
            if not _is_number(value) or not (value >= low if closed else value > low):
                raise ValueError(f"{name} must be a number {'≥' if closed else '>'} {low}, "
                                 f"not {value!r}")
        for name in fractions:
            value = getattr(self, name)
            if not _is_number(value) or not 0 < value <= 1:
                raise ValueError(f"{name} must be a number in (0, 1], not {value!r}")
        if self.random_state is not None and not _is_int(self.random_state):
            raise ValueError(f"random_state must be an integer, not {self.random_state!r}")
        if self.categorical_features is not None and not (
                isinstance(self.categorical_features, list | tuple)
                and all(_is_int(i) and i >= 0 for i in self.categorical_features)):
            raise ValueError("categorical_features must be a list of input positions, not "
                             f"{self.categorical_features!r}")

    def _lightgbm_params(self) -> dict[str, Any]:
        return {"objective": "binary", "n_estimators": self.n_estimators,
                "learning_rate": self.learning_rate, "num_leaves": self.num_leaves,
                "max_depth": self.max_depth, "min_child_samples": self.min_child_samples,
                "min_child_weight": self.min_child_weight,
                "min_split_gain": self.min_split_gain, "subsample": self.subsample,
                "subsample_freq": self.subsample_freq,
                "colsample_bytree": self.colsample_bytree, "reg_alpha": self.reg_alpha,
                "reg_lambda": self.reg_lambda, "max_bin": self.max_bin,
                "random_state": self.random_state, "n_jobs": self.n_jobs,
                "deterministic": True, "force_row_wise": True, "verbose": -1}

    def _categorical(self) -> list[int] | str:
        return list(self.categorical_features) if self.categorical_features else "auto"

    # --- fitting ----------------------------------------------------------------------------

    def fit(self, X: Any, y: Any) -> LightGBMClassifier:
        """Fit in this process (``lightgbm.LGBMClassifier``) on a matrix and 0/1 labels."""
        import lightgbm

        self._validate_params()
        X, y = _matrix(X), _labels(y)
        fitted = lightgbm.LGBMClassifier(**self._lightgbm_params()).fit(
            X, y, categorical_feature=self._categorical())
        return self._keep(fitted.booster_, X.shape[1])

    def fit_distributed(self, client: Any, X: Any, y: Any) -> LightGBMClassifier:
        """Fit on a Dask cluster (``lightgbm.dask.DaskLGBMClassifier``): ``X`` and ``y`` are Dask
        arrays whose chunks the workers hold; the client receives the booster only."""
        from lightgbm.dask import DaskLGBMClassifier

        self._validate_params()
        quiet()
        # LightGBM's native log level is per thread, and its network set-up logs before the
        # params reach it: lower it in each worker's task thread (one per worker here)
        workers = list(client.scheduler_info()["workers"])
        client.gather([client.submit(quiet, workers=[w], allow_other_workers=False, pure=False)
                       for w in workers])
        # each worker's threads are the worker's (one per worker in a LocalCluster)
        options = {k: v for k, v in self._lightgbm_params().items() if k != "n_jobs"}
        fitted = DaskLGBMClassifier(client=_PartsInOrder(client), **options).fit(
            X, y, categorical_feature=self._categorical())
        return self._keep(fitted.booster_, X.shape[1])

    def _keep(self, booster: Any, width: int) -> LightGBMClassifier:
        """Keep the booster as its text, and predict from that text parsed again, so a fitted
        model and its saved and loaded copy are the same model. The network addresses of a
        distributed fit (random ports) are blanked: the same model gives the same text."""
        text = re.sub(r"^\[(machines|local_listen_port): [^\]\n]*\]$", r"[\1: ]",
                      booster.model_to_string(), flags=re.M)
        self.booster_text_, self.classes_, self.n_features_in_ = text, np.array([0, 1]), width
        self._booster = None
        self.check_loaded()
        return self

    # --- loading and predicting ---------------------------------------------------------------

    def __getstate__(self) -> dict[str, Any]:
        """What skops stores: the parameters and the fitted text, never the parsed booster."""
        state = dict(super().__getstate__())
        state.pop("_booster", None)
        return state

    def check_loaded(self) -> None:
        """Check the state a model file gave this object, then parse its text with LightGBM;
        :class:`ModelTextError` names the first problem. Called before any prediction."""
        state = self.__dict__
        allowed = {*self._get_param_names(), *FITTED, "_booster", "_sklearn_version"}
        extra = sorted(set(state) - allowed)
        if extra:
            raise ModelTextError(f"holds an attribute {extra[0]!r} that it never has")
        if state.get("_booster") is not None and not isinstance(state["_booster"],
                                                                 _booster_type()):
            raise ModelTextError("holds a parsed booster, which it never saves")
        missing = [name for name in FITTED if name not in state]
        if missing:
            raise ModelTextError(f"lacks {missing[0]} (it was saved unfitted)")
        try:
            self._validate_params()
        except ValueError as exc:
            raise ModelTextError(f"has a parameter LightGBM would refuse ({exc})") from None
        width, classes = self.n_features_in_, self.classes_
        if not _is_int(width) or not 1 <= width <= 100_000:
            raise ModelTextError(f"declares {width!r} input features")
        if not (isinstance(classes, np.ndarray) and classes.dtype.kind == "i"
                and classes.tolist() == [0, 1]):
            raise ModelTextError("has classes other than [0, 1]")
        trees = check_text(self.booster_text_, width)
        import lightgbm

        try:
            booster = lightgbm.Booster(model_str=self.booster_text_)
        except lightgbm.basic.LightGBMError as exc:
            raise ModelTextError(f"is refused by LightGBM's parser ({exc})") from None
        if booster.num_trees() != trees or booster.num_feature() != width:
            raise ModelTextError("parses to another model than its text declares")
        self._booster = booster

    def _loaded(self) -> Any:
        if getattr(self, "_booster", None) is None:
            self.check_loaded()
        return self._booster

    def predict_proba(self, X: Any) -> np.ndarray:
        positive = self._loaded().predict(_matrix(X), num_threads=self.n_jobs)
        return np.column_stack([1.0 - positive, positive])

    def predict(self, X: Any) -> np.ndarray:
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(np.int64)


def _require_lightgbm() -> None:
    import importlib.util

    if importlib.util.find_spec("lightgbm") is None:
        raise IterateError("model.estimator: iterate.core.boosting.LightGBMClassifier needs "
                           "lightgbm, in the optional extra `dask`, which is not installed; "
                           "run `make setup-dask` (or `pip install -e .[dask]`)")


def _booster_type() -> type:
    import lightgbm

    return lightgbm.Booster


def quiet() -> None:
    """Send LightGBM's log lines (its native library's included) to a logger that drops
    information (the model's warnings reach Python's ``warnings`` regardless)."""
    import logging

    import lightgbm

    logger = logging.getLogger("iterate.lightgbm")
    logger.setLevel(logging.ERROR)
    lightgbm.register_logger(logger)
    # a one-row Dataset built with verbosity -1 sets this thread's native log level
    lightgbm.Dataset(np.zeros((1, 1)), label=[0], params={"verbosity": -1}).construct()


def check_text(text: Any, width: int) -> int:
    """The number of trees of ``text``, once it is known to be the text model LightGBM writes
    of a binary classifier on ``width`` features; :class:`ModelTextError` otherwise."""
    if not isinstance(text, str):
        raise ModelTextError(f"has a booster of type {type(text).__name__}, not LightGBM's text")
    if len(text) > MAX_TEXT_CHARS:
        raise ModelTextError(f"has a booster text of {len(text)} characters, more than the "
                             f"{MAX_TEXT_CHARS >> 20} Mi any model iterate makes can need")
    if not text.isascii() or re.search(r"[^\x20-\x7e\n]", text):
        raise ModelTextError("has a booster text with characters LightGBM never writes")
    head, sep, rest = text.partition("\n\n")
    sizes = _check_header(head, width)
    trees, end, tail = rest.partition("end of trees\n")
    if not sep or not end:
        raise ModelTextError("has a booster text without its trees section")
    starts = np.concatenate([[0], np.cumsum(sizes, dtype=np.int64)]).tolist()
    for i, start in enumerate(starts[:-1]):  # where LightGBM's parser will look for each tree
        if not trees.startswith(f"Tree={i}\n", start):
            raise ModelTextError(f"declares tree_sizes that do not match its tree {i}")
    if starts[-1] != len(trees):
        raise ModelTextError("declares tree_sizes that do not add up to its trees")
    for i, (start, stop) in enumerate(zip(starts, starts[1:], strict=False)):
        _check_tree(trees[start + len(f"Tree={i}\n"):stop], i, width)
    _check_tail(tail, width)
    return len(sizes)


def _check_header(head: str, width: int) -> list[int]:
    lines = head.split("\n")
    names = " ".join(f"Column_{i}" for i in range(width))
    want = ["tree", "version=v4", "num_class=1", "num_tree_per_iteration=1", "label_index=0",
            f"max_feature_idx={width - 1}", None, f"feature_names={names}", None, None]
    if len(lines) != len(want):
        raise ModelTextError(f"has a booster header of {len(lines)} lines, not {len(want)}")
    for line, wanted in zip(lines, want, strict=True):
        if wanted is not None and line != wanted:
            raise ModelTextError(f"has a booster header line {line[:60]!r}, not {wanted[:60]!r}")
    if not re.fullmatch(rf"objective=binary sigmoid:(?:{NUMBER})", lines[6]) or not (
            0 < float(lines[6].rpartition(":")[2]) < math.inf):  # inf: NaN at a raw score of 0
        raise ModelTextError(f"has a booster objective {lines[6][:60]!r}, not binary")
    infos = lines[8].removeprefix("feature_infos=").split(" ")
    if not lines[8].startswith("feature_infos=") or len(infos) != width or not all(
            FEATURE_INFO.fullmatch(info) for info in infos):
        raise ModelTextError("has booster feature_infos that are not one per input feature")
    sizes = lines[9].removeprefix("tree_sizes=").split(" ")
    if not lines[9].startswith("tree_sizes=") or len(sizes) > MAX_TREES or not all(
            re.fullmatch(r"[1-9]\d{0,9}", s) for s in sizes):
        raise ModelTextError("has booster tree_sizes that are not positive integers")
    return [int(s) for s in sizes]


def _check_tree(block: str, i: int, width: int) -> None:
    """One tree's ``key=value`` lines: LightGBM's keys in order, arrays of the lengths
    ``num_leaves`` implies, child and feature indices in range, categorical splits that point
    inside ``cat_boundaries`` and boundaries inside ``cat_threshold``."""
    def refuse(problem: str) -> ModelTextError:
        return ModelTextError(f"has a booster tree {i} whose {problem}")

    # LightGBM's parser reads a tree's lines up to a blank one (at most 22): without it, it
    # reads the next tree's first lines as this tree's (their num_cat, split_feature...), a tree
    # this check never saw (a segfault at predict), or past the end of the text
    body = block.rstrip("\n")
    if block != body + "\n\n\n":
        raise refuse("lines do not end in the blank lines LightGBM writes after a tree")
    lines = body.split("\n")
    pairs = [line.partition("=") for line in lines]
    keys = tuple(key for key, _, _ in pairs)
    values = {key: value for key, _, value in pairs}
    if len(values) != len(pairs) or any(not sep for _, sep, _ in pairs):
        raise refuse("lines are not distinct key=value pairs")
    if not INTEGER.fullmatch(values.get("num_leaves", "")):
        raise refuse("num_leaves is not an integer")
    leaves = int(values["num_leaves"])
    if not 1 <= leaves <= MAX_LEAVES:
        raise refuse(f"num_leaves {leaves} is out of range")
    with_cat = TREE_KEYS if values.get("num_cat", "0") != "0" else tuple(
        k for k in TREE_KEYS if not k.startswith("cat_"))
    if keys != with_cat:
        raise refuse(f"keys are {', '.join(keys)[:80]}, not LightGBM's")
    if values["is_linear"] != "0":
        raise refuse("is a linear tree, which this model never fits")
    if not FLOATS.fullmatch(values["shrinkage"]) or " " in values["shrinkage"]:
        raise refuse("shrinkage is not a number")
    if not FLOATS.fullmatch(values["leaf_value"]) or len(
            values["leaf_value"].split(" ")) != leaves:
        raise refuse("leaf_value is not one number per leaf")
    # an infinite leaf (inf, or 1e999 that LightGBM reads as inf) makes a NaN probability
    if not np.isfinite(np.array(values["leaf_value"].split(" "), dtype=np.float64)).all():
        raise refuse("leaf_value holds a number that is not finite")
    if leaves == 1:  # a stump: no splits, at most one weight and count
        if (values["num_cat"] != "0" or any(values[key] for key in NODE_KEYS)
                or not re.fullmatch(rf"(?:{NUMBER})?", values["leaf_weight"])
                or not re.fullmatch(r"\d{0,12}", values["leaf_count"])):
            raise refuse("one leaf holds splits")
        return
    for key in ("split_gain", "threshold", "leaf_weight", "internal_value", "internal_weight"):
        if not FLOATS.fullmatch(values[key]):
            raise refuse(f"{key} is not a list of numbers")
    ints = {}
    for key in ("split_feature", "decision_type", "left_child", "right_child", "leaf_count",
                "internal_count", "num_cat", *(("cat_boundaries", "cat_threshold")
                                               if "cat_boundaries" in values else ())):
        words = values[key].split(" ")
        if not all(INTEGER.fullmatch(w) for w in words):
            raise refuse(f"{key} is not a list of integers")
        ints[key] = np.array([int(w) for w in words], dtype=np.int64)
    nodes = leaves - 1
    for key, n in (("split_feature", nodes), ("split_gain", nodes), ("threshold", nodes),
                   ("decision_type", nodes), ("left_child", nodes), ("right_child", nodes),
                   ("leaf_weight", leaves), ("leaf_count", leaves), ("internal_value", nodes),
                   ("internal_weight", nodes), ("internal_count", nodes)):
        if len(values[key].split(" ")) != n:
            raise refuse(f"{key} does not hold {n} values")
    if ints["split_feature"].min() < 0 or ints["split_feature"].max() >= width:
        raise refuse("split_feature names a feature the model has not")
    children = np.concatenate([ints["left_child"], ints["right_child"]])
    internal, leaf = children[children >= 0], ~children[children < 0]
    if (sorted(internal.tolist()) != list(range(1, nodes))
            or sorted(leaf.tolist()) != list(range(leaves))):
        raise refuse("children do not make a tree (each node and leaf once, the root never)")
    decision = ints["decision_type"]
    if decision.min() < 0 or decision.max() > 15:
        raise refuse("decision_type is out of range")
    categorical = (decision & 1) == 1
    num_cat = int(ints["num_cat"][0])
    if len(ints["num_cat"]) != 1 or num_cat != int(categorical.sum()):
        raise refuse("num_cat is not its number of categorical splits")
    if num_cat:
        bounds, cats = ints["cat_boundaries"], ints["cat_threshold"]
        thresholds = np.array(values["threshold"].split(" "))[categorical]
        if (len(bounds) != num_cat + 1 or bounds[0] != 0 or np.any(np.diff(bounds) < 0)
                or bounds[-1] != len(cats) or cats.min() < 0 or cats.max() >= 2**32):
            raise refuse("cat_boundaries do not bound its cat_threshold")
        if sorted(int(t) if INTEGER.fullmatch(t) else -1 for t in thresholds) != list(
                range(num_cat)):
            raise refuse("categorical splits do not point at its categories")


def _check_tail(tail: str, width: int) -> None:
    """After the trees: the feature importances, the parameters, pandas_categorical null."""
    parts = tail.split("\n\n")
    if (len(parts) != 4 or not parts[0].startswith("\nfeature_importances:")
            or not parts[1].startswith("parameters:\n") or parts[2] != "end of parameters"
            or parts[3] != "pandas_categorical:null\n"):
        raise ModelTextError("has a booster text whose end is not LightGBM's")
    for line in parts[0].split("\n")[2:]:
        name, sep, count = line.partition("=")
        if not (sep and re.fullmatch(r"Column_\d{1,6}", name) and int(name[7:]) < width
                and re.fullmatch(r"\d{1,12}", count)):
            raise ModelTextError(f"has a feature importance line {line[:60]!r}")
    for line in parts[1].split("\n")[1:]:
        if not PARAMETER.fullmatch(line):
            raise ModelTextError(f"has a booster parameter line {line[:60]!r}")


def _matrix(X: Any) -> Any:
    """A plain matrix (features named Column_0... in the text model, as it is checked)."""
    from scipy import sparse

    return X if sparse.issparse(X) else np.asarray(X)


def _labels(y: Any) -> np.ndarray:
    y = np.asarray(y)
    if not np.isin(y, (0, 1)).all():
        raise ValueError("LightGBMClassifier takes 0/1 labels")
    if np.unique(y).size < 2:  # lightgbm would code a lone class 1 as 0: P(1) near 0 for all
        raise ValueError("LightGBMClassifier needs rows of both classes")
    return y.astype(np.int64)


def _is_int(value: Any) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return (isinstance(value, int | float | np.integer | np.floating)
            and not isinstance(value, bool) and np.isfinite(value))
