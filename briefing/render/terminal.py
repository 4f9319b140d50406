"""Human output on the terminal, with rich.

Each point ends with the source sentences it rests on, `[S1·3, S2·1]` (source id ·
sentence number, as the sources listed above the briefs are numbered), so a reader can
check it against `briefing extract`."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console, Group
from rich.panel import Panel
from rich.text import Text

from briefing.briefs.models import POINT_REASONS, Brief, CitationCounts, Quote, Result
from briefing.render.labels import own_name, shown_once, support_marker, untranslated_label
from briefing.sources.models import Document
from briefing.text.language import language_name


def source_label(doc: Document) -> str:
    """How a reader recognises a source: outlet (or file or host) and date."""
    name = doc.outlet or (Path(doc.path).name if doc.path else None) or doc.url or doc.id
    return f"{name}, {doc.published}" if doc.published else name


def _quote(quote: Quote, result: Result, untranslated: bool = False) -> Text:
    doc = result.story.source(quote.source)
    line = Text("  “", style="dim")
    line.append(quote.text, style="italic")
    line.append("”", style="dim")
    line.append(f"  — {source_label(doc) if doc else quote.source} [{quote.source}]", style="cyan")
    if quote.translation:
        line.append(f"\n    translation: {quote.translation}", style="dim")
    elif quote.untranslated and not untranslated:
        line.append("\n    not translated", style="dim")
    return line


def _brief(brief: Brief, result: Result, original: str | None) -> Panel:
    parts: list[Text] = [Text(brief.headline, style="bold")]
    for point in brief.points:
        line = Text(f" • {point.text}")
        marker = support_marker(point)
        if marker:
            line.append(f" {marker}", style="cyan")
        parts.append(line)
    parts += [_quote(q, result, untranslated=original is not None) for q in brief.quotes]
    title = own_name(brief.language)
    if original is not None:
        title += f" ({untranslated_label(original, brief.language)})"
    return Panel(Group(*parts), title=title, title_align="left")


def _also_for(shown: list[Brief], result: Result) -> list[Text]:
    """One line per brief left out because it is another one, untranslated."""
    lines = []
    for brief in result.briefs.values():
        if brief not in shown and brief.original_language:
            lines.append(Text(
                f"{own_name(brief.language)}: the {language_name(brief.original_language, 'en')}"
                " brief above, untranslated. Translation needs an LLM.", style="yellow"))
    return lines


def _reasons(counts: CitationCounts) -> str:
    """" (numbers 2, names 1)": why points were dropped, when some were."""
    found = [(r.replace("_", " "), getattr(counts, f"points_dropped_{r}")) for r in POINT_REASONS]
    shown = ", ".join(f"{name} {n}" for name, n in found if n)
    return f" ({shown})" if shown else ""


def _footer(result: Result) -> Text:
    c, u = result.citations, result.usage
    engine = f"{result.engine} ({result.model})" if result.model else f"{result.engine} (offline)"
    text = Text(f"engine: {engine} · calls {u.calls}, tokens in {u.prompt_tokens} "
                f"(cached {u.cached_tokens}), out {u.completion_tokens}\n", style="dim")
    text.append(f"quotes: {c.proposed} proposed, {c.verified} verified, {c.repaired} repaired, "
                f"{c.rejected} rejected, {c.fallback} from the offline engine", style="dim")
    text.append(f"\npoints: {c.points_proposed} proposed, {c.points_supported} supported by "
                f"their cited sentences, {c.points_retried} retried, {c.points_dropped} dropped"
                + _reasons(c) + f", {c.points_fallback} from the offline engine", style="dim")
    for note in result.notes:
        text.append(f"\nnote: {note}", style="yellow")
    return text


def render_terminal(result: Result, console: Console) -> None:
    """Print both briefs, their sources and the counts."""
    for doc in result.story.sources:
        line = Text(f"{doc.id} ", style="dim")
        language = language_name(doc.language, "en")
        line.append(f"{source_label(doc)} · {language}{' · ' + doc.title if doc.title else ''}")
        console.print(line)
    shown = shown_once(list(result.briefs.values()))
    for brief, original in shown:
        console.print(_brief(brief, result, original))
    for line in _also_for([b for b, _ in shown], result):
        console.print(line)
    console.print(_footer(result))
