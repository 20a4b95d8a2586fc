"""The embedded Kafka broker: Apache Kafka in KRaft mode, one node, its log on disk.

The jars come from Maven Central at install time (``make``, through ``infra/kafka/pom.xml``)
into a cache outside the repository; this module only runs them with the machine's Java.
The storage is formatted once, on first start; later starts find their log where it was.

``make`` also records a class-data archive (AppCDS) of a broker's start beside the jars
(``python -m services.cli.broker --class-archive``): later JVMs map those classes instead of
loading and verifying them again, which takes seconds off every start.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import fcntl
import hashlib
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from string import Template
from typing import IO

from services.core.runtime.declare import Env, Setting, path
from services.core.runtime.process import die_with_parent, free_port

KAFKA_VERSION = "4.4.0"  # the same as <kafka.version> in infra/kafka/pom.xml
CONFIG_DIR = Path(__file__).resolve().parent / "kafka_config"
# A bounded heap; serial GC and the C1 compiler alone start a small broker fastest.
JVM_FLAGS = (
    "-Xms64m",
    "-Xmx512m",
    "-XX:+UseSerialGC",
    "-XX:TieredStopAtLevel=1",
    "-XX:-UsePerfData",
    "-Xshare:auto",
    "-Djava.awt.headless=true",
)
STOP_GRACE_S = 30.0
PORT_ATTEMPTS = 3
log = logging.getLogger(__name__)


class KafkaNotInstalled(RuntimeError):
    """Java or the Kafka jars are missing; the message names what to install."""


class BrokerPortTaken(RuntimeError):
    """Another socket took a port of the broker before the broker could bind it."""


class BrokerStartAborted(RuntimeError):
    """``abort()`` was called while the broker was starting; it is stopped."""


def listens(pid: int, port: int) -> bool:
    """Whether process ``pid`` itself has a listening TCP socket on ``port`` (Linux ``/proc``)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table) as lines:
            for line in list(lines)[1:]:
                fields = line.split()  # local address "ADDR:PORT" in hex, state 0A = LISTEN
                if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                    inodes.add(f"socket:[{fields[9]}]")
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return False
    for fd in fds:
        with contextlib.suppress(OSError):
            if os.readlink(f"/proc/{pid}/fd/{fd}") in inodes:
                return True
    return False


def _default_libs(env: Env) -> str:
    cache = Path(env.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return str(cache / "vidpipe" / f"kafka-{KAFKA_VERSION}" / "libs")


KAFKA_LIBS = Setting(
    "VIDPIPE_KAFKA_LIBS",
    path(),
    _default_libs,
    "where the embedded broker's jars are (`make` puts them there)",
    "up",
    "kafka_libs",
    shown_default="`~/.cache/vidpipe/kafka-<version>/libs` (`$XDG_CACHE_HOME` respected)",
)
DECLARED = (KAFKA_LIBS,)


def kafka_libs() -> Path:
    """Where ``make`` puts the Kafka jars (``VIDPIPE_KAFKA_LIBS`` overrides it)."""
    return KAFKA_LIBS.value(os.environ)


def class_archive(java: str) -> Path:
    """Where the broker's class-data archive for this ``java`` binary lives (beside the jars).

    An archive only fits the JVM that wrote it, so its name carries that JVM's path and mtime;
    another ``java`` (``JAVA_HOME``) simply finds none."""
    real = Path(java).resolve()
    stamp = f"{real}:{real.stat().st_mtime_ns}".encode()
    return kafka_libs().parent / f"classes-{hashlib.sha256(stamp).hexdigest()[:12]}.jsa"


def java_command(archive_to: Path | None = None) -> list[str]:
    """``java … -cp <jars>``, or KafkaNotInstalled naming what is missing.

    Uses the class-data archive when ``make`` has written one; with ``archive_to``, the JVM
    writes a new archive there when it exits instead."""
    java_home = os.environ.get("JAVA_HOME")
    java = shutil.which("java", path=f"{java_home}/bin") if java_home else None
    java = java or shutil.which("java")
    if java is None:
        raise KafkaNotInstalled(
            "the embedded Kafka broker needs Java 17 or newer: install it "
            "(Debian: apt-get install openjdk-17-jre-headless)"
        )
    libs = kafka_libs()
    if not (libs / f"kafka_2.13-{KAFKA_VERSION}.jar").is_file():
        raise KafkaNotInstalled(
            f"the Kafka {KAFKA_VERSION} jars are not in {libs}: run `make kafka` "
            "(it needs Maven: apt-get install maven)"
        )
    log4j = CONFIG_DIR / "log4j2.properties"
    archive = class_archive(java)
    if archive_to is not None:
        sharing = [f"-XX:ArchiveClassesAtExit={archive_to}"]
    elif archive.is_file():
        sharing = [f"-XX:SharedArchiveFile={archive}"]  # -Xshare:auto: unusable ⇒ ignored
    else:
        sharing = []
    return [
        java,
        *JVM_FLAGS,
        *sharing,
        f"-Dlog4j2.configurationFile={log4j}",
        "-cp",
        f"{libs}/*",
    ]


def new_cluster_id() -> str:
    """A KRaft cluster id: a random UUID in URL-safe base64 without padding, as Kafka writes.

    Never one starting with ``-``: the format command would read it as an option and exit 1
    (Kafka's own ``Uuid.randomUuid`` draws again for the same reason), one start in 64."""
    while True:
        found = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not found.startswith("-"):
            return found


def log_dir_in_use(log_dir: Path) -> bool:
    """Whether a broker holds ``log_dir`` (Kafka takes a POSIX lock on its ``.lock`` file)."""
    lock = log_dir / ".lock"
    if not lock.exists():
        return False
    with lock.open("a") as handle:
        try:
            fcntl.lockf(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return True
        fcntl.lockf(handle, fcntl.LOCK_UN)
    return False


class EmbeddedBroker:
    """Apache Kafka (KRaft, broker and controller in one JVM) on ``host``, log in ``data_dir``."""

    def __init__(
        self,
        port: int,
        data_dir: Path,
        *,
        log_path: Path | None = None,
        host: str = "127.0.0.1",
        controller_port: int | None = None,
        retry_ports: bool = False,
        archive_to: Path | None = None,
        scram_user: tuple[str, str] | None = None,
    ) -> None:
        """``scram_user`` (name, password): the client listener asks for SASL (SCRAM-SHA-512)
        and knows that one user, created when the storage is formatted (tests of SASL)."""
        self.port = port
        self.scram_user = scram_user
        self.archive_to = archive_to
        self.data_dir = data_dir
        self.log_path = log_path or data_dir / "broker.log"
        self.host = host
        self.controller_port = controller_port
        self.retry_ports = retry_ports
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._abort = threading.Event()

    @property
    def bootstrap_servers(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def log_dir(self) -> Path:
        """Kafka's own directory: the topics' segments and the KRaft metadata log."""
        return self.data_dir / "log"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def start(self, timeout_s: float = 60.0) -> str:
        """Start the broker (formatting its storage the first time); return its address.

        Returns once the broker process itself listens on its port; callers then wait for a
        metadata answer (``services.core.kafka.clients.wait_for_broker``). With ``retry_ports``,
        a port taken before the broker could bind it is replaced by another free one (a few
        times).
        ``abort()`` from another thread makes it stop the broker and raise BrokerStartAborted.
        """
        deadline = time.monotonic() + timeout_s
        for attempt in range(PORT_ATTEMPTS if self.retry_ports else 1):
            try:
                return self._start_once(deadline)
            except BrokerPortTaken as exc:
                if not self.retry_ports or attempt == PORT_ATTEMPTS - 1:
                    raise
                self.port, self.controller_port = free_port(self.host), None
                log.warning("%s; retrying on port %d", exc, self.port)
        raise AssertionError("unreachable")

    def abort(self) -> None:
        """Make a ``start()`` running in another thread give up (SIGTERM during start-up)."""
        self._abort.set()

    def _start_once(self, deadline: float) -> str:
        command = java_command()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self._log or self.log_path.open("ab")
        log_start = self._log.tell()
        # A broker killed with its parent gets SIGTERM and may still be flushing its log.
        while log_dir_in_use(self.log_dir):
            self._check(deadline, f"another Kafka broker holds {self.log_dir}")
            time.sleep(0.1)
        config = self._write_config(self.controller_port or free_port(self.host))
        if not (self.log_dir / "meta.properties").exists():
            self._format(command, config, deadline)
        if self.archive_to is not None:
            command = java_command(self.archive_to)
        self._proc = subprocess.Popen(
            [*command, "kafka.Kafka", str(config)],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C reaches `up`, which stops the services first
            preexec_fn=die_with_parent,
        )
        while not listens(self._proc.pid, self.port):  # not just anyone on that port
            if self._proc.poll() is not None:
                self._exited(self._proc.returncode, log_start)
            self._check(deadline, f"the Kafka broker did not listen on port {self.port} in time")
            time.sleep(0.05)
        return self.bootstrap_servers

    def _check(self, deadline: float, timeout_message: str) -> None:
        """Raise (broker stopped) when aborted or past ``deadline``."""
        if self._abort.is_set():
            self.stop()
            raise BrokerStartAborted("the Kafka broker's start was aborted")
        if time.monotonic() > deadline:
            self.stop()
            raise RuntimeError(timeout_message)

    def _exited(self, code: int, log_start: int) -> None:
        self.stop()
        with self.log_path.open("rb") as handle:
            handle.seek(log_start)
            said = handle.read().decode(errors="replace")
        if "Address already in use" in said:
            raise BrokerPortTaken(
                f"a port of the Kafka broker ({self.port} or its controller's) was taken"
            )
        raise RuntimeError(f"the Kafka broker exited with code {code}; see {self.log_path}")

    def _write_config(self, controller_port: int) -> Path:
        template = Template((CONFIG_DIR / "server.properties").read_text())
        text = template.substitute(
            host=self.host,
            port=self.port,
            controller_port=controller_port,
            log_dir=self.log_dir,
        )
        if self.scram_user is not None:
            text += self._sasl_config(controller_port)
        path = self.data_dir / "server.properties"
        path.write_text(text)
        return path

    def _sasl_config(self, controller_port: int) -> str:
        """Properties that replace the PLAINTEXT client listener by a SASL one (the later
        value of a key wins); the controller's listener stays PLAINTEXT on loopback."""
        assert self.scram_user is not None
        name, password = self.scram_user
        login = "org.apache.kafka.common.security.scram.ScramLoginModule"
        return (
            "\n# SASL (SCRAM-SHA-512) on the client listener\n"
            f"listeners=SASL_PLAINTEXT://{self.host}:{self.port},"
            f"CONTROLLER://{self.host}:{controller_port}\n"
            f"advertised.listeners=SASL_PLAINTEXT://{self.host}:{self.port}\n"
            "listener.security.protocol.map=SASL_PLAINTEXT:SASL_PLAINTEXT,CONTROLLER:PLAINTEXT\n"
            "inter.broker.listener.name=SASL_PLAINTEXT\n"
            "sasl.enabled.mechanisms=SCRAM-SHA-512\n"
            "sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512\n"
            "listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config="
            f'{login} required username="{name}" password="{password}";\n'
        )

    def _format(self, command: list[str], config: Path, deadline: float) -> None:
        """``kafka-storage format`` with a new cluster id (the voters come from the config)."""
        args = ["format", "--ignore-formatted", "-t", new_cluster_id(), "-c", str(config)]
        if self.scram_user is not None:  # the SCRAM user lives in the cluster's metadata
            name, password = self.scram_user
            args += ["--add-scram", f"SCRAM-SHA-512=[name={name},password={password}]"]
        done = subprocess.run(
            [*command, "kafka.tools.StorageTool", *args],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            timeout=max(1.0, deadline - time.monotonic()),
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(
                f"formatting the Kafka storage in {self.log_dir} failed "
                f"(code {done.returncode}); see {self.log_path}"
            )

    def stop(self) -> None:
        """SIGTERM (Kafka's clean shutdown), SIGKILL if it has not ended in time."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc = None
        if self._log is not None:
            with contextlib.suppress(OSError):
                self._log.close()
            self._log = None


async def _exercise(bootstrap: str) -> None:
    """What a vidpipe stack asks of a new broker: topics, a producer, a consumer group."""
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    from schemas.topics import JOBS
    from services.core.kafka.clients import ensure_topics, wait_for_broker

    await wait_for_broker(bootstrap, timeout_s=120.0)
    await ensure_topics(bootstrap)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        await producer.send_and_wait(JOBS.name, b"{}", key=b"warm-up")
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id="warm-up", auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        consumer.subscribe([JOBS.name])
        while not await consumer.getmany(timeout_ms=1000):
            pass
        await consumer.commit()
    finally:
        await consumer.stop()


def make_class_archive() -> Path:
    """Start a broker once in a scratch directory and keep the classes it loaded (AppCDS)."""
    target = class_archive(java_command()[0])
    if target.is_file():
        return target
    partial = target.with_suffix(".partial")
    with tempfile.TemporaryDirectory(prefix="vidpipe-archive-") as scratch:
        broker = EmbeddedBroker(free_port(), Path(scratch), archive_to=partial)
        try:
            asyncio.run(_exercise(broker.start(timeout_s=180.0)))
        finally:
            broker.stop()  # the JVM writes the archive as it exits
    if not partial.is_file():
        raise RuntimeError(f"the JVM wrote no class-data archive; see the log in {scratch}")
    os.replace(partial, target)
    return target


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="The embedded Kafka broker's set-up steps.")
    parser.add_argument(
        "--class-archive",
        action="store_true",
        help="write the class-data archive that makes later broker starts faster",
    )
    if parser.parse_args().class_archive:
        logging.getLogger("aiokafka").setLevel(logging.CRITICAL)  # a new broker's retries
        started = time.monotonic()
        made = make_class_archive()
        print(
            f"Kafka class-data archive: {made} ({made.stat().st_size / 2**20:.0f} MiB, "
            f"{time.monotonic() - started:.0f} s)"
        )
    sys.exit(0)
