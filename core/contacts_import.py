"""Contact CSV import: streamed, bulk-written, all-or-nothing.

The file is read in 1 MiB chunks and decoded as UTF-8 as it goes; each row is checked, its cell put into
E.164 and its time zone found, inside the one write transaction. On PostgreSQL the rows that go in (the
first of each number, not opted out in the organization, not already in the campaign) are COPYed
straight into ``contacts`` while the rest of the file is still being parsed, so PostgreSQL inserts and
indexes them on its own core meanwhile, as it does for a plain COPY (a fixed-size filter and a look-up
per batch find the rows that stay out). On SQLite (and with ``overlap=False``) the checked rows are
bulk-loaded into a temporary staging table and one set-based INSERT ... SELECT picks the same rows.
Either way Python memory stays flat whatever the file's size, and a refusal anywhere (line 900,000
included) raises before the commit, so nothing is left behind.
"""

from __future__ import annotations

import csv
import json
import os
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import Enum, auto
from functools import lru_cache
from json.encoder import encode_basestring
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, BinaryIO, Final, Literal

from phonenumbers import PhoneMetadata
from phonenumbers.phonenumberutil import COUNTRY_CODE_TO_REGION_CODE
from phonenumbers.tzdata import TIMEZONE_DATA
from sqlalchemy import Boolean, bindparam, text
from sqlalchemy.orm import Session

from core.errors import NotFound, Refused
from core.phones import DEFAULT_REGION, normalize, zone_for_number
from core.zones import zone_for_zip
from storage.engine import Database
from storage.locks import lock_key
from storage.models import Campaign, Contact
from storage.types import UTCDateTime, utcnow

if TYPE_CHECKING:  # typeshed types the parser under its old public name only
    import sre_parse
else:
    import re._parser as sre_parse

Progress = Callable[[int, int], None]
Source = Path | str | BinaryIO

SKIP_REASONS = ("invalid_cell", "duplicate_in_file", "opted_out", "already_in_campaign")
CHUNK_BYTES = 1 << 20
MAX_LINE_BYTES = 16 << 20  # a longer line means no line breaks (or old Mac ones): not a CSV we read
BATCH_ROWS = 25_000
# The first batch is small, and each next one twice the last up to BATCH_ROWS: PostgreSQL, idle until the
# first COPY, starts on its core after a thousand rows are checked, not 25,000.
FIRST_BATCH_ROWS = 1_000


class ImportRefused(Refused):
    """The whole file is refused (nothing was written); ``line`` is the file line at fault, if one is."""

    def __init__(self, reason: str, line: int | None = None) -> None:
        super().__init__(f"line {line}: {reason}" if line else reason, code="import_refused")
        self.line = line


# An import this large refreshes the contacts table's planner statistics once it has committed.
ANALYZE_AFTER: Final = 10_000
# Columns no statement filters, joins or sorts on: their statistics (the costliest to gather, 30,000
# sampled names and ids sorted) would steer no plan, so that ANALYZE leaves them out (half its time).
_PAYLOAD_COLUMNS: Final = frozenset({"first_name", "last_name", "zip", "external_id", "custom_fields"})
_ANALYZED_COLUMNS: Final = ", ".join(
    c.name for c in Contact.__table__.columns if c.name not in _PAYLOAD_COLUMNS
)


@dataclass
class ImportSummary:
    imported: int = 0
    skipped: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SKIP_REASONS, 0))
    rows: int = 0  # data rows read (blank lines not counted)
    custom_fields: list[str] = field(default_factory=list)


# --- Header aliases ------------------------------------------------------------------------------------

FIELD_ALIASES: dict[str, tuple[str, ...]] = {
    "first_name": ("first name", "firstName", "first_name", "first", "given name", "fname"),
    "last_name": ("last name", "lastName", "last_name", "last", "surname", "family name", "lname"),
    "cell": (
        "cell",
        "phone",
        "mobile",
        "cell phone",
        "cell number",
        "mobile phone",
        "mobile number",
        "phone number",
        "number",
        "telephone",
    ),
    "zip": ("zip", "zipcode", "zip code", "postal code", "postcode", "zip5"),
    "external_id": ("external id", "externalId", "VAN ID", "vanid", "voter id", "voterfile id"),
}
FIELD_LABELS = {
    "first_name": "first name",
    "last_name": "last name",
    "cell": "cell",
    "zip": "zip",
    "external_id": "external id",
}
FIELD_MAX_LENGTH = {"first_name": 200, "last_name": 200, "zip": 20, "external_id": 200}


def header_key(name: str) -> str:
    """A header as compared with the aliases: case, spaces, underscores, dashes and dots ignored."""
    return re.sub(r"[\s_.\-]+", "", name).lower()


_ALIAS_TO_FIELD = {header_key(alias): name for name, aliases in FIELD_ALIASES.items() for alias in aliases}


def map_header(
    header: Sequence[str], required: Sequence[str], *, line: int = 1, allow_custom: bool = True
) -> tuple[dict[str, int], list[tuple[str, int]]]:
    """Which column holds each known field, and the remaining (custom) columns as (name, index).

    The first column matching a field wins; a later one with another alias of it becomes a custom field.
    """
    fields: dict[str, int] = {}
    custom: list[tuple[str, int]] = []
    seen: set[str] = set()
    for index, raw in enumerate(header):
        name = raw.strip()
        if not name:
            raise ImportRefused(
                f"column {index + 1} of the header has no name: name it or delete the column", line=line
            )
        if name in seen:
            raise ImportRefused(f"the header names column {name!r} twice: rename one of them", line=line)
        seen.add(name)
        known = _ALIAS_TO_FIELD.get(header_key(name))
        if known is not None and known not in fields:
            fields[known] = index
        elif allow_custom:
            custom.append((name, index))
    for name in required:
        if name not in fields:
            aliases = ", ".join(FIELD_ALIASES[name])
            raise ImportRefused(
                f"no {FIELD_LABELS[name]} column in the header: add one, named one of: {aliases}", line=line
            )
    return fields, custom


# --- Fast, exact cell normalization --------------------------------------------------------------------

_DIGITS = frozenset("0123456789")
_SEPARATORS = str.maketrans("", "", " ()-.\t")


def _paths(tree: sre_parse.SubPattern, limit: int) -> set[tuple[frozenset[str], ...]]:
    """Every sequence of per-position digit sets the regex can match, up to ``limit`` characters."""
    paths: set[tuple[frozenset[str], ...]] = {()}
    steps: set[tuple[frozenset[str], ...]]
    current: set[tuple[frozenset[str], ...]]
    # Each opcode has its own argument type, which typeshed's one union for all of them cannot say.
    items: Sequence[tuple[Any, Any]] = tree.data
    for op, arg in items:
        if op is sre_parse.LITERAL:
            steps = {(frozenset({chr(arg)}),)}
        elif op is sre_parse.IN:
            steps = {(_charset(arg),)}
        elif op is sre_parse.BRANCH:
            steps = set().union(*(_paths(alt, limit) for alt in arg[1]))
        elif op is sre_parse.SUBPATTERN:
            steps = _paths(arg[-1], limit)
        elif op in (sre_parse.MAX_REPEAT, sre_parse.MIN_REPEAT):
            low, high, body = arg
            once = _paths(body, limit)
            steps, current = set(), {()}
            for count in range(min(high, limit) + 1):
                if count >= low:
                    steps |= current
                current = {a + b for a in current for b in once if len(a) + len(b) <= limit}
        else:
            raise ValueError(f"unsupported regex operation {op}")
        paths = {a + b for a in paths for b in steps if len(a) + len(b) <= limit}
    return paths


def _charset(items: list[Any]) -> frozenset[str]:
    chars: set[str] = set()
    for op, arg in items:
        if op is sre_parse.LITERAL:
            chars.add(chr(arg))
        elif op is sre_parse.RANGE:
            chars.update(chr(c) for c in range(arg[0], arg[1] + 1))
        elif op is sre_parse.CATEGORY and arg is sre_parse.CATEGORY_DIGIT:
            chars.update(_DIGITS)
        else:
            raise ValueError(f"unsupported character class item {op}")
    return frozenset(chars & _DIGITS)


_DESCS = (
    "general_desc",
    "fixed_line",
    "mobile",
    "toll_free",
    "premium_rate",
    "shared_cost",
    "personal_number",
    "voip",
    "pager",
    "uan",
    "voicemail",
)


@lru_cache(maxsize=1)
def nanpa_prefix_depths() -> dict[str, int] | None:
    """For each area code, how many leading national digits decide a 10-digit +1 number's validity,
    type and time zone (3 to 7), or None when the installed phonenumbers metadata has a shape this
    analysis does not cover (the prefix cache is then not used).

    Derived from the metadata itself, so no phonenumbers release can make the cache answer differently
    from phonenumbers: every number pattern of every +1 region (the last position a pattern constrains),
    each region's leading-digits pattern (read as a prefix), and the time-zone table's +1 prefixes.
    Most area codes need 4 digits (the exchange's first digit), Barbados' 246 needs 7.
    """
    depths = {f"{npa:03d}": 3 for npa in range(1000)}

    def need(path: tuple[frozenset[str], ...], depth: int) -> None:
        if depth <= 3:
            return
        for a in path[0]:
            for b in path[1]:
                for c in path[2]:
                    npa = a + b + c
                    if depths[npa] < depth:
                        depths[npa] = depth

    try:
        for region in COUNTRY_CODE_TO_REGION_CODE[1]:
            meta = PhoneMetadata.metadata_for_region(region)
            if meta is None:
                return None
            if meta.leading_digits:
                for path in _paths(sre_parse.parse(meta.leading_digits), 11):
                    need(path, len(path))
            for name in _DESCS:
                desc = getattr(meta, name)
                if desc is None or not desc.national_number_pattern:
                    continue
                for path in _paths(sre_parse.parse(desc.national_number_pattern), 10):
                    if len(path) == 10:
                        constrained = [i for i, step in enumerate(path) if step != _DIGITS]
                        need(path, constrained[-1] + 1 if constrained else 0)
    except ValueError:
        return None
    for key in TIMEZONE_DATA:
        if key.startswith("1") and len(key) >= 4:
            npa, depth = key[1:4], len(key) - 1
            if depths[npa] < depth:
                depths[npa] = depth
    if max(depths.values()) > 10:
        return None
    return depths


class CellNormalizer:
    """Raw cell -> (E.164, area-code zone or None), or None when the number is not valid.

    The answer is always phonenumbers' own. For the common shapes of a North American number (10 digits,
    or 11 starting with 1, with the usual separators), whose validity and zone depend only on the first
    few national digits (see ``nanpa_prefix_depths``), phonenumbers is asked once per such prefix and
    its answer reused. There are about 70,000 such prefixes in all, so the memo stays small whatever
    the file's size.
    """

    def __init__(self, region: str = DEFAULT_REGION) -> None:
        self.region = region.upper()
        meta = PhoneMetadata.metadata_for_region(self.region)
        if meta is None:
            raise Refused(f"unknown region {region!r}: use a two-letter country code such as US or CA")
        depths = nanpa_prefix_depths()
        fast = meta.country_code == 1 and meta.national_prefix_for_parsing == "1" and depths is not None
        self._depths = depths if fast and depths is not None else None
        self._memo: dict[str, str | None | _Memo] = {}  # prefix -> zone of valid numbers, or _INVALID

    def __call__(self, raw: str) -> tuple[str, str | None] | None:
        national = self._national(raw) if self._depths is not None else None
        if national is None:
            return self._slow(raw)
        prefix = national[: self._depths[national[:3]]]  # type: ignore[index]
        known = self._memo.get(prefix, _MISSING)
        if known is _MISSING:
            result = self._slow(raw)
            if result is None:
                self._memo[prefix] = _INVALID
            elif result[0] == "+1" + national:
                self._memo[prefix] = result[1]
            return result
        if known is _INVALID:
            return None
        return "+1" + national, known

    @staticmethod
    def _national(raw: str) -> str | None:
        """The ten national digits of a plainly written +1 number, or None for any other shape."""
        plus = raw.startswith("+")
        digits = raw[1:] if plus else raw
        if not (digits.isascii() and digits.isdigit()):  # written with separators: drop them, look again
            digits = digits.translate(_SEPARATORS)
            if not (digits.isascii() and digits.isdigit()):
                return None
        if len(digits) == 11 and digits[0] == "1":
            digits = digits[1:]
        elif len(digits) != 10 or plus:
            return None
        # A leading 0 or 1 is never a North American area code, and "011" is the international prefix
        # (phonenumbers reads "0114312345" as an Austrian number): leave those to phonenumbers.
        return digits if digits[0] not in "01" else None

    def _slow(self, raw: str) -> tuple[str, str | None] | None:
        cell = normalize(raw, self.region)
        if cell is None:
            return None
        return cell, zone_for_number(cell)


class _Memo(Enum):
    """What a lookup memo holds besides a zone: not looked up yet, or looked up and not a valid number."""

    MISSING = auto()
    INVALID = auto()


_INVALID: Final = _Memo.INVALID
_MISSING: Final = _Memo.MISSING


# --- Streaming the file ---------------------------------------------------------------------------------


@contextmanager
def open_source(source: Source) -> Iterator[tuple[IO[bytes], int]]:
    """The source as a binary stream and its size in bytes (0 when unknown)."""
    if isinstance(source, str | Path):
        path = Path(source)
        try:
            handle = path.open("rb")
        except OSError as exc:
            raise ImportRefused(f"cannot read {path}: {exc.strerror or exc}") from exc
        with handle:
            yield handle, path.stat().st_size
        return
    size = 0
    try:
        size = os.fstat(source.fileno()).st_size
    except (AttributeError, OSError, ValueError):
        try:
            here = source.tell()
            size = source.seek(0, os.SEEK_END) - here
            source.seek(here)
        except (AttributeError, OSError, ValueError):
            size = 0
    yield source, size


def utf8_lines(stream: IO[bytes], on_bytes: Callable[[int], None] | None = None) -> Iterator[str]:
    """The stream's lines, decoded as UTF-8 a chunk at a time; a UTF-8 BOM is dropped.

    Each yielded string is exactly one physical line (ending in ``\\n`` except perhaps the last), so the
    csv reader's ``line_num`` is the file's line number. Bytes that are not UTF-8 refuse the file, naming
    the line.
    """
    line_no = 0
    read = 0
    carry = b""
    first = True
    while True:
        chunk = stream.read(CHUNK_BYTES)
        read += len(chunk)
        if on_bytes is not None and chunk:
            on_bytes(read)
        data = carry + chunk
        if first and data:
            if len(data) < 3 and chunk:
                carry = data
                continue
            if data.startswith(b"\xef\xbb\xbf"):
                data = data[3:]
            first = False
        if chunk:
            cut = data.rfind(b"\n") + 1
            if cut == 0:
                if len(data) > MAX_LINE_BYTES:
                    raise ImportRefused(
                        f"a line longer than {MAX_LINE_BYTES >> 20} MB: is this a CSV file with one record "
                        "per line? Re-save it as 'CSV UTF-8'",
                        line=line_no + 1,
                    )
                carry = data
                continue
            data, carry = data[:cut], data[cut:]
        elif not data:
            return
        try:
            decoded = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            bad_line = line_no + data.count(b"\n", 0, exc.start) + 1
            raise ImportRefused(
                f"the file is not UTF-8 text (found byte 0x{data[exc.start]:02x}): "
                "re-save it as 'CSV UTF-8' and import again",
                line=bad_line,
            ) from exc
        nul = decoded.find("\x00")
        if nul >= 0:  # PostgreSQL text cannot hold it, and no spreadsheet writes it into a CSV
            raise ImportRefused(
                "the file holds a NUL character (byte 0x00), so it is not a text CSV: "
                "re-save it as 'CSV UTF-8' and import again",
                line=line_no + decoded.count("\n", 0, nul) + 1,
            )
        lines = decoded.split("\n")
        last = lines.pop()
        for line in lines:
            yield line + "\n"
        line_no += len(lines)
        if last:
            yield last
        if not chunk:
            return


def _csv_problem(exc: csv.Error, what: str) -> str:
    if "new-line character" in str(exc):
        return "lines end with a bare carriage return (old Mac format): re-save the file as 'CSV UTF-8'"
    return f"{what} ({exc}): check the quotes and commas on that line"


def csv_rows(
    stream: IO[bytes], on_bytes: Callable[[int], None] | None = None
) -> tuple[list[str], int, Iterator[tuple[int, list[str]]]]:
    """The header, its line number and an iterator of (first line number, row) for each non-blank data row.

    Ragged rows, csv syntax errors and a missing header refuse the file.
    """
    reader = csv.reader(utf8_lines(stream, on_bytes), strict=True)
    try:
        header = next(reader, None)
        while header is not None and not any(cell.strip() for cell in header):
            header = next(reader, None)
    except csv.Error as exc:
        raise ImportRefused(
            _csv_problem(exc, "the header is not valid CSV"), line=reader.line_num or 1
        ) from exc
    if header is None:
        raise ImportRefused("the file is empty: it needs a header line naming its columns, then the rows")
    header_line = reader.line_num
    width = len(header)

    def rows() -> Iterator[tuple[int, list[str]]]:
        start = reader.line_num + 1
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                raise ImportRefused(_csv_problem(exc, "not valid CSV"), line=start) from exc
            if len(row) != width:
                if not any(cell.strip() for cell in row):
                    start = reader.line_num + 1
                    continue
                raise ImportRefused(
                    f"expected {width} columns as in the header (line {header_line}) but found {len(row)}: "
                    "fix the commas or quotes on that line",
                    line=start,
                )
            yield start, row
            start = reader.line_num + 1

    return header, header_line, rows()


# --- Bulk staging ---------------------------------------------------------------------------------------


class Stage:
    """A temporary table filled in bulk inside the caller's transaction (COPY on PostgreSQL).

    The first column is the file's line number (unique): on SQLite it becomes the rowid.
    """

    def __init__(self, session: Session, name: str, columns: Sequence[tuple[str, str]]) -> None:
        self.session = session
        self.name = name
        self.columns = [c for c, _ in columns]
        self.postgres = session.get_bind().dialect.name == "postgresql"
        conn = session.connection()
        first, first_type = columns[0]
        key = f"{first} {first_type}" if self.postgres else f"{first} INTEGER PRIMARY KEY"
        # SQLite would give a JSON column numeric affinity: keep such text as TEXT there.
        rest = [(c, t if self.postgres else t.replace("JSON", "TEXT")) for c, t in columns[1:]]
        cols = ", ".join([key] + [f"{c} {t}" for c, t in rest])
        if self.postgres:
            conn.exec_driver_sql(f"CREATE TEMP TABLE {name} ({cols}) ON COMMIT DROP")
        else:
            conn.exec_driver_sql(f"DROP TABLE IF EXISTS temp.{name}")
            conn.exec_driver_sql(f"CREATE TEMP TABLE {name} ({cols})")
        # The driver's own connection (psycopg's or sqlite3's): COPY and executemany go straight to it.
        self._raw: Any = conn.connection.driver_connection
        self.count = 0

    def write(self, rows: Sequence[tuple[Any, ...]]) -> None:
        if not rows:
            return
        if self.postgres:
            with self._raw.cursor() as cursor:
                with cursor.copy(f"COPY {self.name} ({', '.join(self.columns)}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
        else:
            marks = ", ".join("?" * len(self.columns))
            self._raw.executemany(f"INSERT INTO {self.name} VALUES ({marks})", rows)
        self.count += len(rows)

    def drop(self) -> None:
        if not self.postgres:
            self.session.connection().exec_driver_sql(f"DROP TABLE temp.{self.name}")


# --- The import -----------------------------------------------------------------------------------------

_STAGE_COLUMNS = (
    ("line", "BIGINT NOT NULL"),
    ("cell", "TEXT NOT NULL"),
    ("first_name", "TEXT NOT NULL"),
    ("last_name", "TEXT NOT NULL"),
    ("zip", "TEXT NOT NULL"),
    ("external_id", "TEXT NOT NULL"),
    ("custom_fields", "JSON NOT NULL"),  # parsed during the COPY on PostgreSQL
    ("timezone", "TEXT"),
)
# One staged row, in the order of _STAGE_COLUMNS.
StagedContact = tuple[int, str, str, str, str, str, str, str]


def import_contacts(
    db: Database,
    campaign_id: int,
    source: Source,
    *,
    region: str = DEFAULT_REGION,
    progress: Progress | None = None,
    overlap: bool = True,
) -> ImportSummary:
    """Import a contacts CSV into a campaign, all or nothing; returns what was imported and skipped.

    On PostgreSQL each batch is COPYed into ``contacts`` while the next one is checked (``overlap=False``:
    the whole file is staged first, then loaded in one statement, as SQLite does; the benchmark's A/B).
    Raises ``ImportRefused`` (nothing written) for a malformed file, ``NotFound`` for an unknown campaign,
    ``Refused`` for an archived one.
    """
    cells = CellNormalizer(region)
    summary = ImportSummary()
    with db.session() as session, open_source(source) as (stream, total):
        campaign = session.get(Campaign, campaign_id)
        if campaign is None or campaign.kind != "campaign":
            raise NotFound(f"no campaign with id {campaign_id}: see `textbank campaign list`")
        if campaign.status == "archived":
            raise ImportRefused(
                f"campaign {campaign.title!r} is archived: contacts can only be added to a draft or launched "
                "campaign"
            )
        report = (lambda done: progress(done, total)) if progress is not None else None
        header, header_line, rows = csv_rows(stream, report)
        fields, custom = map_header(header, required=("first_name", "cell"), line=header_line)
        summary.custom_fields = [name for name, _ in custom]

        batches = _checked_batches(rows, fields, custom, cells, campaign.timezone, summary)
        loader = _Loader(session, campaign)
        if overlap and db.is_postgres:
            loader.copied(batches, summary)
        else:
            loader.staged(batches, summary)
        summary.rows += summary.skipped["invalid_cell"]

        known = list(campaign.custom_fields or [])
        added = [name for name in summary.custom_fields if name not in known]
        if added:
            campaign.custom_fields = known + added
        if progress is not None:
            progress(total, total)
    if db.is_postgres and summary.imported >= ANALYZE_AFTER:
        # Fresh statistics now, not at autovacuum's next pass: until then the planner takes the campaign's
        # contacts for none, and statements planned in that window (a generic plan cached on a pooled
        # connection) keep reading every unassigned contact.
        with db.session() as session:
            session.execute(text(f"ANALYZE contacts ({_ANALYZED_COLUMNS})"))
    return summary


def _checked_batches(
    rows: Iterator[tuple[int, list[str]]],
    fields: dict[str, int],
    custom: list[tuple[str, int]],
    cells: CellNormalizer,
    campaign_zone: str,
    summary: ImportSummary,
) -> Iterator[list[StagedContact]]:
    """Check every row and yield staging rows in batches; invalid cells are counted in ``summary``."""
    i_first = fields["first_name"]
    i_cell = fields["cell"]
    i_last = fields.get("last_name")
    i_zip = fields.get("zip")
    i_ext = fields.get("external_id")
    limits = [(fields[name], FIELD_LABELS[name], n) for name, n in FIELD_MAX_LENGTH.items() if name in fields]
    zip_zones: dict[str, str | None] = {}
    # The custom fields' JSON object, written from pre-encoded keys (a full json.dumps per row costs more).
    keys = [(json.dumps(name, ensure_ascii=False) + ":", index) for name, index in custom]
    quote = encode_basestring
    batch_rows = min(FIRST_BATCH_ROWS, BATCH_ROWS)
    batch: list[StagedContact] = []
    for line, row in rows:
        for index, label, limit in limits:
            if len(row[index]) > limit and len(row[index].strip()) > limit:
                raise ImportRefused(
                    f"the {label} is longer than {limit} characters: shorten it or fix the columns", line=line
                )
        found = cells(row[i_cell].strip())
        if found is None:
            summary.skipped["invalid_cell"] += 1
            continue
        cell, area_zone = found
        zip_code = row[i_zip].strip() if i_zip is not None else ""
        if zip_code:
            zone: str | None | Literal[_Memo.MISSING] = zip_zones.get(zip_code, _MISSING)
            if zone is _MISSING:
                zone = zone_for_zip(zip_code)
                if len(zip_zones) < 200_000:
                    zip_zones[zip_code] = zone
        else:
            zone = None
        batch.append(
            (
                line,
                cell,
                row[i_first].strip(),
                row[i_last].strip() if i_last is not None else "",
                zip_code,
                row[i_ext].strip() if i_ext is not None else "",
                "{" + ",".join([key + quote(row[index].strip()) for key, index in keys]) + "}",
                zone or area_zone or campaign_zone,
            )
        )
        if len(batch) >= batch_rows:
            yield batch
            batch = []
            batch_rows = min(batch_rows * 2, BATCH_ROWS)
    if batch:
        yield batch


_CONTACT_COLUMNS = (
    "campaign_id, cell, first_name, last_name, zip, external_id, custom_fields, timezone, status, opted_out,"
    " escalated, created_at"
)


def _number_key(cell: str) -> int:
    """An E.164 number as the filter takes it: its digits as an int (no country code starts with 0)."""
    return int(cell[1:])


class _Loader:
    """Puts checked rows into ``contacts`` and fills in the skip counts, in one of two ways.

    Either way a row is inserted when it is the first of its number in the file and the number is
    neither opted out in the organization nor already in the campaign; so every distinct, not opted-out
    number of the file is either inserted once or was there before. Both are safe because imports into
    one campaign take turns: on PostgreSQL through a transaction-scoped advisory lock on the campaign,
    on SQLite through the write lock every import holds.
    """

    def __init__(self, session: Session, campaign: Campaign) -> None:
        self.session = session
        self.conn = session.connection()
        self.campaign = campaign
        self.postgres = self.conn.dialect.name == "postgresql"
        if self.postgres:
            self.conn.execute(
                text("SELECT pg_advisory_xact_lock(:key)"),
                {"key": lock_key(f"contacts-import:{campaign.id}")},
            )
        self.now = utcnow()

    def staged(self, batches: Iterator[list[StagedContact]], summary: ImportSummary) -> None:
        """The whole file into a temporary staging table, then into ``contacts`` in one statement.

        Python memory stays flat whatever the file's size: duplicates are found by the database. A plain
        INSERT filtered by NOT EXISTS costs a quarter less than ON CONFLICT DO NOTHING on PostgreSQL (no
        speculative insertion), and the skip counts come from comparing the staging table with what was
        inserted.
        """
        stage = Stage(self.session, "tb_contacts_stage", _STAGE_COLUMNS)
        for batch in batches:
            stage.write(batch)
        summary.rows += stage.count
        if self.postgres:
            # Room for the sort and hash of a million-row file without spilling to disk (this import only).
            self.conn.exec_driver_sql("SET LOCAL work_mem = '128MB'")
        name = stage.name
        insert = text(
            f"""
            INSERT INTO contacts ({_CONTACT_COLUMNS})
            SELECT :campaign_id, s.cell, s.first_name, s.last_name, s.zip, s.external_id, s.custom_fields,
                   s.timezone, 'needs_message', :no, :no, :now
            FROM {name} s
            WHERE s.line IN (SELECT min(line) FROM {name} GROUP BY cell)
              AND NOT EXISTS (SELECT 1 FROM opt_outs o WHERE o.organization_id = :org_id AND o.cell = s.cell)
              AND NOT EXISTS (SELECT 1 FROM contacts c WHERE c.campaign_id = :campaign_id AND c.cell = s.cell)
            ORDER BY s.line
            """
        ).bindparams(bindparam("now", type_=UTCDateTime()), bindparam("no", type_=Boolean()))
        org_id = self.campaign.organization_id
        # GROUP BY can hash; count(DISTINCT) always sorts (a second or so for a million numbers).
        distinct = self.conn.execute(
            text(f"SELECT count(*) FROM (SELECT cell FROM {name} GROUP BY cell) d")
        ).scalar_one()
        opted = self.conn.execute(
            text(
                f"SELECT count(*) FROM opt_outs WHERE organization_id = :org_id "
                f"AND cell IN (SELECT cell FROM {name})"
            ),
            {"org_id": org_id},
        ).scalar_one()
        imported = self.conn.execute(
            insert, {"campaign_id": self.campaign.id, "org_id": org_id, "now": self.now, "no": False}
        ).rowcount
        summary.imported = imported
        summary.skipped["duplicate_in_file"] = stage.count - distinct
        summary.skipped["opted_out"] = opted
        summary.skipped["already_in_campaign"] = distinct - opted - imported
        stage.drop()

    def copied(self, batches: Iterator[list[StagedContact]], summary: ImportSummary) -> None:
        """PostgreSQL: the rows that go in COPYed straight into ``contacts``, a batch at a time.

        Each batch is checked while PostgreSQL still inserts and indexes the one before on its own core
        (its COPY is ended only then, and psycopg waits for the server with the GIL released): the overlap
        and the multi-row insertion a plain COPY gets, which an INSERT ... SELECT from a staging table
        does not. The rows are the staging INSERT's: the first of each number, unless the organization
        opted it out or the campaign already holds it. Memory stays flat: a fixed-size filter
        (``_NumberFilter``) proves most numbers new to the file, the campaign and the opt-outs, and only
        the others (repeats, opt-outs, numbers already there, and the filter's rare false alarms) are
        looked up, one statement per batch: in ``contacts`` (rows this import added have ids above the
        largest one before it), in the opt-outs, and in a temporary table of the numbers skipped so far.
        """
        org_id, campaign_id = self.campaign.organization_id, self.campaign.id
        conn = self.conn
        before = conn.execute(text("SELECT coalesce(max(id), 0) FROM contacts")).scalar_one()
        last_opt_out = conn.execute(text("SELECT coalesce(max(id), 0) FROM opt_outs")).scalar_one()
        known = _NumberFilter()
        streamed = {"stream_results": True}
        for query, key in (
            ("SELECT cell FROM opt_outs WHERE organization_id = :key", org_id),
            ("SELECT cell FROM contacts WHERE campaign_id = :key", campaign_id),
        ):
            for (cell,) in conn.execute(text(query), {"key": key}, execution_options=streamed):
                known.add(_number_key(cell))
        conn.exec_driver_sql(
            "CREATE TEMP TABLE tb_import_skipped (cell TEXT PRIMARY KEY, opted BOOLEAN NOT NULL) "
            "ON COMMIT DROP"
        )
        # LATERAL ... LIMIT 1: an index probe per number. As EXISTS, the planner may hash the campaign's
        # contacts instead, all of them for every batch (its statistics predate the import).
        lookup = text(
            """
            SELECT u.cell, c.id > :before OR s.cell IS NOT NULL, o.cell IS NOT NULL, c.id IS NOT NULL
            FROM unnest(CAST(:cells AS text[])) AS u(cell)
            LEFT JOIN LATERAL (SELECT c.id FROM contacts c
                               WHERE c.campaign_id = :campaign_id AND c.cell = u.cell LIMIT 1) c ON TRUE
            LEFT JOIN LATERAL (SELECT o.cell FROM opt_outs o
                               WHERE o.organization_id = :org_id AND o.cell = u.cell LIMIT 1) o ON TRUE
            LEFT JOIN LATERAL (SELECT s.cell FROM tb_import_skipped s WHERE s.cell = u.cell LIMIT 1) s ON TRUE
            """
        )
        skipped = summary.skipped
        # Each row as COPY's text format spells it, written by hand: the constant columns formatted once
        # (campaign, status, opted_out, escalated, created_at), a row's own text escaped only if it needs it.
        prefix = f"{campaign_id}\t"
        suffix = f"\tneeds_message\tf\tf\t{self.now.isoformat(sep=' ')}\n"
        written = 0
        raw: Any = conn.connection.driver_connection
        cursor = raw.cursor()
        copying: Any = None
        try:
            for batch in batches:
                summary.rows += len(batch)
                # 0: a repeat, 1: new, 2: to look up
                states, maybe = known.sort(batch)
                skipped["duplicate_in_file"] += states.count(0)
                new: set[str] = set()
                if copying is not None:  # PostgreSQL has had this batch's checking time for the last one
                    copying.__exit__(None, None, None)
                    copying = None
                if maybe:
                    found = conn.execute(
                        lookup,
                        {"cells": maybe, "campaign_id": campaign_id, "org_id": org_id, "before": before},
                    ).all()
                    skipped_now: list[tuple[str, bool]] = []
                    for cell, repeat, opted, there in found:
                        if repeat:
                            skipped["duplicate_in_file"] += 1
                        elif opted:
                            skipped["opted_out"] += 1
                            skipped_now.append((cell, True))
                        elif there:
                            skipped["already_in_campaign"] += 1
                            skipped_now.append((cell, False))
                        else:
                            new.add(cell)
                    if skipped_now:
                        cursor.executemany("INSERT INTO tb_import_skipped VALUES (%s, %s)", skipped_now)
                copying = cursor.copy(f"COPY contacts ({_CONTACT_COLUMNS}) FROM STDIN")
                write = copying.__enter__().write
                lines: list[str] = []
                for state, row in zip(states, batch, strict=True):
                    if state == 1 or (state == 2 and row[1] in new):
                        text_cells = "\t".join(row[2:7])
                        if _NEEDS_ESCAPE.search(text_cells) or text_cells.count("\t") != 4:
                            text_cells = "\t".join([_copy_escape(cell) for cell in row[2:7]])
                        zone = row[7]
                        lines.append(
                            f"{prefix}{row[1]}\t{text_cells}\t{zone if zone is not None else _NULL}{suffix}"
                        )
                        written += 1
                        if len(lines) >= _COPY_LINES:
                            write("".join(lines))
                            lines = []
                if lines:
                    write("".join(lines))
        except BaseException as exc:
            if copying is not None:
                copying.__exit__(type(exc), exc, exc.__traceback__)
            raise
        else:
            if copying is not None:
                copying.__exit__(None, None, None)
        finally:
            cursor.close()
        # Numbers opted out while the file was loading are left out after all, as the staging INSERT,
        # which reads the opt-outs once the whole file is in, leaves them out.
        late_opt_outs = "SELECT cell FROM opt_outs WHERE organization_id = :org_id AND id > :last"
        params = {"campaign_id": campaign_id, "org_id": org_id, "last": last_opt_out, "before": before}
        gone = were_there = 0
        # Usually there are none, and the DELETE, planned on statistics that predate the import, can read
        # every row just added (~0.07 s per 100,000) to find that out: ask first, by the primary key.
        if conn.execute(text(f"SELECT EXISTS ({late_opt_outs})"), params).scalar_one():
            gone = conn.execute(
                text(
                    f"DELETE FROM contacts WHERE campaign_id = :campaign_id AND id > :before "
                    f"AND cell IN ({late_opt_outs})"
                ),
                params,
            ).rowcount
            were_there = conn.execute(
                text(f"SELECT count(*) FROM tb_import_skipped WHERE NOT opted AND cell IN ({late_opt_outs})"),
                params,
            ).scalar_one()
        summary.imported = written - gone
        skipped["opted_out"] += gone + were_there
        skipped["already_in_campaign"] -= were_there


_COPY_LINES = 2_000  # rows per write: PostgreSQL gets the batch as it is built
_NEEDS_ESCAPE = re.compile(r"[\\\n\r]")
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
_NULL: Final = "\\N"


def _copy_escape(value: str) -> str:
    """A value as COPY's text format reads it back unchanged."""
    return value.translate(_COPY_ESCAPES)


class _NumberFilter:
    """A fixed-size Bloom filter of numbers: each one sets two of 2**26 bits (8 MB, whatever the file).

    "Not in it" is certain; "maybe in it" is wrong for about 1 number in 1,000 after a million distinct
    numbers, 1 in 15 after ten million, and such a number is only looked up in the database for nothing.
    """

    MASK = (1 << 26) - 1

    def __init__(self) -> None:
        self.bits = bytearray((self.MASK + 1) >> 3)

    def add(self, key: int) -> None:
        mask, bits = self.MASK, self.bits
        a, b = key & mask, (key * 0x9E3779B97F4A7C15 >> 38) & mask
        bits[a >> 3] |= 1 << (a & 7)
        bits[b >> 3] |= 1 << (b & 7)

    def sort(self, batch: Sequence[StagedContact]) -> tuple[list[int], list[str]]:
        """Each row's state (0: a repeat within the batch, 1: certainly new, added; 2: to look up) and
        the numbers to look up. A number is added when it is first seen, so a later row repeats it."""
        mask, bits = self.MASK, self.bits
        states: list[int] = []
        maybe: list[str] = []
        seen: set[str] = set()
        for row in batch:
            cell = row[1]
            if cell in seen:
                states.append(0)
                continue
            seen.add(cell)
            key = int(cell[1:])
            a, b = key & mask, (key * 0x9E3779B97F4A7C15 >> 38) & mask
            if bits[a >> 3] & (1 << (a & 7)) and bits[b >> 3] & (1 << (b & 7)):
                states.append(2)
                maybe.append(cell)
            else:
                bits[a >> 3] |= 1 << (a & 7)
                bits[b >> 3] |= 1 << (b & 7)
                states.append(1)
        return states, maybe
