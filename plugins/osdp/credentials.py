"""Card data and keypad decoding: Wiegand formats with their parity bits, raw data, and PIN entry."""

from __future__ import annotations

import enum
import time

import attrs

#: Wiegand formats whose parity we know: bits -> (even-parity span, odd-parity span) over the
#: payload, as (start, stop) bit indexes of the whole frame. 26-bit is HID H10301; 34-bit is the
#: common H10306 layout. Other lengths pass through unchecked because no parity rule is standard.
PARITY_SPANS: dict[int, tuple[tuple[int, int], tuple[int, int]]] = {
    26: ((1, 13), (13, 25)),
    34: ((1, 17), (17, 33)),
}

#: libosdp's card format codes (osdp_event_cardread.format).
FORMAT_RAW, FORMAT_WIEGAND, FORMAT_ASCII = 0, 1, 2

#: OSDP keypad codes: '#' is sent as CR and '*' as DEL (OSDP spec, osdp_KEYPAD).
KEY_ENTER, KEY_CLEAR = 0x0D, 0x7F
MAX_PIN_DIGITS = 16


class CardRejected(ValueError):
    """A card read that must not be passed on: bad parity, wrong length, undecodable."""


@attrs.frozen
class DecodedCard:
    value: str = attrs.field(repr=False)
    format: str
    bits: int | None


def _bits_of(data: bytes, length: int) -> str:
    if length <= 0 or length > len(data) * 8:
        raise CardRejected(f"card data holds {len(data) * 8} bits, reader announced {length}")
    return "".join(f"{byte:08b}" for byte in data)[:length]


def decode_wiegand(data: bytes, length: int) -> DecodedCard:
    """Check the parity bits of a known format and return the payload between them as a number."""
    bits = _bits_of(data, length)
    spans = PARITY_SPANS.get(length)
    if spans is None:
        return DecodedCard(str(int(bits, 2)), f"wiegand{length}", length)
    (even_start, even_stop), (odd_start, odd_stop) = spans
    even_ok = (bits[0] + bits[even_start:even_stop]).count("1") % 2 == 0
    odd_ok = (bits[odd_start:odd_stop] + bits[-1]).count("1") % 2 == 1
    if not (even_ok and odd_ok):
        raise CardRejected(f"{length}-bit Wiegand read with bad parity")
    return DecodedCard(str(int(bits[1:-1], 2)), f"wiegand{length}", length)


def encode_wiegand(number: int, length: int = 26, bad_parity: bool = False) -> bytes:
    """The bytes a reader sends for a card: payload with parity bits, MSB first, zero padded."""
    spans = PARITY_SPANS.get(length)
    payload_bits = length - 2 if spans else length
    if not 0 <= number < 1 << payload_bits:
        raise ValueError(f"card number does not fit in a {length}-bit format")
    payload = f"{number:0{payload_bits}b}"
    if spans:
        (even_start, even_stop), (odd_start, odd_stop) = spans
        first_half = payload[even_start - 1:even_stop - 1]
        second_half = payload[odd_start - 1:odd_stop - 1]
        even = str(first_half.count("1") % 2)
        odd = str(1 - second_half.count("1") % 2)
        if bad_parity:
            even = "1" if even == "0" else "0"
        bits = even + payload + odd
    else:
        bits = payload
    bits += "0" * (-len(bits) % 8)
    return int(bits, 2).to_bytes(len(bits) // 8, "big")


def decode_card(event: dict) -> DecodedCard:
    """A libosdp CardRead event as a card credential, or CardRejected."""
    data = bytes(event.get("data") or b"")
    fmt = event.get("format")
    length = int(event.get("length") or 0)
    if fmt == FORMAT_WIEGAND:
        return decode_wiegand(data, length)
    if fmt == FORMAT_ASCII:
        try:
            text = data.decode("ascii")
        except UnicodeDecodeError:
            raise CardRejected("ASCII card read is not ASCII") from None
        if not text.isprintable() or not text:
            raise CardRejected("ASCII card read holds control characters")
        return DecodedCard(text, "ascii", None)
    if fmt == FORMAT_RAW:
        # Unspecified raw data: length is in bits; passed on as hex so nothing is lost.
        bits = _bits_of(data, length)
        return DecodedCard(f"{int(bits, 2):0{(length + 3) // 4}x}", "raw", length)
    raise CardRejected(f"unknown card format {fmt!r}")


class KeyResult(enum.Enum):
    PENDING = "pending"
    CLEARED = "cleared"


class PinBuffer:
    """Collects keypad presses into a PIN that ends with '#'; '*' or a pause clears it."""

    def __init__(self, timeout: float = 10.0) -> None:
        self.timeout = timeout
        self._digits: list[str] = []
        self._last = 0.0

    def __repr__(self) -> str:
        return f"PinBuffer({len(self._digits)} digits)"

    def feed(self, data: bytes, now: float | None = None) -> list[str]:
        """Feed key codes; return the PINs completed by them (usually zero or one)."""
        now = time.monotonic() if now is None else now
        if self._digits and now - self._last > self.timeout:
            self._digits.clear()
        self._last = now
        pins = []
        for code in data:
            if code == KEY_ENTER:
                if self._digits:
                    pins.append("".join(self._digits))
                self._digits.clear()
            elif code == KEY_CLEAR:
                self._digits.clear()
            elif 0x30 <= code <= 0x39 and len(self._digits) < MAX_PIN_DIGITS:
                self._digits.append(chr(code))
        return pins


def keypad_bytes(pin: str) -> bytes:
    """What a reader sends for a typed PIN followed by '#'."""
    if not pin.isdigit() or len(pin) > MAX_PIN_DIGITS:
        raise ValueError("a PIN is 1 to 16 digits")
    return pin.encode("ascii") + bytes([KEY_ENTER])
