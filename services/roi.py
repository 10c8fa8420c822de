"""Return on spend: what drafts cost (model, voice, render) against what their posts earned.

`services.roi_query.load_roi` reads a workspace's report.

The spend of a period is its usage records created in [since, until) (the same figure as the
"Cost of the period" in /stats). Each record that names a draft is that draft's; the others
(reading a request, writing ideas) are overhead, counted in the brand's total only.

What a draft earned is the latest figures (at or before `until`) of each of its published
posts: the platforms report lifetime totals, so these are the results so far of the content the
period's spend made. Engagements are likes + comments + shares.

* **Per platform**, a draft's spend is shared equally among the platforms it went out on; the
  spend of a draft with no post out (yet) shows as "not out".
* **Per campaign**, the drafts its runs made; per brand (workspace), everything.
* **Cost per 1,000 views** and **cost per engagement** need views (engagements); none without.
* **Value** is views * the workspace's value per view + engagements * its value per click,
  when at least one is set; **ROI** is value ÷ cost, none without spend ("no spend recorded").
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from services.stats import shorten
from services.stats_inputs import Figures, Period

# What each usage kind is paid for; anything else counts as "other".
SPEND_KINDS = {
    "llm_input_tokens": "model",
    "llm_output_tokens": "model",
    "voice_chars": "voice",
    "render_seconds": "render",
}
SHOWN_DRAFTS = 3
_TIMES = "\u00d7"
VALUE_HINT = "set /value view <usd> or /value click <usd> (owners) to see ROI"


@dataclass(frozen=True)
class Spend:
    """Money spent, by what it paid for."""

    model: float = 0.0
    voice: float = 0.0
    render: float = 0.0
    other: float = 0.0

    @property
    def total(self) -> float:
        """Everything together."""
        return self.model + self.voice + self.render + self.other

    def __add__(self, other: Spend) -> Spend:
        return Spend(
            self.model + other.model,
            self.voice + other.voice,
            self.render + other.render,
            self.other + other.other,
        )

    def share(self, parts: int) -> Spend:
        """One of `parts` equal shares."""
        return Spend(
            self.model / parts, self.voice / parts, self.render / parts, self.other / parts
        )

    def describe(self) -> str:
        """“$0.42 (model $0.02, voice $0.40)”, naming only what cost something."""
        parts = [
            f"{name} {usd(amount)}"
            for name, amount in (
                ("model", self.model),
                ("voice", self.voice),
                ("render", self.render),
                ("other", self.other),
            )
            if amount > 0
        ]
        return usd(self.total) + (f" ({', '.join(parts)})" if parts else "")


def spend_of(kind: str, cost_usd: float) -> Spend:
    """One usage record's cost as a Spend."""
    name = SPEND_KINDS.get(kind, "other")
    return Spend(**{name: cost_usd})


@dataclass(frozen=True)
class Values:
    """What the workspace says one view and one click (an engagement) are worth."""

    per_view_usd: float | None = None
    per_click_usd: float | None = None

    @property
    def is_set(self) -> bool:
        """Whether either value is set."""
        return self.per_view_usd is not None or self.per_click_usd is not None

    def of(self, views: int, engagements: int) -> float | None:
        """What these views and engagements are worth; None when no value is set."""
        if not self.is_set:
            return None
        return views * (self.per_view_usd or 0.0) + engagements * (self.per_click_usd or 0.0)

    def describe(self) -> str:
        """“$0.002 a view, $0.05 a click”, or “not set”."""
        said = [
            f"{usd(v)} a {what}"
            for what, v in (("view", self.per_view_usd), ("click", self.per_click_usd))
            if v is not None
        ]
        return ", ".join(said) if said else "not set"


@dataclass(frozen=True)
class Roi:
    """Spend against results for one scope: a draft, a campaign, a platform or the brand."""

    scope: str  # draft | campaign | platform | brand
    key: str  # the draft id, campaign name, platform or workspace id
    label: str
    spend: Spend
    views: int
    engagements: int
    posts: int
    values: Values

    @property
    def cost_usd(self) -> float:
        """What it cost."""
        return self.spend.total

    @property
    def cost_per_1k_views(self) -> float | None:
        """Cost / views * 1,000; None without views or without spend."""
        return self.cost_usd / self.views * 1000 if self.views > 0 and self.cost_usd > 0 else None

    @property
    def cost_per_engagement(self) -> float | None:
        """Cost ÷ engagements; None without engagements or without spend."""
        if self.engagements <= 0 or self.cost_usd <= 0:
            return None
        return self.cost_usd / self.engagements

    @property
    def value_usd(self) -> float | None:
        """What its views and engagements are worth at the workspace's values, if set."""
        return self.values.of(self.views, self.engagements)

    @property
    def ratio(self) -> float | None:
        """ROI as value ÷ cost; None without a value set or without spend."""
        value = self.value_usd
        return value / self.cost_usd if value is not None and self.cost_usd > 0 else None

    def as_dict(self) -> dict[str, Any]:
        """The figures as plain JSON-ready values (for the HTTP API)."""
        return {
            "scope": self.scope,
            "key": self.key,
            "label": self.label,
            "cost_usd": round(self.cost_usd, 6),
            "cost_by_kind_usd": {
                "model": round(self.spend.model, 6),
                "voice": round(self.spend.voice, 6),
                "render": round(self.spend.render, 6),
                "other": round(self.spend.other, 6),
            },
            "views": self.views,
            "engagements": self.engagements,
            "posts": self.posts,
            "cost_per_1k_views_usd": _rounded(self.cost_per_1k_views),
            "cost_per_engagement_usd": _rounded(self.cost_per_engagement),
            "value_usd": _rounded(self.value_usd),
            "roi": _rounded(self.ratio),
        }

    def summary(self) -> str:
        """“$0.12, 1,234 views, 56 engagements: $0.097 per 1,000 views, ROI 20x”."""
        head = f"{usd(self.cost_usd)}, {self.views:,} views, {self.engagements:,} engagements"
        if self.cost_usd <= 0:
            return f"{head}: no spend recorded"
        found = []
        if self.cost_per_1k_views is not None:
            found.append(f"{usd(self.cost_per_1k_views)} per 1,000 views")
        if self.ratio is not None:
            found.append(f"ROI {times(self.ratio)}")
        return f"{head}: {', '.join(found)}" if found else f"{head}: no views yet"


@dataclass(frozen=True)
class RoiReport:
    """A period's return on spend for one workspace, whole and broken down."""

    period: Period
    values: Values
    brand: Roi
    platforms: tuple[Roi, ...] = ()
    campaigns: tuple[Roi, ...] = ()
    drafts: tuple[Roi, ...] = ()  # best ROI (else cost per 1,000 views) first
    not_out: Spend = field(default_factory=Spend)  # drafts with no post out (yet)
    overhead: Spend = field(default_factory=Spend)  # usage of no draft

    def as_dict(self) -> dict[str, Any]:
        """The whole report as plain JSON-ready values (for the HTTP API)."""
        return {
            "since": self.period.since.isoformat(),
            "until": self.period.until.isoformat(),
            "value_per_view_usd": self.values.per_view_usd,
            "value_per_click_usd": self.values.per_click_usd,
            "brand": self.brand.as_dict(),
            "platforms": [r.as_dict() for r in self.platforms],
            "campaigns": [r.as_dict() for r in self.campaigns],
            "drafts": [r.as_dict() for r in self.drafts],
            "not_published_cost_usd": round(self.not_out.total, 6),
            "overhead_cost_usd": round(self.overhead.total, 6),
        }

    def overview(self) -> RoiOverview:
        """The whole report as a pydantic model (the HTTP API's analytics overview)."""
        return RoiOverview.model_validate(self.as_dict())

    def lines(self, scope: str = "") -> list[str]:
        """A short block for /stats and digests: the ROI and the numbers behind it."""
        brand, days = self.brand, self.period.days
        period = f"the last {days} day{'s' if days != 1 else ''}"
        if brand.cost_usd <= 0:
            return [
                f"💰 Return on spend{scope}: no spend recorded in {period}, "
                "so no cost per view or ROI."
            ]
        head = f"💰 Return on spend{scope}: {brand.spend.describe()} spent in {period}"
        if brand.posts == 0:
            return [
                f"{head}; no post of the drafts it went to is out yet, so nothing to weigh "
                "it against.",
                *self._where_else(),
            ]
        lines = [
            f"{head}; its drafts' {_plural(brand.posts, 'post')} earned {brand.views:,} views "
            f"and {brand.engagements:,} engagements so far",
            *self._headline_figures(),
        ]
        for title, rows in (("by platform", self.platforms), ("by campaign", self.campaigns)):
            if rows:
                lines.append(f"  {title}:")
                lines += [f"    {r.label}: {r.summary()}" for r in rows]
        if self.drafts:
            lines.append("  best drafts:")
            lines += [f"    {r.label}: {r.summary()}" for r in self.drafts[:SHOWN_DRAFTS]]
        return lines + self._where_else()

    def _headline_figures(self) -> list[str]:
        """Cost per 1,000 views and per engagement; the value and ROI, or how to get them."""
        brand = self.brand
        per = [
            f"{usd(v)} per {what}"
            for what, v in (
                ("1,000 views", brand.cost_per_1k_views),
                ("engagement", brand.cost_per_engagement),
            )
            if v is not None
        ]
        lines = ["  " + (" · ".join(per) if per else "no views yet to weigh it against")]
        if brand.ratio is not None and brand.value_usd is not None:
            lines.append(
                f"  value {usd(brand.value_usd)} ({self.values.describe()}) → "
                f"ROI {times(brand.ratio)} the cost"
            )
        else:
            lines.append(f"  ROI: no value per view or click yet; {VALUE_HINT}")
        return lines

    def _where_else(self) -> list[str]:
        """The spend that went to no post: unpublished drafts and work on no draft."""
        rest = []
        if self.not_out.total > 0:
            rest.append(f"{usd(self.not_out.total)} on drafts not published (yet)")
        if self.overhead.total > 0:
            rest.append(f"{usd(self.overhead.total)} on other work (reading requests, ideas)")
        return ["  of the spend, " + " and ".join(rest)] if rest else []


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


class RoiFigures(BaseModel):
    """One scope's spend against its results (`Roi.as_dict`)."""

    scope: str
    key: str
    label: str
    cost_usd: float
    cost_by_kind_usd: dict[str, float]
    views: int
    engagements: int
    posts: int
    cost_per_1k_views_usd: float | None
    cost_per_engagement_usd: float | None
    value_usd: float | None
    roi: float | None


class RoiOverview(BaseModel):
    """A period's return on spend (`RoiReport.as_dict`): see the module's docstring."""

    since: datetime
    until: datetime
    value_per_view_usd: float | None
    value_per_click_usd: float | None
    brand: RoiFigures
    platforms: list[RoiFigures]
    campaigns: list[RoiFigures]
    drafts: list[RoiFigures]
    not_published_cost_usd: float
    overhead_cost_usd: float


def usd(amount: float) -> str:
    """Money for people: “$1.50”, “$0.09”, “$0.00048” (two significant digits under $1)."""
    if amount == 0:
        return "$0"
    if abs(amount) >= 1:
        return f"${amount:,.2f}"
    decimals = max(2, 1 - math.floor(math.log10(abs(amount))))
    text = f"{amount:.{decimals}f}"
    whole, _, fraction = text.partition(".")
    fraction = fraction.rstrip("0").ljust(2, "0")
    return f"${whole}.{fraction}"


def times(ratio: float) -> str:
    """A ratio with a multiplication sign: “0.35x”, “2.4x”, “120x”."""
    if ratio >= 10:
        return f"{ratio:,.0f}{_TIMES}"
    return f"{ratio:.2f}{_TIMES}" if ratio < 1 else f"{ratio:.1f}{_TIMES}"


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


@dataclass(frozen=True)
class SpendLine:
    """One usage record: which draft it was for (None: no draft), its kind and its cost."""

    draft_id: int | None
    kind: str
    cost_usd: float


@dataclass(frozen=True)
class DraftInfo:
    """A draft as ROI names it: its topic and the campaign that made it, if one did."""

    draft_id: int
    topic: str
    campaign: str | None = None


@dataclass(frozen=True)
class PostResult:
    """One published post of a draft and its latest figures (zero before any are collected)."""

    draft_id: int
    platform: str
    figures: Figures = field(default_factory=Figures)


@dataclass
class _Tally:
    spend: Spend = field(default_factory=Spend)
    views: int = 0
    engagements: int = 0
    posts: int = 0

    def add_posts(self, posts: Iterable[PostResult]) -> None:
        for post in posts:
            self.views += post.figures.views
            self.engagements += post.figures.interactions
            self.posts += 1

    def roi(self, scope: str, key: str, label: str, values: Values) -> Roi:
        return Roi(scope, key, label, self.spend, self.views, self.engagements, self.posts, values)


def compute_roi(
    spend: Iterable[SpendLine],
    drafts: Mapping[int, DraftInfo],
    posts: Sequence[PostResult],
    *,
    values: Values,
    period: Period,
    brand: str = "brand",
) -> RoiReport:
    """The period's return on spend from its usage, its drafts and their posts' figures."""
    by_draft: dict[int, Spend] = defaultdict(Spend)
    overhead = Spend()
    for line in spend:
        if line.draft_id is None:
            overhead += spend_of(line.kind, line.cost_usd)
        else:
            by_draft[line.draft_id] += spend_of(line.kind, line.cost_usd)
    posts_of: dict[int, list[PostResult]] = defaultdict(list)
    for post in posts:
        if post.draft_id in by_draft:
            posts_of[post.draft_id].append(post)
    whole, not_out = _Tally(spend=overhead), Spend()
    platforms: dict[str, _Tally] = defaultdict(_Tally)
    campaigns: dict[str, _Tally] = defaultdict(_Tally)
    rows = []
    for draft_id, cost in sorted(by_draft.items()):
        mine = posts_of.get(draft_id, [])
        tally = _Tally(spend=cost)
        tally.add_posts(mine)
        whole.spend += cost
        whole.add_posts(mine)
        info = drafts.get(draft_id, DraftInfo(draft_id, f"draft {draft_id}"))
        rows.append(tally.roi("draft", str(draft_id), _draft_label(info), values))
        if info.campaign is not None:
            campaigns[info.campaign].spend += cost
            campaigns[info.campaign].add_posts(mine)
        names = sorted({p.platform for p in mine})
        if not names:
            not_out += cost
        for name in names:
            platforms[name].spend += cost.share(len(names))
            platforms[name].add_posts(p for p in mine if p.platform == name)
    return RoiReport(
        period=period,
        values=values,
        brand=whole.roi("brand", brand, "all platforms", values),
        platforms=tuple(t.roi("platform", k, k, values) for k, t in sorted(platforms.items())),
        campaigns=tuple(
            t.roi("campaign", k, f"“{k}”", values) for k, t in sorted(campaigns.items())
        ),
        drafts=tuple(sorted((r for r in rows if r.posts), key=_best_first)),
        not_out=not_out,
        overhead=overhead,
    )


def _draft_label(info: DraftInfo) -> str:
    return f"#{info.draft_id} {shorten(info.topic, 30)}"


def _best_first(row: Roi) -> tuple[float, float, int]:
    ratio = row.ratio if row.ratio is not None else -1.0
    per_1k = row.cost_per_1k_views if row.cost_per_1k_views is not None else math.inf
    return (-ratio, per_1k, int(row.key))
