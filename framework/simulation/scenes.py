"""Synthetic camera images for simulators: a textured scene per channel, degraded by image faults."""

from __future__ import annotations

import struct
from functools import lru_cache

import cv2
import numpy as np

from watchkeeper.simulation.faults import ImageFault, PictureFault

WIDTH, HEIGHT = 640, 360
#: Base scenes and moments kept for frames larger than the default (see render and snapshot).
LARGE_SCENES = 8
LARGE_TICKS = 25


@lru_cache(maxsize=4096 + 2 * LARGE_SCENES)
def base_scene(seed: int, width: int = WIDTH, height: int = HEIGHT) -> np.ndarray:
    """A deterministic textured scene (sky, ground, boxes, text) so sharpness and edges are real.

    Cached (about 0.7 MB each) because a simulator serving many cameras draws the same scenes
    again and again; callers get a read-only array and copy before drawing on it.
    """
    rng = np.random.default_rng(seed)
    image = np.empty((height, width, 3), np.uint8)
    # Laid out on the default 640 x 360 canvas and scaled, so a 1080p scene is the same scene.
    sx, sy = width / WIDTH, height / HEIGHT
    horizon = int((HEIGHT // 3 + int(rng.integers(-20, 20))) * sy)
    image[:horizon] = (200, 170, 120)
    image[horizon:] = (90, 110, 100)
    for _ in range(12):
        x, y = int(rng.integers(0, WIDTH - 60)), int(rng.integers(int(horizon / sy) - 40, HEIGHT - 40))
        w, h = int(rng.integers(30, 160)), int(rng.integers(30, 140))
        colour = tuple(int(c) for c in rng.integers(30, 230, 3))
        box = (int(x * sx), int(y * sy)), (int((x + w) * sx), int((y + h) * sy))
        cv2.rectangle(image, *box, colour, -1)
        cv2.rectangle(image, *box, (20, 20, 20), max(int(2 * sy), 1))
    for row in range(horizon, height, max(int(18 * sy), 1)):
        cv2.line(image, (0, row), (width, row + int(6 * sy)), (60, 70, 60), max(int(sy), 1))
    cv2.putText(image, f"CAM {seed}", (int(16 * sx), int(40 * sy)), cv2.FONT_HERSHEY_SIMPLEX, 1.2 * sy,
                (255, 255, 255), max(int(2 * sy), 1))
    grain = rng.normal(0, 2.0, image.shape)
    scene = np.clip(image + grain, 0, 255).astype(np.uint8)
    scene.flags.writeable = False
    return scene


def render(seed: int, faults: frozenset[ImageFault] = frozenset(), tick: int = 0,
           size: tuple[int, int] = (WIDTH, HEIGHT)) -> np.ndarray:
    """The scene as the camera sees it at `tick`; a healthy camera shows a moving clock overlay.

    `size` is (width, height). Frames larger than the default share LARGE_SCENES base scenes
    (seed modulo LARGE_SCENES): a simulator serving a thousand 1080p cameras cannot keep a
    thousand 6 MB scenes.
    """
    width, height = size
    scale = height / HEIGHT
    if (width, height) != (WIDTH, HEIGHT):
        seed %= LARGE_SCENES
    image = base_scene(seed + 7919 if ImageFault.MOVED in faults else seed, width, height).copy()
    if ImageFault.FROZEN not in faults:
        cv2.putText(image, f"{tick:08d}", (width - int(220 * scale), height - int(20 * scale)),
                    cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), max(int(2 * scale), 1))
        # Someone walks across the scene, so any two moments differ clearly even through a blurred
        # lens (the walker comes back to the same place only every 580 ticks).
        walker = int(tick * 13 % (WIDTH - 60) * width / WIDTH)
        cv2.rectangle(image, (walker, height // 2), (walker + int(60 * scale), height // 2 + int(120 * scale)),
                      (40, 60, 200), -1)
    if ImageFault.BLACK in faults:
        return np.zeros_like(image)
    if ImageFault.OCCLUDED in faults:
        # Something held close to the lens: a dark, featureless blob over most of the view.
        blob = np.zeros(image.shape[:2], np.uint8)
        cv2.ellipse(blob, (int(width * 0.35), int(height * 0.55)), (int(width * 0.3), height // 2), 0, 0, 360, 255, -1)
        mask = cv2.GaussianBlur(blob, (0, 0), 15 * scale).astype(np.float32)[..., None] / 255.0
        image = (image * (1 - mask) + np.array([28, 30, 34], np.float32) * mask).astype(np.uint8)
    if ImageFault.BLUR in faults:
        image = cv2.GaussianBlur(image, (0, 0), 6 * scale)
    if ImageFault.DARK in faults:
        image = (image.astype(np.float32) * 0.08).astype(np.uint8)
    if ImageFault.OVEREXPOSED in faults:
        image = np.clip(image.astype(np.int16) * 3 + 120, 0, 255).astype(np.uint8)
    if ImageFault.COLOUR_CAST in faults:
        # A white-balance fault: channel gains (red up, blue down), as degrade.cast draws them. (A
        # per-channel offset, which this was, moves no edge's colour: see docs/analysis.md.)
        image = np.clip(image.astype(np.float32) * np.array([0.75, 1.0, 1.45], np.float32), 0, 255).astype(np.uint8)
    if ImageFault.NOISE in faults:
        rng = np.random.default_rng(tick)
        image = np.clip(image + rng.normal(0, 40, image.shape), 0, 255).astype(np.uint8)
    return image


def snapshot(seed: int, faults: frozenset[ImageFault] = frozenset(), tick: int = 0,
             size: tuple[int, int] = (WIDTH, HEIGHT)) -> bytes:
    """render() as the JPEG a camera sends. Large frames come from a cache of LARGE_TICKS moments a
    scene (a real camera encodes in hardware; a simulator encoding every 1080p snapshot would spend
    the benchmark's CPU on itself); two consecutive ticks still differ."""
    if size == (WIDTH, HEIGHT):
        return jpeg(render(seed, faults, tick, size))
    return _large_snapshot(seed % LARGE_SCENES, faults, tick % LARGE_TICKS, size)


@lru_cache(maxsize=4 * LARGE_SCENES * LARGE_TICKS)
def _large_snapshot(seed: int, faults: frozenset[ImageFault], tick: int, size: tuple[int, int]) -> bytes:
    return jpeg(render(seed, faults, tick, size))


def jpeg(image: np.ndarray, quality: int = 85) -> bytes:
    """The image as a camera's JPEG snapshot."""
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:  # pragma: no cover - OpenCV always encodes a uint8 BGR image
        raise RuntimeError("JPEG encoding failed")
    return encoded.tobytes()


#: What a hostile camera's picture claims to be: 256 MP, 768 MB as BGR.
HOSTILE_SIDE = 16000
LYING_HEADER_BYTES = 4_000_000


def _segment(marker: int, payload: bytes) -> bytes:
    return bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload


def jpeg_bomb(width: int = HOSTILE_SIDE, height: int = HOSTILE_SIDE) -> bytes:
    """A valid baseline JPEG of uniform grey, built without ever holding its pixels.

    One-symbol Huffman tables code each 8x8 block in two bits (DC difference 0, end of block), so
    16000 x 16000 pixels fit in 1 MB of zero bytes: a decompression bomb a decoder honours fully.
    """
    quantisation = _segment(0xDB, b"\x00" + bytes([1] * 64))
    frame = _segment(0xC0, struct.pack(">BHHB", 8, height, width, 1) + b"\x01\x11\x00")
    one_code = bytes([1] + [0] * 15) + b"\x00"
    huffman = _segment(0xC4, b"\x00" + one_code + b"\x10" + one_code)
    scan = _segment(0xDA, b"\x01\x01\x00\x00\x3f\x00")
    blocks = -(-width // 8) * -(-height // 8)
    return b"\xff\xd8" + quantisation + frame + huffman + scan + bytes((2 * blocks + 7) // 8) + b"\xff\xd9"


def lying_jpeg(seed: int = 0, size: int = LYING_HEADER_BYTES) -> bytes:
    """A real scene's JPEG whose frame header is rewritten to claim HOSTILE_SIDE pixels a side,
    padded to `size` bytes: libjpeg allocates the claimed picture and fills what the data lacks."""
    data = bytearray(jpeg(base_scene(seed)))
    frame = data.index(b"\xff\xc0")
    struct.pack_into(">HH", data, frame + 5, HOSTILE_SIDE, HOSTILE_SIDE)
    end = data.rindex(b"\xff\xd9")
    return bytes(data[:end]) + bytes(max(size - len(data), 0)) + b"\xff\xd9"


@lru_cache(maxsize=2)
def hostile_picture(kind: PictureFault) -> bytes:
    """The snapshot a camera with this picture fault serves."""
    return jpeg_bomb() if kind is PictureFault.JPEG_BOMB else lying_jpeg()
