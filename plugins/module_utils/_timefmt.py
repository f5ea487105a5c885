# -*- coding: utf-8 -*-
# Copyright (c) chaos.engineering contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Our one time format: a moment written as ISO-8601 UTC with milliseconds and a Z, and read back as epoch seconds.

Standard library only, so the reverter (which runs without Ansible) can use it too.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import calendar
import datetime
import re

# Times we can write and read: the years 1 to 9999 (what datetime and ISO-8601 can write), in epoch seconds.
TIME_MIN = -62135596800.0
TIME_MAX = 253402300799.0

# A date, optionally with a time (seconds and a fraction optional) and a zone: what datetime.fromisoformat reads too.
_ISO = re.compile(r'^(\d{4})-(\d\d)-(\d\d)(?:[T ](\d\d):(\d\d)(?::(\d\d)(?:\.(\d+))?)?([Zz]|[+-]\d\d:?\d\d)?)?$')


def iso_utc(moment):
    """ISO-8601 UTC with milliseconds and a Z (2026-11-27T10:00:00.000Z), from a datetime (a naive one is taken as
    local time, as datetime does) or epoch seconds; None stays None."""
    if moment is None:
        return None
    if not isinstance(moment, datetime.datetime):
        moment = datetime.datetime.fromtimestamp(moment, datetime.timezone.utc)
    return moment.astimezone(datetime.timezone.utc).isoformat(timespec='milliseconds').replace('+00:00', 'Z')


def within_range(seconds):
    """The epoch seconds when they fall in the years 1 to 9999, else None (NaN too)."""
    return seconds if seconds is not None and TIME_MIN <= seconds <= TIME_MAX else None


def parse_iso(text):
    """Epoch seconds from an ISO-8601 time (Z, an offset or none meaning UTC; a space for the T; any fraction; a
    date alone is its midnight UTC), or None for text that is not one, or a time outside the years 1 to 9999."""
    match = _ISO.match(str(text).strip())
    if not match:
        return None
    year, month, day, hour, minute, second = (int(g or 0) for g in match.groups()[:6])
    try:
        datetime.datetime(year, month, day, hour, minute, second)  # refuses 2026-02-31 and 25:00, as fromisoformat does
        seconds = calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0))
    except (ValueError, OverflowError):
        return None
    fraction = match.group(7)
    if fraction:
        seconds += float('0.' + fraction)
    zone = match.group(8)
    if zone and zone not in 'Zz':
        sign = 1 if zone[0] == '+' else -1
        digits = zone[1:].replace(':', '')
        seconds -= sign * (int(digits[:2]) * 3600 + int(digits[2:]) * 60)
    return within_range(float(seconds))


def to_epoch(value):
    """Epoch seconds from whatever a record holds for a moment: epoch seconds (a number, or text of one) or an
    ISO-8601 time. None for anything else (None, a bool, a list, NaN, 'soon') and outside the years 1 to 9999."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return within_range(float(value))
    if not isinstance(value, str):
        return None
    try:
        return within_range(float(value))
    except ValueError:
        return parse_iso(value)
