"""The simulator's words, read from ``corpus.yaml`` beside this module: landmarks,
report texts per category, people's names, 数字城管 statuses, sensor alarm ranges,
CAP alert templates and what departments write when they resolve a case.

They are data, not code, so they can be read and extended without touching the
generators; all of it is synthetic. :func:`corpus` reads the file once per process,
on first use (nothing is read at import).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

CORPUS_PATH = Path(__file__).with_name("corpus.yaml")

SensorProfile = tuple[float, str, float, float]  # threshold, unit, lowest and highest alarm


@dataclass(frozen=True)
class CapTemplate:
    """One kind of CAP 1.2 alert; ``headline`` has an ``{area}`` placeholder."""

    event: str
    categories: tuple[str, ...]
    urgency: str
    severity: str
    certainty: str
    headline: str
    description: str
    instruction: str


@dataclass(frozen=True)
class Corpus:
    landmarks: tuple[str, ...]
    report_texts: Mapping[str, tuple[str, ...]]  # per category; {place}
    generic_texts: tuple[str, ...]  # other categories; {place}, {name}
    resolve_notes: Mapping[str, str]  # per category
    category_weights: Mapping[str, float]  # how often a category comes up (others: 3)
    surnames: str  # one character each
    given_names: tuple[str, ...]
    citymgmt_statuses: tuple[str, ...]  # the first is a new case's
    sensor_profiles: Mapping[str, SensorProfile]  # per metric
    cap_templates: tuple[CapTemplate, ...]


@functools.cache
def corpus() -> Corpus:
    """The corpus of ``corpus.yaml``, read once per process."""
    return load_corpus(CORPUS_PATH)


def load_corpus(path: Path) -> Corpus:
    doc: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return Corpus(
        landmarks=tuple(doc["landmarks"]),
        report_texts={k: tuple(v) for k, v in doc["report_texts"].items()},
        generic_texts=tuple(doc["generic_texts"]),
        resolve_notes=dict(doc["resolve_notes"]),
        category_weights={k: float(v) for k, v in doc["category_weights"].items()},
        surnames=str(doc["surnames"]),
        given_names=tuple(doc["given_names"]),
        citymgmt_statuses=tuple(doc["citymgmt_statuses"]),
        sensor_profiles={
            metric: (float(p["threshold"]), str(p["unit"]), float(p["low"]), float(p["high"]))
            for metric, p in doc["sensor_profiles"].items()
        },
        cap_templates=tuple(
            CapTemplate(**{**t, "categories": tuple(t["categories"])}) for t in doc["cap_templates"]
        ),
    )
