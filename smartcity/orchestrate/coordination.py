"""Coordination markers in one DynamoDB table: what needs crawling or loading, and what is in flight.

Why generations instead of timestamps: S3 event times have one-second resolution and clocks differ, so
"did this crawl start after that file?" is unreliable. Instead every new partition atomically increments a
per-crawler counter (``dirty_gen``); a crawl records the counter it saw when it was claimed
(``inflight_gen``) and, on success, raises ``covered_gen`` to it. A file is covered exactly when
``covered_gen`` reaches the generation its sighting produced; ``dirty_gen > covered_gen`` means another
crawl is owed. Loads use the same scheme (``req_gen`` / ``run_gen`` / ``done_gen``).

Which crawl a "crawl ended" event belongs to: Glue's events carry only the crawler name and a whole-second
``completionDate``, and EventBridge delivers at least once and in any order. A crawler runs one crawl at a
time and every crawl takes far longer than a second, so the end times of its crawls strictly increase in
Glue's own clock. The item keeps the newest end processed (``last_end``) and each claim snapshots it
(``inflight_after``): only an end strictly newer than that snapshot can close the claim. A duplicate or an
older crawl's late end compares equal or lower, exactly, whatever the clocks of Lambda and Glue say.

Items (``pk`` is the only key; ``expires_at`` is the table's TTL attribute):
- ``crawler#<name>``: dirty_gen, covered_gen, last_end (epoch s, Glue's clock), inflight_claim (epoch s),
  inflight_gen, inflight_after (last_end when claimed), inflight_started (StartCrawler confirmed)
- ``load#<job>``: req_gen, done_gen, run_claim, run_gen, run_id (StartJobRun confirmed)
- ``part#<table>#<partition>``: first sighting of a partition (TTL)
- ``seen#<kind>#<event id>``: de-duplication of deliveries (TTL)

A claim lives until its work ends, or ``stale_after_s`` (the finish event was lost). A claim whose Start
call was never confirmed lives only ``unconfirmed_after_s``: its holder died between the claim and the
call (a Lambda timeout or kill), and waiting hours for it would delay the work for nothing. Taking over a
claim whose holder did start after all is harmless: Glue runs one crawl of a crawler and one run of the
load job at a time, so the second Start is refused and recorded as a run of unknown coverage.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

# DynamoDB refuses a partition key longer than this (UTF-8 bytes).
DYNAMODB_KEY_MAX_BYTES = 2048
UNKNOWN_GEN = -1  # an in-flight run started by someone else: it is assumed to cover nothing we recorded
# Glue's crawl-ended events give the completion time to the second; claims are taken with sub-second times.
EVENT_TIME_RESOLUTION_S = 1.0


def _n(value: float | int) -> dict[str, str]:
    return {"N": repr(value) if isinstance(value, float) else str(value)}


def _num(item: dict[str, Any], name: str, default: float = 0) -> float:
    attr = item.get(name)
    return float(attr["N"]) if attr else default


class MarkerKeyTooLong(ValueError):
    """A marker key built from event content (an S3 key, an event id) does not fit DynamoDB's key limit."""


def marker_key(kind: str, *parts: str) -> str:
    """The ``pk`` of a marker, e.g. ``part#<table>#<partition>``; raises ``MarkerKeyTooLong`` if it
    cannot be stored (only malformed or hostile input gets there: real lake paths are short)."""
    pk = "#".join((kind, *parts))
    size = len(pk.encode("utf-8"))
    if size > DYNAMODB_KEY_MAX_BYTES:
        raise MarkerKeyTooLong(f"{kind} marker key is {size} bytes; DynamoDB allows {DYNAMODB_KEY_MAX_BYTES}")
    return pk


def _opt(item: dict[str, Any], name: str) -> float | None:
    return float(item[name]["N"]) if name in item else None


def _is_conditional_failure(exc: ClientError) -> bool:
    code = exc.response.get("Error", {}).get("Code", "")
    if code == "ConditionalCheckFailedException":
        return True
    if code == "TransactionCanceledException":
        reasons = exc.response.get("CancellationReasons") or []
        # Only a failed condition means "already there"; throttling or conflicts must surface.
        if reasons:
            return any(r.get("Code") == "ConditionalCheckFailed" for r in reasons) and all(
                r.get("Code") in ("ConditionalCheckFailed", "None") for r in reasons
            )
        return "ConditionalCheckFailed" in str(exc)
    return False


@dataclass(frozen=True)
class ClaimLifetime:
    """How long a claim holds: ``stale_after_s`` once its Start call is confirmed (the work's end event may
    be lost), ``unconfirmed_after_s`` before (its holder died before or during the call)."""

    stale_after_s: float
    unconfirmed_after_s: float


@dataclass(frozen=True)
class CrawlRecord:
    dirty_gen: int
    covered_gen: int
    inflight_claim: float | None
    inflight_gen: int | None
    inflight_after: float | None = None
    last_end: float | None = None
    inflight_started: float | None = None

    def ends_claim(self, ended: float) -> bool:
        """Whether a crawl that ended at ``ended`` (Glue's clock) can be the crawl of the live claim.

        Exact test: it ended after the newest end known when the claim was taken. Coarse test, for claims
        taken over without that end (a lost event): it did not end before the claim, to within the
        event time's one-second resolution.
        """
        if self.inflight_claim is None:
            return False
        after = self.inflight_after if self.inflight_after is not None else float("-inf")
        return ended > after and ended + EVENT_TIME_RESOLUTION_S >= self.inflight_claim

    @property
    def owed(self) -> bool:
        """True when some sighted partition is not yet covered by a successful crawl."""
        return self.dirty_gen > self.covered_gen


@dataclass(frozen=True)
class LoadRecord:
    req_gen: int
    done_gen: int
    run_claim: float | None
    run_gen: int | None
    run_id: str | None

    @property
    def owed(self) -> bool:
        return self.req_gen > self.done_gen


class CoordinationTable:
    """The coordination table through the low-level DynamoDB client (moto locally, DynamoDB in AWS)."""

    def __init__(self, dynamodb: Any, table: str, ttl_days: int = 14) -> None:
        self._ddb = dynamodb
        self.table = table
        self._ttl_s = ttl_days * 86400

    # -- partitions and de-duplication ------------------------------------------------------------

    def sight_partition(self, crawler: str, table: str, partition: str, now: float) -> bool:
        """Record the first file of a partition and owe its crawler a crawl, atomically.

        Returns False (and changes nothing) when the partition was already sighted: its crawl is owed or
        done already, so duplicate deliveries and further files of a known partition cost no crawl.
        Raises ``MarkerKeyTooLong`` before any write when the partition path cannot be a marker key.
        """
        item = {
            "pk": {"S": marker_key("part", table, partition)},
            "crawler": {"S": crawler},
            "first_seen": _n(now),
            "expires_at": _n(int(now) + self._ttl_s),
        }
        return self._put_new_and_count(item, f"crawler#{crawler}", "dirty_gen")

    def _put_new_and_count(self, item: dict[str, Any], counter_pk: str, counter: str) -> bool:
        """Put ``item`` unless its key exists and add one to ``counter`` of ``counter_pk``, in one
        transaction; False (nothing written) when the item was already there."""
        try:
            self._ddb.transact_write_items(
                TransactItems=[
                    {
                        "Put": {
                            "TableName": self.table,
                            "Item": item,
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    },
                    {
                        "Update": {
                            "TableName": self.table,
                            "Key": {"pk": {"S": counter_pk}},
                            "UpdateExpression": f"ADD {counter} :one",
                            "ExpressionAttributeValues": {":one": _n(1)},
                        }
                    },
                ]
            )
        except ClientError as exc:
            if _is_conditional_failure(exc):
                return False
            raise
        return True

    def first_delivery(self, kind: str, event_id: str, now: float) -> bool:
        """True the first time an event id is seen for ``kind``; EventBridge may deliver an event twice."""
        try:
            self._ddb.put_item(
                TableName=self.table,
                Item={
                    "pk": {"S": marker_key("seen", kind, event_id)},
                    "expires_at": _n(int(now) + self._ttl_s),
                },
                ConditionExpression="attribute_not_exists(pk)",
            )
        except ClientError as exc:
            if _is_conditional_failure(exc):
                return False
            raise
        return True

    def delivered(self, kind: str, event_id: str) -> bool:
        """Whether ``first_delivery`` already recorded this event id for ``kind``."""
        return bool(self._get(marker_key("seen", kind, event_id)))

    # -- crawls -------------------------------------------------------------------------------------

    def crawl(self, crawler: str) -> CrawlRecord:
        return self._crawl_from(self._get(f"crawler#{crawler}"))

    def claim_crawl(self, crawler: str, now: float, lifetime: ClaimLifetime) -> CrawlRecord | None:
        """Claim the right to start the crawler; None when another live claim holds it.

        The claim snapshots ``dirty_gen``: everything sighted up to here is listed by a crawl started
        after this call; and ``last_end``: only a crawl that ends after that one can be this claim's.
        """
        return self._claim(
            f"crawler#{crawler}",
            "SET inflight_claim = :now, inflight_gen = if_not_exists(dirty_gen, :zero),"
            " inflight_after = if_not_exists(last_end, :zero) REMOVE inflight_started",
            "inflight_claim",
            "inflight_started",
            now,
            lifetime,
            self._crawl_from,
        )

    def confirm_crawl(self, crawler: str, claim: float, now: float) -> None:
        """StartCrawler succeeded under the claim: it now lives until the crawl ends (or goes stale)."""
        self._update_if_claim(
            f"crawler#{crawler}", "SET inflight_started = :now", "inflight_claim", claim, {":now": _n(now)}
        )

    def note_crawl_end(self, crawler: str, ended: float) -> None:
        """Remember the newest crawl end seen for the crawler; an older or repeated end changes nothing."""
        try:
            self._ddb.update_item(
                TableName=self.table,
                Key={"pk": {"S": f"crawler#{crawler}"}},
                UpdateExpression="SET last_end = :ended",
                ConditionExpression="attribute_not_exists(last_end) OR last_end < :ended",
                ExpressionAttributeValues={":ended": _n(ended)},
            )
        except ClientError as exc:
            if not _is_conditional_failure(exc):
                raise

    def mark_crawl_unknown(self, crawler: str, claim: float, now: float) -> None:
        """The crawler was already running (started elsewhere): the claim now waits for that crawl, which
        covers nothing we recorded."""
        self._update_if_claim(
            f"crawler#{crawler}",
            "SET inflight_gen = :unknown, inflight_started = :now",
            "inflight_claim",
            claim,
            {":unknown": _n(UNKNOWN_GEN), ":now": _n(now)},
        )

    def release_crawl(self, crawler: str, claim: float) -> None:
        """Give back a claim whose StartCrawler failed, so the next trigger can try again."""
        expr = "REMOVE inflight_claim, inflight_gen, inflight_after, inflight_started"
        self._update_if_claim(f"crawler#{crawler}", expr, "inflight_claim", claim)

    def finish_crawl(
        self, crawler: str, claim: float, ended: float, succeeded: bool, covered_gen: int
    ) -> bool:
        """Close the in-flight crawl that ended at ``ended``; on success everything up to its generation
        counts as covered. False (nothing changed) when the claim changed or the end is not newer than
        the end the claim was taken after (a duplicate or late event of an earlier crawl)."""
        expr = "REMOVE inflight_claim, inflight_gen, inflight_after, inflight_started"
        values: dict[str, Any] = {":ended": _n(ended)}
        if succeeded and covered_gen > self.crawl(crawler).covered_gen:
            expr += " SET covered_gen = :g"
            values[":g"] = _n(covered_gen)
        return self._update_if_claim(
            f"crawler#{crawler}",
            expr,
            "inflight_claim",
            claim,
            values,
            also="attribute_not_exists(inflight_after) OR inflight_after < :ended",
        )

    # -- loads --------------------------------------------------------------------------------------

    def request_load(self, job: str, event_id: str, now: float) -> bool:
        """Owe the load job one run for this (deduplicated) trigger event; False for a duplicate."""
        pk = marker_key("seen", "loadreq", event_id)
        item = {"pk": {"S": pk}, "expires_at": _n(int(now) + self._ttl_s)}
        return self._put_new_and_count(item, f"load#{job}", "req_gen")

    def load(self, job: str) -> LoadRecord:
        item = self._get(f"load#{job}")
        return LoadRecord(
            req_gen=int(_num(item, "req_gen")),
            done_gen=int(_num(item, "done_gen")),
            run_claim=_num(item, "run_claim") if "run_claim" in item else None,
            run_gen=int(_num(item, "run_gen")) if "run_gen" in item else None,
            run_id=item["run_id"]["S"] if "run_id" in item else None,
        )

    def claim_load(self, job: str, now: float, lifetime: ClaimLifetime) -> LoadRecord | None:
        """Claim the right to start the load job (snapshotting ``req_gen``); None while a live claim holds it.

        ``set_load_run`` confirms the claim with the run id.
        """
        return self._claim(
            f"load#{job}",
            "SET run_claim = :now, run_gen = if_not_exists(req_gen, :zero) REMOVE run_id",
            "run_claim",
            "run_id",
            now,
            lifetime,
            self._load_from,
        )

    def set_load_run(self, job: str, claim: float, run_id: str, unknown: bool = False) -> None:
        expr = "SET run_id = :rid" + (", run_gen = :unknown" if unknown else "")
        values = {":rid": {"S": run_id}}
        if unknown:
            values[":unknown"] = _n(UNKNOWN_GEN)
        self._update_if_claim(f"load#{job}", expr, "run_claim", claim, values)

    def release_load(self, job: str, claim: float) -> None:
        self._update_if_claim(f"load#{job}", "REMOVE run_claim, run_gen, run_id", "run_claim", claim)

    def finish_load(self, job: str, claim: float, succeeded: bool, done_gen: int) -> bool:
        expr = "REMOVE run_claim, run_gen, run_id"
        values: dict[str, Any] = {}
        if succeeded and done_gen > self.load(job).done_gen:
            expr += " SET done_gen = :g"
            values[":g"] = _n(done_gen)
        return self._update_if_claim(f"load#{job}", expr, "run_claim", claim, values)

    # -- helpers ------------------------------------------------------------------------------------

    def _get(self, pk: str) -> dict[str, Any]:
        return (
            self._ddb.get_item(TableName=self.table, Key={"pk": {"S": pk}}, ConsistentRead=True).get("Item")
            or {}
        )

    def _claim(
        self, pk: str, expr: str, attr: str, confirmed: str, now: float, lifetime: ClaimLifetime, parse: Any
    ) -> Any:
        """Take the claim ``attr`` unless a live one holds it (see ``ClaimLifetime``); ``confirmed`` is
        the attribute that the holder's successful Start call sets."""
        try:
            out = self._ddb.update_item(
                TableName=self.table,
                Key={"pk": {"S": pk}},
                UpdateExpression=expr,
                ConditionExpression=(
                    f"attribute_not_exists({attr}) OR {attr} < :stale"
                    f" OR (attribute_not_exists({confirmed}) AND {attr} < :unconfirmed)"
                ),
                ExpressionAttributeValues={
                    ":now": _n(now),
                    ":zero": _n(0),
                    ":stale": _n(now - lifetime.stale_after_s),
                    ":unconfirmed": _n(now - lifetime.unconfirmed_after_s),
                },
                ReturnValues="ALL_NEW",
            )
        except ClientError as exc:
            if _is_conditional_failure(exc):
                return None
            raise
        return parse(out["Attributes"])

    def _update_if_claim(
        self,
        pk: str,
        expr: str,
        attr: str,
        claim: float,
        values: dict[str, Any] | None = None,
        also: str | None = None,
    ) -> bool:
        """Apply ``expr`` only while ``attr`` still holds ``claim`` (and the ``also`` condition holds)."""
        condition = f"{attr} = :claim" + (f" AND ({also})" if also else "")
        try:
            self._ddb.update_item(
                TableName=self.table,
                Key={"pk": {"S": pk}},
                UpdateExpression=expr,
                ConditionExpression=condition,
                ExpressionAttributeValues={":claim": _n(claim), **(values or {})},
            )
        except ClientError as exc:
            if _is_conditional_failure(exc):
                return False
            raise
        return True

    @staticmethod
    def _crawl_from(item: dict[str, Any]) -> CrawlRecord:
        return CrawlRecord(
            dirty_gen=int(_num(item, "dirty_gen")),
            covered_gen=int(_num(item, "covered_gen")),
            inflight_claim=_opt(item, "inflight_claim"),
            inflight_gen=int(_num(item, "inflight_gen")) if "inflight_gen" in item else None,
            inflight_after=_opt(item, "inflight_after"),
            last_end=_opt(item, "last_end"),
            inflight_started=_opt(item, "inflight_started"),
        )

    @staticmethod
    def _load_from(item: dict[str, Any]) -> LoadRecord:
        return LoadRecord(
            req_gen=int(_num(item, "req_gen")),
            done_gen=int(_num(item, "done_gen")),
            run_claim=_num(item, "run_claim"),
            run_gen=int(_num(item, "run_gen")),
            run_id=None,
        )
