"""Propensity scoring UDFs: vectorized (pandas over Arrow batches) and row-at-a-time.

The job calls the pandas UDF on its candidate decisions, a small stream, never per event. Both
UDFs take the anchor event's profile (JSON text), type and time, compute the features with
``udfs.features.feature_vector`` and return ``ROW(score, <one field per feature>)``. The pandas
UDF calls the model once per Arrow batch; the row UDF once per candidate, and exists as the
benchmark's baseline (``tests/perf/scoring_bench.py``). Their results are identical.

The model's bytes travel inside the UDF object, so a cluster's TaskManagers need no access to
the model file; each Python worker loads the model once, in ``open``.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import numpy as np

from udfs.features import FEATURE_NAMES, feature_vector
from udfs.model import PropensityModel, load_model_bytes

if TYPE_CHECKING:
    import pandas as pd
    from pyflink.table.udf import UserDefinedScalarFunctionWrapper


PROPENSITY_FUNCTION = "jt_propensity"
"""The scoring UDF's name in the job's SQL."""


def result_type() -> Any:
    """Return the UDFs' result type: ROW<score DOUBLE, <feature> DOUBLE, ...>."""
    from pyflink.table import DataTypes

    return DataTypes.ROW(
        [DataTypes.FIELD("score", DataTypes.DOUBLE())]
        + [DataTypes.FIELD(name, DataTypes.DOUBLE()) for name in FEATURE_NAMES]
    )


def score_rows(
    model: PropensityModel, profiles: list[str], event_types: list[str], times_ms: list[int]
) -> np.ndarray[Any, Any]:
    """Return a matrix: per candidate, its score then its features."""
    features = np.array(
        [
            feature_vector(json.loads(profile), event_type, int(ts_ms))
            for profile, event_type, ts_ms in zip(profiles, event_types, times_ms, strict=True)
        ],
        dtype=np.float64,
    ).reshape(len(profiles), len(FEATURE_NAMES))
    scores = model.predict(features) if len(profiles) else np.zeros(0)
    return np.column_stack([scores, features])


def _column(values: Any, rows: int) -> list[Any]:
    """Return a UDF argument as a list of ``rows`` values.

    The planner passes an argument it proved constant (``event_type`` of a rule on one event
    type) as a scalar, not a Series.
    """
    return [values] * rows if _scalar(values) else list(values)


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | np.generic)


def _scalar_function_base() -> type:
    from pyflink.table.udf import ScalarFunction

    base: type = ScalarFunction
    return base


class _Loaded:
    """Holds the model bytes; loads the model once per Python worker."""

    def __init__(self, model_bytes: bytes) -> None:
        self._model_bytes = model_bytes
        self._model: PropensityModel | None = None

    def open(self, function_context: Any) -> None:
        self._model = load_model_bytes(self._model_bytes, "the job's model")

    def model(self) -> PropensityModel:
        if self._model is None:  # PyFlink calls open() first; this covers direct use in tests
            self._model = load_model_bytes(self._model_bytes, "the job's model")
        return self._model


def pandas_propensity(model_bytes: bytes) -> UserDefinedScalarFunctionWrapper:
    """Return the vectorized scoring UDF for a model file's bytes."""
    from pyflink.table.udf import udf

    base = _scalar_function_base()

    class PandasPropensity(_Loaded, base):  # type: ignore[valid-type,misc]
        def eval(
            self, profile: pd.Series[str], event_type: pd.Series[str], ts_ms: pd.Series[int]
        ) -> pd.DataFrame:
            import pandas as pd

            rows = max(len(v) for v in (profile, event_type, ts_ms) if not _scalar(v))
            matrix = score_rows(
                self.model(),
                _column(profile, rows),
                _column(event_type, rows),
                _column(ts_ms, rows),
            )
            return pd.DataFrame(matrix, columns=["score", *FEATURE_NAMES])

    return udf(PandasPropensity(model_bytes), result_type=result_type(), func_type="pandas")


def row_propensity(model_bytes: bytes) -> UserDefinedScalarFunctionWrapper:
    """Return the row-at-a-time scoring UDF (the benchmark's baseline) for a model's bytes."""
    from pyflink.common import Row
    from pyflink.table.udf import udf

    base = _scalar_function_base()

    class RowPropensity(_Loaded, base):  # type: ignore[valid-type,misc]
        def eval(self, profile: str, event_type: str, ts_ms: int) -> Row:
            [values] = score_rows(self.model(), [profile], [event_type], [ts_ms]).tolist()
            return Row(*values)

    return udf(RowPropensity(model_bytes), result_type=result_type(), func_type="general")
