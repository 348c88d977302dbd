"""The walk without a model: the article is read once, every candidate scored in one step, and the
ranker's choice returned with each value's place in the source (tests/scripted_model.py)."""

from __future__ import annotations

import json

from service.article import Article, Layout
from service.backends.local.steps import Feed, Score
from service.candidates import Candidate, Candidates
from service.prompts import load_prompts
from service.ranking import FieldModel, Ranker
from service.schemas import EXAMPLE_TEXT, EXAMPLE_TITLE
from tests.scripted_model import (
    MODEL_SCORE_ONLY,
    ScriptedModel,
    ToyTokenizer,
    drive,
    toy_walker,
)

TOKENIZER = ToyTokenizer(EXAMPLE_TITLE, EXAMPLE_TEXT, '{"who": ["', '{"what": "')
LAYOUT = Layout.of(Article(text=EXAMPLE_TEXT, title=EXAMPLE_TITLE), len(EXAMPLE_TEXT), load_prompts())


def found(field_texts: dict[str, list[str]]) -> Candidates:
    """Candidates at their first place in the layout's source."""
    return {
        field: [Candidate(text, LAYOUT.source.index(text)) for text in field_texts.get(field, [])]
        for field in ("who", "what", "when", "where")
    }


CANDIDATES = found({
    "who": ["Royal Dutch Shell", "Larisa Alwin", "Shell"],
    "what": [EXAMPLE_TITLE, "orders Shell to cut emissions"],
    "when": ["Wednesday", "on Wednesday", "2030"],
    "where": ["The Hague", "Dutch"],
})
WANTED = {"who": ["Royal Dutch Shell", "Larisa Alwin"], "what": "orders Shell to cut emissions", "when": "on Wednesday", "where": ["The Hague"]}


def walk_towards(wanted: dict, candidates: Candidates = CANDIDATES, **walker: object):
    return drive(toy_walker(TOKENIZER, **walker).walk([1, 2, 3], candidates), ScriptedModel(TOKENIZER, wanted))


def test_the_article_is_read_once_then_every_candidate_is_scored_in_one_step():
    _, written, steps = walk_towards(WANTED)
    assert [type(step) for step in steps] == [Feed, Score]
    assert written == [1, 2, 3]
    assert len(steps[1].pairs) == sum(len(items) for items in CANDIDATES.values())


def test_each_candidate_is_scored_as_the_value_of_its_field():
    _, _, steps = walk_towards(WANTED)
    contexts_and_values = [(TOKENIZER.decode(context), TOKENIZER.decode(value)) for context, value in steps[1].pairs]
    assert ('{"who": ["', 'Larisa Alwin"') in contexts_and_values
    assert ('{"what": "', 'orders Shell to cut emissions"') in contexts_and_values


def test_the_candidates_the_model_prefers_are_the_answer():
    decisions, _, _ = walk_towards(WANTED)
    assert [span.text for span in decisions.who] == WANTED["who"]
    assert decisions.what.text == WANTED["what"]
    assert decisions.when.text == WANTED["when"]
    assert [span.text for span in decisions.where] == WANTED["where"]


def test_answers_carry_their_place_in_the_source_and_their_probability():
    decisions, _, _ = walk_towards(WANTED)
    for span in [*decisions.who, decisions.what, decisions.when, *decisions.where]:
        assert LAYOUT.source[span.position : span.position + len(span.text)] == span.text
        assert 0 < span.probability <= 1


def test_a_field_without_candidates_has_no_answer():
    decisions, _, steps = walk_towards(WANTED, found({"who": ["Larisa Alwin"], "what": [EXAMPLE_TITLE]}))
    assert decisions.when is None and decisions.where == []
    assert len(steps[1].pairs) == 2


def test_a_list_ends_at_the_rankers_item_limit():
    one_item = {**MODEL_SCORE_ONLY, "who": FieldModel(("model",), (1.0,), 0.0, max_items=1, threshold=0.4)}
    decisions, _, _ = walk_towards(WANTED, ranker=Ranker(one_item))
    assert len(decisions.who) == 1 and decisions.who[0].text in WANTED["who"]


def test_only_the_first_candidates_of_a_field_are_scored():
    _, _, steps = walk_towards(WANTED, max_candidates=1)
    assert len(steps[1].pairs) == 4


def test_a_value_with_quotes_is_scored_as_json_writes_it():
    quoted = found({"what": ["Dutch court"]})
    quoted["what"] = [Candidate('court "orders" Shell', 0)]
    _, _, steps = walk_towards(WANTED, quoted)
    assert TOKENIZER.decode(steps[1].pairs[0][1]) == json.dumps('court "orders" Shell')[1:-1] + '"'


def test_a_candidate_too_long_to_be_an_answer_is_not_scored():
    long_what = found({"what": [EXAMPLE_TITLE]})
    long_what["what"].append(Candidate(" ".join(["word"] * 60), 0))
    _, _, steps = walk_towards(WANTED, long_what)
    assert len(steps[1].pairs) == 1
