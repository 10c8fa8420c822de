"""Tests for services.video: a real (short) ffmpeg render, probed and sampled frame by frame."""

from __future__ import annotations

import asyncio
import itertools
import os
import wave
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
import pytest_asyncio
from PIL import Image

from services.content import Scene, Script, Voiceover, WordTiming
from services.video import (
    Aspect,
    RenderError,
    RenderResult,
    build_ass,
    escape_ass_text,
    escape_filter_value,
    frame_at,
    group_words,
    inspect_footage,
    palette,
    probe_media,
    render_short,
    scene_cues,
    seed_for,
)
from services.video_aspect import LAYOUTS
from services.video_ffmpeg import run_ffmpeg

DURATION_S = 6.0
FIRST = [f"w{i}" for i in range(5)]
SECOND = [f"x{i}" for i in range(5)]


def write_wav(path: Path, duration_s: float, rate: int = 16_000) -> Path:
    """A mono 16-bit WAV holding a quiet 220 Hz tone."""
    t = np.arange(int(duration_s * rate)) / rate
    samples = (0.25 * 32767 * np.sin(2 * np.pi * 220 * t)).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(samples.tobytes())
    return path


def timings() -> tuple[WordTiming, ...]:
    """Five words from 0.1 s to 2.5 s, a silent gap until 3.5 s, five more words to 5.7 s."""
    first = [WordTiming(w, 0.1 + 0.5 * i, 0.5 + 0.5 * i) for i, w in enumerate(FIRST)]
    second = [WordTiming(w, 3.5 + 0.45 * i, 3.9 + 0.45 * i) for i, w in enumerate(SECOND)]
    return (*first, *second)


def make_script() -> Script:
    """A script with three scenes whose narration matches the synthetic words."""
    return Script(
        title="Test title",
        hook="w0 w1",
        scenes=(
            Scene(narration="w2 w3 w4", on_screen="Scene one"),
            Scene(narration="x0 x1", on_screen="Scene two"),
            Scene(narration="x2 x3", on_screen="Scene three"),
        ),
        call_to_action="x4",
    )


def make_voiceover(tmp: Path, duration_s: float = DURATION_S) -> Voiceover:
    """A synthetic voiceover: tone WAV plus hand-made word timings."""
    return Voiceover(write_wav(tmp / "voice.wav", duration_s), duration_s, timings())


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def rendered(tmp_path_factory: pytest.TempPathFactory) -> RenderResult:
    """One real render shared by the tests that only inspect its output."""
    work = tmp_path_factory.mktemp("render")
    return await render_short(
        voiceover=make_voiceover(work), script=make_script(), out_dir=work / "out", seed=42
    )


def white_in_caption_band(frame: npt.NDArray[np.uint8]) -> int:
    """How many near-white pixels lie in the caption band (lower-middle of the frame)."""
    h = frame.shape[0]
    band = frame[int(h * 0.60) : int(h * 0.76)]
    return int((band > 230).all(axis=2).sum())


@pytest.mark.slow
async def test_render_is_vertical_h264_with_one_aac_track(rendered: RenderResult) -> None:
    info = await probe_media(rendered.video_path)
    assert abs(info.duration_s - DURATION_S) <= 0.5
    assert (info.width, info.height) == (1080, 1920)
    assert info.video_codec == "h264"
    assert info.fps == 30
    assert info.audio_streams == 1
    assert info.audio_codec == "aac"
    assert (rendered.width, rendered.height) == (1080, 1920)
    assert abs(rendered.duration_s - DURATION_S) <= 0.5


@pytest.mark.slow
async def test_out_dir_holds_only_the_video_and_thumbnail(rendered: RenderResult) -> None:
    names = sorted(p.name for p in rendered.video_path.parent.iterdir())
    assert names == sorted([rendered.video_path.name, rendered.thumbnail_path.name])
    assert (rendered.video_path.name, rendered.thumbnail_path.name) == (
        "video.mp4",
        "thumbnail.png",
    )
    assert rendered.video_path.read_bytes()[4:8] == b"ftyp"


@pytest.mark.slow
async def test_captions_shown_while_spoken_and_hidden_in_the_gap(rendered: RenderResult) -> None:
    spoken = [0.3, 1.3, 2.3, 3.7, 5.5]  # middles of w0, w2, w4, x0, x4
    silent = [0.03, 2.8, 3.0, 3.3]  # before the first word, and in the 2.5 s - 3.5 s gap
    lit = [white_in_caption_band(await frame_at(rendered.video_path, t)) for t in spoken]
    dark = [white_in_caption_band(await frame_at(rendered.video_path, t)) for t in silent]
    assert min(lit) > 40, lit
    assert max(dark) <= 2, dark


@pytest.mark.slow
async def test_frame_at_returns_scaled_rgb(rendered: RenderResult) -> None:
    frame = await frame_at(rendered.video_path, 1.0, width=90, height=160)
    assert frame.shape == (160, 90, 3)
    assert frame.dtype == np.uint8


@pytest.mark.slow
async def test_thumbnail_is_a_valid_png(rendered: RenderResult) -> None:
    assert rendered.thumbnail_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(rendered.thumbnail_path) as img:
        img.verify()
    with Image.open(rendered.thumbnail_path) as img:
        assert img.format == "PNG"
        assert img.size == (720, 1280)


async def test_missing_audio_raises_and_leaves_no_files(tmp_path: Path) -> None:
    voice = Voiceover(tmp_path / "nope.wav", DURATION_S, timings())
    out = tmp_path / "out"
    with pytest.raises(RenderError, match=r"nope\.wav"):
        await render_short(voiceover=voice, script=make_script(), out_dir=out)
    assert not out.exists() or list(out.iterdir()) == []


@pytest.mark.slow
async def test_ffmpeg_failure_raises_with_stderr_and_leaves_no_files(tmp_path: Path) -> None:
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF this is not really a wav file at all" * 10)
    out = tmp_path / "out"
    with pytest.raises(RenderError, match="ffmpeg render failed") as err:
        await render_short(
            voiceover=Voiceover(bad, DURATION_S, timings()), script=make_script(), out_dir=out
        )
    assert "bad.wav" in str(err.value) or "Invalid" in str(err.value)
    assert list(out.iterdir()) == []


def _child_pids() -> set[str]:
    path = Path(f"/proc/{os.getpid()}/task/{os.getpid()}/children")
    return set(path.read_text().split()) if path.exists() else set()


@pytest.mark.slow
async def test_cancelled_render_kills_ffmpeg_and_leaves_no_files(tmp_path: Path) -> None:
    voice = make_voiceover(tmp_path, duration_s=60.0)
    out = tmp_path / "out"
    before = _child_pids()
    task = asyncio.create_task(render_short(voiceover=voice, script=make_script(), out_dir=out))
    for _ in range(100):
        await asyncio.sleep(0.05)
        if any(p.name.endswith(".part.mp4") for p in out.glob(".*")):
            break
    assert not task.done()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert list(out.iterdir()) == []
    assert _child_pids() <= before


@pytest.mark.slow
async def test_render_into_a_directory_with_filtergraph_special_characters(tmp_path: Path) -> None:
    work = tmp_path / "it's: a [dir], ok; 100%"
    work.mkdir()
    voice = Voiceover(
        write_wav(work / "voice.wav", 2.0),
        2.0,
        (WordTiming("hi", 0.2, 0.8), WordTiming("there", 1.0, 1.6)),
    )
    result = await render_short(
        voiceover=voice, script=make_script(), out_dir=work / "o", scale=1 / 3
    )
    frame = await frame_at(result.video_path, 0.5, width=360, height=640)
    assert white_in_caption_band(frame) > 40
    with Image.open(result.thumbnail_path) as img:
        assert img.size == (360, 640)


async def test_probe_of_a_missing_file_raises(tmp_path: Path) -> None:
    with pytest.raises(RenderError):
        await probe_media(tmp_path / "missing.mp4")


def test_ass_text_escaping_neutralises_tags_and_line_breaks() -> None:
    assert escape_ass_text("a{\\b1}b") == "a\\{\\\u2060b1\\}b"
    assert escape_ass_text("one\ntwo\r\nthree\tfour") == "one two three four"
    assert "\\N" not in escape_ass_text("x\\Ny")
    assert escape_ass_text("plain, text!") == "plain, text!"


def test_filter_value_escaping() -> None:
    assert escape_filter_value("/a/b.ass") == "/a/b.ass"
    assert escape_filter_value("a:b") == "a\\\\:b"
    assert escape_filter_value("a,b[c];'d'") == "a\\,b\\[c\\]\\;\\\\\\'d\\\\\\'"


def test_words_are_grouped_at_pauses_and_limits() -> None:
    groups = group_words(timings())
    assert [[w.word for w in g] for g in groups] == [
        ["w0", "w1", "w2"],
        ["w3", "w4"],
        ["x0", "x1", "x2"],
        ["x3", "x4"],
    ]
    long = [WordTiming("incomprehensibilities", 0.0, 0.5), WordTiming("yes", 0.5, 0.9)]
    assert [len(g) for g in group_words(long)] == [1, 1]
    sentence = [WordTiming("End.", 0.0, 0.4), WordTiming("Next", 0.45, 0.8)]
    assert [len(g) for g in group_words(sentence)] == [1, 1]


def test_build_ass_has_one_caption_event_per_word_and_scene_text() -> None:
    voice = Voiceover(Path("unused.wav"), DURATION_S, timings())
    doc = build_ass(voice, make_script(), 1080, 1920)
    captions = [ln for ln in doc.splitlines() if ln.startswith("Dialogue: 1,")]
    assert len(captions) == 10
    assert captions[0].startswith("Dialogue: 1,0:00:00.10,0:00:00.60,Caption,")
    assert ",0:00:02.50,Caption," in captions[4]  # w4 ends at its own end, before the gap
    assert "PlayResX: 1080" in doc and "DejaVu Sans" in doc
    for text in ("Test title", "Scene one", "Scene two", "Scene three"):
        assert text in doc


def test_scene_cues_follow_narration() -> None:
    cues = scene_cues(make_script(), timings(), DURATION_S)
    assert [c[2] for c in cues] == ["Test title", "Scene one", "Scene two", "Scene three"]
    assert cues[0][0] == 0.0
    assert cues[1][0] == pytest.approx(1.1)  # w2 starts
    assert cues[2][0] == pytest.approx(3.5)  # x0 starts
    assert all(a[1] == b[0] for a, b in itertools.pairwise(cues))


def test_seed_and_palette_are_stable() -> None:
    assert seed_for("Octopus", "fun") == seed_for("octopus ", "FUN")
    assert seed_for("a") != seed_for("b")
    assert palette(3) == palette(3)
    assert palette(3) != palette(4)
    assert all(c.startswith("0x") and len(c) == 8 for c in palette(5))


# --- footage, aspects, safe area, music -------------------------------------------------------

DARK = "lutrgb=r=val*0.55:g=val*0.55:b=val*0.55"  # footage never reaches caption white
CLIP_SOURCES = (
    f"testsrc2=s=1920x1080:r=30,{DARK}",
    f"mandelbrot=s=480x270:r=30,scale=1920:1080,{DARK}",
    f"smptehdbars=s=1920x1080:r=30,hue=H=2*t,{DARK}",
)


async def make_clip(path: Path, source: str, seconds: float = 2.0) -> Path:
    """A short H.264 clip from an ffmpeg lavfi source."""
    encode = ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]
    await run_ffmpeg(["-f", "lavfi", "-i", source, "-t", f"{seconds}", *encode, str(path)], "clip")
    return path


def white(frame: npt.NDArray[np.uint8], top: float, bottom: float) -> int:
    """Near-white pixels between two heights given as fractions of the frame."""
    h = frame.shape[0]
    return int((frame[int(h * top) : int(h * bottom)] > 230).all(axis=2).sum())


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def footage_render(tmp_path_factory: pytest.TempPathFactory) -> RenderResult:
    """Three landscape clips rendered into 9:16 and 1:1 at full size."""
    work = tmp_path_factory.mktemp("footage")
    clips = [await make_clip(work / f"c{i}.mp4", src) for i, src in enumerate(CLIP_SOURCES)]
    footage = [await inspect_footage(c) for c in clips]
    return await render_short(
        voiceover=make_voiceover(work),
        script=make_script(),
        out_dir=work / "out",
        footage=footage,
        aspects=(Aspect.VERTICAL, Aspect.SQUARE),
    )


@pytest.mark.slow
async def test_footage_render_writes_one_file_per_aspect(footage_render: RenderResult) -> None:
    assert set(footage_render.outputs) == {Aspect.VERTICAL, Aspect.SQUARE}
    assert footage_render.video_path == footage_render.outputs[Aspect.VERTICAL]
    names = sorted(p.name for p in footage_render.video_path.parent.iterdir())
    assert names == ["thumbnail.png", "video.mp4", "video_1x1.mp4"]
    for aspect, size in ((Aspect.VERTICAL, (1080, 1920)), (Aspect.SQUARE, (1080, 1080))):
        info = await probe_media(footage_render.outputs[aspect])
        assert (info.width, info.height) == size
        assert abs(info.duration_s - DURATION_S) <= 0.5
        assert (info.video_codec, info.audio_streams, info.audio_codec) == ("h264", 1, "aac")


@pytest.mark.slow
async def test_captions_over_footage_stay_in_the_safe_area(footage_render: RenderResult) -> None:
    spoken, silent = [0.3, 1.3, 2.3, 3.7, 5.5], [0.03, 2.8, 3.3]
    for aspect, (w, h), band in (
        (Aspect.VERTICAL, (270, 480), (0.60, 0.76)),
        (Aspect.SQUARE, (300, 300), (0.62, 0.82)),
    ):
        layout = LAYOUTS[aspect]
        path = footage_render.outputs[aspect]
        lit = [await frame_at(path, t, width=w, height=h) for t in spoken]
        dark = [await frame_at(path, t, width=w, height=h) for t in silent]
        assert min(white(f, *band) for f in lit) > 40, aspect
        assert max(white(f, *band) for f in dark) <= 2, aspect
        for frame in lit + dark:  # nothing under the platform's UI, top or bottom
            assert white(frame, 1 - layout.unsafe_bottom, 1.0) == 0, aspect
            assert white(frame, 0.0, layout.unsafe_top) == 0, aspect
    assert LAYOUTS[Aspect.VERTICAL].unsafe_bottom >= 0.2
    assert LAYOUTS[Aspect.VERTICAL].unsafe_top >= 0.12


def write_tone_wav(
    path: Path, duration_s: float, freq: float, spans: list[tuple[float, float]]
) -> Path:
    """A mono WAV with a tone at freq during the given spans and silence elsewhere."""
    rate = 16_000
    t = np.arange(int(duration_s * rate)) / rate
    on = np.zeros_like(t)
    for a, b in spans:
        on[(t >= a) & (t < b)] = 1.0
    samples = (0.3 * 32767 * on * np.sin(2 * np.pi * freq * t)).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(samples.tobytes())
    return path


async def tone_level(path: Path, freq: float, start: float, end: float) -> float:
    """Amplitude of one frequency in the decoded audio between two times."""
    raw = await run_ffmpeg(
        ["-i", str(path), "-vn", "-ac", "1", "-ar", "48000", "-f", "f32le", "-"],
        "audio decode",
        want_stdout=True,
    )
    audio = np.frombuffer(raw, dtype="<f4")[int(start * 48000) : int(end * 48000)]
    spectrum = np.abs(np.fft.rfft(audio * np.hanning(len(audio))))
    freqs = np.fft.rfftfreq(len(audio), 1 / 48000)
    return float(spectrum[np.abs(freqs - freq) < 15].max() / len(audio))


@pytest.mark.slow
async def test_music_is_ducked_under_speech_and_faded_out(tmp_path: Path) -> None:
    words = timings()
    voice_wav = write_tone_wav(
        tmp_path / "voice.wav", DURATION_S, 220, [(w.start, w.end) for w in words]
    )
    music = write_tone_wav(tmp_path / "music.wav", 4.0, 1000, [(0.0, 4.0)])  # loops to fill
    result = await render_short(
        voiceover=Voiceover(voice_wav, DURATION_S, words),
        script=make_script(),
        out_dir=tmp_path / "out",
        music=music,
        scale=1 / 6,
    )
    video = result.video_path
    assert (await probe_media(video)).audio_streams == 1
    speech = await tone_level(video, 1000, 0.8, 2.2)  # inside the first run of words
    gap = await tone_level(video, 1000, 2.9, 3.3)  # the pause: music back up
    end = await tone_level(video, 1000, DURATION_S - 0.15, DURATION_S - 0.01)
    voice = await tone_level(video, 220, 0.8, 2.2)
    assert gap > 0.01 and voice > 0.01
    assert speech < gap / 2.5, (speech, gap)  # ducked by about 12 dB
    assert end < speech / 2, (end, speech)  # ducked and fading to silence
