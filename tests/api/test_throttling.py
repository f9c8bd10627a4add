"""The sliding-window throttle: the rate per period, Retry-After, constant cost per request."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.test import override_settings
from rest_framework.test import APIClient

from accounts.services import token_issue
from cooperation.api import throttling
from tests.conftest import World

pytestmark = pytest.mark.django_db


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock(600_000.0)  # the start of a one-minute window
    monkeypatch.setattr(throttling.time, "time", clock)
    return clock


def statuses(client: APIClient, count: int) -> list[int]:
    return [client.get("/api/v1/areas/").status_code for _ in range(count)]


@override_settings(API_THROTTLE_RATES={"token": "3/min", "user": "100/min", "anon": "100/min"})
def test_the_rate_holds_over_a_sliding_minute(world: World, clock: Clock) -> None:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token_issue(user=world.manager, name='t')[1]}")
    clock.now += 10
    assert statuses(client, 4) == [200, 200, 200, 429]
    refused = client.get("/api/v1/areas/")
    # Three requests in this window: only the next window, once this one's three have
    # slid out to 2 (a third of the way in).
    assert refused.status_code == 429 and int(refused["Retry-After"]) == 70
    clock.now += 69
    assert statuses(client, 1) == [429]
    clock.now += 1
    assert statuses(client, 2) == [200, 429]
    clock.now += 10  # half-way through the window: the three count as 1.5, rounded up to 2
    assert statuses(client, 1) == [429]
    clock.now += 60  # the window after: the previous window's one counts as 0.5, rounded up to 1
    assert statuses(client, 3) == [200, 200, 429]


@override_settings(API_THROTTLE_RATES={"token": "2/min", "user": "100/min", "anon": "100/min"})
def test_a_burst_across_a_window_boundary_gets_no_extra_request(world: World, clock: Clock) -> None:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token_issue(user=world.manager, name='t')[1]}")
    clock.now += 59.9
    assert statuses(client, 2) == [200, 200]
    clock.now += 0.2  # the next window has begun: the two still count as 2 (1.997 rounded up)
    refused = client.get("/api/v1/areas/")
    assert refused.status_code == 429
    # They count as 1 half-way through the new window.
    assert int(refused["Retry-After"]) == 30
    clock.now += 29.8
    assert statuses(client, 1) == [429]
    clock.now += 0.2
    assert statuses(client, 2) == [200, 429]


@override_settings(API_THROTTLE_RATES={"token": "100/min", "user": "3/min", "anon": "100/min"})
def test_the_user_rate_counts_all_of_a_users_tokens_together(world: World, clock: Clock) -> None:
    first, second = APIClient(), APIClient()
    first.credentials(HTTP_AUTHORIZATION=f"Token {token_issue(user=world.manager, name='one')[1]}")
    second.credentials(HTTP_AUTHORIZATION=f"Token {token_issue(user=world.manager, name='two')[1]}")
    other = APIClient()
    other.credentials(HTTP_AUTHORIZATION=f"Token {token_issue(user=world.api_client, name='bi')[1]}")
    clock.now += 10
    assert statuses(first, 2) + statuses(second, 2) == [200, 200, 200, 429]
    assert statuses(first, 1) == [429]
    assert statuses(other, 3) == [200, 200, 200]  # another user has a rate of their own


def test_each_scope_keeps_two_integers_whatever_the_rate(world: World, clock: Clock) -> None:
    client = APIClient()
    token, key = token_issue(user=world.manager, name="t")
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert statuses(client, 50) == [200] * 50
    clock.now += 60
    assert statuses(client, 5) == [200] * 5
    window = int(clock.now // 60)
    ident = f"throttle_token_{token.pk}"
    assert cache.get_many([f"{ident}:{window - 1}", f"{ident}:{window}"]) == {
        f"{ident}:{window - 1}": 50,
        f"{ident}:{window}": 5,
    }


@pytest.mark.parametrize(
    "rate, expected", [("1200/min", (1200, 60)), ("5/s", (5, 1)), ("10/hour", (10, 3600)), ("1/day", (1, 86400))]
)
def test_rates_read_like_drf(rate: str, expected: tuple[int, int]) -> None:
    assert throttling.parse_rate(rate) == expected
