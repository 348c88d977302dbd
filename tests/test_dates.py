"""Time expressions become calendar dates relative to the publication date."""

import datetime as dt

import pytest

from service.dates import normalise_date

WEDNESDAY = dt.date(2016, 11, 9)


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("at around 6am", WEDNESDAY),  # a time alone means the publication day
        ("this morning", WEDNESDAY),
        ("today", WEDNESDAY),
        ("yesterday", dt.date(2016, 11, 8)),
        ("last night", dt.date(2016, 11, 8)),
        ("on Sunday morning", dt.date(2016, 11, 6)),
        ("Sunday's Grand Prix", dt.date(2016, 11, 6)),
        ("November 8, 2016", dt.date(2016, 11, 8)),
        ("8 November", dt.date(2016, 11, 8)),
    ],
)
def test_expressions_resolve_relative_to_the_publication_date(expression, expected):
    assert normalise_date(expression, WEDNESDAY) == expected


def test_the_publication_weekday_means_the_publication_day():
    assert normalise_date("on Wednesday", WEDNESDAY) == WEDNESDAY


def test_weekday_and_day_month_pick_the_year_that_makes_the_weekday_right():
    # 8 November was a Tuesday in 2016, not in 2017: an article published in January 2017
    # about "Tuesday, 8 November" means 2016.
    assert normalise_date("Tuesday, 8 November", dt.date(2017, 1, 3)) == dt.date(2016, 11, 8)


def test_without_publication_date_relative_expressions_have_no_date():
    assert normalise_date("on Tuesday", None) is None
    assert normalise_date("yesterday", None) is None


def test_without_publication_date_an_explicit_date_still_resolves():
    assert normalise_date("March 3, 2021", None) == dt.date(2021, 3, 3)


def test_text_that_is_not_a_time_has_no_date():
    assert normalise_date("on Addiscombe Road", WEDNESDAY) is None
