"""Plumbing for the page *Time series as windows*: the Seattle temperature series.

Source: daily weather in Seattle, 2012-01-01 to 2015-12-31 (1461 days), as bundled in the
`vega_datasets` package (`data.seattle_weather()`, read from a file inside the package, no
download). vega-datasets credits NOAA's National Climatic Data Center for the observations
(station: Seattle-Tacoma International Airport).

The windowing, the temporal split and the models stay on the page that teaches them.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Series:
    """One daily series with its calendar."""
    values: np.ndarray     # (n,) float64
    dates: np.ndarray      # (n,) datetime64[D]
    name: str
    unit: str
    source: str

    @property
    def day_of_year(self) -> np.ndarray:
        """(n,) int, 1..366."""
        years = self.dates.astype("datetime64[Y]")
        return (self.dates - years).astype(np.int64) + 1


def load_seattle_tmax() -> Series:
    """Daily maximum temperature at Seattle, 2012-2015, in degrees Celsius."""
    from vega_datasets import data

    df = data.seattle_weather()
    return Series(values=df["temp_max"].to_numpy(dtype=np.float64),
                  dates=df["date"].to_numpy().astype("datetime64[D]"),
                  name="daily maximum temperature, Seattle", unit="°C",
                  source="NOAA (Seattle-Tacoma airport) via the vega_datasets package")
