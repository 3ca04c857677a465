"""A time as the user's clock shows it in a message or a title: one form for all."""

from __future__ import annotations

from datetime import datetime, timezone


def local_time(stamp: datetime | float) -> str:
    """`stamp` (a datetime, a naive one UTC as pymongo hands it back, or seconds since
    the epoch) as local `YYYY-MM-DD HH:MM:SS`."""
    if not isinstance(stamp, datetime):
        stamp = datetime.fromtimestamp(stamp, timezone.utc)
    elif stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=timezone.utc)
    return stamp.astimezone().strftime("%Y-%m-%d %H:%M:%S")
