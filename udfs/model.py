"""Propensity model artifacts: one file, versioned by the hash of its content.

The file is a JSON header line, then a pickled scikit-learn classifier::

    {"format": "journey-triggers-model", "format_version": 1, "payload_sha256": "...",
     "feature_version": "...", "feature_names": [...], "trained": {...}}  (newline)  <pickle bytes>

The model version is the first 12 hex digits of SHA-256 over the whole file, so the same
artifact has the same version everywhere and any change gives a new one. Loading checks the
header, the payload's hash (a truncated or corrupted file is refused, never half-read) and the
feature version (a model trained on other features is refused); every problem is a
``ModelError`` naming the file. Pickles run code when loaded: load only models you trained.
"""

from __future__ import annotations

import hashlib
import json
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from journey_triggers.errors import JourneyTriggersError
from udfs.features import FEATURE_NAMES, FEATURE_VERSION

FORMAT = "journey-triggers-model"
FORMAT_VERSION = 1


class ModelError(JourneyTriggersError):
    """A model file is missing, corrupt, or does not fit this version's features."""


@dataclass(frozen=True)
class PropensityModel:
    """A trained classifier with its version; ``predict`` gives purchase propensity."""

    classifier: Any
    version: str
    header: dict[str, Any]

    def predict(self, features: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        """Return P(purchase) for each row of ``features`` (columns in FEATURE_NAMES order)."""
        result: np.ndarray[Any, Any] = self.classifier.predict_proba(features)[:, 1]
        return result


def model_version(content: bytes) -> str:
    """Return the version of a model file's content."""
    return hashlib.sha256(content).hexdigest()[:12]


def dump_model(classifier: Any, trained: dict[str, Any]) -> bytes:
    """Return the bytes of a model file for ``classifier``; ``trained`` describes its training."""
    payload = pickle.dumps(classifier, protocol=pickle.HIGHEST_PROTOCOL)
    header = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "payload_sha256": hashlib.sha256(payload).hexdigest(),
        "feature_version": FEATURE_VERSION,
        "feature_names": list(FEATURE_NAMES),
        "trained": trained,
    }
    return json.dumps(header, sort_keys=True).encode() + b"\n" + payload


def load_model_bytes(content: bytes, origin: str = "<bytes>") -> PropensityModel:
    """Return the model in ``content``; raise ModelError, naming ``origin``, if it is unusable."""
    first, newline, payload = content.partition(b"\n")
    try:
        header = json.loads(first) if newline else None
    except ValueError:
        header = None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        msg = f"{origin}: not a journey-triggers model file (`journey-triggers train` makes one)"
        raise ModelError(msg)
    if header.get("format_version") != FORMAT_VERSION:
        msg = f"{origin}: model format version {header.get('format_version')!r} is not supported"
        raise ModelError(msg)
    if hashlib.sha256(payload).hexdigest() != header.get("payload_sha256"):
        msg = f"{origin}: the model file is corrupt or truncated (its content hash does not match)"
        raise ModelError(msg)
    if header.get("feature_version") != FEATURE_VERSION:
        msg = (
            f"{origin}: the model was trained on features {header.get('feature_version')!r}, "
            f"this version computes {FEATURE_VERSION!r}: retrain it with `journey-triggers train`"
        )
        raise ModelError(msg)
    try:
        classifier = pickle.loads(payload)  # noqa: S301 - see the module docstring
    except Exception as err:  # noqa: BLE001 - any unpickling failure means the same thing
        msg = f"{origin}: the model cannot be loaded: {err}"
        raise ModelError(msg) from err
    if not hasattr(classifier, "predict_proba"):
        msg = f"{origin}: the model has no predict_proba"
        raise ModelError(msg)
    return PropensityModel(classifier=classifier, version=model_version(content), header=header)


def read_model(path: str | Path) -> tuple[bytes, PropensityModel]:
    """Return a model file's bytes and the model; raise ModelError if it is unusable."""
    try:
        content = Path(path).read_bytes()
    except OSError as err:
        msg = f"{path}: cannot read the model file: {err.strerror or err}"
        raise ModelError(msg) from err
    return content, load_model_bytes(content, str(path))
