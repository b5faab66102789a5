"""The README's options table, generated from the params model (tests/test_readme.py keeps them equal)."""

from __future__ import annotations

import json

from lib_dnp.params import DnpParams, allowed, field_extra

BEGIN = "<!-- options:begin (generated from lib_dnp/params.py by `python -m lib_dnp.docs`) -->"
END = "<!-- options:end -->"


def options_table() -> str:
    rows = ["| field | default | allowed | X/Y/Z | what it does |", "|---|---|---|---|---|"]
    for name, field in DnpParams.__fields__.items():
        default = json.dumps(field.default)
        xyz = "yes" if field_extra(name, "xyz", False) else ""
        description = field.field_info.description or field.field_info.title or ""
        rows.append(f"| `{name}` | `{default}` | {allowed(name)} | {xyz} | {description} |")
    return "\n".join(rows)


def readme_block() -> str:
    return f"{BEGIN}\n{options_table()}\n{END}"


if __name__ == "__main__":
    print(readme_block())
