"""Word-level captions as an ASS document (rendered by libass), kept inside the safe area."""

from __future__ import annotations

from collections.abc import Sequence

from services.content import Script, Voiceover, WordTiming
from services.video_aspect import LAYOUTS, Aspect, Layout

CAPTION_FONT = "DejaVu Sans"
CHAR_WIDTH_EM = 0.58  # rough mean advance of DejaVu Sans Bold, to shrink over-long words
MAX_GROUP_WORDS = 3  # words shown together, the spoken one highlighted
MAX_GROUP_CHARS = 14  # longer groups are split so a line fits at full size
GROUP_GAP_S = 0.3  # a pause longer than this starts a new group (and blanks the caption)
INACTIVE_ALPHA = "&H78&"  # not-yet/already-spoken words of a group: dimmed white
_SENTENCE_END = (".", "!", "?", ";", ":")


def escape_ass_text(text: str) -> str:
    """Make user text literal inside an ASS Dialogue: no override tags, no line breaks."""
    text = " ".join(text.split())  # newlines, tabs and runs of spaces -> one space
    text = text.replace("\\", "\\\u2060")  # a word joiner stops \N, \n, \h, \{ from forming
    return text.replace("{", "\\{").replace("}", "\\}")


def _ass_time(t: float) -> str:
    cs = max(0, round(t * 100))
    h, rem = divmod(cs, 360_000)
    m, rem = divmod(rem, 6_000)
    s, cs = divmod(rem, 100)
    return f"{h}:{m:02d}:{s:02d}.{cs:02d}"


def group_words(words: Sequence[WordTiming]) -> list[list[WordTiming]]:
    """Split timed words into short caption groups at pauses, sentence ends and size limits."""
    groups: list[list[WordTiming]] = []
    current: list[WordTiming] = []
    for w in sorted((w for w in words if w.word.strip()), key=lambda w: w.start):
        if current:
            prev = current[-1]
            chars = sum(len(x.word) + 1 for x in current) + len(w.word.strip())
            if (
                len(current) >= MAX_GROUP_WORDS
                or chars > MAX_GROUP_CHARS
                or w.start - prev.end > GROUP_GAP_S
                or prev.word.rstrip("\"')]\u00bb\u201d\u2019").endswith(_SENTENCE_END)
            ):
                groups.append(current)
                current = []
        current.append(w)
    if current:
        groups.append(current)
    return groups


def _caption_events(
    words: Sequence[WordTiming], duration: float, width: int, height: int, layout: Layout
) -> list[str]:
    size = round(height * layout.caption_size)
    avail = width * (1 - 2 * layout.side_margin)
    x, y = width // 2, round(height * layout.caption_y)
    events: list[str] = []
    groups = group_words(words)
    for gi, group in enumerate(groups):
        next_start = groups[gi + 1][0].start if gi + 1 < len(groups) else duration
        texts = [escape_ass_text(w.word) for w in group]
        est = CHAR_WIDTH_EM * size * (sum(len(w.word.strip()) for w in group) + len(group) - 1)
        fs = f"\\fs{int(size * avail / est)}" if est > avail else ""
        for i, w in enumerate(group):
            if i + 1 < len(group):
                end = group[i + 1].start  # bridge the short pause to the next word
            else:  # bridge to the next group too, unless that is a real pause
                end = next_start if next_start - w.end <= GROUP_GAP_S else w.end
            start, end = max(0.0, w.start), min(end, duration)
            if round(end * 100) <= round(start * 100):
                continue
            parts = [
                t if j == i else f"{{\\alpha{INACTIVE_ALPHA}}}{t}{{\\alpha&H00&}}"
                for j, t in enumerate(texts)
            ]
            events.append(
                f"Dialogue: 1,{_ass_time(start)},{_ass_time(end)},Caption,,0,0,0,,"
                f"{{\\an5\\pos({x},{y}){fs}}}{' '.join(parts)}"
            )
    return events


def scene_cues(
    script: Script, words: Sequence[WordTiming], duration: float
) -> list[tuple[float, float, str]]:
    """(start, end, text) for the top text: the title over the hook, then each scene's text."""
    parts = [
        (script.hook, script.title),
        *((s.narration, s.on_screen) for s in script.scenes),
        (script.call_to_action, ""),
    ]
    counts = [len(narration.split()) for narration, _ in parts]
    total = sum(counts)
    timed = sorted(words, key=lambda w: w.start)
    if not timed or total == 0:
        return []
    starts: list[float] = []
    cum = 0
    for count in counts:
        idx = round(cum * len(timed) / total)
        starts.append(0.0 if not starts else timed[idx].start if idx < len(timed) else duration)
        cum += count
    starts.append(duration)
    return [
        (starts[k], starts[k + 1], text)
        for k, (_, text) in enumerate(parts)
        if text.strip() and starts[k + 1] > starts[k]
    ]


def build_ass(
    voiceover: Voiceover, script: Script, width: int, height: int, layout: Layout | None = None
) -> str:
    """The ASS subtitle document: top scene text plus word-by-word captions, in the safe area."""
    layout = layout or LAYOUTS[Aspect.nearest(width, height)]
    cap, top = round(height * layout.caption_size), round(height * layout.top_size)
    outline, shadow = max(2, round(cap / 18.5)), max(1, round(cap / 55))
    style = (
        "Style: {name},{font},{size},&H00FFFFFF,&H00FFFFFF,&H00000000,&H96000000,-1,0,0,0,"
        "100,100,0,0,1,{outline},{shadow},{align},{m},{m},{mv},1"
    )
    lines = [
        "[Script Info]",
        "ScriptType: v4.00+",
        f"PlayResX: {width}",
        f"PlayResY: {height}",
        "WrapStyle: 0",
        "ScaledBorderAndShadow: yes",
        "YCbCr Matrix: None",
        "",
        "[V4+ Styles]",
        "Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, "
        "BackColour, Bold, Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, "
        "BorderStyle, Outline, Shadow, Alignment, MarginL, MarginR, MarginV, Encoding",
        style.format(
            name="Caption",
            font=CAPTION_FONT,
            size=cap,
            outline=outline,
            shadow=shadow,
            align=5,
            m=round(width * layout.side_margin),
            mv=0,
        ),
        style.format(
            name="Top",
            font=CAPTION_FONT,
            size=top,
            outline=max(2, outline - 2),
            shadow=shadow,
            align=8,
            m=round(width * (layout.side_margin + 0.02)),
            mv=round(height * (layout.unsafe_top + 0.01)),
        ),
        "",
        "[Events]",
        "Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text",
    ]
    duration = voiceover.duration_s
    for start, end, text in scene_cues(script, voiceover.words, duration):
        lines.append(
            f"Dialogue: 0,{_ass_time(start)},{_ass_time(end)},Top,,0,0,0,,"
            f"{{\\fad(150,150)}}{escape_ass_text(text)}"
        )
    lines += _caption_events(voiceover.words, duration, width, height, layout)
    return "\n".join(lines) + "\n"
