"""PortainerClient.auth_logs against the fake Portainer: BE shapes, paging, `after`, CE and non-admins."""

from __future__ import annotations

import httpx
import jsonschema
import pytest

from tests.fakes.portainer import FakeAuthLog, FakePortainer, FakeUser
from tests.fakes.portainer_records import STANDARD_USER
from tools.errors import AuthError, NotFound
from tools.portainer.client import PortainerClient

LOGS = [
    FakeAuthLog(
        id=i,
        timestamp=1_790_000_000 + i * 60,
        username="admin" if i % 3 else "bob",
        origin=f"198.51.100.{i % 4}",
        type=2 if i < 7 else 1,
    )
    for i in range(1, 12)
]


@pytest.mark.parametrize("shape", ["object", "array"])
def test_auth_logs_in_both_documented_shapes_across_pages(shape: str) -> None:
    with FakePortainer(edition="BE", auth_logs=LOGS, authlogs_shape=shape) as portainer:  # type: ignore[arg-type]
        client = PortainerClient(portainer.url, api_key=portainer.admin.api_keys[0], page_size=4)
        logs = client.auth_logs()
        assert [entry.id for entry in logs] == list(range(1, 12))
        assert portainer.count("/api/useractivity/authlogs") == 3
        assert (logs[0].username, logs[0].origin, logs[0].type) == ("admin", "198.51.100.1", 2)
        newer = client.auth_logs(after=LOGS[8].timestamp)
        assert [entry.id for entry in newer] == [10, 11]
        client.close()


def test_ce_has_no_auth_logs() -> None:
    with FakePortainer(edition="CE") as portainer:
        client = PortainerClient(portainer.url, api_key=portainer.admin.api_keys[0])
        with pytest.raises(NotFound):
            client.auth_logs()
        client.close()


def test_non_admins_may_not_read_auth_logs() -> None:
    users = [FakeUser(1, "admin"), FakeUser(2, "dev", role=STANDARD_USER)]
    with FakePortainer(edition="BE", users=users, auth_logs=LOGS) as portainer:
        client = PortainerClient(portainer.url, api_key=users[1].api_keys[0])
        with pytest.raises(AuthError):
            client.auth_logs()
        client.close()


def test_the_fakes_auth_log_entries_match_the_be_spec() -> None:
    from tests.fakes.portainer_spec import load_spec
    from tests.integration.test_fake_portainer_schema import _go_json  # the spec's Go-JSON conversion

    spec = load_spec()
    openapi = {"paths": spec["paths"], "components": _go_json(spec["components"])}
    schema = openapi["paths"]["/useractivity/authlogs"]["get"]["responses"]["200"]["content"]
    validator = jsonschema.Draft7Validator(
        {**next(iter(schema.values()))["schema"], "components": openapi["components"]}
    )
    with FakePortainer(edition="BE", auth_logs=LOGS, authlogs_shape="array") as portainer:
        body = httpx.get(
            portainer.url + "/api/useractivity/authlogs", headers={"X-API-Key": portainer.admin.api_keys[0]}
        ).json()
    validator.validate(body)
    assert len(body) == len(LOGS)
