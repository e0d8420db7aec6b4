"""What the social channels (x, mastodon, bluesky, facebook) share: fitting text, images, URLs.

Everything here that shapes text is built on :mod:`syndicator.render`, so a post is measured
the way its platform counts (``Limits.counting``) and cut only at word, grapheme and URL
boundaries. The rendering half is pure (no network, no file read): :func:`render_social`
chooses the template, fits it or splits it into a thread, picks the images and fills in alt
text. The publishing half (:func:`load_image`, :func:`base_url`, :func:`scrub`) is called
from ``publish`` only.

Template choice, first match wins:

1. the release's own text for this channel: front matter ``channels: {NAME: {text: ...}}``
   (keyed by the channel's name in config, or by its type);
2. the channel's ``template`` option;
3. the default template of the channel's ``locale`` (``"id"`` or ``"en"``; by default the
   release's language), from :data:`syndicator.render.DEFAULT_TEMPLATES`.

A template is a ``str.format`` string over ``{title} {summary} {url} {agency} {hashtags}
{date} {id}`` and, in a thread, ``{body}``; a literal brace is written ``{{``.

Without ``thread = true`` a post is the template filled and shortened to fit: the summary is
truncated first (hashtags are dropped, last first, rather than leave it under a third of the
limit), then it goes, then the title is truncated; the link is never cut. With ``thread =
true`` the whole release (title, body, hashtags) is split into numbered parts ("1/3"), each
within the limit, with the link in the first or the last part (``link_in``); a body longer
than ``max_parts`` parts hold is cut at a word boundary with "…" (the link leads to the rest).

Images: up to the platform's count (or ``max_images``), alt text always (the image's, else
its title, else the release title), an image whose declared size or type the platform cannot
take skipped with a warning in ``render``, one whose real size is too large skipped with a
warning in ``publish`` (nothing is resized).
"""

from __future__ import annotations

import mimetypes
import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from syndicator.content import plain
from syndicator.errors import PermanentError, TransientError
from syndicator.models import Media, Post, Release
from syndicator.options import Option, Secret
from syndicator.render import (
    URL_RE,
    count,
    fit_summary,
    fits,
    graphemes,
    hashtags,
    render_template,
    split_thread,
    template_for,
    truncate,
)

if TYPE_CHECKING:
    from syndicator.channel import ChannelContext, Limits

#: Image types every one of the four platforms accepts for a post.
IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
#: The thread template when none is configured: the whole release, hashtags last.
THREAD_TEMPLATE = "{title}\n\n{body}\n\n{hashtags}"
SNIPPET = 300
#: The most graphemes a shortened link shows (see :func:`display_link`).
DISPLAY_LINK = 30

#: Options every social channel takes (each channel adds its own).
SOCIAL_OPTIONS: tuple[Option, ...] = (
    Option(
        "template",
        str,
        help="str.format template: {title} {summary} {url} {agency} {hashtags} {date} {id} ({body} in threads)",
    ),
    Option("locale", str, help='default template language, "id" or "en" (default: the release language)'),
    Option("thread", bool, default=False, help="post the whole release as a numbered thread when it is long"),
    Option(
        "link_in",
        str,
        default="first",
        choices=("first", "last"),
        help="which part of a thread carries the link",
    ),
    Option(
        "max_parts",
        int,
        default=5,
        help='the most posts in a thread; a longer body is cut with "…" (the link leads to the rest)',
    ),
    Option("max_hashtags", int, default=3, help="hashtags made from the release's tags (0 for none)"),
    Option("max_images", int, help="attach at most this many images (default: the platform's maximum)"),
)


def social_options(*, threads: bool = True) -> tuple[Option, ...]:
    """:data:`SOCIAL_OPTIONS`, less ``thread`` and ``link_in`` for a platform without threads."""
    if threads:
        return SOCIAL_OPTIONS
    return tuple(o for o in SOCIAL_OPTIONS if o.name not in ("thread", "link_in", "max_parts"))


@dataclass(frozen=True)
class Rendered:
    """The platform-neutral result of :func:`render_social`."""

    parts: tuple[str, ...]
    media: tuple[Media, ...]
    lengths: tuple[int, ...]
    notes: tuple[str, ...] = ()

    @property
    def text(self) -> str:
        return "\n\n".join(self.parts)


# -- options ------------------------------------------------------------------------------


def base_url(value: Any, key: str) -> str:
    """A validated service base URL without a trailing slash.

    https is required, except for a loopback host (tests, local servers), where http is allowed.
    """
    if not isinstance(value, str) or not value.strip():
        raise PermanentError(f"{key}: expected an https:// URL, got {value!r}")
    parts = urlsplit(value.strip())
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("http", "https") or not host:
        raise PermanentError(f"{key}: expected an https:// URL with a host, got {value!r}")
    if parts.scheme == "http" and host not in LOCAL_HOSTS:
        raise PermanentError(f"{key}: must use https:// (http is allowed only for 127.0.0.1 or localhost)")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise PermanentError(f"{key}: must not carry credentials, a query or a fragment")
    return value.strip().rstrip("/")


def validate_social(
    options: Mapping[str, Any], url_keys: Sequence[str] = (), limits: Limits | None = None
) -> list[tuple[str, str]]:
    """Config-time checks shared by the social channels: URLs, the template, counts."""
    problems: list[tuple[str, str]] = []
    for key in url_keys:
        if options.get(key) is None:
            continue
        try:
            base_url(options.get(key), key)
        except PermanentError as exc:
            problems.append((key, str(exc).removeprefix(f"{key}: ")))
    template = options.get("template")
    if template is not None:
        probe = Release(source="s", id="i", title="t", url="https://example.org/r")
        try:
            render_template(template, probe, extra={"body": ""})
        except PermanentError as exc:
            problems.append(("template", str(exc).removeprefix("template: ")))
        else:
            if not template.strip():
                problems.append(("template", "is empty"))
    for key in ("max_hashtags", "max_images"):
        value = options.get(key)
        if isinstance(value, int) and value < 0:
            problems.append((key, f"expected 0 or more, got {value}"))
    parts = options.get("max_parts")
    if isinstance(parts, int) and parts < 1:
        problems.append(("max_parts", f"expected 1 or more, got {parts}"))
    max_images = options.get("max_images")
    if limits is not None and isinstance(max_images, int) and max_images > limits.max_media:
        problems.append(("max_images", f"the platform takes at most {limits.max_media} images"))
    return problems


def secret_value(ctx: ChannelContext, key: str, channel: str) -> str:
    """The revealed value of a secret option; only for the request that needs it."""
    value = ctx.options.get(key)
    if isinstance(value, Secret):
        value = value.reveal()
    if not isinstance(value, str) or not value:
        from syndicator.errors import AuthError

        raise AuthError(f'{channel}: {key} is not set (give it as {{ env = "VARIABLE" }})')
    return value


def scrub(text: str, secrets: Sequence[str]) -> str:
    """``text`` with every secret replaced, for messages built from server answers."""
    for value in secrets:
        if value:
            text = text.replace(value, "<secret>")
    return text


def snippet(text: str, secrets: Sequence[str] = ()) -> str:
    """A short one-line excerpt of a response body for an error message (secrets removed)."""
    return " ".join(scrub(text, secrets)[:SNIPPET].split())


# -- rendering (pure) ---------------------------------------------------------------------


def locale_of(release: Release, options: Mapping[str, Any]) -> str:
    return str(options.get("locale") or release.language or "en")


def override_text(release: Release, ctx: ChannelContext, channel_type: str) -> str | None:
    """The release's own template for this channel (front matter ``channels:``), if any."""
    for key in (ctx.name, channel_type):
        value = (release.overrides.get(key) or {}).get("text")
        if isinstance(value, str) and value.strip():
            return value
    return None


def summary_of(release: Release) -> str:
    """The release's summary, or its first paragraph when it has none."""
    summary = plain(release.summary)
    if summary:
        return summary
    first = next((p for p in re.split(r"\n\s*\n", release.body_text) if p.strip()), "")
    return plain(first)


def body_of(release: Release) -> str:
    """The text a thread tells: the body, led by the summary unless the body opens with it."""
    body = release.body_text.strip()
    summary = plain(release.summary)
    if not body:
        return summary
    if summary and not plain(body[: len(summary) * 2 + 80]).startswith(summary[:60]):
        return f"{summary}\n\n{body}"
    return body


def clean_hashtags(tags: Sequence[str]) -> list[str]:
    """:func:`syndicator.render.hashtags`, without joiners left dangling by dropped emoji.

    ``hashtags`` keeps ZWJ/ZWNJ (Persian and Indic spelling need them) but drops the emoji
    around them, so "keluarga👨‍👩‍👧" would end in three bare ZWJs: a tag cut inside a cluster.
    """
    out: list[str] = []
    for tag in hashtags(tags):
        body = re.sub(r"[\u200c\u200d]{2,}", "", tag[1:]).strip("\u200c\u200d")
        if body and ("#" + body).casefold() not in (t.casefold() for t in out):
            out.append("#" + body)
    return out


def display_link(url: str, max_graphemes: int = DISPLAY_LINK) -> str:
    """A short form of ``url`` for text that links by facet (Bluesky): no scheme, no "www.".

    "https://www.example.go.id/rilis/2024/05/jembatan-baru" -> "example.go.id/rilis/2024/05/j…"
    """
    parts = urlsplit(url)
    host = (parts.hostname or "").removeprefix("www.")
    rest = parts.path.rstrip("/") + (f"?{parts.query}" if parts.query else "")
    shown = host + (rest if rest != "/" else "")
    clusters = graphemes(shown)
    if len(clusters) <= max_graphemes:
        return shown
    return "".join(clusters[: max_graphemes - 1]) + "…"


def render_social(
    release: Release,
    ctx: ChannelContext,
    limits: Limits,
    *,
    channel_type: str,
    kind: str = "short",
    threads: bool = True,
    alt_limit: int = 1000,
) -> Rendered:
    """Text parts and images for ``release`` on one social channel. Pure.

    ``limits`` is the channel's (possibly configured) limits; ``kind`` the default template
    kind ("short" for microblogs, "long" for Facebook); ``threads`` whether the platform can
    thread; ``alt_limit`` the most graphemes of alt text it takes.
    """
    options = ctx.options
    link = release.url.strip()
    tags = clean_hashtags(release.tags)[: max(0, int(options.get("max_hashtags") or 0))]
    template = (
        override_text(release, ctx, channel_type)
        or options.get("template")
        or template_for(locale_of(release, options), kind)
    )
    link_in = str(options.get("link_in") or "first")
    if threads and options.get("thread"):
        if not (override_text(release, ctx, channel_type) or options.get("template")):
            template = THREAD_TEMPLATE
        text = render_template(
            template,
            release,
            extra={
                "body": body_of(release),
                "summary": summary_of(release),
                "url": "",
                "hashtags": " ".join(tags),
            },
        )
        parts = thread_parts(text, limits, link, link_in, int(options.get("max_parts") or 5))
    else:
        parts = [fit_template(template, release, limits, url=link, tags=tags)]
    parts = [p for p in parts if p.strip()]
    if not parts:
        raise PermanentError(f"{channel_type}: the release renders to an empty post")
    media, notes = pick_images(release, limits, options.get("max_images"), alt_limit, ctx)
    return Rendered(tuple(parts), media, tuple(count(p, limits) for p in parts), notes)


def thread_parts(text: str, limits: Limits, link: str, link_in: str, max_parts: int) -> list[str]:
    """``text`` split into a numbered thread of at most ``max_parts`` parts.

    When the whole text needs more, it is truncated (word boundary, "…") to what that many
    parts hold, shrinking until the split fits; the link still goes first or last.
    """
    if limits.max_length is None:
        return split_thread(text, limits, numbering=True, link=link, link_in=link_in)
    # Text past max_parts full parts can never fit: cut it before splitting (long bodies).
    budget = max_parts * limits.max_length
    short = text if count(text, limits) <= budget else truncate(text, replace(limits, max_length=budget))
    while True:
        parts = split_thread(short, limits, numbering=True, link=link, link_in=link_in)
        if len(parts) <= max_parts:
            return parts
        budget = min(budget - 1, budget * max_parts // len(parts))
        if budget <= 0:
            break
        short = truncate(text, replace(limits, max_length=budget))
    raise PermanentError(f"cannot fit the release into a thread of {max_parts} parts")


def fit_template(template: str, release: Release, limits: Limits, *, url: str, tags: Sequence[str]) -> str:
    """``template`` filled from ``release`` and shortened to fit ``limits``.

    The order of sacrifice follows :func:`syndicator.render.fit_summary`: truncate the
    summary, dropping hashtags (last first) rather than leave it under a third of the limit;
    then drop the summary; then truncate the title. ``url`` is never cut: PermanentError if
    it cannot fit. A template whose fixed text alone is too long falls back to
    ``fit_summary``.
    """
    title, summary = plain(release.title), summary_of(release)

    def build(head: str, middle: str, ntags: int) -> str:
        extra = {"title": head, "summary": middle, "url": url, "hashtags": " ".join(tags[:ntags])}
        return render_template(template, release, extra=extra)

    full = build(title, summary, len(tags))
    if fits(full, limits):
        return full
    if url and not fits(url, limits):
        raise PermanentError(f"the link {url!r} alone is longer than the limit of {limits.max_length}")
    floor = min(count(summary, limits), (limits.max_length or 0) // 3)
    for ntags in range(len(tags), -1, -1):

        def with_summary(middle: str, n: int = ntags) -> str:
            return build(title, middle, n)

        short = _longest(summary, limits, with_summary)
        if short and (ntags == 0 or count(short, limits) >= floor):
            return build(title, short, ntags)

    def with_title(head: str) -> str:
        return build(head, "", 0)

    short_title = _longest(title, limits, with_title)
    if short_title:
        return build(short_title, "", 0)
    if fits(build("", "", 0), limits) and "{url}" in template:
        return build("", "", 0)
    # The template's own words leave no room: fall back to the plain shape.
    return fit_summary(title, summary, url, limits)


def _has_words(text: str) -> bool:
    return bool(text.strip().rstrip("…").strip())


def _longest(text: str, limits: Limits, wrap: Callable[[str], str]) -> str:
    """The longest truncation of ``text`` (word boundary, "…") for which ``wrap`` fits; "" if none."""
    if not text or limits.max_length is None:
        return text
    if fits(wrap(text), limits):
        return text

    def attempt(room: int) -> str:
        cut = truncate(text, replace(limits, max_length=room))
        return cut if _has_words(cut) else ""

    lo, hi, best = 1, count(text, limits), ""
    while lo <= hi:
        mid = (lo + hi) // 2
        cut = attempt(mid)
        if cut and fits(wrap(cut), limits):
            best, lo = cut, mid + 1
        elif not cut:
            lo = mid + 1
        else:
            hi = mid - 1
    return best


def pick_images(
    release: Release,
    limits: Limits,
    max_images: int | None,
    alt_limit: int,
    ctx: ChannelContext,
) -> tuple[tuple[Media, ...], tuple[str, ...]]:
    """The release's images this platform can take, each with alt text. Pure.

    Up to ``limits.max_media`` (or ``max_images``, when smaller); an image whose declared
    size exceeds ``limits.max_media_bytes``, or whose type the platforms do not take, is
    skipped with a warning. Alt text is the image's own, else its title, else the release
    title: never empty. The bytes of local files are read in publish, not here.
    """
    room = limits.max_media if max_images is None else min(max_images, limits.max_media)
    picked: list[Media] = []
    notes: list[str] = []
    extra = 0
    for media in release.images:
        if media.kind != "image":
            continue
        where = media.location
        mime = mime_of(media)
        if mime not in IMAGE_TYPES:
            notes.append(f"skipped {where}: type {mime or 'unknown'} is not an image the platform takes")
            continue
        if media.size and limits.max_media_bytes and media.size > limits.max_media_bytes:
            notes.append(f"skipped {where}: {media.size} bytes is over the limit of {limits.max_media_bytes}")
            continue
        if len(picked) >= room:
            extra += 1
            continue
        alt = plain(media.alt) or plain(media.title) or plain(release.title)
        clusters = graphemes(alt)
        if len(clusters) > alt_limit:
            alt = "".join(clusters[: alt_limit - 1]) + "…"
        picked.append(replace(media, alt=alt, mime_type=mime))
    if extra:
        notes.append(f"skipped {extra} more image(s): at most {room} per post")
    for note in notes:
        ctx.logger.warning("%s: %s", ctx.name, note)
    return tuple(picked), tuple(notes)


def mime_of(media: Media) -> str:
    if media.mime_type:
        return media.mime_type.split(";")[0].strip().lower()
    path = urlsplit(media.location).path if media.is_remote else media.location
    guessed, _ = mimetypes.guess_type(PurePosixPath(path).name)
    return guessed or ""


def make_post(
    release: Release,
    ctx: ChannelContext,
    rendered: Rendered,
    limits: Limits,
    extra: Mapping[str, Any] | None = None,
) -> Post:
    """A :class:`Post` whose ``extra`` shows the counted length of each part (for preview)."""
    info: dict[str, Any] = {
        "lengths": list(rendered.lengths),
        "limit": limits.max_length,
        "counting": limits.counting,
    }
    if rendered.notes:
        info["notes"] = list(rendered.notes)
    info.update(extra or {})
    return Post(
        channel=ctx.name,
        release_key=release.key,
        text=rendered.text,
        title=release.title,
        link=release.url,
        parts=rendered.parts,
        media=rendered.media,
        extra=info,
    )


# -- facets (Bluesky's rich text, kept here because it is pure text work) -----------------

_TAG_RE = re.compile(r"(?:^|(?<=\s))#([^\s#]+)")
_TAG_TRAIL = ".,;:!?)]}'\"…»”’"


def byte_offset(text: str, index: int) -> int:
    """The UTF-8 byte offset of character ``index`` in ``text``."""
    return len(text[:index].encode("utf-8"))


def link_spans(text: str) -> list[tuple[int, int, str]]:
    """(start, end, uri) in characters for each URL in ``text``."""
    return [(m.start(), m.end(), m.group()) for m in URL_RE.finditer(text)]


def shorten_urls(text: str, max_graphemes: int = DISPLAY_LINK) -> tuple[str, list[tuple[int, int, str]]]:
    """``text`` with each URL replaced by its :func:`display_link`, and where each now stands.

    Returns the new text and (start, end, full URL) spans in it, so a facet can link the short
    form to the whole URL. Text fitted with ``url_length = max_graphemes`` still fits after.
    """
    out: list[str] = []
    spans: list[tuple[int, int, str]] = []
    pos = length = 0
    for m in URL_RE.finditer(text):
        out.append(text[pos : m.start()])
        length += m.start() - pos
        shown = display_link(m.group(), max_graphemes)
        spans.append((length, length + len(shown), m.group()))
        out.append(shown)
        length += len(shown)
        pos = m.end()
    out.append(text[pos:])
    return "".join(out), spans


def tag_spans(text: str, taken: Sequence[tuple[int, int, str]] = ()) -> list[tuple[int, int, str]]:
    """(start, end, tag) for each "#tag" in ``text`` outside the ``taken`` spans (links)."""
    out: list[tuple[int, int, str]] = []
    for m in _TAG_RE.finditer(text):
        tag = m.group(1).rstrip(_TAG_TRAIL)
        if not tag or not any(unicodedata.category(c)[0] == "L" for c in tag):
            continue
        start, end = m.start(), m.start() + 1 + len(tag)
        if any(s < end and start < e for s, e, _ in taken):
            continue
        if len(graphemes(tag)) > 64 or len(tag.encode("utf-8")) > 640:
            continue
        out.append((start, end, tag))
    return out


# -- publishing helpers (I/O) -------------------------------------------------------------


@dataclass(frozen=True)
class ImageData:
    """An image's bytes, ready to upload."""

    data: bytes
    mime: str
    filename: str
    alt: str
    location: str


def load_image(media: Media, ctx: ChannelContext, max_bytes: int | None, channel: str) -> ImageData | None:
    """Read a picked image for upload: a local file (relative to the config) or a URL.

    Returns None, with a warning, when it turns out larger than ``max_bytes`` (no resizing
    is done). A missing local file is a PermanentError (the release is wrong); a failed
    download of a remote one is Transient (5xx, network) or Permanent (4xx).
    """
    import requests

    mime = media.mime_type or mime_of(media)
    name = PurePosixPath(urlsplit(media.location).path if media.is_remote else media.location).name or "image"
    if media.is_remote:
        try:
            resp = ctx.http.get(media.location, stream=True, allow_redirects=True)
        except requests.RequestException as exc:
            raise TransientError(
                f"{channel}: could not download image {media.location}: {type(exc).__name__}"
            ) from exc
        with resp:
            if resp.status_code >= 500 or resp.status_code == 429:
                raise TransientError(f"{channel}: image {media.location}: HTTP {resp.status_code}")
            if resp.status_code >= 400:
                raise PermanentError(f"{channel}: image {media.location}: HTTP {resp.status_code}")
            chunks: list[bytes] = []
            total = 0
            for chunk in resp.iter_content(64 * 1024):
                chunks.append(chunk)
                total += len(chunk)
                if max_bytes and total > max_bytes:
                    ctx.logger.warning(
                        "%s: skipped image %s: larger than %d bytes", ctx.name, media.location, max_bytes
                    )
                    return None
            data = b"".join(chunks)
            mime = mime or resp.headers.get("Content-Type", "").split(";")[0].strip()
    else:
        path = ctx.path(media.location)
        try:
            size = path.stat().st_size
            if max_bytes and size > max_bytes:
                ctx.logger.warning(
                    "%s: skipped image %s: %d bytes is over the limit of %d",
                    ctx.name,
                    media.location,
                    size,
                    max_bytes,
                )
                return None
            data = path.read_bytes()
        except OSError as exc:
            raise PermanentError(f"{channel}: cannot read image {media.location}: {exc.strerror}") from exc
    return ImageData(data, mime or "application/octet-stream", name, media.alt, media.location)


def load_images(post: Post, ctx: ChannelContext, max_bytes: int | None, channel: str) -> list[ImageData]:
    """Every image of ``post`` that could be loaded within ``max_bytes`` (others skipped)."""
    return [img for m in post.media if (img := load_image(m, ctx, max_bytes, channel)) is not None]


def tagged(error: Exception, **details: Any) -> Exception:
    """``error`` with platform details attached (``status``, ``graph_code``...) for the caller."""
    for name, value in details.items():
        setattr(error, name, value)
    return error


def json_or_none(resp: Any) -> Any:
    """A response's JSON body, or None when it has none."""
    if not resp.content:
        return None
    try:
        return resp.json()
    except ValueError:
        return None
