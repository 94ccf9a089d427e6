"""The campaign and its indicators: loading and validating `indicators.yaml`.

Also owns the importer that transcribes the seed notice's responsibility table into that file
(`python -m bot.catalog import-seed SEED_PATH [--out indicators.yaml]`).
"""

from __future__ import annotations

import argparse
import calendar
import datetime
import functools
import re
import sys
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from bot.yamlfields import Fields, load_yaml

KINDS = ("regular", "bonus", "deduction")


class CatalogError(ValueError):
    """`indicators.yaml` (or the seed) is malformed; the message names the indicator and field."""


@dataclass(frozen=True)
class Deadline:
    key: str
    name: str
    date: datetime.date


@dataclass(frozen=True)
class Event:
    """Something the campaign prepares for that is not a deadline (the on-site inspection):
    it happens some time within a window; `date` is the exact day once the office knows it.
    Nothing is ever "overdue" after an event."""

    key: str
    name: str
    window_start: datetime.date
    window_end: datetime.date
    date: datetime.date | None = None

    @property
    def is_month_window(self) -> bool:
        """The window is one whole calendar month (as the notice says: "9月份")."""
        start, end = self.window_start, self.window_end
        last = calendar.monthrange(start.year, start.month)[1]
        return start.day == 1 and (end.year, end.month, end.day) == (start.year, start.month, last)


@dataclass(frozen=True)
class Campaign:
    name: str
    document: str
    issued_by: str
    issued_on: datetime.date
    submit_to: str
    deadlines: tuple[Deadline, ...]
    events: tuple[Event, ...] = ()

    def next_deadline(self, today: datetime.date) -> Deadline | None:
        """The first deadline falling on or after `today`, or None once all have passed."""
        return next((d for d in self.deadlines if d.date >= today), None)

    def deadline(self, key: str) -> Deadline | None:
        return next((d for d in self.deadlines if d.key == key), None)

    def event(self, key: str) -> Event | None:
        return next((e for e in self.events if e.key == key), None)

    def shifted(self, days: int) -> Campaign:
        """The same campaign with every date moved by `days` (the demo runs it around today)."""
        if not days:
            return self
        delta = datetime.timedelta(days=days)
        return replace(
            self,
            issued_on=self.issued_on + delta,
            deadlines=tuple(replace(d, date=d.date + delta) for d in self.deadlines),
            events=tuple(
                replace(
                    e,
                    window_start=e.window_start + delta,
                    window_end=e.window_end + delta,
                    date=e.date + delta if e.date else None,
                )
                for e in self.events
            ),
        )


@dataclass(frozen=True)
class Indicator:
    id: int
    level1: str
    level2: str
    level3: str
    evidence: str
    evidence_from: int | None
    lead: tuple[str, ...]  # unit names or group phrases exactly as the table writes them
    cooperate: tuple[str, ...]
    star: bool
    kind: str  # regular | bonus | deduction

    @property
    def is_secret(self) -> bool:
        """The 考评要点 (its own, or the merged one it shares) says the evidence is 涉密: no
        link, no file, nothing of it leaves the system; paper kept on site only."""
        return SECRET_MARK in self.evidence

    @property
    def is_authenticity(self) -> bool:
        """The deduction item for fabricated material (row 99): answered not by a declaration of
        its own but by the authenticity statement every 报送 carries."""
        return self.kind == "deduction" and any(w in self.level3 for w in ("编造", "虚构"))

    @property
    def is_regular(self) -> bool:
        """A chore that counts: bonus items are opportunities and deduction items
        declarations, so neither appears in reminders or scores."""
        return self.kind == "regular"


SECRET_MARK = "涉密"


@dataclass(frozen=True)
class Catalog:
    campaign: Campaign
    indicators: dict[int, Indicator]

    def get(self, id: int) -> Indicator | None:
        return self.indicators.get(id)

    @functools.cached_property
    def regular_ids(self) -> frozenset[int]:
        """The indicators that count in scores and reminders (kind regular); a catalogue does
        not change once loaded, so this is worked out once (进度 and 排行 ask every time)."""
        return frozenset(i for i, ind in self.indicators.items() if ind.is_regular)

    @functools.cached_property
    def bonus_ids(self) -> frozenset[int]:
        return frozenset(i for i, ind in self.indicators.items() if ind.kind == "bonus")

    def with_campaign(self, campaign: Campaign) -> Catalog:
        return replace(self, campaign=campaign)

    @property
    def ids(self) -> tuple[int, ...]:
        return tuple(sorted(self.indicators))

    @property
    def min_id(self) -> int:
        return min(self.indicators)

    @property
    def max_id(self) -> int:
        return max(self.indicators)


# ---------------------------------------------------------------------------------------------
# Loading and validation


class _Fields(Fields):
    """indicators.yaml's mappings: failures are CatalogErrors."""

    error = CatalogError

    def text(self, field: str, *, allow_empty: bool = False) -> str:
        if field not in self.data:
            raise self.fail(field, "is missing")
        v = self.data[field]
        if v is None and allow_empty:
            return ""
        if not isinstance(v, str):
            raise self.fail(field, "must be a string")
        if not v.strip() and not allow_empty:
            raise self.fail(field, "must not be empty")
        return v.strip()

    def date(self, field: str) -> datetime.date:
        if field not in self.data:
            raise self.fail(field, "is missing")
        v = self.data[field]
        if isinstance(v, datetime.datetime):
            raise self.fail(field, "must be a date (YYYY-MM-DD), not a date and time")
        if isinstance(v, datetime.date):
            return v
        if isinstance(v, str):
            try:
                return datetime.date.fromisoformat(v.strip())
            except ValueError:
                pass
        raise self.fail(field, "must be a date (YYYY-MM-DD)")

    def optional_date(self, field: str) -> datetime.date | None:
        if self.data.get(field) is None:
            return None
        return self.date(field)

    def month(self, field: str) -> tuple[datetime.date, datetime.date]:
        """A window written as a month, YYYY-MM: its first and last day."""
        if field not in self.data:
            raise self.fail(field, "is missing")
        v = self.data[field]
        m = re.fullmatch(r"(\d{4})-(\d{2})", v.strip()) if isinstance(v, str) else None
        if m is None or not 1 <= int(m.group(2)) <= 12:
            raise self.fail(field, "must be a month (YYYY-MM, e.g. 2020-09)")
        year, month = int(m.group(1)), int(m.group(2))
        last = calendar.monthrange(year, month)[1]
        return datetime.date(year, month, 1), datetime.date(year, month, last)

    def integer(self, field: str) -> int:
        if field not in self.data:
            raise self.fail(field, "is missing")
        v = self.data[field]
        if isinstance(v, bool) or not isinstance(v, int):
            raise self.fail(field, "must be an integer")
        return v

    def boolean(self, field: str, default: bool) -> bool:
        v = self.data.get(field, default)
        if not isinstance(v, bool):
            raise self.fail(field, "must be true or false")
        return v

    def text_list(self, field: str, label: str, *, required: bool, non_empty: bool) -> list[str]:
        if field not in self.data:
            if required:
                raise self.fail(label, "is missing")
            return []
        v = self.data[field]
        if v is None and not non_empty:
            return []
        if not isinstance(v, list) or (non_empty and not v):
            raise self.fail(label, "must be a non-empty list" if non_empty else "must be a list")
        out = []
        for item in v:
            if not isinstance(item, str) or not item.strip():
                raise self.fail(label, "must contain only non-empty strings")
            out.append(item.strip())
        return out


def _campaign_from_dict(data: Any, source: str) -> Campaign:
    f = _Fields(
        data,
        f"{source}: campaign",
        ("name", "document", "issued_by", "issued_on", "submit_to", "deadlines", "events"),
    )
    raw = f.data.get("deadlines")
    if not isinstance(raw, list) or not raw:
        raise f.fail("deadlines", "must be a non-empty list")
    deadlines: list[Deadline] = []
    for i, item in enumerate(raw, 1):
        d = _Fields(item, f"{source}: campaign: deadline {i}", ("key", "name", "date"))
        deadline = Deadline(key=d.text("key"), name=d.text("name"), date=d.date("date"))
        if any(x.key == deadline.key for x in deadlines):
            raise d.fail("key", f"{deadline.key!r} is used twice")
        if deadlines and deadline.date <= deadlines[-1].date:
            raise d.fail("date", "must be later than the deadline before it")
        deadlines.append(deadline)
    issued_on = f.date("issued_on")
    raw_events = f.data.get("events") or []
    if not isinstance(raw_events, list):
        raise f.fail("events", "must be a list")
    events: list[Event] = []
    for i, item in enumerate(raw_events, 1):
        e = _Fields(item, f"{source}: campaign: event {i}", ("key", "name", "window", "date"))
        start, end = e.month("window")
        event = Event(e.text("key"), e.text("name"), start, end, e.optional_date("date"))
        if any(x.key == event.key for x in (*events, *deadlines)):
            raise e.fail("key", f"{event.key!r} is used twice")
        if event.date is not None and event.date < issued_on:
            raise e.fail("date", "must not be before issued_on")
        events.append(event)
    return Campaign(
        name=f.text("name"),
        document=f.text("document"),
        issued_by=f.text("issued_by"),
        issued_on=issued_on,
        submit_to=f.text("submit_to"),
        deadlines=tuple(deadlines),
        events=tuple(events),
    )


_INDICATOR_FIELDS = (
    "id",
    "level1",
    "level2",
    "level3",
    "evidence",
    "evidence_from",
    "units",
    "star",
    "kind",
)


def _indicator_from_dict(
    data: Any, source: str, seen: Mapping[int, Indicator], pos: int
) -> Indicator:
    if isinstance(data, Mapping) and isinstance(data.get("id"), int):
        where = f"{source}: 指标 {data['id']}"
    else:
        where = f"{source}: indicators[{pos}]"
    f = _Fields(data, where, _INDICATOR_FIELDS)
    ind_id = f.integer("id")
    if ind_id < 1:
        raise f.fail("id", "must be a positive integer")
    if ind_id in seen:
        raise f.fail("id", f"{ind_id} is used twice")
    if "kind" not in f.data:
        raise f.fail("kind", "is missing")
    kind = f.data["kind"]
    if kind not in KINDS:
        raise f.fail("kind", f"must be one of {', '.join(KINDS)}, not {kind!r}")
    evidence = f.text("evidence", allow_empty=True)
    evidence_from = f.data.get("evidence_from")
    if evidence_from is not None:
        if isinstance(evidence_from, bool) or not isinstance(evidence_from, int):
            raise f.fail("evidence_from", "must be an indicator id or null")
        source_ind = seen.get(evidence_from)
        if source_ind is None:
            raise f.fail("evidence_from", f"must name an earlier indicator, not {evidence_from}")
        if source_ind.evidence != evidence:
            raise f.fail("evidence", f"must equal the evidence of indicator {evidence_from}")
    if "units" not in f.data:
        raise f.fail("units", "is missing")
    units = _Fields(f.data["units"], where, ("lead", "cooperate"))
    lead = units.text_list("lead", "units.lead", required=True, non_empty=True)
    cooperate = units.text_list("cooperate", "units.cooperate", required=False, non_empty=False)
    return Indicator(
        id=ind_id,
        level1=f.text("level1"),
        level2=f.text("level2"),
        level3=f.text("level3"),
        evidence=evidence,
        evidence_from=evidence_from,
        lead=tuple(lead),
        cooperate=tuple(cooperate),
        star=f.boolean("star", False),
        kind=kind,
    )


def catalog_from_dict(data: Any, source: str = "indicators.yaml") -> Catalog:
    """Validate the parsed YAML document; `source` prefixes every error message."""
    if not isinstance(data, Mapping):
        raise CatalogError(f"{source}: must be a mapping with 'campaign' and 'indicators'")
    unknown = [k for k in data if k not in ("campaign", "indicators")]
    if unknown:
        raise CatalogError(f"{source}: unknown top-level field {unknown[0]!r}")
    if "campaign" not in data:
        raise CatalogError(f"{source}: field 'campaign' is missing")
    campaign = _campaign_from_dict(data["campaign"], source)
    raw = data.get("indicators")
    if not isinstance(raw, list) or not raw:
        raise CatalogError(f"{source}: field 'indicators' must be a non-empty list")
    indicators: dict[int, Indicator] = {}
    for pos, item in enumerate(raw):
        ind = _indicator_from_dict(item, source, indicators, pos)
        indicators[ind.id] = ind
    return Catalog(campaign=campaign, indicators=indicators)


def load_catalog(path: str | Path) -> Catalog:
    """Read and validate `indicators.yaml`; raise CatalogError naming the indicator and field."""
    p = Path(path)
    try:
        data = load_yaml(p)  # mappings keep their lines for the errors
    except yaml.YAMLError as e:
        raise CatalogError(f"{p.name}: not valid YAML: {e}") from e
    return catalog_from_dict(data, p.name)


# ---------------------------------------------------------------------------------------------
# The seed importer
#
# Each table row is one line of cells separated by "|". A cell merged over several rows appears
# only in the first of them, so later rows are short; trailing empty cells are padding.

CAMPAIGN_NAME = "2020年金凤区法治政府建设示范创建"
DEADLINE_NAMES = {
    "submit": "资料目录报送",
    "complete": "示范创建资料全面完成",
}
# The inspection is an event, not a deadline: the region checks the paper volumes on site some
# day of that month ("9月份…实地进行查验"), which the office sets once it is known.
INSPECTION = ("inspection", "自治区实地查验(纸质材料成册备查)")
_BONUS_HEADING = "加分项"
_DEDUCTION_HEADING = "减分项"
# Phrases that only the evidence (考评要点) column uses; requirements never contain them.
_EVIDENCE_MARKERS = ("情况说明", "证明材料", "相关材料", "工作资料", "档案资料", "台账", "图片")


def _nfkc(s: str) -> str:
    return unicodedata.normalize("NFKC", s)


def _is_level2_heading(cell: str) -> bool:
    """A level-2 heading is one short sentence ("优化政府组织结构。", "加分项。")."""
    return (
        cell.endswith("。")
        and cell.count("。") == 1
        and len(cell) <= 30
        and not re.search(r"[\d;“”]", _nfkc(cell))
    )


def _is_level1_heading(cell: str) -> bool:
    """A level-1 heading is a short phrase without a full stop ("政府职能依法全面履行")."""
    return len(cell) <= 30 and not re.search(r"[。,;\d]", _nfkc(cell))


def _looks_like_evidence(cell: str) -> bool:
    return _nfkc(cell).startswith("(1)") or any(m in cell for m in _EVIDENCE_MARKERS)


def _looks_like_units(cell: str) -> bool:
    return 0 < len(cell) <= 80 and not re.search(r"[。;]", _nfkc(cell))


def _kind_of(level2: str) -> str:
    heading = level2.rstrip("。")
    if heading == _BONUS_HEADING:
        return "bonus"
    if heading == _DEDUCTION_HEADING:
        return "deduction"
    return "regular"


def split_units(cell: str) -> tuple[list[str], list[str]]:
    """Split a 责任单位 cell into (lead, cooperate) phrases, following the notice's 责任单位 column."""
    lead: list[str] = []
    cooperate: list[str] = []
    segments = [s.strip() for s in re.split("[,\uff0c]", cell) if s.strip()]
    for seg in segments:
        if seg.endswith("配合"):
            cooperate.extend(u.strip() for u in seg[: -len("配合")].split("、") if u.strip())
        else:
            lead.extend(u.strip() for u in seg.split("、") if u.strip())
    if not lead and cooperate:
        # "司法局、各部门(单位)配合": the first unit named leads the ones after it.
        lead, cooperate = cooperate[:1], cooperate[1:]
    dedup = list(dict.fromkeys(lead))
    return dedup, [u for u in dict.fromkeys(cooperate) if u not in dedup]


def _layout(row_id: int, cells: list[str]) -> dict[str, str]:
    """Name the content cells of one row (merged columns missing), units and remark excluded."""
    n = len(cells)
    if n == 4:
        return dict(zip(("level1", "level2", "level3", "evidence"), cells, strict=True))
    if n == 3:
        if _is_level2_heading(cells[0]):
            return dict(zip(("level2", "level3", "evidence"), cells, strict=True))
        if _is_level1_heading(cells[0]) and _is_level2_heading(cells[1]):
            return dict(zip(("level1", "level2", "level3"), cells, strict=True))
    if n == 2:
        if _is_level2_heading(cells[0]) and not _looks_like_evidence(cells[1]):
            return {"level2": cells[0], "level3": cells[1]}
        return {"level3": cells[0], "evidence": cells[1]}
    if n == 1:
        return {"level3": cells[0]}
    raise CatalogError(f"seed: 指标 {row_id}: cannot tell the columns of {n + 1} cells: {cells}")


def parse_seed(text: str) -> list[dict]:
    """Transcribe the responsibility table of the seed notice into indicator dicts (YAML schema)."""
    rows: list[dict] = []
    level1 = level2 = ""
    evidence, evidence_id, evidence_scope = "", 0, ("", "")
    for line in text.splitlines():
        cells = [c.strip() for c in line.split("|")]
        if not cells or not cells[0].isdigit():
            continue  # notice text, the table title, repeated header rows ("序号"), the footnote
        row_id = int(cells[0])
        content = cells[1:]
        while content and not content[-1]:
            content.pop()
        if "" in content:
            raise CatalogError(f"seed: 指标 {row_id}: unexpected empty cell in {content}")
        star = False
        if content and set(content[-1]) <= {"★"}:
            star = True
            content.pop()
        elif len(content) >= 2 and not _looks_like_units(content[-1]):
            star = "★" in content.pop()  # a 备注 remark with other text
        if not content or not _looks_like_units(content[-1]):
            raise CatalogError(f"seed: 指标 {row_id}: the last cell is not a 责任单位: {content}")
        units = content.pop()
        named = _layout(row_id, content)
        level1 = named.get("level1", level1)
        level2 = named.get("level2", level2)
        if not level1 or not level2:
            raise CatalogError(f"seed: 指标 {row_id}: no 一级指标/二级指标 above it")
        kind = _kind_of(level2)
        if "evidence" in named:
            evidence, evidence_id, evidence_scope = named["evidence"], row_id, (level1, kind)
            row_evidence, row_from = evidence, None
        elif evidence and evidence_scope == (level1, kind):
            # The 考评要点 cell is merged with the rows above; it never spans into another
            # level-1 group, nor from the bonus items into the deduction items.
            row_evidence, row_from = evidence, evidence_id
        else:
            row_evidence, row_from = "", None
        lead, cooperate = split_units(units)
        rows.append(
            {
                "id": row_id,
                "level1": level1,
                "level2": level2,
                "level3": named["level3"],
                "evidence": row_evidence,
                "evidence_from": row_from,
                "units": {"lead": lead, "cooperate": cooperate},
                "star": star,
                "kind": kind,
            }
        )
    ids = [r["id"] for r in rows]
    if ids != list(range(1, len(ids) + 1)):
        raise CatalogError(f"seed: indicator numbers are not 1..{len(ids)} in order: {ids}")
    return rows


def _campaign_from_seed(text: str) -> dict:
    lines = [ln.strip() for ln in text.splitlines()]

    def find(pattern: str, what: str) -> re.Match[str]:
        m = re.search(pattern, text, re.MULTILINE)
        if m is None:
            raise CatalogError(f"seed: cannot find the {what}")
        return m

    document = find(r"^\S+发〔\d{4}〕\d+号$", "document number").group(0)
    submit_to = find(
        r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+", "e-mail address"
    ).group(0)
    signed = find(r"^(\d{4})年(\d{1,2})月(\d{1,2})日$", "date of issue")
    year = int(signed.group(1))
    issued_on = datetime.date(year, int(signed.group(2)), int(signed.group(3)))
    issued_by = lines[lines.index(signed.group(0)) - 1]
    submit = find(r"于(\d{1,2})月(\d{1,2})日前报送", "submission deadline")
    complete = find(r"(\d{1,2})月底前", "completion deadline")
    month_end = int(complete.group(1))
    inspection = find(r"(\d{1,2})月份[^。]*查验", "inspection month")
    dates = {
        "submit": datetime.date(year, int(submit.group(1)), int(submit.group(2))),
        "complete": datetime.date(year, month_end, calendar.monthrange(year, month_end)[1]),
    }
    key, name = INSPECTION
    return {
        "name": CAMPAIGN_NAME,
        "document": document,
        "issued_by": issued_by,
        "issued_on": issued_on,
        "submit_to": submit_to,
        "deadlines": [
            _Flow(key=key, name=DEADLINE_NAMES[key], date=dates[key]) for key in DEADLINE_NAMES
        ],
        "events": [
            _Flow(key=key, name=name, window=f"{year}-{int(inspection.group(1)):02d}", date=None)
        ],
    }


def seed_to_document(text: str) -> dict:
    """The whole `indicators.yaml` document for a seed notice."""
    indicators = parse_seed(text)
    for ind in indicators:
        ind["units"] = _Flow(ind["units"])
    return {"campaign": _campaign_from_seed(text), "indicators": indicators}


class _Flow(dict):
    """A mapping written on one line ({key: ..., date: ...})."""


class _Dumper(yaml.SafeDumper):
    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        # Indent list items under their key, as people write YAML by hand.
        super().increase_indent(flow, False)


def _represent_flow(dumper: yaml.SafeDumper, data: _Flow) -> yaml.Node:
    return dumper.represent_mapping("tag:yaml.org,2002:map", data, flow_style=True)


def _represent_list(dumper: yaml.SafeDumper, data: list) -> yaml.Node:
    scalars = all(isinstance(x, str | int | float | bool) for x in data)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=scalars)


_Dumper.add_representer(_Flow, _represent_flow)
_Dumper.add_representer(list, _represent_list)

_HEADER = (
    "# The campaign and its 99 indicators, transcribed from the seed notice by\n"
    "#   python -m bot.catalog import-seed SEED_PATH --out indicators.yaml\n"
    "# Schema: bot/catalog.py (load_catalog); evidence_from names the row whose merged\n"
    "# 考评要点 cell this row shares. Reminders count down to the deadlines only; an event\n"
    "# (the inspection) has a window and a date that the office sets when it is known.\n"
)


def dump_document(doc: dict) -> str:
    body = yaml.dump(
        doc, Dumper=_Dumper, allow_unicode=True, sort_keys=False, width=100_000, indent=2
    )
    return _HEADER + body


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.catalog")
    sub = parser.add_subparsers(dest="command", required=True)
    imp = sub.add_parser("import-seed", help="transcribe the seed notice into indicators.yaml")
    imp.add_argument("seed_path")
    imp.add_argument("--out", default="indicators.yaml")
    args = parser.parse_args(argv)
    text = Path(args.seed_path).read_text(encoding="utf-8")
    try:
        output = dump_document(seed_to_document(text))
        catalog = catalog_from_dict(yaml.safe_load(output), Path(args.out).name)
    except CatalogError as e:
        print(e, file=sys.stderr)
        return 1
    Path(args.out).write_text(output, encoding="utf-8")
    print(f"wrote {len(catalog.indicators)} indicators to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
