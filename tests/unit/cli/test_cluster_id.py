"""The embedded broker's cluster ids are ones Kafka's format command accepts."""

from __future__ import annotations

import base64

from services.cli.broker import new_cluster_id


def test_cluster_ids_are_16_random_bytes_never_read_as_an_option() -> None:
    ids = [new_cluster_id() for _ in range(5000)]  # one in 64 started with "-" before the fix
    assert not any(found.startswith("-") for found in ids)
    assert len(set(ids)) == len(ids)
    assert all(len(base64.urlsafe_b64decode(found + "==")) == 16 for found in ids)
