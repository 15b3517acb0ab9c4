"""One model of an administrative document (Decree 30/2020/NĐ-CP layout), rendered to DOCX, PDF and XLSX.

The department sends documents, not data dumps: an appraisal result or a statistics table carries the
issuing authority, its number and symbol, place and date, a summary line (trích yếu), the body, the
recipients and a signature block, in that order. Builders fill this model once from a report; each
renderer only lays it out, so the DOCX, the PDF and the workbook can never tell different stories.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

#: Quốc hiệu and tiêu ngữ: fixed by Decree 30/2020 in Vietnamese whatever the reader's language.
NATIONAL_TITLE = "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM"
MOTTO = "Độc lập - Tự do - Hạnh phúc"
#: Vietnam's civil time, the date an issued document bears.
VN_TZ = dt.timezone(dt.timedelta(hours=7))


@dataclass(frozen=True)
class Issuer:
    """Who issues: the governing body (line 1), the issuing department (line 2, bold) and its city."""

    parent: str
    authority: str
    place: str

    @property
    def symbol(self) -> str:
        """The department's abbreviation in a ký hiệu (``Sở Khoa học và Công nghệ …`` → ``SKHCN``)."""
        name = re.split(r"\s+(?:thành phố|tỉnh|TP\.?)\s", self.authority + " ", maxsplit=1, flags=re.I)[0]
        return "".join(w[0] for w in name.split() if w.lower() not in ("và", "and")).upper()


@dataclass(frozen=True)
class Paragraph:
    text: str
    bold: bool = False
    italic: bool = False
    heading: bool = False


@dataclass(frozen=True)
class Table:
    """A ruled table; ``widths`` are relative column widths, ``numeric`` the right-aligned columns."""

    head: list[str]
    rows: list[list[Any]]
    widths: list[float]
    numeric: frozenset[int] = frozenset()
    bold_rows: frozenset[int] = frozenset()
    #: machine names of the columns, for a workbook scripts read back (field names under the labels)
    keys: tuple[str, ...] = ()


Block = Paragraph | Table


@dataclass(frozen=True)
class OfficialDocument:
    issuer: Issuer
    kind: str            # the document's name, e.g. "BÁO CÁO"
    kind_code: str       # its abbreviation in the ký hiệu, e.g. "BC"
    number: str          # the số, assigned by the issuing office
    date: dt.date
    subject: str         # trích yếu
    body: list[Block]
    recipients: list[str]
    signer_title: str
    signer_note: str = ""
    landscape: bool = False
    file_stem: str = "document"
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def reference(self) -> str:
        """``Số: 15/BC-SKHCN`` as the header prints it; without a number the office fills it in by hand."""
        return f"Số: {self.number or chr(0x2003) * 4}/{self.kind_code}-{self.issuer.symbol}"

    @property
    def place_date(self) -> str:
        """``Hải Phòng, ngày 04 tháng 12 năm 2026``: days below 10 and months 1 and 2 get a leading zero."""
        d = self.date
        month = f"{d.month:02d}" if d.month < 3 else str(d.month)
        return f"{self.issuer.place}, ngày {d.day:02d} tháng {month} năm {d.year}"


def local_time(iso: str | None) -> str:
    """A UTC timestamp as read in Vietnam: ``10:00 04/01/2026`` (the text itself when it is not one)."""
    try:
        when = dt.datetime.fromisoformat(iso or "")
    except ValueError:
        return iso or ""
    return (when if when.tzinfo else when.replace(tzinfo=dt.UTC)).astimezone(VN_TZ).strftime("%H:%M %d/%m/%Y")


def issue_date(iso: str | None) -> dt.date:
    """The Vietnamese calendar date of a UTC timestamp (today when there is none)."""
    if iso:
        try:
            when = dt.datetime.fromisoformat(iso)
        except ValueError:
            when = None
        if when is not None:
            return (when if when.tzinfo else when.replace(tzinfo=dt.UTC)).astimezone(VN_TZ).date()
    return dt.datetime.now(VN_TZ).date()
