"""The report's provenance, collapsed at its end: where every input came from and what its headers
said, the parameters, the software. Shown for a reader, not dumped: each value with its unit (Bq as
MBq, seconds as minutes where a reader thinks in minutes), dates as dates (days from day 0 when
de-identified), paths relative to the study folder, radionuclide codes cleaned. A de-identified
report leaves out every UID. results.json keeps the whole record unchanged.
"""

from __future__ import annotations

from html import escape

from .formatting import DASH, Presentation, activity, parse_datetime, radionuclide, significant

#: Key suffix -> (unit shown, factor from the stored unit).
_UNITS = {"_cps_per_mbq": ("cps/MBq", 1.0), "_mm": ("mm", 1.0), "_h": ("h", 1.0), "_kg": ("kg", 1.0), "_cm": ("cm", 1.0), "_ml": ("mL", 1.0),
          "_gy": ("Gy", 1.0), "_percent": ("%", 1.0), "_kev": ("keV", 1.0), "_g": ("g", 1.0),
          "_mbqh": ("MBq h", 1.0), "_per_h": ("/h", 1.0), "_deg": ("°", 1.0),
          "_gy_g_per_mbqh": ("Gy g/(MBq h)", 1.0)}
_LABEL_UNIT_SUFFIXES = tuple(sorted(list(_UNITS) + ["_bq", "_mbq", "_s"], key=len, reverse=True))


def _label(key: str) -> str:
    for suffix in _LABEL_UNIT_SUFFIXES:
        if key.endswith(suffix):
            key = key[: -len(suffix)]
            break
    return key.replace("_", " ")


def _value(key: str, value, show: Presentation) -> str | None:
    """The shown text of one recorded value, or None to leave it out (a UID of a de-identified report)."""
    lowered = key.lower()
    if show.deidentify and any(word in lowered for word in ("uid", "patient_id", "patient_name", "birth")):
        return None
    lowered = lowered.rsplit(".", 1)[-1]
    if value is None:
        return DASH
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)):
        for suffix, (unit, factor) in _UNITS.items():  # compound units first: "_cps_per_mbq" is not MBq
            if lowered.endswith(suffix):
                return significant(value * factor, 3, unit)
        if lowered.endswith("_bq"):
            return activity(value / 1e6)
        if lowered.endswith("_mbq"):
            return activity(value)
        if lowered.endswith("_s"):
            return significant(value / 60.0, 3, "min") if value >= 600 else significant(value, 3, "s")
        return significant(value) if isinstance(value, float) else escape(str(value))
    if isinstance(value, (list, tuple)):
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
            shown = [_value(key, v, show) for v in value]
            return ", ".join(s for s in shown if s is not None)
        return ", ".join(s for s in (_value(key, v, show) for v in value) if s is not None)
    text = str(value)
    if "radionuclide" in lowered:
        return escape(radionuclide(text))
    if ("time" in lowered or "date" in lowered) and parse_datetime(text) is not None and any(c.isdigit() for c in text):
        return show.when(text)
    if "/" in text or "\\" in text:
        return show.path(text) if "source" not in lowered else show.text(text)
    return show.text(text)


def _rows(record: dict, show: Presentation, prefix: str = "", path: str = "") -> list[tuple[str, str]]:
    """(label, shown value) of every leaf; ``path`` holds the keys above (a UID under
    "series_instance_uids" is a UID whatever its own key)."""
    rows = []
    for key, value in record.items():
        label = f"{prefix}{_label(str(key))}"
        where = f"{path}.{key}"
        if isinstance(value, dict):
            rows += _rows(value, show, f"{label}: ", where)
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            for index, item in enumerate(value):
                rows += _rows(item, show, f"{label} {index + 1}: ", where)
        else:
            shown = _value(where, value, show)
            if shown is not None:
                rows.append((show.text(label), shown))
    return rows


def _group(title: str, record: dict | None, show: Presentation) -> str:
    if not record:
        return ""
    rows = _rows(record, show)
    if not rows:
        return ""
    body = "".join(f'<tr><td class="l">{label}</td><td class="l">{value}</td></tr>' for label, value in rows)
    return f"<h3>{escape(title)}</h3><table><tbody>{body}</tbody></table>"


#: What the time-point table shows of each SPECT time point's record, in this order.
_TIME_POINT_ITEMS = ("source", "time_h", "acquisition_datetime", "timing_source", "input", "series_instance_uid",
                     "scaling", "calibration_cps_per_mbq", "calibration_source", "acquisition_duration_s",
                     "acquisition_duration_source", "field_of_view_activity_fraction_of_administered")


def _registration(record) -> str:
    """A time point's alignment in one phrase: what it was registered on, how far it moved."""
    if not isinstance(record, dict):
        return "reference" if record is None else escape(str(record))
    parts = [escape(str(record.get(k))) for k in ("on", "transform_type") if record.get(k)]
    motion = record.get("rigid") if isinstance(record.get("rigid"), dict) else record
    if isinstance(motion.get("translation_norm_mm"), (int, float)):
        parts.append(f"translation {significant(motion['translation_norm_mm'], 3, 'mm')}")
    if isinstance(motion.get("rotation_angle_deg"), (int, float)):
        parts.append(f"rotation {significant(motion['rotation_angle_deg'], 3, '°')}")
    return ", ".join(parts) or DASH


def _time_points(points: list[dict], show: Presentation) -> str:
    """The SPECT time points side by side: one column per time point, one row per recorded item."""
    if not points:
        return ""
    rows = []
    for key in _TIME_POINT_ITEMS:
        if not any(key in p for p in points):
            continue
        values = [_value(key, p.get(key), show) for p in points]
        if any(v is None for v in values):
            continue
        rows.append(f'<tr><td class="l">{escape(_label(key))}</td>'
                    + "".join(f'<td class="l">{v}</td>' for v in values) + "</tr>")
    rows.append('<tr><td class="l">registration</td>'
                + "".join(f'<td class="l">{"reference" if p.get("reference") else _registration(p.get("registration"))}'
                          "</td>" for p in points) + "</tr>")
    header = "".join(f"<th>time point {p.get('index', i + 1)}</th>" for i, p in enumerate(points))
    return (f'<h3>SPECT time points</h3><table><thead><tr><th class="l">item</th>{header}</tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table>")


def provenance_section(uptake: dict | None, dosimetry: dict | None, show: Presentation) -> str:
    from ..version import __version__

    parts = []
    if uptake and uptake.get("provenance"):
        record = uptake["provenance"]
        parts.append(_group("68Ga PET inputs", record.get("inputs"), show))
        for route, label in (("ia", "Intra-arterial 68Ga PET: header and SUV"),
                             ("iv", "Intravenous 68Ga PET: header and SUV")):
            parts.append(_group(label, (record.get("suv") or {}).get(route), show))
        rest = {k: v for k, v in record.items() if k not in ("inputs", "suv", "software", "software_version")}
        parts.append(_group("Uptake parameters and other records", rest, show))
    if dosimetry:
        record = dosimetry.get("provenance") or {}
        parts.append(_group("177Lu SPECT/CT inputs", record.get("inputs"), show))
        parts.append(_time_points(dosimetry.get("time_points") or [], show))
        rest = {k: v for k, v in record.items() if k != "inputs"}
        parts.append(_group("Dosimetry parameters and other records", rest, show))
    body = "".join(parts) or "<p>No provenance recorded.</p>"
    return (f'<details id="provenance"><summary>Provenance</summary><p class="meta">IAHepaticPRRT '
            f"{escape(__version__)}. Every value as recorded in results.json, shown with its unit; paths relative "
            f"to the study folder.</p>{body}</details>")
