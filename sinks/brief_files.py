"""The daily brief as files to download (leaders fetch them from
``/reports/``): :func:`render_pdf`, and :func:`hotspot_alerts`, the day's hotspot
alerts read back from the duty office's inbox (the gateway cannot read
``gridhub.alerts`` the way the scheduled brief does).

:func:`render_pdf` gives the same sections and tables as
:func:`sinks.briefs.render_html`, laid out with ReportLab. Chinese text uses
ReportLab's built-in CID font ``STSong-Light`` (Adobe-GB1): nothing to download,
no font file to ship, and any PDF reader shows it with its own Song/Ming face.
Text from data goes into paragraphs escaped (ReportLab parses a small markup
language in ``Paragraph``), so a crafted name cannot change the layout.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from datetime import datetime
from io import BytesIO

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.platypus import Flowable, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle
from sqlalchemy import Engine, select

from schemas.alerts import ALERT_TYPE_PREFIX, Alert, AlertKind
from sinks.briefs import Brief, _heading, _Table, _tables
from sinks.outbox_models import inbox

FONT = "STSong-Light"


def _font() -> str:
    if FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(FONT))
    return FONT


def _styles(font: str) -> dict[str, ParagraphStyle]:
    return {
        "title": ParagraphStyle("title", fontName=font, fontSize=18, leading=24, spaceAfter=4),
        "sub": ParagraphStyle(
            "sub", fontName=font, fontSize=9, leading=13, textColor=colors.HexColor("#555555")
        ),
        "h2": ParagraphStyle("h2", fontName=font, fontSize=12, leading=18, spaceBefore=8),
        "cell": ParagraphStyle("cell", fontName=font, fontSize=8.5, leading=11, wordWrap="CJK"),
        "head": ParagraphStyle(
            "head",
            fontName=font,
            fontSize=8.5,
            leading=11,
            wordWrap="CJK",
            textColor=colors.HexColor("#222222"),
        ),
        "empty": ParagraphStyle("empty", fontName=font, fontSize=9, leading=13),
    }


# Characters the Adobe-GB1 font's Unicode map lacks, and a look-alike it has.
_SUBSTITUTES = str.maketrans({"\u00b7": "\u30fb"})  # middle dot


def _text(value: str, style: ParagraphStyle) -> Paragraph:
    return Paragraph(html.escape(value.translate(_SUBSTITUTES), quote=False), style)


def render_pdf(brief: Brief) -> bytes:
    """The brief as one PDF document (A4 portrait)."""
    title, subtitle = _heading(brief)
    return pdf_document(title, subtitle, _tables(brief))


def pdf_document(title: str, subtitle: str, tables: Sequence[_Table]) -> bytes:
    """A titled A4 document of plain-text tables (the brief, the public bulletin)."""
    font = _font()
    styles = _styles(font)
    story: list[Flowable] = [
        _text(title, styles["title"]),
        _text(subtitle, styles["sub"]),
        Spacer(1, 4 * mm),
    ]
    width = A4[0] - 30 * mm
    for table in tables:
        story.append(_text(table.title, styles["h2"]))
        if not table.rows:
            story.append(_text(table.empty, styles["empty"]))
            continue
        data = [[_text(h, styles["head"]) for h in table.header]]
        data += [[_text(cell, styles["cell"]) for cell in row] for row in table.rows]
        grid = Table(data, colWidths=[width / len(table.header)] * len(table.header), repeatRows=1)
        grid.setStyle(
            TableStyle(
                [
                    ("GRID", (0, 0), (-1, -1), 0.4, colors.HexColor("#BBBBBB")),
                    ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#F0F3F7")),
                    ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ]
            )
        )
        story.append(grid)
    out = BytesIO()
    doc = SimpleDocTemplate(
        out,
        pagesize=A4,
        leftMargin=15 * mm,
        rightMargin=15 * mm,
        topMargin=15 * mm,
        bottomMargin=15 * mm,
        title=title,
        author="GridHub",
        lang="zh-CN",
    )
    doc.build(story)
    return out.getvalue()


HOTSPOT_EVENT_TYPE = f"{ALERT_TYPE_PREFIX}{AlertKind.HOTSPOT.value}"


def hotspot_alerts(
    engine: Engine, start: datetime, end: datetime, recipient: str = "duty_office"
) -> list[Alert]:
    """Hotspot alerts the duty office was told of in ``[start, end)``, rebuilt from
    its inbox messages (``data`` carries the alert: id, grid, category, detail)."""
    query = (
        select(inbox.c.time, inbox.c.subject, inbox.c.case_id, inbox.c.data)
        .where(
            inbox.c.recipient == recipient,
            inbox.c.event_type == HOTSPOT_EVENT_TYPE,
            inbox.c.time >= start,
            inbox.c.time < end,
        )
        .order_by(inbox.c.time)
    )
    alerts: list[Alert] = []
    with engine.connect() as conn:
        for row in conn.execute(query).mappings():
            data = dict(row["data"] or {})
            moment = row["time"]  # aware UTC (sinks.models.UTCDateTime)
            alerts.append(
                Alert(
                    id=str(data.get("alert_id") or f"{recipient}:{moment.isoformat()}"),
                    kind=AlertKind.HOTSPOT,
                    time=moment,
                    grid_code=str(data.get("grid_code") or ""),
                    category=data.get("category"),
                    case_id=row["case_id"],
                    title=str(row["subject"]),
                    detail=dict(data.get("detail") or {}),
                )
            )
    return alerts
