"""Timestamps in the formats the Lambda API uses."""

from __future__ import annotations

import datetime as dt


def lambda_timestamp(moment: dt.datetime) -> str:
    """`2019-09-26T20:28:40.438+0000`: FunctionConfiguration.LastModified."""
    utc = moment.astimezone(dt.UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}+0000"


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
