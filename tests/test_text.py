"""renraku.text: free text is stored as written, minus what hides or disguises it."""

from __future__ import annotations

import unicodedata

import pytest

from renraku.text import clean_text, visible_length

DOCTOR = "\U0001f468\u200d\u2695\ufe0f"  # 👨‍⚕️
FAMILY = "\U0001f469\u200d\U0001f469\u200d\U0001f467"  # 👩‍👩‍👧
CODER = "\U0001f9d1\U0001f3fd\u200d\U0001f4bb"  # 🧑🏽‍💻, a skin tone before the joiner
SCOTLAND = "\U0001f3f4\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f"


@pytest.mark.parametrize(
    "invisible",
    ["\u200b", "\u200c", "\u2060", "\ufeff", "\u00ad", "\u180e", "\U000e0041"],
    ids=["zwsp", "zwnj", "word joiner", "bom", "soft hyphen", "mongolian separator", "tag"],
)
def test_zero_width_characters_are_dropped(invisible: str) -> None:
    assert clean_text(f"{invisible}発{invisible}熱{invisible}", multiline=False) == "発熱"
    assert clean_text(invisible * 5, multiline=False) == ""


@pytest.mark.parametrize(
    "bidi",
    [chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200E, 0x200F, 0x61C)],
)
def test_bidirectional_controls_are_dropped(bidi: str) -> None:
    assert clean_text(f"cod{bidi}exe.txt", multiline=False) == "codexe.txt"


def test_control_characters_are_dropped_and_line_breaks_kept_only_in_multiline_text() -> None:
    assert clean_text("a\x00b\x07c\x1b[31m\x7f", multiline=False) == "abc[31m"
    assert clean_text("一行目\r\n二行目\r三行目\u2028\t四", multiline=True) == (
        "一行目\n二行目\n三行目\n\t四"
    )
    # A one-line field keeps the word boundary a break or tab made.
    assert clean_text("Taro\nYamada\tsan\r\n", multiline=False) == "Taro Yamada san"
    assert clean_text("a\x0bb\x85c", multiline=True) == "a\nb\nc"


@pytest.mark.parametrize("emoji", [DOCTOR, FAMILY, CODER, "\u2764\ufe0f\u200d\U0001f525"])
def test_a_joiner_inside_an_emoji_sequence_is_kept(emoji: str) -> None:
    assert clean_text(f"担当 {emoji} です", multiline=True) == f"担当 {emoji} です"


@pytest.mark.parametrize(
    ("written", "stored"),
    [
        ("a\u200db", "ab"),
        ("\u200d\U0001f468", "\U0001f468"),
        ("\U0001f468\u200d", "\U0001f468"),
        ("\U0001f468\u200dA", "\U0001f468A"),
        ("\U0001f468\u200d\u200d\U0001f469", "\U0001f468\u200d\U0001f469"),  # one joiner left
        ("\u0915\u094d\u200d\u0937", "\u0915\u094d\u0937"),  # Devanagari half form: not emoji
    ],
)
def test_a_joiner_outside_an_emoji_sequence_is_dropped(written: str, stored: str) -> None:
    assert clean_text(written, multiline=False) == stored


def test_a_subdivision_flag_keeps_its_tags_and_hidden_tag_text_is_dropped() -> None:
    assert clean_text(SCOTLAND, multiline=False) == SCOTLAND
    hidden = "".join(chr(0xE0000 + ord(c)) for c in "ignore the above")
    assert clean_text(f"ok{hidden}", multiline=False) == "ok"


def test_text_is_composed_to_nfc_even_where_a_removal_joins_a_mark_to_its_letter() -> None:
    assert clean_text("\u304b\u3099", multiline=False) == "\u304c"  # か + combining dakuten = が
    assert clean_text("e\u200b\u0301", multiline=False) == "\u00e9"
    # An ideographic variation selector (a name's exact glyph) is no format character.
    assert clean_text("葛\U000e0100飾", multiline=False) == "葛\U000e0100飾"


@pytest.mark.parametrize("clinical", ["10⁹/L", "5㎎", "１２３", "ｶﾙﾃ", "ℓ", "①"])
def test_clinical_notation_and_width_forms_are_stored_as_written(clinical: str) -> None:
    assert clean_text(clinical, multiline=True) == clinical
    assert unicodedata.normalize("NFKC", clinical) != clinical  # what must not happen to them


def test_placeholders_and_lone_surrogates_are_dropped_but_the_replacement_character_kept() -> None:
    assert clean_text("\ufffc写真あり", multiline=False) == "写真あり"
    assert clean_text("a\ud800b", multiline=False) == "ab"
    assert clean_text("a\ufffdb", multiline=False) == "a\ufffdb"


def test_text_that_is_only_invisible_or_blank_becomes_empty() -> None:
    assert clean_text("\u200b \u3000\u202e\n\t\ufeff", multiline=True) == ""
    assert clean_text("  発熱  ", multiline=False) == "発熱"


@pytest.mark.parametrize(
    ("text", "length"),
    [
        ("発熱あり", 4),
        ("10⁹/L", 5),
        ("ﬁne", 4),  # the ligature counts as the two letters it shows
        ("\u3164" * 5, 0),  # Hangul fillers: letters that draw nothing
        ("\u2800" * 5, 0),  # the blank Braille pattern
        ("\ufe0f\u0301" * 5, 0),  # selectors and marks with nothing to sit on
        ("a\u3000b c\u00a0d", 4),
        ("\u200b" * 5, 0),
        (DOCTOR, 2),
    ],
)
def test_visible_length_counts_what_a_reader_sees(text: str, length: int) -> None:
    assert visible_length(text) == length
