"""Topic ideas: what a writer makes them from, and how the offline writer makes them.

An `IdeaBasis` holds a workspace's best posts by their views at one week old (with the median,
so "3.1x your median" means something), the kinds of post that did better (a tone, a length, a
platform: `services.performance`), the topics of its recent drafts (not to be suggested again)
and its brand voice. The offline writer builds ideas from these deterministically: follow-ups
and new angles on the best topics and the formats that did better, each saying which post and
figure it builds on. With no post a week old yet, the ideas come from the brand voice and say
that they are not based on figures. A model writer gets the same basis as text (`describe`) and
its answer is checked here (`accept`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from services.content import MAX_TOPIC_CHARS, Brand, Platform
from services.performance import Comparison, Performance, length_of
from services.phrases import Avoid, clean, tidy
from services.platforms import fit_text

MAX_IDEAS = 10
IDEA_TOPIC_CHARS = min(120, MAX_TOPIC_CHARS)
WHY_CHARS = 300
NOT_FROM_FIGURES = "not based on figures yet"
_ANGLES = (
    "{t}: behind the scenes",
    "{t}: the questions people ask",
    "3 things people miss about {t}",
    "{t}: myth or fact",
)
_BRAND_IDEAS = (
    "the 3 questions {a} ask us most",
    "a day behind the scenes with our team",
    "one tip {a} can use today",
    "meet the people behind the brand",
    "what's new with us this month",
    "how we started",
    "a story from one of {a}",
    "before and after: what we do",
    "myths about what we do",
    "our most asked-for offer in 30 seconds",
)
_WORD = re.compile(r"[^\W_]+")


@dataclass(frozen=True)
class Idea:
    """A topic to make a video about, why, and the tone, length and platforms that suit it."""

    topic: str
    why: str
    from_figures: bool
    tone: str | None = None
    duration_s: int | None = None
    platforms: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe form, to keep it until someone drafts it."""
        return {
            "topic": self.topic,
            "why": self.why,
            "from_figures": self.from_figures,
            "tone": self.tone,
            "duration_s": self.duration_s,
            "platforms": list(self.platforms),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Idea:
        """The inverse of `to_dict`."""
        duration = data.get("duration_s")
        return cls(
            topic=str(data["topic"]),
            why=str(data["why"]),
            from_figures=bool(data["from_figures"]),
            tone=str(data["tone"]) if data.get("tone") else None,
            duration_s=int(duration) if duration is not None else None,
            platforms=tuple(str(p) for p in data.get("platforms", ())),
        )


@dataclass(frozen=True)
class IdeaBasis:
    """What ideas are made from: a workspace's best posts, what did better, recent topics."""

    brand: Brand = field(default_factory=Brand)
    top: tuple[Performance, ...] = ()  # posts a week old, most views at one week old first
    median_views: float = 0.0  # of every post a week old in the lookback
    posts: int = 0  # how many posts were a week old
    younger: int = 0  # posts with figures that were not a week old yet
    angles: tuple[Comparison, ...] = ()  # tones, lengths, platforms that did better
    recent_topics: tuple[str, ...] = ()  # of the latest drafts, newest first
    lookback_days: int = 90

    @property
    def has_figures(self) -> bool:
        """Whether any post had been out a week with figures."""
        return bool(self.top)


def same_topic(text: str) -> str:
    """A topic reduced to its words in lower case, to tell a repeat of it."""
    return " ".join(_WORD.findall(text.casefold()))


def _quoted(topic: str) -> str:
    return f"“{fit_text(clean(topic), 60)}”"


def _post_figures(post: Performance, basis: IdeaBasis) -> str:
    """“12,400 views at one week old on TikTok, 3.1x your median of 4,000”."""
    said = f"{post.views:,} views at one week old on {post.platform_name}"
    if basis.posts > 1 and basis.median_views > 0:
        said += f", {post.views / basis.median_views:.1f}\u00d7 your median of "
        said += f"{basis.median_views:,.0f}"
    elif basis.posts == 1:
        said += " (your only post a week old so far)"
    rate = post.figures.engagement_rate
    if rate is not None:
        said += f", engagement {rate:.1%}"
    return said


def _platforms(names: Iterable[str]) -> tuple[str, ...]:
    known = {p.value for p in Platform}
    return tuple(n for n in dict.fromkeys(names) if n in known)


def _from_post(post: Performance, topic: str, why: str) -> Idea:
    fmt = post.format
    return Idea(
        topic=topic,
        why=why,
        from_figures=True,
        tone=fmt.tone if fmt else None,
        duration_s=fmt.duration_s if fmt else None,
        platforms=_platforms([post.post.platform]),
    )


def _follow_up(post: Performance, basis: IdeaBasis) -> Idea:
    why = f"{_quoted(post.post.title)} got {_post_figures(post, basis)}."
    return _from_post(post, f"a follow-up to {post.post.title}", why)


def _angle(post: Performance, template: str, basis: IdeaBasis) -> Idea:
    why = f"A new angle on {_quoted(post.post.title)}, which got {_post_figures(post, basis)}."
    return _from_post(post, template.format(t=post.post.title), why)


def _group_of(post: Performance, kind: str) -> str | None:
    """The post's tone, length bucket or platform, as a `Comparison.key` of that kind."""
    fmt = post.format
    if kind == "platform":
        return post.post.platform
    if fmt is None:
        return None
    return " ".join(fmt.tone.lower().split()) if kind == "tone" else length_of(fmt.duration_s)[0]


def _format(angle: Comparison, basis: IdeaBasis) -> Idea | None:
    """The best post not made in a format (tone, length, platform) that did better, made so."""
    post = next((p for p in basis.top if _group_of(p, angle.kind) != angle.key), None)
    if post is None:
        return None
    topic = post.post.title
    others = {"tone": "other tones", "length": "other lengths", "platform": "other platforms"}
    group = f"Videos of {angle.label}" if angle.kind == "length" else f"{angle.label} posts"
    why = (
        f"{group[:1].upper()}{group[1:]} got a median of {angle.median:,.0f} views at one week "
        f"old, {angle.versus(others[angle.kind])} ({angle.posts} vs {angle.others_posts} posts)."
    )
    base = _from_post(post, topic, why)
    if angle.kind == "tone":
        article = "an" if angle.key[:1] in "aeiou" else "a"
        return replace(base, topic=f"{article} {angle.key} take on {topic}", tone=angle.key)
    if angle.kind == "length":
        return replace(base, topic=f"{topic} in {angle.key} seconds", duration_s=int(angle.key))
    return replace(base, topic=f"{topic}, made for {angle.label}", platforms=(angle.key,))


def _figure_ideas(basis: IdeaBasis) -> Iterator[Idea]:
    top = basis.top
    for post in top[:2]:
        yield _follow_up(post, basis)
    for angle in basis.angles:
        if angle.kind in ("tone", "length", "platform") and (idea := _format(angle, basis)):
            yield idea
    for post in top[2:3]:
        yield _follow_up(post, basis)
    for template in _ANGLES:
        for post in top[:3]:
            yield _angle(post, template, basis)


def _brand_ideas(brand: Brand) -> Iterator[Idea]:
    audience = clean(brand.audience or "") or "our customers"
    if brand.is_empty():
        why = (
            f"A dependable first format, {NOT_FROM_FIGURES} (set /brand so ideas fit your "
            "audience and tone)."
        )
    else:
        voice = "; ".join(
            part
            for part in (
                f"audience: {fit_text(audience, 60)}" if brand.audience else "",
                f"tone: {fit_text(clean(brand.tone or ''), 40)}" if brand.tone else "",
            )
            if part
        )
        why = f"From your brand voice ({voice or 'as set with /brand'}), {NOT_FROM_FIGURES}."
    for template in _BRAND_IDEAS:
        yield Idea(template.format(a=audience), why, False)


def _usable(ideas: Iterable[Idea], basis: IdeaBasis, count: int) -> tuple[Idea, ...]:
    """The first `count` ideas that are new, use no avoided word, and fit the limits."""
    # Words the team's own best topics use are theirs to keep (as in the writer).
    avoid = Avoid.of(basis.brand.avoid, " ".join(p.post.title for p in basis.top))
    seen = {same_topic(t) for t in basis.recent_topics}
    chosen: list[Idea] = []
    for idea in ideas:
        topic = fit_text(tidy(clean(idea.topic)), IDEA_TOPIC_CHARS)
        key = same_topic(topic)
        if not key or key in seen or not avoid.allows(topic):
            continue
        seen.add(key)
        why = fit_text(clean(idea.why), WHY_CHARS)
        chosen.append(replace(idea, topic=topic, why=why))
        if len(chosen) == count:
            break
    return tuple(chosen)


def offline_ideas(basis: IdeaBasis, count: int) -> tuple[Idea, ...]:
    """Up to `count` ideas from the figures (then the brand voice), the same each time."""
    count = max(1, min(count, MAX_IDEAS))
    figures = _figure_ideas(basis) if basis.has_figures else iter(())
    return _usable([*figures, *_brand_ideas(basis.brand)], basis, count)


def describe(basis: IdeaBasis, count: int) -> str:
    """The basis as the text a model is given, with how many ideas are wanted."""
    lines = []
    if basis.has_figures:
        lines.append(
            f"The team's best posts by views at one week old ({basis.posts} posts a week old in "
            f"the last {basis.lookback_days} days; median {basis.median_views:,.0f} views):"
        )
        for rank, post in enumerate(basis.top, 1):
            fmt = post.format
            made = f", {fmt.tone}, {fmt.duration_s} s" if fmt else ""
            lines.append(
                f"{rank}. {_quoted(post.post.title)} on {post.platform_name}{made}: "
                f"{_post_figures(post, basis)}"
            )
        if basis.angles:
            lines.append("What did better than the rest (median views at one week old):")
            lines += [
                f"- {a.kind} {a.label}: {a.median:,.0f} vs {a.others_median:,.0f} for the "
                f"others ({a.posts} vs {a.others_posts} posts)"
                for a in basis.angles
            ]
    else:
        younger = f" ({basis.younger} posts are younger)" if basis.younger else ""
        lines.append(
            f"No post has been out a week with figures yet{younger}: base the ideas on the brand "
            f"voice, and say in each why that it is {NOT_FROM_FIGURES}."
        )
    if basis.recent_topics:
        lines.append("Recent topics (do not suggest these again):")
        lines += [f"- {fit_text(clean(t), 100)}" for t in basis.recent_topics]
    lines.append(f"Ideas wanted: {count}")
    return "\n".join(lines)


def accept(basis: IdeaBasis, answers: Sequence[tuple[str, str]], count: int) -> tuple[Idea, ...]:
    """The usable ideas among a model's (topic, why) answers, at most `count`."""
    fallback = "Suggested by the model" + ("" if basis.has_figures else f", {NOT_FROM_FIGURES}")
    ideas = (Idea(topic, clean(why) or fallback, basis.has_figures) for topic, why in answers)
    return _usable(ideas, basis, max(1, min(count, MAX_IDEAS)))
