"""Rule settings: the thresholds operators tune in the config file."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class QuotaSpec(_Strict):
    """A plan quota: a usage gauge compared with the plan limit held in the account's traits."""

    gauge: str = Field(description="Gauge name from the usage rollup, e.g. 'seats'.")
    limit: str = Field(description="Key in the account's plan limits, e.g. 'seats'.")
    unit: str = Field(description="How a rep reads the figure, e.g. 'seats'.")


class LimitApproachingRule(_Strict):
    enabled: bool = True
    threshold: float = Field(0.8, gt=0, le=1, description="Fraction of the plan limit in use.")
    conversion: float = Field(0.375, gt=0, le=1, description="Expected conversion rate.")
    tier: int = Field(2, ge=1, le=3)
    rate_window_days: int = Field(7, ge=2, le=90, description="Days used for days-to-limit.")
    quotas: tuple[QuotaSpec, ...] = (
        QuotaSpec(gauge="seats", limit="seats", unit="seats"),
        QuotaSpec(gauge="storage_gb", limit="storage_gb", unit="GB of storage"),
        QuotaSpec(gauge="api_calls", limit="api_calls", unit="API calls this month"),
    )


class ValueBand(_Strict):
    min_arr: float = Field(ge=0)
    points: float = Field(gt=0)


class ScoringRule(_Strict):
    value_bands: tuple[ValueBand, ...] = (
        ValueBand(min_arr=0, points=1),
        ValueBand(min_arr=10_000, points=2),
        ValueBand(min_arr=20_000, points=3),
        ValueBand(min_arr=35_000, points=4),
        ValueBand(min_arr=50_000, points=5),
        ValueBand(min_arr=100_000, points=7),
        ValueBand(min_arr=250_000, points=10),
    )
    urgency_decay_per_day: float = Field(0.8, gt=0, le=1)


class RuleSet(_Strict):
    limit_approaching: LimitApproachingRule = LimitApproachingRule()
    scoring: ScoringRule = ScoringRule()
