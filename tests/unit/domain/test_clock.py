"""LastModified as AWS formats it."""

from __future__ import annotations

import datetime as dt
import re

from nimbus.domain.clock import lambda_timestamp, utc_now


def test_last_modified_has_milliseconds_and_a_plus_0000_offset() -> None:
    moment = dt.datetime(2019, 9, 26, 20, 28, 40, 438_901, tzinfo=dt.UTC)
    assert lambda_timestamp(moment) == "2019-09-26T20:28:40.438+0000"


def test_other_time_zones_are_converted_to_utc() -> None:
    moment = dt.datetime(2019, 9, 26, 22, 28, 40, 5_000, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    assert lambda_timestamp(moment) == "2019-09-26T20:28:40.005+0000"


def test_now_matches_the_format() -> None:
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}\+0000", lambda_timestamp(utc_now()))
