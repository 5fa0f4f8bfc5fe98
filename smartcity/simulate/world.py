"""The simulated city: vehicles on a road graph, cameras, weather stations and incidents.

``World.step`` advances one second of event time and hands every event to ``emit`` as ready JSON
text, in a deterministic order: everything random comes from one seeded ``random.Random`` (ids
included), so the same seed and start give the same bytes. The whole state round-trips through
``to_state``/``from_state`` (plain JSON), which is how the scheduled Lambda continues routes between
invocations.

Location formats differ per device kind on purpose — vehicles send ``[lat, lon]`` (the tutorial's
tuple), cameras ``"(lat, lon)"``, stations ``{"lat", "lon"}`` and emergency units ``"lat,lon"`` — so
every accepted format flows through the pipeline.
"""

from __future__ import annotations

import base64
import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from smartcity.config import CELL_SIZE_DEG, Stream
from smartcity.simulate.encode import TimestampFormatter, second_prefix, uuid4_from
from smartcity.simulate.geo import bearing_deg, cell_of, compass, haversine_km
from smartcity.simulate.scenarios import Scenario, get_scenario
from smartcity.simulate.weather import FrontParams, WeatherField

Emit = Callable[[Stream, str, str, int], None]
"""``emit(stream, key, json_text, event_ms)``."""

STATE_VERSION = 1

# (make, model, fuel, vehicle type, weight): a plausible London fleet mix.
FLEET = (
    ("Toyota", "Prius", "Hybrid", "private", 14),
    ("Ford", "Focus", "Petrol", "private", 12),
    ("Volkswagen", "Golf", "Diesel", "private", 10),
    ("Vauxhall", "Corsa", "Petrol", "private", 10),
    ("BMW", "3 Series", "Diesel", "private", 8),
    ("Mercedes-Benz", "C-Class", "Hybrid", "private", 6),
    ("Tesla", "Model 3", "Electric", "private", 6),
    ("Nissan", "Leaf", "Electric", "private", 4),
    ("LEVC", "TX", "Electric", "taxi", 10),
    ("Toyota", "Corolla", "Hybrid", "taxi", 5),
    ("Ford", "Transit", "Diesel", "delivery", 8),
    ("Mercedes-Benz", "Sprinter", "Diesel", "delivery", 4),
    ("Alexander Dennis", "Enviro400", "Diesel", "bus", 3),
)
# A driver's speed is the road's typical speed times a personal factor: most drive at or a little below it,
# a few well above it (on the fast roads they are the ones the speeding query finds).
DRIVER_FACTOR = (0.8, 1.05)
SPEEDER_FACTOR = (1.1, 1.3)
SPEEDER_SHARE = 0.1
INCIDENT_TYPES = ("Accident", "Fire", "Medical", "Police")
INCIDENT_TEXT = {
    "Accident": "Road traffic collision",
    "Fire": "Vehicle fire",
    "Medical": "Medical emergency",
    "Police": "Police incident",
}


@dataclass(frozen=True)
class WorldParams:
    """What defines a run; saved in the state so a continued run keeps its shape."""

    scenario: str = "london"
    vehicles: int = 100
    seed: int = 42
    gps_interval_s: int = 1
    vehicle_interval_s: int = 2
    weather_interval_s: int = 60
    incident_report_interval_s: int = 60
    incidents_per_hour: float | None = None  # None: 12 + vehicles / 10
    cell_size_deg: float = CELL_SIZE_DEG

    def incident_rate(self) -> float:
        return self.incidents_per_hour if self.incidents_per_hour is not None else 12 + self.vehicles / 10


class _Edge:
    """A directed road segment with what the hot loop needs precomputed."""

    __slots__ = ("a", "b", "direction", "dlat", "dlon", "lat", "length_m", "lon", "speed_kmh")

    def __init__(self, a: int, b: int, coords: list[tuple[float, float]], speed_kmh: float) -> None:
        self.a, self.b = a, b
        (self.lat, self.lon), (lat2, lon2) = coords[a], coords[b]
        self.dlat, self.dlon = lat2 - self.lat, lon2 - self.lon
        self.length_m = haversine_km(self.lat, self.lon, lat2, lon2) * 1000.0
        self.speed_kmh = speed_kmh
        self.direction = compass(bearing_deg(self.lat, self.lon, lat2, lon2))


class Vehicle:
    __slots__ = (
        "dest",
        "device_id",
        "driver",
        "edge",
        "phase_ms",
        "pos_m",
        "slot",
        "speed",
        "static",
        "suffix",
        "vtype",
    )

    def __init__(self) -> None:
        self.device_id = ""
        self.static = ""  # the vehicle event's constant tail: make, model, year, fuelType
        self.vtype = ""
        self.edge: _Edge
        self.dest = 0
        self.pos_m = 0.0
        self.speed = 0.0
        self.driver = 1.0
        self.phase_ms = 0
        self.suffix = ".000Z"  # milliseconds part of every timestamp of this vehicle (fixed phase)
        self.slot = 0

    def set_phase(self, phase_ms: int) -> None:
        self.phase_ms = phase_ms
        self.suffix = f".{phase_ms:03d}Z"


class World:
    """The city and its clock. Build with :meth:`create` or :meth:`from_state`."""

    def __init__(self, params: WorldParams, scenario: Scenario) -> None:
        self.params = params
        self.scenario = scenario
        self.names = list(scenario.nodes)
        self.coords = [scenario.nodes[n] for n in self.names]
        index = {n: i for i, n in enumerate(self.names)}
        self.edges: dict[tuple[int, int], _Edge] = {}
        for a, b, speed in scenario.roads:
            i, j = index[a], index[b]
            self.edges[(i, j)] = _Edge(i, j, self.coords, speed)
            self.edges[(j, i)] = _Edge(j, i, self.coords, speed)
        self.next_hop = self._routes()
        self.terminals = [index[n] for n in scenario.trip_ends()]
        self.cameras = {
            index[n]: (f"camera-{index[n]:03d}", self._fmt_paren(*self.coords[index[n]]))
            for n in scenario.cameras
        }
        self.stations = self._stations()
        self.rng = random.Random(params.seed)
        self.time_ms = 0
        self.vehicles: list[Vehicle] = []
        self.station_phase: list[int] = []
        # Each station's last reported temperature (rounded as sent), so no two reports in a row are equal.
        self.station_last_temp: list[float | None] = []
        self.incidents: list[
            list[Any]
        ] = []  # [id, type, lat, lon, reporter, start_ms, end_ms, phase_s, text]
        self.front: FrontParams
        self.field: WeatherField
        self._ts = TimestampFormatter()

    # ---- construction -------------------------------------------------------------------------------
    @classmethod
    def create(cls, params: WorldParams, start_ms: int) -> World:
        world = cls(params, get_scenario(params.scenario))
        world.time_ms = start_ms - start_ms % 1000
        rng = world.rng
        lat0 = sum(c[0] for c in world.coords) / len(world.coords)
        lon0 = sum(c[1] for c in world.coords) / len(world.coords)
        world.front = FrontParams.draw(rng, lat0, lon0, start_s=world.time_ms / 1000)
        world.field = WeatherField(world.front)
        world.station_phase = [rng.randrange(params.weather_interval_s) for _ in world.stations]
        world.station_last_temp = [None] * len(world.stations)
        edges = sorted(world.edges)
        weights = [f[4] for f in FLEET]
        for n in range(params.vehicles):
            v = Vehicle()
            make, model, fuel, vtype, _ = rng.choices(FLEET, weights)[0]
            v.device_id = f"vehicle-{n + 1:05d}"
            year = rng.randrange(2012, 2026)
            v.static = f',"make":"{make}","model":"{model}","year":{year},"fuelType":"{fuel}"}}'
            v.vtype = vtype
            v.edge = world.edges[edges[rng.randrange(len(edges))]]
            v.pos_m = rng.random() * v.edge.length_m
            v.dest = world._pick_dest(v.edge.b)
            v.driver = rng.uniform(*SPEEDER_FACTOR if rng.random() < SPEEDER_SHARE else DRIVER_FACTOR)
            v.speed = v.edge.speed_kmh * v.driver
            v.set_phase(rng.randrange(1000))
            v.slot = rng.randrange(params.vehicle_interval_s)
            world.vehicles.append(v)
        # Start with the steady-state number of open incidents (rate × mean duration), not an empty city.
        for _ in range(int(params.incident_rate() * 0.45)):
            world._open_incident(world.time_ms - rng.randrange(0, 20 * 60) * 1000)
        return world

    def _routes(self) -> list[list[int]]:
        """Next hop on the fastest route between every pair of junctions (Floyd–Warshall, tiny graphs)."""
        n = len(self.names)
        inf = math.inf
        cost = [[0.0 if i == j else inf for j in range(n)] for i in range(n)]
        hop = [[j if i == j else -1 for j in range(n)] for i in range(n)]
        for (i, j), e in self.edges.items():
            cost[i][j] = e.length_m / e.speed_kmh
            hop[i][j] = j
        for k in range(n):
            for i in range(n):
                cik = cost[i][k]
                if cik == inf:
                    continue
                for j in range(n):
                    if cik + cost[k][j] < cost[i][j]:
                        cost[i][j] = cik + cost[k][j]
                        hop[i][j] = hop[i][k]
        return hop

    def _stations(self) -> list[tuple[str, float, float, str]]:
        """One station per grid cell crossed by a road, at the cell centre: ``(id, lat, lon, location)``."""
        size = self.params.cell_size_deg
        cells: set[tuple[int, int]] = set()
        for e in self.edges.values():
            steps = max(1, int(e.length_m / 200))
            for k in range(steps + 1):
                cells.add(cell_of(e.lat + e.dlat * k / steps, e.lon + e.dlon * k / steps, size))
        out = []
        for row, col in sorted(cells):
            lat, lon = (row + 0.5) * size, (col + 0.5) * size
            out.append((f"station-{row}_{col}", lat, lon, f'{{"lat":{lat:.6f},"lon":{lon:.6f}}}'))
        return out

    @staticmethod
    def _fmt_paren(lat: float, lon: float) -> str:
        return f'"({lat:.6f}, {lon:.6f})"'

    def _pick_dest(self, current: int) -> int:
        choices = [t for t in self.terminals if t != current]
        return choices[self.rng.randrange(len(choices))] if choices else current

    def _open_incident(self, start_ms: int) -> None:
        rng = self.rng
        edges = sorted(self.edges)
        e = self.edges[edges[rng.randrange(len(edges))]]
        frac = rng.random()
        kind = INCIDENT_TYPES[rng.randrange(len(INCIDENT_TYPES))]
        reporter = self.vehicles[rng.randrange(len(self.vehicles))].device_id if self.vehicles else "unit-001"
        duration_ms = rng.randrange(10 * 60, 45 * 60) * 1000
        near = self.names[e.a] if frac < 0.5 else self.names[e.b]
        text = f"{INCIDENT_TEXT[kind]} near {near}"
        self.incidents.append(
            [
                uuid4_from(rng.randbytes),
                kind,
                e.lat + e.dlat * frac,
                e.lon + e.dlon * frac,
                reporter,
                start_ms,
                start_ms + duration_ms,
                rng.randrange(self.params.incident_report_interval_s),
                text,
            ]
        )

    # ---- simulation -----------------------------------------------------------------------------------
    def step(self, emit: Emit) -> int:
        """Advance one second and emit that second's events; returns how many were emitted."""
        p = self.params
        rng = self.rng
        rand = rng.random
        randbytes = rng.randbytes
        uuid4 = uuid4_from
        t_ms = self.time_ms
        sec = t_ms // 1000
        prefix = second_prefix(sec)
        cameras = self.cameras
        edges = self.edges
        next_hop = self.next_hop
        gps_every, veh_every = p.gps_interval_s, p.vehicle_interval_s
        gps_tick = sec % gps_every == 0
        n = 0
        for v in self.vehicles:
            e = v.edge
            target = e.speed_kmh * v.driver
            speed = v.speed + (target - v.speed) * 0.25 + (rand() - 0.5) * 4.0
            if speed < 0.0:
                speed = 0.0
            v.speed = speed
            pos = v.pos_m + speed / 3.6
            while pos >= e.length_m:
                pos -= e.length_m
                node = e.b
                if node in cameras:
                    cam_id, cam_loc = cameras[node]
                    shot = base64.b64encode(randbytes(72)).decode()
                    emit(
                        Stream.TRAFFIC,
                        v.device_id,
                        f'{{"id":"{uuid4(randbytes)}","deviceId":"{v.device_id}",'
                        f'"timestamp":"{prefix}{v.suffix}","cameraId":"{cam_id}",'
                        f'"location":{cam_loc},"snapshot":"{shot}"}}',
                        t_ms + v.phase_ms,
                    )
                    n += 1
                if node == v.dest:
                    v.dest = self._pick_dest(node)
                hop = next_hop[node][v.dest]
                e = edges[(node, hop)] if hop >= 0 and hop != node else edges[(node, e.a)]
                v.edge = e
            v.pos_m = pos
            event_ms = t_ms + v.phase_ms
            if gps_tick:
                emit(
                    Stream.GPS,
                    v.device_id,
                    f'{{"id":"{uuid4(randbytes)}","deviceId":"{v.device_id}","timestamp":"{prefix}{v.suffix}",'
                    f'"speed":{speed:.1f},"direction":"{e.direction}","vehicleType":"{v.vtype}"}}',
                    event_ms,
                )
                n += 1
            if (sec + v.slot) % veh_every == 0:
                frac = pos / e.length_m
                emit(
                    Stream.VEHICLE,
                    v.device_id,
                    f'{{"id":"{uuid4(randbytes)}","deviceId":"{v.device_id}","timestamp":"{prefix}{v.suffix}",'
                    f'"location":[{e.lat + e.dlat * frac:.6f},{e.lon + e.dlon * frac:.6f}],'
                    f'"speed":{speed:.1f},"direction":"{e.direction}"{v.static}',
                    event_ms,
                )
                n += 1
        n += self._weather(emit, sec, t_ms)
        n += self._incidents(emit, sec, t_ms)
        self.time_ms = t_ms + 1000
        return n

    def _weather(self, emit: Emit, sec: int, t_ms: int) -> int:
        every = self.params.weather_interval_s
        n = 0
        for i, ((sid, lat, lon, loc), phase) in enumerate(
            zip(self.stations, self.station_phase, strict=True)
        ):
            if (sec + phase) % every:
                continue
            temp, cond, precip, wind, hum, aqi = self.field.sample(lat, lon, sec, self.rng)
            temp = round(temp, 1)
            if temp == self.station_last_temp[i]:
                # A working thermometer never repeats a reading by chance: repeats mean a stuck sensor.
                temp = round(temp + 0.1, 1)
            self.station_last_temp[i] = temp
            event_ms = t_ms + phase * 7 % 1000
            emit(
                Stream.WEATHER,
                sid,
                f'{{"id":"{uuid4_from(self.rng.randbytes)}","deviceId":"{sid}","timestamp":"{self._ts(event_ms)}",'
                f'"location":{loc},"temperature":{temp:.1f},"weatherCondition":"{cond}",'
                f'"precipitation":{precip:.2f},"windSpeed":{wind:.1f},"humidity":{hum:.0f},'
                f'"airQualityIndex":{aqi:.0f}}}',
                event_ms,
            )
            n += 1
        return n

    def _incidents(self, emit: Emit, sec: int, t_ms: int) -> int:
        rng = self.rng
        if rng.random() < self.params.incident_rate() / 3600.0:
            self._open_incident(t_ms)
        every = self.params.incident_report_interval_s
        n = 0
        still_open = []
        for inc in self.incidents:
            iid, kind, lat, lon, reporter, start_ms, end_ms, phase, text = inc
            resolved = t_ms >= end_ms
            if resolved or t_ms == start_ms or (sec + phase) % every == 0:
                status = "Resolved" if resolved else "Active"
                emit(
                    Stream.EMERGENCY,
                    reporter,
                    f'{{"id":"{uuid4_from(rng.randbytes)}","deviceId":"{reporter}","timestamp":"{self._ts(t_ms)}",'
                    f'"incidentId":"{iid}","type":"{kind}","location":"{lat:.6f},{lon:.6f}",'
                    f'"status":"{status}","description":"{text}"}}',
                    t_ms,
                )
                n += 1
            if not resolved:
                still_open.append(inc)
        self.incidents = still_open
        return n

    # ---- state ----------------------------------------------------------------------------------------
    def positions(self) -> dict[str, tuple[str, str, float]]:
        """``device_id → (from junction, to junction, metres along)``: where each vehicle is now."""
        return {
            v.device_id: (self.names[v.edge.a], self.names[v.edge.b], round(v.pos_m, 3))
            for v in self.vehicles
        }

    def to_state(self) -> dict[str, Any]:
        """Everything needed to continue exactly where this world is (JSON-serialisable)."""
        return {
            "version": STATE_VERSION,
            "params": self.params.__dict__,
            "time_ms": self.time_ms,
            "rng": _rng_state(self.rng),
            "front": self.front.to_dict(),
            "station_phase": self.station_phase,
            "station_last_temp": self.station_last_temp,
            "vehicles": [
                [
                    v.device_id,
                    v.static,
                    v.vtype,
                    v.edge.a,
                    v.edge.b,
                    v.dest,
                    v.pos_m,
                    v.speed,
                    v.driver,
                    v.phase_ms,
                    v.slot,
                ]
                for v in self.vehicles
            ],
            "incidents": self.incidents,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> World:
        if state.get("version") != STATE_VERSION:
            raise ValueError(f"unsupported simulator state version {state.get('version')!r}")
        params = WorldParams(**state["params"])
        world = cls(params, get_scenario(params.scenario))
        world.time_ms = int(state["time_ms"])
        world.rng.setstate(_rng_from(state["rng"]))
        world.front = FrontParams(**state["front"])
        world.field = WeatherField(world.front)
        world.station_phase = list(state["station_phase"])
        world.station_last_temp = list(state.get("station_last_temp") or [None] * len(world.stations))
        for row in state["vehicles"]:
            v = Vehicle()
            v.device_id, v.static, v.vtype, a, b, v.dest, v.pos_m, v.speed, v.driver, phase, v.slot = row
            v.set_phase(phase)
            v.edge = world.edges[(a, b)]
            world.vehicles.append(v)
        world.incidents = [list(i) for i in state["incidents"]]
        return world


def _rng_state(rng: random.Random) -> list[Any]:
    version, internal, gauss = rng.getstate()
    return [version, list(internal), gauss]


def _rng_from(data: list[Any]) -> tuple[Any, ...]:
    return (data[0], tuple(data[1]), data[2])
