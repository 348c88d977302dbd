"""Dates read with their sentence: tense and cue words decide which Tuesday or which Jan. 14 is meant.

The sentences are written for these tests in the style of wire copy; none comes from the benchmark.
"""

import datetime as dt
import json

from service.cli import main
from service.dates import date_in_text, normalise_date, sentence_around

THURSDAY = dt.date(2025, 9, 25)  # the AFP example's publication day


def resolve(sentence: str, expression: str, published: dt.date) -> dt.date | None:
    """The date of ``expression`` where it occurs in ``sentence``, as the service reads it."""
    start = sentence.index(expression)
    return date_in_text(sentence, start, start + len(expression), published)


# The AFP example --------------------------------------------------------------------------------


def test_weekday_with_month_day_ahead_of_publication_is_that_day():
    sentence = "The museum will reopen to the public from Saturday, September 27, its director said."
    assert resolve(sentence, "from Saturday, September 27", THURSDAY) == dt.date(2025, 9, 27)


def test_next_tuesday_is_the_first_tuesday_after_publication():
    sentence = "Union leaders said the strike would continue until next Tuesday at the earliest."
    assert resolve(sentence, "next Tuesday", THURSDAY) == dt.date(2025, 9, 30)


# Weekdays ---------------------------------------------------------------------------------------


def test_weekday_after_will_lies_ahead():
    sentence = "European foreign ministers will meet in Brussels on Tuesday to discuss the crisis."
    assert resolve(sentence, "Tuesday", THURSDAY) == dt.date(2025, 9, 30)


def test_weekday_after_a_past_tense_verb_lies_behind():
    sentence = "Police said the gunman opened fire on Tuesday outside a crowded railway station."
    assert resolve(sentence, "Tuesday", THURSDAY) == dt.date(2025, 9, 23)


def test_weekday_after_said_is_the_day_of_the_statement():
    sentence = "The finance minister said Monday that the budget would be balanced by 2027."
    assert resolve(sentence, "Monday", THURSDAY) == dt.date(2025, 9, 22)


def test_weekday_with_a_present_tense_schedule_verb_lies_ahead():
    sentence = "Peace talks resume Monday in Geneva after a two-week pause."
    assert resolve(sentence, "Monday", THURSDAY) == dt.date(2025, 9, 29)


def test_a_cue_in_the_weekdays_own_clause_beats_a_nearer_one_outside_it():
    sentence = "Diplomats said that on Monday the talks resume in Geneva."
    assert resolve(sentence, "Monday", THURSDAY) == dt.date(2025, 9, 29)


def test_weekday_with_is_to_lies_ahead():
    sentence = "The prime minister is to visit the flooded region on Saturday."
    assert resolve(sentence, "Saturday", THURSDAY) == dt.date(2025, 9, 27)


def test_weekday_after_a_future_passive_lies_ahead():
    sentence = "The treaty will be signed in Paris on Saturday, diplomats said."
    assert resolve(sentence, "Saturday", THURSDAY) == dt.date(2025, 9, 27)


def test_weekday_after_could_not_be_reached_lies_behind():
    sentence = "A spokesman for the company could not be reached for comment Wednesday."
    assert resolve(sentence, "Wednesday", THURSDAY) == dt.date(2025, 9, 24)


def test_until_a_weekday_lies_ahead():
    sentence = "The vote was postponed until Monday."
    assert resolve(sentence, "Monday", THURSDAY) == dt.date(2025, 9, 29)


def test_until_a_weekday_in_the_past_perfect_lies_behind():
    sentence = "Until Monday, police had refused to name the suspect."
    assert resolve(sentence, "Monday", THURSDAY) == dt.date(2025, 9, 22)


def test_weekday_without_any_cue_lies_behind():
    sentence = "Heavy rain on Sunday, flooding in the capital."
    assert resolve(sentence, "Sunday", THURSDAY) == dt.date(2025, 9, 21)


def test_last_weekday_is_the_one_before_publication_even_on_that_weekday():
    sentence = "The company announced its results last Thursday."
    assert resolve(sentence, "last Thursday", THURSDAY) == dt.date(2025, 9, 18)


def test_the_publication_weekday_means_the_publication_day_even_in_future_tense():
    sentence = "The council will vote on the plan on Thursday evening."
    assert resolve(sentence, "Thursday evening", THURSDAY) == THURSDAY


def test_a_schedule_verb_used_as_a_noun_is_no_cue():
    sentence = "The head of the miners' union Tuesday rejected the offer."
    assert resolve(sentence, "Tuesday", THURSDAY) == dt.date(2025, 9, 23)


def test_a_clause_after_and_does_not_decide_the_weekday():
    sentence = "Unions plan a march through the old city centre on Saturday and were printing banners."
    assert resolve(sentence, "Saturday", THURSDAY) == dt.date(2025, 9, 27)


def test_a_possessive_weekday_is_the_nearest_one():
    sentence = "Relatives of the detainee said they would appeal Wednesday's ruling."
    assert resolve(sentence, "Wednesday", THURSDAY) == dt.date(2025, 9, 24)


def test_a_fronted_weekday_takes_the_main_verbs_past_tense():
    sentence = "On Friday, the ministry planned to open the border crossing to aid trucks."
    assert resolve(sentence, "Friday", THURSDAY) == dt.date(2025, 9, 19)


def test_a_fronted_weekday_skips_a_subordinate_clause_to_its_main_verb():
    sentence = "On Sunday, when polls have closed, the commission will begin counting ballots."
    assert resolve(sentence, "Sunday", THURSDAY) == dt.date(2025, 9, 28)


def test_weekday_after_may_lies_ahead():
    sentence = "The appeals court may rule on the extradition request on Monday."
    assert resolve(sentence, "Monday", THURSDAY) == dt.date(2025, 9, 29)


def test_weekday_after_might_lies_ahead():
    sentence = "The ruling might slip to Monday because of the strike."
    assert resolve(sentence, "Monday", THURSDAY) == dt.date(2025, 9, 29)


def test_the_month_may_is_not_the_modal_verb():
    sentence = "Prices that rose sharply in May Friday hit a record on the exchange."
    assert resolve(sentence, "Friday", THURSDAY) == dt.date(2025, 9, 19)


# Month and day without a year -------------------------------------------------------------------


def test_month_day_just_ahead_of_publication_is_this_coming_one():
    sentence = "The new tariffs take effect Jan. 1, the ministry said."
    assert resolve(sentence, "Jan. 1", dt.date(2024, 12, 20)) == dt.date(2025, 1, 1)


def test_month_day_just_behind_publication_is_the_past_one():
    sentence = "The storm hit the coast on Dec. 28, flooding hundreds of homes."
    assert resolve(sentence, "Dec. 28", dt.date(2025, 1, 6)) == dt.date(2024, 12, 28)


def test_deadline_ahead_stays_ahead_in_a_past_tense_sentence():
    sentence = "The judge gave the company until March 6 to respond to the complaint."
    assert resolve(sentence, "March 6", dt.date(2025, 2, 10)) == dt.date(2025, 3, 6)


def test_future_tense_sends_a_month_day_half_a_year_ahead():
    sentence = "The festival will open on Oct. 3, organisers said."
    assert resolve(sentence, "Oct. 3", dt.date(2025, 4, 10)) == dt.date(2025, 10, 3)


def test_month_abbreviations_with_and_without_period_resolve():
    published = dt.date(2025, 8, 20)
    assert normalise_date("Sept. 3", published, "Schools reopen Sept. 3.") == dt.date(2025, 9, 3)
    assert normalise_date("Aug 7", published, "The fire broke out Aug 7.") == dt.date(2025, 8, 7)
    assert normalise_date("Jan. 14, 1999", published) == dt.date(1999, 1, 14)


def test_day_before_month_resolves_like_month_before_day():
    sentence = "Voters go to the polls on 12 October."
    assert resolve(sentence, "12 October", dt.date(2025, 9, 25)) == dt.date(2025, 10, 12)


def test_a_bare_day_number_shares_the_month_of_the_date_before_it():
    sentence = "Leaders will gather in Lisbon for the summit on Nov. 20 and 21."
    assert resolve(sentence, "21", THURSDAY) == dt.date(2025, 11, 21)


# Counted from the publication day ---------------------------------------------------------------


def test_ago_counts_back_from_publication():
    sentence = "The factory closed three days ago, leaving 400 people without work."
    assert resolve(sentence, "three days ago", THURSDAY) == dt.date(2025, 9, 22)


def test_next_week_is_seven_days_ahead():
    sentence = "The report is due to be published next week."
    assert resolve(sentence, "next week", THURSDAY) == dt.date(2025, 10, 2)


def test_in_two_weeks_counts_forward():
    sentence = "A decision is expected in two weeks."
    assert resolve(sentence, "in two weeks", THURSDAY) == dt.date(2025, 10, 9)


def test_tomorrow_and_yesterday_count_one_day():
    assert normalise_date("tomorrow", THURSDAY) == dt.date(2025, 9, 26)
    assert normalise_date("yesterday", THURSDAY) == dt.date(2025, 9, 24)


# Anaphoric expressions --------------------------------------------------------------------------


def test_the_next_day_counts_from_a_date_in_the_previous_sentence():
    text = "Rescuers reached the village on Tuesday. The next day, they pulled two more survivors from the rubble."
    assert resolve(text, "The next day", THURSDAY) == dt.date(2025, 9, 24)


def test_that_day_is_the_anchor_day():
    text = "The plane landed in Nairobi on Sept. 12, and the minister met the families that day."
    assert resolve(text, "that day", THURSDAY) == dt.date(2025, 9, 12)


def test_a_year_earlier_counts_from_the_given_anchor():
    assert normalise_date("a year earlier", THURSDAY, anchor=dt.date(2025, 3, 4)) == dt.date(2024, 3, 4)


def test_the_next_morning_without_an_anchor_has_no_date():
    sentence = "He was released on bail and appeared in court the next morning."
    assert resolve(sentence, "the next morning", THURSDAY) is None


def test_days_before_an_event_without_a_date_have_no_date():
    sentence = "A neighbour saw the van parked outside 10 days before the fire."
    assert resolve(sentence, "10 days", THURSDAY) is None


def test_day_after_a_dated_expression_counts_from_it():
    sentence = "Stores reopened the day after Christmas with long queues."
    assert resolve(sentence, "the day after Christmas", dt.date(2024, 1, 3)) == dt.date(2023, 12, 26)


# Holidays ---------------------------------------------------------------------------------------


def test_holiday_in_a_past_tense_sentence_is_the_last_one():
    sentence = "Shoppers crowded the malls on Christmas Eve, retailers said."
    assert resolve(sentence, "Christmas Eve", dt.date(2024, 1, 10)) == dt.date(2023, 12, 24)


def test_floating_holiday_in_future_tense_is_the_coming_one():
    sentence = "The parade will go ahead on Thanksgiving despite the forecast."
    assert resolve(sentence, "Thanksgiving", dt.date(2024, 11, 1)) == dt.date(2024, 11, 28)


def test_good_friday_is_the_holiday_not_the_nearest_friday():
    sentence = "Thousands of pilgrims walked the Way of the Cross on Good Friday."
    assert resolve(sentence, "Good Friday", dt.date(2024, 4, 2)) == dt.date(2024, 3, 29)


def test_election_day_is_the_tuesday_after_the_first_monday_of_november():
    sentence = "Both candidates will keep campaigning in the suburbs until Election Day."
    assert resolve(sentence, "Election Day", dt.date(2026, 10, 20)) == dt.date(2026, 11, 3)


def test_election_day_in_an_odd_year_is_still_that_tuesday():
    sentence = "Turnout in the city fell sharply on Election Day, officials said."
    assert resolve(sentence, "Election Day", dt.date(2025, 11, 10)) == dt.date(2025, 11, 4)


# Weekends ---------------------------------------------------------------------------------------


def test_the_weekend_in_a_past_sentence_is_the_saturday_just_past():
    sentence = "Rebels shelled the airport over the weekend, the army said."
    assert resolve(sentence, "the weekend", dt.date(2025, 9, 29)) == dt.date(2025, 9, 27)


def test_this_weekend_in_a_future_sentence_is_the_coming_saturday():
    sentence = "The band will play two open-air concerts this weekend."
    assert resolve(sentence, "this weekend", THURSDAY) == dt.date(2025, 9, 27)


def test_the_weekend_in_a_weekend_paper_is_that_weekend():
    sentence = "Crowds gathered in the square this weekend to mourn the victims."
    assert resolve(sentence, "this weekend", dt.date(2025, 9, 28)) == dt.date(2025, 9, 27)


# Sentences --------------------------------------------------------------------------------------


def test_sentence_splitter_keeps_abbreviations_inside_the_sentence():
    text = "Mr. Lopez arrived Monday. U.S. officials said talks resume Jan. 14 in Washington. Nothing else."
    start = text.index("Jan. 14")
    sentence, offset, previous = sentence_around(text, start, start + 7)
    assert sentence == "U.S. officials said talks resume Jan. 14 in Washington."
    assert previous == "Mr. Lopez arrived Monday."
    assert text[offset:].startswith(sentence)


# The eval-dates command -------------------------------------------------------------------------


def test_eval_dates_prints_a_json_report_as_its_last_line(tmp_path, capsys):
    rows = [
        {"doc": "d1", "dct": "2025-09-25", "expression": "Tuesday", "value": "2025-09-30",
         "sentence": "The ministers will meet again on Tuesday."},
        {"doc": "d1", "dct": "2025-09-25", "expression": "Dec. 2", "value": "2025-12-02",
         "sentence": "The ship sank on Dec. 2, the navy said."},
        {"doc": "d2", "dct": "2025-09-25", "expression": "the next day", "value": "2025-09-24",
         "sentence": "He was freed the next day."},
    ]  # fmt: skip
    path = tmp_path / "dates.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    assert main(["eval-dates", str(path)]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["n"] == 3
    # Right, wrong (the sinking is read as past, 2024-12-02), and unresolved (no anchor): one in three.
    assert report["accuracy"] == round(1 / 3, 3)
    assert report["unresolved"] == 1
    assert report["kinds"]["weekday"] == {"n": 1, "accuracy": 1.0, "unresolved": 0}


# Through grounding --------------------------------------------------------------------------------


def test_ground_dates_the_when_span_with_its_sentence():
    from service.article import Draft, Span
    from service.grounding import ground

    title = "Paris museum to reopen after two-year renovation"
    text = (
        "The Musee des Arts will reopen to the public from Saturday, September 27, its director said on "
        "Thursday. A gala for donors is planned for next Tuesday."
    )
    source = title + "\n\n" + text
    offset = len(title) + 2
    when = "from Saturday, September 27"
    draft = Draft(
        who=[], what=None, when=Span(when, offset + text.index(when)), where=[], source=source,
        text_offset=offset, window_chars=len(text), truncated=False, prompt_tokens=0, generated_tokens=0,
    )  # fmt: skip
    _, _, dated, _ = ground(draft, text, THURSDAY)
    assert dated is not None
    assert (dated.text, dated.start, dated.date) == (when, text.index(when), dt.date(2025, 9, 27))


def test_a_long_article_is_read_only_around_the_expression():
    import time

    # Many sentences of long words once made the splitter quadratic (1.6 s here).
    text = ("x" * 50 + ". A ") * 400 + "The minister will visit the region on Tuesday."
    start = text.rindex("Tuesday")
    began = time.perf_counter()
    assert date_in_text(text, start, start + 7, THURSDAY) == dt.date(2025, 9, 30)
    assert time.perf_counter() - began < 0.2
