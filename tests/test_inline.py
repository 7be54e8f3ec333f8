"""When the event loop answers a request itself (container.inline), on a clock the test moves."""

from __future__ import annotations

import pytest

from container.inline import PAUSES, QUICK_SECONDS, InlinePolicy
from container.read_ahead import SMALL_REQUEST

QUICK = QUICK_SECONDS / 10
SLOW = QUICK_SECONDS * 2


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def test_nothing_is_answered_inline_until_a_small_request_was_seen_to_be_quick(clock: Clock) -> None:
    policy = InlinePolicy(clock)
    assert not policy.allows(100)
    policy.observe(QUICK)
    assert policy.allows(100)


def test_only_small_requests_are_answered_inline(clock: Clock) -> None:
    policy = InlinePolicy(clock)
    policy.observe(QUICK)
    assert policy.allows(SMALL_REQUEST - 1)
    assert not policy.allows(SMALL_REQUEST)


def test_a_slow_request_sends_the_next_ones_to_the_threads_for_a_pause(clock: Clock) -> None:
    policy = InlinePolicy(clock)
    policy.observe(QUICK)
    policy.observe(SLOW)
    assert not policy.allows(100)
    clock.now += PAUSES[0] - 0.01
    assert not policy.allows(100)
    clock.now += 0.02
    assert policy.allows(100)


def test_slow_requests_in_a_row_double_the_pause_up_to_the_longest(clock: Clock) -> None:
    policy = InlinePolicy(clock)
    policy.observe(QUICK)
    pauses = []
    for _ in range(12):
        policy.observe(SLOW)
        pauses.append(policy.resume_at - clock.now)
    assert pauses[:4] == [PAUSES[0], 2 * PAUSES[0], 4 * PAUSES[0], 8 * PAUSES[0]]
    assert max(pauses) == PAUSES[1]


def test_a_quick_request_brings_the_pause_back_to_the_first_without_ending_it(clock: Clock) -> None:
    policy = InlinePolicy(clock)
    policy.observe(QUICK)
    policy.observe(SLOW)
    policy.observe(SLOW)
    policy.observe(QUICK)
    assert not policy.allows(100)  # the pause that is running still runs
    clock.now += 2 * PAUSES[0] + 0.01
    assert policy.allows(100)
    policy.observe(SLOW)
    assert policy.resume_at - clock.now == PAUSES[0]


def test_a_slow_model_seen_only_in_the_threads_is_never_tried_inline(clock: Clock) -> None:
    policy = InlinePolicy(clock)
    for _ in range(20):
        policy.observe(SLOW)
        clock.now += 0.5
        assert not policy.allows(100)


def test_ping_and_large_requests_say_nothing_about_the_next_small_ones(clock: Clock) -> None:
    policy = InlinePolicy(clock)
    assert policy.counts(100, "/invocations")
    assert not policy.counts(100, "/ping")
    assert not policy.counts(SMALL_REQUEST, "/invocations")
