"""Parsing alert documents, without a database: safety first, then CAP and JMA as sent."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import MultiPolygon, Point, Polygon

from renraku.alerts.cap import hazard_level
from renraku.alerts.documents import parse_document
from renraku.alerts.geometry import ShapeError, Unreadable, parse_circle, parse_polygon
from renraku.alerts.jma import levels
from renraku.alerts.xml_safety import MAX_DOCUMENT_BYTES, Rejected
from tests.alerts.helpers import GAMAGORI, real_samples, sample

CAP12 = "urn:oasis:names:tc:emergency:cap:1.2"

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>&lol4;</identifier></alert>
"""
EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE alert [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>&secret;</identifier></alert>
"""
EXTERNAL_DTD = b"""<?xml version="1.0"?>
<!DOCTYPE alert SYSTEM "http://example.invalid/cap.dtd">
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>x</identifier></alert>
"""
UNDECLARED_ENTITY = b"""<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
<identifier>&undeclared;</identifier></alert>"""


def cap(body: str, *, ns: str = CAP12, root: str = "alert") -> bytes:
    return f'<?xml version="1.0"?><{root} xmlns="{ns}">{body}</{root}>'.encode()


HEAD = (
    "<identifier>id-1</identifier><sender>s@example.invalid</sender>"
    "<sent>2026-07-04T09:00:00+09:00</sent><status>Actual</status><msgType>Alert</msgType>"
)


def with_area(area: str) -> bytes:
    return cap(
        HEAD + "<info><event>e</event><urgency>Immediate</urgency><severity>Severe</severity>"
        f"<certainty>Observed</certainty><area><areaDesc>a</areaDesc>{area}</area></info>"
    )


@pytest.mark.parametrize(
    ("document", "named"),
    [
        (BILLION_LAUGHS, "<!DOCTYPE lolz>"),
        (EXTERNAL_ENTITY, "<!DOCTYPE alert>"),
        (EXTERNAL_DTD, "<!DOCTYPE alert>"),
        (UNDECLARED_ENTITY, "<alert/identifier>"),
        (b"<alert xmlns='urn:oasis:names:tc:emergency:cap:1.2'><info></alert>", "<alert/info>"),
        (b"", "document"),
    ],
    ids=["billion-laughs", "external-entity", "external-dtd", "undeclared", "malformed", "empty"],
)
def test_hostile_and_malformed_documents_are_rejected_naming_where(
    document: bytes, named: str
) -> None:
    with pytest.raises(Rejected) as rejected:
        parse_document(document)
    assert named in rejected.value.reason


def test_a_document_over_5_mb_is_refused_before_parsing() -> None:
    # Not even well-formed: a parser that looked at it would fail differently.
    with pytest.raises(Rejected, match="byte limit"):
        parse_document(b"<" * (MAX_DOCUMENT_BYTES + 1))


@pytest.mark.parametrize(
    ("document", "named"),
    [
        (cap(HEAD, ns="urn:oasis:names:tc:emergency:cap:1.0"), "cap:1.0"),
        (
            b'<cap:alert xmlns:cap="http://example.invalid/not-cap"><cap:identifier>x'
            b"</cap:identifier></cap:alert>",
            "http://example.invalid/not-cap",
        ),
        (b"<alert><identifier>x</identifier></alert>", "no namespace"),
        (cap(HEAD, root="notAlert"), "<notAlert>"),
    ],
    ids=["cap-1.0", "cap-prefix-foreign-namespace", "no-namespace", "wrong-root"],
)
def test_a_root_outside_cap_or_jma_is_rejected_naming_its_namespace(
    document: bytes, named: str
) -> None:
    with pytest.raises(Rejected) as rejected:
        parse_document(document)
    assert named in rejected.value.reason


@pytest.mark.parametrize(
    ("body", "named"),
    [
        (HEAD.replace("<identifier>id-1</identifier>", ""), "<identifier>"),
        (HEAD.replace("Actual", "Real"), "<status>"),
        (HEAD.replace("<msgType>Alert", "<msgType>Shout"), "<msgType>"),
        (HEAD.replace("2026-07-04T09:00:00+09:00", "yesterday"), "<sent>"),
    ],
    ids=["no-identifier", "bad-status", "bad-msgtype", "bad-sent"],
)
def test_an_alert_missing_what_makes_it_an_alert_is_rejected(body: str, named: str) -> None:
    with pytest.raises(Rejected) as rejected:
        parse_document(cap(body))
    assert named in rejected.value.reason


@pytest.mark.parametrize(
    "area",
    [
        "<polygon>north,east 1,2 3,4 north,east</polygon>",
        "<polygon>34.1;137.1 34.2;137.2 34.3;137.1</polygon>",
        "<polygon>200,300 1,2 3,4 200,300</polygon>",
        "<polygon>nan,137 34,137.1 34.1,137 nan,137</polygon>",
        "<circle>34.8,137.2 far</circle>",
    ],
    ids=["words", "semicolons", "off-earth", "nan", "circle-radius"],
)
def test_unreadable_coordinates_reject_the_document_naming_the_element(area: str) -> None:
    with pytest.raises(Rejected) as rejected:
        parse_document(with_area(area))
    assert "<area> 1 <" in rejected.value.reason
    assert ("<polygon> 1" in rejected.value.reason) or ("<circle> 1" in rejected.value.reason)


@pytest.mark.parametrize("name", real_samples())
def test_every_real_sample_parses(name: str) -> None:
    parsed = parse_document(sample(name))
    assert parsed.sender and parsed.identifier and parsed.sent.tzinfo is not None


def test_real_cap_quirks() -> None:
    hurricane = parse_document(
        sample("us-nws-hurricane-warning-update-references-multipolygon.xml")
    )
    assert hurricane.msg_type == "Update" and len(hurricane.references) == 8
    assert len(hurricane.shapes) == 2  # two polygons in one area
    belgium = parse_document(sample("be-kmi-rain-update-references-4-languages-nuts2.xml"))
    assert [i["language"] for i in belgium.infos] == ["nl-BE", "fr-BE", "en-GB", "de-DE"]
    assert belgium.language == "en-GB"  # no Japanese block: English is preferred
    dwd = parse_document(
        sample("de-dwd-thunderstorm-update-references-degenerate-polygon-warncell.xml")
    )
    assert not dwd.shapes and any("degenerate" in note for note in dwd.notes)
    macao = parse_document(sample("mo-smg-monsoon-signal-update-allclear-multiline-polygon.xml"))
    assert macao.all_clear and macao.shapes
    argentina = parse_document(
        sample("ar-smn-thunderstorm-orange-warning-cap-prefix-no-language.xml")
    )
    assert argentina.infos[0]["language"] == "en-US" and len(argentina.shapes) == 1
    tsunami = parse_document(sample("us-noaa-ntwc-tsunami-information-circle-signed.xml"))
    assert tsunami.shapes and tsunami.shapes[0].geom_type == "Polygon"
    brazil = parse_document(sample("br-inmet-coastal-winds-polygon-trailing-space.xml"))
    assert brazil.shapes and not brazil.notes


def test_cap_1_1_with_a_prefix_and_a_circle() -> None:
    parsed = parse_document(sample("synthetic-cap11-gamagori-circle.xml"))
    assert parsed.format == "cap1.1" and parsed.level == 5
    (circle,) = parsed.shapes
    assert circle.contains(Point(137.253, 34.826))
    assert not circle.contains(Point(137.2255, 34.822))  # 2.5 km west


def test_a_native_warning_level_wins_over_severity() -> None:
    parsed = parse_document(sample("synthetic-cap12-gamagori-alert.xml"))
    # Severe x Expected alone would make it 4; the sender's 警戒レベル says 3.
    assert parsed.level == 3 and parsed.language == "ja-JP"
    assert [i["language"] for i in parsed.infos] == ["ja-JP", "en-US"]


def test_quirky_areas_are_repaired_or_dropped_and_named() -> None:
    parsed = parse_document(sample("synthetic-cap12-quirky-areas.xml"))
    notes = " | ".join(parsed.notes)
    assert "<polygon> 1: longitude,latitude pairs swapped back" in notes
    assert "<polygon> 2: self-intersection repaired" in notes
    assert "<polygon> 3: degenerate" in notes and "dropped" in notes
    assert "<circle> 1: radius 0" in notes
    assert "<area> 2: no usable geometry; located by geocode" in notes
    assert parsed.geocoded_municipalities == {"232131"}
    assert len(parsed.shapes) == 3  # each language's copy of the areas is read once


def test_polygon_repairs() -> None:
    shape, notes = parse_polygon("34.8,137.1\n 34.8,137.2\t34.9,137.2 ")
    assert notes == ["ring closed"] and shape.is_valid and shape.area > 0
    bowtie, notes = parse_polygon("0,0 1,1 1,0 0,1 0,0")
    assert notes == ["self-intersection repaired"] and bowtie.is_valid
    assert isinstance(bowtie, (Polygon, MultiPolygon)) and bowtie.area == pytest.approx(0.5)
    with pytest.raises(ShapeError):
        parse_polygon("34.8,137.1 34.9,137.2 34.8,137.1")
    with pytest.raises(ShapeError):
        parse_polygon("34.8,137.1 34.9,137.1 35.0,137.1 34.8,137.1")  # a line has no inside


def test_a_polygon_across_the_180th_meridian_is_split_in_two() -> None:
    shape, notes = parse_polygon("50,179 50,-179 52,-179 52,179 50,179")
    assert "split at the 180th meridian" in notes
    assert isinstance(shape, MultiPolygon) and len(shape.geoms) == 2
    assert shape.contains(Point(179.5, 51)) and shape.contains(Point(-179.5, 51))
    assert not shape.contains(Point(0, 51))
    assert shape.area == pytest.approx(4.0)


def test_circles() -> None:
    point, notes = parse_circle("34.862,137.058 0")
    assert isinstance(point, Point) and "radius 0" in notes[0]
    circle, _ = parse_circle("34.826,137.253 1.0")
    # About 3.14 km² at this latitude: 1 km east is ~0.011 degrees.
    assert circle.contains(Point(137.253 + 0.010, 34.826))
    assert not circle.contains(Point(137.253 + 0.012, 34.826))
    with pytest.raises(Unreadable):
        parse_circle("34.8,137.2 -1")


@pytest.mark.parametrize(
    ("severity", "urgency", "certainty", "level"),
    [
        ("Extreme", "Immediate", "Unlikely", 1),
        ("Extreme", "Past", "Observed", 1),
        ("Extreme", "Immediate", "Observed", 5),
        ("Extreme", "Expected", "Possible", 4),
        ("Severe", "Immediate", "Likely", 4),
        ("Severe", "Future", "Likely", 3),
        ("Moderate", "Immediate", "Likely", 3),
        ("Moderate", "Future", "Likely", 2),
        ("Minor", "Expected", "Observed", 2),
        ("Unknown", "Unknown", "Possible", 1),
    ],
)
def test_hazard_level_from_severity_urgency_certainty(
    severity: str, urgency: str, certainty: str, level: int
) -> None:
    assert hazard_level(severity, urgency, certainty) == level


def test_jma_levels_hold_current_and_level_named_warnings() -> None:
    table = levels()
    assert table["大雨特別警報"].level == table["レベル5大雨特別警報"].level == 5
    assert table["土砂災害警戒情報"].level == table["レベル4土砂災害危険警報"].level == 4
    assert table["大雨警報"].level == table["レベル3大雨警報"].level == 3
    assert {row.scheme for row in table.values()} == {"current", "2026"}


@pytest.mark.parametrize(
    ("name", "level", "all_clear"),
    [
        ("jp-jma-VPWW53-kumamoto-heavy-rain-flood-warning.xml", 3, False),
        ("jp-jma-VXWW50-kumamoto-landslide-alert.xml", 4, False),
        ("jp-jma-VPOA50-tokyo-record-short-heavy-rain.xml", 4, False),
        ("jp-jma-VTSE41-taiwan-quake-tsunami-advisory.xml", 3, False),
        ("jp-jma-VTSE41-tsunami-advisory-lifted.xml", None, True),
        ("jp-jma-VXSE53-iwate-hypocenter-intensity.xml", None, False),
    ],
)
def test_jma_messages_map_to_the_warning_scale(
    name: str, level: int | None, all_clear: bool
) -> None:
    parsed = parse_document(sample(name))
    assert parsed.format == "jma" and parsed.cap_status == "Actual"
    assert parsed.level == level and parsed.all_clear is all_clear
    assert parsed.thread


def test_a_level_named_jma_warning_places_its_municipality() -> None:
    parsed = parse_document(sample("synthetic-jma-VPWW54-level-named-gamagori.xml"))
    assert parsed.level == 4
    assert parsed.infos[0]["kinds"] == {"レベル2氾濫注意報": 2, "レベル4大雨危険警報": 4}
    # 豊橋市's lifted advisory places nothing.
    assert parsed.geocoded_municipalities == {GAMAGORI}


def test_jma_training_and_test_statuses() -> None:
    real = sample("synthetic-jma-VPWW54-level-named-gamagori.xml")
    exercise = parse_document(real.replace("<Status>通常".encode(), "<Status>訓練".encode()))
    test = parse_document(real.replace("<Status>通常".encode(), "<Status>試験".encode()))
    assert (exercise.cap_status, test.cap_status) == ("Exercise", "Test")
    with pytest.raises(Rejected, match="<Control>/<Status>"):
        parse_document(real.replace("<Status>通常".encode(), "<Status>謎".encode()))


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.floats(min_value=-200, max_value=200, allow_nan=False),
            st.floats(min_value=-200, max_value=200, allow_nan=False),
        ),
        max_size=12,
    ),
    st.sampled_from([" ", "\n", "\t ", "  "]),
)
def test_any_coordinates_either_parse_or_are_rejected_by_name(
    points: list[tuple[float, float]], separator: str
) -> None:
    text = separator.join(f"{lat},{lon}" for lat, lon in points)
    try:
        parsed = parse_document(with_area(f"<polygon>{text}</polygon>"))
    except Rejected as rejected:
        assert "<polygon> 1" in rejected.reason
        return
    for shape in parsed.shapes:
        assert shape.is_valid and shape.area > 0
