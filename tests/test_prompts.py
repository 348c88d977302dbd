"""Prompts are rendered from templates in prompts/ and from the schema's own descriptions."""

import json

from service.prompts import load_prompts
from service.schemas import ANSWER_FIELDS, Summary


def test_system_prompt_lists_every_answer_field_with_its_schema_description():
    system = load_prompts().system
    for name in ANSWER_FIELDS:
        assert f'"{name}": {Summary.model_fields[name].description}' in system


def test_worked_example_answer_is_json_in_skeleton_order():
    answer = load_prompts().example_answer
    assert list(json.loads(answer)) == list(ANSWER_FIELDS)
    assert answer.startswith('{"who": ["')


def test_worked_example_values_are_copied_from_its_article():
    prompts = load_prompts()
    answer = json.loads(prompts.example_answer)
    for value in [*answer["who"], answer["what"], answer["when"], *answer["where"]]:
        assert value in prompts.example_user


def test_user_turn_shows_title_date_and_article():
    user = load_prompts().user("Rain fell.", "Storm", "2024-01-02")
    assert "Storm" in user and "2024-01-02" in user and user.endswith("Rain fell.")


def test_missing_title_and_date_are_shown_as_unknown():
    user = load_prompts().user("Rain fell.", None, None)
    assert "(none)" in user and "(unknown)" in user


def test_prompt_version_changes_with_the_templates(tmp_path):
    from service.prompts import TEMPLATE_FILES, template_dir

    for name in TEMPLATE_FILES:
        (tmp_path / name).write_text((template_dir() / name).read_text())
    assert load_prompts(tmp_path).version == load_prompts().version
    (tmp_path / "system.txt").write_text("Different instructions.\n$fields\n")
    assert load_prompts(tmp_path).version != load_prompts().version
