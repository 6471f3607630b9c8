"""Business hours: a weekly schedule in an IANA time zone, minus holidays."""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from supportbot.errors import HandoffError

WEEKDAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_FULL_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_RANGE = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")
_DAY = 24 * 60


class ScheduleError(HandoffError, ValueError):
    """A business-hours setting cannot be understood."""


def parse_range(text: str) -> tuple[int, int]:
    """`"09:00-18:00"` -> minutes (540, 1080). An end at or before the start runs past midnight;
    `24:00` is allowed as an end."""
    match = _RANGE.match(str(text))
    if not match:
        raise ScheduleError(f"{text!r} is not a time range like \"09:00-18:00\"")
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    if h1 > 23 or m1 > 59 or h2 > 24 or m2 > 59 or (h2 == 24 and m2):
        raise ScheduleError(f"{text!r} has an impossible time (hours 00-23, or 24:00 as an end)")
    start, end = h1 * 60 + m1, h2 * 60 + m2
    if start == end:
        raise ScheduleError(f"{text!r} starts and ends at the same time; "
                            "write \"00:00-24:00\" for the whole day")
    return start, end


def load_timezone(name: str) -> ZoneInfo:
    """The IANA zone `name` (e.g. "Asia/Yerevan"), or ScheduleError."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleError(f"unknown time zone {name!r}; use an IANA name such as "
                            "\"Europe/Moscow\" or \"UTC\"") from None


@dataclass(frozen=True)
class BusinessHours:
    """When people answer. `windows[d]` lists (start, end) minutes of weekday d (0 = Monday)."""

    timezone: str = "UTC"
    windows: Mapping[int, tuple[tuple[int, int], ...]] = field(default_factory=dict)
    holidays: frozenset[date] = frozenset()
    always_open: bool = False

    @classmethod
    def always(cls) -> BusinessHours:
        """A schedule that is never closed (no business_hours configured)."""
        return cls(always_open=True)

    @classmethod
    def from_spec(cls, weekly: Mapping[str, Iterable[str]], timezone: str = "UTC",
                  holidays: Iterable[date | str] = ()) -> BusinessHours:
        """Build from `{"mon": ["09:00-18:00"], ...}` (or full day names); missing days are closed.

        A range that ends at or before its start continues on the next day ("22:00-06:00").
        """
        load_timezone(timezone)
        windows: dict[int, list[tuple[int, int]]] = {d: [] for d in range(7)}
        for key, ranges in weekly.items():
            day = key.strip().lower()
            day = day[:3] if day in _FULL_NAMES else day
            if day not in WEEKDAYS:
                raise ScheduleError(f"{key!r} is not a weekday; use {', '.join(WEEKDAYS)}")
            if isinstance(ranges, str):
                ranges = [ranges]
            d = WEEKDAYS.index(day)
            for text in ranges:
                start, end = parse_range(text)
                if end > start:
                    windows[d].append((start, end))
                else:  # past midnight
                    windows[d].append((start, _DAY))
                    if end:
                        windows[(d + 1) % 7].append((0, end))
        days: set[date] = set()
        for h in holidays:
            try:
                days.add(h if isinstance(h, date) else date.fromisoformat(str(h)))
            except ValueError:
                raise ScheduleError(f"holiday {h!r} is not a date like 2025-12-31") from None
        return cls(timezone=timezone,
                   windows={d: tuple(sorted(w)) for d, w in windows.items() if w},
                   holidays=frozenset(days))

    @property
    def zone(self) -> ZoneInfo:
        return load_timezone(self.timezone)

    def _local(self, at: datetime | None) -> datetime:
        if at is None:
            at = datetime.now(UTC)
        if at.tzinfo is None or at.utcoffset() is None:
            raise ScheduleError("business hours need a time-zone-aware datetime "
                                "(e.g. datetime.now(timezone.utc))")
        return at.astimezone(self.zone)

    def is_open(self, at: datetime | None = None) -> bool:
        """Whether people are at work at `at` (default: now)."""
        if self.always_open:
            return True
        local = self._local(at)
        if local.date() in self.holidays:
            return False
        minute = local.hour * 60 + local.minute
        return any(start <= minute < end for start, end in self.windows.get(local.weekday(), ()))

    def next_open(self, at: datetime | None = None) -> datetime | None:
        """`at` itself when open, else the next opening time (in the schedule's zone);
        None when the schedule never opens."""
        local = self._local(at)
        if self.is_open(local):
            return local
        zone = self.zone
        now_utc = local.astimezone(UTC)
        for offset in range(400):
            day = local.date() + timedelta(days=offset)
            if day in self.holidays:
                continue
            for start, _end in self.windows.get(day.weekday(), ()):
                candidate = datetime.combine(day, time(start // 60, start % 60), tzinfo=zone)
                if candidate.astimezone(UTC) > now_utc:
                    return candidate
        return None


_WEEKDAY_PHRASES: Mapping[str, tuple[str, ...]] = {
    "en": ("on Monday", "on Tuesday", "on Wednesday", "on Thursday", "on Friday", "on Saturday",
           "on Sunday"),
    "ru": ("в понедельник", "во вторник", "в среду", "в четверг", "в пятницу", "в субботу",
           "в воскресенье"),
    "hy": ("երկուշաբթի", "երեքշաբթի", "չորեքշաբթի", "հինգշաբթի", "ուրբաթ", "շաբաթ", "կիրակի"),
    "ky": ("дүйшөмбү", "шейшемби", "шаршемби", "бейшемби", "жума", "ишемби", "жекшемби"),
}
_RELATIVE = {
    "en": ("today", "tomorrow"), "ru": ("сегодня", "завтра"),
    "hy": ("այսօր", "վաղը"), "ky": ("бүгүн", "эртең"),
}
_PATTERN = {
    "en": "{day} at {time}",
    "ru": "{day} в {time}",
    "hy": "{day}՝ ժամը {time}-ին",
    "ky": "{day}, саат {time}",
}


def format_next_open(when: datetime, language: str | None, now: datetime | None = None) -> str:
    """A phrase for `{next_open}` in templates: "tomorrow at 09:00", "в понедельник в 09:00".

    Within a week the weekday is named; further out the date is written as dd.mm.yyyy.
    Unknown languages fall back to English.
    """
    lang = language if language in _PATTERN else "en"
    now = (now or datetime.now(UTC)).astimezone(when.tzinfo)
    days = (when.date() - now.date()).days
    if days in (0, 1):
        day = _RELATIVE[lang][days]
    elif 1 < days < 7:
        day = _WEEKDAY_PHRASES[lang][when.weekday()]
    else:
        day = when.strftime("%d.%m.%Y")
        if lang == "en":
            day = "on " + day
    return _PATTERN[lang].format(day=day, time=when.strftime("%H:%M"))
