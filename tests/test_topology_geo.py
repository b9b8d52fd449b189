"""The geo latency model and `chaoskit latency`."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from chaoskit.topology import geo
from chaoskit.topology.cli import latency
from chaoskit.topology.locations import ALIASES, LOCATIONS, MEASURED_RTT_MS
from chaoskit.topology.model import Latency

# Published figures the model must agree with within +-25% (issue text).
REFERENCE_RTT_MS = [
    ("beijing", "shanghai", 28),
    ("beijing", "xian", 20),
    ("us-east", "eu-west", 81),
    ("us-east", "ap-northeast", 145),
    ("ap-northeast", "ap-southeast", 74),
    ("eu-west", "eu-central", 20),
]


@pytest.mark.parametrize(("a", "b", "ms"), REFERENCE_RTT_MS)
def test_reference_figures_within_25_percent(a: str, b: str, ms: float) -> None:
    lat = geo.rtt(a, b)
    assert isinstance(lat, Latency)
    assert ms * 0.75 <= lat.rtt_ms <= ms * 1.25, (a, b, lat)
    assert geo.rtt(b, a) == lat  # symmetric
    assert 0 < lat.jitter_ms < lat.rtt_ms * 0.2


def test_catalogue_has_required_locations_and_aliases() -> None:
    assert len(LOCATIONS) >= 25
    for name in (
        "beijing shanghai shenzhen guangzhou hangzhou wuhan xian chengdu hongkong "
        "us-east us-west eu-west eu-central ap-northeast ap-southeast ap-south sa-east"
    ).split():
        assert name in LOCATIONS, name
    assert geo.resolve("tokyo").name == "ap-northeast"
    assert geo.resolve("singapore").name == "ap-southeast"
    assert geo.resolve("mumbai").name == "ap-south"
    assert geo.resolve("sao-paulo").name == "sa-east"
    assert geo.resolve("Xi'an").name == "xian"
    assert geo.resolve("  Hong Kong ").name == "hongkong"
    # aliases never shadow a canonical name, and each points at a real location
    assert not set(ALIASES) & set(LOCATIONS)
    assert set(ALIASES.values()) <= set(LOCATIONS)


def test_aliases_give_the_same_rtt() -> None:
    assert geo.rtt("tokyo", "singapore") == geo.rtt("ap-northeast", "ap-southeast")


def test_same_city_is_between_half_and_two_ms() -> None:
    for name in ("beijing", "us-east", "tokyo"):
        assert 0.5 <= geo.rtt(name, name).rtt_ms <= 2.0


def test_estimate_grows_with_distance_and_has_floor() -> None:
    near = geo.rtt("eu-west-2", "eu-west-3")  # London-Paris, not in the table
    far = geo.rtt("sa-east", "ap-southeast-2")  # Sao Paulo-Sydney, not in the table
    assert geo.rtt_source("sa-east", "ap-southeast-2") == "estimated"
    assert geo.OVERHEAD_MS < near.rtt_ms < 25
    # ~13,400 km: physics alone (2 x 67 ms) is a floor, route factor keeps it plausible
    assert 134 < far.rtt_ms < 260


def test_measured_table_is_consistent_with_physics() -> None:
    """Catches typos in the table: every measured figure is above the speed-of-light
    bound and within a factor of two of the distance estimate."""
    for pair, ms in MEASURED_RTT_MS.items():
        a, b = (geo.resolve(x) for x in sorted(pair))
        light_ms = 2 * geo.great_circle_km(a, b) / geo.FIBRE_KM_PER_MS
        assert ms > light_ms, (a.name, b.name, ms, light_ms)
        est = geo.estimate_rtt_ms(a, b)
        assert 0.5 < est / ms < 2.0, (a.name, b.name, ms, est)


def test_unknown_location_suggests_close_matches() -> None:
    with pytest.raises(geo.UnknownLocationError) as ei:
        geo.resolve("bejing")
    assert "beijing" in ei.value.suggestions
    assert "did you mean beijing" in str(ei.value)


def test_cli_prints_matrix() -> None:
    res = CliRunner().invoke(latency, ["beijing", "xian", "us-west"])
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    header = lines[0].split()
    assert header == ["beijing", "xian", "us-west"]
    beijing_row = lines[1].split()
    assert beijing_row[0] == "beijing"
    assert beijing_row[2] == "20"  # measured, printed plainly
    assert beijing_row[3].startswith("~")  # estimated, marked


def test_cli_name_given_twice_is_one_row() -> None:
    res = CliRunner().invoke(latency, ["beijing", "xian", "beijing"])
    assert res.exit_code == 0, res.output
    assert res.output.splitlines()[0].split() == ["beijing", "xian"]
    assert [ln.split()[0] for ln in res.output.splitlines()[1:3]] == ["beijing", "xian"]


def test_cli_json_matches_model() -> None:
    res = CliRunner().invoke(latency, ["--json", "tokyo", "us-east"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert data["tokyo"]["us-east"]["rtt_ms"] == geo.rtt("tokyo", "us-east").rtt_ms
    assert data["tokyo"]["us-east"]["source"] == "measured"


def test_cli_unknown_name_exits_2_with_suggestion() -> None:
    res = CliRunner().invoke(latency, ["beijing", "xain"])
    assert res.exit_code == 2
    assert "unknown location 'xain'" in res.output
    assert "xian" in res.output


def test_cli_list() -> None:
    res = CliRunner().invoke(latency, ["--list"])
    assert res.exit_code == 0
    assert "ap-northeast" in res.output and "tokyo" in res.output


def test_cross_border_pairs_use_measured_figures_with_sources() -> None:
    """China <-> abroad: the measured public figures (each with its source) are used,
    and the estimate's border surcharge is fitted to them (within 10 %)."""
    from chaoskit.topology.locations import CROSS_BORDER_SOURCES, MEASURED_RTT_MS

    for pair, source in CROSS_BORDER_SOURCES.items():
        assert "http" in source and pair in MEASURED_RTT_MS
        a, b = sorted(pair)
        assert geo.rtt_source(a, b) == "measured"
    us = geo.estimate_rtt_ms(geo.resolve("us-east"), geo.resolve("beijing"))
    assert abs(us - MEASURED_RTT_MS[frozenset(("us-east", "beijing"))]) / us < 0.1
    jp = geo.estimate_rtt_ms(geo.resolve("ap-northeast"), geo.resolve("qingdao"))
    assert 63.8 <= jp <= 98.3  # the range of the four Japan -> Qingdao averages
