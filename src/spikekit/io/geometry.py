"""Frame geometry of headless ``.dat`` files: head columns, and sizes that cannot go silently wrong.

A ``.dat`` file does not store its height and width, so a wrong size decodes to scrambled images
without any error. Four checks catch it:

- Head columns: some cameras write extra columns in every row that are not pixels (the 250 x 416
  camera: columns 400-415; the 1024-wide model: 500-511 and 1000-1011, see :data:`HEAD_LAYOUTS`).
  They hold the same bits in every frame, which is how :func:`detect_head` finds them;
  ``head=N`` (``--head N``) drops them.
- Row alignment (:func:`check_alignment`): in a TFP image of the first frames of a natural scene,
  neighbouring pixels are alike both along a row and down a column. A wrong width shears the rows
  (and a swapped H x W mixes rows), so the row-to-row correlation collapses while the
  column-to-column one stays high; the size whose image is consistent is then named.
- Pixels that fire as pixels (:func:`check_pixels`): an integrate-and-fire pixel almost never
  fires in two successive spike frames while its firing rate is below 1/2 (its charge restarts
  below the threshold after each spike), nor stays silent in two above it. A wrong height with the
  right width keeps the rows aligned, but each read pixel then takes its bits from a different
  real pixel in every frame, so such back-to-back pairs come at the rate of chance.
- Sizes that do not divide the file: see :func:`spikekit.io.dat.count_frames`.
"""
from __future__ import annotations

import numpy as np
import torch

from .. import ops
from .sidecar import MAX_FRAME_PIXELS

COMMON_SIZES = ((250, 400), (250, 416), (250, 250), (400, 250), (256, 256), (500, 800), (480, 640),
                (720, 1280), (1000, 1000), (1024, 1024))
"""Sensor sizes (height, width) suggested when a file size does not fit the requested H x W."""


class GeometryError(ValueError):
    """The frame size given for a ``.dat`` file is most likely wrong (the message names a better one)."""


HEAD_LAYOUTS = {416: ((400, 416),), 1024: ((500, 512), (1000, 1012))}
"""Row width in the file -> (start, stop) column ranges that are head columns, not pixels."""
LAYOUT_HEADS = {fw: sum(b - a for a, b in layout) for fw, layout in HEAD_LAYOUTS.items()}
"""Row width in the file -> number of head columns in it."""
CHECK_FRAMES = 256
"""Spike frames averaged into the TFP image the checks look at."""
MIN_ALONG = 0.5
"""Column-to-column correlation above which the image is structured enough to judge its rows."""
MIN_GAP = 0.5
"""Row-to-row correlation this far below column-to-column means the rows do not line up."""
MIN_SIDE = 32
"""Images smaller than this (either side) are not judged: too few pixels for the correlations."""
CHECK_PIXELS = 1 << 20
"""The correlations look at the image's first rows, at most this many pixels (bounds the memory
of the check on large frames)."""
PAIR_FRAMES = 64
"""Spike frames whose back-to-back pairs :func:`back_to_back` counts (at least 16 are needed)."""
PAIR_PIXELS = 1 << 17
""":func:`back_to_back` looks at the frames' first rows, at most this many pixels."""
MAX_FIRING_PAIRS = 0.1
"""Back-to-back pairs, as a fraction of chance, at or below which pixels fire as integrate-and-fire
pixels (the REDS-derived streams and the real recording of ``../shared/data``: 0.00-0.02; a
wrong size of a small scene of sharp edges, whose read pixels alternate between a bright and a
dark source, can reach 0.2)."""
MIN_WRONG_PAIRS = 0.5
"""Back-to-back pairs, as a fraction of chance, above which the size read is doubted (a wrong
height of those streams: 0.84-0.99)."""
MIN_EXPECTED_PAIRS = 100
"""Chance pairs below this count (a dark or short stream) are too few to judge."""


def dividing_sizes(nbytes: int) -> list[tuple[int, int]]:
    """The common sensor sizes (h, w) whose frame size divides ``nbytes``."""
    return [(h, w) for h, w in COMMON_SIZES
            if nbytes >= ops.frame_bytes(h, w) and nbytes % ops.frame_bytes(h, w) == 0]


def size_hint(nbytes: int) -> str:
    """Common sensor sizes whose frame size divides ``nbytes`` (for error messages)."""
    def name(h, w):
        head = LAYOUT_HEADS.get(w)
        extra = f"; -W {w - head} --head {head} if it has head columns" if head else ""
        return f"{h}x{w} ({nbytes // ops.frame_bytes(h, w)} frames{extra})"

    fits = [name(h, w) for h, w in dividing_sizes(nbytes)]
    return ("; sizes that divide it: " + ", ".join(fits)) if fits else "; no common sensor size divides it"


def head_columns(file_width: int, head: int) -> np.ndarray:
    """Indices of the head columns of a file row ``file_width`` wide with ``head`` of them.

    The layout of :data:`HEAD_LAYOUTS` when it has ``head`` columns, else the last ``head``.

    Raises:
        ValueError: ``head`` negative or not less than ``file_width``.
    """
    if isinstance(head, bool) or int(head) != head or not 0 <= head < file_width:
        raise ValueError(f"head must be a number of columns in [0, {file_width}), got {head!r}")
    layout = HEAD_LAYOUTS.get(file_width, ())
    cols = np.concatenate([np.arange(a, b) for a, b in layout]) if layout else np.zeros(0, int)
    return cols if len(cols) == head else np.arange(file_width - head, file_width)


def pixel_columns(file_width: int, head: int) -> torch.Tensor:
    """int64 indices of the image columns of a file row (everything but the head columns)."""
    keep = np.setdiff1d(np.arange(file_width), head_columns(file_width, head))
    return torch.from_numpy(keep)


def neighbour_correlations(image: np.ndarray) -> tuple[float, float]:
    """(row-to-row, column-to-column) Pearson correlation of an image with itself shifted by one."""
    def corr(a, b):
        a, b = a.ravel() - a.mean(), b.ravel() - b.mean()
        den = np.sqrt((a * a).sum() * (b * b).sum())
        return float((a * b).sum() / den) if den > 0 else 0.0

    return corr(image[1:], image[:-1]), corr(image[:, 1:], image[:, :-1])


def _tfp(raw: np.ndarray, height: int, width: int, head: int = 0) -> np.ndarray:
    """Mean of the first frames of the raw file bytes decoded as height x (width + head), its
    first rows up to :data:`CHECK_PIXELS` pixels: float32, the fused TFP kernel over all of them
    (window = the frames read, scale 1; straight from the packed bytes, no decoded copy)."""
    nb = ops.frame_bytes(height, width + head)
    n = min(CHECK_FRAMES, raw.size // nb)
    packed = torch.from_numpy(raw[:n * nb]).view(n, nb)
    mean = ops.tfp_packed(packed, height, width + head, torch.tensor([n // 2]), n, 1.0, flip=False)[0]
    mean = mean[:max(2, CHECK_PIXELS // (width + head))]
    if head:
        mean = mean[:, pixel_columns(width + head, head)]
    return mean.numpy()


def detect_head(raw: np.ndarray, height: int, nbytes: int) -> tuple[int, int] | None:
    """A known head layout that fits the file: ``(file_width, head)`` or None.

    Args:
        raw: the file's first bytes (at least :data:`CHECK_FRAMES` frames' worth, or all).
        height: frame height to try.  nbytes: the file's size in bytes.

    A layout fits when its frame size divides the file and, over the first frames, every head
    column holds the same bits in every frame while the pixel columns do not. Frames larger
    than :data:`~spikekit.io.sidecar.MAX_FRAME_PIXELS` are not tried, and at most
    8 x :data:`CHECK_PIXELS` pixels are decoded.
    """
    for file_width, head in LAYOUT_HEADS.items():
        nb = ops.frame_bytes(height, file_width)
        n = min(CHECK_FRAMES, raw.size // nb, max(2, 8 * CHECK_PIXELS // (height * file_width)))
        if nbytes % nb or n < 2 or height * file_width > MAX_FRAME_PIXELS:
            continue
        frames = ops.unpack_spikes(torch.from_numpy(raw[:n * nb].copy()).view(n, nb), height, file_width, False)
        cols, keep = torch.from_numpy(head_columns(file_width, head)), pixel_columns(file_width, head)
        constant = bool((frames[:, :, cols] == frames[:1, :, cols]).all())
        moving = bool((frames[:, :, keep] != frames[:1, :, keep]).any())
        if constant and moving:
            return file_width, head
    return None


def describe_head(file_width: int, head: int) -> str:
    """'columns 400-415' for the head columns of a layout (for messages)."""
    cols = head_columns(file_width, head)
    runs = np.split(cols, np.where(np.diff(cols) != 1)[0] + 1)
    return "columns " + " and ".join(f"{r[0]}-{r[-1]}" for r in runs)


def check_alignment(raw: np.ndarray, height: int, width: int, head: int, nbytes: int,
                    candidates) -> dict | None:
    """Whether the rows of a short TFP line up for height x width; a report when they do not.

    Args:
        raw: the file's first bytes.  height, width, head: the size being read.
        nbytes: file size.  candidates: (h, w) sizes to try instead (those that divide the file
            are tried, and each with the head layouts of :data:`HEAD_LAYOUTS`).

    Two signs of a wrong size: the column-to-column correlation is high and the row-to-row one
    far lower (rows sheared), or both are low while another size gives a consistent image (the
    frames read straddle the real frames' boundaries).

    Returns:
        None when the image is consistent (or no size gives one: noise; or it is smaller than
        :data:`MIN_SIDE`); else a dict with
        ``rows``, ``cols`` (the two correlations), and ``likely`` ((h, w, head) of the size with
        the best row-to-row correlation whose image is consistent, or None) and ``likely_rows``.
    """
    if min(height, width) < MIN_SIDE:
        return None
    rows, cols = neighbour_correlations(_tfp(raw, height, width, head))
    sheared = cols > MIN_ALONG and rows < cols - MIN_GAP  # a wrong width or swapped sizes
    shapeless = max(rows, cols) < MIN_ALONG  # frames straddle frame boundaries (or noise)
    if not (sheared or shapeless):
        return None
    best, best_rows = None, -1.0
    options = {(h, w, 0) for h, w in candidates}
    options |= {(h, fw - LAYOUT_HEADS[fw], LAYOUT_HEADS[fw]) for h, _ in candidates for fw in HEAD_LAYOUTS}
    for h, w, hd in sorted(options):
        nb = ops.frame_bytes(h, w + hd)
        if ((h, w, hd) == (height, width, head) or nbytes % nb or raw.size < 2 * nb or min(h, w) < MIN_SIDE
                or h * (w + hd) > MAX_FRAME_PIXELS):
            continue
        r, c = neighbour_correlations(_tfp(raw, h, w, hd))
        if min(r, c) > MIN_ALONG and r > rows + MIN_GAP and r > best_rows:
            best, best_rows = (h, w, hd), r
    if shapeless and best is None:
        return None  # no size gives an image: noise, not a wrong size
    return {"rows": rows, "cols": cols, "likely": best, "likely_rows": best_rows}


def check_stream(stream, force: bool = False, override: str = "--force") -> list[str]:
    """Check the geometry of an open :class:`~spikekit.io.SpikeStream`; returns warnings.

    Reads the file's first :data:`CHECK_FRAMES` frames (at most 16 MiB). Warns when the stream
    is read with head columns left in (constant columns of a known layout). Raises when the rows
    of a short TFP do not line up and another size that divides the file gives a consistent image
    (with ``force``, or when no size does, that is a warning instead). ``override`` names, in
    the messages, how to read the stream as given (``--force`` on the command line,
    ``strict=False`` in Python).

    Raises:
        GeometryError: naming the file, both correlations and the likely size.
    """
    nbytes = stream.path.stat().st_size
    raw = np.fromfile(stream.path, dtype=np.uint8, count=min(nbytes, 16 << 20))
    h, w, head = stream.height, stream.width, stream.head
    notes = []
    found = detect_head(raw, h, nbytes) if not head else None
    if found and found[0] == w:
        notes.append(f"{stream.path}: {describe_head(*found)} hold the same bits in every frame: head "
                     f"columns of a {h} x {found[0]} camera, not pixels; -W {found[0] - found[1]} "
                     f"--head {found[1]} drops them")
    report = check_alignment(raw, h, w, head, nbytes, set(COMMON_SIZES) | {(w, h)})
    if report is None:
        return notes + check_pixels(stream.path, raw, h, w, head, nbytes, force, override)
    what = (f"{stream.path}: the rows of the {h} x {w} image do not line up (TFP row-to-row "
            f"correlation {report['rows']:.2f} against {report['cols']:.2f} column-to-column)")
    if report["likely"] is None:
        return notes + [what + "; check -H/-W"]
    named, size = _likely(*report["likely"])
    what += f"; the size is likely {named} (row-to-row {report['likely_rows']:.2f}): {size}"
    return notes + _doubt(what, force, override)


def _likely(height: int, width: int, head: int) -> tuple[str, str]:
    """('250 x 400 with 16 head columns', '-H 250 -W 400 --head 16'): a likely size for messages."""
    named = f"{height} x {width}" + (f" with {head} head columns" if head else "")
    return named, f"-H {height} -W {width}" + (f" --head {head}" if head else "")


def _doubt(what: str, force: bool, override: str) -> list[str]:
    """A doubted size: the warning ``[what ...]`` with ``force``, else a :class:`GeometryError`."""
    if force:
        return [what + f"; read as given ({override})"]
    raise GeometryError(what + f" (or {override} to read it as given)")


def back_to_back(raw: np.ndarray, height: int, width: int) -> tuple[float, float] | None:
    """How often pixels fire (or stay silent) in two successive spike frames, against chance.

    Args:
        raw: uint8 (N,), the file's first bytes.  height, width: the frame size read, pixels
            (width of the file's rows, head columns included: being constant, they add nothing).

    Each pixel's minority bit (a spike when its firing rate r over the frames is at most 1/2,
    else a silent frame) is counted in successive pairs of the first :data:`PAIR_FRAMES` frames
    (their first rows, :data:`PAIR_PIXELS` pixels at most), and the count divided by chance,
    (frames - 1) x min(r, 1 - r)^2 summed over the pixels. Integrate-and-fire pixels score near
    0; frames read at a wrong height (each read pixel a different real pixel in every frame) and
    Bernoulli spikes near 1.

    Returns:
        (ratio, chance count), or None when fewer than 16 frames fit in ``raw``.
    """
    nb = ops.frame_bytes(height, width)
    n = min(PAIR_FRAMES, raw.size // nb)
    if n < 16:
        return None
    rows = height if height * width <= PAIR_PIXELS else min(height, max(8, PAIR_PIXELS // width // 8 * 8))
    sub = ops.frame_bytes(rows, width)  # whole rows: a multiple of 8 of them fills whole bytes
    packed = torch.from_numpy(np.ascontiguousarray(raw[:n * nb].reshape(n, nb)[:, :sub]))
    spikes = ops.unpack_spikes(packed, rows, width, False)
    count = torch.zeros((rows, width), dtype=torch.int32)
    for frame in spikes:  # frame by frame: a sum over dim 0 would widen every frame to int32 at once
        count += frame
    minority = spikes.bitwise_xor_((count * 2 > n).to(torch.uint8))  # in place: no second copy
    pairs = int(torch.count_nonzero(minority[1:] & minority[:-1]))
    rate = torch.minimum(count, n - count).double() / n
    chance = float((rate * rate).sum()) * (n - 1)
    return (pairs / chance if chance > 0 else 0.0), chance


def _pair_candidates(raw: np.ndarray, width: int, nbytes: int):
    """(h, w) sizes to try for the likely size, smallest frame first: every height up to the
    tallest of :data:`COMMON_SIZES` that divides the file at ``width``, and the common sizes that
    divide it; only those of which 16 frames fit in ``raw``."""
    largest = min(MAX_FRAME_PIXELS, raw.size // 16 * 8)
    tallest = min(max(h for h, _ in COMMON_SIZES), largest // width)
    sizes = {(h, width) for h in range(MIN_SIDE, tallest + 1) if nbytes % ops.frame_bytes(h, width) == 0}
    sizes |= {(h, w) for h, w in dividing_sizes(nbytes) if h * w <= largest and w >= MIN_SIDE}
    return sorted(sizes, key=lambda hw: (hw[0] * hw[1], hw))


def check_pixels(path, raw: np.ndarray, height: int, width: int, head: int, nbytes: int,
                 force: bool, override: str) -> list[str]:
    """Whether each pixel read at height x width fires as one pixel (:func:`back_to_back`).

    Doubts the size when its back-to-back pairs exceed :data:`MIN_WRONG_PAIRS` of chance and
    another size that divides the file has at most :data:`MAX_FIRING_PAIRS` and a TFP image
    whose neighbours correlate above :data:`MIN_ALONG` both ways (the smallest such frame: a
    multiple of the real height scores as low as it); silent when no size does (noise, or spikes
    from a simulator that draws them at random), or when chance is below
    :data:`MIN_EXPECTED_PAIRS` pairs, or a side is below :data:`MIN_SIDE`. A height that is a
    multiple of the real one (500 x 400 read from 250 x 400 frames) is not caught.

    Returns:
        A warning (with ``force``), or nothing.

    Raises:
        GeometryError: naming the file, both ratios and the likely size (``-H``/``-W``).
    """
    if min(height, width) < MIN_SIDE:
        return []
    given = back_to_back(raw, height, width + head)
    if given is None or given[1] < MIN_EXPECTED_PAIRS or given[0] <= MIN_WRONG_PAIRS:
        return []
    for h, w in _pair_candidates(raw, width + head, nbytes):
        if (h, w) == (height, width + head):
            continue
        hd = head if w == width + head else 0  # the given head layout where the row width is the same
        found = back_to_back(raw, h, w)
        if (found and found[1] >= MIN_EXPECTED_PAIRS and found[0] <= MAX_FIRING_PAIRS
                and min(neighbour_correlations(_tfp(raw, h, w - hd, hd))) > MIN_ALONG):
            break
    else:
        return []
    named, size = _likely(h, w - hd, hd)
    what = (f"{path}: read as {height} x {width}, each pixel takes its bits from a different pixel in "
            f"every spike frame (back-to-back spikes at {given[0]:.2f} of chance, where a camera's "
            f"pixel has almost none); the size is likely {named} ({found[0]:.2f}): {size}")
    return _doubt(what, force, override)
