"""The analytics metrics take bounded labels only: shipped presets, ``custom`` or ``other``."""

from __future__ import annotations

from prometheus_client import REGISTRY

from schemas.examples import EXAMPLE_AGGREGATE, USER_ID
from services.analytics.processor import expose, preset_label


def minute(dimension: str, value: str) -> float | None:
    labels = {"dimension": dimension, "value": value, "measure": "jobs_submitted"}
    return REGISTRY.get_sample_value("vidpipe_analytics_minute", labels)


def test_preset_labels_are_bounded() -> None:
    assert preset_label("h264-720p") == "h264-720p"
    assert preset_label("custom") == "custom"
    assert preset_label("made-up-" + USER_ID) == "other"


def test_only_windows_of_known_presets_reach_the_gauge() -> None:
    expose(EXAMPLE_AGGREGATE)
    assert minute("preset", EXAMPLE_AGGREGATE.dimension_value) == EXAMPLE_AGGREGATE.jobs_submitted
    expose(EXAMPLE_AGGREGATE.model_copy(update={"dimension": "user", "dimension_value": USER_ID}))
    assert minute("user", USER_ID) is None
    expose(EXAMPLE_AGGREGATE.model_copy(update={"dimension_value": "p7"}))
    assert minute("preset", "p7") is None and minute("preset", "other") is None
