"""Named places for regions: Chinese cities, cloud regions, a few hub cities.

Each location has coordinates (for the great-circle estimate in `geo.py`) and a
short description. Cloud regions use provider-neutral names modelled on AWS's
(us-east = northern Virginia, ap-northeast = Tokyo, ...); city aliases map onto
them (tokyo -> ap-northeast). `MEASURED_RTT_MS` holds round-trip figures for
pairs where a public measurement exists; every other pair is estimated.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Location:
    name: str  # canonical name, e.g. "ap-northeast"
    lat: float  # degrees north
    lon: float  # degrees east
    description: str  # human words, e.g. "Tokyo, Japan"
    country: str  # ISO 3166 alpha-2; same-country pairs share a domestic backbone
    aliases: tuple[str, ...] = field(default=())


_ALL: tuple[Location, ...] = (
    # --- mainland China and Hong Kong (city centre coordinates) ---
    Location("beijing", 39.904, 116.407, "Beijing, China", "CN"),
    Location("shanghai", 31.230, 121.474, "Shanghai, China", "CN"),
    Location("shenzhen", 22.543, 114.058, "Shenzhen, China", "CN"),
    Location("guangzhou", 23.129, 113.264, "Guangzhou, China", "CN"),
    Location("hangzhou", 30.274, 120.155, "Hangzhou, China", "CN"),
    Location("wuhan", 30.593, 114.305, "Wuhan, China", "CN"),
    Location("xian", 34.341, 108.940, "Xi'an, China", "CN", ("xi-an",)),
    Location("chengdu", 30.573, 104.066, "Chengdu, China", "CN"),
    Location("chongqing", 29.563, 106.551, "Chongqing, China", "CN"),
    Location("nanjing", 32.060, 118.797, "Nanjing, China", "CN"),
    Location("qingdao", 36.067, 120.383, "Qingdao, China", "CN"),
    Location("zhangjiakou", 40.769, 114.886, "Zhangjiakou, Hebei, China", "CN"),
    Location("ulanqab", 41.034, 113.134, "Ulanqab, Inner Mongolia, China", "CN", ("wulanchabu",)),
    Location("hongkong", 22.319, 114.169, "Hong Kong", "HK", ("hong-kong", "hk", "ap-east")),
    # --- cloud regions (coordinates of the metro area hosting the region) ---
    Location(
        "us-east",
        39.044,
        -77.487,
        "Ashburn, northern Virginia, USA",
        "US",
        ("virginia", "ashburn", "us-east-1"),
    ),
    Location("us-east-2", 39.961, -82.999, "Columbus, Ohio, USA", "US", ("ohio",)),
    Location("us-central", 41.262, -95.861, "Council Bluffs, Iowa, USA", "US", ("iowa",)),
    Location("us-west", 45.839, -119.700, "Boardman, Oregon, USA", "US", ("oregon", "us-west-2")),
    Location(
        "us-west-1",
        37.339,
        -121.895,
        "San Jose, northern California, USA",
        "US",
        ("california", "san-jose"),
    ),
    Location("ca-central", 45.502, -73.567, "Montreal, Canada", "CA", ("montreal",)),
    Location("sa-east", -23.551, -46.633, "Sao Paulo, Brazil", "BR", ("sao-paulo", "saopaulo")),
    Location(
        "eu-west", 53.350, -6.260, "Dublin, Ireland", "IE", ("dublin", "ireland", "eu-west-1")
    ),
    Location("eu-west-2", 51.507, -0.128, "London, United Kingdom", "GB", ("london",)),
    Location("eu-west-3", 48.857, 2.352, "Paris, France", "FR", ("paris",)),
    Location(
        "eu-central", 50.110, 8.682, "Frankfurt, Germany", "DE", ("frankfurt", "eu-central-1")
    ),
    Location("eu-north", 59.329, 18.069, "Stockholm, Sweden", "SE", ("stockholm",)),
    Location("eu-south", 45.464, 9.190, "Milan, Italy", "IT", ("milan",)),
    Location("me-central", 25.205, 55.271, "Dubai, United Arab Emirates", "AE", ("dubai", "uae")),
    Location(
        "af-south", -33.925, 18.424, "Cape Town, South Africa", "ZA", ("cape-town", "capetown")
    ),
    Location("ap-south", 19.076, 72.878, "Mumbai, India", "IN", ("mumbai",)),
    Location("ap-southeast", 1.352, 103.820, "Singapore", "SG", ("singapore", "ap-southeast-1")),
    Location("ap-southeast-2", -33.869, 151.209, "Sydney, Australia", "AU", ("sydney",)),
    Location("ap-southeast-3", -6.209, 106.846, "Jakarta, Indonesia", "ID", ("jakarta",)),
    Location("ap-northeast", 35.676, 139.650, "Tokyo, Japan", "JP", ("tokyo", "ap-northeast-1")),
    Location("ap-northeast-2", 37.567, 126.978, "Seoul, South Korea", "KR", ("seoul",)),
    Location("ap-northeast-3", 34.694, 135.502, "Osaka, Japan", "JP", ("osaka",)),
    # --- hub cities people name directly ---
    Location("new-york", 40.713, -74.006, "New York, USA", "US", ("nyc",)),
    Location("chicago", 41.878, -87.630, "Chicago, USA", "US"),
    Location("amsterdam", 52.368, 4.904, "Amsterdam, Netherlands", "NL"),
)

LOCATIONS: dict[str, Location] = {loc.name: loc for loc in _ALL}

ALIASES: dict[str, str] = {alias: loc.name for loc in _ALL for alias in loc.aliases}

# Round-trip medians in ms, rounded. Sources (indicative, not authoritative; the
# point is realistic magnitudes, and every figure can be overridden per experiment):
# - cloud pairs: the public inter-region latency dashboards of the big clouds --
#   Azure "network round-trip latency statistics" (ThousandEyes monthly averages)
#   and AWS inter-region p50s as published by cloudping.co -- for the matching
#   metro areas;
# - China: published inter-region ping tables of Chinese clouds (Alibaba Cloud,
#   Tencent Cloud) and public city-to-city ping measurements (e.g. ping.chinaz.com)
#   over the domestic backbones, which route through a few hubs and so run well
#   above what the straight-line distance suggests.
# - mainland China <-> abroad: the measured public figures in CROSS_BORDER_SOURCES
#   (each pair names its source); the other cross-border pairs are estimates with
#   geo.CHINA_BORDER_MS, fitted to these.
CROSS_BORDER_SOURCES: dict[frozenset[str], str] = {
    frozenset(("ap-northeast", "qingdao")): (
        "Clara Online, ping test Japan -> Alibaba Cloud Qingdao, 3 Dec 2014, 100 pings each "
        "(https://ci.clara.jp/media/?p=33): from AWS Tokyo avg 97.1 ms, 6% loss; from Clara "
        "Tokyo 63.8 ms, 8%; from NIFTY Cloud East Japan 88.9 ms, 17%; from Sakura Hokkaido 98.3 ms, 13%"
    ),
    frozenset(("us-east", "beijing")): (
        "AWS region latency list measured from a client 19 ms from us-east-1 "
        "(https://pastebin.com/rrQjtjmR): China (Beijing) 222 ms, China (Ningxia) 238 ms; "
        "222 - 19 = 203 ms"
    ),
    frozenset(("beijing", "hongkong")): (
        "ping from Beijing to a Hong Kong server over China Telecom CN2, perfops.net, 2021 "
        "(https://wp.nippombashi.net/2021/about_cn2_china_direct_route/): ~47 ms; the same "
        "server over an ordinary route 370 ms (Shanghai: 34 ms with CN2, 365 ms without)"
    ),
}

MEASURED_RTT_MS: dict[frozenset[str], float] = {
    frozenset(pair): ms
    for pair, ms in (
        # China, domestic
        (("beijing", "shanghai"), 28.0),
        (("beijing", "xian"), 20.0),
        (("beijing", "hangzhou"), 30.0),
        (("beijing", "nanjing"), 24.0),
        (("beijing", "qingdao"), 14.0),
        (("beijing", "wuhan"), 24.0),
        (("beijing", "guangzhou"), 42.0),
        (("beijing", "shenzhen"), 44.0),
        (("beijing", "chengdu"), 38.0),
        (("beijing", "chongqing"), 36.0),
        (("beijing", "zhangjiakou"), 5.0),
        (("beijing", "ulanqab"), 8.0),
        (("shanghai", "hangzhou"), 6.0),
        (("shanghai", "nanjing"), 8.0),
        (("shanghai", "wuhan"), 16.0),
        (("shanghai", "guangzhou"), 28.0),
        (("shanghai", "shenzhen"), 30.0),
        (("shanghai", "chengdu"), 36.0),
        (("shanghai", "xian"), 26.0),
        (("hangzhou", "shenzhen"), 28.0),
        (("guangzhou", "shenzhen"), 4.0),
        (("guangzhou", "wuhan"), 18.0),
        (("xian", "chengdu"), 16.0),
        (("chengdu", "chongqing"), 8.0),
        (("chengdu", "guangzhou"), 32.0),
        # China <-> Hong Kong (cross-border routes add a few ms)
        (("beijing", "hongkong"), 48.0),
        (("shanghai", "hongkong"), 32.0),
        (("shenzhen", "hongkong"), 6.0),
        (("guangzhou", "hongkong"), 8.0),
        # mainland China <-> abroad (sources in CROSS_BORDER_SOURCES)
        (("ap-northeast", "qingdao"), 97.0),
        (("us-east", "beijing"), 203.0),
        # cloud, intercontinental and regional
        (("us-east", "eu-west"), 81.0),
        (("us-east", "eu-central"), 90.0),
        (("us-east", "eu-west-2"), 76.0),
        (("us-east", "ap-northeast"), 145.0),
        (("us-east", "us-west"), 66.0),
        (("us-east", "us-east-2"), 12.0),
        (("us-east", "sa-east"), 115.0),
        (("us-west", "ap-northeast"), 100.0),
        (("us-west", "us-west-1"), 22.0),
        (("ap-northeast", "ap-southeast"), 74.0),
        (("ap-northeast", "ap-northeast-2"), 34.0),
        (("ap-northeast", "ap-northeast-3"), 9.0),
        (("ap-northeast", "hongkong"), 50.0),
        (("ap-southeast", "hongkong"), 36.0),
        (("ap-southeast", "ap-south"), 58.0),
        (("ap-southeast", "ap-southeast-2"), 92.0),
        (("eu-west", "eu-central"), 20.0),
        (("eu-west", "eu-west-2"), 12.0),
        (("eu-central", "eu-west-3"), 10.0),
        (("eu-central", "eu-north"), 22.0),
        (("eu-central", "ap-south"), 120.0),
        (("eu-central", "me-central"), 110.0),
    )
}


def canonical_key(name: str) -> str:
    """How a user-typed name is normalised before lookup ("Xi'an" -> "xian")."""
    key = name.strip().lower().replace("'", "").replace("_", "-").replace(" ", "-")
    return key


def all_names() -> list[str]:
    """Every accepted name (canonical and alias), for suggestions and docs."""
    return sorted([*LOCATIONS, *ALIASES])
