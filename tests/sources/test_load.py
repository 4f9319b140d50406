"""Loading sources: files, pipes and URLs read within `fetch.max_bytes`; devices refused."""

from __future__ import annotations

import contextlib
import os
import socket
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from briefing.config import FetchSettings
from briefing.errors import BadInput
from briefing.sources.extract import extract
from briefing.sources.load import load_one, load_story, read_file, size_text
from tests.conftest import SEEDS
from tests.fakes.web_server import FakeWebServer

SMALL = FetchSettings(max_bytes=100_000)


class Writer(threading.Thread):
    """Writes `total` bytes of text into a FIFO, and counts what the reader took."""

    def __init__(self, path: Path, total: int) -> None:
        super().__init__(daemon=True)
        self.path, self.total, self.written, self.cut_off = path, total, 0, False

    def run(self) -> None:
        line = "Le conseil municipal a voté le budget de la ville jeudi soir. ".encode()
        try:
            with self.path.open("wb") as pipe:
                while self.written < self.total:
                    pipe.write(line)
                    self.written += len(line)
        except BrokenPipeError:  # the reader stopped reading: what the cap is for
            self.cut_off = True


@contextlib.contextmanager
def fifo(path: Path, data: bytes) -> Iterator[Path]:
    """A named pipe at `path` that a thread fills with `data`, then closes."""
    os.mkfifo(path)
    thread = threading.Thread(target=path.write_bytes, args=(data,), daemon=True)
    thread.start()
    try:
        yield path
    finally:
        thread.join(timeout=10)


def test_sizes_read_as_people_say_them() -> None:
    assert [size_text(n) for n in (5_000_000, 1_500_000, 100_000, 12)] == [
        "5 MB", "1.5 MB", "100 kB", "12 bytes"]


def test_a_file_larger_than_the_cap_is_refused_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "big.txt"
    path.write_bytes(SEEDS[0].read_bytes() * 100)  # about 270 kB of real text
    with pytest.raises(BadInput) as info:
        load_one(str(path), SMALL)
    assert str(info.value) == f"{path}: larger than 100 kB; raise fetch.max_bytes"
    assert info.value.exit_code == 2
    # Raising the cap is the way out, as the message says.
    extracted, _ = load_one(str(path), FetchSettings(max_bytes=1_000_000))
    assert extracted.text.startswith(extract(SEEDS[0].read_bytes()).text[:200])


def test_a_file_at_the_cap_is_read(tmp_path: Path) -> None:
    path = tmp_path / "exact.txt"
    data = SEEDS[0].read_bytes()
    path.write_bytes(data)
    assert read_file(path, "exact.txt", len(data)) == data
    with pytest.raises(BadInput, match="larger than"):
        read_file(path, "exact.txt", len(data) - 1)


def test_a_named_pipe_is_read_like_a_file(tmp_path: Path) -> None:
    data = SEEDS[0].read_bytes()
    with fifo(tmp_path / "pipe.txt", data) as path:
        assert stat.S_ISFIFO(path.stat().st_mode)
        extracted, got_path = load_one(str(path), SMALL)
    assert extracted.text == extract(data, name="a.txt").text
    assert got_path == str(path)


def test_an_endless_pipe_is_read_only_up_to_the_cap(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "endless.txt")
    writer = Writer(tmp_path / "endless.txt", total=50_000_000)
    writer.start()
    with pytest.raises(BadInput, match=r"endless\.txt: larger than 100 kB; raise fetch\.max_bytes"):
        load_one(str(tmp_path / "endless.txt"), SMALL)
    writer.join(timeout=10)
    # Reading stopped at the cap: the writer was cut off long before its 50 MB.
    assert writer.cut_off and writer.written < 1_000_000


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/null", "/dev/urandom"])
def test_character_devices_are_refused(device: str) -> None:
    if not os.path.exists(device):
        pytest.skip(f"{device} is not present")
    with pytest.raises(BadInput) as info:
        load_one(device, SMALL)
    assert str(info.value) == f"{device}: is a character device, not an article file"


def test_a_block_device_is_refused() -> None:
    device = next((d for d in ("/dev/loop0", "/dev/sda", "/dev/vda", "/dev/nvme0n1")
                   if os.path.exists(d) and stat.S_ISBLK(os.stat(d).st_mode)), None)
    if device is None:
        pytest.skip("no block device to try")
    with pytest.raises(BadInput, match="is a block device"):
        load_one(device, SMALL)


def test_a_socket_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind(str(path))
        with pytest.raises(BadInput) as info:
            load_one(str(path), SMALL)
    assert str(info.value) == f"{path}: is a socket, not an article file"


def test_a_symlink_is_judged_by_what_it_points_to(tmp_path: Path) -> None:
    (tmp_path / "zero.txt").symlink_to("/dev/zero")
    with pytest.raises(BadInput, match="is a character device"):
        load_one(str(tmp_path / "zero.txt"), SMALL)
    (tmp_path / "seed.txt").symlink_to(SEEDS[0])
    assert load_one(str(tmp_path / "seed.txt"), SMALL)[0].text


def test_missing_files_and_directories_keep_their_messages(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="no such file"):
        load_one(str(tmp_path / "nope.txt"), SMALL)
    with pytest.raises(BadInput, match="is a directory"):
        load_one(str(tmp_path), SMALL)


# --- URLs of plain text and Markdown ---------------------------------------------------


@pytest.fixture
def web() -> Iterator[FakeWebServer]:
    with FakeWebServer() as server:
        yield server


LOCAL = FetchSettings(allow_private=True)
BODY = ("Le conseil municipal s’est réuni jeudi soir pour voter le budget de l’année, après "
        "trois heures de débats parfois vifs entre la majorité et l’opposition.")


def test_a_plain_text_url_keeps_its_url_and_title(web: FakeWebServer) -> None:
    web.route("/note", f"Title: Le budget est voté\n\n{BODY}\n".encode(),
              content_type="text/plain; charset=utf-8")
    story = load_story([web.url("/note")], LOCAL)
    doc = story.sources[0]
    assert doc.url == web.url("/note")
    assert doc.title == "Le budget est voté"
    assert doc.text == BODY
    assert doc.path is None


@pytest.mark.parametrize(("path", "content_type"), [
    ("/budget", "text/markdown; charset=utf-8"),  # said by the server
    ("/budget.md", "text/plain; charset=utf-8"),  # said by the URL
])
def test_a_markdown_url_keeps_its_url_and_its_heading_as_title(
    web: FakeWebServer, path: str, content_type: str
) -> None:
    web.route(path, f"# Le budget est voté\n\n{BODY}\n".encode(), content_type=content_type)
    extracted, file_path = load_one(web.url(path), LOCAL)
    assert extracted.url == web.url(path)
    assert extracted.title == "Le budget est voté"
    assert extracted.text == BODY
    assert file_path is None
