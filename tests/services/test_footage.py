"""Tests for services.footage: probing by content, focus, crops, and renders from footage."""

from __future__ import annotations

import shutil
from pathlib import Path

import matplotlib.cbook
import numpy as np
import pytest
from PIL import Image

from services.content import Voiceover, WordTiming
from services.footage import (
    CENTRE,
    Focus,
    Footage,
    FootageError,
    crop_window,
    focus_inside,
    inspect_footage,
    library_footage,
)
from services.footage_focus import analyse_footage, find_focus
from services.video import Aspect, frame_at, probe_media, render_short
from services.video_faces import detect_faces
from services.video_ffmpeg import run_ffmpeg
from services.video_graph import Slot, concat_list, group_runs, plan_slots
from tests.services.test_video import make_clip, make_script, write_wav

FACE_LEFT = 1300  # where the photo's left edge goes in the 1920x1080 fixture (face far right)


def hopper() -> Path:
    """The Grace Hopper photo that ships with matplotlib."""
    return Path(str(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)))


def face_scene(path: Path, left: int = FACE_LEFT) -> Path:
    """A 1920x1080 PNG: the photo (512x600) placed at `left` over a plain grey-blue field."""
    canvas = Image.new("RGB", (1920, 1080), (70, 80, 95))
    with Image.open(hopper()) as photo:
        canvas.paste(photo.convert("RGB"), (left, 240))
    canvas.save(path, format="PNG")
    return path


async def face_video(path: Path, x: str = "60") -> Path:
    """A 2 s 1920x1080 clip with the photo at x (an expression of t) over a plain background."""
    background = "color=c=0x465060:s=1920x1080:r=30:d=2"
    graph = f"[0:v][1:v]overlay=x='{x}':y=240,format=yuv420p"
    encode = ["-t", "2", "-c:v", "libx264", "-preset", "ultrafast", str(path)]
    await run_ffmpeg(
        ["-f", "lavfi", "-i", background, "-i", str(hopper()), "-filter_complex", graph, *encode],
        "face clip",
    )
    return path


async def test_a_text_file_named_mp4_is_refused(tmp_path: Path) -> None:
    fake = tmp_path / "holiday.mp4"
    fake.write_text("this is not a video, just some words\n" * 20)
    with pytest.raises(FootageError, match=r"holiday\.mp4 is not a video or an image"):
        await inspect_footage(fake)


async def test_a_png_named_mp4_is_an_image(tmp_path: Path) -> None:
    disguised = tmp_path / "clip.mp4"
    Image.new("RGB", (320, 200), (10, 200, 30)).save(disguised, format="PNG")
    footage = await inspect_footage(disguised)
    assert (footage.kind, footage.width, footage.height) == ("image", 320, 200)
    assert footage.duration_s is None


async def test_a_video_is_probed_and_audio_is_refused(tmp_path: Path) -> None:
    clip = await make_clip(tmp_path / "c.mov", "testsrc2=s=640x360:r=25", seconds=1.0)
    footage = await inspect_footage(clip)
    assert (footage.kind, footage.width, footage.height, footage.codec) == (
        "video",
        640,
        360,
        "h264",
    )
    assert footage.duration_s == pytest.approx(1.0, abs=0.1)
    with pytest.raises(FootageError):
        await inspect_footage(write_wav(tmp_path / "voice.mp4", 1.0))
    with pytest.raises(FootageError, match="no such file"):
        await inspect_footage(tmp_path / "missing.jpg")


async def test_rotation_and_exif_orientation_give_displayed_size(tmp_path: Path) -> None:
    clip = await make_clip(tmp_path / "land.mp4", "testsrc2=s=320x180:r=25", seconds=0.5)
    rotated = tmp_path / "phone.mp4"
    await run_ffmpeg(
        ["-display_rotation", "90", "-i", str(clip), "-c", "copy", str(rotated)], "rot"
    )
    video = await inspect_footage(rotated)
    assert (video.width, video.height, video.rotation) == (180, 320, 270)  # 90 ccw
    photo = tmp_path / "photo.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # stored landscape, shown turned 90 degrees clockwise
    Image.new("RGB", (300, 200), (90, 90, 90)).save(photo, exif=exif)
    image = await inspect_footage(photo)
    assert (image.kind, image.width, image.height, image.rotation) == ("image", 200, 300, 90)


async def test_library_lists_media_and_skips_the_rest(tmp_path: Path) -> None:
    face_scene(tmp_path / "b_face.png")
    await make_clip(tmp_path / "a_clip.mp4", "testsrc2=s=320x180:r=25", seconds=0.5)
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / ".hidden.png").write_bytes(b"")
    found = await library_footage(tmp_path)
    assert [(f.path.name, f.kind) for f in found] == [
        ("a_clip.mp4", "video"),
        ("b_face.png", "image"),
    ]


async def test_face_near_the_edge_is_kept_in_the_vertical_crop(tmp_path: Path) -> None:
    footage = await inspect_footage(face_scene(tmp_path / "scene.png"))
    focus = await analyse_footage(footage, 3.0)
    assert focus.method == "face"
    assert focus.x > 0.7  # the face is on the right
    w, h = Aspect.VERTICAL.size
    crop = crop_window(footage.width, footage.height, w, h, focus)
    centre = crop_window(footage.width, footage.height, w, h, CENTRE)
    face = focus.faces[0]
    assert focus_inside(crop, face, (footage.width, footage.height))
    assert not focus_inside(centre, face, (footage.width, footage.height))  # a centre crop fails
    assert (crop.w, crop.h) == (608, 1080) and 0 <= crop.x <= 1920 - crop.w


async def test_face_in_a_video_moves_the_crop_left(tmp_path: Path) -> None:
    footage = await inspect_footage(await face_video(tmp_path / "face.mp4"))
    focus = await analyse_footage(footage, 2.0)
    assert focus.method == "face" and focus.x < 0.3
    crop = crop_window(1920, 1080, 1080, 1920, focus)
    assert crop.x < 200


@pytest.mark.slow
async def test_a_moving_face_is_followed_by_a_panning_crop(tmp_path: Path) -> None:
    clip = await face_video(tmp_path / "walk.mp4", x="60+t*650")  # left edge to the right
    footage = await inspect_footage(clip)
    focus = await analyse_footage(footage, 2.0)
    assert focus.method == "face" and len(focus.track) >= 4
    xs = [x for _, x, _ in focus.track]
    assert xs == sorted(xs) and xs[-1] - xs[0] > 0.3
    voice = Voiceover(write_wav(tmp_path / "v.wav", 2.0), 2.0, ())
    result = await render_short(
        voiceover=voice, script=make_script(), out_dir=tmp_path / "out", footage=[footage]
    )
    for t in (0.2, 1.0, 1.8):  # a fixed crop would lose the face at one end or the other
        frame = await frame_at(result.video_path, t, width=540, height=960)
        assert detect_faces(np.ascontiguousarray(frame[:, :, ::-1])), t


def test_motion_draws_the_focus_when_there_is_no_face() -> None:
    frames = np.full((6, 180, 320, 3), 40, dtype=np.uint8)
    for i in range(6):  # a bright square moving down the right-hand third
        frames[i, 20 + 20 * i : 60 + 20 * i, 240:280] = 220
    focus = find_focus(frames)
    assert focus.method == "motion" and focus.x > 0.7
    still = np.full((2, 180, 320, 3), 40, dtype=np.uint8)
    still[:, 60:120, 20:80] = (30, 200, 30)  # one static object on the left
    assert find_focus(still).method == "saliency" and find_focus(still).x < 0.35
    assert find_focus(np.zeros((2, 90, 160, 3), dtype=np.uint8)) == CENTRE


@pytest.mark.parametrize("aspect", list(Aspect))
@pytest.mark.parametrize("src", [(1920, 1080), (1080, 1920), (1000, 1000), (4000, 3000)])
def test_crop_windows_fit_have_the_aspect_and_are_even(
    aspect: Aspect, src: tuple[int, int]
) -> None:
    w, h = aspect.size
    for fx in (0.0, 0.3, 1.0):
        c = crop_window(*src, w, h, Focus(fx, 1 - fx, "saliency"))
        assert c.x >= 0 and c.x + c.w <= src[0] and c.y >= 0 and c.y + c.h <= src[1]
        assert c.w % 2 == c.h % 2 == c.x % 2 == c.y % 2 == 0
        assert abs(c.w / c.h - w / h) < 0.01
        assert c.w == src[0] or c.h == src[1]  # as large as the source allows


def _fake(name: str, kind: str = "video", rotation: int = 0) -> Footage:
    dur = 3.0 if kind == "video" else None
    return Footage(Path(name), kind, dur, 1920, 1080, "h264", "yuv420p", rotation)  # type: ignore[arg-type]


def test_slots_runs_and_concat_lists() -> None:
    clips = [_fake("a"), _fake("b"), _fake("i", "image"), _fake("c"), _fake("r", rotation=90)]
    planned = plan_slots(clips, 10.0)
    assert [round(s, 3) for _, s, _ in planned] == [0.0, 2.0, 4.0, 6.0, 8.0]
    assert plan_slots(clips, 4.0) == [(clips[0], 0.0, 2.0), (clips[1], 2.0, 2.0)]
    slots = [Slot(f, s, n, CENTRE) for f, s, n in planned]
    assert [[s.footage.path.name for s in run] for run in group_runs(slots)] == [
        ["a", "b"],
        ["i"],
        ["c"],
        ["r"],
    ]
    long = [Slot(_fake("a"), 0.0, 7.0, CENTRE), Slot(_fake("b"), 7.0, 1.0, CENTRE)]
    text, entries = concat_list(long)  # a 3 s clip looped into 7 s, then one cut to 1 s
    assert [n for _, n in entries] == [3.0, 3.0, 1.0, 1.0]
    assert [a for a, _ in entries] == [0.0, 4.0, 8.0, 10.0]  # a second of spare after each
    assert text.count("outpoint") == 4 and text.startswith("ffconcat version 1.0")


@pytest.mark.slow
async def test_render_from_a_face_image_keeps_the_face_and_thumbnails_it(tmp_path: Path) -> None:
    scene = await inspect_footage(face_scene(tmp_path / "scene.png"))
    dull = await inspect_footage(
        await make_clip(tmp_path / "dull.mp4", "color=c=0x202020:s=1920x1080:r=30", 2.0)
    )
    words = (WordTiming("hello", 0.2, 0.7), WordTiming("there", 2.2, 2.8))
    voice = Voiceover(write_wav(tmp_path / "v.wav", 4.0), 4.0, words)
    result = await render_short(
        voiceover=voice,
        script=make_script(),
        out_dir=tmp_path / "out",
        footage=[dull, scene],
        aspects=(Aspect.VERTICAL,),
        scale=0.5,
    )
    info = await probe_media(result.video_path)
    assert (info.width, info.height) == (540, 960) and abs(info.duration_s - 4.0) <= 0.5
    frame = await frame_at(result.video_path, 3.0, width=540, height=960)
    assert detect_faces(np.ascontiguousarray(frame[:, :, ::-1]))  # the face made it into 9:16
    with Image.open(result.thumbnail_path) as img:
        thumb = np.asarray(img.convert("RGB"))[:, :, ::-1]
    assert detect_faces(np.ascontiguousarray(thumb))  # the thumbnail shows the face too


@pytest.mark.slow
async def test_images_and_rotated_clips_render_as_their_own_segments(tmp_path: Path) -> None:
    land = await make_clip(tmp_path / "land.mp4", "testsrc2=s=640x360:r=25", seconds=1.0)
    rotated = tmp_path / "phone.mp4"
    await run_ffmpeg(
        ["-display_rotation", "90", "-i", str(land), "-c", "copy", str(rotated)], "rot"
    )
    image, turned = tmp_path / "pic.jpg", tmp_path / "turned.jpg"
    shutil.copy(hopper(), image)
    exif = Image.Exif()
    exif[0x0112] = 8  # shown turned 90 degrees counter-clockwise: 600x512 as displayed
    with Image.open(hopper()) as photo:
        photo.save(turned, exif=exif)
    probed = [await inspect_footage(p) for p in (land, image, rotated, turned, land)]
    # as the jobs build them from library rows: no codec, pixel format or rotation
    footage = [Footage(f.path, f.kind, f.duration_s, f.width, f.height) for f in probed]
    voice = Voiceover(write_wav(tmp_path / "v.wav", 7.5), 7.5, (WordTiming("hi", 0.5, 1.0),))
    result = await render_short(
        voiceover=voice,
        script=make_script(),
        out_dir=tmp_path / "out",
        footage=footage,
        aspects=(Aspect.LANDSCAPE, Aspect.VERTICAL),
        scale=1 / 6,
    )
    assert result.video_path.name == "video_16x9.mp4"
    for aspect, size in ((Aspect.LANDSCAPE, (320, 180)), (Aspect.VERTICAL, (180, 320))):
        info = await probe_media(result.outputs[aspect])
        assert (info.width, info.height) == size and abs(info.duration_s - 7.5) <= 0.5
