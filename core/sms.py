"""SMS length and encoding: the GSM 03.38 alphabet, segments, what a preview shows."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["SmsInfo", "is_gsm7", "sms_info"]


# GSM 03.38 default alphabet, in table order (0x1B, the escape to the extension table, is left
# out: it is not a character a message can contain). Greek letters are written as escapes so a
# look-alike Latin or symbol code point (e.g. OHM SIGN) can never sneak in.
_GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅå"
    "\u0394_\u03a6\u0393\u039b\u03a9\u03a0\u03a8\u03a3\u0398\u039eÆæßÉ"
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNO"
    "PQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmno"
    "pqrstuvwxyzäöñüà"
)
# Extension table: each character is sent as ESC + code, i.e. two septets.
_GSM7_EXTENDED = frozenset("\x0c^{}\\[~]|€")
_GSM7_ALL = _GSM7_BASIC | _GSM7_EXTENDED

_GSM7_SINGLE, _GSM7_MULTI = 160, 153  # multipart messages lose 7 septets to the UDH
_UCS2_SINGLE, _UCS2_MULTI = 70, 67  # ... and 3 UCS-2 units


@dataclass(frozen=True)
class SmsInfo:
    encoding: str  # "GSM-7" or "UCS-2"
    characters: int  # code points, what a user would call the length
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2)
    segments: int
    per_segment: int
    remaining: int  # units still free in the last segment

    def as_dict(self) -> dict[str, Any]:
        return {
            "encoding": self.encoding,
            "characters": self.characters,
            "units": self.units,
            "segments": self.segments,
            "perSegment": self.per_segment,
            "remainingInSegment": self.remaining,
        }


def is_gsm7(text: str) -> bool:
    return _GSM7_ALL.issuperset(text)


def sms_info(text: str) -> SmsInfo:
    if is_gsm7(text):
        encoding, single, multi = "GSM-7", _GSM7_SINGLE, _GSM7_MULTI
        weights = [2 if ch in _GSM7_EXTENDED else 1 for ch in text]
    else:
        encoding, single, multi = "UCS-2", _UCS2_SINGLE, _UCS2_MULTI
        # Astral characters (most emoji) take a UTF-16 surrogate pair.
        weights = [2 if ord(ch) > 0xFFFF else 1 for ch in text]
    units = sum(weights)
    if units <= single:
        segments = 1 if units else 0
        return SmsInfo(encoding, len(text), units, segments, single, single - units)
    # Greedy fill: an escape+char pair or a surrogate pair is never split, so it moves whole to
    # the next segment and can leave a unit unused, making plain ceil(units/multi) too low.
    segments, used = 1, 0
    for weight in weights:
        if used + weight > multi:
            segments += 1
            used = 0
        used += weight
    return SmsInfo(encoding, len(text), units, segments, multi, multi - used)
