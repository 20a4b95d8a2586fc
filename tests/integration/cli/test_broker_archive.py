"""The embedded broker starts from the class-data archive ``make`` writes beside the jars."""

from __future__ import annotations

from pathlib import Path

from services.cli.broker import EmbeddedBroker, class_archive, java_command
from services.core.runtime.process import free_port
from tests.support.up import READY_DEADLINE_S


def test_a_started_broker_maps_the_class_archive(tmp_path: Path) -> None:
    archive = class_archive(java_command()[0])
    assert archive.is_file(), (
        f"no {archive}: make writes it (python -m services.cli.broker --class-archive)"
    )
    broker = EmbeddedBroker(free_port(), tmp_path / "kafka")
    try:
        broker.start(timeout_s=READY_DEADLINE_S)
        # An archive the JVM refused (another JVM, changed jars) is silently not mapped.
        assert str(archive) in Path(f"/proc/{broker.pid}/maps").read_text()
    finally:
        broker.stop()


def test_another_java_finds_no_archive(tmp_path: Path) -> None:
    java = Path(java_command()[0]).resolve()
    twin = tmp_path / "java"
    twin.symlink_to(java)  # the same binary elsewhere resolves to the same file
    assert class_archive(str(twin)) == class_archive(str(java))
    copy = tmp_path / "bin" / "java"
    copy.parent.mkdir()
    copy.write_bytes(java.read_bytes())
    assert class_archive(str(copy)) != class_archive(str(java))
