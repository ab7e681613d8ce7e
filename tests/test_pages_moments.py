"""Times on pages in words (server/pages/wording.py): no ISO timestamps with microseconds."""

from __future__ import annotations

from datetime import UTC, datetime

from server.pages.wording import duration, moment, period, until
from server.pages.wording import exact_time as exact
from server.pages.wording import since as ago

NOW = datetime(2026, 12, 2, 14, 5, 30, tzinfo=UTC)


def test_moments__past_and_future_in_the_largest_unit() -> None:
    assert ago("2026-12-02T14:05:10.123456Z", NOW) == "just now"
    assert ago("2026-12-02T14:04:10Z", NOW) == "1 minute ago"
    assert ago("2026-12-02T11:00:00+00:00", NOW) == "3 hours ago"
    assert ago("2026-11-26T14:05:30Z", NOW) == "6 days ago"
    assert ago("2026-11-25T14:05:30Z", NOW) == "25 November 2026, 14:05 UTC"  # a week or more: the date
    assert ago("2026-12-02T14:10:30Z", NOW) == "in 5 minutes"
    assert until("2026-12-02T14:10:30Z", NOW) == "in 5 minutes"
    assert until("2026-12-02T14:00:00Z", NOW) == "soon" and until(None, NOW) == "soon"


def test_moments__the_exact_time_is_the_title_without_microseconds() -> None:
    assert exact("2026-12-02T09:07:59.999999Z") == "2 December 2026, 09:07 UTC"
    shown = str(moment("2026-12-02T09:07:59.999999Z"))
    assert shown.startswith('<time datetime="2026-12-02T09:07:59.999999Z" title="2 December 2026, 09:07 UTC">')
    assert str(moment(None)) == "never" and str(moment("", empty="not yet")) == "not yet"
    assert ago("not a time", NOW) == "not a time"


def test_moments__spans_in_their_largest_units_and_periods_exactly() -> None:
    assert duration(4) == "4 seconds" and duration(20, under_a_minute="less than a minute") == "less than a minute"
    assert duration(3900) == "1 hour 5 minutes" and duration(2 * 86400 + 3 * 3600 + 60) == "2 days 3 hours"
    assert duration(2 * 86400 + 3 * 3600, parts=1) == "2 days" and duration(86400 + 300) == "1 day 5 minutes"
    assert period(5400) == "90 minutes" and period(3 * 86400) == "3 days" and period(45) == "45 seconds"
    assert period(None) == "" and period(3600) == "1 hour"
