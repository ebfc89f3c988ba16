"""Times as Lago reads and writes them, and plan intervals on the calendar."""

from datetime import UTC, datetime, timedelta


def now_utc():
    return datetime.now(UTC).replace(microsecond=0)


def iso(dt):
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ") if dt else None


def parse_time(value):
    """An ISO 8601 time (or epoch seconds), or None when it is not one."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return datetime.fromtimestamp(int(value), UTC)
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip().replace("Z", "+00:00")
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def add_interval(dt, interval, count=1):
    """`dt` moved by `count` plan intervals, the day clamped to the month's length."""
    if interval == "weekly":
        return dt + timedelta(weeks=count)
    months = {"monthly": 1, "quarterly": 3, "semiannual": 6, "yearly": 12}[interval] * count
    month0 = dt.month - 1 + months
    year, month = dt.year + month0 // 12, month0 % 12 + 1
    days = [
        31,
        29 if year % 4 == 0 and (year % 100 or year % 400 == 0) else 28,
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ][month - 1]
    return dt.replace(year=year, month=month, day=min(dt.day, days))
