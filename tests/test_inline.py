"""When the event loop answers a request itself (container.server.inline), on a clock the test moves."""

from __future__ import annotations

import pytest

from container.server.inline import PAUSES, QUICK_SECONDS, InlinePolicy
from container.server.read_ahead import SMALL_REQUEST

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


def test_ping_is_answered_inline_even_while_the_model_is_found_slow(clock: Clock) -> None:
    policy = InlinePolicy(clock)
    assert not policy.allows(100) and policy.allows(100, "/ping")  # before any request was seen
    policy.observe(QUICK)
    policy.observe(SLOW)
    assert not policy.allows(100, "/invocations") and policy.allows(100, "/ping")
    assert not policy.allows(SMALL_REQUEST, "/ping")


def test_model_loads_and_unloads_are_never_answered_inline_nor_counted(clock: Clock) -> None:
    policy = InlinePolicy(clock)
    policy.observe(QUICK)
    for path in ("/models", "/models/a"):
        assert not policy.allows(100, path) and not policy.counts(100, path)
    assert policy.allows(100, "/models/a/invoke") and policy.counts(100, "/models/a/invoke")


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


# --- wall time first: CPU time only for a doubtful request's successors --------------------------


def test_requests_are_timed_by_the_wall_clock_and_a_quick_one_is_quick(clock: Clock) -> None:
    policy = InlinePolicy(clock)
    assert not policy.wants_cpu_time()
    policy.observe_wall(QUICK)
    assert policy.allows(100) and not policy.wants_cpu_time()


def test_a_request_slow_by_the_wall_clock_is_doubtful_and_the_next_one_decides(clock: Clock) -> None:
    """Over QUICK_SECONDS of wall time may be a slow request or one that waited for the core: the
    next small request is CPU-timed, wherever it runs, and decides."""
    policy = InlinePolicy(clock)
    policy.observe_wall(QUICK)
    policy.observe_wall(SLOW)
    assert policy.wants_cpu_time() and policy.allows(100)
    policy.observe_wall(QUICK)  # one timed by the wall clock, begun before: it does not decide
    assert policy.wants_cpu_time()
    policy.observe(QUICK)  # it only waited: no pause
    assert policy.allows(100) and not policy.wants_cpu_time()
    policy.observe_wall(SLOW)
    policy.observe(SLOW)  # it was slow: the pause, as for any slow request
    assert not policy.wants_cpu_time() and not policy.allows(100)
    clock.now += PAUSES[0] + 0.01
    assert policy.allows(100)


def test_a_slow_model_holds_the_event_loop_for_two_requests_per_pause(clock: Clock) -> None:
    """Inline, a slow request is timed by the wall clock and makes the next one CPU-timed; that
    one, slow too, starts the pause; after the pause, the same again, with the pause doubled."""
    policy = InlinePolicy(clock)
    policy.observe_wall(QUICK)
    held = 0
    for _ in range(3):
        assert policy.allows(100)
        policy.observe_wall(SLOW)
        assert policy.allows(100)
        policy.observe(SLOW)
        held += 2
        assert not policy.allows(100)
        clock.now = policy.resume_at + 0.01
    assert held == 6 and policy.pause == 8 * PAUSES[0]
