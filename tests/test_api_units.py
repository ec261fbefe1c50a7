"""Units for staff (search, side-panel record), the public disclosure record, industries."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import text

from api.routes.disclosure import PublicOutlet, PublicPollutant, PublicUnit
from layers.disclosure import (
    OUTLET_FIELDS,
    POLLUTANT_COLUMNS,
    RECORD_KEYS,
    UNIT_FIELDS,
    _public_fields,
)
from layers.registry import LAYERS, UNITS
from tests.factories import add_unit, credit_code
from tests.layer_fixtures import PUBLIC_PENALTY_NO, STAFF_MARKER, UNIT_CASES, build_world

STAFF = {"Authorization": "Bearer dev-staff-token"}
SERIAL = {key: serial for serial, (key, *_) in enumerate(UNIT_CASES, start=1)}


def code_of(key: str) -> str:
    """The credit code `build_world` gives the unit `key`."""
    return credit_code(900 + SERIAL[key])


def search(client, q: str, **params: Any) -> list[dict[str, Any]]:
    response = client.get("/api/units/search", params={"q": q, **params}, headers=STAFF)
    assert response.status_code == 200, response.text
    return response.json()


def add_old_permit(session, unit_id: int, permit_no: str) -> None:
    """An expired permit issued before the world's current one."""
    session.execute(
        text("""
        INSERT INTO permits (permit_no, unit_id, kind, report_frequencies, issued_on, valid_from,
                             valid_to, status, authority)
        VALUES (:no, :unit, 'permit', '{annual}', current_date - 3000, current_date - 3000,
                current_date - 1000, 'expired', '重庆市江津区生态环境局')
    """),
        {"no": permit_no, "unit": unit_id},
    )


# --- search ------------------------------------------------------------------------------------


def test_search_by_part_of_a_name_in_any_case(client, session) -> None:
    world = build_world(session)
    hits = search(client, "单位VIOLA")
    assert [h["id"] for h in hits] == [world.units["violation"]]
    hit = hits[0]
    assert set(hit) == {
        *("id", "name", "credit_code", "permit_no", "category", "county_name", "lon", "lat"),
    }
    assert hit["name"] == "测试单位violation" and hit["county_name"] == "江津区"
    assert hit["credit_code"] == code_of("violation") and hit["category"] == "key"
    assert hit["permit_no"] == code_of("violation") + "001P"
    assert (hit["lon"], hit["lat"]) == pytest.approx((106.05, 29.05))
    assert len(search(client, "测试单位")) == 10
    assert len(search(client, "测试单位", limit=50)) == len(UNIT_CASES)
    assert search(client, "单位_") == []  # LIKE wildcards are literal
    assert search(client, "no such unit") == []


def test_search_by_credit_code_and_permit_prefix(client, session) -> None:
    world = build_world(session)
    code = code_of("warning")
    prefix_hits = search(client, code[:12], limit=50)
    assert world.units["warning"] in {h["id"] for h in prefix_hits}
    assert len(prefix_hits) == len(UNIT_CASES)  # the world's codes share 12 characters
    permit_hits = search(client, f"{code}001p")
    assert [h["id"] for h in permit_hits] == [world.units["warning"]]
    old = code_of("revoked")[:10] + "ABCDEFGH" + "001P"  # an old permit's number still finds it
    add_old_permit(session, world.units["revoked"], old)
    assert [h["id"] for h in search(client, old[:19])] == [world.units["revoked"]]


def test_exact_code_and_permit_matches_come_first(client, session) -> None:
    world = build_world(session)
    code = code_of("closed")
    namesake = add_unit(session, credit_code(42))
    session.execute(
        text("UPDATE units SET name = :name WHERE id = :id"), {"name": f"{code}号", "id": namesake}
    )
    hits = search(client, code)
    assert [h["id"] for h in hits] == [world.units["closed"], namesake]
    hits = search(client, f"{code}001P")
    assert hits[0]["id"] == world.units["closed"]


@pytest.mark.parametrize("q", ["", "化", " a ", "x" * 101])
def test_search_q_of_wrong_length_is_a_400_naming_q(client, q: str) -> None:
    response = client.get("/api/units/search", params={"q": q}, headers=STAFF)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["field"] == "q"


def test_search_is_for_staff_and_limit_is_bounded(client) -> None:
    assert client.get("/api/units/search", params={"q": "测试"}).status_code == 401
    too_many = client.get("/api/units/search", params={"q": "测试", "limit": 51}, headers=STAFF)
    assert too_many.status_code == 422


# --- the staff record --------------------------------------------------------------------------


def record(client, unit_id: int, headers: dict[str, str] | None = None) -> dict[str, Any]:
    response = client.get(f"/api/units/{unit_id}", headers=STAFF if headers is None else headers)
    assert response.status_code == 200, response.text
    return response.json()


def test_record_has_unit_status_permits_newest_first_and_outlets_with_limits(
    client, session
) -> None:
    world = build_world(session)
    unit_id = world.units["valid"]
    old_no = code_of("valid")[:10] + "ABCDEFGH" + "001P"
    add_old_permit(session, unit_id, old_no)
    found = record(client, unit_id)
    assert set(found) == {"unit", "permit", "permits", "outlets", "flags", "enforcement"}
    unit = found["unit"]
    assert unit["id"] == unit_id and unit["name"] == "测试单位valid"
    assert unit["industry_code"] == "2614" and unit["industry_name"] == "有机化学原料制造"
    assert unit["county_name"] == "江津区" and unit["operating_status"] == "operating"
    assert unit["address"].startswith(STAFF_MARKER) and unit["location_source"] == "surveyed"
    assert unit["permit_state"] == "valid" and unit["enforcement_status"] == "valid"
    assert (unit["lon"], unit["lat"]) == pytest.approx((106.01, 29.01))
    assert [p["permit_no"] for p in found["permits"]] == [code_of("valid") + "001P", old_no]
    assert [p["status"] for p in found["permits"]] == ["valid", "expired"]
    assert found["permits"][0]["valid_from"] < found["permits"][0]["valid_to"]
    assert found["permit"] == found["permits"][0]
    [outlet] = found["outlets"]
    assert outlet["code"] == "DW001" and outlet["medium"] == "water" and outlet["kind"] == "main"
    assert outlet["pollutants"] == [
        {
            "pollutant_code": "w01018",
            "pollutant_name": "化学需氧量",
            "concentration_limit": 50.0,
            "concentration_unit": "mg/L",
            "annual_limit_t": 12.5,
        }
    ]
    assert found["flags"] == [] and found["enforcement"] == []


def test_record_has_flags_of_the_unit_and_of_its_outlets(client, session) -> None:
    world = build_world(session)
    violation = record(client, world.units["violation"])
    assert violation["unit"]["enforcement_status"] == "violation"
    [flag] = violation["flags"]
    assert flag["id"] == world.flags["violation"] and flag["feature_type"] == "unit"
    assert flag["rule_code"] == "WP1-UNIT" and flag["severity"] == "prohibited"
    assert flag["legal_basis"].startswith(STAFF_MARKER) and flag["status"] == "open"
    assert flag["zone_code"] == "SY500116900-I" and flag["zone_name"] == "测试水源一级保护区"
    outlet_flag = record(client, world.units["outlet_flag"])["flags"]
    assert [(f["feature_type"], f["outlet_code"]) for f in outlet_flag] == [("outlet", "DW001")]
    dismissed = record(client, world.units["dismissed"])["flags"]
    assert [f["status"] for f in dismissed] == ["dismissed"]  # closed flags are listed too
    none = record(client, world.units["none"])
    assert none["permit"] is None and none["permits"] == []


def test_record_is_404_for_unknown_units_and_401_for_the_public(client, session) -> None:
    world = build_world(session)
    missing = client.get("/api/units/999999999", headers=STAFF)
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert client.get(f"/api/units/{world.units['valid']}").status_code == 401


# --- the public disclosure record --------------------------------------------------------------

STAFF_ONLY_NAMES = {f.name for layer in LAYERS.values() for f in layer.fields if not f.public}
PUBLIC_NAMES = {f.name for layer in LAYERS.values() for f in layer.fields if f.public}


def keys_in(document: Any) -> set[str]:
    """Every object key anywhere in a JSON document."""
    if isinstance(document, dict):
        return set(document) | {k for v in document.values() for k in keys_in(v)}
    if isinstance(document, list):
        return {k for v in document for k in keys_in(v)}
    return set()


def public_record(client, code: str, **params: Any) -> dict[str, Any]:
    response = client.get(f"/api/public/units/{code}", params=params)
    assert response.status_code == 200, response.text
    return response.json()


def test_public_record_holds_exactly_the_disclosed_fields(client, session) -> None:
    build_world(session)
    for key in ("violation", "outlet_flag", "closed", "warning", "none"):
        response = client.get(f"/api/public/units/{code_of(key)}")
        assert response.status_code == 200, response.text
        body = response.text
        assert STAFF_MARKER not in body
        found = response.json()
        assert tuple(found) == RECORD_KEYS
        # staff get the same answer
        assert client.get(f"/api/public/units/{code_of(key)}", headers=STAFF).json() == found
        # the world's public penalty decision (its non-public one never shows)
        penalties = found.pop("penalties")
        assert [p["decision_no"] for p in penalties] == (
            [PUBLIC_PENALTY_NO] if key == "violation" else []
        )
        leaked = keys_in(found) & (STAFF_ONLY_NAMES - PUBLIC_NAMES)
        assert not leaked, (key, leaked)
        for word in ("violation", "warning", "open_flags", "enforcement", "operating", "closed"):
            assert word not in json.dumps(found) or word in found["name"], (key, word)
    found = public_record(client, code_of("outlet_flag").lower())
    assert found["name"] == "测试单位outlet_flag" and found["credit_code"] == code_of("outlet_flag")
    assert found["site"] == 1 and found["sites"] == [1]
    assert found["category"] == "key" and found["industry_code"] == "2614"
    assert found["industry_name"] == "有机化学原料制造" and found["county_name"] == "江津区"
    assert found["permit_no"] == code_of("outlet_flag") + "001P"
    assert (
        found["permit_state"] == "valid" and found["permit_valid_to"] > found["permit_valid_from"]
    )
    assert (found["lon"], found["lat"]) == pytest.approx((106.08, 29.08))
    [outlet] = found["outlets"]
    assert tuple(outlet) == (*OUTLET_FIELDS, "pollutants")
    assert (outlet["code"], outlet["kind"], outlet["medium"]) == ("DW001", "main", "water")
    assert tuple(outlet["pollutants"][0]) == POLLUTANT_COLUMNS
    assert outlet["pollutants"][0]["concentration_limit"] == 50.0


def test_public_record_picks_a_site(client, session) -> None:
    build_world(session)
    code = code_of("valid")
    second = add_unit(session, code, site_seq=2)
    session.execute(text("UPDATE units SET name = '第二厂区' WHERE id = :id"), {"id": second})
    assert public_record(client, code)["name"] == "测试单位valid"
    found = public_record(client, code, site=2)
    assert found["name"] == "第二厂区" and found["site"] == 2 and found["sites"] == [1, 2]
    assert found["permit_state"] == "none" and found["outlets"] == []
    assert client.get(f"/api/public/units/{code}", params={"site": 3}).status_code == 404


@pytest.mark.parametrize("code", ["91500116000009999X", "not-a-code", "%00", "9" * 200])
def test_public_record_of_an_unknown_code_is_404(client, session, code: str) -> None:
    build_world(session)
    response = client.get(f"/api/public/units/{code}")
    assert response.status_code == 404, response.text
    assert response.headers["content-type"] == "application/problem+json"


def test_disclosure_lists_only_public_registry_fields() -> None:
    public_units = {f.name for f in UNITS.fields if f.public}
    assert set(UNIT_FIELDS) <= public_units
    assert set(OUTLET_FIELDS) <= {f.name for f in LAYERS["outlets"].fields if f.public}
    with pytest.raises(LookupError, match="address"):
        _public_fields(UNITS, ("name", "address"))
    assert tuple(PublicUnit.model_fields) == RECORD_KEYS
    assert tuple(PublicOutlet.model_fields) == (*OUTLET_FIELDS, "pollutants")
    assert tuple(PublicPollutant.model_fields) == POLLUTANT_COLUMNS


# --- industries --------------------------------------------------------------------------------


def industries(client, **params: Any) -> list[dict[str, Any]]:
    response = client.get("/api/industries", params=params)
    assert response.status_code == 200, response.text
    return response.json()


def test_industries_by_code_prefix_or_name(client) -> None:
    first = industries(client)
    assert len(first) == 50 and first[0]["code"] == "0111"
    assert [i["code"] for i in first] == sorted(i["code"] for i in first)
    assert set(first[0]) == {"code", "name", "section", "division", "heavy_water_polluter"}
    assert len(industries(client, limit=200)) == 200
    by_code = industries(client, q="261")
    assert [i["code"] for i in by_code][:5] == ["2611", "2612", "2613", "2614", "2619"]
    assert all(i["code"].startswith("261") for i in by_code)
    by_name = industries(client, q="化学原料")
    assert "2614" in {i["code"] for i in by_name}
    assert all("化学原料" in i["name"] for i in by_name)
    assert industries(client, q="%") == []
    assert client.get("/api/industries", params={"limit": 201}).status_code == 422
    assert client.get("/api/industries", params={"q": "x" * 101}).status_code == 400
