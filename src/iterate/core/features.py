"""The feature transformer, derived from the data contract.

It is fitted at a full refit and frozen afterwards: its categories and scales are part of that
model version's input contract, and incremental updates only touch the final estimator.
"""

from __future__ import annotations

from sklearn.compose import ColumnTransformer
from sklearn.impute import MissingIndicator, SimpleImputer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

from iterate.params import Contract

UNKNOWN = -1  # code of a category the fitted encoder has never seen (and of a missing one)


def numeric_and_categorical(contract: Contract) -> tuple[list[str], list[str]]:
    numeric = [n for n, c in contract.columns.items() if c.dtype in ("int", "float")]
    return numeric, contract.of_dtype("category")


def for_linear_model(contract: Contract) -> ColumnTransformer:
    """Impute and scale numbers, flag the missing values of nullable ones, one-hot encode
    categories (unseen ones encode as all-zero).

    The flags stay 0/1, never standardised: a value missing in 0.2% of the training rows would
    otherwise become z = 21 wherever it is missing (a batch without weather), and one such
    feature can pin every probability to 0 or 1.
    """
    numeric, categorical = numeric_and_categorical(contract)
    nullable = [n for n in numeric if contract.columns[n].nullable]
    return ColumnTransformer([
        ("numeric", make_pipeline(SimpleImputer(strategy="median", keep_empty_features=True),
                                  StandardScaler()), numeric),
        ("missing", MissingIndicator(features="all"), nullable),
        ("categorical", OneHotEncoder(handle_unknown="ignore", min_frequency=5), categorical),
    ])


def for_tree_model(contract: Contract) -> tuple[ColumnTransformer, list[int]]:
    """Pass numbers through (trees handle NaN), code categories as integers.

    Returns the transformer and the output positions of the categorical features.
    """
    numeric, categorical = numeric_and_categorical(contract)
    transformer = ColumnTransformer([
        ("numeric", "passthrough", numeric),
        ("categorical", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=UNKNOWN,
                                       encoded_missing_value=UNKNOWN), categorical),
    ])
    return transformer, list(range(len(numeric), len(numeric) + len(categorical)))
