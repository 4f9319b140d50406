"""An evaluation corpus: a folder of article files, or a JSONL file of articles.

JSONL: one object per line with `id`, the article as `text` (plain text), `html`
or `url`, optional `language` (else detected), optional `title`, and optional
reference summary under one of `REFERENCE_FIELDS` (OrangeSum's is
`reference_abstract`). Folder: every non-hidden file is an article (`.txt`, `.md`,
`.html`; anything else is reported as an error for that file); the reference
summary of `NAME.txt` is `NAME.ref.txt` next to it, when present.

Reading the corpus only lists the articles; each one is loaded by the worker
that evaluates it, so a bad article is one error, never the end of the run.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from briefing.config import FetchSettings
from briefing.errors import BadInput
from briefing.sources.extract import Extracted, extract
from briefing.sources.load import load_one, to_document
from briefing.sources.models import Story

REFERENCE_FIELDS = ("reference", "reference_abstract", "reference_summary", "summary", "abstract")
REFERENCE_SUFFIX = ".ref.txt"


@dataclass(frozen=True)
class Item:
    """One article of the corpus, not loaded yet."""

    id: str
    kind: str  # "file" | "text" | "html" | "url" | "invalid"
    value: str  # a path, the text, the HTML, the URL, or why the entry is invalid
    language: str | None = None
    title: str | None = None
    reference: str | None = None
    url: str | None = None


def read_corpus(path: Path, limit: int | None = None) -> list[Item]:
    """The corpus's articles, in order (the first `limit` when given)."""
    if not path.exists():
        raise BadInput(f"{path}: no such corpus (a folder of articles or a .jsonl file)")
    items = _folder(path) if path.is_dir() else _jsonl(path)
    if not items:
        raise BadInput(f"{path}: the corpus holds no article")
    return items[:limit] if limit is not None else items


def _folder(path: Path) -> list[Item]:
    files = sorted(p for p in path.rglob("*") if p.is_file()
                   and not any(part.startswith(".") for part in p.relative_to(path).parts))
    items = []
    for file in files:
        if file.name.endswith(REFERENCE_SUFFIX):
            continue
        ref = file.with_name(file.name.rsplit(".", 1)[0] + REFERENCE_SUFFIX)
        reference = ref.read_text(encoding="utf-8", errors="replace").strip() if ref.is_file() \
            else None
        items.append(Item(file.relative_to(path).as_posix(), "file", str(file),
                          reference=reference or None))
    return items


def _jsonl(path: Path) -> list[Item]:
    try:
        lines = path.read_bytes().decode("utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInput(f"{path}: cannot read the corpus ({exc})") from None
    return [_entry(number, line) for number, line in enumerate(lines, 1) if line.strip()]


def _text(row: dict[str, Any], key: str) -> str | None:
    value = row.get(key)
    return value if isinstance(value, str) and value.strip() else None


def _entry(number: int, line: str) -> Item:
    try:
        row = json.loads(line)
    except json.JSONDecodeError as exc:
        return Item(f"line {number}", "invalid", f"invalid JSON ({exc.msg})")
    if not isinstance(row, dict):
        return Item(f"line {number}", "invalid", "not a JSON object")
    ident = str(row.get("id") or f"line {number}")
    reference = next((r for f in REFERENCE_FIELDS if (r := _text(row, f))), None)
    common = {"language": _text(row, "language"), "title": _text(row, "title"),
              "reference": reference, "url": _text(row, "url")}
    for kind in ("text", "html"):
        if isinstance(row.get(kind), str):
            return Item(ident, kind, row[kind], **common)
    if common["url"]:
        return Item(ident, "url", common["url"], **common)
    return Item(ident, "invalid", "no text, html or url field")


def load_item(item: Item, fetch: FetchSettings) -> Story:
    """The item as a one-source story, loaded the way `briefing summarize` loads sources."""
    path = None
    if item.kind == "invalid":
        raise BadInput(item.value)
    if item.kind == "file":
        extracted, path = load_one(item.value, fetch)
    elif item.kind == "url":
        extracted, _ = load_one(item.value, fetch)
    elif item.kind == "html":
        extracted = extract(item.value.encode("utf-8"), name=f"{item.id}.html", url=item.url)
    else:
        extracted = extract(item.value.encode("utf-8"), name=f"{item.id}.txt")
    return Story((to_document("S1", _with_metadata(extracted, item), path),))


def _with_metadata(extracted: Extracted, item: Item) -> Extracted:
    changes: dict[str, Any] = {
        k: v for k, v in (("language", item.language), ("title", item.title)) if v
    }
    return dataclasses.replace(extracted, **changes) if changes else extracted
