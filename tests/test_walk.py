"""The decision walk, without a model: the engine writes the answer's JSON, a scripted model decides.

The scripted model (tests/scripted_model.py) wants to write a given answer; the walk must end
up with exactly the values it wanted, at their places in the article, and must have written
exactly the JSON that ``answer_json`` writes for them.
"""

from __future__ import annotations

from service.article import Article, Layout
from service.backends.local.decoder import Score
from service.prompts import answer_json, load_prompts
from service.schemas import EXAMPLE_TEXT, EXAMPLE_TITLE
from service.settings import Settings
from tests.scripted_model import ScriptedModel, ToyTokenizer, drive, toy_walker

NO_TIMES = "Royal Dutch Shell said it expected to appeal. Judge Larisa Alwin ruled in The Hague."
TOKENIZER = ToyTokenizer(EXAMPLE_TITLE, EXAMPLE_TEXT, NO_TIMES)
PROMPTS = load_prompts()


def layout(text: str = EXAMPLE_TEXT, title: str | None = EXAMPLE_TITLE) -> Layout:
    return Layout.of(Article(text=text, title=title), len(text), PROMPTS)


def walk_towards(answer: dict, article: Layout | None = None, settings: Settings | None = None):
    """The walk's decisions and written text when the model wants to write ``answer``."""
    article = article or layout()
    model = ScriptedModel(TOKENIZER, answer_json(answer))
    decisions, written, steps = drive(toy_walker(TOKENIZER, settings).walk(article, []), model)
    return decisions, TOKENIZER.decode(written), steps


def texts_and_offsets(spans, article: Layout) -> list[tuple[str, int]]:
    return [(span.text, span.position - article.text_offset) for span in spans]


WANTED = {
    "who": ["Royal Dutch Shell", "Larisa Alwin"],
    "what": "orders Shell to cut emissions",
    "when": "on Wednesday",
    "where": ["The Hague"],
}


def test_the_model_decides_every_value_and_the_engine_writes_the_answer_json():
    decisions, written, _ = walk_towards(WANTED)
    assert written == answer_json(WANTED)
    assert [span.text for span in decisions.who] == WANTED["who"]
    assert decisions.what.text == WANTED["what"]
    assert decisions.when.text == WANTED["when"]
    assert [span.text for span in decisions.where] == WANTED["where"]


def test_copied_values_carry_their_place_in_the_article():
    article = layout()
    decisions, _, _ = walk_towards(WANTED, article)
    assert texts_and_offsets(decisions.who, article) == [(name, EXAMPLE_TEXT.index(name)) for name in WANTED["who"]]
    assert texts_and_offsets([decisions.when], article) == [("on Wednesday", EXAMPLE_TEXT.index("on Wednesday"))]
    # what is copied from the headline, before the text
    assert article.source[decisions.what.position :].startswith(WANTED["what"]) and decisions.what.position < article.text_offset


def test_what_and_when_are_each_one_pick_among_whole_candidates():
    decisions, _, steps = walk_towards(WANTED)
    picks = [step for step in steps if isinstance(step, Score)]
    assert len(picks) == 2
    headline_endings = [TOKENIZER.decode(sequence) for sequence in picks[0].sequences]
    assert all(ending.startswith(EXAMPLE_TITLE.split(" ", index)[-1]) for index, ending in enumerate(headline_endings))
    times = [TOKENIZER.decode(sequence).split('"')[0] for sequence in picks[1].sequences]
    assert sorted(times) == ["Wednesday", "on Wednesday"]
    # One decision per list branch (who, where), per pick (what, when) and per token copied,
    # closers included: Royal, Dutch, Shell; Larisa, Alwin; The, Hague.
    assert decisions.generated == 2 + 2 + (3 + 1) + (2 + 1) + (2 + 1)


def test_the_model_may_answer_empty_lists():
    wanted = {**WANTED, "who": [], "where": []}
    decisions, written, _ = walk_towards(wanted)
    assert written == answer_json(wanted)
    assert decisions.who == [] and decisions.where == []


def test_without_time_expressions_when_is_null_without_asking_the_model():
    article = layout(NO_TIMES, title=None)
    wanted = {"who": ["Larisa Alwin"], "what": "Royal Dutch Shell said it expected to appeal", "when": None, "where": ["The Hague"]}
    decisions, written, steps = walk_towards(wanted, article)
    assert written == answer_json(wanted)
    assert decisions.when is None
    assert sum(isinstance(step, Score) for step in steps) == 1  # what only


def test_a_list_ends_at_max_items_even_when_the_model_wants_more():
    decisions, written, _ = walk_towards(WANTED, settings=Settings(max_items=1))
    assert [span.text for span in decisions.who] == ["Royal Dutch Shell"]
    assert written.startswith('{"who": ["Royal Dutch Shell"], "what": "')
