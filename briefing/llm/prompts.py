"""Prompt templates: files in `briefing/prompts/`, filled by one strict function."""

from __future__ import annotations

import string
from pathlib import Path

from briefing.errors import PromptError


def render_prompt(prompts_dir: Path, name: str, /, **values: object) -> str:
    """Fill `prompts_dir/name.txt` with `$variables`; a missing or unused one is an error."""
    path = prompts_dir / f"{name}.txt"
    try:
        template = string.Template(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PromptError(f"prompt template not found: {path}") from None
    wanted = set(template.get_identifiers())
    missing = wanted - values.keys()
    extra = values.keys() - wanted
    if missing or extra:
        raise PromptError(
            f"prompt {name}: missing {sorted(missing)}, unexpected {sorted(extra)}"
        )
    return template.substitute({k: str(v) for k, v in values.items()})
