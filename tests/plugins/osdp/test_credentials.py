"""Wiegand parity and payload, raw and ASCII card data, keypad PIN assembly."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from watchkeeper.plugins.osdp.credentials import (
    FORMAT_ASCII, FORMAT_RAW, FORMAT_WIEGAND, CardRejected, PinBuffer, decode_card, decode_wiegand,
    encode_wiegand, keypad_bytes,
)


def test_h10301_known_frame() -> None:
    # Facility 1, card 1: the first 12 payload bits hold one 1 (even parity bit 1), the last 12
    # hold one 1 (already odd: odd parity bit 0).
    frame = int("1" + "00000001" + "0000000000000001" + "0", 2) << 6
    card = decode_wiegand(frame.to_bytes(4, "big"), 26)
    assert (card.value, card.format, card.bits) == (str(65537), "wiegand26", 26)


@given(st.integers(0, (1 << 24) - 1))
def test_26_bit_round_trip_and_every_single_bit_flip_is_caught(number: int) -> None:
    data = encode_wiegand(number, 26)
    assert decode_wiegand(data, 26).value == str(number)
    for bit in range(26):
        flipped = bytearray(data)
        flipped[bit // 8] ^= 0x80 >> (bit % 8)
        with pytest.raises(CardRejected):
            decode_wiegand(bytes(flipped), 26)


@given(st.integers(0, (1 << 32) - 1))
def test_34_bit_round_trip(number: int) -> None:
    assert decode_wiegand(encode_wiegand(number, 34), 34).value == str(number)
    with pytest.raises(CardRejected):
        decode_wiegand(encode_wiegand(number, 34, bad_parity=True), 34)


def test_unknown_lengths_pass_unchecked_and_oversized_numbers_are_refused() -> None:
    assert decode_wiegand(encode_wiegand(0x1234, 16), 16).value == str(0x1234)
    with pytest.raises(ValueError):
        encode_wiegand(1 << 24, 26)
    with pytest.raises(CardRejected):
        decode_card({"format": FORMAT_WIEGAND, "length": 40, "data": b"\x00\x00"})


def test_ascii_and_raw_formats() -> None:
    assert decode_card({"format": FORMAT_ASCII, "length": 4, "data": b"A123"}).value == "A123"
    with pytest.raises(CardRejected):
        decode_card({"format": FORMAT_ASCII, "length": 2, "data": b"\x00\x01"})
    assert decode_card({"format": FORMAT_RAW, "length": 12, "data": b"\xab\xc0"}).value == "abc"
    with pytest.raises(CardRejected):
        decode_card({"format": 9, "length": 8, "data": b"\x00"})


def test_pin_buffer_assembles_clears_and_times_out() -> None:
    buffer = PinBuffer(timeout=5)
    assert buffer.feed(b"12", now=0) == []
    assert buffer.feed(b"34\r", now=1) == ["1234"]
    assert buffer.feed(b"99\x7f12\r", now=2) == ["12"]  # '*' clears what was typed
    assert buffer.feed(b"55", now=3) == [] and buffer.feed(b"6\r", now=20) == ["6"]  # stale digits dropped
    assert buffer.feed(b"\r", now=21) == []
    assert buffer.feed(b"7", now=22) == [] and "7" not in repr(buffer)
    assert keypad_bytes("2468") == b"2468\r"
    with pytest.raises(ValueError):
        keypad_bytes("12a")
