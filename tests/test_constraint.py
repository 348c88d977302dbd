"""The span constraint: values can only be whole-word text copied from the source."""

import pytest

from service.backends.local.constraint import (
    SpanConstraint,
    TokenTable,
    is_word_end,
    is_word_start,
)

SOURCE = "Mayor Ana Lopez opened the bridge in Porto on Monday."
# A tiny vocabulary that splits words differently from the source's own spacing.
VOCAB = ["M", "ayor", "Mayor", " Ana", "Ana", " Lopez", " L", "opez", " opened", " the", " bridge", " in",
         " Porto", "Porto", " on", " Monday", ".", " ", "Lisbon", " Lisbon", "\n", '"']
TABLE = TokenTable.from_texts(enumerate(VOCAB))


def write(constraint: SpanConstraint, *pieces: str) -> SpanConstraint:
    for piece in pieces:
        assert piece in constraint.allowed().values(), f"{piece!r} should be allowed after {constraint.value!r}"
        constraint.advance(piece)
    return constraint


def test_values_start_only_at_word_starts():
    first_pieces = set(SpanConstraint.over(SOURCE, TABLE).allowed().values())
    assert {"Mayor", "M", "Ana", "Porto"} <= first_pieces
    assert " Ana" not in first_pieces and "ayor" not in first_pieces and "opez" not in first_pieces


def test_text_absent_from_source_is_never_allowed():
    allowed = SpanConstraint.over(SOURCE, TABLE).allowed().values()
    assert "Lisbon" not in allowed and " Lisbon" not in allowed


def test_continuations_follow_the_source_whichever_way_it_is_tokenised():
    constraint = write(SpanConstraint.over(SOURCE, TABLE), "Ana", " L", "opez")
    assert constraint.value == "Ana Lopez"
    assert constraint.closed_positions() == [SOURCE.index("Ana Lopez")]


def test_a_value_closes_only_on_a_whole_word():
    constraint = write(SpanConstraint.over(SOURCE, TABLE), "M")
    assert not constraint.can_close()
    constraint = write(SpanConstraint.over(SOURCE, TABLE), "M", "ayor")
    assert constraint.can_close()


def test_a_sentence_full_stop_cannot_end_a_value():
    constraint = write(SpanConstraint.over(SOURCE, TABLE), "Porto", " on", " Monday")
    assert constraint.can_close()
    write(constraint, ".")
    assert not constraint.can_close()


def test_region_limits_where_values_may_start():
    title = "Bridge opens"
    source = f"{title}\n\n{SOURCE}"
    ranges = SpanConstraint.over(source, TABLE, (len(title) + 2, len(source))).ranges
    assert min(start for start, _ in ranges) == len(title) + 2


def test_newlines_and_quotes_never_enter_a_value():
    source = 'He said "Porto"\nPorto'
    constraint = SpanConstraint.over(source, TABLE)
    write(constraint, "Porto")
    assert "\n" not in constraint.allowed().values() and '"' not in constraint.allowed().values()


def test_advancing_with_text_not_in_source_is_an_error():
    constraint = SpanConstraint.over(SOURCE, TABLE)
    with pytest.raises(ValueError):
        constraint.advance("Lisbon")


@pytest.mark.parametrize(
    ("source", "position", "expected"),
    [("U.S. officials", 4, True), ("in Porto.", 9, False), ("Porto, Lisbon", 5, True), ("Portugal", 5, False)],
)
def test_word_end(source, position, expected):
    assert is_word_end(source, position) is expected


def test_word_start():
    assert is_word_start("a Porto", 2) and not is_word_start("Porto", 1) and not is_word_start("a  b", 1)


def test_candidate_spans_close_only_at_their_own_end():
    start = SOURCE.index("Porto on Monday")
    constraint = SpanConstraint.among(SOURCE, TABLE, [(start, start + len("Porto on Monday"))])
    write(constraint, "Porto", " on")
    assert not constraint.can_close()
    write(constraint, " Monday")
    assert constraint.can_close() and constraint.closed_positions() == [start]
    assert "." not in constraint.allowed().values()


def test_candidate_spans_allow_no_other_start():
    start = SOURCE.index("Porto")
    allowed = SpanConstraint.among(SOURCE, TABLE, [(start, start + 5)]).allowed().values()
    assert set(allowed) == {"Porto"}
