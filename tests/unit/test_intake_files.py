"""Intake's checks of uploaded files and archives (pure, no services)."""

import io
import random
import struct
import tracemalloc
import zipfile

import pytest

from services.intake.logic import (
    FileLimits,
    InvalidSubmission,
    _Budget,
    _read_entry,
    checked_files,
    files_from_archive,
)

LIMITS = FileLimits(
    max_files=200,
    max_file_bytes=1024 * 1024,
    max_total_bytes=8 * 1024 * 1024,
    max_compression_ratio=100,
    max_request_bytes=24 * 1024 * 1024,
)


def one_entry_zip(content: bytes, compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
        archive.writestr("main.py", content)
    return buffer.getvalue()


def patched(data: bytes, local: int, central: int, fmt: str, value: int) -> bytes:
    """`data` with a field rewritten in the local header and the central directory entry."""
    out = bytearray(data)
    struct.pack_into(fmt, out, local, value)
    struct.pack_into(fmt, out, data.index(b"PK\x01\x02") + central, value)
    return bytes(out)


def lying_size(data: bytes, size: int) -> bytes:
    return patched(data, 22, 24, "<I", size)


def problems(data: bytes, limits: FileLimits = LIMITS) -> str:
    with pytest.raises(InvalidSubmission) as caught:
        files_from_archive(data, limits)
    return str(caught.value)


@pytest.mark.parametrize("compression", [zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA])
def test_an_archive_zipfile_cannot_inflate_boundedly_is_refused_unread(compression: int) -> None:
    bomb = lying_size(one_entry_zip(b"\0" * 50_000_000, compression), 10)
    tracemalloc.start()
    try:
        assert "zip bomb" in problems(bomb)
        assert tracemalloc.get_traced_memory()[1] < 20_000_000
    finally:
        tracemalloc.stop()


def test_a_deflated_entry_lying_about_its_size_is_never_fully_inflated() -> None:
    bomb = lying_size(one_entry_zip(b"\0" * 50_000_000), 10)
    tracemalloc.start()
    try:
        assert "cannot be read" in problems(bomb)  # inflation stops at 10 bytes: bad CRC
        assert tracemalloc.get_traced_memory()[1] < 20_000_000
    finally:
        tracemalloc.stop()


def test_reading_stops_as_soon_as_the_budget_is_spent() -> None:
    archive = zipfile.ZipFile(io.BytesIO(one_entry_zip(b"\0" * 1_000_000)))
    small = FileLimits(**{**LIMITS.__dict__, "max_file_bytes": 100_000})
    with pytest.raises(InvalidSubmission, match="zip bomb"):
        _read_entry(archive, archive.infolist()[0], _Budget(small, 10**9))
    with pytest.raises(InvalidSubmission, match="zip bomb"):
        _read_entry(archive, archive.infolist()[0], _Budget(LIMITS, 500_000))
    assert len(_read_entry(archive, archive.infolist()[0], _Budget(LIMITS, 10**9))) == 1_000_000


@pytest.mark.parametrize(
    ("local", "central", "fmt", "value", "why"),
    [
        (14, 16, "<I", 0xDEADBEEF, "Bad CRC"),  # CRC-32
        (6, 8, "<H", 1, "encrypted"),  # general purpose flag: encrypted
    ],
)
def test_an_unreadable_entry_is_named(
    local: int, central: int, fmt: str, value: int, why: str
) -> None:
    broken = patched(one_entry_zip(b"print('hello')\n" * 100), local, central, fmt, value)
    with pytest.raises(InvalidSubmission) as caught:
        files_from_archive(broken, LIMITS)
    assert caught.value.problems[0]["loc"] == ["archive", "main.py"]
    assert "cannot be read" in caught.value.problems[0]["msg"]
    assert why in caught.value.problems[0]["msg"]


def test_a_truncated_deflate_stream_is_named() -> None:
    data = one_entry_zip(random.Random(1).randbytes(20_000))
    start = 30 + len("main.py")
    end = data.index(b"PK\x01\x02")
    broken = data[:start] + b"\xff" * (end - start) + data[end:]  # invalid deflate data
    with pytest.raises(InvalidSubmission, match="cannot be read"):
        files_from_archive(broken, LIMITS)


def test_a_good_archive_is_unpacked() -> None:
    assert files_from_archive(one_entry_zip(b"print(1)\n"), LIMITS) == {"main.py": b"print(1)\n"}


@pytest.mark.parametrize(
    ("files", "bad", "why"),
    [
        ({"a/b.py": b"1", "./a/b.py": b"2"}, "./a/b.py", "more than once"),
        ({"a": b"1", "a/b.py": b"2"}, "a", "both a file and a folder"),
        ({"a/b/c.py": b"1", "a/b": b"2"}, "a/b", "both a file and a folder"),
        ({"x" * 256 + ".py": b"1"}, "x" * 256 + ".py", "longer than 255 bytes"),
        ({"é" * 128 + "/m.py": b"1"}, "é" * 128 + "/m.py", "longer than 255 bytes"),
    ],
)
def test_colliding_or_overlong_paths_are_refused(
    files: dict[str, bytes], bad: str, why: str
) -> None:
    with pytest.raises(InvalidSubmission) as caught:
        checked_files(files, LIMITS)
    assert {"loc": ["submission_files", bad], "msg": caught.value.problems[0]["msg"]} in (
        caught.value.problems
    )
    assert why in str(caught.value)


def test_distinct_paths_sharing_a_prefix_are_fine() -> None:
    files = {"a/b.py": b"1", "a/bc.py": b"2", "ab": b"3", "x" * 255: b"4"}
    assert checked_files(files, LIMITS) == files


def test_an_archive_entry_given_twice_is_refused() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("main.py", b"1")
        with pytest.warns(UserWarning, match="Duplicate name"):
            archive.writestr("main.py", b"2")
    assert "more than once" in problems(buffer.getvalue())
