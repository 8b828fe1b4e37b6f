"""Free text as its writer wrote it, minus the characters that hide or disguise it.

Text that someone else must read and trust (a break-the-glass reason, a post, a name) is stored in
NFC, as written, without:
- control characters (Cc). A multi-line field keeps its tabs and line breaks, every kind of line
  break (CR LF, CR, NEL, U+2028, Word's vertical tab...) becoming LF; a one-line field turns them
  into a space, so that the words on either side do not run together;
- format characters (Cf): zero-width spaces and non-joiners, word joiners, the byte-order mark, soft
  hyphens, bidirectional embeddings, overrides, isolates and marks. They show nothing, yet let five
  zero-width spaces pass for a reason, or reorder what a reader sees (U+202E). Kept: a zero-width
  joiner between two pictographs (the one glyph of 👨‍⚕️ or 👩‍👩‍👧) and the tag characters of a
  subdivision flag, which are part of their emoji;
- lone surrogates (Cs), which no database can store, and U+FFFC, the placeholder some phones paste
  for an image that is never sent (U+FFFD stays: it shows that something was lost).

Nothing else is rewritten: NFKC would turn `10⁹/L` into `109/L` and `㎎` into `mg`, so it is used
only to count what a reader would see (`visible_length`), never on the stored value.
"""

from __future__ import annotations

import re
import unicodedata

from renraku.errors import BadInput

ZWJ = "\u200d"
OBJECT_REPLACEMENT = "\ufffc"
# Line breaks as Unicode lists them (UAX #14 BK/CR/LF/NL); CR LF first, so it makes one break.
# The vertical tab is Word's manual line break.
_LINE_BREAKS = ("\r\n", "\r", "\x0b", "\x0c", "\x85", "\u2028", "\u2029")
# What may sit between a pictograph and the joiner: presentation selectors, skin tones.
_EMOJI_MODIFIERS = frozenset("\ufe0e\ufe0f\U0001f3fb\U0001f3fc\U0001f3fd\U0001f3fe\U0001f3ff")
# A subdivision flag (🏴 + tag letters + cancel tag), the one use of tag characters that shows.
_BLACK_FLAG = "\U0001f3f4"
_TAG_FIRST, _CANCEL_TAG = "\U000e0020", "\U000e007f"
_FLAG_TAGS = re.compile("[\U000e0020-\U000e007e]+\U000e007f")
_TAGS = re.compile("[\U000e0020-\U000e007f]+")
# Letters and symbols that draw nothing: Hangul fillers and the blank Braille pattern, a favourite
# of blank user names.
_BLANK_GRAPHICS = frozenset("\u115f\u1160\u3164\uffa0\u2800")


def clean_text(value: str, *, multiline: bool) -> str:
    """`value` in NFC without invisible or disguising characters, stripped of outer whitespace."""
    text = value
    for brk in _LINE_BREAKS:
        text = text.replace(brk, "\n")
    if not multiline:
        text = text.replace("\n", " ").replace("\t", " ")
    out: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if _TAG_FIRST <= char <= _CANCEL_TAG:
            # The whole run of tags at once: a flag's kept, anything else (hidden text) dropped.
            flag = _FLAG_TAGS.match(text, i)
            if flag and out and out[-1] == _BLACK_FLAG:
                out.append(flag.group())
            run = _TAGS.match(text, i)
            i = run.end() if run else i + 1
            continue
        if char == ZWJ:
            if _joins_pictographs(out, text[i + 1 : i + 2]):
                out.append(char)
        elif _kept(char):
            out.append(char)
        i += 1
    # NFC after the removals: a mark once kept apart by a zero-width space now composes.
    return unicodedata.normalize("NFC", "".join(out)).strip()


def visible_length(value: str) -> int:
    """How many characters of `value` draw something, counted on its NFKC form."""
    # NFKC first, so that compatibility forms count as a reader sees them (a ligature as its
    # letters, a half-width filler as the filler); whitespace, marks and format characters
    # never count.
    return sum(
        1
        for char in unicodedata.normalize("NFKC", value)
        if unicodedata.category(char)[0] in "LNPS" and char not in _BLANK_GRAPHICS
    )


def _kept(char: str) -> bool:
    if char in "\n\t":
        return True  # a one-line text has had them turned into spaces already
    return unicodedata.category(char) not in ("Cc", "Cf", "Cs") and char != OBJECT_REPLACEMENT


def _joins_pictographs(before: list[str], after: str) -> bool:
    # Unicode's emoji data is not in the standard library; every ZWJ sequence it recommends
    # joins symbols (So), so that is the test.
    previous = next((c for c in reversed(before) if c not in _EMOJI_MODIFIERS), "")
    return _pictograph(previous) and _pictograph(after)


def _pictograph(char: str) -> bool:
    return len(char) == 1 and unicodedata.category(char) == "So"


def validate_text(
    value: str | None, *, name: str, max_length: int, required: bool = False, note: bool = False
) -> str:
    """`value` cleaned (renraku.text: only a `note` keeps line breaks); BadInput if it shows
    nothing when required, or is too long. Text that shows nothing is stored as ""."""
    text = clean_text(value or "", multiline=note)
    if not visible_length(text):
        if required:
            raise BadInput(f"{name} is required.", field=name)
        text = ""
    if len(text) > max_length:
        raise BadInput(f"{name} must have at most {max_length} characters.", field=name)
    return text
