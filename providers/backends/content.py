"""One content model for every chat adapter: media, location, buttons and the provider's own
template, read from API.md's (OS1's) shapes once, here, and never again by hand.

    media:   {"image": {"url"|"mediaId"}, "document": {"url"|"mediaId", "filename"?},
              "video": ..., "audio": ..., "sticker": ...,
              "location": {"latitude", "longitude", "name"?, "address"?}}
             a kind may hold a list of such objects (MMS takes up to 10 images); the flat
             {"url", "type"?, "filename"?} that some provider pages show is read as one item.
    buttons: ["Yes", {"quick reply": {"value": "No"}}, {"url": {"value"|"trackurl", "title"?}}]
    video:   {"url"|"mediaId", "thumbnail"?: URL, "size"?: bytes, "duration"?: seconds}
             (Viber needs all three; its limits are Capabilities')
    card:    {"title"?, "description"?, "media"?: one image or video as in media,
              "buttons"?: as below, "orientation"?, "imageAlignment"?, "height"?}  (RCS)
    carousel: {"cards": [card, ...], "width"?: "small" | "medium"}  (RCS)
    providerTemplate: {"name", "language"?, "params"?: [...] | "bodyLines",
                       "header"?: {"text": "..."} | one media kind or location as in media,
                       "buttons"?: [{"type": "url"|"quick_reply"|"copy_code", "value",
                                     "index"?}]}

`content_parse` is strict (accept refuses what it cannot read, naming the field); an
adapter then asks `Capabilities.problems` whether its provider can carry what was parsed,
so what a provider cannot carry is a 400 at accept, never dropped at send time.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

MEDIA_KINDS = ("image", "document", "video", "audio", "sticker")
MEDIA_KEYS = frozenset({"url", "mediaId", "filename", "caption", "thumbnail", "size", "duration"})
# A video's own fields (Viber needs them; RCS sends them when given).
KIND_ONLY_KEYS = {"thumbnail": ("video",), "size": ("video",), "duration": ("video",)}
CARD_KEYS = frozenset(
    {"title", "description", "media", "buttons", "orientation", "imageAlignment", "height"}
)
CARD_MEDIA_KINDS = ("image", "video")  # a rich card's media (RCS generalPurposeCard)
CARD_ORIENTATIONS = ("vertical", "horizontal")
CARD_ALIGNMENTS = ("left", "right")
CARD_HEIGHTS = ("short", "medium", "tall")
CAROUSEL_WIDTHS = ("small", "medium")
LOCATION_KEYS = frozenset({"latitude", "longitude", "name", "address"})
IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".gif", ".webp"})
VIDEO_EXTENSIONS = frozenset({".mp4", ".3gp", ".mov"})
AUDIO_EXTENSIONS = frozenset({".mp3", ".ogg", ".aac", ".amr", ".m4a", ".opus"})
TEMPLATE_BUTTON_TYPES = ("url", "quick_reply", "copy_code")
MAX_BUTTONS = 10  # a provider template's buttons (index 0-9)
# A list of buttons as read, before any provider's own cap (RCS's chip list takes 11).
MAX_LISTED_BUTTONS = 25


@dataclass(frozen=True)
class Media:
    kind: str  # one of MEDIA_KINDS
    url: str = ""
    media_id: str = ""  # the provider's own id of an uploaded file
    filename: str = ""
    caption: str = ""
    thumbnail: str = ""  # a video's thumbnail URL
    size: int | None = None  # bytes, as the client states it
    duration: int | None = None  # seconds, as the client states it

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"url": self.url} if self.url else {"mediaId": self.media_id}
        for key in ("filename", "caption", "thumbnail", "size", "duration"):
            if getattr(self, key) not in ("", None):
                out[key] = getattr(self, key)
        return out


@dataclass(frozen=True)
class Location:
    latitude: float
    longitude: float
    name: str = ""
    address: str = ""


@dataclass(frozen=True)
class Button:
    kind: str  # "quick_reply" or "url"
    text: str  # a quick reply's title (and payload); a URL button's label ("" = not given)
    url: str = ""
    track: bool = False  # OS1's trackurl: the provider may shorten and count clicks


@dataclass(frozen=True)
class TemplateButton:
    kind: str  # one of TEMPLATE_BUTTON_TYPES
    value: str
    index: int


@dataclass(frozen=True)
class ProviderTemplate:
    name: str
    language: str = ""  # "" = the adapter's default
    params: tuple[str, ...] = ()
    header_text: str = ""
    header_media: Media | None = None
    header_location: Location | None = None
    buttons: tuple[TemplateButton, ...] = ()


@dataclass(frozen=True)
class Card:
    """A rich card (RCS): at least one of title, description and media, and its own buttons."""

    title: str = ""
    description: str = ""
    media: Media | None = None
    buttons: tuple[Button, ...] = ()
    orientation: str = "vertical"  # one of CARD_ORIENTATIONS
    image_alignment: str = ""  # a horizontal card's media side, one of CARD_ALIGNMENTS
    height: str = ""  # the media's height, one of CARD_HEIGHTS ("": the adapter's default)


@dataclass(frozen=True)
class Carousel:
    cards: tuple[Card, ...]
    width: str = ""  # one of CAROUSEL_WIDTHS ("": the adapter's default)


@dataclass(frozen=True)
class Content:
    media: tuple[Media, ...] = ()
    location: Location | None = None
    buttons: tuple[Button, ...] = ()
    template: ProviderTemplate | None = None
    text: str = ""  # the message's rendered text (a caption, where the content has media)
    card: Card | None = None
    carousel: Carousel | None = None

    @property
    def cards(self) -> tuple[Card, ...]:
        """The standalone card or the carousel's cards."""
        if self.card is not None:
            return (self.card,)
        return self.carousel.cards if self.carousel is not None else ()

    @property
    def all_media(self) -> tuple[Media, ...]:
        """The message's media and its cards' media."""
        return self.media + tuple(c.media for c in self.cards if c.media is not None)

    @property
    def quick_replies(self) -> tuple[Button, ...]:
        return tuple(b for b in self.buttons if b.kind == "quick_reply")

    @property
    def url_buttons(self) -> tuple[Button, ...]:
        return tuple(b for b in self.buttons if b.kind == "url")

    @property
    def is_plain(self) -> bool:
        return not (self.media or self.location or self.buttons or self.template or self.cards)


class ContentInvalid(ValueError):
    """Content that cannot be read: (field path below the entry, what is wrong) pairs."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{path}: {text}" for path, text in problems))
        self.problems = problems


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _http_url(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    parts = urlsplit(value.strip())
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def kind_from_url(url: str) -> str:
    """The media kind a bare URL most likely holds, by its file extension."""
    ext = posixpath.splitext(urlsplit(url).path)[1].lower()
    if ext in IMAGE_EXTENSIONS:
        return "image"
    if ext in VIDEO_EXTENSIONS:
        return "video"
    if ext in AUDIO_EXTENSIONS:
        return "audio"
    return "document"


def _media_item(kind: str, value: Any, path: str, problems: list) -> Media | None:
    if not isinstance(value, dict):
        problems.append((path, f"{kind} must be an object with url or mediaId."))
        return None
    for key in value:
        if key not in MEDIA_KEYS or kind not in KIND_ONLY_KEYS.get(key, (kind,)):
            fields = "url, mediaId, filename, caption" + (
                ", thumbnail, size, duration" * (kind == "video")
            )
            problems.append((f"{path}.{key}", f"is not a field of {kind} ({fields})."))
    url, media_id = value.get("url"), value.get("mediaId")
    if (url is None) == (media_id is None):
        problems.append((path, f"{kind} needs exactly one of url and mediaId."))
        return None
    if url is not None and not _http_url(url):
        problems.append((f"{path}.url", "must be an http(s) URL."))
        return None
    if media_id is not None and not _text(media_id):
        problems.append((f"{path}.mediaId", "must be a non-empty string."))
        return None
    for key in ("filename", "caption"):
        if value.get(key) is not None and not isinstance(value[key], str):
            problems.append((f"{path}.{key}", "must be a string."))
    numbers: dict[str, int | None] = {}
    for key, unit in (("size", "bytes"), ("duration", "seconds")):
        raw = value.get(key)
        if raw is not None and (isinstance(raw, bool) or not isinstance(raw, int) or raw < 1):
            problems.append((f"{path}.{key}", f"must be a whole number of {unit}, at least 1."))
            raw = None
        numbers[key] = raw
    return Media(
        kind=kind,
        url=_text(url),
        media_id=_text(media_id),
        filename=_text(value.get("filename")),
        caption=_text(value.get("caption")),
        thumbnail=_thumbnail(value.get("thumbnail"), f"{path}.thumbnail", problems),
        **numbers,
    )


def _thumbnail(value: Any, path: str, problems: list) -> str:
    """A video's thumbnail: an http(s) URL, or {"url"} (what one of our mediaIds becomes)."""
    if value is None:
        return ""
    url = value.get("url") if isinstance(value, dict) else value
    if not _http_url(url):
        problems.append((path, "must be an http(s) URL (or one of our mediaIds as {mediaId})."))
        return ""
    return url.strip()


def _location(value: Any, path: str, problems: list) -> Location | None:
    if not isinstance(value, dict):
        problems.append(
            (path, "location must be an object {latitude, longitude, name?, address?}.")
        )
        return None
    for key in value:
        if key not in LOCATION_KEYS:
            problems.append((f"{path}.{key}", "is not a field of location."))
    coords = {}
    for key, bound in (("latitude", 90), ("longitude", 180)):
        raw = value.get(key)
        try:
            number = float(raw) if not isinstance(raw, bool) else None
        except (TypeError, ValueError):
            number = None
        if number is None or not -bound <= number <= bound:
            problems.append((f"{path}.{key}", f"must be a number from -{bound} to {bound}."))
        coords[key] = number
    if None in coords.values():
        return None
    return Location(
        latitude=coords["latitude"],
        longitude=coords["longitude"],
        name=_text(value.get("name")),
        address=_text(value.get("address")),
    )


def media_parse(value: Any, path: str = "media") -> tuple[tuple[Media, ...], Location | None]:
    """API.md's media object (or the flat {"url", "type"?} form) as items and a location."""
    problems: list[tuple[str, str]] = []
    items, location = _media(value, path, problems)
    if problems:
        raise ContentInvalid(problems)
    return items, location


def _media(value: Any, path: str, problems: list) -> tuple[tuple[Media, ...], Location | None]:
    if value is None:
        return (), None
    if not isinstance(value, dict):
        problems.append(
            (path, "media must be an object (image, document, video, audio, location).")
        )
        return (), None
    if "url" in value or "mediaId" in value:  # the flat form: one item
        flat = dict(value)
        kind = flat.pop("type", None)
        if kind is None:
            kind = kind_from_url(str(flat.get("url") or ""))
        if kind not in MEDIA_KINDS:
            problems.append((f"{path}.type", f"must be one of {', '.join(MEDIA_KINDS)}."))
            return (), None
        item = _media_item(kind, flat, path, problems)
        return ((item,) if item else ()), None
    items: list[Media] = []
    location = None
    for key, item in value.items():
        if key == "location":
            location = _location(item, f"{path}.location", problems)
        elif key in MEDIA_KINDS:
            for j, one in enumerate(item if isinstance(item, list) else [item]):
                sub = f"{path}.{key}[{j}]" if isinstance(item, list) else f"{path}.{key}"
                parsed = _media_item(key, one, sub, problems)
                if parsed:
                    items.append(parsed)
        else:
            problems.append(
                (f"{path}.{key}", f"is not a media kind ({', '.join(MEDIA_KINDS)}, location).")
            )
    return tuple(items), location


def _buttons(value: Any, path: str, problems: list) -> tuple[Button, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        problems.append((path, "buttons must be a list."))
        return ()
    out: list[Button] = []
    for j, item in enumerate(value):
        sub = f"{path}[{j}]"
        if isinstance(item, str):
            if not item.strip():
                problems.append((sub, "a quick reply needs its text."))
                continue
            out.append(Button("quick_reply", item.strip()))
            continue
        if not isinstance(item, dict) or len(item) != 1:
            problems.append(
                (sub, 'a button is a string, {"quick reply": {"value"}} or {"url": {"value"}}.')
            )
            continue
        ((key, spec),) = item.items()
        norm = key.replace("_", " ").replace("-", " ").lower()
        norm = "quick reply" if norm == "quickreply" else norm
        if not isinstance(spec, dict):
            problems.append((f"{sub}.{key}", "must be an object."))
            continue
        if norm == "quick reply":
            text = _text(spec.get("value")) or _text(spec.get("title"))
            if not text:
                problems.append((f"{sub}.{key}.value", "a quick reply needs its text."))
                continue
            out.append(Button("quick_reply", text))
        elif norm == "url":
            url = spec.get("value") if spec.get("value") is not None else spec.get("trackurl")
            if not _http_url(url):
                problems.append((f"{sub}.url.value", "a URL button needs an http(s) URL."))
                continue
            label = _text(spec.get("title")) or _text(spec.get("text"))
            out.append(Button("url", label, url=url.strip(), track="trackurl" in spec))
        else:
            problems.append((f"{sub}.{key}", "is not a button type (quick reply, url)."))
    if len(out) > MAX_LISTED_BUTTONS:
        problems.append((path, f"at most {MAX_LISTED_BUTTONS} buttons."))
    return tuple(out)


def _template(value: Any, body: str, path: str, problems: list) -> ProviderTemplate | None:
    if value is None:
        return None
    if not isinstance(value, dict) or not _text(value.get("name")):
        problems.append((path, "providerTemplate needs the provider template's name."))
        return None
    known = {"name", "language", "params", "header", "buttons"}
    for key in value:
        if key not in known:
            problems.append((f"{path}.{key}", "is not a field of providerTemplate."))
    if value.get("language") is not None and not isinstance(value["language"], str):
        problems.append((f"{path}.language", "must be a language code such as en or en_US."))
    raw_params = value.get("params")
    if raw_params == "bodyLines":  # asked for: each non-empty line of the rendered text
        params = tuple(line.strip() for line in body.splitlines() if line.strip())
    elif raw_params is None:
        params = ()
    elif isinstance(raw_params, list) and all(
        isinstance(p, str | int | float) and not isinstance(p, bool) for p in raw_params
    ):
        params = tuple(str(p) for p in raw_params)
    else:
        problems.append((f"{path}.params", 'must be a list of strings or "bodyLines".'))
        params = ()
    header_text, header_media, header_location = "", None, None
    header = value.get("header")
    if header is not None:
        if isinstance(header, dict) and set(header) == {"text"} and isinstance(header["text"], str):
            header_text = header["text"]
        elif isinstance(header, dict) and len(header) == 1:
            items, header_location = _media(header, f"{path}.header", problems)
            header_media = items[0] if items else None
        else:
            problems.append(
                (
                    f"{path}.header",
                    'a header is {"text"} or one of image, document, video, location.',
                )
            )
    buttons: list[TemplateButton] = []
    raw_buttons = value.get("buttons")
    if raw_buttons is not None and not isinstance(raw_buttons, list):
        problems.append((f"{path}.buttons", "must be a list."))
        raw_buttons = []
    for j, item in enumerate(raw_buttons or []):
        sub = f"{path}.buttons[{j}]"
        if not isinstance(item, dict) or item.get("type") not in TEMPLATE_BUTTON_TYPES:
            problems.append((f"{sub}.type", f"must be one of {', '.join(TEMPLATE_BUTTON_TYPES)}."))
            continue
        index = item.get("index", j)
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < MAX_BUTTONS:
            problems.append((f"{sub}.index", "must be the button's position in the template, 0-9."))
            continue
        if not isinstance(item.get("value"), str | int) or isinstance(item.get("value"), bool):
            problems.append((f"{sub}.value", "must be a string."))
            continue
        buttons.append(TemplateButton(item["type"], str(item["value"]), index))
    return ProviderTemplate(
        name=_text(value["name"]),
        language=_text(value.get("language")),
        params=params,
        header_text=header_text,
        header_media=header_media,
        header_location=header_location,
        buttons=tuple(buttons),
    )


def _choice(value: Any, choices: tuple[str, ...], path: str, problems: list) -> str:
    if value is None:
        return ""
    if not isinstance(value, str) or value.lower() not in choices:
        problems.append((path, f"must be one of {', '.join(choices)}."))
        return ""
    return value.lower()


def _card(value: Any, path: str, problems: list) -> Card | None:
    if not isinstance(value, dict):
        problems.append((path, "a card is an object {title?, description?, media?, buttons?}."))
        return None
    for key in value:
        if key not in CARD_KEYS:
            problems.append(
                (f"{path}.{key}", f"is not a field of a card ({', '.join(CARD_KEYS)}).")
            )
    texts = {}
    for key in ("title", "description"):
        if value.get(key) is not None and not isinstance(value[key], str):
            problems.append((f"{path}.{key}", "must be a string."))
        texts[key] = _text(value.get(key))
    items, location = _media(value.get("media"), f"{path}.media", problems)
    if location is not None or len(items) > 1:
        problems.append((f"{path}.media", "a card holds one image or video."))
    elif items and items[0].kind not in CARD_MEDIA_KINDS:
        problems.append((f"{path}.media.{items[0].kind}", "a card holds one image or video."))
    media = items[0] if len(items) == 1 else None
    if not (texts["title"] or texts["description"] or value.get("media") is not None):
        problems.append((path, "a card needs a title, a description or media."))
    orientation = _choice(
        value.get("orientation"), CARD_ORIENTATIONS, f"{path}.orientation", problems
    )
    alignment = _choice(
        value.get("imageAlignment"), CARD_ALIGNMENTS, f"{path}.imageAlignment", problems
    )
    if alignment and orientation != "horizontal":
        problems.append((f"{path}.imageAlignment", "is for a horizontal card only."))
    return Card(
        title=texts["title"],
        description=texts["description"],
        media=media,
        buttons=_buttons(value.get("buttons"), f"{path}.buttons", problems),
        orientation=orientation or "vertical",
        image_alignment=alignment,
        height=_choice(value.get("height"), CARD_HEIGHTS, f"{path}.height", problems),
    )  # fmt: skip


def _carousel(value: Any, path: str, problems: list) -> Carousel | None:
    if (
        not isinstance(value, dict)
        or not isinstance(value.get("cards"), list)
        or not value["cards"]
    ):
        problems.append((path, 'a carousel is {"cards": [card, ...], "width"?}.'))
        return None
    for key in value:
        if key not in ("cards", "width"):
            problems.append((f"{path}.{key}", "is not a field of a carousel (cards, width)."))
    cards = [_card(c, f"{path}.cards[{j}]", problems) for j, c in enumerate(value["cards"])]
    width = _choice(value.get("width"), CAROUSEL_WIDTHS, f"{path}.width", problems)
    return Carousel(cards=tuple(c for c in cards if c is not None), width=width)


def content_parse(payload: dict[str, Any] | None, body: str = "") -> Content:
    """The content of a send entry (its media, buttons and providerTemplate), strictly."""
    payload = payload or {}
    problems: list[tuple[str, str]] = []
    media, location = _media(payload.get("media"), "media", problems)
    buttons = _buttons(payload.get("buttons"), "buttons", problems)
    template = _template(payload.get("providerTemplate"), body, "providerTemplate", problems)
    card = _card(payload["card"], "card", problems) if payload.get("card") is not None else None
    carousel = None
    if payload.get("carousel") is not None:
        carousel = _carousel(payload["carousel"], "carousel", problems)
    if card is not None and carousel is not None:
        problems.append(("carousel", "give card or carousel, not both."))
    if (card or carousel) and (media or location):
        problems.append(("media", "with a card or carousel, media goes in the card."))
    if (card or carousel) and template is not None:
        problems.append(("providerTemplate", "give providerTemplate or a card, not both."))
    if template is not None and buttons:
        problems.append(
            (
                "buttons",
                "with providerTemplate, the template's buttons are its own: give their "
                "parameters in providerTemplate.buttons.",
            )
        )
    if template is not None and (media or location):
        # The entry's one media item is the template's header, unless a header is given.
        given = template.header_media or template.header_location or template.header_text
        if given or len(media) + (location is not None) > 1:
            problems.append(
                (
                    "media",
                    "with providerTemplate, media is the template's header: give one "
                    "item (or providerTemplate.header).",
                )
            )
        else:
            template = ProviderTemplate(
                **{**template.__dict__, "header_media": media[0] if media else None,
                   "header_location": location}
            )  # fmt: skip
            media, location = (), None
    if problems:
        raise ContentInvalid(problems)
    return Content(
        media=media, location=location, buttons=buttons, template=template, text=body,
        card=card, carousel=carousel,
    )  # fmt: skip


@dataclass(frozen=True)
class Capabilities:
    """What one provider carries on one channel: `problems` names what it cannot, so accept
    refuses it (400) instead of the adapter dropping it."""

    media_kinds: frozenset[str] = frozenset()
    max_media: int = 0
    media_by_id: bool = False  # takes the provider's own mediaId
    location: bool = False
    quick_replies: int = 0  # at most this many quick-reply buttons
    url_buttons: int = 0  # at most this many URL buttons
    mixed_buttons: bool = False  # quick replies and URL buttons in one message
    buttons_with_media: bool = True
    media_with_location: bool = False
    button_title_max: int = 0  # quick-reply titles and URL labels (0: any length)
    unique_button_titles: bool = False  # quick-reply titles (their payloads) all different
    url_button_title_required: bool = False  # a URL button needs its label
    # The media kinds that may head a message with buttons (None: any media, if with buttons).
    button_header_media: frozenset[str] | None = None
    templates: bool = False
    template_header_media: frozenset[str] = field(default_factory=frozenset)
    template_header_text: bool = True
    template_buttons: bool = True  # providerTemplate.buttons' parameters
    # Media kinds (and "location") the provider sends without text: a message with text and
    # one of them is refused, not sent with its text dropped (a media-only entry may have
    # an empty body).
    uncaptioned: frozenset[str] = field(default_factory=frozenset)
    note: str = ""  # said after a refusal (e.g. "use providerTemplate")
    max_buttons: int = 0  # quick replies and URL buttons together (0: no cap of its own)
    # Rich cards (RCS): a standalone card or a carousel of `carousel_cards` (min, max) cards,
    # each with at most `card_buttons` buttons and the title/description limits.
    cards: bool = False
    card_buttons: int = 0
    carousel_cards: tuple[int, int] = (0, 0)
    card_title_max: int = 0
    card_description_max: int = 0
    # A video needs its thumbnail, size and duration (Viber), within these limits (0: none).
    video_details: bool = False
    video_max_bytes: int = 0
    video_max_seconds: int = 0
    video_thumbnail: bool = False  # a video's thumbnail is sent (else it is refused)

    def problems(self, content: Content, who: str) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        tail = f" {self.note}" if self.note else ""
        out += self._card_problems(content, who)
        out += self._video_problems(content, who)
        for m in content.media:
            if m.kind not in self.media_kinds:
                out.append((f"media.{m.kind}", f"{who} cannot send {m.kind} media.{tail}"))
            elif m.media_id and not self.media_by_id:
                out.append((f"media.{m.kind}.mediaId", f"{who} takes media by url only."))
        if self.max_media and len(content.media) > self.max_media:
            out.append(
                ("media", f"{who} carries at most {self.max_media} media item(s) per message.")
            )
        if content.text.strip() and content.template is None:
            kinds = [m.kind for m in content.media] + ["location"] * bool(content.location)
            for kind in kinds:
                if kind in self.uncaptioned:
                    out.append(
                        ("body", f"{who} sends {kind} without text: give an empty body, and "
                         "the text as an entry of its own.")
                    )  # fmt: skip
        if content.location and not self.location:
            out.append(("media.location", f"{who} cannot send a location.{tail}"))
        if content.location and content.media and not self.media_with_location:
            out.append(("media", f"{who} sends a location or media in one message, not both."))
        qr, urls = content.quick_replies, content.url_buttons
        if len(qr) > self.quick_replies:
            what = f"at most {self.quick_replies}" if self.quick_replies else "no"
            out.append(("buttons", f"{who} takes {what} quick-reply buttons.{tail}"))
        if len(urls) > self.url_buttons:
            what = f"at most {self.url_buttons}" if self.url_buttons else "no"
            out.append(("buttons", f"{who} takes {what} URL buttons.{tail}"))
        if qr and urls and not self.mixed_buttons:
            out.append(("buttons", f"{who} takes quick replies or a URL button, not both."))
        if content.buttons and content.media and not self.buttons_with_media:
            out.append(("buttons", f"{who} cannot send buttons with media."))
        if content.buttons and content.location:
            out.append(("buttons", f"{who} cannot send buttons with a location."))
        heads = self.button_header_media
        if (
            content.buttons
            and heads is not None
            and any(m.kind not in heads for m in content.media)
        ):
            out.append(
                ("buttons", f"{who} heads a message with buttons with {', '.join(sorted(heads))} "
                 "only.")
            )  # fmt: skip
        if self.max_buttons and len(content.buttons) > self.max_buttons:
            out.append(("buttons", f"{who} takes at most {self.max_buttons} buttons."))
        out += self._button_problems(content.buttons, who)
        t = content.template
        if t is not None and not self.templates:
            out.append(("providerTemplate", f"{who} has no pre-approved templates."))
        elif t is not None:
            if t.header_media and t.header_media.kind not in self.template_header_media:
                out.append(
                    ("providerTemplate.header", f"{who} cannot use a {t.header_media.kind} header.")
                )
            if t.header_location and "location" not in self.template_header_media:
                out.append(("providerTemplate.header", f"{who} cannot use a location header."))
            if t.header_media and t.header_media.media_id and not self.media_by_id:
                out.append(("providerTemplate.header", f"{who} takes media by url only."))
            if t.header_text and not self.template_header_text:
                out.append(("providerTemplate.header", f"{who} takes no text header."))
            if t.buttons and not self.template_buttons:
                out.append(("providerTemplate.buttons", f"{who} takes no button parameters."))
        return out

    def _button_problems(
        self, buttons: tuple[Button, ...], who: str, path: str = "buttons"
    ) -> list[tuple[str, str]]:
        """Titles: their length, their uniqueness, a URL button's label where required."""
        out: list[tuple[str, str]] = []
        titles: set[str] = set()
        most = self.button_title_max
        for j, button in enumerate(buttons):
            if button.kind == "quick_reply":
                if most and len(button.text) > most:
                    out.append((f"{path}[{j}]", f"{who} takes button titles of at most {most} "
                                "characters."))  # fmt: skip
                elif self.unique_button_titles and button.text in titles:
                    out.append((f"{path}[{j}]", f"{who} needs unique button titles."))
                titles.add(button.text)
            elif not button.text and self.url_button_title_required:
                out.append((f"{path}[{j}]", f"{who} needs a title for a URL button."))
            elif most and len(button.text) > most:
                out.append((f"{path}[{j}].url.title", f"{who} takes URL button labels of at "
                            f"most {most} characters."))  # fmt: skip
        return out

    def _card_problems(self, content: Content, who: str) -> list[tuple[str, str]]:
        """A card or carousel: whether the provider sends one, its size, each card's limits."""
        if not content.cards:
            return []
        top = "card" if content.card is not None else "carousel"
        if not self.cards:
            return [(top, f"{who} cannot send rich cards.")]
        out: list[tuple[str, str]] = []
        if content.text.strip():
            out.append(("body", f"{who} sends a card without text: put the text in the card's "
                        "title and description, and give an empty body."))  # fmt: skip
        least, most = self.carousel_cards
        count = len(content.cards)
        if content.carousel is not None and not least <= count <= most:
            out.append(("carousel.cards", f"{who} takes a carousel of {least} to {most} cards; "
                        f"this one has {count}."))  # fmt: skip
        for j, card in enumerate(content.cards):
            path = "card" if content.card is not None else f"carousel.cards[{j}]"
            for key, limit in (("title", self.card_title_max),
                               ("description", self.card_description_max)):  # fmt: skip
                text = getattr(card, key)
                if limit and len(text) > limit:
                    out.append((f"{path}.{key}", f"{who} takes a card {key} of at most {limit} "
                                f"characters; this one has {len(text)}."))  # fmt: skip
            if len(card.buttons) > self.card_buttons:
                out.append((f"{path}.buttons", f"{who} takes at most {self.card_buttons} "
                            "buttons on a card."))  # fmt: skip
            out += self._button_problems(card.buttons, who, f"{path}.buttons")
            m = card.media
            if m is not None and m.media_id and not self.media_by_id:
                out.append((f"{path}.media.{m.kind}.mediaId", f"{who} takes media by url only."))
        return out

    def _video_problems(self, content: Content, who: str) -> list[tuple[str, str]]:
        """A video's thumbnail, size and duration, where the channel needs them (Viber)."""
        out: list[tuple[str, str]] = []
        if not self.video_thumbnail and any(m.thumbnail for m in content.all_media):
            out.append(("media.video.thumbnail", f"{who} sends no video thumbnail."))
        for m in content.media:
            if m.kind != "video" or not (
                self.video_details or self.video_max_bytes or self.video_max_seconds
            ):
                continue
            path = "media.video"
            if self.video_details:
                for key, what in (("thumbnail", "its thumbnail's URL"),
                                  ("size", "its size in bytes"),
                                  ("duration", "its duration in seconds")):  # fmt: skip
                    if getattr(m, key) in ("", None):
                        out.append((f"{path}.{key}", f"{who} sends a video with {what}."))
            if self.video_max_bytes and m.size and m.size > self.video_max_bytes:
                out.append((f"{path}.size", f"{who} sends videos of at most "
                            f"{self.video_max_bytes} bytes; this one has {m.size}."))  # fmt: skip
            if self.video_max_seconds and m.duration and m.duration > self.video_max_seconds:
                most = self.video_max_seconds
                out.append((f"{path}.duration", f"{who} sends videos of at most {most} "
                            f"seconds; this one lasts {m.duration}."))  # fmt: skip
        return out


PLAIN = Capabilities()

# Viber's video (messente-api-python ViberVideo: url, thumbnail, file_size "cannot be larger
# than 200MB", duration "cannot be longer than 600 seconds"; all four required). 200 MB is
# read as 200,000,000 bytes, the stricter reading.
VIBER_VIDEO = {
    "video_details": True, "video_thumbnail": True, "video_max_bytes": 200_000_000,
    "video_max_seconds": 600,
}  # fmt: skip
# RCS rich cards and suggestions as the RCS Business Messaging clients take them: card title
# 200 and description 2,000 characters, 4 suggestions per card, 11 per message, 25
# characters of display text, carousels of 2 to 10 cards (websms documents none of its own).
RCS_CARDS = {
    "cards": True, "card_buttons": 4, "carousel_cards": (2, 10), "card_title_max": 200,
    "card_description_max": 2000, "max_buttons": 11, "button_title_max": 25,
    "url_button_title_required": True,
}  # fmt: skip
