"""Prompt sets for `python -m lib_dnp evaluate`: the Attend-and-Excite JSON format, or one prompt per line.

The A&E set is a JSON object of groups (`animals`, `animals_objects`, `objects`), each a list of prompts such as
"a cat and a dog" or "a dog with a crown". A JSON list of prompts is read too. Anything that is not JSON is read
as text: one prompt per line, blank lines and lines starting with `#` skipped.
"""

from __future__ import annotations

import json
from dataclasses import dataclass


@dataclass(frozen=True)
class EvalPrompt:
    text: str
    group: str = ""  # the A&E group ("animals", ...) or "" for a plain list


def parse_prompts(content: str) -> list[EvalPrompt]:
    """The prompts of a prompt file's content, in file order. Raises ValueError for a JSON file of another shape
    or a file without prompts."""
    stripped = content.lstrip()
    prompts: list[EvalPrompt]
    if stripped.startswith(("{", "[")):
        try:
            data = json.loads(content)
        except json.JSONDecodeError as error:
            raise ValueError(
                f"[DNP] the prompt file looks like JSON but is not valid JSON: {error}"
            ) from None
        prompts = _from_json(data)
    else:
        prompts = [
            EvalPrompt(line.strip())
            for line in content.splitlines()
            if line.strip() and not line.lstrip().startswith("#")
        ]
    if not prompts:
        raise ValueError("[DNP] the prompt file holds no prompts")
    return prompts


def _from_json(data: object) -> list[EvalPrompt]:
    groups = data.items() if isinstance(data, dict) else [("", data)]
    prompts = []
    for group, items in groups:
        if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
            where = f"group {group!r}" if group else "the list"
            raise ValueError(
                f"[DNP] expected the A&E prompt format (an object of lists of prompts) or a list of prompts, "
                f"but {where} is not a list of strings"
            )
        prompts.extend(EvalPrompt(item.strip(), str(group)) for item in items if item.strip())
    return prompts


def load_prompts(path: str) -> list[EvalPrompt]:
    with open(path, encoding="utf-8") as file:
        return parse_prompts(file.read())


def object_parts(prompt: str) -> list[str] | None:
    """The objects of a two-object prompt, as Attend-and-Excite splits it: on " and ", else on " with "; None when
    the prompt has neither (it then has no min-object score). A&E prompts have two parts; a prompt with more
    gives all of them, and min-object is the minimum over all."""
    for separator in (" and ", " with "):
        if separator in prompt:
            return prompt.split(separator)
    return None
