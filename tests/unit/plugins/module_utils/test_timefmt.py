"""_timefmt: our one ISO-8601 UTC format, written and read back."""
import datetime

from ansible_collections.chaos.engineering.plugins.module_utils._timefmt import TIME_MIN, iso_utc, parse_iso, to_epoch

T0 = 1795773610.25  # 2026-11-27T10:00:10.250Z


def test_iso_utc_from_epoch_and_datetime():
    assert iso_utc(T0) == '2026-11-27T10:00:10.250Z'
    moment = datetime.datetime(2026, 11, 27, 11, 0, 10, 250000, tzinfo=datetime.timezone(datetime.timedelta(hours=1)))
    assert iso_utc(moment) == '2026-11-27T10:00:10.250Z'
    assert iso_utc(None) is None


def test_what_we_write_reads_back():
    assert to_epoch(iso_utc(T0)) == T0 and parse_iso(iso_utc(T0)) == T0


def test_to_epoch_takes_numbers_and_text_of_them_but_not_parse_iso():
    assert to_epoch(T0) == T0 and to_epoch(str(T0)) == T0 and to_epoch(' 12 ') == 12.0
    assert parse_iso(str(T0)) is None


def test_outside_the_years_1_to_9999_is_none():
    assert to_epoch(TIME_MIN) == TIME_MIN and to_epoch(TIME_MIN - 1) is None
    assert to_epoch(float('nan')) is None and to_epoch('nan') is None and to_epoch('inf') is None
    assert parse_iso('0000-01-01T00:00:00Z') is None


def test_offsets_and_fractions():
    assert parse_iso('2026-11-27 11:00:10.25+0100') == T0
    assert parse_iso('2026-11-27T10:00:10.250000000Z') == T0
    assert parse_iso('2026-11-27T10:00:10') == T0 - 0.25
    assert parse_iso('tomorrow') is None and to_epoch(['x']) is None and to_epoch(True) is None


def test_what_fromisoformat_reads_too():
    assert parse_iso('2026-11-27T10:00z') == T0 - 10.25
    assert parse_iso('2026-11-27') == T0 - 36010.25
    assert parse_iso('2026-11-27T10') is None and parse_iso('2026-13-01') is None
