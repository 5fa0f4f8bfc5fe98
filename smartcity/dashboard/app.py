"""The Streamlit page: the city live, the pipeline live, history. Run by ``smartcity dashboard``.

Reads only through ``smartcity.dashboard`` readers (built once per configuration, shared by sessions);
the live parts are fragments, so a refresh redraws them and nothing else. The city re-runs every poll
interval (half a second): the snapshot feed asks whether the object changed (a stat or an S3 HEAD) and the
map is rebuilt only from a new snapshot, otherwise the same deck is redrawn (its JSON is made once, and the
browser gets a large unchanged element as a reference to its cached copy). The pipeline panel re-runs
every refresh interval.
"""

from __future__ import annotations

import html
from datetime import UTC, datetime, timedelta

import pandas as pd
import streamlit as st

from smartcity.config import Settings
from smartcity.dashboard.context import DashboardOptions, Readers, build_readers
from smartcity.dashboard.feeds import LiveSnapshot, events_per_second, per_topic, steps_frame
from smartcity.dashboard.history import QueryChoice, convert_values, query_list, run_saved
from smartcity.dashboard.orchestration import OrchestrationUnavailable, orchestration_state
from smartcity.dashboard.render import (
    CityMap,
    city_deck,
    long_form,
    match_rates,
    sparkline_spec,
    vehicle_count,
)
from smartcity.dashboard.track import read_track
from smartcity.errors import SmartCityError

HISTORY_WINDOW = timedelta(hours=1)
TRACK_WINDOW = timedelta(minutes=10)
# The element the browser test counts: the number of vehicle points handed to the map.
VEHICLE_COUNT_ID = "vehicle-markers"
# Where a session keeps the map it drew last (see :func:`city_map`).
CITY_MAP_KEY = "_city_map"


@st.cache_resource
def readers(lake_uri: str, profile: str, options: DashboardOptions) -> Readers:
    """One set of readers per (lake, profile, options)."""
    return build_readers(Settings(), options)


@st.cache_data(ttl=10, show_spinner=False)
def _orchestration(_r: Readers, key: str) -> tuple[list, object] | str:
    try:
        return orchestration_state(_r.glue, _r.settings.crawler_prefix, _r.settings.glue_load_job)
    except OrchestrationUnavailable as exc:
        return f"orchestration state unavailable: {exc}"


def _age(when: datetime) -> str:
    return f"{max(0.0, (datetime.now(UTC) - when).total_seconds()):.0f} s ago"


def city_map(r: Readers, snap: LiveSnapshot, picked: str) -> CityMap:
    """This session's map of ``snap``: built once per snapshot and picked vehicle, then reused by the polls
    that find no new snapshot (the feed hands out the same object until the snapshot changes). ``CityMap``
    lives in an imported module: this script is executed afresh on every rerun, its own classes with it."""
    drawn = st.session_state.get(CITY_MAP_KEY)
    if isinstance(drawn, CityMap) and drawn.snapshot is snap and drawn.picked == picked:
        return drawn
    track, caption = None, None
    if picked:
        track = read_track(r.lake, picked, snap.now, TRACK_WINDOW)
        caption = f"{len(track)} raw events of {picked} since {(snap.now - TRACK_WINDOW):%H:%M:%S} UTC"
    drawn = CityMap(snap, picked, city_deck(snap, basemap=r.basemap, track=track), caption)
    st.session_state[CITY_MAP_KEY] = drawn
    return drawn


def city(r: Readers) -> None:
    read = r.snapshots.read()
    snap = read.snapshot
    if snap is None:
        st.info("Waiting for the stream: no live snapshot has been published yet (start `smartcity stream`).")
        return
    if read.problem:
        st.warning(f"{read.problem}; showing step {snap.step}.")
    cols = st.columns(5)
    cols[0].metric("vehicles", f"{len(snap.vehicles):,}")
    cols[1].metric("active incidents", len(snap.layers["incidents"]))
    cols[2].metric("weather cells", len(snap.layers["weather"]))
    cols[3].metric("cameras", len(snap.layers["cameras"]))
    cols[4].metric("snapshot published", _age(snap.published_at), help=f"step {snap.step}")
    picked = st.text_input(
        "vehicle to track (its last 10 minutes)", key="picked_vehicle", help="a device id: hover a vehicle"
    ).strip()
    drawn = city_map(r, snap, picked)
    if drawn.caption:
        st.caption(drawn.caption)
    st.pydeck_chart(drawn.deck, height=560)
    shown = vehicle_count(drawn.deck)
    attrs = f'id="{VEHICLE_COUNT_ID}" data-count="{shown}" data-step="{html.escape(snap.step)}"'
    text = f"{shown:,} vehicles on the map, city time {snap.now:%Y-%m-%d %H:%M:%S} UTC"
    st.markdown(f"<span {attrs}>{text}</span>", unsafe_allow_html=True)


def _latest_rate(rates: pd.DataFrame, seconds: float = 60.0) -> pd.Series:
    """Per topic, messages per second over the last ``seconds`` of steps."""
    if rates.empty:
        return pd.Series(dtype=float)
    recent = rates[rates.index >= rates.index.max() - pd.Timedelta(seconds=seconds)]
    return recent.mean().round(1)


def pipeline(r: Readers) -> None:
    steps = r.metrics.read()
    frame = steps_frame(steps, since=HISTORY_WINDOW)
    if frame.empty:
        st.info("Waiting for the stream: no step metrics yet under _metrics/stream/.")
        return
    last = steps[-1]
    rates = events_per_second(frame)
    now_rate = _latest_rate(rates)
    st.subheader("events/s per topic (last minute)")
    cols = st.columns(max(1, len(now_rate)))
    for col, (topic, value) in zip(cols, now_rate.items(), strict=False):
        col.metric(topic, f"{value:,.1f}")
    total_rate = float(now_rate.sum()) if len(now_rate) else 0.0
    st.markdown(f'<span id="events-per-second" data-value="{total_rate}"></span>', unsafe_allow_html=True)
    if not rates.empty:
        st.vega_lite_chart(long_form(rates), sparkline_spec("events/s"))

    totals = last.get("totals", {})
    topics = sorted({k.removeprefix("rows_in_") for k in totals if k.startswith("rows_in_")})
    counts = pd.DataFrame(
        {
            "messages": [totals.get(f"rows_in_{t}", 0) for t in topics],
            "quarantined": [totals.get(f"quarantined_{t}", 0) for t in topics],
        },
        index=pd.Index(topics, name="topic"),
    )
    left, right = st.columns(2)
    left.subheader("messages per topic (since the job started)")
    left.dataframe(counts, key="topic_counts")
    reasons = r.quarantine.read()
    right.subheader("quarantined per reason")
    right.dataframe(
        pd.DataFrame({"messages": reasons}, index=pd.Index(list(reasons), name="reason")), key="reasons"
    )

    st.subheader("step")
    cols = st.columns(5)
    cols[0].metric("micro-batch duration", f"{last.get('duration_s', 0):.1f} s")
    lag = last.get("event_time_lag_s")
    cols[1].metric("event-time lag", f"{lag:.1f} s" if lag is not None else "–")
    behind = last.get("kafka_offsets_behind")
    cols[2].metric("consumer lag (offsets)", f"{behind:,.0f}" if behind is not None else "–")
    late = {k.removeprefix("late_"): v for k, v in totals.items() if k.startswith("late_")}
    cols[3].metric(
        "late events", f"{sum(late.values()):,}", help=", ".join(f"{k} {v}" for k, v in late.items())
    )
    cols[4].metric("watermark", (last.get("watermark") or "–")[11:19], help=last.get("watermark") or "")
    history = frame.set_index("ingest_time")
    charts = pd.DataFrame(
        {"duration_s": history["duration_s"], "event_time_lag_s": history.get("event_time_lag_s")}
    )
    st.vega_lite_chart(long_form(charts), sparkline_spec("seconds"))
    late_steps = per_topic(frame, "late").sum(axis=1)
    late_steps.index = frame["ingest_time"]
    st.vega_lite_chart(
        long_form(late_steps.to_frame("late events")), sparkline_spec("late", mark="bar", height=100)
    )

    snap = r.snapshots.read().snapshot
    if snap is not None:
        rates_now = match_rates(snap)
        cols = st.columns(3)
        cols[0].metric("vehicles matched to a weather report", f"{rates_now['weather']:.0%}")
        cols[1].metric("vehicles with an active incident within the radius", f"{rates_now['incident']:.0%}")
        cost = snap.cost
        if cost:
            cols[2].metric(
                "live snapshot cost",
                f"{cost.get('seconds', 0):.2f} s",
                help=f"{cost.get('spark_jobs')} Spark job(s)",
            )

    st.subheader("crawls and warehouse load")
    state = _orchestration(r, r.settings.lake_uri)
    if isinstance(state, str):
        st.caption(state)
    else:
        crawls, load = state
        rows = [(c.name, c.state, c.started) for c in crawls]
        if load is not None:
            rows.append((f"load {load.name}", load.state, load.started))
        st.dataframe(pd.DataFrame(rows, columns=["what", "state", "started"]), key="orchestration")


def _chart(result: pd.DataFrame) -> None:
    numeric = [c for c in result.columns if pd.api.types.is_numeric_dtype(result[c])]
    labels = [c for c in result.columns if c not in numeric]
    if not numeric or result.empty:
        return
    data = result.set_index(labels[0])[numeric] if labels else result[numeric]
    st.bar_chart(data.head(50), height=260)


def history(r: Readers, options: DashboardOptions) -> None:
    queries = {q.name: q for q in query_list()}
    name = st.selectbox("saved query", list(queries), key="query_name")
    query: QueryChoice = queries[name]
    st.caption(query.question)
    texts = [
        st.text_input(f"{p.name} ({p.type})", help=p.description, key=f"param_{name}_{p.name}")
        for p in query.parameters
    ]
    if st.button("run", key="run_query"):
        try:
            result = run_saved(r.settings, query, convert_values(query, texts), workgroup=options.workgroup)
        except SmartCityError as exc:
            st.error(str(exc))
            return
        st.dataframe(result, key="query_result")
        _chart(result)


def main() -> None:
    st.set_page_config(page_title="Smart City live", layout="wide")
    options = DashboardOptions.from_env()
    settings = Settings()
    r = readers(settings.lake_uri, settings.profile, options)
    st.title("Smart City live")
    tab_city, tab_pipeline, tab_history = st.tabs(["City", "Pipeline", "History"])
    with tab_city:
        st.fragment(run_every=options.poll_s)(city)(r)
    with tab_pipeline:
        st.fragment(run_every=options.refresh_s)(pipeline)(r)
    with tab_history:
        history(r, options)


if __name__ == "__main__":  # ``streamlit run`` (and AppTest) execute the file as __main__
    main()
