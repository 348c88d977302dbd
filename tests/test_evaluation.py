"""The eval command's metric equals the reference scorer's on the same predictions."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from service.tools import evaluation
from tests.conftest import DEV_FILE

SCORER = DEV_FILE.parents[1] / "tools" / "score5w.py"

# A small fixture of our own: two made-up articles with gold phrases and predictions that hit,
# half-hit and miss, including a missing prediction and a wrong date.
GOLD = [
    {
        "id": "a", "title": "Bridge opens in Porto", "description": "Mayor Ana Lopez opened a bridge in Porto on Monday.",
        "text": "Mayor Ana Lopez opened a bridge in Porto on Monday. It cost 20 million euros.",
        "gold": {
            "who": [{"text": "Mayor Ana Lopez", "coders": 3}], "what": [{"text": "opened a bridge", "coders": 2}],
            "when": [{"text": "on Monday", "coders": 3, "date": "2023-05-15"}], "where": [{"text": "in Porto", "coders": 3}],
            "why": [], "how": [],
        },
    },
    {
        "id": "b", "title": "Storm hits coast", "description": "A storm hit the coast of Brittany overnight.",
        "text": "A storm hit the coast of Brittany overnight, cutting power to 10,000 homes.",
        "gold": {
            "who": [{"text": "A storm", "coders": 2}, {"text": "10,000 homes", "coders": 1}],
            "what": [{"text": "hit the coast", "coders": 3}], "when": [{"text": "overnight", "coders": 2, "date": "2023-05-16"}],
            "where": [{"text": "Brittany", "coders": 3}], "why": [], "how": [],
        },
    },
    {
        "id": "c", "title": "Unanswered", "description": "Nothing.", "text": "Nothing happened.",
        "gold": {"who": [{"text": "Nobody", "coders": 1}], "what": [], "when": [], "where": [], "why": [], "how": []},
    },
]
PREDICTIONS = {
    "a": {"who": ["Ana Lopez"], "what": "Mayor Ana Lopez opened a bridge in Porto", "when": "Monday", "when_date": "2023-05-15", "where": ["Porto", "Lisbon"]},
    "b": {"who": ["storm", "homes"], "what": "", "when": None, "when_date": "2023-05-17", "where": ["the coast of Brittany"]},
}


def test_eval_metric_equals_the_reference_scorer(tmp_path: Path):
    gold_file, pred_file = tmp_path / "gold.jsonl", tmp_path / "pred.jsonl"
    gold_file.write_text("".join(json.dumps(row) + "\n" for row in GOLD))
    pred_file.write_text("".join(json.dumps({"id": k, "answer": v}) + "\n" for k, v in PREDICTIONS.items()))
    reference = subprocess.run([sys.executable, str(SCORER), str(gold_file), str(pred_file)], capture_output=True, text=True, check=True)
    assert evaluation.score(GOLD, PREDICTIONS) == json.loads(reference.stdout)


def test_token_f1_ignores_case_punctuation_and_articles():
    assert evaluation.token_f1("The Mayor, Ana Lopez!", "mayor ana lopez") == 1.0
    assert evaluation.token_f1("", "anything") == 0.0
    assert round(evaluation.token_f1("Ana Lopez", "Mayor Ana Lopez"), 3) == 0.8


def test_gold_rows_become_requests_with_headline_lead_and_date():
    request = evaluation.article_request(GOLD[1] | {"date_publish": "2023-05-16 08:00:00", "text": "Body only."})
    assert request.title == "Storm hits coast"
    assert request.text.startswith("A storm hit the coast of Brittany overnight.\n\nBody only.")
    assert str(request.published_at) == "2023-05-16"


def test_a_row_without_a_usable_date_has_no_publication_date():
    assert evaluation.article_request(GOLD[0] | {"date_publish": "None"}).published_at is None
