"""The service's one clock: installed clocks nest, each removing only itself."""

from __future__ import annotations

from datetime import UTC, datetime

from service import clock

FIRST = datetime(2026, 1, 1, tzinfo=UTC)
SECOND = datetime(2027, 1, 1, tzinfo=UTC)


def test_two_clocks_installed_at_once_each_remove_only_their_own() -> None:
    remove_first = clock.use_clock(lambda: FIRST)
    remove_second = clock.use_clock(lambda: SECOND)
    try:
        assert clock.now() == SECOND  # the newest is in force
        remove_first()  # the first sandbox stops: the second keeps its clock
        assert clock.now() == SECOND
    finally:
        remove_second()
    assert abs((clock.now() - datetime.now(UTC)).total_seconds()) < 60  # the system clock again


def test_removing_twice_removes_nothing_more() -> None:
    remove_first = clock.use_clock(lambda: FIRST)
    remove_again = clock.use_clock(lambda: SECOND)
    remove_again()
    remove_again()
    try:
        assert clock.now() == FIRST
    finally:
        remove_first()
