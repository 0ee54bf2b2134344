"""Pictures are sized from their header before decoding: every accepted format, and hostile ones refused."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from watchkeeper.analysis.imagebounds import (MAX_DECODED_BYTES, MAX_FILE_BYTES, ImageBoundsError, decode_image,
                                              read_header)
from watchkeeper.analysis.metrics import sample_video
from watchkeeper.faces.cli import make_cli
from watchkeeper.rules.inspection import decode_jpeg
from watchkeeper.devices.drivers import DeviceError
from watchkeeper.simulation.faults import PictureFault, parse_faults
from watchkeeper.simulation.scenes import base_scene, jpeg_bomb, lying_jpeg

from tests.bounds import measure
from tests.bounds.images import png_bomb, png_claiming

SCENE = np.ascontiguousarray(base_scene(3)[:300, :400])
ENCODINGS = {
    "jpeg": (".jpg", SCENE, []), "jpeg-progressive": (".jpg", SCENE, [cv2.IMWRITE_JPEG_PROGRESSIVE, 1]),
    "jpeg-grey": (".jpg", SCENE[:, :, 0], []), "png": (".png", SCENE, []),
    "png-16bit": (".png", SCENE.astype(np.uint16) * 257, []), "png-rgba": (".png", np.dstack([SCENE, SCENE[:, :, 0]]), []),
    "bmp": (".bmp", SCENE, []), "tiff": (".tiff", SCENE, []), "tiff-16bit": (".tiff", SCENE.astype(np.uint16) * 257, []),
    "webp": (".webp", SCENE, []), "webp-lossless": (".webp", SCENE, [cv2.IMWRITE_WEBP_QUALITY, 101]),
    "ppm": (".ppm", SCENE, []), "pgm": (".pgm", SCENE[:, :, 0], []),
}


def analyze(*args: object):
    return CliRunner().invoke(make_cli(), ["analyze", *map(str, args)])


@pytest.mark.parametrize("name", list(ENCODINGS))
def test_header_size_is_the_decoded_size(name: str) -> None:
    suffix, image, params = ENCODINGS[name]
    ok, encoded = cv2.imencode(suffix, image, params)
    data = encoded.tobytes()
    header = read_header(data)
    decoded = decode_image(data)
    assert (header.width, header.height) == (decoded.shape[1], decoded.shape[0]) == (400, 300)
    stored = decoded.shape[2] if decoded.ndim == 3 else 1
    assert header.channels >= stored and header.bytes_per_sample == decoded.itemsize
    assert header.decoded_bytes() >= decoded.nbytes


@pytest.mark.parametrize(("data", "claim"), [
    (lying_jpeg(), "16000x16000"), (jpeg_bomb(), "16000x16000"), (png_claiming(100_000, 100_000), "100000x100000"),
    (png_claiming(8000, 8000), "64 MP"),
])
def test_oversized_pictures_are_refused_before_decoding(data: bytes, claim: str) -> None:
    with pytest.raises(ImageBoundsError, match=claim):
        decode_image(data, what="snapshot")
    with pytest.raises(DeviceError, match=claim) as raised:
        decode_jpeg(data)
    assert raised.value.kind == "protocol_error"


def test_bytes_are_bounded_as_well_as_pixels() -> None:
    # 4200 x 4200 is 17.6 MP, allowed; as 16-bit RGBA it would take 135 MiB.
    data = png_claiming(4200, 4200)[:24] + b"\x10\x06" + png_claiming(4200, 4200)[26:]
    assert read_header(data).decoded_bytes() > MAX_DECODED_BYTES
    with pytest.raises(ImageBoundsError, match="MiB to decode"):
        decode_image(data)


@pytest.mark.parametrize("data", [b"GIF89a" + bytes(40), b"\xff\xd8\xff\xe0\x00\x10JFIF", b"\x89PNG\r\n\x1a\n\x00",
                                  b"BM" + bytes(10), b"II*\x00\xff\xff\xff\x00", b"RIFF\x00\x00\x00\x00WEBPVP8 ",
                                  b"P6\n#only a comment"])
def test_unsizeable_headers_are_refused(data: bytes) -> None:
    with pytest.raises(ImageBoundsError):
        decode_image(data)


def test_analyze_reports_a_lying_png_without_a_traceback(tmp_path: Path) -> None:
    path = tmp_path / "huge.png"
    path.write_bytes(png_claiming(100_000, 100_000))
    result = analyze(path, "--json")
    assert result.exit_code == 2 and isinstance(result.exception, SystemExit), result.output
    error = json.loads(result.output)["results"][0]["error"]
    assert "huge.png" in error and "100000x100000" in error


def test_png_bomb_is_refused_in_bounded_memory(tmp_path: Path) -> None:
    path = tmp_path / "bomb.png"
    path.write_bytes(png_bomb(8192, 8192))  # 261 kB that inflate to 268 MB of RGBA
    assert path.stat().st_size < 300_000
    result, peak = measure.run("analyze", str(path))
    assert result.returncode == 2 and "67 MP" in result.stdout and "Traceback" not in result.stderr, result.stderr
    assert peak < 300, f"analyze peaked at {peak:.0f} MB"


def test_a_fifo_is_refused_not_waited_on(tmp_path: Path) -> None:
    fifo = tmp_path / "camera.png"
    os.mkfifo(fifo)
    video = tmp_path / "camera.mp4"
    os.mkfifo(video)
    result = subprocess.run([sys.executable, "-m", "watchkeeper.faces.cli", "analyze", str(fifo), str(video)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result.stderr
    assert result.stdout.count("not a regular file") == 2 and "Traceback" not in result.stderr


def test_a_file_too_large_to_be_an_image_is_refused_unread(tmp_path: Path) -> None:
    path = tmp_path / "huge.jpg"
    with path.open("wb") as handle:
        handle.truncate(MAX_FILE_BYTES + 1)  # sparse: nothing is written, nothing must be read
    result = analyze(path, "--json")
    assert result.exit_code == 2 and "larger than" in json.loads(result.output)["results"][0]["error"]


def test_a_video_is_sized_from_its_container_before_frames_are_decoded(tmp_path: Path) -> None:
    path = tmp_path / "huge.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 5, (8000, 6000), False)
    frame = np.zeros((6000, 8000), np.uint8)
    for _ in range(2):
        writer.write(frame)
    writer.release()
    del frame
    with pytest.raises(ImageBoundsError, match="claims 8000x6000 pixels"):
        list(sample_video(path, 2))


def test_hostile_pictures_are_a_fault_profile_and_valid_jpegs() -> None:
    assert parse_faults("picture=jpeg_bomb").picture is PictureFault.JPEG_BOMB
    assert parse_faults("blur,picture=lying_header").picture is PictureFault.LYING_HEADER
    small = cv2.imdecode(np.frombuffer(jpeg_bomb(64, 48), np.uint8), cv2.IMREAD_GRAYSCALE)
    assert small.shape == (48, 64) and int(small.min()) == int(small.max()) == 128  # a real, uniform picture
    assert read_header(lying_jpeg()).width == 16000 and len(lying_jpeg()) == 4_000_000
