"""Human output on the terminal, with rich."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console, Group
from rich.panel import Panel
from rich.text import Text

from briefing.models import Brief, Document, Quote, Result

LANGUAGE_LABELS = {"fr": "Français", "en": "English"}


def source_label(doc: Document) -> str:
    """How a reader recognises a source: outlet (or file or host) and date."""
    name = doc.outlet or (Path(doc.path).name if doc.path else None) or doc.url or doc.id
    return f"{name}, {doc.published}" if doc.published else name


def _quote(quote: Quote, result: Result) -> Text:
    doc = result.story.source(quote.source)
    line = Text("  “", style="dim")
    line.append(quote.text, style="italic")
    line.append("”", style="dim")
    line.append(f"  — {source_label(doc) if doc else quote.source} [{quote.source}]", style="cyan")
    if quote.translation:
        line.append(f"\n    translation: {quote.translation}", style="dim")
    return line


def _brief(brief: Brief, result: Result) -> Panel:
    parts: list[Text] = [Text(brief.headline, style="bold")]
    parts += [Text(f" • {point}") for point in brief.points]
    parts += [_quote(q, result) for q in brief.quotes]
    title = LANGUAGE_LABELS.get(brief.language, brief.language)
    return Panel(Group(*parts), title=title, title_align="left")


def _footer(result: Result) -> Text:
    c, u = result.citations, result.usage
    engine = f"{result.engine} ({result.model})" if result.model else f"{result.engine} (offline)"
    text = Text(f"engine: {engine} · calls {u.calls}, tokens in {u.prompt_tokens} "
                f"(cached {u.cached_tokens}), out {u.completion_tokens}\n", style="dim")
    text.append(f"quotes: {c.proposed} proposed, {c.verified} verified, {c.repaired} repaired, "
                f"{c.rejected} rejected, {c.fallback} from the offline engine", style="dim")
    for note in result.notes:
        text.append(f"\nnote: {note}", style="yellow")
    return text


def render_terminal(result: Result, console: Console) -> None:
    """Print both briefs, their sources and the counts."""
    for doc in result.story.sources:
        line = Text(f"{doc.id} ", style="dim")
        line.append(f"{source_label(doc)} · {doc.language}{' · ' + doc.title if doc.title else ''}")
        console.print(line)
    for brief in result.briefs.values():
        console.print(_brief(brief, result))
    console.print(_footer(result))
