"""Drawing: the city map's layers (pydeck) and the small frames the pipeline panel charts. Pure functions
of the data the feeds read; nothing here reads the lake."""

from __future__ import annotations

import json
import weakref
from dataclasses import dataclass
from urllib.parse import quote

import numpy as np
import pandas as pd
import pydeck as pdk
from pydeck.bindings.json_tools import default_serialize

from smartcity.dashboard.feeds import LiveSnapshot

# Speed colour scale (km/h → RGB): stopped red, 30 amber, 60 and faster green.
SPEED_STOPS = np.array([0.0, 30.0, 60.0])
SPEED_RGB = np.array([[220, 40, 40], [240, 170, 30], [40, 170, 80]])
CONDITION_RGBA = {
    "Sunny": [255, 215, 0, 50],
    "Cloudy": [150, 150, 160, 60],
    "Rain": [40, 110, 230, 70],
    "Snow": [200, 230, 255, 90],
}
INCIDENT_RGBA = [230, 30, 30, 45]
CAMERA_RGB = [30, 60, 200]
TRACK_RGB = [20, 20, 20]
VEHICLE_LAYER_ID = "vehicles"
# Offline: an inline (data: URL) map style with a plain background and no sources, so the map fetches
# nothing (with no style at all, Streamlit falls back to a CARTO basemap, whose failed download stops the
# map drawing).
BLANK_STYLE = "data:application/json," + quote(
    json.dumps(
        {
            "version": 8,
            "sources": {},
            "layers": [{"id": "background", "type": "background", "paint": {"background-color": "#f2f1ec"}}],
        }
    )
)
TOOLTIP = {
    "html": "<b>{label}</b><br/>{detail}",
    "style": {"fontSize": "12px"},
}


class CompactDeck(pdk.Deck):
    """A pydeck Deck whose JSON is compact: pydeck indents and sorts its JSON, which makes Python's json
    module fall back to its pure-Python encoder (seconds for 10,000 points instead of milliseconds).

    The JSON is made once per deck: the page redraws the same deck until a new snapshot arrives, and a
    deck is never changed once built."""

    def to_json(self) -> str:
        made = _DECK_JSON.get(self)
        if made is None:
            made = _DECK_JSON[self] = json.dumps(self, default=default_serialize, separators=(",", ":"))
        return made


# Each deck's JSON, kept no longer than the deck (not an attribute: pydeck serialises every attribute).
_DECK_JSON: weakref.WeakKeyDictionary[CompactDeck, str] = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class CityMap:
    """The map drawn for one snapshot and one picked vehicle (its track's caption, if one is picked)."""

    snapshot: LiveSnapshot
    picked: str
    deck: pdk.Deck
    caption: str | None


def speed_colors(speed: pd.Series) -> list[list[int]]:
    """RGB per speed on :data:`SPEED_STOPS`, linearly interpolated, clamped at both ends."""
    values = speed.fillna(0).to_numpy(dtype=float)
    channels = [np.interp(values, SPEED_STOPS, SPEED_RGB[:, c]).round().astype(int) for c in range(3)]
    return np.stack(channels, axis=1).tolist()


def vehicle_points(snapshot: LiveSnapshot) -> list[dict[str, object]]:
    """One point per vehicle of the snapshot (the map layer's records), with its colour and tooltip text.

    Built from plain lists: pandas' row-wise conversion costs more than the rest of a refresh."""
    v = snapshot.vehicles
    km = v["incident_km"].tolist() if "incident_km" in v else [None] * len(v)
    colors = speed_colors(v["speed"])
    out = []
    for lon, lat, color, device, speed, weather, incident, dist in zip(
        v["longitude"].tolist(),
        v["latitude"].tolist(),
        colors,
        v["device_id"].tolist(),
        v["speed"].tolist(),
        v["weather_condition"].tolist(),
        v["incident_id"].tolist(),
        km,
        strict=True,
    ):
        near = f"incident {incident} at {dist} km" if incident else "no incident near"
        detail = f"{speed:.1f} km/h · {weather or 'no weather report'} · {near}"
        out.append({"longitude": lon, "latitude": lat, "color": color, "label": device, "detail": detail})
    return out


def vehicle_count(deck: pdk.Deck) -> int:
    """How many vehicle points the map draws (the data of its vehicle layer)."""
    layer = next(layer for layer in deck.layers if layer.id == VEHICLE_LAYER_ID)
    return len(layer.data)


def weather_cells(snapshot: LiveSnapshot) -> pd.DataFrame:
    """One square per grid cell with a weather report, coloured by condition."""
    w = snapshot.layers["weather"]
    half = snapshot.cell_size_deg / 2
    polygons = [
        [
            [lon - half, lat - half],
            [lon + half, lat - half],
            [lon + half, lat + half],
            [lon - half, lat + half],
        ]
        for lat, lon in zip(w["latitude"], w["longitude"], strict=True)
    ]
    return pd.DataFrame(
        {
            "polygon": polygons,
            "color": [CONDITION_RGBA.get(c, [120, 120, 120, 50]) for c in w["condition"]],
            "label": "cell " + w["cell_id"].astype(str),
            "detail": w["condition"].astype(str)
            + ", "
            + w["temperature"].astype(str)
            + " °C, "
            + w["precipitation"].astype(str)
            + " mm",
        }
    )


def incident_areas(snapshot: LiveSnapshot) -> pd.DataFrame:
    i = snapshot.layers["incidents"]
    return pd.DataFrame(
        {
            "longitude": i["longitude"],
            "latitude": i["latitude"],
            "label": i["type"].astype(str) + " " + i["incident_id"].astype(str),
            "detail": f"active; vehicles within {snapshot.radius_km:g} km are enriched with it",
        }
    )


def camera_points(snapshot: LiveSnapshot) -> pd.DataFrame:
    c = snapshot.layers["cameras"]
    return pd.DataFrame(
        {
            "longitude": c["longitude"],
            "latitude": c["latitude"],
            "label": c["camera_id"],
            "detail": "traffic camera",
        }
    )


def city_deck(snapshot: LiveSnapshot, *, basemap: bool, track: pd.DataFrame | None = None) -> pdk.Deck:
    """The city map: weather cells, incident radii, cameras, vehicles (and a picked vehicle's track)."""
    vehicles = vehicle_points(snapshot)
    layers = [
        pdk.Layer(
            "PolygonLayer",
            weather_cells(snapshot),
            id="weather",
            get_polygon="polygon",
            get_fill_color="color",
            stroked=False,
            pickable=True,
        ),
        pdk.Layer(
            "ScatterplotLayer",
            incident_areas(snapshot),
            id="incidents",
            get_position=["longitude", "latitude"],
            get_radius=snapshot.radius_km * 1000,
            get_fill_color=INCIDENT_RGBA,
            get_line_color=[200, 0, 0],
            stroked=True,
            line_width_min_pixels=1,
            pickable=True,
        ),
        pdk.Layer(
            "ScatterplotLayer",
            camera_points(snapshot),
            id="cameras",
            get_position=["longitude", "latitude"],
            get_radius=60,
            radius_min_pixels=3,
            get_fill_color=CAMERA_RGB,
            pickable=True,
        ),
        pdk.Layer(
            "ScatterplotLayer",
            vehicles,
            id=VEHICLE_LAYER_ID,
            get_position=["longitude", "latitude"],
            get_radius=25,
            radius_min_pixels=3,
            get_fill_color="color",
            pickable=True,
        ),
    ]
    if track is not None and len(track) > 1:
        path = pd.DataFrame({"path": [track[["longitude", "latitude"]].to_numpy().tolist()]})
        layers.append(
            pdk.Layer("PathLayer", path, id="track", get_path="path", get_color=TRACK_RGB, width_min_pixels=2)
        )
    center = snapshot.vehicles if len(vehicles) else camera_points(snapshot)
    view = pdk.ViewState(
        latitude=float(center["latitude"].mean()) if len(center) else 0.0,
        longitude=float(center["longitude"].mean()) if len(center) else 0.0,
        zoom=11,
    )
    if basemap:
        return CompactDeck(
            layers=layers, initial_view_state=view, map_provider="carto", map_style="light", tooltip=TOOLTIP
        )
    return CompactDeck(
        layers=layers, initial_view_state=view, map_provider=None, map_style=BLANK_STYLE, tooltip=TOOLTIP
    )


def match_rates(snapshot: LiveSnapshot) -> dict[str, float]:
    """Share of the vehicles on the map whose latest event matched a weather report / has an incident near."""
    v = snapshot.vehicles
    if v.empty:
        return {"weather": 0.0, "incident": 0.0}
    return {
        "weather": float(v["weather_condition"].notna().mean()),
        "incident": float(v["incident_id"].notna().mean()),
    }


def long_form(frame: pd.DataFrame) -> pd.DataFrame:
    """A time-indexed frame (one column per series) as rows of (time, series, value) for Vega-Lite."""
    out = frame.copy()
    out.index.name = "time"
    return out.reset_index().melt(id_vars="time", var_name="series", value_name="value").dropna()


def sparkline_spec(y_title: str, *, mark: str = "line", height: int = 140) -> dict[str, object]:
    """A Vega-Lite spec for :func:`long_form` data. Given as a plain spec: Streamlit's built-in charts go
    through Altair's schema validation, which costs more server time than the rest of a refresh."""
    return {
        "mark": {"type": mark, "tooltip": True},
        "height": height,
        "encoding": {
            "x": {"field": "time", "type": "temporal", "title": None},
            "y": {"field": "value", "type": "quantitative", "title": y_title},
            "color": {"field": "series", "type": "nominal", "title": None},
        },
    }
