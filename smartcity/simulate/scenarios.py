"""Built-in road networks: central London's main roads, and the London → Birmingham drive.

Small hand-made graphs of real roads (junction coordinates rounded to about 10 m) are enough for
realistic traffic: vehicles follow shortest routes between terminals at each road's typical speed, so
positions, speeds and camera passes are coherent. Adding a scenario is adding a ``Scenario`` here.
"""

from __future__ import annotations

from dataclasses import dataclass

from smartcity.errors import UsageError


@dataclass(frozen=True)
class Scenario:
    """A road graph. ``roads`` are two-way ``(from, to, speed_kmh)``; ``terminals`` are trip ends."""

    name: str
    description: str
    nodes: dict[str, tuple[float, float]]
    roads: tuple[tuple[str, str, float], ...]
    cameras: tuple[str, ...]
    terminals: tuple[str, ...] = ()

    def trip_ends(self) -> tuple[str, ...]:
        return self.terminals or tuple(self.nodes)


LONDON = Scenario(
    name="london",
    description="Central London main roads (Oxford St, Euston Rd, Park Lane, the Embankment, the bridges) "
    "and the fast roads out: the A40 Westway and the A4 to the west, the Limehouse Link, the A12 and the "
    "Blackwall Tunnel approach to the east",
    nodes={
        "Paddington": (51.5154, -0.1755),
        "Marble Arch": (51.5131, -0.1589),
        "Baker Street": (51.5226, -0.1571),
        "Euston": (51.5282, -0.1337),
        "King's Cross": (51.5308, -0.1238),
        "Angel": (51.5322, -0.1058),
        "Old Street": (51.5256, -0.0875),
        "Liverpool Street": (51.5178, -0.0823),
        "Aldgate": (51.5142, -0.0755),
        "Tower Hill": (51.5098, -0.0766),
        "Bank": (51.5133, -0.0890),
        "Holborn": (51.5174, -0.1201),
        "Tottenham Court Road": (51.5165, -0.1310),
        "Oxford Circus": (51.5152, -0.1418),
        "Piccadilly Circus": (51.5101, -0.1340),
        "Trafalgar Square": (51.5080, -0.1281),
        "Blackfriars": (51.5115, -0.1043),
        "London Bridge": (51.5055, -0.0860),
        "Waterloo": (51.5031, -0.1132),
        "Westminster": (51.5008, -0.1216),
        "Elephant and Castle": (51.4946, -0.1005),
        "Vauxhall": (51.4861, -0.1253),
        "Victoria": (51.4965, -0.1447),
        "Hyde Park Corner": (51.5027, -0.1527),
        "Knightsbridge": (51.5015, -0.1607),
        "Sloane Square": (51.4924, -0.1565),
        "White City": (51.5145, -0.2235),
        "Hammersmith": (51.4925, -0.2230),
        "Earl's Court": (51.4920, -0.1935),
        "Limehouse": (51.5120, -0.0390),
        "Poplar": (51.5090, -0.0095),
        "Bow": (51.5285, -0.0175),
        "Blackwall Tunnel South": (51.4975, 0.0015),
        "Kidbrooke": (51.4650, 0.0245),
    },
    roads=(
        ("Paddington", "Marble Arch", 40),
        ("Paddington", "Baker Street", 40),
        ("Baker Street", "Euston", 48),
        ("Euston", "King's Cross", 40),
        ("King's Cross", "Angel", 40),
        ("Angel", "Old Street", 40),
        ("Old Street", "Liverpool Street", 32),
        ("Liverpool Street", "Aldgate", 32),
        ("Liverpool Street", "Bank", 32),
        ("Aldgate", "Tower Hill", 32),
        ("Aldgate", "Bank", 32),
        ("Tower Hill", "London Bridge", 32),
        ("London Bridge", "Bank", 32),
        ("Bank", "Blackfriars", 32),
        ("Bank", "Holborn", 32),
        ("Holborn", "King's Cross", 32),
        ("Holborn", "Tottenham Court Road", 32),
        ("Tottenham Court Road", "Euston", 32),
        ("Tottenham Court Road", "Oxford Circus", 24),
        ("Oxford Circus", "Marble Arch", 24),
        ("Oxford Circus", "Piccadilly Circus", 24),
        ("Piccadilly Circus", "Trafalgar Square", 24),
        ("Piccadilly Circus", "Hyde Park Corner", 32),
        ("Marble Arch", "Hyde Park Corner", 48),
        ("Trafalgar Square", "Westminster", 32),
        ("Trafalgar Square", "Blackfriars", 48),
        ("Westminster", "Waterloo", 32),
        ("Westminster", "Vauxhall", 40),
        ("Waterloo", "Elephant and Castle", 32),
        ("Blackfriars", "Elephant and Castle", 32),
        ("Elephant and Castle", "London Bridge", 32),
        ("Elephant and Castle", "Vauxhall", 40),
        ("Vauxhall", "Victoria", 40),
        ("Victoria", "Hyde Park Corner", 32),
        ("Hyde Park Corner", "Knightsbridge", 40),
        ("Knightsbridge", "Sloane Square", 32),
        ("Sloane Square", "Victoria", 32),
        ("Paddington", "White City", 72),  # A40 Westway, elevated
        ("White City", "Hammersmith", 40),
        ("Hammersmith", "Earl's Court", 64),  # A4 Talgarth Road
        ("Earl's Court", "Knightsbridge", 48),  # A4 Cromwell Road
        ("Tower Hill", "Limehouse", 56),  # A1203 Limehouse Link tunnel
        ("Limehouse", "Poplar", 64),
        ("Poplar", "Bow", 80),  # A12 East Cross Route
        ("Poplar", "Blackwall Tunnel South", 64),  # A102 Blackwall Tunnel
        ("Blackwall Tunnel South", "Kidbrooke", 80),  # A102 southern approach
    ),
    cameras=(
        "Marble Arch",
        "Oxford Circus",
        "King's Cross",
        "Bank",
        "Trafalgar Square",
        "Westminster",
        "Elephant and Castle",
        "Hyde Park Corner",
        "Vauxhall",
        "Old Street",
    ),
)

LONDON_BIRMINGHAM = Scenario(
    name="london-birmingham",
    description="The drive from central London to Birmingham along the A40 and the M40",
    nodes={
        "London Marble Arch": (51.5131, -0.1589),
        "Hanger Lane": (51.5300, -0.2930),
        "Northolt": (51.5480, -0.3700),
        "M40 J1 Denham": (51.5730, -0.4950),
        "M40 J2 Beaconsfield": (51.6050, -0.6300),
        "M40 J4 High Wycombe": (51.6220, -0.7760),
        "M40 J5 Stokenchurch": (51.6630, -0.9000),
        "M40 J6 Lewknor": (51.6760, -0.9570),
        "M40 J8 Wheatley": (51.7370, -1.1080),
        "M40 J9 Bicester": (51.8620, -1.1850),
        "M40 J11 Banbury": (52.0640, -1.3130),
        "M40 J12 Gaydon": (52.1830, -1.4780),
        "M40 J15 Warwick": (52.2680, -1.6080),
        "M42 J3a": (52.3780, -1.8430),
        "Birmingham": (52.4862, -1.8904),
    },
    roads=(
        ("London Marble Arch", "Hanger Lane", 48),
        ("Hanger Lane", "Northolt", 80),
        ("Northolt", "M40 J1 Denham", 96),
        ("M40 J1 Denham", "M40 J2 Beaconsfield", 113),
        ("M40 J2 Beaconsfield", "M40 J4 High Wycombe", 113),
        ("M40 J4 High Wycombe", "M40 J5 Stokenchurch", 113),
        ("M40 J5 Stokenchurch", "M40 J6 Lewknor", 113),
        ("M40 J6 Lewknor", "M40 J8 Wheatley", 113),
        ("M40 J8 Wheatley", "M40 J9 Bicester", 113),
        ("M40 J9 Bicester", "M40 J11 Banbury", 113),
        ("M40 J11 Banbury", "M40 J12 Gaydon", 113),
        ("M40 J12 Gaydon", "M40 J15 Warwick", 113),
        ("M40 J15 Warwick", "M42 J3a", 113),
        ("M42 J3a", "Birmingham", 64),
    ),
    cameras=(
        "Hanger Lane",
        "M40 J1 Denham",
        "M40 J4 High Wycombe",
        "M40 J8 Wheatley",
        "M40 J11 Banbury",
        "M40 J15 Warwick",
        "M42 J3a",
    ),
    terminals=("London Marble Arch", "Birmingham"),
)

SCENARIOS: dict[str, Scenario] = {s.name: s for s in (LONDON, LONDON_BIRMINGHAM)}


def get_scenario(name: str) -> Scenario:
    try:
        return SCENARIOS[name]
    except KeyError:
        raise UsageError(f"unknown scenario {name!r}; choose one of {', '.join(SCENARIOS)}") from None
