"""Output aspect ratios, their sizes and file names, and the safe area platform UI leaves."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Aspect(StrEnum):
    """An output aspect ratio; each is rendered to its own file."""

    VERTICAL = "9:16"
    LANDSCAPE = "16:9"
    SQUARE = "1:1"

    @property
    def size(self) -> tuple[int, int]:
        """Full-size (width, height) in pixels."""
        return _SIZES[self]

    def scaled(self, scale: float = 1.0) -> tuple[int, int]:
        """(width, height) at `scale` of full size, rounded to even numbers."""
        w, h = self.size
        return max(2, round(w * scale / 2) * 2), max(2, round(h * scale / 2) * 2)

    @property
    def file_name(self) -> str:
        """The output's file name inside out_dir (the chat preview relies on video.mp4)."""
        return _FILE_NAMES[self]

    @classmethod
    def nearest(cls, width: int, height: int) -> Aspect:
        """The aspect whose ratio is closest to width:height."""
        ratio = width / height
        return min(cls, key=lambda a: abs(a.size[0] / a.size[1] - ratio))


_SIZES = {
    Aspect.VERTICAL: (1080, 1920),
    Aspect.LANDSCAPE: (1920, 1080),
    Aspect.SQUARE: (1080, 1080),
}
_FILE_NAMES = {
    Aspect.VERTICAL: "video.mp4",
    Aspect.LANDSCAPE: "video_16x9.mp4",
    Aspect.SQUARE: "video_1x1.mp4",
}


@dataclass(frozen=True)
class Layout:
    """Where text goes, as fractions of the frame height, keeping clear of platform UI."""

    unsafe_top: float  # the top strip covered by the platform's header / search bar
    unsafe_bottom: float  # the bottom strip covered by captions, buttons, progress bar
    caption_y: float  # centre of the word-caption line
    caption_size: float  # caption font size
    top_size: float  # font size of the scene text at the top of the safe area
    side_margin: float  # left/right margin as a fraction of the frame width

    def check(self) -> None:
        """Raise ValueError unless the caption line fits inside the safe area."""
        half = self.caption_size * 0.75  # half a line, with outline and descenders
        if not (self.unsafe_top < self.caption_y - half < self.caption_y + half) or (
            self.caption_y + half > 1 - self.unsafe_bottom
        ):
            raise ValueError(f"caption line outside the safe area: {self}")


LAYOUTS = {
    # TikTok / Reels / Shorts cover roughly the top 12% and the bottom 20% of a 9:16 frame.
    Aspect.VERTICAL: Layout(0.12, 0.20, 0.68, 0.058, 0.036, 0.06),
    # YouTube's player keeps its controls and progress bar in the bottom ~15%.
    Aspect.LANDSCAPE: Layout(0.08, 0.15, 0.74, 0.075, 0.05, 0.10),
    # Feed squares: the like bar and caption overlay take the bottom ~15%.
    Aspect.SQUARE: Layout(0.10, 0.15, 0.72, 0.07, 0.045, 0.07),
}
for _layout in LAYOUTS.values():
    _layout.check()
