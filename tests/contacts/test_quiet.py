"""contacts.quiet as pure functions: the window a moment falls in, read in a time zone (its
[start, end) boundary, midnight, DST changes, weekdays), and which zone a recipient has."""

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import pytest

from contacts.quiet import QuietHours, QuietPolicy, phone_zone, quiet_until
from core.zones import zone, zone_problem

NY = ZoneInfo("America/New_York")
BERLIN = ZoneInfo("Europe/Berlin")
NIGHT = QuietPolicy(time(21, 0), time(8, 0))


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def local(tz, *args) -> datetime:
    return datetime(*args, tzinfo=tz)


@pytest.mark.parametrize(
    "at, until",
    [
        # 23:30 on a winter evening in New York (EST, UTC-5): until 08:00 the next morning.
        (local(NY, 2026, 12, 2, 23, 30), utc(2026, 12, 3, 13, 0)),
        # After midnight: the window that opened the evening before.
        (local(NY, 2026, 12, 3, 3, 0), utc(2026, 12, 3, 13, 0)),
        # [start, end): 21:00 sharp is inside, 08:00 sharp is not, 07:59:59 is.
        (local(NY, 2026, 12, 2, 21, 0), utc(2026, 12, 3, 13, 0)),
        (local(NY, 2026, 12, 3, 7, 59, 59), utc(2026, 12, 3, 13, 0)),
        (local(NY, 2026, 12, 3, 8, 0), None),
        (local(NY, 2026, 12, 2, 20, 59, 59), None),
        (local(NY, 2026, 12, 3, 12, 0), None),
    ],
)
def test_a_window_across_midnight(at, until):
    assert quiet_until(NIGHT, NY, at) == until


def test_the_moment_is_read_in_the_recipients_zone_not_the_callers():
    # 10:00 UTC is 11:00 in Berlin (daytime) and 05:00 in New York (night).
    at = utc(2026, 12, 3, 10, 0)
    assert quiet_until(NIGHT, BERLIN, at) is None
    assert quiet_until(NIGHT, NY, at) == utc(2026, 12, 3, 13, 0)
    # The same instant given in any zone gives the same answer.
    assert quiet_until(NIGHT, NY, at.astimezone(BERLIN)) == utc(2026, 12, 3, 13, 0)


def test_spring_forward_night_ends_at_eight_local_not_eleven_hours_later():
    # New York moves to EDT at 02:00 on Sunday 8 March 2026: the night of the 7th is 10 hours.
    opened = local(NY, 2026, 3, 7, 21, 0)
    assert opened.astimezone(UTC) == utc(2026, 3, 8, 2, 0)
    assert quiet_until(NIGHT, NY, opened) == utc(2026, 3, 8, 12, 0)  # 08:00 EDT
    assert quiet_until(NIGHT, NY, utc(2026, 3, 8, 11, 59)) == utc(2026, 3, 8, 12, 0)
    assert quiet_until(NIGHT, NY, utc(2026, 3, 8, 12, 0)) is None


def test_fall_back_night_ends_at_eight_local_twelve_hours_later():
    # Back to EST at 02:00 on Sunday 1 November 2026: the night of 31 October is 12 hours.
    assert quiet_until(NIGHT, NY, utc(2026, 11, 1, 1, 0)) == utc(2026, 11, 1, 13, 0)
    # 01:30 happens twice that night; both are inside.
    first = datetime(2026, 11, 1, 1, 30, tzinfo=NY, fold=0)
    second = datetime(2026, 11, 1, 1, 30, tzinfo=NY, fold=1)
    assert first.astimezone(UTC) != second.astimezone(UTC)
    assert quiet_until(NIGHT, NY, first) == quiet_until(NIGHT, NY, second) == utc(2026, 11, 1, 13)
    assert quiet_until(NIGHT, NY, utc(2026, 11, 1, 12, 30)) == utc(2026, 11, 1, 13, 0)


def test_a_window_that_opens_in_the_skipped_hour():
    # 02:30 does not exist on 8 March 2026 in New York: the window opens at 03:30 EDT.
    policy = QuietPolicy(time(2, 30), time(4, 0))
    assert quiet_until(policy, NY, utc(2026, 3, 8, 7, 0)) is None  # 03:00 EDT
    assert quiet_until(policy, NY, utc(2026, 3, 8, 7, 30)) == utc(2026, 3, 8, 8, 0)


def test_a_daytime_window():
    lunch = QuietPolicy(time(12, 0), time(13, 30))
    assert quiet_until(lunch, BERLIN, local(BERLIN, 2026, 12, 3, 12, 15)) == utc(
        2026, 12, 3, 12, 30
    )
    assert quiet_until(lunch, BERLIN, local(BERLIN, 2026, 12, 3, 13, 30)) is None
    assert quiet_until(lunch, BERLIN, local(BERLIN, 2026, 12, 3, 11, 59)) is None


def test_a_window_belongs_to_the_day_it_opens_on():
    fridays = QuietPolicy(time(21, 0), time(8, 0), frozenset({4}))
    # Friday 4 December 2026, 23:00, and the Saturday morning after: Friday's window.
    assert quiet_until(fridays, BERLIN, local(BERLIN, 2026, 12, 4, 23, 0)) == utc(2026, 12, 5, 7)
    assert quiet_until(fridays, BERLIN, local(BERLIN, 2026, 12, 5, 2, 0)) == utc(2026, 12, 5, 7)
    # Saturday night and Thursday night are not quiet.
    assert quiet_until(fridays, BERLIN, local(BERLIN, 2026, 12, 5, 23, 0)) is None
    assert quiet_until(fridays, BERLIN, local(BERLIN, 2026, 12, 4, 2, 0)) is None


def test_no_policy_or_an_empty_window_defers_nothing():
    at = local(NY, 2026, 12, 2, 23, 0)
    assert quiet_until(None, NY, at) is None
    assert quiet_until(QuietPolicy(time(9, 0), time(9, 0)), NY, at) is None


@pytest.mark.parametrize(
    "number, zone_name",
    [
        ("+12125550100", "America/New_York"),  # a Manhattan number
        ("+14155550100", "America/Los_Angeles"),
        ("+493012345678", "Europe/Berlin"),
        ("+491701234567", "Europe/Berlin"),  # a mobile: a country of one zone
        ("+390612345678", "Europe/Rome"),  # Rome, its national number led by a 0
        ("+79161234567", None),  # a Russian mobile: eleven zones
        ("+74951234567", "Europe/Moscow"),  # a Moscow landline
        ("+61412345678", None),  # an Australian mobile: several zones
        ("+18005550100", None),  # US toll-free: the whole continent
        ("+447700900123", None),  # phonenumbers knows none
        ("not a number", None),
    ],
)
def test_phone_zone_only_when_the_number_has_one(number, zone_name):
    found = phone_zone(number)
    assert (found.key if found else None) == zone_name


@pytest.mark.parametrize(
    "name, ok",
    [
        ("Europe/Berlin", True),
        ("America/New_York", True),
        ("UTC", True),
        ("europe/berlin", False),
        ("Mars/Olympus_Mons", False),
        ("localtime", False),  # the server's own clock, no place
        ("../../etc/passwd", False),
        ("", False),
    ],
)
def test_zone_problem(name, ok):
    assert (zone_problem(name) is None) is ok
    if not ok and name:
        assert name in zone_problem(name)


def test_zone_is_none_for_unknown_names():
    assert zone("Etc/Unknown") is None and zone("") is None and zone("Nowhere/Town") is None
    assert zone("Asia/Tokyo").key == "Asia/Tokyo"


def test_the_phone_zone_agrees_with_phonenumbers():
    """phone_zone's short cuts (a country of one zone; no second parse) give phonenumbers'
    own answer, for an example number of every type of every region."""
    import phonenumbers
    from phonenumbers import timezone as tzdata

    checked = 0
    for region in phonenumbers.SUPPORTED_REGIONS:
        for kind in range(12):
            example = phonenumbers.example_number_for_type(region, kind)
            if example is None:
                continue
            e164 = phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)
            zones = tzdata.time_zones_for_number(example)
            expected = zone(zones[0]) if len(zones) == 1 else None
            assert phone_zone(e164) == expected, e164
            checked += 1
    assert checked > 1000


@pytest.mark.django_db
def test_one_query_for_a_requests_recipients_none_when_nothing_can_wait(
    tenant, django_assert_num_queries
):
    tenant.quiet_hours_enabled = True
    tenant.save()
    recipients = [("sms", f"+1212555{n:04d}", None) for n in range(500)]
    with django_assert_num_queries(1):
        quiet = QuietHours.of_recipients(tenant=tenant, recipients=recipients)
    with django_assert_num_queries(0):
        for _, address, _ in recipients:
            quiet.deferral("sms", address, utc(2026, 12, 3, 10, 0))
    # Email is not quiet by default: nothing to look up.
    with django_assert_num_queries(0):
        QuietHours.of_recipients(tenant=tenant, recipients=[("email", "a@example.com", None)])
