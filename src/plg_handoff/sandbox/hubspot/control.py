"""`/_sandbox/*`: the demo inspects and steers the emulator (no auth, not counted as calls)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .errors import validation_error
from .faults import FaultPlan
from .gateway import Gateway
from .ratelimit import RateLimiter, SearchLimiter
from .routing import Request, Response, Router
from .store import CrmStore


def apply_faults(faults: FaultPlan, body: Mapping[str, Any]) -> None:
    """Body keys: clear, rate_limit_next (+retry_after_s), fail_next (+status),
    slow_next (+seconds), reject_property ({object_type, property_name, message} or a list),
    reject_record ({object_type, id, message} or a list), fail_randomly (a rate, +seed),
    lose_answers_randomly (a rate of successful writes answered 504, +seed)."""
    try:
        if body.get("clear"):
            faults.clear()
        if "rate_limit_next" in body:
            faults.rate_limit_next(int(body["rate_limit_next"]), int(body.get("retry_after_s", 1)))
        if "fail_next" in body:
            faults.fail_next(int(body["fail_next"]), int(body.get("status", 500)))
        if "fail_randomly" in body:
            faults.fail_randomly(float(body["fail_randomly"]), seed=int(body.get("seed", 0)))
        if "lose_answers_randomly" in body:
            faults.lose_answers_randomly(
                float(body["lose_answers_randomly"]), seed=int(body.get("seed", 0))
            )
        if "slow_next" in body:
            faults.slow_next(int(body["slow_next"]), float(body.get("seconds", 1)))
        rejections = body.get("reject_property") or []
        for item in [rejections] if isinstance(rejections, Mapping) else rejections:
            faults.reject_property(
                str(item["object_type"]), str(item["property_name"]), str(item["message"])
            )
        records = body.get("reject_record") or []
        for item in [records] if isinstance(records, Mapping) else records:
            faults.reject_record(str(item["object_type"]), str(item["id"]), str(item["message"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise validation_error(f"Invalid fault request: {exc}") from exc


class ControlRoutes:
    def __init__(
        self,
        *,
        store: CrmStore,
        faults: FaultPlan,
        gateway: Gateway,
        limiters: tuple[RateLimiter, SearchLimiter],
    ) -> None:
        self._store = store
        self._faults = faults
        self._gateway = gateway
        self._limiters = limiters

    def register(self, router: Router) -> None:
        router.add("GET", "/_sandbox/state", self.state)
        router.add("POST", "/_sandbox/faults", self.set_faults)
        router.add("POST", "/_sandbox/reset", self.reset)

    def state(self, _: Request) -> Response:
        with self._store.lock:
            portal = self._store.dump()
        return Response(
            200,
            {
                **portal,
                "owners": [owner.as_json() for owner in self._store.owners],
                "calls": [
                    {"method": method, "path": path} for method, path in self._gateway.calls()
                ],
                "faults": self._faults.describe(),
                "refusals": self._gateway.refusals(),
            },
        )

    def set_faults(self, req: Request) -> Response:
        apply_faults(self._faults, req.json_object() if req.body is not None else {})
        return Response(200, {"faults": self._faults.describe()})

    def reset(self, _: Request) -> Response:
        with self._store.lock:
            self._store.reset()
            self._store.persist()
        self._faults.clear()
        self._gateway.reset_calls()
        for limiter in self._limiters:
            limiter.reset()
        return Response(200, {"status": "reset"})
