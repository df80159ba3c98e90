"""`fake.revoke_token`: later calls with the token are UNAUTHENTICATED
`invalid_token`, through the SDK (both flavours) and the control plane."""

from __future__ import annotations

from typing import Any

import pytest

from scaigrid_client import errors
from scaigrid_client.testing import FakeScaiGrid
from tests.support import flavours

pytestmark = pytest.mark.asyncio


@pytest.mark.parametrize("flavour", flavours.FLAVOURS)
async def test_an_issued_token_stops_working(fake: FakeScaiGrid, flavour: str) -> None:
    token = fake.issue_token(scopes=["scaiinfer"])
    async with flavours.client(flavour, "ScaiGrid", fake.target, token=token, tls=False) as grid:
        assert len(await grid.inference.list_models()) == 3
        fake.revoke_token(token)
        with pytest.raises(errors.AuthenticationError) as info:
            await grid.inference.list_models()
        assert (info.value.code, info.value.message) == ("invalid_token", "service token revoked")
        assert token not in str(info.value)


async def test_the_fakes_own_token_until_reset(fake: FakeScaiGrid, grid: Any) -> None:
    fake.revoke_token(fake.token)
    with pytest.raises(errors.AuthenticationError) as info:
        await grid.core.invoke_core("c1")
    assert info.value.code == "invalid_token"
    fake.reset()
    await grid.core.invoke_core("c1")


async def test_bad_arguments_name_themselves(fake: FakeScaiGrid) -> None:
    with pytest.raises(ValueError, match=r"^token:"):
        fake.revoke_token("sgst_never_issued")
    token = fake.issue_token()
    fake.revoke_token(token)
    with pytest.raises(ValueError, match=r"^token: .*already revoked"):
        fake.revoke_token(token)
    with pytest.raises(TypeError, match=r"^token:"):
        fake.revoke_token(None)  # type: ignore[arg-type]


async def test_control_plane(fake: FakeScaiGrid, grid: Any, control: Any) -> None:
    token = (await control.post("/tokens", json={})).json()["token"]
    assert (await control.post("/revoke_token", json={"token": token})).json() == {}
    again = await control.post("/revoke_token", json={"token": token})
    assert again.status_code == 400 and again.json()["error"].startswith("token:")
    missing = await control.post("/revoke_token", json={})
    assert missing.status_code == 400 and missing.json()["error"].startswith("token:")
    assert (await control.post("/revoke_token", json={"token": fake.token})).json() == {}
    with pytest.raises(errors.AuthenticationError):
        await grid.inference.list_models()
