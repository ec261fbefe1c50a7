"""Counting the features of a Mapbox Vector Tile by walking its protobuf, with no decoder.

Only the message structure is read (Tile.layers is field 3, Layer.features field 2); geometries
and attributes are skipped. Used by `bench.serve` to report features per tile.
"""

from __future__ import annotations

from collections.abc import Iterator


def _varint(buf: memoryview, i: int) -> tuple[int, int]:
    """A protobuf varint at `i`: its value and the index after it."""
    value = shift = 0
    while True:
        byte = buf[i]
        i += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, i
        shift += 7


def _submessages(buf: memoryview, number: int) -> Iterator[memoryview]:
    """The length-delimited fields numbered `number` of a protobuf message."""
    i = 0
    while i < len(buf):
        key, i = _varint(buf, i)
        wire = key & 7
        if wire == 0:
            i = _varint(buf, i)[1]
        elif wire in (1, 5):
            i += 8 if wire == 1 else 4
        elif wire == 2:
            size, i = _varint(buf, i)
            if key >> 3 == number:
                yield buf[i : i + size]
            i += size
        else:
            raise ValueError(f"unexpected protobuf wire type {wire}")


def count_features(tile: bytes) -> int:
    """Features in an (uncompressed) MVT tile, all layers."""
    layers = _submessages(memoryview(tile), 3)
    return sum(sum(1 for _ in _submessages(layer, 2)) for layer in layers)
