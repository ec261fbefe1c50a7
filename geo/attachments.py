"""Evidence files of the problem ledger: checked by content, stored safely, described in the DB.

A file is accepted only when its bytes are one of the allowed kinds — PDF, JPEG, PNG, or an
Office Open XML document (docx/xlsx: a zip whose `[Content_Types].xml` names the main part of
that kind, macro-enabled variants refused) — and its name ends in that kind's extension. The
client's Content-Type is ignored. A zip is judged from its directory and one bounded read: too
many entries, too many declared bytes unpacked, an extreme compression ratio or encryption
refuses it, so a zip bomb costs nothing. Accepted bytes are written under a random 32-hex name in
the configured directory (never a served one), with mode 0600; the original name is kept only,
sanitised, for the download's Content-Disposition.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import secrets
import unicodedata
import zipfile
import zlib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import quote

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.errors import NotFoundError, ValidationError
from geo.settings import AttachmentSettings

CONTENT_TYPES_PART = "[Content_Types].xml"
CONTENT_TYPES_MAX = 256 * 1024  # bytes of [Content_Types].xml read, at most
MAX_RATIO = 200  # declared unpacked size / packed size of one zip entry
NAME_MAX = 120
STORED_NAME = re.compile(r"^[0-9a-f]{32}$")
OOXML = "application/vnd.openxmlformats-officedocument"


@dataclass(frozen=True)
class EvidenceKind:
    """An accepted kind of evidence file."""

    name: str
    media_type: str
    extensions: tuple[str, ...]


KINDS: dict[str, EvidenceKind] = {
    "pdf": EvidenceKind("pdf", "application/pdf", (".pdf",)),
    "jpeg": EvidenceKind("jpeg", "image/jpeg", (".jpg", ".jpeg")),
    "png": EvidenceKind("png", "image/png", (".png",)),
    "docx": EvidenceKind("docx", f"{OOXML}.wordprocessingml.document", (".docx",)),
    "xlsx": EvidenceKind("xlsx", f"{OOXML}.spreadsheetml.sheet", (".xlsx",)),
}
MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"%PDF-", "pdf"),
    (b"\xff\xd8\xff", "jpeg"),
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"PK\x03\x04", "zip"),
)
OOXML_MAIN_PARTS: dict[str, bytes] = {
    "docx": f"{OOXML}.wordprocessingml.document.main+xml".encode(),
    "xlsx": f"{OOXML}.spreadsheetml.sheet.main+xml".encode(),
}


@dataclass(frozen=True)
class Attachment:
    """An attachment's record (where its bytes are is the store's business)."""

    id: int
    problem_id: int
    stored_name: str
    original_name: str
    media_type: str
    size_bytes: int
    sha256: str
    uploaded_by: str
    uploaded_at: datetime

    def public_dict(self) -> dict:
        """What staff see of it (never the stored name)."""
        return {
            "id": self.id,
            "original_name": self.original_name,
            "media_type": self.media_type,
            "size_bytes": self.size_bytes,
            "sha256": self.sha256,
            "uploaded_by": self.uploaded_by,
            "uploaded_at": self.uploaded_at,
            "url": f"/api/problems/{self.problem_id}/attachments/{self.id}",
        }


def _refuse(message: str, filename: str | None = None) -> ValidationError:
    return ValidationError(f"file: {message}", field="file", value=filename)


def check_evidence(data: bytes, filename: str, *, limits: AttachmentSettings) -> EvidenceKind:
    """The kind of an uploaded file, judged by its bytes; ValidationError(field="file") when it
    is empty, too large, of a kind not allowed, or its name's extension does not match."""
    if not data:
        raise _refuse("the file is empty", filename)
    if len(data) > limits.max_bytes:
        raise _refuse(f"the file is larger than the limit of {limits.max_bytes:,} bytes", filename)
    magic = next((kind for prefix, kind in MAGIC if data.startswith(prefix)), None)
    if magic == "zip":
        magic = _office_kind(data, filename, limits)
    allowed = ", ".join(limits.allowed_types)
    if magic is None or magic not in limits.allowed_types:
        raise _refuse(f"only these kinds of file are accepted: {allowed}", filename)
    kind = KINDS[magic]
    if Path(filename.lower()).suffix not in kind.extensions:
        wanted = " or ".join(kind.extensions)
        raise _refuse(
            f"the file holds {kind.name} content; its name must end in {wanted}", filename
        )
    return kind


def _office_kind(data: bytes, filename: str, limits: AttachmentSettings) -> str | None:
    """docx or xlsx when the zip is a bounded, unencrypted OOXML package of that kind."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            infos = archive.infolist()
            if len(infos) > limits.max_zip_entries:
                raise _refuse("the document has too many parts", filename)
            if sum(i.file_size for i in infos) > limits.max_unzipped_bytes:
                raise _refuse("the document unpacks to more than the limit", filename)
            for info in infos:
                if info.flag_bits & 0x1:
                    raise _refuse("encrypted documents are not accepted", filename)
                if info.file_size > MAX_RATIO * max(info.compress_size, 1) + 1024:
                    raise _refuse("the document is compressed suspiciously well", filename)
                if info.filename.lower().endswith("vbaproject.bin"):
                    raise _refuse("documents with macros are not accepted", filename)
            with archive.open(CONTENT_TYPES_PART) as part:
                content_types = part.read(CONTENT_TYPES_MAX + 1)
    except (
        zipfile.BadZipFile,
        KeyError,
        OSError,
        EOFError,
        RuntimeError,
        ValueError,
        NotImplementedError,
        zlib.error,
    ) as exc:
        raise _refuse("the file is not a readable Office document", filename) from exc
    if len(content_types) > CONTENT_TYPES_MAX:
        raise _refuse("the document's content types are too large", filename)
    for name, main_part in OOXML_MAIN_PARTS.items():
        if main_part in content_types:
            return name
    return None


def clean_filename(raw: str | None, kind: EvidenceKind | None = None) -> str:
    """A display name safe in a header and on any disk: the last path segment, NFC, no control
    or format characters (no right-to-left overrides), no quotes or reserved characters, no
    leading/trailing dots or spaces, at most 120 characters with its extension kept."""
    name = unicodedata.normalize("NFC", raw or "")
    name = re.split(r"[\\/]", name)[-1]
    name = "".join(ch for ch in name if not unicodedata.category(ch).startswith("C"))
    name = re.sub(r'[<>:"|?*;%]', "_", name).strip(" .")
    if len(name) > NAME_MAX:
        suffix = Path(name).suffix[:10]
        name = name[: NAME_MAX - len(suffix)] + suffix
    if not name or name.startswith("."):
        name = "evidence" + (kind.extensions[0] if kind else "")
    return name


def content_disposition(filename: str) -> str:
    """`attachment` with an ASCII fallback name and the UTF-8 name (RFC 6266 / 8187)."""
    fallback = "".join(ch if 32 <= ord(ch) < 127 else "_" for ch in filename)
    fallback = fallback.replace('"', "_").replace("\\", "_")
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


class AttachmentStore:
    """Evidence bytes on disk, under random names in one private directory."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def save(self, data: bytes) -> str:
        """Write `data` under a new random name (atomically, mode 0600); return the name."""
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        name = secrets.token_hex(16)
        partial = self.directory / f"{name}.part"
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(partial, self.directory / name)
        return name

    def path(self, stored_name: str) -> Path:
        """Where a stored file is (only names this store made are accepted)."""
        if not STORED_NAME.match(stored_name):
            raise NotFoundError("no such attachment", detail=f"bad stored name {stored_name!r}")
        return self.directory / stored_name

    def remove(self, stored_name: str) -> None:
        """Delete a stored file (used when its record could not be written)."""
        self.path(stored_name).unlink(missing_ok=True)


def record_attachment(
    session: Session,
    *,
    problem_id: int,
    stored_name: str,
    original_name: str,
    kind: EvidenceKind,
    data: bytes,
    uploaded_by: str,
    now: datetime,
) -> Attachment:
    """Describe a stored file in `problem_attachments`."""
    row = (
        session.execute(
            text("""
        INSERT INTO problem_attachments (problem_id, stored_name, original_name, media_type,
                                         size_bytes, sha256, uploaded_by, uploaded_at)
        VALUES (:problem_id, :stored_name, :original_name, :media_type, :size, :sha256,
                :uploaded_by, :now)
        RETURNING *
    """),
            {
                "problem_id": problem_id,
                "stored_name": stored_name,
                "original_name": original_name,
                "media_type": kind.media_type,
                "size": len(data),
                "sha256": hashlib.sha256(data).hexdigest(),
                "uploaded_by": uploaded_by,
                "now": now,
            },
        )
        .mappings()
        .one()
    )
    return Attachment(**row)


def attachments_of(session: Session, *, problem_id: int) -> list[Attachment]:
    """A problem's attachments, oldest first."""
    rows = session.execute(
        text("SELECT * FROM problem_attachments WHERE problem_id = :p ORDER BY id"),
        {"p": problem_id},
    ).mappings()
    return [Attachment(**row) for row in rows]


def get_attachment(session: Session, *, problem_id: int, attachment_id: int) -> Attachment:
    """One attachment of a problem, or NotFoundError."""
    row = (
        session.execute(
            text("SELECT * FROM problem_attachments WHERE id = :a AND problem_id = :p"),
            {"a": attachment_id, "p": problem_id},
        )
        .mappings()
        .one_or_none()
    )
    if row is None:
        raise NotFoundError(f"problem {problem_id} has no attachment {attachment_id}")
    return Attachment(**row)
