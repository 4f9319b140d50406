"""Extraction: bytes to clean article text, exact characters kept, bad input refused."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from briefing.errors import BadInput, ExtractionError
from briefing.sources.extract import decode_text, extract, extract_html, extract_text, is_html
from tests.conftest import FIXTURES, SEEDS, shared_path

TAG = re.compile(r"</?[A-Za-z][A-Za-z0-9-]*(?:\s[^<>]*)?/?>")


# --- seeds -----------------------------------------------------------------------


@pytest.mark.parametrize("path", SEEDS, ids=lambda p: p.name)
def test_seed_text_is_exact_substring_of_the_file(path: Path) -> None:
    raw = path.read_text(encoding="utf-8")
    got = extract(path.read_bytes(), name=path.name)
    assert got.text in raw
    # Only outer whitespace and the metadata prefix are taken off: the body ends the file.
    assert raw.rstrip().endswith(got.text)
    assert got.text == got.text.strip()
    assert got.language == "fr"


def test_seed_000_is_kept_whole_with_its_typo() -> None:
    path = SEEDS[0]
    got = extract(path.read_bytes(), name=path.name)
    assert got.text == path.read_text(encoding="utf-8").strip()
    assert got.published is None
    assert "Mark Eper" in got.text  # the source's typo for "Esper", kept as is
    assert "« Le président Trump a démontré" in got.text
    assert "politiques »." in got.text


def test_seed_001_date_prefix_becomes_metadata() -> None:
    path = SEEDS[1]
    raw = path.read_text(encoding="utf-8")
    assert raw.lstrip().startswith("date 2020-02 ")
    got = extract(path.read_bytes(), name=path.name)
    assert got.published == "2020-02"
    assert "date 2020-02" not in got.text
    assert got.text.startswith("Amazon Web Services a déclaré lundi qu’il")
    # Exactly the prefix is removed: the rest is the file's text, character for character.
    assert got.text == raw.strip().removeprefix("date 2020-02 ")


def test_seed_001_keeps_curly_quotes_and_apostrophes() -> None:
    got = extract(SEEDS[1].read_bytes(), name=SEEDS[1].name)
    for ch in "’“”…–":
        assert ch in got.text, ch
    assert "“visser Amazon”" in got.text
    assert "Mark Esper" in got.text
    # No straightening of typography.
    assert "qu'il" not in got.text
    assert '"visser' not in got.text


# --- plain-text cleaning ---------------------------------------------------------


@pytest.mark.parametrize("path", SEEDS, ids=lambda p: p.name)
def test_cp1252_article_is_detected_and_the_note_names_the_charset(path: Path) -> None:
    # French saved by older Windows tools: not UTF-8, no declaration; the detector decides.
    text = path.read_text(encoding="utf-8")
    got = extract(text.encode("cp1252"), name="note.txt")
    assert got.text == extract(path.read_bytes(), name="note.txt").text
    assert len(got.notes) == 1 and "cp1252" in got.notes[0] and "note.txt" in got.notes[0]


def test_short_text_in_an_unknown_charset_is_refused_not_guessed() -> None:
    # Too short for the detector to tell cp1252 ("œ", "è") from cp1250 ("ś", "č"): exit 2,
    # where a guess would print "L’śuvre coűte 5 € – « trčs cher »".
    longer = "L’œuvre coûte 5 € – « très cher », dit-il."
    with pytest.raises(BadInput, match="undecodable") as info:
        decode_text(longer.encode("cp1252"), "note.txt")
    assert info.value.exit_code == 2


def test_declared_charset_is_used() -> None:
    text = "Ça coûte très cher à l’été."
    assert decode_text(text.encode("utf-8"), "x", charset="utf-8").text == text
    assert decode_text("Le café".encode("latin-1"), "x", charset="latin-1").text == "Le café"
    # An unknown declared charset is ignored, not fatal.
    assert decode_text(text.encode("utf-8"), "x", charset="no-such-charset").text == text


def test_utf8_bom_is_removed() -> None:
    got = extract("\ufeffBonjour à tous, voici la nouvelle.".encode(), name="a.txt")
    assert got.text == "Bonjour à tous, voici la nouvelle."


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-le", "utf-16-be"])
def test_utf16_with_bom_is_decoded(codec: str) -> None:
    # UTF-16 is full of NUL bytes; its byte-order mark tells it from binary data.
    text = "Bonjour à tous, voici la nouvelle."
    bom = "\ufeff" if codec != "utf-16" else ""
    data = (bom + text).encode(codec)
    assert data[:2] in (b"\xff\xfe", b"\xfe\xff")
    assert decode_text(data, "a.txt").text.lstrip("\ufeff") == text
    assert extract(data, name="a.txt").text == text


def test_nul_bytes_without_bom_are_binary() -> None:
    with pytest.raises(BadInput, match="binary"):
        decode_text("Bonjour".encode("utf-16-le"), "a.txt")


def test_crlf_becomes_lf() -> None:
    got = extract(b"Ligne un.\r\nLigne deux.\r\n\r\nLigne trois.\r\n", name="a.txt")
    assert got.text == "Ligne un.\nLigne deux.\n\nLigne trois."
    assert "\r" not in got.text


def test_markdown_title() -> None:
    got = extract("# Mon titre\n\nLe texte de l’article.\n".encode(), name="note.md")
    assert got.title == "Mon titre"
    assert got.text == "Le texte de l’article."


def test_markdown_heading_is_text_in_a_txt_file() -> None:
    got = extract(b"# Mon titre\n\nLe texte.", name="note.txt")
    assert got.title is None
    assert got.text.startswith("# Mon titre")


def test_leading_field_lines_become_metadata() -> None:
    data = "Title: Un titre\nOutlet: Le Monde\n\nCorps du texte, avec « guillemets ».".encode()
    got = extract(data, name="a.txt")
    assert got.title == "Un titre"
    assert got.outlet == "Le Monde"
    assert got.text == "Corps du texte, avec « guillemets »."


def test_date_then_fields_then_body() -> None:
    data = b"date: 2020-02-14\nTitle: X\nSource: AFP\nURL: https://example.org/a\nCorps."
    got = extract_text(data.decode())
    assert got.published == "2020-02-14"
    assert got.title == "X"
    assert got.outlet == "AFP"
    assert got.url == "https://example.org/a"
    assert got.text == "Corps."


def test_field_words_inside_the_body_are_text() -> None:
    body = "Le texte commence ici.\nTitle: ceci fait partie du corps."
    assert extract_text(body).text == body
    assert extract_text(body).title is None


def test_empty_field_line_does_not_swallow_the_body() -> None:
    got = extract_text("Title:\nLe corps de l’article, en entier.")
    assert got.text.endswith("Le corps de l’article, en entier.")
    assert got.title != "Le corps de l’article, en entier."


def test_blank_field_value_is_not_a_title() -> None:
    got = extract_text("Title: \nOutlet: AFP\nLe corps de l’article.")
    assert got.title is None or got.title.strip()
    assert got.text.endswith("Le corps de l’article.")


# --- bad input -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "error", "words"),
    [
        (b"", ExtractionError, "empty"),
        (b"   \n\t \r\n ", ExtractionError, "empty"),
        (b"\x89PNG\r\n\x1a\n" + bytes(range(256)), BadInput, "binary"),
        (b"GIF89a" + b"\x00" * 20, BadInput, "binary"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n", BadInput, "binary"),
        (b"PK\x03\x04" + b"zipdata" * 10, BadInput, "binary"),
        (b"Du texte puis\x00\x00\x00 des octets nuls.", BadInput, "binary"),
        (b"\x81\x8d\x8f\x90\x9d" * 50, BadInput, "undecodable"),
        (b"\x01\x02\x03\x04\x05\x06" * 50, BadInput, "undecodable"),
    ],
    ids=["empty", "blank", "png", "gif", "pdf", "zip", "nul", "undecodable", "controls"],
)
def test_bad_input_is_refused_with_a_message(
    data: bytes, error: type[BadInput], words: str
) -> None:
    with pytest.raises(error) as info:
        extract(data, name="upload.bin")
    message = str(info.value)
    assert "upload.bin" in message
    assert words in message.lower()
    assert info.value.exit_code == 2


def test_undecodable_bytes_raise_in_decode() -> None:
    data = b"\x81\x8d\x8f\x90\x9d" * 50  # invalid UTF-8, and unassigned in cp1252
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    with pytest.raises(UnicodeDecodeError):
        data.decode("cp1252")
    with pytest.raises(BadInput, match="undecodable"):
        decode_text(data, "mystery.txt")


def test_metadata_only_text_is_refused() -> None:
    with pytest.raises(ExtractionError, match="no article text"):
        extract(b"Title: Un titre\nOutlet: Le Monde\n", name="a.txt")


def test_page_without_article_is_refused() -> None:
    with pytest.raises(ExtractionError, match="no article text"):
        extract(b"<html><body><nav>Menu</nav></body></html>", name="menu.html")


def test_page_with_only_links_is_refused() -> None:
    page = (
        "<!DOCTYPE html><html><body><nav><a href='/'>Accueil</a> <a href='/p'>Politique</a>"
        " <a href='/s'>Sport</a></nav><footer>Mentions légales</footer></body></html>"
    )
    with pytest.raises(ExtractionError):
        extract(page.encode(), url="https://example.org/")


# --- HTML ------------------------------------------------------------------------

ARTICLE = """<!DOCTYPE html>
<html lang="fr"><head><meta charset="utf-8">
<title>Le conseil municipal vote le budget – La Gazette</title>
<meta property="og:title" content="Le conseil municipal vote le budget">
<meta property="article:published_time" content="2021-03-04T08:00:00Z">
<script>var tracker = "SECRET_TRACKER_CODE"; function track() { return 42; }</script>
<style>.menu { color: red; }</style></head>
<body><nav><ul><li><a href="/">Accueil</a></li><li><a href="/sport">Sport</a></li></ul></nav>
<article><h1>Le conseil municipal vote le budget</h1>
<p>Le conseil municipal s’est réuni jeudi soir pour voter le budget de l’année, après trois
heures de débats parfois vifs entre la majorité et l’opposition.</p>
<p>« Nous avons fait des choix difficiles mais nécessaires », a déclaré la maire, Mme Durand,
devant une salle comble. L’opposition a dénoncé une hausse des impôts locaux.</p>
<p>Le budget prévoit notamment la rénovation de l’école primaire et la création d’une piste
cyclable le long de la rivière, pour un montant total de deux millions d’euros.</p>
<script>document.write("AD_SCRIPT_CONTENT");</script>
</article><footer>Mentions légales – Contact</footer></body></html>
"""


def test_html_article_is_extracted() -> None:
    got = extract(ARTICLE.encode(), url="https://gazette.example.fr/budget")
    assert got.language == "fr"
    assert got.title == "Le conseil municipal vote le budget"
    assert got.published == "2021-03-04"
    assert got.url == "https://gazette.example.fr/budget"
    assert "« Nous avons fait des choix difficiles mais nécessaires »" in got.text
    assert "deux millions d’euros." in got.text
    for junk in ("SECRET_TRACKER_CODE", "AD_SCRIPT_CONTENT", "function", "color: red"):
        assert junk not in got.text
    assert TAG.search(got.text) is None


def test_html_is_detected_by_name_type_or_content() -> None:
    data = ARTICLE.encode()
    assert is_html(data, None, None)
    assert is_html(b"<p>hi</p>", "page.HTM", None)
    assert is_html(b"<p>hi</p>", None, "text/html; charset=utf-8")
    assert not is_html(b"Le texte <b>brut</b>.", "note.txt", "text/plain")
    # The same bytes, given as text, stay plain text.
    assert extract_text("Le texte <b>brut</b>.").text == "Le texte <b>brut</b>."


def test_html_string_extraction() -> None:
    got = extract_html(ARTICLE, label="budget")
    assert got.title == "Le conseil municipal vote le budget"
    with pytest.raises(ExtractionError, match="budget"):
        extract_html("<html><body></body></html>", label="budget")


def test_prose_mentioning_code_is_kept() -> None:
    quote = (
        "« Avec la syntaxe x => x * 2, on écrit moins de code », explique Julie Martin, "
        "ingénieure dans une jeune pousse de la région."
    )
    paragraphs = [
        "Le nouveau langage séduit les développeurs de la région, selon une étude publiée "
        "lundi par l’université de Tours.",
        quote,
        "Les formations proposées par la ville affichent complet jusqu’à la fin de l’année, "
        "et une nouvelle session ouvrira en mars.",
    ]
    page = (
        "<html><head><title>Le code</title></head><body><article><h1>Le code</h1>"
        + "".join(f"<p>{p}</p>" for p in paragraphs)
        + "</article></body></html>"
    )
    got = extract(page.encode(), name="code.html")
    assert paragraphs[0] in got.text
    assert quote in got.text


def test_fixture_page_has_no_article_and_is_refused() -> None:
    # This stored lanouvellerepublique.fr page is an Angular shell: the article is loaded by
    # JavaScript, and the static HTML only holds template code ("{{nrco.…}}") and an admin
    # bar (checked by hand). It must not pass for an article.
    path = FIXTURES / "lanouvellerepublique.fr.martin.html"
    raw = path.read_text(encoding="utf-8")
    assert "{{nrco.contentDetailController" in raw
    with pytest.raises(ExtractionError, match="no article text"):
        extract(path.read_bytes(), name=path.name)


SHARED_PAGES = [
    ("franceculture.fr.idees.html", "fr", "Prendre la parole", "Convention citoyenne"),
    (
        "nationalgeographic.co.uk.goats.html",
        "en",
        "Ravenous wild goats ruled this island",
        "Redonda",
    ),
    ("reuters.com.parasite.html", "en", "'Parasite' scores historic upset", "Joaquin Phoenix"),
]


@pytest.mark.parametrize(
    ("name", "language", "title", "phrase"), SHARED_PAGES, ids=[p[0] for p in SHARED_PAGES]
)
def test_shared_pages(name: str, language: str, title: str, phrase: str) -> None:
    path = shared_path("corpus", "html", name)
    got = extract(path.read_bytes(), name=name)
    assert got.language == language
    assert got.title is not None
    assert got.title.startswith(title)
    assert len(got.text) > 500
    assert phrase in got.text
    assert TAG.search(got.text) is None
    assert "function(" not in got.text
    assert "{{" not in got.text


def test_shared_lanouvellerepublique_page_is_refused() -> None:
    path = shared_path("corpus", "html", "lanouvellerepublique.fr.martin.html")
    with pytest.raises(ExtractionError):
        extract(path.read_bytes(), name=path.name)


def test_reuters_page_has_its_date_and_quotes() -> None:
    path = shared_path("corpus", "html", "reuters.com.parasite.html")
    got = extract(path.read_bytes(), url="https://www.reuters.com/article/us-awards-sag")
    # The page says published 2020-01-19T12:25Z, updated 2020-01-20T09:49Z.
    assert got.published in ("2020-01-19", "2020-01-20")
    assert got.outlet == "Reuters"
    assert got.text.startswith("LOS ANGELES (Reuters) - South Korean thriller “Parasite”")
    assert "“I am standing on the shoulders of my favorite actor - Heath Ledger,”" in got.text


# --- one decoding rule -----------------------------------------------------------

FRENCH = ("Le gouvernement a présenté mercredi son projet de réforme, très contesté. « C’est "
          "une réforme juste », a déclaré la Première ministre devant les députés. ")


def test_a_stray_byte_in_utf8_text_becomes_u_fffd_and_a_note_not_mojibake() -> None:
    # A cp1252 apostrophe (0x92) pasted into UTF-8 text: the rest must stay exactly as written.
    data = FRENCH.encode() * 3 + b"L\x92avis du Conseil est attendu."
    got = extract(data, name="damaged.txt")
    assert got.text == FRENCH * 3 + "L\ufffdavis du Conseil est attendu."
    assert "Ã" not in got.text and "présenté" in got.text
    assert got.notes == ("damaged.txt: 1 invalid UTF-8 byte sequence replaced with U+FFFD",)


def test_a_utf8_bom_with_damage_is_still_utf8() -> None:
    got = decode_text(b"\xef\xbb\xbf" + "Café crème ".encode() * 30 + b"\xe9t\xe9.", "a.txt")
    assert got.encoding == "utf-8" and got.text.endswith("\ufffdt\ufffd.")
    assert "2 invalid UTF-8 byte sequences" in got.notes[0]


def test_text_with_more_damage_than_the_threshold_is_refused() -> None:
    # Mostly UTF-8, a third cp1252 (mixed encodings): 4 invalid bytes every 75 characters.
    line = "Été très chaud à Nîmes. "
    data = (line.encode() * 2 + line.encode("cp1252")) * 5
    with pytest.raises(BadInput, match="invalid byte sequences") as info:
        decode_text(data, "mixed.txt")
    assert "mixed.txt" in str(info.value) and info.value.exit_code == 2


def test_a_real_u_fffd_in_the_source_is_not_counted_as_damage() -> None:
    data = ("Le symbole \ufffd remplace un caractère. " * 3).encode() + b"Fin\x92."
    assert "1 invalid" in decode_text(data, "a.txt").notes[0]


def test_valid_utf8_wins_over_a_wrong_declared_charset() -> None:
    # Servers often declare ISO-8859-1 by default for pages that are UTF-8.
    text = "Le café crème est très apprécié à Nîmes, dit-elle."
    got = decode_text(text.encode(), "page", charset="iso-8859-1")
    assert got.text == text and got.notes == ()


def test_the_pages_own_meta_charset_is_used() -> None:
    text = "<p>Правительство представило в среду проект реформы.</p>"
    page = f'<html><head><meta charset="windows-1251"></head><body>{text}</body></html>'
    assert decode_text(page.encode("cp1251"), "page").text == page
    xml = f'<?xml version="1.0" encoding="koi8-r"?><html><body>{text}</body></html>'
    assert decode_text(xml.encode("koi8-r"), "page").text == xml


@pytest.mark.parametrize(("codec", "name"), [("koi8-r", "koi8-r"), ("cp1251", "cp1251")])
def test_a_detected_charset_is_named_in_the_notes(codec: str, name: str) -> None:
    text = ("Правительство представило в среду проект пенсионной реформы, который профсоюзы "
            "резко критикуют. Премьер-министр заявила, что реформа справедлива. ") * 3
    got = decode_text(text.encode(codec), "ru.txt")
    assert got.text == text and got.encoding == name
    assert got.notes == (f"ru.txt: not UTF-8; decoded as {name} (detected by charset-normalizer)",)
    assert extract(text.encode(codec), name="ru.txt").notes == got.notes


def test_bytes_the_detector_reads_as_noise_are_refused() -> None:
    # charset-normalizer proposes cp949 for these, but finds no language in what it reads.
    with pytest.raises(BadInput, match="none detected with confidence"):
        decode_text(b"\x81\x8d\x8f\x90\x9d" * 50, "noise.txt")


def test_invalid_utf16_after_its_mark_is_refused() -> None:
    with pytest.raises(BadInput, match="invalid UTF-16"):
        decode_text(b"\xff\xfe" + "Bonjour".encode("utf-16-le") + b"\x00\xd8", "a.txt")


def test_an_html_file_in_latin1_with_its_meta_charset_is_extracted() -> None:
    page = ARTICLE.replace('<meta charset="utf-8">', '<meta charset="iso-8859-1">')
    page = page.replace("’", "'").replace("–", "-").replace("«", '"').replace("»", '"')
    got = extract(page.encode("latin-1"), name="budget.html")
    assert "réuni jeudi soir" in got.text and "deux millions d'euros." in got.text
    assert got.notes == ()
