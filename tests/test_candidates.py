"""Typed candidates: the trained NER model, time expressions and headline endings (no language model)."""

from __future__ import annotations

from service.candidates import find_candidates, time_spans


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


def test_an_age_or_a_measured_time_is_no_time_candidate() -> None:
    when = candidates_of("The 42-year-old sprinter ran 7.96 seconds in Madrid on Sunday.", "Sprinter wins in Madrid")["when"]
    assert "Sunday" in when or "on Sunday" in when
    assert not any("year-old" in phrase or "seconds" in phrase for phrase in when)


def test_a_length_of_time_is_no_time_candidate_unless_the_words_after_make_it_one() -> None:
    when = candidates_of("The bridge, which stood for 108 years, collapsed on Sunday, two days before the vote.")["when"]
    assert "108 years" not in when
    assert "two days" in when and ("Sunday" in when or "on Sunday" in when)


def test_words_that_only_look_like_times_are_not():
    source = "May Smith visited the Sunday School in March Street."
    assert "May" not in texts(source, time_spans(source, everywhere(source)))



AFP_TITLE = "North Korea's foreign minister to visit China"
AFP_TEXT = (
    "North Korean Foreign Minister Choe Son Hui will visit China from Saturday, September 27, the foreign "
    "ministry in Beijing said on Thursday, following an invitation from Beijing's top diplomat Wang Yi. "
    "Choe is expected to hold talks on trade and security. Earlier this month Chinese leader Xi Jinping "
    "hosted a military parade in Beijing."
)


def candidates_of(text: str, title: str | None = None) -> dict[str, list[str]]:
    source = f"{title}\n\n{text}" if title else text
    found = find_candidates(source, len(title) + 2 if title else 0, text)
    return {field: [candidate.text for candidate in items] for field, items in found.items()}


def test_a_person_split_by_the_ner_model_is_one_candidate() -> None:
    assert "Choe Son Hui" in candidates_of(AFP_TEXT, AFP_TITLE)["who"]


def test_a_name_keeps_its_title_as_an_alternative_candidate() -> None:
    who = candidates_of(AFP_TEXT, AFP_TITLE)["who"]
    assert any(name.endswith("Foreign Minister Choe Son Hui") for name in who)
    assert "Choe Son Hui" in who


def test_countries_and_cities_are_place_candidates() -> None:
    where = candidates_of(AFP_TEXT, AFP_TITLE)["where"]
    assert "China" in where and "Beijing" in where


def test_dates_from_the_ner_model_and_time_expressions_are_time_candidates() -> None:
    when = candidates_of(AFP_TEXT, AFP_TITLE)["when"]
    assert "Saturday, September 27" in when
    assert "on Thursday" in when


def test_the_event_is_offered_as_headline_endings_whole_and_cut_before_an_adjunct() -> None:
    what = candidates_of("The ministers met in Brussels on Monday.", "EU ministers meet in Brussels after talks collapse")["what"]
    assert "EU ministers meet in Brussels after talks collapse" in what
    assert "meet in Brussels after talks collapse" in what
    assert "meet in Brussels" in what


def features_of(field: str, text: str, title: str) -> dict[str, dict[str, float]]:
    found = find_candidates(f"{title}\n\n{text}", len(title) + 2, text)
    return {candidate.text: candidate.features for candidate in found[field]}


def test_the_headline_predicate_after_a_named_actor_is_marked() -> None:
    what = features_of("what", "The German group is weighing a sale of its trains business.", "Siemens weighs rail unit sale")
    assert what["weighs rail unit sale"]["after_subject"] == 1.0
    assert what["weighs rail unit sale"]["after_named_subject"] == 1.0


def test_a_headline_ending_from_inside_a_noun_phrase_is_not_offered() -> None:
    what = candidates_of("Quarterly profit at the toy maker Acme rose by a third.", "Strong sales lift Acme quarterly profit")["what"]
    assert "Strong sales lift Acme quarterly profit" in what and "lift Acme quarterly profit" in what
    assert "sales lift Acme quarterly profit" not in what and "quarterly profit" not in what


def test_the_headline_predicate_after_a_common_noun_is_not_after_a_named_actor() -> None:
    what = features_of("what", "Farmers in the north are preparing to block motorways.", "Farmers prepare to block roads")
    assert what["prepare to block roads"]["after_subject"] == 1.0
    assert what["prepare to block roads"]["after_named_subject"] == 0.0


def test_without_a_headline_the_event_comes_from_the_first_sentence() -> None:
    what = candidates_of("Heavy rain flooded hundreds of homes in Braga on Monday. More rain is expected.")["what"]
    assert what and all("Braga" in phrase or "flooded" in phrase for phrase in what)


def test_the_forms_of_one_person_are_merged_into_the_fullest() -> None:
    text = "Donald J. Trump met the mayor on Monday. Mr. Trump said the talks went well, and Trump left."
    who = candidates_of(text)["who"]
    assert "Donald J. Trump" in who
    assert "Mr. Trump" not in who


def test_a_family_name_that_comes_first_is_merged_too() -> None:
    who = candidates_of(AFP_TEXT, AFP_TITLE)["who"]
    assert "Choe" not in who and "Hui" not in who


def test_a_dateline_is_a_place_candidate() -> None:
    assert "LONDON" in candidates_of("LONDON -- Trains were cancelled across the capital on Tuesday.")["where"]


def test_a_group_that_acts_in_the_opening_sentence_is_a_who_candidate() -> None:
    assert "Several people" in candidates_of("Several people died after a tram overturned in Croydon.")["who"]


def test_every_candidate_is_the_source_text_at_its_position() -> None:
    source = f"{AFP_TITLE}\n\n{AFP_TEXT}"
    for items in find_candidates(source, len(AFP_TITLE) + 2, AFP_TEXT).values():
        for candidate in items:
            assert source[candidate.position : candidate.position + len(candidate.text)] == candidate.text


def test_control_characters_end_a_candidate() -> None:
    text = "Rain\u0000 fell in Oslo\u0000 on Monday, the Norwegian Meteorological Institute said."
    for items in candidates_of(text).values():
        assert all("\u0000" not in phrase for phrase in items)


def test_a_place_the_main_verb_acts_on_is_marked() -> None:
    text = "The minister will visit China on Saturday, after an invitation from Beijing's top diplomat."
    found = find_candidates(text, 0, text)["where"]
    marked = {candidate.text: candidate.features["of_main_verb"] for candidate in found}
    assert marked["China"] == 1.0 and marked["Beijing"] == 0.0


def test_the_event_a_reporting_verb_reports_is_the_main_verb() -> None:
    text = "The minister will visit China on Saturday, the foreign ministry in Pyongyang said."
    found = find_candidates(text, 0, text)["where"]
    marked = {candidate.text: candidate.features["of_main_verb"] for candidate in found}
    assert marked["China"] == 1.0 and marked["Pyongyang"] == 0.0


def test_a_place_is_after_a_locative_only_when_the_preposition_governs_it() -> None:
    text = "The foreign ministry in Pyongyang thanked an envoy from Beijing's top diplomat."
    found = find_candidates(text, 0, text)["where"]
    marked = {candidate.text: candidate.features["after_locative"] for candidate in found}
    assert marked["Pyongyang"] == 1.0 and marked["Beijing"] == 0.0


def test_a_place_is_marked_as_a_country_or_a_city() -> None:
    text = "Floods hit Porto and the rest of Portugal on Monday, and the Netherlands sent help."
    found = {candidate.text: candidate.features for candidate in find_candidates(text, 0, text)["where"]}
    assert (found["Porto"]["city"], found["Porto"]["country"]) == (1.0, 0.0)
    assert (found["Portugal"]["city"], found["Portugal"]["country"]) == (0.0, 1.0)
    assert found["Netherlands"]["country"] == 1.0  # GeoNames writes "The Netherlands"


def test_a_known_place_the_ner_model_missed_is_a_place_candidate() -> None:
    text = "The 18-year-old centre will play in Cardiff on Saturday, his coach said."
    where = {candidate.text: candidate.features for candidate in find_candidates(text, 0, text)["where"]}
    assert where["Cardiff"]["label_GAZETTEER"] == 1.0


def test_a_known_place_name_opening_a_sentence_is_not_taken_from_its_capital() -> None:
    text = "Bath council met on Monday."
    assert candidates_of(text)["where"] == []


def test_a_known_place_name_is_taken_only_where_a_locative_preposition_makes_it_a_place() -> None:
    text = "Fans of Leicester travelled to Bath for the match. The 18-year-old centre will play in Cardiff on Saturday."
    found = find_candidates(text, 0, text)["where"]
    assert [candidate.text for candidate in found if candidate.features.get("label_GAZETTEER")] == ["Cardiff"]


def test_a_one_word_part_of_the_headline_is_not_an_event() -> None:
    what = candidates_of("The long-running charity show ended its run on Broadway.", "Applegate's charity show closes")["what"]
    assert "Applegate's charity show closes" in what
    assert "closes" not in what


def test_a_one_word_headline_is_still_offered_whole() -> None:
    assert "Budget" in candidates_of("The chancellor set out his budget on Wednesday.", "Budget")["what"]
