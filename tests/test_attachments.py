"""Evidence attachments: accepted by content only, bounded against zip bombs, stored under random
names with their sha256, downloaded only by staff as attachments that browsers never sniff."""

from __future__ import annotations

import hashlib
import io
import stat
import zipfile

import pytest
from sqlalchemy import text

from geo.attachments import KINDS, check_evidence, clean_filename, content_disposition
from geo.errors import ValidationError
from geo.settings import AttachmentSettings
from tests.factories import add_region, add_unit, credit_code
from tests.test_problems import as_role, make_client, new_problem, put_in_state, step

OOXML = "application/vnd.openxmlformats-officedocument"
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj<</Type/Catalog>>endobj\ntrailer<<>>\n%%EOF\n"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + b"\x00" * 64
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\x00" * 64
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + b"\x00" * 64
HTML = b"<!DOCTYPE html><html><script>alert(document.cookie)</script></html>"
SVG = b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>'


def ooxml(main: str, parts: dict[str, bytes] | None = None, level: int = 6) -> bytes:
    """A minimal Office Open XML package whose main part has the content type `main`."""
    content_types = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="xml" ContentType="application/xml"/>'
        f'<Override PartName="/main.xml" ContentType="{main}"/></Types>'
    ).encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=level) as archive:
        archive.writestr("[Content_Types].xml", content_types)
        archive.writestr("main.xml", b"<document/>")
        for name, data in (parts or {}).items():
            archive.writestr(name, data)
    return buffer.getvalue()


DOCX = ooxml(f"{OOXML}.wordprocessingml.document.main+xml")
XLSX = ooxml(f"{OOXML}.spreadsheetml.sheet.main+xml")
LIMITS = AttachmentSettings(max_bytes=64 * 1024, max_unzipped_bytes=1024 * 1024)


@pytest.mark.parametrize(
    ("data", "name", "kind"),
    [
        (PDF, "整改报告.pdf", "pdf"),
        (JPEG, "现场照片.JPG", "jpeg"),
        (JPEG, "photo.jpeg", "jpeg"),
        (PNG, "监测截图.png", "png"),
        (DOCX, "整改方案.docx", "docx"),
        (XLSX, "监测数据.xlsx", "xlsx"),
    ],
)
def test_accepted_kinds(data, name, kind) -> None:
    assert check_evidence(data, name, limits=LIMITS) is KINDS[kind]


BOMB = ooxml(f"{OOXML}.spreadsheetml.sheet.main+xml", {"xl/sheet1.bin": b"\x00" * 20_000_000}, 9)
REFUSED = {
    "exe renamed pdf": (EXE, "整改报告.pdf"),
    "html": (HTML, "report.html"),
    "html named pdf": (HTML, "report.pdf"),
    "svg": (SVG, "map.svg"),
    "png named pdf": (PNG, "report.pdf"),
    "empty": (b"", "empty.pdf"),
    "oversize": (PDF + b"\x00" * (64 * 1024), "big.pdf"),
    "zip bomb disguised as xlsx": (BOMB, "监测数据.xlsx"),
    "plain zip named docx": (
        ooxml("application/xml").replace(b"[Content_Types].xml", b"[Content_Typez].xml"),
        "x.docx",
    ),
    "macro-enabled workbook": (
        ooxml("application/vnd.ms-excel.sheet.macroEnabled.main+xml"),
        "macro.xlsx",
    ),
    "macros inside a docx": (
        ooxml(f"{OOXML}.wordprocessingml.document.main+xml", {"word/vbaProject.bin": b"vba"}),
        "macro.docx",
    ),
    "broken zip": (b"PK\x03\x04" + b"\x00" * 200, "broken.xlsx"),
    "docx named xlsx": (DOCX, "data.xlsx"),
}


@pytest.mark.parametrize("case", REFUSED)
def test_refused_kinds(case) -> None:
    data, name = REFUSED[case]
    with pytest.raises(ValidationError) as refused:
        check_evidence(data, name, limits=LIMITS)
    assert refused.value.field == "file"


def test_the_bomb_is_small_packed_and_refused_from_its_directory() -> None:
    assert len(BOMB) < 64 * 1024
    with pytest.raises(ValidationError, match="compressed suspiciously well"):
        check_evidence(BOMB, "监测数据.xlsx", limits=AttachmentSettings())  # 20 MB < 100 MB
    many_parts = ooxml(
        f"{OOXML}.spreadsheetml.sheet.main+xml",
        {f"xl/p{i}.xml": b"<x/>" for i in range(30)},
    )
    with pytest.raises(ValidationError, match="too many parts"):
        check_evidence(many_parts, "a.xlsx", limits=AttachmentSettings(max_zip_entries=10))
    big = ooxml(f"{OOXML}.spreadsheetml.sheet.main+xml", {"xl/big.bin": bytes(range(256)) * 8192})
    with pytest.raises(ValidationError, match="unpacks to more"):
        check_evidence(big, "a.xlsx", limits=AttachmentSettings(max_unzipped_bytes=1024 * 1024))


def test_only_allowed_types_pass() -> None:
    pdf_only = AttachmentSettings(allowed_types=("pdf",))
    assert check_evidence(PDF, "a.pdf", limits=pdf_only).name == "pdf"
    with pytest.raises(ValidationError, match="only these kinds"):
        check_evidence(PNG, "a.png", limits=pdf_only)


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("../../etc/passwd.pdf", "passwd.pdf"),
        ("C:\\Users\\张三\\整改报告.pdf", "整改报告.pdf"),
        ("evil\u202egpj.pdf", "evilgpj.pdf"),  # no right-to-left override
        ('a"b;c\r\nd.pdf', "a_b_cd.pdf"),
        ("...", "evidence"),
        ("", "evidence"),
        (".hidden.pdf", "hidden.pdf"),
        ("长" * 200 + ".pdf", "长" * 116 + ".pdf"),
    ],
)
def test_original_names_are_sanitised(raw, clean) -> None:
    assert clean_filename(raw) == clean


def test_content_disposition_has_an_ascii_fallback_and_the_utf8_name() -> None:
    header = content_disposition("整改报告 v2.pdf")
    assert header.startswith('attachment; filename="____ v2.pdf"; ')
    assert header.endswith("filename*=UTF-8''%E6%95%B4%E6%94%B9%E6%8A%A5%E5%91%8A%20v2.pdf")


# --- through the API ---------------------------------------------------------------------------


@pytest.fixture
def api(db_url, session, tmp_path):
    with make_client(db_url, session, tmp_path) as client:
        client.app.state.settings.attachments.max_bytes = 64 * 1024
        yield client


@pytest.fixture
def problem(api, session) -> dict:
    add_region(session)
    return new_problem(api, add_unit(session, credit_code(7)))


def upload(api, problem_id, name, data, role="inspector", content_type="application/pdf"):
    files = {"file": (name, data, content_type)}
    return api.post(f"/api/problems/{problem_id}/attachments", files=files, headers=as_role(role))


def stored_files(api) -> list:
    directory = api.app.state.settings.attachments.dir
    return sorted(directory.iterdir()) if directory.exists() else []


def test_upload_stores_a_random_private_file_with_its_hash(api, problem, session) -> None:
    response = upload(api, problem["id"], "../整改报告.pdf", PDF)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["original_name"] == "整改报告.pdf" and body["media_type"] == "application/pdf"
    assert body["sha256"] == hashlib.sha256(PDF).hexdigest() and body["size_bytes"] == len(PDF)
    assert body["uploaded_by"] == "inspector-account"
    [path] = stored_files(api)
    assert len(path.name) == 32 and path.read_bytes() == PDF
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "stored_name" not in body and path.name not in response.text
    detail = api.get(f"/api/problems/{problem['id']}", headers=as_role("reviewer")).json()
    assert [a["id"] for a in detail["attachments"]] == [body["id"]]
    audit = session.execute(
        text("SELECT actor FROM audit_log WHERE entity = 'problem_attachments'")
    ).scalars()
    assert list(audit) == ["inspector-account"]


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("setup.pdf", EXE),
        ("page.html", HTML),
        ("page.pdf", HTML),
        ("big.pdf", PDF + b"\x00" * (64 * 1024)),
        ("监测数据.xlsx", BOMB),
    ],
)
def test_refused_uploads_store_nothing(api, problem, session, name, data) -> None:
    response = upload(api, problem["id"], name, data, content_type="application/pdf")
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["field"] == "file"
    assert stored_files(api) == []
    rows = session.execute(text("SELECT count(*) FROM problem_attachments")).scalar_one()
    assert rows == 0


def test_download_is_an_attachment_browsers_do_not_sniff(api, problem) -> None:
    added = upload(api, problem["id"], "现场照片.png", PNG, content_type="text/html").json()
    url = added["url"]
    assert api.get(url).status_code == 401
    response = api.get(url, headers=as_role("reviewer"))
    assert response.status_code == 200
    assert response.content == PNG
    assert response.headers["content-type"] == "image/png"
    assert response.headers["x-content-type-options"] == "nosniff"
    disposition = response.headers["content-disposition"]
    assert disposition.startswith("attachment;") and "filename*=UTF-8''" in disposition
    assert "sandbox" in response.headers["content-security-policy"]
    other = api.get(f"/api/problems/{problem['id']}/attachments/987654", headers=as_role("admin"))
    assert other.status_code == 404


def test_evidence_is_locked_once_submitted(api, problem, session) -> None:
    assert upload(api, problem["id"], "a.pdf", PDF).status_code == 201
    moved = step(api, problem, "rectifying", "inspector").json()
    assert step(api, moved, "submitted", "inspector").status_code == 200
    late = upload(api, problem["id"], "b.pdf", PDF)
    assert late.status_code == 409
    assert len(stored_files(api)) == 1
    assert upload(api, 987654, "c.pdf", PDF).status_code == 404
    assert upload(api, problem["id"], "d.pdf", PDF, role=None).status_code == 401
    put_in_state(session, problem["id"], "rectifying")
    assert upload(api, problem["id"], "e.pdf", PDF, role="reviewer").status_code == 201
