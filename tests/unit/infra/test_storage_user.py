"""Compose's services reach MinIO as a user limited to their bucket (issue 26, item 16).

``minio-setup`` creates the user and attaches ``infra/minio/vidpipe-policy.json``; the services
get that user's credentials, never the root user's. ``make infra-check`` runs the same check.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import yaml

from tests.support.repo import ROOT
from tools.infra_check import storage_user_is_limited

INFRA = ROOT / "infra"


def _compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((INFRA / "docker-compose.yml").read_text())
    return loaded


def test_the_services_use_a_user_limited_to_their_bucket() -> None:
    compose = _compose()
    assert storage_user_is_limited(compose) == []
    env = compose["x-vidpipe"]["environment"]
    assert env["STORAGE_URL"] == "s3://vidpipe/media"
    assert "MINIO_ROOT" not in env["AWS_ACCESS_KEY_ID"] + env["AWS_SECRET_ACCESS_KEY"]
    policy = json.loads((INFRA / "minio" / "vidpipe-policy.json").read_text())
    resources = {r for statement in policy["Statement"] for r in statement["Resource"]}
    assert resources == {"arn:aws:s3:::vidpipe", "arn:aws:s3:::vidpipe/*"}


def test_root_credentials_or_a_wider_policy_are_refused(tmp_path: Path) -> None:
    rooted = copy.deepcopy(_compose())
    rooted["services"]["ingest"]["environment"]["AWS_ACCESS_KEY_ID"] = "${MINIO_ROOT_USER}"
    assert storage_user_is_limited(rooted) == [
        "ingest: AWS_ACCESS_KEY_ID is MinIO's root credential"
    ]

    (tmp_path / "minio").mkdir()
    wide = json.loads((INFRA / "minio" / "vidpipe-policy.json").read_text())
    wide["Statement"][1]["Resource"] = ["arn:aws:s3:::*"]
    wide["Statement"][0]["Action"] = ["s3:*"]
    (tmp_path / "minio" / "vidpipe-policy.json").write_text(json.dumps(wide))
    assert storage_user_is_limited(_compose(), tmp_path) == [
        "the policy allows ['s3:*']: name the S3 actions",
        "the policy reaches ['arn:aws:s3:::*'], not only "
        "['arn:aws:s3:::vidpipe', 'arn:aws:s3:::vidpipe/*']",
    ]
    unset = copy.deepcopy(_compose())
    unset["services"]["minio-setup"]["entrypoint"] = ["mc", "mb", "minio/vidpipe"]
    assert storage_user_is_limited(unset)[:3] == [
        "minio-setup does not run `mc admin user add`",
        "minio-setup does not run `mc admin policy create`",
        "minio-setup does not run `mc admin policy attach`",
    ]
