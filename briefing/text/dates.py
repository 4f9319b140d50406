"""Publication dates: parsing them, showing them, and finding the one a web page declares."""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

_PARTIAL = re.compile(r"^(\d{4})(?:-(\d{2}))?(?:-(\d{2}))?$")
# Keys (name, property, itemprop, http-equiv) of the <meta> elements that may state a page's
# date. Others are left out of the date search: a description or a title naming a date in
# passing is not the page's date. copyrightYear and pubYear are years, not dates.
_DATE_META_KEY = re.compile(r"date|time|publi|modif|created|issued|updat|lastmod", re.I)
_META_KEYS = ("name", "property", "itemprop", "http-equiv")


def parse_published(value: str | None) -> datetime | None:
    """An aware UTC datetime from "2020-02", "2020-02-14" or an ISO timestamp; else None.

    A date-only value becomes midnight UTC: enough to order by, but not a time to show (see
    :func:`shown_published`).
    """
    if not value:
        return None
    value = value.strip()
    match = _PARTIAL.match(value)
    try:
        if match:
            year, month, day = (int(g) if g else 1 for g in match.groups())
            return datetime(year, month, day, tzinfo=UTC)
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return as_utc(parsed)


def is_date_only(text: str | None) -> bool:
    """Whether a published value is a date without a time ("2024-05-03", "2020-02", "2020")."""
    return bool(text) and _PARTIAL.match(str(text).strip()) is not None


def shown_published(instant: datetime | None, text: str | None = None) -> str | None:
    """A published date as shown to people and in JSON.

    ``text`` is the value as the source gave it (``Article.published_text``): a date-only
    value stays a date ("2024-05-03"), never an invented 00:00 time. Otherwise the instant
    in ISO 8601, UTC; None when there is neither.
    """
    if is_date_only(text) and (instant is None or parse_published(text) == as_utc(instant)):
        return str(text).strip()
    if instant is None:
        return None
    return (as_utc(instant) or instant).isoformat()


def story_published(last: datetime | None,
                    articles: Iterable[tuple[datetime | None, str | None]]) -> str | None:
    """A story's last published date as shown: as the article that gave it stated it.

    ``articles`` are (published, published_text) of the story's articles. A story's date is
    the newest of its articles' dates, so the article with that date says whether it is a
    date-only value; a story whose date is its arrival (no article had one) shows the instant.
    """
    if last is None:
        return None
    for published, text in articles:
        if published is not None and as_utc(published) == as_utc(last):
            return shown_published(published, text)
    return shown_published(last)


def as_utc(value: datetime | None) -> datetime | None:
    """The same instant as an aware UTC datetime (naive values are taken as UTC)."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def declared_date(tree: Any, url: str | None = None) -> str | None:
    """The publication date a parsed page declares in its metadata, as "YYYY-MM-DD"; else None.

    Only what the page states about itself counts: date <meta> tags (article:published_time,
    Dublin Core, itemprop datePublished ...), JSON-LD (datePublished), and a date in its URL
    (canonical or given). Dates named in the text, in the title or in other markup are never
    taken: "lancé en octobre 2016" is not when the article came out, and a wrong date hides or
    misorders a story where no date does not. The published date wins over a modified one.
    ``tree`` is an lxml HTML element (trafilatura.load_html), which is not changed.
    """
    import htmldate  # imported here: it comes with trafilatura, which is slow to import
    import lxml.html  # type: ignore[import-untyped]

    declared = lxml.html.document_fromstring("<html><head></head><body></body></html>")
    head = declared.find("head")
    for element in tree.xpath('//meta | //link[@rel="canonical"]'
                              ' | //script[@type="application/ld+json"]'):
        if element.tag == "meta" and not _is_date_meta(element):
            continue
        kept = copy.deepcopy(element)
        kept.tail = None
        head.append(kept)
    # extensive_search=False: no guessing from free text; original_date: the publication
    # date before a modification date; deferred_url_extractor: meta tags before the URL.
    found = htmldate.find_date(declared, extensive_search=False, original_date=True, url=url,
                               deferred_url_extractor=True)
    return str(found) if found else None


def _is_date_meta(element: Any) -> bool:
    """Whether a <meta> element may state the page's date (see _DATE_META_KEY)."""
    if (element.get("pubdate") or "").lower() == "pubdate":
        return True
    keys = [element.get(key) or "" for key in _META_KEYS]
    return any(key.lower() == "og:url" or _DATE_META_KEY.search(key) for key in keys)
