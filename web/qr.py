"""QR codes (segno) for outlet signs: each encodes the public page of the outlet's unit, the
stable address the documents ask outlets to carry (二维码标识)."""

from __future__ import annotations

import io
from urllib.parse import quote, urlencode

import segno

from geo.outlet_labels import OutletLabel


def public_url(base_url: str, label: OutletLabel) -> str:
    """The unit's public page, at the outlet's row."""
    query = urlencode({"site": label.site})
    code = quote(label.credit_code)
    return f"{base_url.rstrip('/')}/public/units/{code}?{query}#outlet-{quote(label.code)}"


def qr_png(url: str, scale: int = 8) -> bytes:
    """The QR code of `url` as PNG (error correction M, quiet zone included)."""
    out = io.BytesIO()
    segno.make(url, error="m").save(out, kind="png", scale=scale)
    return out.getvalue()


def qr_svg(url: str, scale: int = 4) -> bytes:
    """The QR code of `url` as SVG."""
    out = io.BytesIO()
    segno.make(url, error="m").save(out, kind="svg", scale=scale, xmldecl=False)
    return out.getvalue()


def qr_data_uri(url: str, scale: int = 3) -> str:
    """The QR code of `url` as an SVG data URI, for an `<img>` on a printable sheet."""
    return segno.make(url, error="m").svg_data_uri(scale=scale)
