"""Reading a staff CSV file: encoding, header, structure and limits, then each row's values.

Whole-file problems raise BadInput and nothing is stored; a row's problem rejects that row only,
naming its column.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar

from renraku.errors import BadInput
from renraku.kinds import OrganisationKind, Profession
from renraku.text import visible_length

COLUMNS = (
    "organisation_key",
    "organisation_name",
    "organisation_kind",
    "username",
    "display_name",
    "display_name_kana",
    "profession",
    "email",
)
# Generous for 5,000 rows of long Japanese names (about 400 bytes a row at most in practice).
MAX_BYTES = 2_000_000
MAX_ROWS = 5_000
# The lengths of the columns the values are stored in (accounts/models.py).
MAX_LENGTH = {"organisation_name": 200, "display_name": 200, "display_name_kana": 200, "email": 200}
KEY_PATTERN = re.compile(r"[a-z0-9][a-z0-9._-]{1,79}")
EMAIL_PATTERN = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
# A cell starting with one of these is a formula to a spreadsheet (CSV injection). Such values are
# refused rather than escaped, so that what is stored is exactly what was typed.
FORMULA_STARTS = ("=", "+", "-", "@")
# Whole-file errors name the GraphQL argument (the CLI names the file instead).
FILE_FIELD = "csv"

Choice = TypeVar("Choice", bound=StrEnum)


class RowStatus(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    REJECTED = "rejected"


@dataclass(frozen=True)
class RowResult:
    """One row's outcome; `reason` names the column at fault, `setup_link` is for new users."""

    line: int
    status: RowStatus
    username: str = ""
    column: str | None = None
    reason: str = ""
    setup_link: str | None = None
    user_id: int | None = None


@dataclass(frozen=True)
class StaffRow:
    line: int
    organisation_key: str
    organisation_name: str
    organisation_kind: OrganisationKind
    username: str
    display_name: str
    display_name_kana: str
    profession: Profession
    email: str | None


class RowRejected(Exception):
    """Why one row is refused; `column` is None when the row as a whole is at fault."""

    def __init__(self, column: str | None, reason: str) -> None:
        self.column = column
        self.reason = f"{column}: {reason}" if column else reason
        super().__init__(self.reason)

    def result(self, line: int, username: str = "") -> RowResult:
        return RowResult(
            line=line,
            status=RowStatus.REJECTED,
            username=username,
            column=self.column,
            reason=self.reason,
        )


def decode(data: bytes | str) -> str:
    """The file's text: UTF-8 (with or without BOM), else CP932 as Japanese Excel writes it."""
    if isinstance(data, str):
        try:
            data = data.encode("utf-8")
        except UnicodeEncodeError:
            raise BadInput("The text is not valid Unicode.", field=FILE_FIELD) from None
    if len(data) > MAX_BYTES:
        raise BadInput(f"The file is larger than {MAX_BYTES:,} bytes.", field=FILE_FIELD)
    encodings = ("utf-8",) if data.startswith(codecs.BOM_UTF8) else ("utf-8", "cp932")
    for encoding in encodings:
        try:
            return data.decode(encoding).removeprefix("\ufeff")
        except UnicodeDecodeError:
            continue
    raise BadInput("The file is neither UTF-8 nor Shift_JIS text.", field=FILE_FIELD)


def _header_positions(line: int, cells: list[str]) -> dict[str, int]:
    names = [unicodedata.normalize("NFKC", cell).strip().lower() for cell in cells]
    missing = [name for name in COLUMNS if name not in names]
    unknown = [name[:40] for name in names if name not in COLUMNS]
    if missing or unknown or len(set(names)) != len(names):
        raise BadInput(
            f"Line {line}: the header must name each of these columns once: "
            + ", ".join(COLUMNS)
            + (f" (missing: {', '.join(missing)})" if missing else "")
            + (f" (unknown: {', '.join(unknown)})" if unknown else ""),
            field=FILE_FIELD,
        )
    return {name: names.index(name) for name in COLUMNS}


def read_records(text: str) -> tuple[dict[str, int], list[tuple[int, list[str]]]]:
    """The header's column positions and each non-blank record with the line it starts on."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    header: dict[str, int] | None = None
    records: list[tuple[int, list[str]]] = []
    end = 0
    try:
        for cells in reader:
            start, end = end + 1, reader.line_num
            if not any(cell.strip() for cell in cells):
                continue  # blank lines, and the empty rows Excel leaves at the end
            if header is None:
                header = _header_positions(start, cells)
            elif len(records) == MAX_ROWS:
                raise BadInput(f"The file has more than {MAX_ROWS:,} rows.", field=FILE_FIELD)
            else:
                records.append((start, cells))
    except csv.Error as error:
        raise BadInput(
            f"Line {reader.line_num}: the CSV is malformed ({error}).", field=FILE_FIELD
        ) from None
    if header is None:
        raise BadInput("The file is empty: it needs a header row.", field=FILE_FIELD)
    return header, records


def _text(values: dict[str, str], column: str, *, required: bool) -> str:
    value = unicodedata.normalize("NFC", values[column]).strip()
    if not value:
        if required:
            raise RowRejected(column, "is required")
        return ""
    if len(value) > MAX_LENGTH[column]:
        raise RowRejected(column, f"is longer than {MAX_LENGTH[column]} characters")
    if any(unicodedata.category(char) in ("Cc", "Cf") for char in value):
        raise RowRejected(column, "contains control or invisible characters")
    if not visible_length(value):
        # Hangul fillers and the blank Braille pattern are letters that show nothing.
        raise RowRejected(column, "shows no visible characters")
    if value.startswith(FORMULA_STARTS):
        raise RowRejected(column, "must not begin with =, +, - or @ (a spreadsheet formula)")
    return value


def _key(values: dict[str, str], column: str) -> str:
    # NFKC turns the full-width letters and digits Japanese input methods produce into ASCII.
    value = unicodedata.normalize("NFKC", values[column]).strip().lower()
    if not value:
        raise RowRejected(column, "is required")
    if not KEY_PATTERN.fullmatch(value):
        raise RowRejected(
            column, "must be 2 to 80 of a-z 0-9 . _ - and begin with a letter or digit"
        )
    return value


def _choice(values: dict[str, str], column: str, kinds: type[Choice]) -> Choice:
    value = unicodedata.normalize("NFKC", values[column]).strip().lower()
    try:
        return kinds(value)
    except ValueError:
        raise RowRejected(column, "must be one of " + ", ".join(kinds)) from None


def validate_row(line: int, values: dict[str, str]) -> StaffRow:
    """One record as a StaffRow; RowRejected naming the first column that is not acceptable."""
    organisation_key = _key(values, "organisation_key")
    organisation_name = _text(values, "organisation_name", required=True)
    organisation_kind = _choice(values, "organisation_kind", OrganisationKind)
    username = _key(values, "username")
    display_name = _text(values, "display_name", required=True)
    display_name_kana = _text(values, "display_name_kana", required=False)
    profession = _choice(values, "profession", Profession)
    email = _text(values, "email", required=False)
    if email and not EMAIL_PATTERN.fullmatch(email):
        raise RowRejected("email", "is not an e-mail address")
    return StaffRow(
        line=line,
        organisation_key=organisation_key,
        organisation_name=organisation_name,
        organisation_kind=organisation_kind,
        username=username,
        display_name=display_name,
        display_name_kana=display_name_kana,
        profession=profession,
        email=email or None,
    )


def _repeats(
    row: StaffRow, earlier: dict[str, StaffRow], organisations: dict[str, StaffRow]
) -> None:
    """RowRejected if an earlier accepted row has the username, or the key with other values."""
    if row.username in earlier:
        raise RowRejected("username", f"repeats line {earlier[row.username].line}")
    first = organisations.get(row.organisation_key, row)
    for column in ("organisation_name", "organisation_kind"):
        if getattr(row, column) != getattr(first, column):
            raise RowRejected(column, f"differs from line {first.line} for the same key")


def parse_staff_csv(data: bytes | str) -> list[StaffRow | RowResult]:
    """Every row of the file, checked, in order; BadInput if the file as a whole is unusable."""
    positions, records = read_records(decode(data))
    parsed: list[StaffRow | RowResult] = []
    accepted: dict[str, StaffRow] = {}
    organisations: dict[str, StaffRow] = {}
    for line, cells in records:
        row = None
        try:
            if len(cells) != len(COLUMNS):
                raise RowRejected(None, f"the row has {len(cells)} fields, not {len(COLUMNS)}")
            row = validate_row(line, {name: cells[pos] for name, pos in positions.items()})
            _repeats(row, accepted, organisations)
        except RowRejected as rejected:
            parsed.append(rejected.result(line, row.username if row else ""))
            continue
        accepted[row.username] = row
        organisations.setdefault(row.organisation_key, row)
        parsed.append(row)
    return parsed
