"""SUV normalisers: what the injected activity is divided by (body weight, lean body mass, ...).

SUV = C / (A_ref / N): C in Bq/mL, A_ref in Bq, N the normaliser. Every normaliser here is returned
in grams (1 mL of tissue taken as 1 g), except the body surface area, returned in cm^2 (SUVbsa is
in cm^2/mL). Formulas and constants: docs/physics.md section 2.9, which takes them from the IBSI
SUV manual (Vácha et al., oncoray.github.io/suv_computation) and the QIBA vendor-neutral
pseudo-code:

- SUVbw: N = W (body weight).
- SUVlbm (James 1976, coefficients 128 and 148 as in DICOM's LBMJAMES128):
  male 1.10 W - 128 (W/H)^2, female 1.07 W - 148 (W/H)^2 (W in kg, H in cm, result in kg).
  DICOM's older SUVType "LBM" is Morgan's variant with 120 instead of 128 for men (IBSI SUV
  manual, "Units = GML"); it is only read from images (``lbm-morgan``), never produced.
- SUVlbm (Janmahasatian et al., Clin Pharmacokinet 2005;44:1051):
  male 9270 W / (6680 + 216 BMI), female 9270 W / (8780 + 244 BMI), BMI = W / (H/100)^2.
- SUVbsa (Du Bois & Du Bois 1916): 0.007184 H^0.725 W^0.425 m^2 (H in cm, W in kg).
- SUVibw (Devine 1974): male 48.0 + 1.06 (H - 152), female 45.5 + 0.91 (H - 152) kg.

PatientSex "O" (other): the IBSI SUV manual notes that there is no consensus and recommends the
mean of the male and female values for LBM and IBW; this module does so, with a warning. A sex that
is missing or unreadable is refused (the user gives it with ``--sex``).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import InputError

#: SUV types the project computes (command-line spelling).
SUV_TYPES = ("bw", "lbm-james", "lbm-janma", "bsa", "ibw")

#: Unit string of each SUV type (the MRML adapter maps these to UCUM codes).
UNIT_OF_TYPE = {
    "lbm-morgan": "SUVlbmMorgan",
    "bw": "SUVbw",
    "lbm-james": "SUVlbm",
    "lbm-janma": "SUVlbmJanma",
    "bsa": "SUVbsa",
    "ibw": "SUVibw",
}

#: Unit of the normaliser of each type.
NORMALISER_UNIT = {"lbm-morgan": "g", "bw": "g", "lbm-james": "g", "lbm-janma": "g", "bsa": "cm2", "ibw": "g"}

#: DICOM SUVType (0054,1006) defined terms -> SUV type. "LBM" is Morgan's lean body mass (James'
#: formula with 120 for men; IBSI SUV manual), an image-only type here.
DICOM_SUV_TYPES = {
    "BW": "bw",
    "BSA": "bsa",
    "IBW": "ibw",
    "LBM": "lbm-morgan",
    "LBMJAMES128": "lbm-james",
    "LBMJANMA": "lbm-janma",
}

#: Types that need height and sex besides weight.
NEEDS_HEIGHT = {"lbm-james", "lbm-morgan", "lbm-janma", "bsa", "ibw"}
NEEDS_SEX = {"lbm-james", "lbm-morgan", "lbm-janma", "ibw"}


@dataclass(frozen=True)
class Patient:
    """Body measures used by the normalisers, each with where it came from (header or user)."""

    weight_kg: float | None = None
    height_cm: float | None = None
    sex: str | None = None  # "M" or "F"; anything else is unknown
    weight_source: str = ""
    height_source: str = ""
    sex_source: str = ""


def parse_suv_type(text: str) -> str:
    key = str(text).strip().lower().replace("_", "-")
    aliases = {"lbm": "lbm-james", "james": "lbm-james", "janma": "lbm-janma", "lbmjanma": "lbm-janma",
               "lbmjames": "lbm-james", "lbmjames128": "lbm-james"}
    key = aliases.get(key, key)
    if key not in SUV_TYPES:
        raise InputError(f"unknown SUV type '{text}' (choose one of {', '.join(SUV_TYPES)})", "--suv-type")
    return key


def _require(value, what: str, suv_type: str, source: str, field: str, option: str):
    if value is None:
        raise InputError(f"SUV type {suv_type} needs the patient's {what}: it is not in the header; "
                         f"give it with {option}", source, field)
    return value


def normaliser(suv_type: str, patient: Patient, source: str = "") -> tuple[float, list[str]]:
    """The normaliser of ``suv_type`` for ``patient`` (g, or cm^2 for bsa) and any warnings.

    Raises :class:`InputError` when a needed measure is missing or the formula gives a
    non-physical value (a lean body mass <= 0 for extreme weight/height ratios).
    """
    warnings: list[str] = []
    weight = _require(patient.weight_kg, "weight", suv_type, source, "PatientWeight (0010,1030)", "--weight-kg")
    if not weight > 0:
        raise InputError(f"patient weight must be positive, got {weight} kg", source, "PatientWeight (0010,1030)")
    if suv_type == "bw":
        return weight * 1000.0, warnings
    height = _require(patient.height_cm, "height", suv_type, source, "PatientSize (0010,1020)", "--height-cm")
    if not height > 0:
        raise InputError(f"patient height must be positive, got {height} cm", source, "PatientSize (0010,1020)")
    if suv_type == "bsa":
        # Du Bois & Du Bois 1916 (docs/physics.md section 2): m^2 -> cm^2.
        return 0.007184 * height ** 0.725 * weight ** 0.425 * 1.0e4, warnings
    sex = (patient.sex or "").strip().upper()
    if sex not in ("M", "F", "O"):
        raise InputError(f"SUV type {suv_type} needs the patient's sex (M or F); the header says "
                         f"'{patient.sex or ''}': give it with --sex", source, "PatientSex (0010,0040)")
    if sex == "O":
        # IBSI SUV manual: no consensus for "other"; the mean of the sex-specific values.
        male, w_m = _sex_specific(suv_type, weight, height, "M", source)
        female, w_f = _sex_specific(suv_type, weight, height, "F", source)
        warnings.extend(w for w in w_m + w_f if w not in warnings)
        warnings.append(f"PatientSex 'O' (other): the {suv_type} normaliser is the mean of the male and female "
                        f"formulas (IBSI SUV manual); give --sex M or F to choose one")
        return (male + female) / 2.0, warnings
    value, more = _sex_specific(suv_type, weight, height, sex, source)
    return value, warnings + more


def _sex_specific(suv_type: str, weight: float, height: float, sex: str, source: str) -> tuple[float, list[str]]:
    """Normaliser in g of a sex-dependent type for sex "M" or "F"."""
    warnings: list[str] = []
    if suv_type in ("lbm-james", "lbm-morgan"):
        # James 1976 with DICOM's LBMJAMES128 coefficients, or Morgan's 120 for "LBM" images
        # (docs/physics.md section 2; IBSI SUV manual).
        male_b = 128.0 if suv_type == "lbm-james" else 120.0
        a, b = (1.10, male_b) if sex == "M" else (1.07, 148.0)
        lbm_kg = a * weight - b * (weight / height) ** 2
        # The formula peaks at W = a H^2 / (2 b) and falls beyond it (a known failure for obesity).
        peak_weight = a * height ** 2 / (2.0 * b)
        if weight > peak_weight:
            warnings.append(f"James lean body mass formula is past its maximum for this patient "
                            f"(weight {weight:g} kg > {peak_weight:.1f} kg at height {height:g} cm): "
                            "it underestimates lean mass; consider lbm-janma")
        if lbm_kg <= 0:
            raise InputError(f"James lean body mass is not positive ({lbm_kg:.1f} kg) for weight {weight:g} kg "
                             f"and height {height:g} cm: use lbm-janma", source, "PatientWeight (0010,1030)")
        return lbm_kg * 1000.0, warnings
    if suv_type == "lbm-janma":
        # Janmahasatian et al. 2005 (docs/physics.md section 2).
        bmi = weight / (height / 100.0) ** 2
        lbm_kg = 9270.0 * weight / (6680.0 + 216.0 * bmi) if sex == "M" else 9270.0 * weight / (8780.0 + 244.0 * bmi)
        return lbm_kg * 1000.0, warnings
    if suv_type == "ibw":
        # Devine 1974 (docs/physics.md section 2).
        ibw_kg = 48.0 + 1.06 * (height - 152.0) if sex == "M" else 45.5 + 0.91 * (height - 152.0)
        if ibw_kg <= 0:
            raise InputError(f"ideal body weight is not positive ({ibw_kg:.1f} kg) for height {height:g} cm",
                             source, "PatientSize (0010,1020)")
        return ibw_kg * 1000.0, warnings
    raise InputError(f"unknown SUV type '{suv_type}'", "--suv-type")
