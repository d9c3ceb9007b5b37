"""Go's text renderings of scalars, where sops's bytes depend on them.

The MAC hashes `strconv.FormatFloat(f, 'f', -1, 64)` for floats and
"True"/"False" for booleans; YAML timestamps are hashed and printed in Go's
RFC 3339 layout; `sops -d` prints JSON with Go's encoding/json rules. Python's
shortest float repr has the same digits as Go's shortest formatting, so only
the layout differs.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal


def format_float_f(value: float) -> str:
    """strconv.FormatFloat(value, 'f', -1, 64)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return format(Decimal(repr(value)).normalize(), "f")


def format_float_e(value: float) -> str:
    """strconv.FormatFloat(value, 'e', -1, 64): shortest digits, two-digit exponent."""
    sign, digits, exponent = Decimal(repr(value)).normalize().as_tuple()
    assert isinstance(exponent, int)
    mantissa = str(digits[0]) + ("." + "".join(map(str, digits[1:])) if len(digits) > 1 else "")
    power = exponent + len(digits) - 1
    return f"{'-' if sign else ''}{mantissa}e{'+' if power >= 0 else '-'}{abs(power):02d}"


def format_bool(value: bool) -> str:
    return "True" if value else "False"


_DATE = r"(\d{4})-(\d{1,2})-(\d{1,2})"
_CLOCK = r"(\d{1,2}):(\d{1,2}):(\d{1,2})(\.\d+)?"
# go-yaml's timestamp layouts, in its order: RFC 3339 with a "T"/"t" and a zone,
# a space and no zone, or a date alone. ASCII digits only, as Go reads them
# (Python's \d would also take other scripts' digits).
_LAYOUTS = (
    re.compile(f"{_DATE}[Tt]{_CLOCK}(Z|[+-]\\d{{2}}:\\d{{2}})", re.ASCII),
    re.compile(f"{_DATE} {_CLOCK}()", re.ASCII),
    re.compile(f"{_DATE}()()()()()", re.ASCII),
)


def parse_time(text: str) -> tuple[datetime, str] | None:
    """A timestamp as go-yaml's resolver (and time.Parse) accepts it, else None.

    Returns the moment (to microseconds) and the fractional-second digits as
    written, which Go keeps to the nanosecond.
    """
    for layout in _LAYOUTS:
        match = layout.fullmatch(text)
        if match is not None:
            moment = _to_datetime(*match.groups())
            return None if moment is None else (moment, (match.group(7) or ".")[1:])
    return None


def _to_datetime(*parts: str | None) -> datetime | None:
    year, month, day, hour, minute, second, fraction, zone = parts
    micro = int((fraction or ".0")[1:7].ljust(6, "0"))
    try:  # an out-of-range field or offset is not a time: go-yaml keeps the text
        tz = UTC
        if zone and zone != "Z":
            sign = -1 if zone[0] == "-" else 1
            tz = timezone(sign * timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6])))
        return datetime(
            int(year or 0), int(month or 0), int(day or 0),
            int(hour or 0), int(minute or 0), int(second or 0), micro, tz,
        )  # fmt: skip
    except ValueError:
        return None


def format_rfc3339(moment: datetime, fraction: str = "") -> str:
    """time.Format(time.RFC3339), or RFC3339Nano when `fraction` digits are given.

    A zero offset prints as "Z"; RFC3339Nano drops trailing zeros of the fraction.
    """
    offset = moment.utcoffset() or timedelta(0)
    base = moment.strftime("%Y-%m-%dT%H:%M:%S")
    digits = fraction[:9].rstrip("0")
    if digits:
        base += "." + digits
    if not offset:
        return base + "Z"
    minutes = int(offset.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    return f"{base}{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def json_float(value: float) -> str:
    """encoding/json's float64 layout."""
    magnitude = abs(value)
    if magnitude != 0 and (magnitude < 1e-6 or magnitude >= 1e21):
        return re.sub(r"e([+-])0(\d)$", r"e\1\2", format_float_e(value))
    return format_float_f(value)


_JSON_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def json_string(text: str) -> str:
    """encoding/json's string layout, HTML-safe escaping included."""
    out = ['"']
    for char in text:
        code = ord(char)
        if char in _JSON_ESCAPES:
            out.append(_JSON_ESCAPES[char])
        elif code < 0x20 or char in "<>&\u2028\u2029":
            out.append(f"\\u{code:04x}")
        elif 0xDC80 <= code <= 0xDCFF:  # an undecodable byte: Go writes U+FFFD
            out.append("\ufffd")
        else:
            out.append(char)
    out.append('"')
    return "".join(out)
