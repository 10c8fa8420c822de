"""A script's structure: the named sections a template asks for, from hook to call to action.

A structure is a tuple of section names, always starting with "hook" and ending with "call to
action" (every `Script` has both); the sections between are the scenes, one each:
("hook", "tip", "tip", "tip", "call to action"). People write it as "hook, 3 tips, call to
action"; `parse_structure` reads that and `describe` writes it back.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from services.phrases import ANGLE_PRIORITY, ANGLES

HOOK = "hook"
CALL_TO_ACTION = "call to action"
MAX_SECTION_CHARS = 40
MAX_REPEAT = 6

_ALIASES = {
    "cta": CALL_TO_ACTION,
    "call-to-action": CALL_TO_ACTION,
    "calls to action": CALL_TO_ACTION,
    "outro": CALL_TO_ACTION,
    "opening": HOOK,
    "opener": HOOK,
}
_NUMBERS = {
    word: i for i, word in enumerate(("zero", "one", "two", "three", "four", "five", "six"))
}
_NUMBER = r"[0-9]{1,2}|" + "|".join(_NUMBERS)
_COUNT_FIRST = re.compile(rf"(?P<n>{_NUMBER})\s*(?:x|\u00d7)?\s+(?P<name>.+)")
_COUNT_LAST = re.compile(r"(?P<name>.+?)(?:\s+x\s*|\s*\u00d7\s*)(?P<n>[0-9]{1,2})")
_SPLIT = re.compile(r"\s*(?:[,;+|\n]|->|\u2192|\bthen\b)\s*", re.IGNORECASE)
_NOT_NAME = re.compile(r"[^\w\s-]|_")
# Which phrase-bank angle the offline writer draws a section's sentences from.
_ANGLE_OF = {
    **dict.fromkeys(("tip", "hack", "step", "how", "how to", "solution", "fix", "idea"), "how"),
    **dict.fromkeys(("reason", "why", "benefit", "problem", "question", "myth"), "why"),
    **dict.fromkeys(("fact", "example", "detail", "feature", "ingredient", "stat"), "detail"),
    **dict.fromkeys(("story", "feeling", "moment", "testimonial", "before", "after"), "feel"),
    **dict.fromkeys(("recap", "summary", "takeaway", "conclusion"), "recap"),
    **dict.fromkeys(("intro", "introduction", "context", "setup"), "intro"),
}


class StructureError(ValueError):
    """A structure that can't be used; the message says why."""


def section_name(raw: str) -> str:
    """A section's name as stored: lower case, single spaces, letters, digits and hyphens."""
    name = " ".join(_NOT_NAME.sub(" ", raw.lower()).split())
    name = _ALIASES.get(name, name)
    if not name:
        raise StructureError(f"“{raw[:40]}” is not a section name.")
    if len(name) > MAX_SECTION_CHARS:
        raise StructureError(f"Keep section names under {MAX_SECTION_CHARS} characters.")
    return name


def _singular(name: str) -> str:
    head, _, last = name.rpartition(" ")
    if last.endswith("ies") and len(last) > 4:
        last = last[:-3] + "y"
    elif re.search(r"(?:ss|x|ch|sh)es$", last):
        last = last[:-2]
    elif last.endswith("s") and not last.endswith("ss") and len(last) > 2:
        last = last[:-1]
    return f"{head} {last}".strip()


def _plural(name: str) -> str:
    if name == CALL_TO_ACTION:
        return "calls to action"
    if re.search(r"[^aeiou]y$", name):
        return name[:-1] + "ies"
    if re.search(r"(?:s|x|ch|sh)$", name):
        return name + "es"
    return name + "s"


def complete(sections: Sequence[str]) -> tuple[str, ...]:
    """`sections` with the hook first and the call to action last, added if left out."""
    names = [section_name(s) for s in sections]
    while names and names[0] == HOOK:
        names.pop(0)
    while names and names[-1] == CALL_TO_ACTION:
        names.pop()
    if HOOK in names:
        raise StructureError("The hook comes first; name it only once, at the start.")
    if CALL_TO_ACTION in names:
        raise StructureError("The call to action comes last; name it only once, at the end.")
    return (HOOK, *names, CALL_TO_ACTION)


def parse_structure(text: str) -> tuple[str, ...]:
    """Read "hook, 3 tips, call to action" into its sections; raises `StructureError`."""
    sections: list[str] = []
    for part in filter(None, _SPLIT.split(text.strip())):
        lowered = part.lower().strip()
        match = _COUNT_FIRST.fullmatch(lowered) or _COUNT_LAST.fullmatch(lowered)
        count, name = 1, lowered
        if match is not None:
            number = match.group("n")
            count = _NUMBERS[number] if number in _NUMBERS else int(number)
            if not 1 <= count <= MAX_REPEAT:
                raise StructureError(f"“{part[:40]}”: a section repeats 1 to {MAX_REPEAT} times.")
            if count > 1:
                name = _singular(section_name(match.group("name")))
            elif number.isdigit():  # "1 tip"; but "one more thing" is a name
                name = match.group("name")
        sections += [section_name(name)] * count
    if not sections:
        raise StructureError("Name the sections, e.g. hook, 3 tips, call to action.")
    return complete(sections)


def body_sections(structure: Sequence[str]) -> tuple[str, ...]:
    """The scenes' sections: `structure` without its hook and call to action."""
    names = list(structure)
    if names[:1] == [HOOK]:
        names.pop(0)
    if names[-1:] == [CALL_TO_ACTION]:
        names.pop()
    return tuple(names)


def describe(structure: Sequence[str]) -> str:
    """The structure as people write it: "hook, 3 tips, call to action"."""
    runs: list[tuple[str, int]] = []
    for name in structure:
        if runs and runs[-1][0] == name:
            runs[-1] = (name, runs[-1][1] + 1)
        else:
            runs.append((name, 1))
    return ", ".join(name if n == 1 else f"{n} {_plural(name)}" for name, n in runs)


def labels_for(sections: Sequence[str]) -> list[str]:
    """On-screen labels of the scenes: "Tip 1", "Tip 2" for a repeated section, else its name."""
    seen: dict[str, int] = {}
    result = []
    for name in sections:
        title = name[:1].upper() + name[1:]
        if sections.count(name) > 1:
            seen[name] = seen.get(name, 0) + 1
            title = f"{title} {seen[name]}"
        result.append(title)
    return result


def angle_for(section: str, index: int) -> str:
    """The offline writer's phrase-bank angle for a section (by its last word, else in turn)."""
    if section in ANGLES:
        return section
    last = section.rpartition(" ")[2]
    return _ANGLE_OF.get(section) or _ANGLE_OF.get(last) or ANGLE_PRIORITY[index % 6]
