"""Oversight against a running ``gateway serve``: the oldest held message's age and
the time to decision in the Prometheus metrics, and both in words on the list page."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator

import httpx
import pytest

from tests.integration.console.test_audit_page import logged_in
from tests.integration.console_support import ConsoleGateway, console_gateway, high_hold
from tests.integration.smtp_support import free_port


@pytest.fixture(scope="module")
def metrics_port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def g(tmp_path_factory: pytest.TempPathFactory, metrics_port: int) -> Iterator[ConsoleGateway]:
    folder = tmp_path_factory.mktemp("oversight")
    with console_gateway(folder, "--metrics", f"127.0.0.1:{metrics_port}") as running:
        yield running


def metric(port: int, name: str) -> float:
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    values = [line.split()[-1] for line in text.splitlines() if line.startswith(name + " ")]
    assert values, f"no metric {name}"
    return float(values[0])


def eventually(port: int, name: str, check: Callable[[float], bool], seconds: float = 60) -> float:
    """The metric's value once ``check`` holds (the gateway updates it as the store
    changes), or its last value when the time is up."""
    deadline = time.monotonic() + seconds
    value = metric(port, name)
    while not check(value) and time.monotonic() < deadline:
        time.sleep(0.2)
        value = metric(port, name)
    return value


def list_page(g: ConsoleGateway) -> str:
    with logged_in(g, "rita") as (client, _):
        return client.get("/messages").text


def test_the_oldest_held_age_and_time_to_decision_are_measured_and_shown(
    g: ConsoleGateway, metrics_port: int
) -> None:
    """Nothing held: age 0 and words to say so; a hold makes the age grow; its rejection
    is one observed decision, and the age goes back to 0."""
    assert 0.0 == metric(metrics_port, "gateway_oldest_held_age_seconds")
    page = list_page(g)
    assert "Oldest held message: <strong>none held</strong>" in page
    assert "Median time to decision today: <strong>no decisions yet</strong>" in page
    message_id = g.hold(high_hold())
    age = eventually(metrics_port, "gateway_oldest_held_age_seconds", lambda v: v > 0)
    assert 0 < age < 600
    assert re.search(r"Oldest held message: <strong>\d+ (s|min)</strong>", list_page(g))
    with logged_in(g, "rita") as (client, csrf):
        done = client.post(
            f"/messages/{message_id}/reject", data={"reason": "not needed", "csrf": csrf}
        )
    assert 303 == done.status_code
    assert 1.0 == metric(metrics_port, "gateway_time_to_decision_seconds_count")
    assert 0.0 == eventually(metrics_port, "gateway_oldest_held_age_seconds", lambda v: v == 0)
    page = list_page(g)
    assert "Oldest held message: <strong>none held</strong>" in page
    assert re.search(r"Median time to decision today: <strong>\d+ (s|min)</strong>", page)
