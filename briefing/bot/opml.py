"""An OPML file sent to the bot: its feeds imported, the outcome in one message.

An administrator's file is imported for everyone, as `briefing feeds import` does (URLs
checked by the URL rules, feeds already there skipped, the rest in one transaction:
`briefing.service.feeds_admin.import_opml`). With `telegram.reader_feeds`, a reader's file
is imported the same way, and the reader follows its feeds, within
`telegram.reader_feeds_limit` (all of the file or nothing); otherwise a reader is told
politely that files are for administrators. The reply is in the sender's language.
"""

from __future__ import annotations

import asyncio
import logging

from telegram import Update
from telegram.error import TelegramError
from telegram.ext import ContextTypes, filters

from briefing.bot.failures import failure_text
from briefing.bot.state import chat_of, lang_of, state_of
from briefing.bot.texts import t
from briefing.errors import BadInput
from briefing.service.feeds_admin import FeedLimit, ImportReport, import_opml
from briefing.sources.fetch import shown_url

log = logging.getLogger(__name__)

# What may be an OPML file, in a private chat (in a group, members' files are none of the
# bot's business): readers export `.opml` (some `.xml`), sent as whatever type the phone
# names it. The content decides; other documents get the general hint.
DOCUMENTS = filters.ChatType.PRIVATE & (
    filters.Document.FileExtension("opml") | filters.Document.FileExtension("xml")
    | filters.Document.MimeType("text/x-opml") | filters.Document.MimeType("application/xml")
    | filters.Document.MimeType("text/xml"))
SHOWN_FAILURES = 10  # refused feeds named in the reply; the rest are counted
_URL_CHARS = 200  # of a refused feed's address in the reply


def import_summary(report: ImportReport, lang: str, reader: bool) -> str:
    """The one message that tells what an import did: counts, the feeds a reader follows
    now, and the refused feeds with the reason, the first SHOWN_FAILURES of them."""
    lines = [t("opml_imported", lang, added=len(report.added), present=len(report.present),
               failed=len(report.failed))]
    if reader:
        lines.append(t("opml_newly_followed", lang, count=report.followed))
    lines += [f"• {shown_url(f.url)[:_URL_CHARS]}: {failure_text(f.error, lang)}"
              for f in report.failed[:SHOWN_FAILURES]]
    if len(report.failed) > SHOWN_FAILURES:
        lines.append(t("opml_more", lang, count=len(report.failed) - SHOWN_FAILURES))
    return "\n".join(lines)


def limit_text(exc: FeedLimit, lang: str, file: bool = False) -> str:
    """Why a reader may not add a feed (or import a `file`) now, in their words."""
    if file:
        return t("reader_feeds_limit_file", lang, total=exc.following + exc.adding,
                 limit=exc.limit)
    key = "reader_feeds_limit_every" if exc.every else "reader_feeds_limit"
    return t(key, lang, following=exc.following, limit=exc.limit)


def refusal_text(exc: BadInput, lang: str) -> str:
    """A file that could not be imported, in the reader's words."""
    if isinstance(exc, FeedLimit):
        return limit_text(exc, lang, file=True)
    if exc.reason == "too_large":
        return t("opml_too_large", lang)
    return failure_text(exc, lang)


async def document(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A document that may be an OPML file: import it (see the module's rule)."""
    state, lang = state_of(context), lang_of(update)
    message, user = update.effective_message, update.effective_user
    assert message is not None and message.document is not None
    telegram = state.settings.telegram
    admin = user is not None and user.id in telegram.admins
    if not admin and not telegram.reader_feeds:
        await message.reply_text(t("opml_admins_only", lang))
        return
    sent = message.document
    cap = state.settings.fetch.max_bytes
    if sent.file_size is not None and sent.file_size > cap:  # not worth downloading
        await message.reply_text(t("opml_too_large", lang))
        return
    try:
        data = bytes(await (await sent.get_file()).download_as_bytearray())
    except TelegramError:
        log.warning("could not download the document %s", sent.file_name, exc_info=True)
        await message.reply_text(t("opml_download_failed", lang))
        return
    reader = None if admin else chat_of(update)
    try:
        report = await asyncio.to_thread(
            import_opml, state.db, data, sent.file_name or "document", state.settings.fetch,
            reader=reader, limit=None if admin else telegram.reader_feeds_limit)
    except BadInput as exc:
        log.info("OPML file %s refused: %s", sent.file_name, exc)
        await message.reply_text(refusal_text(exc, lang))
        return
    log.info("OPML file %s: %d feeds added, %d already there, %d refused", sent.file_name,
             len(report.added), len(report.present), len(report.failed))
    await message.reply_text(import_summary(report, lang, reader is not None),
                             disable_web_page_preview=True)
