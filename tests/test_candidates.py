"""Candidate spans: the time expressions, places and headline endings the model chooses among."""

from service.candidates import first_time_spans, headline_spans, place_spans, time_spans


def texts(source: str, spans: list[tuple[int, int]]) -> set[str]:
    return {source[start:end] for start, end in spans}


def everywhere(source: str) -> tuple[int, int]:
    return (0, len(source))


def test_time_expressions_are_found_with_and_without_their_preposition():
    source = "The tram came off the tracks at around 6am on Wednesday, police said."
    found = texts(source, time_spans(source, everywhere(source)))
    assert {"6am on Wednesday", "at around 6am on Wednesday"} <= found


def test_dates_relative_days_and_clock_times_are_time_expressions():
    source = "Talks began on 8 November 2016 and ended yesterday; a vote is due at 11.30am. Officials met last week."
    found = texts(source, time_spans(source, everywhere(source)))
    assert {"8 November 2016", "yesterday", "11.30am", "last week"} <= found


def test_words_that_only_look_like_times_are_not():
    source = "May Smith visited the Sunday School in March Street."
    assert "May" not in texts(source, time_spans(source, everywhere(source)))


def test_only_the_first_time_expressions_are_candidates():
    source = "It happened on Monday. Earlier, on 3 May, and on 4 June and on 5 July, nothing did."
    found = texts(source, first_time_spans(source, everywhere(source), 2))
    assert found == {"Monday", "on Monday", "3 May", "on 3 May"}


def test_places_come_from_gazetteer_prepositions_place_words_and_datelines():
    source = "LONDON -- A fire in Croydon closed Trump Tower while Mayor Sadiq Khan visited Paris."
    found = texts(source, place_spans(source, everywhere(source)))
    assert {"LONDON", "Croydon", "in Croydon", "Trump Tower", "Paris"} <= found
    assert "Sadiq Khan" not in found and "Mayor Sadiq Khan" not in found


def test_sentence_initial_common_words_are_not_names():
    source = "Several people were hurt in Leeds. several more were not."
    assert "Several" not in texts(source, place_spans(source, everywhere(source)))


def test_headline_endings_run_from_each_word_to_the_end():
    title = "Clinton blames defeat on FBI director."
    found = texts(title, headline_spans(title, everywhere(title)))
    assert "blames defeat on FBI director" in found and title.rstrip(".") in found
    assert all(span.endswith("director") for span in found)
