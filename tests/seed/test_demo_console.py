"""What `renraku demo` says about the demo world it loaded, in plain sentences."""

from __future__ import annotations

import pytest

from renraku.seed.accounts_table import loaded_sentence, sees


@pytest.mark.parametrize(
    ("created", "sentence"),
    [
        (
            {"patients": 12, "accounts": 27, "posts": 17, "incidents": 1, "alerts": 1},
            "The demo world is loaded: 12 patients, 27 accounts, 17 notebook posts, "
            "1 incident and 1 alert added.",
        ),
        (
            {"patients": 0, "accounts": 0, "posts": 0, "incidents": 2, "alerts": 0},
            "The demo world is loaded: 2 incidents added.",
        ),
        (
            {"patients": 1, "accounts": 0, "posts": 0, "incidents": 0, "alerts": 0},
            "The demo world is loaded: 1 patient added.",
        ),
        (
            {"patients": 0, "accounts": 0, "posts": 0, "incidents": 0, "alerts": 0},
            "The demo world is loaded (it already was).",
        ),
    ],
)
def test_loading_says_what_it_added(created: dict[str, int], sentence: str) -> None:
    assert loaded_sentence(created) == sentence


def test_what_an_account_sees_reads_as_a_phrase() -> None:
    assert sees("professional", 1) == "1 patient on their care teams"
    assert sees("planner", 0) == "0 patients inside an active incident or who consented to sharing"
    assert sees("operator", 0) == "no patient data"
