"""Scene comparison: a frame's thumbnail against the camera's reference, for moved, occluded and drift."""

from __future__ import annotations

import math

import attrs
import cv2
import numpy as np

from watchkeeper.analysis.metrics import Metrics, edge_gradients, log_spread

#: Scene cells: about CELL_SIDE thumbnail pixels a side, at most CELL_GRID_MAX a row or column.
CELL_SIDE, CELL_GRID_MAX = 4, 32
#: A reference cell is textured at this std; it is judged if the frame's gain leaves VISIBLE_STD of
#: it; it went flat below FLAT_RATIO of what the gain predicts; it matches above MATCH_CORRELATION.
TEXTURE_STD, VISIBLE_STD, FLAT_RATIO, MATCH_CORRELATION = 4.0, 1.0, 0.4, 0.6
#: Below this correlation a cell textured in both frames shows something else.
UNLIKE_CORRELATION = 0.2
#: The exposure change is measured on the matching cells if there are this many (and a tenth of all).
GAIN_CELLS_MIN = 5
#: A plain cell is covered when its brightness moved this far (gray levels) from the prediction; a
#: textured one that went flat counts for occluded_moved_fraction when its brightness moved
#: FLAT_MEAN_SHIFT too (blur keeps it).
PLAIN_SHIFT_MIN = 12.0
FLAT_MEAN_SHIFT = 6.0
#: Weaker signs of a cover, counted only in cells that continue a covered region's surface: a
#: plain cell whose brightness moved COVER_DRIFT_MIN from the prediction, or whose faint structure
#: (a sky's gradient, the moon's mottling: FAINT_STD and more) went flat; a neighbour continues the
#: surface when their brightness differs by COVER_STEP_MAX at most.
COVER_DRIFT_MIN = 4.0
FAINT_STD = 1.5
COVER_STEP_MAX = 3.0
#: A thumbnail pixel averages 64; one at SCENE_CLIPPED or above has clipped ones in it, and the
#: texture of a cell with more than CLIPPED_SHARE_MAX of those is not judged.
SCENE_CLIPPED = 235
CLIPPED_SHARE_MAX = 0.15
#: A turned camera is looked for when the scene match is below TURN_SEARCH_BELOW, among
#: TURN_ANGLES; the best turn is measured if undoing it raises the phase-correlation peak by
#: TURN_RESPONSE_GAIN (the check then asks whether it restores the cells' match).
TURN_SEARCH_BELOW = 0.8
TURN_ANGLES = tuple(a for a in range(-15, 16) if abs(a) >= 2)
TURN_RESPONSE_GAIN = 0.05
#: Colour drift against the reference: the halved thumbnails are cut into COLOUR_GRID x COLOUR_GRID
#: regions; a region with COLOUR_PAIRS_MIN unclipped neighbour pairs gives a log gain per channel,
#: and the drift is their weighted median when COLOUR_REGIONS_MIN regions give one.
COLOUR_GRID, COLOUR_PAIRS_MIN, COLOUR_REGIONS_MIN = 3, 32, 5
#: Scene match is taken on cells clear of the cover's fringe when at least this share of the judged
#: textured cells are clear.
VISIBLE_SHARE = 0.15


@attrs.frozen
class SceneComparison:
    """How a frame differs from the camera's reference view, measured on the thumbnails.

    The thumbnails are cut into cells; a cell textured in the reference is *judged* unless the
    frame clipped it to white or the frame's contrast (its gain against the reference) leaves too
    little of its texture to see. Shares below are of the judged cells.
    """

    #: Phase-correlation translation, as a fraction of the frame (hypot of both axes), and its peak.
    shift: float
    shift_x: float
    shift_y: float
    shift_response: float
    #: Hamming distance of the pHashes over 64 bits: 0 same scene, about 0.5 unrelated.
    hash_distance: float
    #: The largest connected region of cells gone flat: something in front of the lens covers one
    #: patch, where a new scene's plain areas lie scattered.
    occluded_fraction: float
    #: Share of the still-visible cells (neither flat nor next to a flat one) that correlate with
    #: the reference at the same place.
    scene_match: float
    #: The same after undoing the measured shift: high when the camera was only panned or tilted.
    aligned_match: float
    #: Spread of the per-channel log gains against the reference: a white-balance drift (0 = none).
    colour_shift: float | None
    #: All cells gone flat, connected or not.
    flat_fraction: float = 0.0
    #: Share of judged cells that are visible (neither flat nor bordering a flat one).
    visible_fraction: float = 1.0
    #: Share of the reference's textured cells this frame lets us judge (exposure faults lower it).
    judged_fraction: float = 1.0
    #: Contrast of this frame against the reference (1 = same exposure).
    gain: float = 1.0
    #: Edge sharpness against the reference's (None when either has too few edges).
    sharpness_ratio: float | None = None
    #: The camera's turn about its axis (degrees; 0 unless the view matched poorly and a turn
    #: explains it) and the match once the turn and its shift are undone.
    rotation: float = 0.0
    turned_match: float = 0.0
    #: occluded_fraction counting only cells whose brightness moved too (FLAT_MEAN_SHIFT): blur
    #: flattens cells but keeps their brightness, something at the lens brings its own.
    occluded_moved_fraction: float = 0.0
    #: Share of the cells textured in both frames whose texture no longer resembles the reference's
    #: (correlation below 0.2): where a new view's objects stand.
    changed_fraction: float = 0.0
    #: Median brightness step (gray levels) between neighbouring cells of the largest covered
    #: region: something at the lens is one out-of-focus surface, nearly even from cell to cell,
    #: where a new view whose texture is only fainter than the reference's keeps its structure.
    cover_relief: float = 0.0
    #: changed_fraction on the cells clear of the covered cells' fringe: what a covered lens's
    #: still-visible part says, as the soft edge half covers its fringe and what shows through it
    #: resembles neither the cover nor the scene.
    changed_clear_fraction: float = 0.0
    #: The weakest of the four directions' edge sharpness as a share of the reference's along the
    #: same direction (None when either has too few edges): blur of any shape, motion included.
    direction_ratio: float | None = None
    #: colour_shift over the part of the view both frames show once the measured shift is undone
    #: (None without a shift of a thumbnail pixel or more): a panned camera's white balance.
    aligned_colour_shift: float | None = None

    def to_dict(self) -> dict[str, float | None]:
        return {name: None if value is None else round(value, 6)
                for name, value in attrs.asdict(self).items()}


def _gray_thumbnail(metrics: Metrics) -> np.ndarray:
    thumb = metrics.thumbnail
    return thumb if thumb.ndim == 2 else cv2.cvtColor(thumb, cv2.COLOR_BGR2GRAY)


def compare_to_reference(current: Metrics, reference: Metrics) -> SceneComparison:
    """Compare thumbnails: phase correlation for a shift, pHash for the scene, cells for occlusion,
    and, when the view no longer clearly matches, a search for the turn that would restore it."""
    ref = _gray_thumbnail(reference)
    cur = _gray_thumbnail(current)
    if cur.shape != ref.shape:
        cur = cv2.resize(cur, (ref.shape[1], ref.shape[0]), interpolation=cv2.INTER_AREA)
    h, w = ref.shape
    window = cv2.createHanningWindow((w, h), cv2.CV_32F)
    ref_f, cur_f = ref.astype(np.float32), cur.astype(np.float32)
    (dx, dy), response = _phase(ref_f, cur_f, window)
    hasher = cv2.img_hash.PHash_create()
    bits = np.unpackbits(hasher.compute(ref) ^ hasher.compute(cur))
    cells = compare_cells(ref_f, cur_f)
    aligned = _moved_back(cur_f, 0.0, dx, dy)
    angle, turned_match = 0.0, cells.match
    if cells.match < TURN_SEARCH_BELOW:
        angle, turned_match = _search_turn(ref_f, cur_f, window, float(response))
    ratio = None
    if current.edge_sharpness is not None and reference.edge_sharpness:
        ratio = current.edge_sharpness / reference.edge_sharpness
    return SceneComparison(
        shift=math.hypot(dx / w, dy / h), shift_x=dx / w, shift_y=dy / h,
        shift_response=float(response), hash_distance=float(bits.mean()),
        occluded_fraction=cells.occluded, scene_match=cells.match,
        aligned_match=compare_cells(ref_f, aligned).match,
        colour_shift=_colour_shift(current, reference),
        flat_fraction=cells.flat, visible_fraction=cells.visible, judged_fraction=cells.judged,
        gain=cells.gain, sharpness_ratio=ratio, rotation=angle, turned_match=turned_match,
        changed_fraction=cells.changed, occluded_moved_fraction=cells.occluded_moved,
        cover_relief=cells.cover_relief, changed_clear_fraction=cells.changed_clear,
        direction_ratio=_direction_ratio(current, reference),
        aligned_colour_shift=_colour_shift(current, reference, (dx, dy)) if math.hypot(dx, dy) >= 1 else None,
    )


def _direction_ratio(current: Metrics, reference: Metrics) -> float | None:
    if current.direction_sharpness is None or reference.direction_sharpness is None:
        return None
    ratios = [c / r for c, r in zip(current.direction_sharpness, reference.direction_sharpness) if r > 0]
    return min(ratios) if ratios else None


def _phase(ref: np.ndarray, cur: np.ndarray, window: np.ndarray) -> tuple[tuple[float, float], float]:
    """cv2.phaseCorrelate on copies: OpenCV applies the window to its inputs in place."""
    return cv2.phaseCorrelate(ref.copy(), cur.copy(), window)


def _moved_back(image: np.ndarray, angle: float, dx: float, dy: float) -> np.ndarray:
    """`image` turned back by `angle` degrees about its centre, then shifted back by (dx, dy)."""
    h, w = image.shape
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), -angle, 1.0)
    matrix[:, 2] -= (dx, dy)
    return cv2.warpAffine(image, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def _search_turn(ref: np.ndarray, cur: np.ndarray, window: np.ndarray, straight: float) -> tuple[float, float]:
    """The turn (degrees) whose undoing, with the shift phase correlation then finds, correlates
    best with the reference, and the cell match it restores; (0, 0) if no turn beats none."""
    best, best_response = 0.0, straight
    for angle in TURN_ANGLES:
        turned = _moved_back(cur, angle, 0.0, 0.0)
        _, response = _phase(ref, turned, window)
        if response > best_response:
            best, best_response = angle, float(response)
    if best == 0.0 or best_response < straight + TURN_RESPONSE_GAIN:
        return 0.0, 0.0
    turned = _moved_back(cur, best, 0.0, 0.0)
    (dx, dy), _ = _phase(ref, turned, window)
    return best, compare_cells(ref, _moved_back(cur, best, dx, dy)).match


@attrs.frozen
class CellComparison:
    occluded: float
    flat: float
    match: float
    visible: float
    judged: float
    gain: float
    changed: float = 0.0
    occluded_moved: float = 0.0
    cover_relief: float = 0.0
    changed_clear: float = 0.0


def _cell_moments(image: np.ndarray, grid: tuple[int, int]) -> np.ndarray:
    """Area mean of `image` over each cell of a rows x cols grid (INTER_AREA is exactly that)."""
    return cv2.resize(image, (grid[1], grid[0]), interpolation=cv2.INTER_AREA)


def _largest_region(cells: np.ndarray) -> np.ndarray:
    """The cells of the largest 4-connected region of `cells` (all False if there is none)."""
    count, labels, stats = cv2.connectedComponentsWithStats(cells.astype(np.uint8), connectivity=4)[:3]
    if count < 2:
        return np.zeros(cells.shape, bool)
    return labels == 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))


def _relief(means: np.ndarray, region: np.ndarray) -> float:
    """Median absolute brightness step between 4-neighbouring cells both inside `region`."""
    steps = np.concatenate([np.abs(np.diff(means, axis=1))[region[:, 1:] & region[:, :-1]],
                            np.abs(np.diff(means, axis=0))[region[1:] & region[:-1]]])
    return float(np.median(steps)) if steps.size else 0.0


def _grown(seed: np.ndarray, weak: np.ndarray, means: np.ndarray) -> np.ndarray:
    """`seed` grown through 4-neighbouring `weak` cells whose brightness steps from the cell they
    join by at most COVER_STEP_MAX: one out-of-focus surface, nearly even from cell to cell."""
    region = seed.copy()
    candidates = weak & ~seed
    while candidates.any():
        joined = np.zeros_like(region)
        joined[1:] |= region[:-1] & (np.abs(means[1:] - means[:-1]) <= COVER_STEP_MAX)
        joined[:-1] |= region[1:] & (np.abs(means[:-1] - means[1:]) <= COVER_STEP_MAX)
        joined[:, 1:] |= region[:, :-1] & (np.abs(means[:, 1:] - means[:, :-1]) <= COVER_STEP_MAX)
        joined[:, :-1] |= region[:, 1:] & (np.abs(means[:, :-1] - means[:, 1:]) <= COVER_STEP_MAX)
        joined &= candidates
        if not joined.any():
            break
        region |= joined
        candidates &= ~joined
    return region


def _brightness_map(ref_means: np.ndarray, cur_means: np.ndarray) -> tuple[float, float]:
    """Least-squares slope and offset from the reference's cell brightness to this frame's."""
    spread = float(ref_means.std())
    if spread < 1e-3:
        return 1.0, float(cur_means.mean() - ref_means.mean())
    slope = float(((ref_means - ref_means.mean()) * (cur_means - cur_means.mean())).mean()) / spread ** 2
    return slope, float(cur_means.mean() - slope * ref_means.mean())


def compare_cells(ref: np.ndarray, cur: np.ndarray) -> CellComparison:
    """Which cells of the view something flat now covers, and whether the rest still matches.

    A cell the reference shows textured is covered when its texture went flat; a plain one (sky,
    wall) when it stayed plain but its brightness moved away from what the exposure change
    predicts. Cells the frame clipped to white are not judged, nor textured cells whose texture
    the frame's contrast leaves too faint to see.
    """
    h, w = ref.shape
    grid = (min(max(h // CELL_SIDE, 4), CELL_GRID_MAX), min(max(w // CELL_SIDE, 4), CELL_GRID_MAX))
    r_mean, c_mean = _cell_moments(ref, grid), _cell_moments(cur, grid)
    r_std = np.sqrt(np.maximum(_cell_moments(ref * ref, grid) - r_mean * r_mean, 0))
    c_std = np.sqrt(np.maximum(_cell_moments(cur * cur, grid) - c_mean * c_mean, 0))
    correlated = _cell_moments(ref * cur, grid) - r_mean * c_mean > MATCH_CORRELATION * r_std * np.maximum(c_std, 1e-3)
    textured = r_std >= TEXTURE_STD
    # The exposure change as a gain and an offset, from the cells that still show the reference's
    # texture: an occluder flattens its cells and a new scene has texture of its own, so neither
    # says how the exposure changed. Without enough such cells, from the whole thumbnails.
    # Brightness is mapped apart from contrast: blur lowers every cell's contrast but keeps its
    # brightness, an exposure change moves both.
    kept = textured & correlated
    if int(kept.sum()) >= max(GAIN_CELLS_MIN, int(textured.sum()) // 10):
        gain = float(np.median(c_std[kept] / r_std[kept]))
        slope, offset = _brightness_map(r_mean[kept], c_mean[kept])
    else:
        gain = float(cur.std() / max(float(ref.std()), 1e-3))
        slope, offset = _brightness_map(r_mean.ravel(), c_mean.ravel())
    clipped = _cell_moments((cur >= SCENE_CLIPPED).astype(np.float32), grid) > CLIPPED_SHARE_MAX
    judged = ~clipped & (~textured | (gain * r_std >= VISIBLE_STD))
    judged_textured = judged & textured
    count, textured_count = int(judged.sum()), int(textured.sum())
    if not int(judged_textured.sum()):
        return CellComparison(0.0, 0.0, 1.0, 0.0, 0.0, gain)
    predicted = slope * r_mean + offset
    covariance = _cell_moments(ref * cur, grid) - r_mean * c_mean
    went_flat = textured & (c_std < FLAT_RATIO * gain * r_std)
    shifted = ~textured & (c_std < TEXTURE_STD) & (np.abs(c_mean - predicted) > PLAIN_SHIFT_MIN)
    strong = judged & (went_flat | shifted)
    # A cover over a plain area (sky, a wall) is as plain as what it hides, so the strong signs
    # above see only its part over texture; its part over plain cells shows as weaker signs that
    # continue the same even surface: those cells join it (hysteresis from the strong cells).
    drift = np.abs(c_mean - predicted)
    plain_now = judged & ~textured & (c_std < TEXTURE_STD)
    nudged = plain_now & (drift > COVER_DRIFT_MIN)
    smoothed = plain_now & (r_std >= FAINT_STD) & (c_std < FLAT_RATIO * gain * r_std)
    covered = _grown(strong, nudged | smoothed, c_mean)
    region = _largest_region(covered)
    largest = int(region.sum())
    moved_seed = strong & (~went_flat | (drift > FLAT_MEAN_SHIFT))
    largest_moved = int(_largest_region(_grown(moved_seed, nudged, c_mean)).sum())
    relief = _relief(c_mean, region)
    fringe = cv2.dilate(covered.astype(np.uint8), np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]], np.uint8)) > 0
    rest = judged_textured & ~covered
    # Match on cells clear of the cover's fringe (which it partly covers), unless too few are left.
    clear = rest & ~fringe
    basis = clear if int(clear.sum()) >= max(3, VISIBLE_SHARE * int(judged_textured.sum())) else rest
    seen = int(basis.sum())
    # Cells textured in both frames that no longer resemble each other at all: a new view's objects
    # stand where the reference had others, even where the layout (horizon, road) is the same.
    both = rest & (c_std >= TEXTURE_STD)
    unlike = both & (covariance < UNLIKE_CORRELATION * r_std * c_std)
    both_clear = basis & both
    return CellComparison(
        occluded=largest / count, flat=int(covered.sum()) / count,
        match=int((basis & correlated).sum()) / seen if seen else 0.0,
        visible=int(rest.sum()) / int(judged_textured.sum()),
        judged=int(judged_textured.sum()) / max(textured_count, 1), gain=gain,
        changed=int(unlike.sum()) / max(int(both.sum()), 1), occluded_moved=largest_moved / count,
        changed_clear=int((unlike & both_clear).sum()) / max(int(both_clear.sum()), 1),
        cover_relief=relief)


def _colour_shift(current: Metrics, reference: Metrics, shift: tuple[float, float] = (0.0, 0.0)) -> float | None:
    """Spread of the per-channel log gains of the edge gradients against the reference's, over the
    thumbnail pixels both keep: a white-balance drift, and not an exposure change (a gain scales all
    channels alike, an offset none). With `shift` (the view's, in reference thumbnail pixels), over
    the part of the view both show once it is undone."""
    cur, ref = current.thumbnail, reference.thumbnail
    if current.monochrome or reference.monochrome or cur.ndim != 3 or ref.ndim != 3:
        return None
    # Halved once more: a white balance is the same at every scale, while blur (and a passer-by)
    # changes the finest edges' colours, which at the thumbnail's own scale read as a drift.
    size = (max(ref.shape[1] // 2, 2), max(ref.shape[0] // 2, 2))
    cur = cv2.resize(cur, size, interpolation=cv2.INTER_AREA)
    ref = cv2.resize(ref, size, interpolation=cv2.INTER_AREA)
    sx, sy = round(shift[0] / 2), round(shift[1] / 2)
    if abs(sx) >= size[0] // 2 or abs(sy) >= size[1] // 2:
        return None
    # What the reference shows at (x, y) the current frame shows at (x + sx, y + sy).
    ref = ref[max(0, -sy):size[1] - max(0, sy), max(0, -sx):size[0] - max(0, sx)]
    cur = cur[max(0, sy):size[1] - max(0, -sy), max(0, sx):size[0] - max(0, -sx)]
    size = (ref.shape[1], ref.shape[0])
    gradients, ref_gradients = edge_gradients(cur, ref), edge_gradients(ref, cur)
    if gradients is None or ref_gradients is None:
        return None
    whole = tuple(math.log(max(g, 1e-3) / max(r, 1e-3)) for g, r in zip(gradients, ref_gradients))
    # A white balance moves every part of the view alike; something small at the lens, a passer-by
    # or a lit sign moves only its own part, yet its strong edges can outweigh a plain view's
    # (a dusk sky) in the whole-frame sums. So the drift is the texture-weighted median of the
    # regions' log gains, where a few regions cannot carry it.
    gains, weights = [], []
    rows, cols = np.array_split(np.arange(size[1]), COLOUR_GRID), np.array_split(np.arange(size[0]), COLOUR_GRID)
    for ys in rows:
        for xs in cols:
            part, ref_part = cur[ys[0]:ys[-1] + 1, xs[0]:xs[-1] + 1], ref[ys[0]:ys[-1] + 1, xs[0]:xs[-1] + 1]
            here, there = edge_gradients(part, ref_part, COLOUR_PAIRS_MIN), edge_gradients(ref_part, part, COLOUR_PAIRS_MIN)
            if here is None or there is None or min(*here, *there) <= 0:
                continue
            logs = [math.log(g / r) for g, r in zip(here, there)]
            gains.append([v - sum(logs) / 3 for v in logs])
            weights.append(sum(there))
    if len(gains) < COLOUR_REGIONS_MIN:
        return max(whole) - min(whole)
    median = [_weighted_median([g[c] for g in gains], weights) for c in range(3)]
    return max(median) - min(median)


def _weighted_median(values: list[float], weights: list[float]) -> float:
    order = sorted(range(len(values)), key=values.__getitem__)
    half, total = sum(weights) / 2, 0.0
    for index in order:
        total += weights[index]
        if total >= half:
            return values[index]
    return values[order[-1]]


