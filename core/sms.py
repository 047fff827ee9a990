"""SMS length and encoding: the GSM 03.38 alphabet, segments, what a preview shows."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Any

__all__ = [
    "AUTOCONVERT_MODES", "DEFAULT_AUTOCONVERT", "SmsInfo", "gsm_convert", "is_gsm7",
    "sender_problem", "sms_info", "udh_octets", "udh_problem", "udh_text_capacity",
]  # fmt: skip


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


# --- autoconvert: GSM 03.38 replacements (Messente's `autoconvert`) ---------------------------
#
# Messente's SMS `autoconvert` (messente-api-python models/sms.py; messente.com/documentation/
# tools/autoreplace): "on" (the default) applies a replacement table ("„Farenheit 451“" →
# "\"Farenheit 451\"", UCS-2 2 SMS → GSM 03.38 1 SMS), "full" replaces every non-GSM
# character "with the closest possible character" ("Brontë" → "Bronte"), "off" sends the
# text as given. Messente's "on" table is the account's own; ours is the look-alikes below,
# which read the same after replacement: quotes, dashes, the ellipsis, spaces, invisible marks.

AUTOCONVERT_MODES = ("on", "full", "off")
DEFAULT_AUTOCONVERT = "on"  # Messente's default


def _table(pairs: dict[str, str]) -> dict[str, str]:
    return {ch: out for chars, out in pairs.items() for ch in chars}


_LOOKALIKES = _table(
    {
        "\u201c\u201d\u201e\u201f\u2033\u2036\u00ab\u00bb\u301d\u301e\u301f\uff02\u275d\u275e"
        "\u02ba\u02ee": '"',
        "\u2018\u2019\u201a\u201b\u2032\u2035\u2039\u203a`\u00b4\u02b9\u02bb\u02bc\u02bd\u02c8"
        "\u02ca\u02cb\u275b\u275c\uff07": "'",
        "\u2010\u2011\u2012\u2013\u2014\u2015\u2212\u2043\ufe58\ufe63\uff0d": "-",
        "\u2026": "...",
        "\u2044\u2215": "/",
        # No-break, en/em/thin/hair spaces, the ideographic space, the tab: one plain space.
        "\t\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
        "\u202f\u205f\u3000": " ",
        "\u2028\u2029\u0085": "\n",
        # Invisible: zero-width space, word joiner, byte order mark, soft hyphen. (The
        # zero-width joiners stay: they hold emoji sequences together.)
        "\u200b\u2060\ufeff\u00ad": "",
    }
)

# "full": what has no look-alike and does not decompose into GSM letters (NFKD below).
_FULL = _table(
    {
        "œ": "oe", "Œ": "OE", "ð": "d", "Ð": "D", "þ": "th", "Þ": "TH", "ł": "l", "Ł": "L",
        "đ": "d", "Đ": "D", "ħ": "h", "Ħ": "H", "ı": "i", "ĸ": "k", "ŋ": "n", "Ŋ": "N",
        "ŧ": "t", "Ŧ": "T", "ſ": "s", "ç": "c", "µ": "u", "©": "(c)", "®": "(R)",
        "\u2022\u2023\u25e6": "-", "·": ".", "×": "x", "÷": "/", "°": "o", "¢": "c",
        "‰": "%o", "¦": "|", "¬": "-", "¨": '"', "¯": "-", "¸": ",", "ª": "a", "º": "o",
        # What only shapes an emoji (joiners, variation selectors, skin tones): the emoji
        # itself is one "?".
        "\u200c\u200d\ufe0e\ufe0f\U0001f3fb\U0001f3fc\U0001f3fd\U0001f3fe\U0001f3ff": "",
    }
)  # fmt: skip
# Cyrillic, letter by letter (Messente warns its "full" does not suit Cyrillic; a plain
# transliteration at least stays readable): the hard and soft signs are dropped.
_CYRILLIC = (
    "а a|б b|в v|г g|д d|е e|ж zh|з z|и i|й j|к k|л l|м m|н n|о o|п p|р r|с s|т t|у u|ф f|"
    "х h|ц c|ч ch|ш sh|щ shch|ъ |ы y|ь |э e|ю ju|я ja|ё e|є je|і i|ї ji|ґ g|ў u|ђ dj|ј j|"
    "љ lj|њ nj|ћ c|џ dz|ѓ g|ќ k|ѕ dz"
)
for _pair in _CYRILLIC.split("|"):
    _letter, _, _latin = _pair.partition(" ")
    _FULL[_letter] = _latin
    _FULL[_letter.upper()] = _latin.capitalize()
# Greek: GSM has ten capitals; the others are read as their Latin twins (Infobip's GREEK
# transliteration does the same), and small letters as capitals.
_GREEK_LATIN = dict(zip("ΑΒΕΖΗΙΚΜΝΟΡΤΥΧ", "ABEZHIKMNOPTYX", strict=True))


def _full_char(ch: str) -> str:
    """One non-GSM character as its closest GSM text: a table entry, else its compatibility
    decomposition without accents ("ë" → "e", "½" → "1/2"), else "?"."""
    out = _LOOKALIKES.get(ch)
    if out is None:
        out = _FULL.get(ch)
    if out is not None:
        return out
    if "\u0370" <= ch <= "\u03ff":  # Greek: "ά" → "Α" → "A", "π" → "Π"
        upper = unicodedata.normalize("NFD", ch)[0].upper()
        return upper if upper in _GSM7_BASIC else _GREEK_LATIN.get(upper, "?")
    parts = []
    for sub in unicodedata.normalize("NFKD", ch):
        if sub in _GSM7_ALL:
            parts.append(sub)
        elif unicodedata.combining(sub):
            continue  # the accent of a decomposed letter
        elif sub in _LOOKALIKES or sub in _FULL:
            parts.append(_LOOKALIKES.get(sub) or _FULL.get(sub, ""))
        else:
            return "?"
    return "".join(parts) or "?"


def gsm_convert(text: str, mode: str = DEFAULT_AUTOCONVERT) -> str:
    """`text` after autoconvert `mode` ("on", "full" or "off"): what is stored and sent."""
    if mode == "off" or is_gsm7(text):
        return text
    # Canonical composition first: "e" + combining acute is "é", a GSM letter.
    text = unicodedata.normalize("NFC", text)
    if mode == "full":
        return "".join(ch if ch in _GSM7_ALL else _full_char(ch) for ch in text)
    return "".join(_LOOKALIKES.get(ch, ch) for ch in text)


# --- udh: a User Data Header the client gives (Messente's `udh`, "hex-encoded string
# containing SMS UDH") -------------------------------------------------------------------------

_PDU_OCTETS = 140  # TP-User-Data of one SMS (3GPP TS 23.040 9.2.3.24)
_HEX = frozenset("0123456789abcdefABCDEF")


def udh_octets(udh: str) -> bytes:
    """The header's octets (udh_problem() has found nothing wrong with it)."""
    return bytes.fromhex(udh)


def udh_problem(udh: str) -> str:
    """Why `udh` is no User Data Header ("" when it is one): hex, its first octet (UDHL) the
    length of the rest, which is whole information elements (IEI, IEDL, IEDL octets of data)
    (TS 23.040 9.2.3.24), and short enough to leave room for text in one SMS."""
    if not udh or len(udh) % 2 or not _HEX.issuperset(udh):
        return "must be hex digits, two per octet (e.g. 050003CC0201)."
    octets = udh_octets(udh)
    if len(octets) < 3 or octets[0] != len(octets) - 1:
        return (
            f"its first octet (the header length, UDHL) is {octets[0]}, but {len(octets) - 1} "
            "octet(s) follow it; a header is UDHL and at least one information element."
        )
    i = 1
    while i < len(octets):
        if i + 1 >= len(octets) or i + 2 + octets[i + 1] > len(octets):
            return f"the information element at octet {i} runs past the header's end."
        i += 2 + octets[i + 1]
    if len(octets) > _PDU_OCTETS - 2:
        return f"the header is {len(octets)} octets; an SMS holds {_PDU_OCTETS} in all."
    return ""


def udh_text_capacity(udh: str, encoding: str) -> int:
    """The septets (GSM-7) or UTF-16 units (UCS-2) of text one SMS holds beside `udh`: a
    GSM-7 header is padded to a whole septet (6 octets leave 153, as for concatenation)."""
    length = len(udh_octets(udh))
    if encoding == "GSM-7":
        return _GSM7_SINGLE - -(-length * 8 // 7)
    return (_PDU_OCTETS - length) // 2


# --- sender ids -------------------------------------------------------------------------------

# An alphanumeric originator is at most 11 characters (TS 23.040 9.1.2.5: 10 octets of packed
# GSM-7). Which characters pass the networks varies: Twilio allows "upper- and lower-case
# ASCII letters, the digits 0 through 9, and space", Vonage letters and digits; a few brand
# marks (.-_&) are widely accepted too. A number is a short code or an E.164 number: up to 15
# digits, with an optional leading +.
_ALNUM_SENDER = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .-_&")
_NUMBER_PUNCTUATION = str.maketrans("", "", " -().")
MAX_ALNUM_SENDER, MIN_NUMERIC_SENDER, MAX_NUMERIC_SENDER = 11, 3, 15


def sender_problem(sender: str) -> str:
    """Why `sender` cannot be an SMS sender id ("" when it can): a number (3 to 15 digits,
    optionally after +) or up to 11 letters, digits, spaces and .-_& with at least a letter."""
    digits = sender[1:] if sender.startswith("+") else sender
    if digits.isascii() and digits.isdigit():
        if not MIN_NUMERIC_SENDER <= len(digits) <= MAX_NUMERIC_SENDER or (
            sender.startswith("+") and digits.startswith("0")
        ):
            return (
                f"'{sender}' is no sender number: a short code or an E.164 number has "
                f"{MIN_NUMERIC_SENDER} to {MAX_NUMERIC_SENDER} digits (no leading 0 after +)."
            )
        return ""
    if digits.translate(_NUMBER_PUNCTUATION).isdigit():
        return f"'{sender}' looks like a number: give it as digits only (e.g. +14155550100)."
    if len(sender) > MAX_ALNUM_SENDER:
        return (
            f"'{sender}' is {len(sender)} characters: an alphanumeric sender id has at most "
            f"{MAX_ALNUM_SENDER} (or give a number)."
        )
    bad = sorted(set(sender) - _ALNUM_SENDER)
    if bad:
        return (
            f"'{sender}' has {', '.join(repr(c) for c in bad)}: an alphanumeric sender id "
            "takes ASCII letters, digits, spaces and . - _ & only."
        )
    if not any(c.isalpha() for c in sender):
        return f"'{sender}' needs a letter (or is a number of {MIN_NUMERIC_SENDER}+ digits)."
    if sender != sender.strip():
        return f"'{sender}' starts or ends with a space."
    return ""
