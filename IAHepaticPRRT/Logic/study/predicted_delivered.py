"""Predicted versus delivered 177Lu dose, and the intra-arterial gain (docs/physics.md section 26).

The trial asks whether the intra-arterial (IA) cycle gives the liver metastases more dose, and the
kidneys and marrow less, than the intravenous (IV) cycles before it. With the earlier IV cycles'
per-VOI doses in the manifest (``dosimetry.previous_cycles[].voi_doses_gy``):

- IV dose of a VOI: the mean over the IV cycles that give it; when every such cycle gives its
  administered activity, each is first scaled to this IA cycle's net administered activity
  (dose per activity x IA activity), otherwise the doses are taken as given (a warning says so);
- predicted IA dose of a lesion = IV dose x the lesion's 68Ga enhancement ratio (the uptake's
  metric), with the interval from the ratio's interval (the IV dose taken as exact);
- delivered IA dose = the dose of this cycle's dosimetry (:func:`delivered_dose_gy`); their ratio
  delivered / predicted;
- organs: IV against IA dose and their ratio; tumour-to-kidney and tumour-to-marrow dose ratios of
  both routes (kidney: a "Kidneys" VOI, else the higher of left and right, as for the limits).

This joins uptake and dosimetry results, which is why it lives in ``study``; nothing is recomputed.
"""

from __future__ import annotations

from ..imaging import voi_roles


def delivered_dose_gy(row: dict, dosimetry: dict) -> tuple[float | None, str]:
    """THE absorbed dose of a dosimetry VOI row, and the key it was read from.

    ``absorbed_dose_gy`` when the row has it (the VOI dose of record); else the quantity the
    dosimetry used for its organ limits (``limits.dose_quantity``: ``mean_dose_gy`` or
    ``mean_dose_gy_voi_ldm``). The one place that decides which dose a VOI has."""
    if "absorbed_dose_gy" in row:
        return row.get("absorbed_dose_gy"), "absorbed_dose_gy"
    quantity = ((dosimetry.get("limits") or {}).get("dose_quantity") or "mean_dose_gy").split()[0]
    return row.get(quantity), quantity


def _key(name: str) -> str:
    return " ".join(str(name).strip().lower().replace("_", " ").split())


def _ratio(a, b):
    return None if a is None or b is None or not b > 0 else a / b


def iv_reference_doses(cycles: list[dict], ia_activity_mbq: float | None, warnings: list) -> tuple[dict, dict]:
    """VOI key -> (IV dose in Gy, number of cycles), and a description of how it was formed."""
    iv = [c for c in cycles if c.get("route", "iv") == "iv" and c.get("voi_doses_gy")]
    scale = bool(iv) and ia_activity_mbq is not None and all(c.get("administered_mbq") for c in iv)
    if iv and not scale:
        warnings.append("IV-cycle doses taken as given: scaled to this cycle's activity only when every IV cycle "
                        "with VOI doses gives its administered_mbq (and the IA activity is known)")
    collected: dict[str, list[float]] = {}
    names: dict[str, str] = {}
    for cycle in iv:
        factor = ia_activity_mbq / cycle["administered_mbq"] if scale else 1.0
        for name, dose in cycle["voi_doses_gy"].items():
            collected.setdefault(_key(name), []).append(dose * factor)
            names.setdefault(_key(name), name)
    doses = {key: (sum(values) / len(values), len(values)) for key, values in collected.items()}
    description = {
        "cycles": [str(c.get("cycle", i + 1)) for i, c in enumerate(iv)],
        "definition": "mean over the IV cycles giving the VOI" + (
            " of dose x (IA net administered activity / that cycle's administered activity)" if scale else
            " of the doses as given (no activity scaling)"),
        "activity_scaled": scale, "ia_net_administered_activity_mbq": ia_activity_mbq,
        "names": names,
    }
    return doses, description


def _kidney(doses: dict[str, float | None]) -> tuple[str | None, float | None]:
    """The kidney dose of one route: "kidneys", else the higher of left and right."""
    if doses.get("kidneys") is not None:
        return "kidneys", doses["kidneys"]
    sides = [(k, doses[k]) for k in ("left kidney", "right kidney") if doses.get(k) is not None]
    return max(sides, key=lambda s: s[1]) if sides else (None, None)


def predicted_versus_delivered(uptake: dict | None, dosimetry: dict | None, previous_cycles: list[dict] | None) -> dict | None:
    """The predicted/delivered table (results.json ``predicted_vs_delivered``); None without IV-cycle
    VOI doses, uptake or dosimetry."""
    if not uptake or not dosimetry or not any((c or {}).get("voi_doses_gy") for c in previous_cycles or []):
        return None
    warnings: list[str] = []
    iv_doses, iv_description = iv_reference_doses(previous_cycles, dosimetry.get("net_administered_activity_mbq"),
                                                  warnings)
    metric = uptake.get("metric", "suv_max")
    uptake_vois = {_key(v["name"]): v for v in uptake.get("vois", [])}
    delivered: dict[str, float | None] = {}
    quantity = None
    rows = {}
    for row in dosimetry.get("vois", []):
        value, quantity = delivered_dose_gy(row, dosimetry)
        delivered[_key(row["name"])] = value
        rows[_key(row["name"])] = row
    lesions, organs = [], []
    names = list(dict.fromkeys(list(rows) + list(iv_doses)))
    for key in names:
        display = rows[key]["name"] if key in rows else iv_description["names"].get(key, key)
        role = voi_roles.role_of(display)
        iv_dose, n_cycles = iv_doses.get(key, (None, 0))
        ia_dose = delivered.get(key)
        if role.is_lesion:
            voi = uptake_vois.get(key) or {}
            ratio = voi.get("enhancement_ratio")
            interval = ((voi.get("enhancement_ratio_interval") or {}).get(metric) or {})
            predicted = None if iv_dose is None or ratio is None else iv_dose * ratio
            entry = {
                "name": display, "role": role.role, "iv_dose_gy": iv_dose, "iv_cycles": n_cycles,
                "enhancement_ratio": ratio, "enhancement_ratio_ci_low": interval.get("ci_low"),
                "enhancement_ratio_ci_high": interval.get("ci_high"),
                "predicted_ia_dose_gy": predicted,
                "predicted_ia_dose_ci_low_gy": None if predicted is None or interval.get("ci_low") is None
                else iv_dose * interval["ci_low"],
                "predicted_ia_dose_ci_high_gy": None if predicted is None or interval.get("ci_high") is None
                else iv_dose * interval["ci_high"],
                "delivered_ia_dose_gy": ia_dose,
                "delivered_to_predicted_ratio": _ratio(ia_dose, predicted),
                "ia_to_iv_dose_ratio": _ratio(ia_dose, iv_dose),
            }
            if iv_dose is None:
                warnings.append(f"{display}: no IV-cycle dose: no prediction")
            elif ratio is None:
                warnings.append(f"{display}: no 68Ga enhancement ratio (not in both PET segmentations?): no prediction")
            if ia_dose is None:
                warnings.append(f"{display}: no delivered dose in this cycle's dosimetry")
            lesions.append(entry)
        elif role.role == voi_roles.ORGAN and (iv_dose is not None or ia_dose is not None):
            organs.append({"name": display, "organ": role.organ, "iv_dose_gy": iv_dose, "iv_cycles": n_cycles,
                           "ia_dose_gy": ia_dose, "ia_to_iv_dose_ratio": _ratio(ia_dose, iv_dose)})
    dose_ratios = {}
    for route, doses in (("iv", {k: v[0] for k, v in iv_doses.items()}), ("ia", delivered)):
        kidney_name, kidney_dose = _kidney(doses)
        marrow_dose = doses.get("bone marrow")
        per_route = {}
        for kind, organ_name, organ_dose in (("tumour_to_kidney", kidney_name, kidney_dose),
                                             ("tumour_to_marrow", "bone marrow" if marrow_dose is not None else None,
                                              marrow_dose)):
            values = {e["name"]: _ratio(doses.get(_key(e["name"])), organ_dose) for e in lesions}
            target = [doses.get(_key(e["name"])) for e in lesions if e["role"] == voi_roles.TARGET_LESION]
            target = [t for t in target if t is not None]
            mean_target = sum(target) / len(target) if target else None
            per_route[kind] = {"organ": organ_name, "organ_dose_gy": organ_dose, "lesions": values,
                               "target_lesions_mean_dose_gy": mean_target,
                               "target_lesions_mean_ratio": _ratio(mean_target, organ_dose)}
        dose_ratios[route] = per_route
    iv_description.pop("names", None)
    return {
        "dose_quantity": quantity,
        "dose_quantity_rule": "absorbed_dose_gy of the dosimetry VOI when present, else the dosimetry's "
                              "limits.dose_quantity",
        "metric": metric,
        "iv_reference": iv_description,
        "lesions": lesions, "organs": organs, "dose_ratios": dose_ratios,
        "definition": "predicted IA dose = IV dose x the lesion's 68Ga enhancement ratio (interval from the ratio's); "
                      "delivered = this cycle's dose",
        "warnings": warnings,
    }
