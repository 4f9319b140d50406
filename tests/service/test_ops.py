"""The operator's endpoint: liveness, readiness from the supplied checks, metrics, and
nothing else; served on 127.0.0.1 at a free port."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import httpx
import pytest

from briefing.errors import BadInput, ConfigError
from briefing.service.ops import Check, OpsServer, Readiness, parse_address

ALL_OK = Readiness((Check("database", True, "sqlite answers"),
                    Check("telegram", True, "token accepted")))


@dataclass
class Probe:
    """The readiness callable given to the server; each test sets what it answers."""

    answer: Callable[[], Readiness] = field(default=lambda: ALL_OK)
    calls: int = 0

    def __call__(self) -> Readiness:
        self.calls += 1
        return self.answer()


@pytest.fixture
def probe() -> Probe:
    return Probe()


@pytest.fixture
def server(probe: Probe) -> Iterator[OpsServer]:
    ops = OpsServer("127.0.0.1", 0, probe)
    ops.start()
    yield ops
    ops.stop()


@pytest.fixture
def client(server: OpsServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"http://127.0.0.1:{server.port}", timeout=5) as http:
        yield http


def test_port_zero_binds_a_free_port(server: OpsServer) -> None:
    assert 0 < server.port < 65536


def test_healthz_says_alive(client: httpx.Client, probe: Probe) -> None:
    reply = client.get("/healthz")
    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("application/json")
    assert reply.json() == {"status": "alive"}
    assert probe.calls == 0  # liveness must not depend on the store


def test_healthz_stays_alive_when_not_ready(client: httpx.Client, probe: Probe) -> None:
    probe.answer = lambda: Readiness((Check("database", False, "down"),))
    assert client.get("/healthz").status_code == 200


def test_readyz_is_200_when_every_check_passes(client: httpx.Client, probe: Probe) -> None:
    reply = client.get("/readyz")
    assert reply.status_code == 200
    assert reply.json() == {"ready": True, "checks": [
        {"name": "database", "ok": True, "detail": "sqlite answers"},
        {"name": "telegram", "ok": True, "detail": "token accepted"},
    ]}
    assert probe.calls == 1


def test_readyz_is_503_naming_the_failing_check(client: httpx.Client, probe: Probe) -> None:
    probe.answer = lambda: Readiness((Check("database", True, "sqlite answers"),
                                      Check("outbox", False, "oldest due row is 900 s old")))
    reply = client.get("/readyz")
    assert reply.status_code == 503
    body = reply.json()
    assert body["ready"] is False
    failing = [c for c in body["checks"] if not c["ok"]]
    assert failing == [{"name": "outbox", "ok": False, "detail": "oldest due row is 900 s old"}]


def test_readyz_asks_the_checks_at_each_request(client: httpx.Client, probe: Probe) -> None:
    assert client.get("/readyz").status_code == 200
    probe.answer = lambda: Readiness((Check("database", False, "down"),))
    assert client.get("/readyz").status_code == 503
    probe.answer = lambda: ALL_OK
    assert client.get("/readyz").status_code == 200
    assert probe.calls == 3


def test_readiness_raising_is_503_without_its_message(client: httpx.Client,
                                                       probe: Probe) -> None:
    def boom() -> Readiness:
        raise ConnectionRefusedError("postgresql://admin:hunter22@db/briefing refused")

    probe.answer = boom
    reply = client.get("/readyz")
    assert reply.status_code == 503
    assert reply.json() == {"ready": False, "checks": [
        {"name": "readiness", "ok": False, "detail": "ConnectionRefusedError"}]}
    assert "hunter22" not in reply.text
    # The server survives it.
    assert client.get("/healthz").status_code == 200


def test_no_checks_at_all_is_ready(client: httpx.Client, probe: Probe) -> None:
    probe.answer = lambda: Readiness(())
    reply = client.get("/readyz")
    assert (reply.status_code, reply.json()) == (200, {"ready": True, "checks": []})


def test_metrics_are_prometheus_text(client: httpx.Client) -> None:
    reply = client.get("/metrics")
    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("text/plain")
    assert "# TYPE briefing_deliveries_total counter" in reply.text
    assert "briefing_llm_call_seconds_bucket" in reply.text


def test_head_answers_without_a_body(client: httpx.Client) -> None:
    reply = client.head("/healthz")
    assert reply.status_code == 200
    assert reply.content == b""


@pytest.mark.parametrize("path", ["/", "/health", "/healthz/x", "/metricsx", "/readyz/"])
def test_unknown_paths_are_404(client: httpx.Client, path: str) -> None:
    assert client.get(path).status_code == 404


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
def test_methods_other_than_get_are_405(client: httpx.Client, probe: Probe,
                                        method: str) -> None:
    reply = client.request(method, "/readyz", content=b"{}")
    assert reply.status_code == 405
    assert probe.calls == 0
    assert client.get("/healthz").status_code == 200


def test_a_second_server_on_the_same_port_is_a_config_error(server: OpsServer,
                                                            probe: Probe) -> None:
    second = OpsServer("127.0.0.1", server.port, probe)
    with pytest.raises(ConfigError) as raised:
        second.start()
    message = str(raised.value)
    assert str(server.port) in message and "\n" not in message
    second.stop()  # never started: harmless


def test_stop_releases_the_port(probe: Probe) -> None:
    with OpsServer("127.0.0.1", 0, probe) as first:
        port = first.port
        assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200
    with pytest.raises(httpx.TransportError):
        httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
    with OpsServer("127.0.0.1", port, probe) as again:
        assert httpx.get(f"http://127.0.0.1:{again.port}/healthz", timeout=5).status_code == 200


def test_readiness_is_ready_only_when_every_check_is_ok() -> None:
    assert Readiness(()).ready
    assert Readiness((Check("a", True, ""), Check("b", True, ""))).ready
    assert not Readiness((Check("a", True, ""), Check("b", False, "down"))).ready


@pytest.mark.parametrize(("text", "expected"), [
    ("127.0.0.1:8080", ("127.0.0.1", 8080)),
    ("0.0.0.0:9100", ("0.0.0.0", 9100)),
    ("localhost:0", ("localhost", 0)),
    ("[::1]:8080", ("::1", 8080)),
    ("[::]:65535", ("::", 65535)),
    (" 127.0.0.1:80 ", ("127.0.0.1", 80)),
])
def test_parse_address_reads_host_and_port(text: str, expected: tuple[str, int]) -> None:
    assert parse_address(text) == expected


@pytest.mark.parametrize("text", [
    "", ":8080", "8080", "127.0.0.1", "127.0.0.1:", "127.0.0.1:65536", "127.0.0.1:-1",
    "127.0.0.1:http", "127.0.0.1:80 80", "::1:8080", "[::1]", "[]:8080", "[nothost]:80",
    "http://127.0.0.1:8080", "127.0.0.1:8080/metrics", "127.0.0.1:٨٠",
])
def test_parse_address_refuses_anything_else(text: str) -> None:
    with pytest.raises(BadInput) as raised:
        parse_address(text)
    assert "\n" not in str(raised.value)
