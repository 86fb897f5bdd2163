from __future__ import annotations

import datetime as dt

import click
import pytest

from nimbus.cli.logs import FOLLOW_WAIT, format_line, since_cutoff, tail
from nimbus.client import LogLine
from tests.unit.cli.fakes import FakeApi

NOW = dt.datetime(2024, 5, 1, 12, 0, 0, tzinfo=dt.UTC)


def line(event_id: int, timestamp_ms: int = 1_714_564_800_000, message: str = "hello") -> LogLine:
    return LogLine(event_id, "2024/05/01/[$LATEST]abc", timestamp_ms, message)


@pytest.mark.parametrize(
    ("text", "seconds_back"), [("30s", 30), ("10m", 600), ("2h", 7200), ("1d", 86400), ("1w", 604800)]
)
def test_since_duration_counts_back_from_now(text: str, seconds_back: int) -> None:
    assert since_cutoff(text, NOW) == int(NOW.timestamp() * 1000) - seconds_back * 1000


def test_since_iso_time_without_zone_is_utc() -> None:
    assert since_cutoff("2024-05-01T11:00:00", NOW) == int(NOW.timestamp() * 1000) - 3_600_000


def test_since_rejects_nonsense() -> None:
    with pytest.raises(click.BadParameter, match="neither a duration"):
        since_cutoff("yesterday", NOW)


def test_line_shows_utc_time_stream_and_message() -> None:
    assert format_line(line(1), raw=False) == "2024-05-01T12:00:00.000Z 2024/05/01/[$LATEST]abc hello"


def test_raw_line_is_the_message_alone() -> None:
    assert format_line(line(1, message="a\rb\n"), raw=True) == "a\rb"


def test_multi_line_message_is_shown_on_separate_lines() -> None:
    assert format_line(line(1, message="[ERROR] boom\rTraceback"), raw=False).endswith("[ERROR] boom\nTraceback")


def test_tail_pages_until_an_empty_page() -> None:
    api = FakeApi(log_pages=[[line(1), line(2)], [line(3)], []])
    shown: list[int] = []
    tail(api, "fn", 0, follow=False, emit=lambda event: shown.append(event.id))
    assert shown == [1, 2, 3]
    assert api.log_requests == [(0, 0), (2, 0), (3, 0)]


def test_tail_filters_lines_before_since() -> None:
    api = FakeApi(log_pages=[[line(1, timestamp_ms=1000), line(2, timestamp_ms=5000)], []])
    shown: list[int] = []
    tail(api, "fn", 2000, follow=False, emit=lambda event: shown.append(event.id))
    assert shown == [2]


def test_follow_keeps_long_polling_after_an_empty_page() -> None:
    api = FakeApi(log_pages=[[line(1)], [], [line(2)]])
    shown: list[int] = []
    with pytest.raises(KeyboardInterrupt):
        tail(api, "fn", 0, follow=True, emit=lambda event: shown.append(event.id))
    assert shown == [1, 2]
    assert api.log_requests[:3] == [(0, FOLLOW_WAIT), (1, FOLLOW_WAIT), (1, FOLLOW_WAIT)]
