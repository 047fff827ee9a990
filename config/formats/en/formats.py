"""One date format in the whole admin (lists, pages, timelines, dashboard), with the time
zone, whatever the browser's language: "2026-12-02 16:07:04 UTC". Django reads these through
settings.FORMAT_MODULE_PATH; with localization always on (Django 5), settings'
DATETIME_FORMAT alone would lose to the locale's "Dec. 2, 2026, 4:07 p.m."."""

DATETIME_FORMAT = "Y-m-d H:i:s T"
SHORT_DATETIME_FORMAT = DATETIME_FORMAT
DATE_FORMAT = "Y-m-d"
SHORT_DATE_FORMAT = DATE_FORMAT
TIME_FORMAT = "H:i:s T"
MONTH_DAY_FORMAT = "m-d"
YEAR_MONTH_FORMAT = "Y-m"
FIRST_DAY_OF_WEEK = 1  # Monday, as ISO 8601
# What forms accept stays Django's (ISO 8601 first).
