"""Rule settings: the thresholds operators tune in the config file."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class RuleModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class QuotaSpec(RuleModel):
    """A plan quota: a usage gauge compared with the plan limit held in the account's traits."""

    gauge: str = Field(description="Gauge name from the usage rollup, e.g. 'seats'.")
    limit: str = Field(description="Key in the account's plan limits, e.g. 'seats'.")
    unit: str = Field(description="How a rep reads the figure, e.g. 'seats'.")


class TriggerRule(RuleModel):
    """What every trigger's rule has; each trigger adds its thresholds and windows."""

    enabled: bool = True
    conversion: float = Field(gt=0, le=1, description="Expected conversion rate (scoring).")
    tier: int = Field(ge=1, le=3, description="1 immediate, 2 same day, 3 weekly digest.")


class ValueBand(RuleModel):
    min_arr: float = Field(ge=0)
    points: float = Field(gt=0)


class ScoringRule(RuleModel):
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
