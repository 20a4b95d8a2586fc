"""The checked-in JSON Schemas and AsyncAPI document match the Python types and are usable."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from schemas import events
from schemas.events import EVENTS_BY_TYPE
from schemas.examples import EXAMPLE_AGGREGATE, EXAMPLE_EVENTS, LEGACY_EXAMPLES
from schemas.generate import (
    ASYNCAPI_PATH,
    ROOT,
    documented_models,
    drifted,
    render_all,
    render_json_schema,
    schema_path,
    write_all,
)
from schemas.topics import CATALOGUE

REGENERATE = "out of date: run `python -m schemas.generate`"


def example_payload(event_type: str, version: int) -> dict[str, Any]:
    if event_type == EXAMPLE_AGGREGATE.type:
        return EXAMPLE_AGGREGATE.model_dump(mode="json")
    cls = EVENTS_BY_TYPE[event_type]
    if version == cls.schema_version:
        return EXAMPLE_EVENTS[cls].model_dump(mode="json")
    return LEGACY_EXAMPLES[event_type, version]


def checked_in_schema(event_type: str, version: int) -> dict[str, Any]:
    text = (ROOT / schema_path(event_type, version)).read_text(encoding="utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def asyncapi_document() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / ASYNCAPI_PATH).read_text(encoding="utf-8"))
    return loaded


def test_checked_in_files_equal_the_generated_ones() -> None:
    stale = [
        path
        for path, text in render_all().items()
        if not (ROOT / path).is_file() or (ROOT / path).read_text(encoding="utf-8") != text
    ]
    assert stale == [], REGENERATE
    assert drifted() == [], REGENERATE  # also catches schemas no type produces any more


def test_rendering_is_deterministic() -> None:
    assert render_all() == render_all()


@pytest.mark.parametrize(("event_type", "version", "model"), documented_models())
def test_checked_in_schema_lists_exactly_the_model_fields(
    event_type: str, version: int, model: type[Any]
) -> None:
    schema = checked_in_schema(event_type, version)
    assert list(schema["properties"]) == list(model.model_fields), REGENERATE


@pytest.mark.parametrize(("event_type", "version", "model"), documented_models())
def test_schema_validates_an_example(event_type: str, version: int, model: type[Any]) -> None:
    schema = checked_in_schema(event_type, version)
    jsonschema.Draft202012Validator.check_schema(schema)
    payload = example_payload(event_type, version)
    jsonschema.Draft202012Validator(schema).validate(payload)
    # A field the code sends but the checked-in schema lacks is an error, not ignored.
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(schema).validate({**payload, "added_field": 1})


def test_adding_a_field_changes_the_rendered_schema() -> None:
    class JobStarted(events.JobStarted):
        """A transcoder worker claimed the job and began an attempt."""

        gpu: bool = False

    checked_in = (ROOT / schema_path(JobStarted.type, 1)).read_text(encoding="utf-8")
    assert render_json_schema(JobStarted.type, 1, events.JobStarted) == checked_in
    assert render_json_schema(JobStarted.type, 1, JobStarted) != checked_in


def test_drift_is_reported_per_file(tmp_path: Path) -> None:
    write_all(tmp_path)
    assert drifted(tmp_path) == []
    started = tmp_path / schema_path("video.job.started", 1)
    started.write_text(started.read_text(encoding="utf-8") + " ", encoding="utf-8")
    (tmp_path / ASYNCAPI_PATH).unlink()
    (tmp_path / schema_path("video.job.gone", 1)).write_text("{}", encoding="utf-8")
    assert drifted(tmp_path) == [
        schema_path("video.job.started", 1),
        ASYNCAPI_PATH,
        schema_path("video.job.gone", 1),
    ]
    write_all(tmp_path)
    assert drifted(tmp_path) == []


def test_asyncapi_has_every_topic_and_event() -> None:
    document = asyncapi_document()
    assert document["asyncapi"] == "3.0.0"
    channels = {channel["address"]: channel for channel in document["channels"].values()}
    assert set(channels) == {topic.name for topic in CATALOGUE}
    for topic in CATALOGUE:
        binding = channels[topic.name]["bindings"]["kafka"]
        assert binding["partitions"] == topic.partitions
        assert (
            ",".join(binding["topicConfiguration"]["cleanup.policy"])
            == (topic.config["cleanup.policy"])
        )
    names = {message["name"] for message in document["components"]["messages"].values()}
    assert set(EVENTS_BY_TYPE) <= names
    for cls in EVENTS_BY_TYPE.values():
        on_channel = [
            ref["$ref"].rsplit("/", 1)[1]
            for channel in document["channels"].values()
            if channel["address"] == cls.topic
            for ref in channel["messages"].values()
        ]
        assert cls.__name__ in on_channel


def resolve(document: dict[str, Any], ref: str) -> Any:
    node: Any = document
    for part in ref.removeprefix("#/").split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [ref for value in node.values() for ref in refs(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in refs(value)]
    return []


def test_asyncapi_references_resolve() -> None:
    document = asyncapi_document()
    for ref in refs(document):
        assert ref.startswith("#/"), ref
        resolve(document, ref)
    for operation_id, operation in document["operations"].items():
        channel = operation["channel"]["$ref"]
        for message in operation["messages"]:
            assert message["$ref"].startswith(channel + "/messages/"), operation_id


def test_asyncapi_examples_validate() -> None:
    document = asyncapi_document()
    components = document["components"]
    for message_id, message in components["messages"].items():
        for example in message.get("examples", []):
            # Refs are document-relative, so carry the components along as the schema's root.
            for part in ("headers", "payload"):
                schema = {**message[part], "components": components}
                validator = jsonschema.Draft202012Validator(schema)
                errors = [error.message for error in validator.iter_errors(example[part])]
                assert errors == [], f"{message_id} example {part}: {errors}"
