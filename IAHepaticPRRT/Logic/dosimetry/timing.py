"""Hours since administration of each SPECT time point, from the headers or the user."""

from __future__ import annotations

import math

import numpy as np

from ..errors import InputError
from ..imaging.volume import Volume
from ..io.spect_dicom import SpectTimePoint
from .lu177 import decay_factor
from .options import DosimetryOptions


def resolve_times(points: list[SpectTimePoint], options: DosimetryOptions) -> tuple[list[float], list[dict], list[str]]:
    """Hours since administration of each time point, how each was found, and warnings.

    Also undoes a decay correction to the administration time (DecayCorrection ADMIN)."""
    warnings = []
    records = []
    administration = options.administration_datetime
    if options.times_h is not None:
        if len(options.times_h) != len(points):
            raise InputError(f"{len(options.times_h)} times for {len(points)} time points", "--times-h")
        times = [float(t) for t in options.times_h]
        for point, t in zip(points, times):
            records.append({"time_h": t, "timing_source": "given by the user (--times-h)"})
            if administration is not None and point.acquisition_datetime is not None:
                header_h = (point.acquisition_datetime - administration).total_seconds() / 3600.0
                if abs(header_h - t) > 0.1:
                    warnings.append(f"{point.source}: time given {t:g} h differs from the header's acquisition start "
                                    f"({header_h:.2f} h after administration)")
    else:
        if administration is None:
            header_times = [p.header_administration_datetime for p in points if p.header_administration_datetime]
            if not header_times:
                raise InputError("no administration time: give --administration-time (or --times-h)",
                                 "--administration-time")
            administration = header_times[0]
            warnings.append(f"administration time taken from RadiopharmaceuticalStartDateTime (0018,1078): "
                            f"{administration.isoformat()}; state it with --administration-time")
        times = []
        for point in points:
            if point.acquisition_datetime is None:
                if point.provenance.get("input") == "volume file":
                    raise InputError("a volume file has no acquisition time: give --times-h", point.source, "--times-h")
                raise InputError("no acquisition start time", point.source,
                                 "AcquisitionDate/AcquisitionTime (0008,0022)/(0008,0032)")
            t = (point.acquisition_datetime - administration).total_seconds() / 3600.0
            times.append(t)
            records.append({"time_h": t, "timing_source": "AcquisitionDate/Time minus administration time",
                            "acquisition_datetime": point.acquisition_datetime.isoformat()})
    for point, t in zip(points, times):
        if not math.isfinite(t):
            raise InputError("non-finite time", point.source, "time_h")
        if t < 0:
            raise InputError(f"time point at {t:.2f} h lies before the administration", point.source, "time_h")
    if any(b <= a for a, b in zip(times, times[1:])):
        raise InputError(f"time points out of order or repeated ({', '.join(f'{t:.2f}' for t in times)} h): give them "
                         "in acquisition order", "--spect", "time_h")
    for point, t in zip(points, times):
        if point.decay_corrected_to == "ADMIN":
            point.volume = Volume((point.volume.array * np.float32(decay_factor(t))).astype(np.float32),
                                  point.volume.grid, point.volume.unit, point.volume.metadata)
            warnings.append(f"{point.source}: values were decay-corrected to the administration; decay to the "
                            f"acquisition ({t:.2f} h) restored")
    return times, records, warnings
