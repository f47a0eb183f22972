"""Texts explaining a run stopped by a resource limit or a crash (limit_message)."""

import pytest

from services.feedback.logic import limit_message


@pytest.mark.parametrize(
    ("verdict", "title", "tip"),
    [
        ("time_limit", "### Time Limit Exceeded", "loop that never ends"),
        ("memory_limit", "### Memory Limit Exceeded", "keeps growing"),
        ("output_limit", "### Output Limit Exceeded", "debugging prints"),
        ("runtime_error", "### Runtime Error", "dividing by zero"),
    ],
)
def test_each_verdict_explains_what_happened_and_what_to_try(
    verdict: str, title: str, tip: str
) -> None:
    text = limit_message(verdict, "en")

    assert text.startswith(title)
    assert "**What to try:**" in text
    assert tip in text


def test_known_limits_are_quoted_when_given() -> None:
    assert "The limit is 2000 ms." in limit_message("time_limit", "en", limit_ms=2000)
    assert "The limit is 256 MB." in limit_message("memory_limit", "en", limit_mb=256)
    assert "It exited with code 134." in limit_message("runtime_error", "en", exit_code=134)


def test_a_limit_is_not_invented_when_unknown() -> None:
    assert "The limit is" not in limit_message("time_limit", "en")


def test_runtime_error_shows_the_end_of_a_long_traceback() -> None:
    frames = "".join(f'  File "main.py", line {n}, in f\n' for n in range(200))
    traceback = (
        "Traceback (most recent call last):\n" + frames + "ZeroDivisionError: division by zero\n"
    )

    text = limit_message("runtime_error", "en", error_output=traceback)

    assert "ZeroDivisionError: division by zero\n```" in text
    assert "Traceback (most recent call last)" not in text
    assert "showing the last 60 of 202 lines" in text


def test_limit_texts_in_portuguese() -> None:
    text = limit_message("memory_limit", "pt-BR", limit_mb=128)

    assert text.startswith("### Limite de Memória Excedido")
    assert "O limite é de 128 MB." in text
    assert "**O que tentar:**" in text


def test_an_unknown_verdict_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown verdict 'ok'"):
        limit_message("ok", "en")
