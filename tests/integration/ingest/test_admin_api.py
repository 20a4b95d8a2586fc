"""The admin API over real HTTP, with a real projector and broker: the overview (read model,
projector offsets, the broker's group offsets and dead letters), users, disabling an account,
bulk retry of failed jobs; 403 for everyone else."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import jwt
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from schemas.events import JobCompleted, JobFailed, JobProgress, JobStarted
from tests.support.eventually import eventually
from tests.support.infra import Infra, own_slice
from tests.support.ingest import Api, admin_bearer
from tests.support.readmodel_stack import api_with_projector, job_when, publish

ADMIN_ROUTES = [
    ("GET", "/admin/overview", None),
    ("GET", "/admin/users", None),
    ("PATCH", f"/admin/users/{uuid.uuid4()}", {"role": "admin"}),
    ("POST", "/admin/jobs/retry-failed", {}),
    ("POST", "/admin/invites", {}),
]


@pytest.fixture(scope="module")
async def env(
    infra: Infra, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[dict[str, str]]:
    async with own_slice(infra, tmp_path_factory.mktemp("admin"), MAX_FILE_SIZE="2MB") as env:
        yield env


@pytest.fixture(scope="module")
async def api(env: dict[str, str]) -> AsyncIterator[Api]:
    async with api_with_projector(env) as api:
        yield api


async def an_admin(api: Api) -> tuple[dict[str, str], str]:
    """Headers of a real account holding an admin token, and its id."""
    account = await api.register()
    return await admin_bearer(api, account["id"]), str(account["id"])


async def upload(api: Api, headers: dict[str, str], video: bytes) -> str:
    response = await api.upload(headers, ("clip.mp4", video))
    assert response.status_code in (201, 202), response.text
    return str(response.json()["id"])


async def test_everyone_but_admins_gets_403(api: Api) -> None:
    user = await api.user()
    for method, path, body in ADMIN_ROUTES:
        refused = await api.client.request(method, path, headers=user, json=body)
        assert refused.status_code == 403, (path, refused.text)
        assert refused.json()["error"]["code"] == "forbidden"
        anonymous = await api.client.request(method, path, json=body)
        assert anonymous.status_code == 401, path


async def test_the_overview_sums_up_the_pipeline(
    api: Api, env: dict[str, str], video: bytes
) -> None:
    admin, _ = await an_admin(api)
    user = await api.user()
    done, running, waiting = [await upload(api, user, video) for _ in range(3)]
    await publish(
        env,
        JobStarted(job_id=done, worker_id="worker-a", attempt=1),
        JobCompleted(job_id=done, worker_id="worker-a", attempt=1, outputs=[], duration_ms=9),
        JobStarted(job_id=running, worker_id="worker-b", attempt=1),
        JobProgress(job_id=running, attempt=1, progress=50, stage="transcode", fps=61.5),
    )
    await job_when(api, user, running, "the tick applied", stage="transcode")
    await job_when(api, user, done, "completed", status="completed")
    response = await api.client.get("/admin/overview", headers=admin)
    assert response.status_code == 200, response.text
    overview = response.json()
    by_status = overview["jobs_by_status"]
    assert set(by_status) == {"pending", "processing", "completed", "failed", "cancelled"}
    assert by_status["completed"] >= 1 and by_status["processing"] >= 1
    assert overview["queue_depth"] == by_status["pending"] >= 1
    assert len(overview["throughput"]) == 60
    assert sum(m["completed"] for m in overview["throughput"][-2:]) >= 1
    workers = {w["job_id"]: w for w in overview["workers"]}
    assert workers[running]["worker_id"] == "worker-b"
    assert workers[running]["stage"] == "transcode" and workers[running]["fps"] == 61.5
    assert waiting not in workers and done not in workers
    lags = {(g["group"], g["topic"]): g["lag"] for g in overview["consumer_lag"]}
    prefix = env["KAFKA_TOPIC_PREFIX"]
    projector = lags[(f"{prefix}projector", f"{prefix}video.jobs")]
    assert projector >= 0
    assert isinstance(overview["dead_letters"], int)


async def test_dead_letters_are_counted_from_the_log(api: Api, env: dict[str, str]) -> None:
    admin, _ = await an_admin(api)
    before = (await api.client.get("/admin/overview", headers=admin)).json()["dead_letters"]
    producer = AIOKafkaProducer(bootstrap_servers=env["KAFKA_BOOTSTRAP_SERVERS"])
    await producer.start()
    try:  # not a CloudEvent: the projector dead-letters it
        await producer.send_and_wait(f"{env['KAFKA_TOPIC_PREFIX']}video.jobs", b"garbage")
    finally:
        await producer.stop()

    async def counted() -> Any:
        overview = (await api.client.get("/admin/overview", headers=admin)).json()
        return overview["dead_letters"] == before + 1

    await eventually(counted, timeout=30, message="the dead letter counted")


async def test_users_page_and_changes(api: Api, video: bytes) -> None:
    admin, admin_id = await an_admin(api)
    user = await api.user()
    user_id = user["X-User-Id"]
    await upload(api, user, video)
    listed = (await api.client.get("/admin/users", headers=admin)).json()["items"]
    row = next(u for u in listed if u["id"] == user_id)
    assert row["username"] == user["X-User-Name"] and row["jobs"] == 1
    assert row["role"] == "user" and row["disabled"] is False and row["created_at"]
    promoted = await api.client.patch(
        f"/admin/users/{user_id}", headers=admin, json={"role": "admin"}
    )
    assert promoted.status_code == 200 and promoted.json()["role"] == "admin"
    tokens = await api.login(user["X-User-Name"])
    claims = jwt.decode(tokens["access_token"], options={"verify_signature": False})
    assert claims["role"] == "admin"  # a fresh login carries the new role
    demoted = await api.client.patch(
        f"/admin/users/{user_id}", headers=admin, json={"role": "user"}
    )
    assert demoted.json()["role"] == "user"
    for change in ({"role": "user"}, {"disabled": True}):
        itself = await api.client.patch(f"/admin/users/{admin_id}", headers=admin, json=change)
        assert itself.status_code == 409, change
    for bad in ({"role": "root"}, {"disabled": "yes"}, {"email": "x@example.com"}):
        refused = await api.client.patch(f"/admin/users/{user_id}", headers=admin, json=bad)
        assert refused.status_code == 422, bad
    for unknown in (str(uuid.uuid4()), "not-a-uuid"):
        missing = await api.client.patch(
            f"/admin/users/{unknown}", headers=admin, json={"disabled": True}
        )
        assert missing.status_code == 404


async def test_an_admin_cannot_demote_themselves_by_another_spelling_of_their_id(
    api: Api,
) -> None:
    admin, admin_id = await an_admin(api)
    spellings = [admin_id.upper(), "%7B" + admin_id + "%7D", "urn:uuid:" + admin_id]
    for spelling in [*spellings, admin_id.replace("-", "")]:
        for change in ({"role": "user"}, {"disabled": True}):
            itself = await api.client.patch(f"/admin/users/{spelling}", headers=admin, json=change)
            assert itself.status_code == 404, (spelling, change, itself.text)
    rows = (await api.client.get("/admin/users", headers=admin)).json()["items"]
    me = next(u for u in rows if u["id"] == admin_id)
    assert me["disabled"] is False  # (its role in the table was never admin: a token says so)


async def test_a_disabled_user_is_refused_everywhere(api: Api) -> None:
    admin, _ = await an_admin(api)
    account = await api.register()
    tokens = await api.login(account["username"])
    own = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert (await api.client.get("/jobs", headers=own)).status_code == 200
    disabled = await api.client.patch(
        f"/admin/users/{account['id']}", headers=admin, json={"disabled": True}
    )
    assert disabled.status_code == 200 and disabled.json()["disabled"] is True
    refused = await api.client.get("/jobs", headers=own)  # the token has not expired
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "account_disabled"
    me = await api.client.get("/auth/me", headers=own)
    assert me.status_code == 401
    login = await api.client.post(
        "/auth/login", json={"username": account["username"], "password": "correct horse"}
    )
    assert login.status_code == 403 and login.json()["error"]["code"] == "account_disabled"
    wrong = await api.client.post(
        "/auth/login", json={"username": account["username"], "password": "wrong password"}
    )
    assert wrong.status_code == 401  # no hint to whoever lacks the password
    refresh = await api.client.post(
        "/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
    )
    assert refresh.status_code == 403 and refresh.json()["error"]["code"] == "account_disabled"
    enabled = await api.client.patch(
        f"/admin/users/{account['id']}", headers=admin, json={"disabled": False}
    )
    assert enabled.json()["disabled"] is False
    assert (await api.client.get("/jobs", headers=own)).status_code == 200
    assert (await api.login(account["username"]))["access_token"]
    again = await api.client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert again.status_code == 401  # disabling ended every session: enabling does not revive


async def test_a_disabled_user_is_refused_by_another_process_within_seconds(
    api: Api, env: dict[str, str]
) -> None:
    """A second ingest process learns of the change from PostgreSQL (its poll), not from us."""
    from tests.support.ingest import start_api

    other, stop = await start_api(env)
    try:
        admin, _ = await an_admin(api)
        headers = await api.user()
        assert (await other.client.get("/jobs", headers=headers)).status_code == 200
        await api.client.patch(
            f"/admin/users/{headers['X-User-Id']}", headers=admin, json={"disabled": True}
        )

        async def refused() -> bool:
            return (await other.client.get("/jobs", headers=headers)).status_code == 401

        await eventually(refused, timeout=10, message="the other process refused the disabled user")
    finally:
        await stop()


async def test_retry_failed_retries_failed_jobs_only(
    api: Api, env: dict[str, str], video: bytes
) -> None:
    admin, _ = await an_admin(api)
    user = await api.user()
    failed, pending = await upload(api, user, video), await upload(api, user, video)
    await publish(
        env,
        JobFailed(job_id=failed, error_code="boom", message="it broke", retryable=False, attempt=0),
    )
    await job_when(api, user, failed, "failed", status="failed")
    chosen = await api.client.post(
        "/admin/jobs/retry-failed", headers=admin, json={"job_ids": [failed, pending]}
    )
    assert chosen.status_code == 200
    assert [(r["job_id"], r["ok"], r["code"]) for r in chosen.json()["results"]] == [
        (failed, True, None),
        (pending, False, "illegal_state"),
    ]
    await job_when(api, user, failed, "retried", status="pending")
    await publish(
        env,
        JobFailed(job_id=failed, error_code="boom", message="again", retryable=False, attempt=0),
    )
    await job_when(api, user, failed, "failed again", status="failed")
    everything = await api.client.post("/admin/jobs/retry-failed", headers=admin)
    assert everything.status_code == 200
    assert {"job_id": failed, "ok": True, "error": None, "code": None} in everything.json()[
        "results"
    ]
    await job_when(api, user, failed, "retried again", status="pending")


async def test_consumer_lag_of_a_group_committing_to_kafka(api: Api, env: dict[str, str]) -> None:
    """A group that commits its offsets to Kafka (as the transcoders do), read through the
    broker's admin API: its lag is what it has not committed."""
    admin, _ = await an_admin(api)
    prefix = env["KAFKA_TOPIC_PREFIX"]
    topic, group = f"{prefix}video.progress", f"{prefix}lag-probe"
    producer = AIOKafkaProducer(bootstrap_servers=env["KAFKA_BOOTSTRAP_SERVERS"])
    await producer.start()
    try:
        sent = [await producer.send_and_wait(topic, b"tick", key=b"k") for _ in range(3)]
    finally:
        await producer.stop()
    partition = TopicPartition(topic, sent[0].partition)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=env["KAFKA_BOOTSTRAP_SERVERS"], group_id=group, enable_auto_commit=False
    )
    await consumer.start()
    try:  # everything is done but the last of our three records
        partitions = [TopicPartition(topic, p) for p in await partitions_of(env, topic)]
        consumer.assign(partitions)
        ends = await consumer.end_offsets(partitions)
        await consumer.commit({**ends, partition: sent[-1].offset})
    finally:
        await consumer.stop()
    overview = (await api.client.get("/admin/overview", headers=admin)).json()
    lags = {(g["group"], g["topic"]): g["lag"] for g in overview["consumer_lag"]}
    assert lags[(group, topic)] == 1


async def partitions_of(env: dict[str, str], topic: str) -> list[int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=env["KAFKA_BOOTSTRAP_SERVERS"])
    await admin.start()
    try:
        (described,) = await admin.describe_topics([topic])
    finally:
        await admin.close()
    return [p["partition"] for p in described["partitions"]]
