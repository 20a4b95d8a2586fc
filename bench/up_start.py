"""`vidpipe up` start time, cold (fresh data dir: initdb, Kafka format) and warm, and broker RSS.

    python bench/up_start.py [--warm 2]

Starts `vidpipe up` on one fresh data dir, waits for "vidpipe is up", reads the broker's RSS
(the `java` child), stops it with SIGTERM, and starts it again ``--warm`` times.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time

import psutil


def once(env: dict[str, str], label: str) -> None:
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "services.cli", "up"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    kafka_s = 0.0
    for line in proc.stdout:
        if line.startswith("kafka "):
            kafka_s = time.monotonic() - started
        if "vidpipe is up" in line:
            break
    ready_s = time.monotonic() - started
    java = [c for c in psutil.Process(proc.pid).children() if "java" in c.name()]
    rss = java[0].memory_info().rss / 2**20 if java else float("nan")
    proc.send_signal(signal.SIGTERM)
    stopping = time.monotonic()
    proc.wait(60)
    print(
        f"{label}: kafka ready {kafka_s:5.1f} s, up ready {ready_s:5.1f} s, "
        f"broker RSS {rss:4.0f} MiB, stop {time.monotonic() - stopping:4.1f} s",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warm", type=int, default=2, help="warm starts after the cold one")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="vpm", dir="/tmp") as data_dir:
        drop = ("DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS", "KAFKA_TOPIC_PREFIX", "STORAGE_URL")
        env = {k: v for k, v in os.environ.items() if k not in drop}
        env.update(VIDPIPE_DATA_DIR=data_dir, PORT="0")
        once(env, "cold")
        for _ in range(args.warm):
            once(env, "warm")


if __name__ == "__main__":
    main()
