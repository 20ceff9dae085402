"""Which radionuclide a DICOM header says it holds, and a check that it is the one the analysis is for.

The trial images 68Ga (PET) and 177Lu (SPECT); an 18F or 99mTc series given by mistake must stop the
run, not give an enhancement ratio or a dose. The evidence, from the RadiopharmaceuticalInformation
or EnergyWindowInformation sequences (DICOM PS3.3 C.8.9.2 PET Isotope, C.8.4.10 NM Isotope):

- RadionuclideCodeSequence CodeMeaning (``^68^Gallium``, ``Ga-68``, ``Lutetium^177^``, ...): the mass
  number and the element;
- RadionuclideHalfLife (0018,1075): within 2 % of one known half-life (headers carry 68Ga as
  4057.7 to 4062.6 s, 0.12 % apart);
- for NM, the energy windows (EnergyWindowRangeSequence): at least one must hold a photopeak of the
  radionuclide (177Lu: 112.9 and 208.4 keV).

Half-lives and photopeaks: ICRP Publication 107 (docs/physics.md sections 1 and 21).
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection

from ..sanity import refuse_or_accept

#: name -> (half-life in s, element names and symbols, mass number, principal photon energies keV).
KNOWN = {
    "Ga-68": (4062.6, ("gallium", "ga"), 68, (511.0,)),
    "F-18": (6586.2, ("fluorine", "f"), 18, (511.0,)),
    "C-11": (1221.8, ("carbon", "c"), 11, (511.0,)),
    "Cu-64": (45720.0, ("copper", "cu"), 64, (511.0,)),
    "Zr-89": (282276.0, ("zirconium", "zr"), 89, (511.0, 909.0)),
    "Rb-82": (76.38, ("rubidium", "rb"), 82, (511.0,)),
    "Lu-177": (574300.0, ("lutetium", "lu"), 177, (112.9, 208.4)),
    "Tc-99m": (21624.0, ("technetium", "tc"), 99, (140.5,)),
    "In-111": (242326.0, ("indium", "in"), 111, (171.3, 245.4)),
    "I-131": (693377.0, ("iodine", "i"), 131, (364.5,)),
    "I-123": (47604.0, ("iodine", "i"), 123, (159.0,)),
    "Y-90": (230400.0, ("yttrium", "y"), 90, ()),
}
#: Relative tolerance when a header's half-life names a radionuclide.
HALF_LIFE_TOLERANCE = 0.02


def from_code_meaning(text: str) -> str | None:
    """The radionuclide a CodeMeaning names (``^68^Gallium``, ``Gallium^68^``, ``Ga-68``, ``68Ga``), or None."""
    words = [w for w in re.split(r"[^a-z0-9]+", (text or "").lower()) if w]
    numbers = {int(w) for w in re.findall(r"\d+", " ".join(words))}
    letters = {re.sub(r"\d+", "", w) for w in words} - {""}
    metastable = any(w.endswith("m") and w[:-1].isdigit() for w in words) or "m" in letters
    for name, (_, elements, mass, _) in KNOWN.items():
        if mass in numbers and letters & set(elements):
            if name == "Tc-99m" or not metastable or name.endswith("m"):
                return name
    return None


def from_half_life(half_life_s: float) -> str | None:
    """The known radionuclide whose half-life is within 2 % of ``half_life_s``, or None."""
    for name, (known, *_) in KNOWN.items():
        if math.isfinite(half_life_s) and abs(half_life_s - known) <= HALF_LIFE_TOLERANCE * known:
            return name
    return None


def _radionuclide_codes(ds) -> list[str]:
    meanings = []
    for sequence_name in ("RadiopharmaceuticalInformationSequence", "EnergyWindowInformationSequence"):
        for item in ds.get(sequence_name) or []:
            for code in item.get("RadionuclideCodeSequence") or []:
                meanings.append(str(code.get("CodeMeaning", "")))
    return [m for m in meanings if m.strip()]


def _half_lives(ds) -> list[float]:
    values = []
    for item in ds.get("RadiopharmaceuticalInformationSequence") or []:
        value = item.get("RadionuclideHalfLife")
        try:
            values.append(float(value))
        except (TypeError, ValueError):
            continue
    return values


def _energy_windows_kev(ds) -> list[tuple[float, float]]:
    windows = []
    for item in ds.get("EnergyWindowInformationSequence") or []:
        for window in item.get("EnergyWindowRangeSequence") or []:
            try:
                windows.append((float(window.EnergyWindowLowerLimit), float(window.EnergyWindowUpperLimit)))
            except (AttributeError, TypeError, ValueError):
                continue
    return windows


def check_radionuclide(ds, expected: str, source, accept: Collection[str], warnings: list) -> dict:
    """Refuse (unless ``radionuclide`` is accepted) a header whose radionuclide is not ``expected``;
    return what the header says, for the provenance."""
    found = {"expected": expected, "code_meanings": _radionuclide_codes(ds), "half_lives_s": _half_lives(ds),
             "energy_windows_kev": _energy_windows_kev(ds)}
    for meaning in found["code_meanings"]:
        named = from_code_meaning(meaning)
        if named is not None and named != expected:
            refuse_or_accept("radionuclide", f"the header names {named} ('{meaning}'), not {expected}", source,
                             "RadionuclideCodeSequence (0054,0300)", accept, warnings)
    for half_life in found["half_lives_s"]:
        named = from_half_life(half_life)
        if named != expected:
            what = named or "no known radionuclide"
            refuse_or_accept("radionuclide", f"RadionuclideHalfLife {half_life:g} s is that of {what}, not {expected} "
                             f"({KNOWN[expected][0]:g} s)", source, "RadionuclideHalfLife (0018,1075)", accept,
                             warnings)
    peaks = KNOWN[expected][3]
    if found["energy_windows_kev"] and peaks and not any(lo <= peak <= hi for lo, hi in found["energy_windows_kev"]
                                                         for peak in peaks):
        windows = ", ".join(f"{lo:g}-{hi:g}" for lo, hi in found["energy_windows_kev"])
        refuse_or_accept("radionuclide", f"no energy window ({windows} keV) holds a photopeak of {expected} "
                         f"({', '.join(f'{p:g}' for p in peaks)} keV)", source, "EnergyWindowRangeSequence (0054,0013)",
                         accept, warnings)
    if not found["code_meanings"] and not found["half_lives_s"] and not found["energy_windows_kev"]:
        warnings.append(f"{source}: the header does not name its radionuclide; {expected} assumed")
    return found
