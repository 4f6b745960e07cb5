"""The daily brief (每日简报) for leaders and the duty office, from the case history.

:func:`daily_brief` gathers one local calendar day (default Asia/Shanghai):

- new cases (opened that day), closed cases (a ``closed`` event that day) and
  overdue cases (deadline passed by the end of the day and not closed by then),
  each by category and by street;
- supervision (督办) that day, counted from the timeline: SLA warnings
  (``supervised``), overdue escalations, 150 % escalations and manual escalations
  (``escalated``);
- hotspot alerts: those live only on Kafka, so the caller passes them in (the
  brief says when it was given none);
- department scorecards and grid-worker figures for the day (:mod:`sinks.assessment`).

:func:`render_markdown` and :func:`render_html` escape every piece of text that
comes from data (titles, names, codes), so a crafted category or department name
cannot inject markup. :func:`write_brief` writes ``brief-YYYY-MM-DD.{md,html,json}``.
"""

from __future__ import annotations

import html
import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, and_, func, or_, select

from schemas.alerts import Alert, AlertKind
from schemas.cases import CaseEventType
from schemas.periods import Period
from sinks.assessment import (
    DEPARTMENT_LABELS,
    GRID_WORKER_LABELS,
    department_indicators,
    grid_worker_indicators,
)
from sinks.models import case_events, cases

DEFAULT_TZ = "Asia/Shanghai"


@dataclass(frozen=True)
class BriefNames:
    """Display names for codes (from the district data); a code without one shows as is."""

    categories: Mapping[str, str] = field(default_factory=dict)
    streets: Mapping[str, str] = field(default_factory=dict)
    departments: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Line:
    code: str
    name: str
    count: int


@dataclass(frozen=True)
class Breakdown:
    total: int
    by_category: tuple[Line, ...]
    by_street: tuple[Line, ...]


@dataclass(frozen=True)
class HotspotLine:
    alert_id: str
    time: datetime
    grid_code: str
    category: str
    category_name: str
    count: int | None
    title: str


@dataclass(frozen=True)
class Brief:
    day: date
    tz: str
    start: datetime
    end: datetime
    generated_at: datetime
    new: Breakdown
    closed: Breakdown
    overdue: Breakdown
    supervision: dict[str, int]
    hotspots: tuple[HotspotLine, ...] | None
    departments: tuple[dict[str, Any], ...]
    grid_workers: tuple[dict[str, Any], ...]
    kind: str = "day"  # day, week or month
    label: str = ""  # 2026-W49, 2026-11 (a day's brief: its date)

    @property
    def name(self) -> str:
        return self.day.isoformat() if self.kind == "day" else self.label

    def to_json(self) -> dict[str, Any]:
        def breakdown(b: Breakdown) -> dict[str, Any]:
            return {
                "total": b.total,
                "by_category": [vars(line) for line in b.by_category],
                "by_street": [vars(line) for line in b.by_street],
            }

        return {
            "day": self.day.isoformat(),
            "kind": self.kind,
            "label": self.name,
            "tz": self.tz,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "generated_at": self.generated_at.isoformat(),
            "new": breakdown(self.new),
            "closed": breakdown(self.closed),
            "overdue": breakdown(self.overdue),
            "supervision": dict(self.supervision),
            "hotspots": (
                None
                if self.hotspots is None
                else [{**vars(h), "time": h.time.isoformat()} for h in self.hotspots]
            ),
            "departments": [dict(d) for d in self.departments],
            "grid_workers": [dict(g) for g in self.grid_workers],
        }


SUPERVISION_LABELS: dict[str, str] = {
    "sla_warnings": "督办预警（75%）",
    "overdue": "超期升级（100%）",
    "escalations_150": "再次升级（150%）",
    "manual_escalations": "人工升级",
}


def day_bounds(day: date, tz: str = DEFAULT_TZ) -> tuple[datetime, datetime]:
    """``[start, end)`` of the local calendar ``day``, in UTC."""
    zone = ZoneInfo(tz)
    start = datetime.combine(day, time(0), tzinfo=zone)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)
    return start.astimezone(UTC), end.astimezone(UTC)


def daily_brief(
    engine: Engine,
    day: date,
    tz: str = DEFAULT_TZ,
    *,
    hotspots: Sequence[Alert] | None = None,
    names: BriefNames | None = None,
    now: datetime | None = None,
) -> Brief:
    """The brief of the local calendar ``day`` in ``tz``; see the module doc."""
    start, end = day_bounds(day, tz)
    return span_brief(engine, start, end, day, tz, hotspots=hotspots, names=names, now=now)


def period_brief(
    engine: Engine,
    period: Period,
    *,
    hotspots: Sequence[Alert] | None = None,
    names: BriefNames | None = None,
    now: datetime | None = None,
) -> Brief:
    """The weekly or monthly brief: the same sections over a week or a month."""
    return span_brief(
        engine,
        period.start.astimezone(UTC),
        period.end.astimezone(UTC),
        period.first_day,
        period.tz,
        hotspots=hotspots,
        names=names,
        now=now,
        kind=period.kind.value,
        label=period.label,
    )


def span_brief(
    engine: Engine,
    start: datetime,
    end: datetime,
    day: date,
    tz: str,
    *,
    hotspots: Sequence[Alert] | None = None,
    names: BriefNames | None = None,
    now: datetime | None = None,
    kind: str = "day",
    label: str = "",
) -> Brief:
    """The brief of ``[start, end)`` (its first local day ``day``)."""
    names = names or BriefNames()
    in_day_opened = and_(cases.c.opened_at >= start, cases.c.opened_at < end)
    closed_ids = (
        select(case_events.c.case_id)
        .where(
            case_events.c.type == CaseEventType.CLOSED.value,
            case_events.c.time >= start,
            case_events.c.time < end,
        )
        .distinct()
    )
    overdue = and_(
        cases.c.resolve_by < end,
        cases.c.opened_at < end,
        or_(cases.c.closed_at.is_(None), cases.c.closed_at >= end),
    )
    supervision_query = select(case_events.c.type, case_events.c.data).where(
        case_events.c.type.in_((CaseEventType.SUPERVISED.value, CaseEventType.ESCALATED.value)),
        case_events.c.time >= start,
        case_events.c.time < end,
    )
    with engine.connect() as conn:
        new = _breakdown(conn, in_day_opened, names)
        closed = _breakdown(conn, cases.c.id.in_(closed_ids), names)
        late = _breakdown(conn, overdue, names)
        marks = [(str(t), dict(d or {})) for t, d in conn.execute(supervision_query)]
    departments = []
    for row in department_indicators(engine, start, end):
        code = str(row["department"])
        departments.append({**row, "department_name": names.departments.get(code, code)})
    return Brief(
        day=day,
        tz=tz,
        start=start,
        end=end,
        generated_at=now or datetime.now(UTC),
        new=new,
        closed=closed,
        overdue=late,
        supervision=_supervision(marks),
        hotspots=None if hotspots is None else _hotspots(hotspots, start, end, names),
        departments=tuple(departments),
        grid_workers=tuple(grid_worker_indicators(engine, start, end)),
        kind=kind,
        label=label,
    )


def _breakdown(conn: Any, where: Any, names: BriefNames) -> Breakdown:
    by_category = Counter[str]()
    by_street = Counter[str]()
    query = (
        select(cases.c.category, cases.c.street_code, func.count())
        .where(where)
        .group_by(cases.c.category, cases.c.street_code)
    )
    for category, street, n in conn.execute(query):
        by_category[str(category)] += int(n)
        by_street[str(street)] += int(n)
    return Breakdown(
        total=sum(by_category.values()),
        by_category=_lines(by_category, names.categories),
        by_street=_lines(by_street, names.streets),
    )


def _lines(counts: Counter[str], names: Mapping[str, str]) -> tuple[Line, ...]:
    ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return tuple(Line(code, names.get(code, code), n) for code, n in ordered)


def _supervision(marks: Iterable[tuple[str, dict[str, Any]]]) -> dict[str, int]:
    out = dict.fromkeys(SUPERVISION_LABELS, 0)
    for type_, data in marks:
        mark = data.get("mark")
        if type_ == CaseEventType.SUPERVISED.value:
            if mark == "warning":
                out["sla_warnings"] += 1
        elif mark == "overdue":
            out["overdue"] += 1
        elif mark == "escalation_150":
            out["escalations_150"] += 1
        elif mark is None:
            out["manual_escalations"] += 1
    return out


def _hotspots(
    alerts: Sequence[Alert], start: datetime, end: datetime, names: BriefNames
) -> tuple[HotspotLine, ...]:
    seen: dict[str, HotspotLine] = {}
    for alert in alerts:
        if alert.kind is not AlertKind.HOTSPOT or not start <= alert.time < end:
            continue
        category = alert.category or ""
        count = alert.detail.get("count")
        seen[alert.id] = HotspotLine(
            alert_id=alert.id,
            time=alert.time,
            grid_code=alert.grid_code,
            category=category,
            category_name=names.categories.get(category, category),
            count=int(count) if isinstance(count, int) else None,
            title=alert.title,
        )
    return tuple(sorted(seen.values(), key=lambda h: (h.time, h.alert_id)))


# -- rendering -----------------------------------------------------------------------

# Inline syntax only: cells and headings never start a line (no list or heading
# markers to fear), and without brackets no link can form.
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]#!|~])")


def md_escape(value: object) -> str:
    """Text safe in a Markdown table cell: HTML and Markdown syntax escaped, one line."""
    text = " ".join(str(value).split())
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MD_SPECIAL.sub(r"\\\1", text)


def _fmt(value: object) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def _pct(value: object) -> str:
    return "—" if not isinstance(value, int | float) else f"{value * 100:.1f}%"


_RATE_KEYS = frozenset(
    {
        "on_time_rate",
        "closure_rate",
        "rework_rate",
        "verification_pass_rate",
        "task_on_time_rate",
        "extension_rate",
    }
)
_DEPT_COLUMNS = (
    "dispatched",
    "due",
    "deferred",
    "closed",
    "closed_on_time",
    "on_time_rate",
    "closure_rate",
    "rework_rate",
    "mean_handling_hours",
    "mean_satisfaction",
    "returned",
    "tasks_due",
    "task_on_time_rate",
    "extension_rate",
)
_WORKER_COLUMNS = ("reports", "verifications", "verifications_passed", "verification_pass_rate")


def _cell(key: str, value: object) -> str:
    return _pct(value) if key in _RATE_KEYS else _fmt(value)


@dataclass(frozen=True)
class _Table:
    title: str
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    empty: str = "无"


def _tables(brief: Brief) -> list[_Table]:
    """Every section as a table of plain (unescaped) text, shared by both renderers."""
    tables = [
        _Table(
            "概况",
            ("指标", "数量"),
            (
                ("新增案件", str(brief.new.total)),
                ("结案", str(brief.closed.total)),
                ("逾期未结", str(brief.overdue.total)),
            ),
        )
    ]
    for label, part in (
        ("新增案件", brief.new),
        ("结案", brief.closed),
        ("逾期未结", brief.overdue),
    ):
        tables.append(
            _Table(
                f"{label} · 按类别",
                ("类别", "代码", "数量"),
                tuple((li.name, li.code, str(li.count)) for li in part.by_category),
            )
        )
        tables.append(
            _Table(
                f"{label} · 按街道",
                ("街道", "代码", "数量"),
                tuple((li.name, li.code, str(li.count)) for li in part.by_street),
            )
        )
    tables.append(
        _Table(
            "督办",
            ("事项", "次数"),
            tuple((SUPERVISION_LABELS[k], str(v)) for k, v in brief.supervision.items()),
        )
    )
    if brief.hotspots is None:
        tables.append(_Table("热点告警", ("说明",), (), empty="本简报未获得热点告警数据"))
    else:
        tables.append(
            _Table(
                "热点告警",
                ("时间", "网格", "类别", "数量", "说明"),
                tuple(
                    (
                        h.time.astimezone(ZoneInfo(brief.tz)).strftime("%H:%M"),
                        h.grid_code,
                        h.category_name,
                        _fmt(h.count),
                        h.title,
                    )
                    for h in brief.hotspots
                ),
            )
        )
    tables.append(
        _Table(
            "部门考核",
            ("部门", *(DEPARTMENT_LABELS[k] for k in _DEPT_COLUMNS)),
            tuple(
                (
                    str(d.get("department_name", d["department"])),
                    *(_cell(k, d.get(k)) for k in _DEPT_COLUMNS),  # older briefs lack newer keys
                )
                for d in brief.departments
            ),
        )
    )
    tables.append(
        _Table(
            "网格员",
            ("网格员", *(GRID_WORKER_LABELS[k] for k in _WORKER_COLUMNS)),
            tuple(
                (str(g["grid_worker"]), *(_cell(k, g[k]) for k in _WORKER_COLUMNS))
                for g in brief.grid_workers
            ),
        )
    )
    return tables


_TITLES = {"day": "每日简报", "week": "每周简报", "month": "每月简报"}


def _heading(brief: Brief) -> tuple[str, str]:
    title = f"{_TITLES.get(brief.kind, '简报')} {brief.name}"
    generated = brief.generated_at.astimezone(ZoneInfo(brief.tz)).strftime("%Y-%m-%d %H:%M")
    return title, f"时区 {brief.tz}；生成于 {generated}；数据为案件库投影。"


def render_markdown(brief: Brief) -> str:
    title, subtitle = _heading(brief)
    out = [f"# {md_escape(title)}", "", md_escape(subtitle), ""]
    for table in _tables(brief):
        out += [f"## {md_escape(table.title)}", ""]
        if not table.rows:
            out += [md_escape(table.empty), ""]
            continue
        out.append("| " + " | ".join(md_escape(h) for h in table.header) + " |")
        out.append("|" + "---|" * len(table.header))
        out += ["| " + " | ".join(md_escape(c) for c in row) + " |" for row in table.rows]
        out.append("")
    return "\n".join(out)


_CSS = (
    "body{font-family:'Noto Sans CJK SC','Noto Sans SC',sans-serif;margin:2em;color:#222}"
    "table{border-collapse:collapse;margin:.5em 0 1.5em}"
    "th,td{border:1px solid #ccc;padding:.25em .6em;text-align:left}"
    "th{background:#f3f3f3}"
)


def render_html(brief: Brief) -> str:
    title, subtitle = _heading(brief)
    e = html.escape
    out = [
        "<!DOCTYPE html>",
        '<html lang="zh-CN"><head><meta charset="utf-8">',
        f"<title>{e(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{e(title)}</h1>",
        f"<p>{e(subtitle)}</p>",
    ]
    for table in _tables(brief):
        out.append(f"<h2>{e(table.title)}</h2>")
        if not table.rows:
            out.append(f"<p>{e(table.empty)}</p>")
            continue
        out.append("<table><thead><tr>")
        out += [f"<th>{e(h)}</th>" for h in table.header]
        out.append("</tr></thead><tbody>")
        for row in table.rows:
            out.append("<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>")
        out.append("</tbody></table>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def write_brief(brief: Brief, out_dir: Path) -> list[Path]:
    """Write ``brief-<YYYY-MM-DD | YYYY-Www | YYYY-MM>.md``, ``.html`` and ``.json``
    into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = out_dir / f"brief-{brief.name}"
    paths = [stem.with_suffix(".md"), stem.with_suffix(".html"), stem.with_suffix(".json")]
    paths[0].write_text(render_markdown(brief), encoding="utf-8")
    paths[1].write_text(render_html(brief), encoding="utf-8")
    paths[2].write_text(
        json.dumps(brief.to_json(), ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
    return paths
