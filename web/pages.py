"""permitmap's HTML pages: the staff map, the siting page and report, the public map and a
unit's public page, the sign-in form.

Pages are jinja2 templates around a folium map (web/maps.py); data reach them as arguments (this
package never touches the database) or, for what changes while the page is open, from the JSON
API through the pages' scripts. Inline scripts carry a per-response nonce and the Content
Security Policy allows nothing else but permitmap's own origin: a page cannot load anything from
the internet even by mistake.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from web.assets import MONITORING_JS, UPLOT_CSS, UPLOT_JS
from web.i18n import LANGUAGES, messages
from web.maps import MapParts
from web.ogc_pages import TEMPLATES_DIR
from web.value_labels import value_labels

_INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)(?=[\s>])")


@dataclass(frozen=True)
class Page:
    """A rendered page and the Content-Security-Policy header that must go with it."""

    html: str
    csp: str


@dataclass(frozen=True)
class PageContext:
    """What every page knows: language, who is signed in, the CSRF token, the path."""

    language: str
    path: str
    user: str | None = None
    csrf: str | None = None
    image_origins: tuple[str, ...] = ()  # a configured external base map's tile server
    extra: Mapping[str, Any] = field(default_factory=dict)


def content_security_policy(nonce: str, image_origins: tuple[str, ...] = ()) -> str:
    """Only permitmap's origin, plus inline scripts that carry this response's nonce (and the
    tile server of an external base map, when one is configured)."""
    images = " ".join(("'self'", "data:", "blob:", *image_origins))
    return (
        "default-src 'self'; "
        f"script-src 'self' 'nonce-{nonce}'; "
        "style-src 'self' 'unsafe-inline'; "
        f"img-src {images}; "
        "font-src 'self'; connect-src 'self'; "
        "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'self'"
    )


def render_page(template: str, context: PageContext, parts: MapParts | None = None) -> Page:
    """Render `pages/<template>` with the page context, the map and the messages."""
    nonce = secrets.token_urlsafe(16)
    values = value_labels(context.language, staff=context.user is not None)
    html = (
        _environment()
        .get_template(f"pages/{template}")
        .render(
            lang=context.language,
            other_languages=[lang for lang in LANGUAGES if lang != context.language],
            t=messages(context.language),
            messages_json=json.dumps(messages(context.language), ensure_ascii=False),
            values=values,
            values_json=json.dumps(values, ensure_ascii=False),
            user=context.user,
            csrf=context.csrf,
            path=context.path,
            map=parts,
            **context.extra,
        )
    )
    return Page(
        _INLINE_SCRIPT.sub(f'<script nonce="{nonce}"', html),
        content_security_policy(nonce, context.image_origins),
    )


def page_json(value: Any) -> str:
    """JSON for a `<script type="application/json">` block (no `</` can close the tag)."""
    return json.dumps(value, ensure_ascii=False, default=str).replace("</", "<\\/")


@cache
def _environment() -> Environment:
    environment = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["page_json"] = page_json
    # the chart library and permitmap's charts, for the pages that draw monitoring data
    environment.globals.update(uplot_js=UPLOT_JS, uplot_css=UPLOT_CSS, monitoring_js=MONITORING_JS)
    return environment
