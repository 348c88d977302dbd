"""The Decoder's decisions with scripted next-token scores: what each one writes and returns."""

from __future__ import annotations

import torch

from service.backends.local.constraint import SpanConstraint, TokenTable
from service.backends.local.decoder import ABANDONED, Decoder, Feed, Score

SOURCE = "Judge Larisa Alwin ruled in The Hague."
# Token ids are indexes into TOKENS; the scores below are written per token text.
TOKENS = ["Judge", " Larisa", " Alwin", "The", " Hague", " ruled", '", "', '"]}', "[", "]"]
ID = {text: token for token, text in enumerate(TOKENS)}
TABLE = TokenTable.from_texts(enumerate(TOKENS))
CLOSERS = [[ID['", "']], [ID['"]}']]]  # another item, end of list


def scores(**by_text: float) -> torch.Tensor:
    """Next-token scores: the given ones (keys are token texts with spaces as _), 0 for the rest."""
    logits = torch.zeros(len(TOKENS))
    for text, score in by_text.items():
        logits[ID[text.replace("_", " ")]] = score
    return logits


def run(decision, answers: list) -> tuple[object, list]:
    """Send ``answers`` to the decision's steps in turn; its return value and the steps it took."""
    steps = [next(decision)]
    try:
        for answer in answers:
            steps.append(decision.send(answer))
    except StopIteration as stop:
        return stop.value, steps
    raise AssertionError(f"the decision wanted more than {len(answers)} answers: {steps}")


def decoder_after(logits: torch.Tensor) -> Decoder:
    decoder = Decoder()
    decoder.logits = logits
    return decoder


def test_branch_writes_the_option_whose_first_token_scores_highest():
    decoder = decoder_after(scores(**{"]": 2.0, "[": 1.0}))
    index, steps = run(decoder.branch([[ID["["], ID["Judge"]], [ID["]"], ID["The"]]]), [scores()])
    assert index == 1 and steps == [Feed([ID["]"], ID["The"]])]
    assert decoder.generated == 1


def test_best_of_scores_whole_sequences_and_writes_the_best():
    decoder = decoder_after(scores())
    sequences = [[ID["The"]], [ID["The"], ID[" Hague"]], [ID["Judge"]]]
    index, steps = run(decoder.best_of(sequences), [[-2.0, -0.5, -1.0], scores()])
    assert index == 1
    assert steps == [Score(sequences), Feed([ID["The"], ID[" Hague"]])]


def test_best_of_one_sequence_writes_it_without_asking_the_model():
    decoder = decoder_after(scores())
    index, steps = run(decoder.best_of([[ID["Judge"]]]), [scores()])
    assert index == 0 and steps == [Feed([ID["Judge"]])]
    assert decoder.generated == 1


def test_copy_span_copies_from_the_source_until_the_model_writes_a_closer():
    constraint = SpanConstraint.over(SOURCE, TABLE)
    decoder = decoder_after(scores(_Larisa=1.0, Judge=0.5))
    # A value starts at a word: " Larisa" (with its space) cannot start one, so "Judge" comes first.
    answers = [scores(_Larisa=2.0), scores(_Alwin=2.0), scores(**{'"]}': 3.0, '", "': 1.0}), scores()]
    index, steps = run(decoder.copy_span(constraint, CLOSERS, max_tokens=10), answers)
    assert constraint.value == "Judge Larisa Alwin"
    assert steps == [Feed([ID["Judge"]]), Feed([ID[" Larisa"]]), Feed([ID[" Alwin"]]), Feed([ID['"]}']])]
    assert index == 1 and decoder.generated == 4


def test_copy_span_past_max_tokens_closes_as_soon_as_the_value_ends_on_a_word():
    constraint = SpanConstraint.over(SOURCE, TABLE)
    decoder = decoder_after(scores(Judge=1.0))
    # The model would go on (" Larisa" scores highest), but after one token only closers may follow.
    index, steps = run(decoder.copy_span(constraint, CLOSERS, max_tokens=1), [scores(_Larisa=5.0, **{'", "': 1.0}), scores()])
    assert constraint.value == "Judge" and index == 0
    assert steps[-1] == Feed([ID['", "']])


def test_copy_span_abandons_a_value_that_can_neither_go_on_nor_end():
    # Only "The" of "The Hague" is in this vocabulary, and a candidate must be copied whole.
    table = TokenTable.from_texts([(ID["The"], "The"), *((ID[text], text) for text in ('", "', '"]}'))])
    constraint = SpanConstraint.among(SOURCE, table, [(SOURCE.index("The Hague"), SOURCE.index("."))])
    decoder = decoder_after(scores(The=1.0))
    index, steps = run(decoder.copy_span(constraint, CLOSERS, max_tokens=10), [scores()])
    assert index == ABANDONED
    assert steps == [Feed([ID["The"]])]  # nothing is written after the abandoned value
