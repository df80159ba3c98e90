"""``proxy=``: calls through a real HTTP CONNECT proxy (tests/support/connect_proxy.py),
with and without credentials, a proxy that refuses or is not there, the
environment's proxy variables, and checks before anything is sent; both
flavours, against the real fake."""

from __future__ import annotations

import base64

import pytest

from scaigrid_client import RetryPolicy, errors
from scaigrid_client.testing import FakeScaiGrid
from tests.support import flavours
from tests.support.connect_proxy import ConnectProxy

OMNI = "scailabs/poolnoodle-omni"
FAST = RetryPolicy(max_attempts=2, initial_backoff=0.01, max_backoff=0.05)
pytestmark = pytest.mark.asyncio
_PROXY_VARIABLES = (
    "grpc_proxy",
    "https_proxy",
    "http_proxy",
    "no_proxy",
    "no_grpc_proxy",
    "GRPC_PROXY",
    "HTTPS_PROXY",
    "HTTP_PROXY",
    "NO_PROXY",
)


@pytest.fixture(autouse=True)
def _no_proxy_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in _PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize("flavour", flavours.FLAVOURS)
async def test_calls_go_through_the_proxy(fake: FakeScaiGrid, flavour: str) -> None:
    async with (
        ConnectProxy() as proxy,
        flavours.client(
            flavour, "ScaiGrid", fake.target, token=fake.token, tls=False, proxy=proxy.url
        ) as grid,
    ):
        assert await grid.inference.list_models()
        job = await grid.coordinator.submit_job(name="p", base_model=OMNI, gpus=1, max_steps=3)
        assert [p.step async for p in grid.coordinator.stream_metrics(job.id)] == [1, 2, 3]
    # One tunnel, to the gateway, carried every call.
    assert proxy.tunnels == 1
    assert [r.target for r in proxy.requests] == [fake.target]
    assert "proxy-authorization" not in proxy.requests[0].headers
    assert len(fake.calls()) == 3


@pytest.mark.parametrize("flavour", flavours.FLAVOURS)
async def test_proxy_credentials_are_sent_and_never_shown(fake: FakeScaiGrid, flavour: str) -> None:
    async with ConnectProxy(credentials=("scai", "s3cret:pw")) as proxy:
        client = flavours.client(
            flavour, "InferenceClient", fake.target, token=fake.token, tls=False, proxy=proxy.url
        )
        async with client:
            assert await client.list_models()
            shown = repr(client.client if flavour == "sync" else client)
    expected = base64.b64encode(b"scai:s3cret:pw").decode()
    assert proxy.requests[0].headers["proxy-authorization"] == f"Basic {expected}"
    assert proxy.tunnels == 1
    assert "s3cret" not in shown
    assert f"proxy='http://scai:***@127.0.0.1:{proxy.port}'" in shown


@pytest.mark.parametrize("flavour", flavours.FLAVOURS)
@pytest.mark.parametrize(
    ("refuse", "credentials", "words"),
    [
        (None, ("scai", "right"), "the HTTP proxy wants credentials, or rejected the ones given"),
        (403, None, "the HTTP proxy refused the tunnel to the gateway (403 Forbidden)"),
        (502, None, "the HTTP proxy could not open a tunnel to the gateway (HTTP 502)"),
    ],
)
async def test_a_proxy_that_refuses_is_a_proxy_error(
    fake: FakeScaiGrid,
    flavour: str,
    refuse: int | None,
    credentials: tuple[str, str] | None,
    words: str,
) -> None:
    async with ConnectProxy(refuse=refuse, credentials=credentials) as proxy:
        # (with credentials required, the client sends the wrong password)
        url = proxy.url.replace(":right@", ":wrong@")
        async with flavours.client(
            flavour,
            "InferenceClient",
            fake.target,
            token=fake.token,
            tls=False,
            retry=FAST,
            proxy=url,
        ) as client:
            with pytest.raises(errors.ProxyError) as info:
                await client.list_models()
    error = info.value
    assert error.http_status == (refuse or 407)
    assert error.status.name == "UNAVAILABLE"
    assert error.message.startswith(words)
    assert error.request_id
    assert "wrong" not in str(error)
    # Nothing reached the gateway, and the proxy was asked a bounded number of times.
    assert fake.calls() == []
    assert proxy.tunnels == 0
    assert 1 <= len(proxy.requests) <= FAST.max_attempts
    # Refused credentials or a refused host fail the same way every time:
    # not retried. A proxy that could not reach the gateway (502) may be.
    assert (error.attempts == 1) is (error.http_status in (403, 407))


@pytest.mark.parametrize("flavour", flavours.FLAVOURS)
async def test_a_proxy_that_is_not_there_is_unavailable(fake: FakeScaiGrid, flavour: str) -> None:
    async with ConnectProxy() as gone:
        url = gone.url  # a port nothing listens on once the proxy has closed
    async with flavours.client(
        flavour,
        "InferenceClient",
        fake.target,
        token=fake.token,
        tls=False,
        retry=FAST,
        proxy=url,
    ) as client:
        with pytest.raises(
            errors.UnavailableError, match="Failed to connect to remote host"
        ) as info:
            await client.list_models(timeout=5)
    assert fake.calls() == []
    # grpc's words name an address; the SDK says it is the proxy's.
    assert f"through the HTTP proxy {url}" in info.value.message


@pytest.mark.parametrize("flavour", flavours.FLAVOURS)
@pytest.mark.parametrize(
    ("proxy", "words"),
    [
        ("https://u:secret@proxy.test:3128", "only 'http://' proxies (HTTP CONNECT)"),
        ("socks5://proxy.test:1080", "only 'http://' proxies (HTTP CONNECT)"),
        ("http://u:secret@proxy.test", "has no port"),
        ("http://u:secret@:3128", "has no host"),
        ("http://proxy.test:3128/path", "has no path or query"),
        ("http://proxy.test:99999", "is not a valid URL"),
        ("", "is not a URL"),
    ],
)
async def test_a_bad_proxy_url_is_named_before_the_wire(
    fake: FakeScaiGrid, flavour: str, proxy: str, words: str
) -> None:
    with pytest.raises(ValueError, match=r"^proxy: ") as info:
        flavours.client(flavour, "ScaiGrid", fake.target, token=fake.token, proxy=proxy)
    assert words in str(info.value)
    assert "secret" not in str(info.value)
    with pytest.raises(TypeError, match=r"^proxy: expected a URL"):
        flavours.client(flavour, "ScaiGrid", fake.target, token=fake.token, proxy=3128)
    assert fake.calls() == []


@pytest.mark.parametrize("flavour", flavours.FLAVOURS)
async def test_the_environments_proxy(
    fake: FakeScaiGrid, flavour: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = fake.target.rpartition(":")[2]
    remote = f"gateway.test:{port}"  # a name only the proxy can resolve
    async with ConnectProxy(hosts={"gateway.test": "127.0.0.1"}) as proxy:
        monkeypatch.setenv("https_proxy", proxy.url)
        # proxy=None: the environment's proxy, for a gateway off this machine ...
        async with flavours.client(
            flavour, "InferenceClient", remote, token=fake.token, tls=False
        ) as client:
            assert await client.list_models()
        assert [r.target for r in proxy.requests] == [remote]
        # ... but never for loopback, which a proxy elsewhere cannot reach.
        async with flavours.client(
            flavour, "InferenceClient", fake.target, token=fake.token, tls=False
        ) as client:
            assert await client.list_models()
        assert len(proxy.requests) == 1
        # proxy=False: no proxy at all, whatever the environment says.
        async with flavours.client(
            flavour,
            "InferenceClient",
            remote,
            token=fake.token,
            tls=False,
            retry=FAST,
            proxy=False,
        ) as client:
            with pytest.raises(errors.UnavailableError):
                await client.list_models(timeout=5)
        assert len(proxy.requests) == 1
        # no_proxy names the hosts that bypass any proxy, proxy= included (grpc's rule).
        monkeypatch.setenv("no_proxy", "gateway.test")
        async with flavours.client(
            flavour,
            "InferenceClient",
            remote,
            token=fake.token,
            tls=False,
            retry=FAST,
            proxy=proxy.url,
        ) as client:
            with pytest.raises(errors.UnavailableError):
                await client.list_models(timeout=5)
        assert len(proxy.requests) == 1


async def test_proxy_with_a_channel_of_ones_own_is_refused(fake: FakeScaiGrid) -> None:
    import grpc

    from scaigrid_client import InferenceClient

    async with grpc.aio.insecure_channel(fake.target) as channel:
        with pytest.raises(ValueError, match=r"^proxy: applies to the channels the client builds"):
            InferenceClient(token=fake.token, channel=channel, proxy="http://proxy.test:3128")
