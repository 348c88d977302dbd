"""Prompt templates from ``prompts/``, rendered with the schema's own field descriptions.

``prompts/`` sits at the top of the repository; the wheel ships it as the data package
``service.prompt_templates`` (see pyproject.toml), which an editable install maps back to it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from string import Template
from typing import TYPE_CHECKING

from service.schemas import ANSWER_FIELDS, Summary

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

PACKAGE = "service.prompt_templates"
CHECKOUT_DIR = Path(__file__).resolve().parent.parent / "prompts"
TEMPLATE_FILES = ("system.txt", "user.txt", "example.json", "completion.txt")


@dataclass(frozen=True)
class Prompts:
    """The rendered, fixed parts of the prompt and the template for each article."""

    system: str
    user_template: Template
    example_user: str
    example_answer: str
    completion_template: Template
    version: str

    def user(self, article: str, title: str | None, published: str | None) -> str:
        return render_user(self.user_template, article, title, published)

    def messages(self, user: str) -> list[dict[str, str]]:
        """The chat: system text, the worked example, then this article (also what the openai backend sends)."""
        return [
            {"role": "system", "content": self.system},
            {"role": "user", "content": self.example_user},
            {"role": "assistant", "content": self.example_answer},
            {"role": "user", "content": user},
        ]

    def conversation(self, user: str, tokenizer: PreTrainedTokenizerBase) -> str:
        """The whole prompt up to where the answer starts: the model's chat format if it has
        one (instruction-tuned models), else the plain completion template (base models)."""
        if tokenizer.chat_template:
            return tokenizer.apply_chat_template(self.messages(user), tokenize=False, add_generation_prompt=True)
        return self.completion_template.substitute(
            system=self.system, example_user=self.example_user, example_answer=self.example_answer, user=user
        )


def render_user(template: Template, article: str, title: str | None, published: str | None) -> str:
    return template.substitute(title=title or "(none)", published=published or "(unknown)", article=article)


def field_lines() -> str:
    """One line per answer field, taken from the pydantic schema's descriptions."""
    fields = Summary.model_fields
    return "\n".join(f'- "{name}": {fields[name].description}' for name in ANSWER_FIELDS)


def answer_json(answer: dict[str, object]) -> str:
    """The answer JSON exactly as the engine writes its skeleton (same key order and separators)."""
    return json.dumps({name: answer.get(name) for name in ANSWER_FIELDS}, ensure_ascii=False)


def template_dir() -> Traversable:
    """The templates as installed (wheel or editable install), else a source checkout's prompts/."""
    try:
        return resources.files(PACKAGE)
    except ModuleNotFoundError:  # the checkout itself is on sys.path, nothing installed from it
        return CHECKOUT_DIR


def load_prompts(directory: Traversable | None = None) -> Prompts:
    directory = directory or template_dir()
    raw = {name: (directory / name).read_text(encoding="utf-8") for name in TEMPLATE_FILES}
    user_template = Template(raw["user.txt"].strip())
    example = json.loads(raw["example.json"])
    return Prompts(
        system=Template(raw["system.txt"].strip()).substitute(fields=field_lines()),
        user_template=user_template,
        example_user=render_user(user_template, example["text"], example.get("title"), example.get("published_at")),
        example_answer=answer_json(example["answer"]),
        completion_template=Template(raw["completion.txt"].rstrip("\n")),
        version=hashlib.sha256("".join(raw[name] for name in TEMPLATE_FILES).encode()).hexdigest()[:8],
    )
