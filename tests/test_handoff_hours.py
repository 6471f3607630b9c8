"""Business hours (time zones, holidays, overnight shifts) and the `handoff:` config section."""
from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from supportbot.errors import ProjectError
from supportbot.handoff import (
    BusinessHours,
    HandoffConfig,
    ScheduleError,
    format_next_open,
    load_handoff_config,
    validate_handoff_section,
)
from supportbot.project.types import Source

YEREVAN = ZoneInfo("Asia/Yerevan")  # UTC+4, no DST
WEEKDAYS_9_18 = {d: ["09:00-18:00"] for d in ("mon", "tue", "wed", "thu", "fri")}


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.fixture
def hours() -> BusinessHours:
    return BusinessHours.from_spec({**WEEKDAYS_9_18, "sat": ["10:00-14:00"]},
                                   timezone="Asia/Yerevan", holidays=["2025-01-06"])


def test_open_and_closed_in_the_schedules_time_zone(hours: BusinessHours) -> None:
    # Wed 2025-01-08: 05:00 UTC = 09:00 Yerevan (opening minute), 14:00 UTC = 18:00 (closed)
    assert hours.is_open(utc(2025, 1, 8, 5, 0))
    assert not hours.is_open(utc(2025, 1, 8, 4, 59))
    assert hours.is_open(utc(2025, 1, 8, 13, 59))
    assert not hours.is_open(utc(2025, 1, 8, 14, 0))
    # the same instant written in another zone gives the same answer
    assert hours.is_open(datetime(2025, 1, 8, 8, 30, tzinfo=ZoneInfo("Europe/Moscow")))
    # Sunday closed, Saturday short day
    assert not hours.is_open(utc(2025, 1, 12, 8, 0))
    assert hours.is_open(utc(2025, 1, 11, 7, 0)) and not hours.is_open(utc(2025, 1, 11, 10, 0))


def test_holiday_is_closed_and_next_open_skips_it(hours: BusinessHours) -> None:
    monday_holiday = utc(2025, 1, 6, 8, 0)  # 12:00 in Yerevan on a Monday
    assert not hours.is_open(monday_holiday)
    opens = hours.next_open(monday_holiday)
    assert opens == datetime(2025, 1, 7, 9, 0, tzinfo=YEREVAN)
    assert opens.tzinfo == YEREVAN


def test_next_open(hours: BusinessHours) -> None:
    friday_evening = utc(2025, 1, 10, 16, 0)  # 20:00 Friday in Yerevan
    assert hours.next_open(friday_evening) == datetime(2025, 1, 11, 10, 0, tzinfo=YEREVAN)
    saturday_late = utc(2025, 1, 11, 12, 0)  # 16:00 Saturday
    assert hours.next_open(saturday_late) == datetime(2025, 1, 13, 9, 0, tzinfo=YEREVAN)
    early = utc(2025, 1, 8, 1, 0)  # 05:00 Wednesday: opens the same morning
    assert hours.next_open(early) == datetime(2025, 1, 8, 9, 0, tzinfo=YEREVAN)
    now_open = utc(2025, 1, 8, 7, 0)
    assert hours.next_open(now_open) == now_open


def test_overnight_range_and_daylight_saving() -> None:
    night = BusinessHours.from_spec({"fri": ["22:00-06:00"]}, timezone="Europe/Berlin")
    # Fri 2025-03-28 22:30 CET = 21:30 UTC; Sat 05:00 CET = 04:00 UTC
    assert night.is_open(utc(2025, 3, 28, 21, 30))
    assert night.is_open(utc(2025, 3, 29, 4, 0))
    assert not night.is_open(utc(2025, 3, 29, 5, 0))
    # after the switch to summer time (30 March) opening is 22:00 CEST = 20:00 UTC
    opens = night.next_open(utc(2025, 3, 31, 12, 0))
    assert opens.astimezone(UTC) == utc(2025, 4, 4, 20, 0)


def test_naive_datetimes_and_bad_specs_are_refused(hours: BusinessHours) -> None:
    with pytest.raises(ScheduleError, match="time-zone-aware"):
        hours.is_open(datetime(2025, 1, 8, 9, 0))
    with pytest.raises(ScheduleError, match="09-18"):
        BusinessHours.from_spec({"mon": ["09-18"]})
    with pytest.raises(ScheduleError, match="weekday"):
        BusinessHours.from_spec({"monday-ish": ["09:00-18:00"]})
    with pytest.raises(ScheduleError, match="Mars/Olympus"):
        BusinessHours.from_spec({}, timezone="Mars/Olympus")
    assert BusinessHours.always().is_open(utc(2025, 1, 12, 3, 0))
    assert BusinessHours.from_spec({}).next_open(utc(2025, 1, 1)) is None


@pytest.mark.parametrize(("language", "expected"), [
    ("en", "tomorrow at 09:00"),
    ("ru", "завтра в 09:00"),
    ("hy", "վաղը՝ ժամը 09:00-ին"),
    ("ky", "эртең, саат 09:00"),
])
def test_next_open_phrase_tomorrow(language: str, expected: str) -> None:
    when = datetime(2025, 1, 9, 9, 0, tzinfo=YEREVAN)
    assert format_next_open(when, language, utc(2025, 1, 8, 16, 0)) == expected


def test_next_open_phrase_weekday_and_date() -> None:
    monday = datetime(2025, 1, 13, 9, 0, tzinfo=YEREVAN)
    friday_night = utc(2025, 1, 10, 16, 0)
    assert format_next_open(monday, "ru", friday_night) == "в понедельник в 09:00"
    assert format_next_open(monday, "en", friday_night) == "on Monday at 09:00"
    assert format_next_open(monday, "xx", friday_night) == "on Monday at 09:00"
    far = datetime(2025, 1, 30, 9, 0, tzinfo=YEREVAN)
    assert format_next_open(far, "ky", friday_night) == "30.01.2025, саат 09:00"


# ------------------------------------------------------------------ config section
def test_valid_section_parses_to_a_schedule() -> None:
    raw = {"backend": "postgresql://bot@db/support", "queues": ["default", "billing"],
           "sla": {"default": 600, "billing": 300}, "claim_timeout": 180, "ask_csat": False,
           "agent_defaults": {"max_concurrent": 2, "languages": ["ru", "ky"]},
           "business_hours": {"timezone": "Asia/Bishkek", "mon": "09:00-18:00",
                              "sat": ["10:00-13:00", "14:00-16:00"],
                              "holidays": ["2025-03-21"]}}
    assert validate_handoff_section(raw, "config.yml") == []
    config = load_handoff_config(raw, "config.yml")
    assert config.sla["billing"] == 300 and config.claim_timeout == 180
    assert config.agent_defaults.max_concurrent == 2
    schedule = config.hours()
    assert schedule.timezone == "Asia/Bishkek" and date(2025, 3, 21) in schedule.holidays
    assert schedule.is_open(utc(2025, 1, 11, 8, 30))  # Saturday 14:30 in Bishkek (UTC+6)
    assert not schedule.is_open(utc(2025, 1, 11, 7, 30))  # 13:30: lunch break
    assert HandoffConfig().hours().always_open


def test_problems_name_the_key_path_and_file() -> None:
    raw = {"sla": {"billing": -5}, "claim_timout": 30,
           "business_hours": {"timezone": "Europe/Atlantis", "tue": ["9am-6pm"]},
           "agent_defaults": {"max_concurrent": 0}, "backend": "redis://localhost"}
    problems = validate_handoff_section(raw, Source("bots/shop/config.yml", 12))
    text = "\n".join(str(p) for p in problems)
    assert all(p.file == "bots/shop/config.yml" and p.line == 12 for p in problems)
    assert all(p.severity == "error" for p in problems)
    assert "handoff.sla: SLA for queue 'billing' must be a positive" in text
    assert "handoff.claim_timout: unknown key 'claim_timout'" in text
    assert "did you mean 'claim_timeout'?" in text
    assert "handoff.business_hours.timezone: unknown time zone 'Europe/Atlantis'" in text
    assert "handoff.business_hours.tue: '9am-6pm' is not a time range" in text
    assert "handoff.agent_defaults.max_concurrent" in text
    assert "handoff.backend: backend 'redis://localhost' is not supported" in text
    with pytest.raises(ProjectError, match="claim_timout"):
        load_handoff_config(raw, "config.yml")


def test_section_warnings_and_shape() -> None:
    problems = validate_handoff_section({"queues": ["default"], "sla": {"biling": 60}},
                                        "config.yml")
    assert [p.severity for p in problems] == ["warning"]
    assert "handoff.sla.biling" in problems[0].message
    assert validate_handoff_section(None, "config.yml") == []
    (bad,) = validate_handoff_section(["default"], "config.yml")
    assert bad.severity == "error" and "mapping" in bad.message
