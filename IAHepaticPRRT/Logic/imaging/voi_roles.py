"""What each segment is, from its name: target lesion, extra-hepatic lesion or organ.

Default names (DESIGN.md): ``Lesion 1`` .. ``Lesion 5``, ``Healthy liver``, ``Kidneys`` (or ``Left
kidney`` / ``Right kidney``), ``Spleen``, ``Bone marrow``, ``Extrahepatic lesion N``. Matching
ignores case and extra spaces. A mapping file renames a site's own names to these defaults.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import InputError

TARGET_LESION = "target_lesion"
EXTRAHEPATIC_LESION = "extrahepatic_lesion"
ORGAN = "organ"
OTHER = "other"

#: Organ segment names and the organ they are (kidneys may come as one segment or two).
ORGANS = {
    "healthy liver": "healthy_liver",
    "liver": "liver",
    "kidneys": "kidneys",
    "left kidney": "left_kidney",
    "right kidney": "right_kidney",
    "spleen": "spleen",
    "bone marrow": "bone_marrow",
}

_LESION = re.compile(r"^lesion\s*(\d+)$")
_EXTRAHEPATIC = re.compile(r"^extra-?hepatic\s+lesion\s*(\d+)$")


@dataclass(frozen=True)
class VoiRole:
    name: str          # the segment name as the user gave it (after mapping)
    role: str          # TARGET_LESION, EXTRAHEPATIC_LESION, ORGAN or OTHER
    organ: str = ""    # for organs: healthy_liver, kidneys, left_kidney, ..., bone_marrow
    number: int = 0    # lesion number

    @property
    def is_lesion(self) -> bool:
        return self.role in (TARGET_LESION, EXTRAHEPATIC_LESION)

    @property
    def is_kidney(self) -> bool:
        return self.organ in ("kidneys", "left_kidney", "right_kidney")


def _normalise(name: str) -> str:
    return " ".join(name.strip().lower().replace("_", " ").split())


def role_of(name: str) -> VoiRole:
    key = _normalise(name)
    match = _LESION.match(key)
    if match:
        return VoiRole(name, TARGET_LESION, number=int(match.group(1)))
    match = _EXTRAHEPATIC.match(key)
    if match:
        return VoiRole(name, EXTRAHEPATIC_LESION, number=int(match.group(1)))
    if key in ORGANS:
        return VoiRole(name, ORGAN, organ=ORGANS[key])
    return VoiRole(name, OTHER)


def apply_mapping(names: list[str], mapping: dict[str, str] | None) -> dict[str, str]:
    """Map each segment name to its (possibly renamed) name; two segments may not end up the same."""
    mapping = mapping or {}
    result = {name: mapping.get(name, name) for name in names}
    seen: dict[str, str] = {}
    for original, renamed in result.items():
        if _normalise(renamed) in seen:
            raise InputError(f"segments '{seen[_normalise(renamed)]}' and '{original}' both map to '{renamed}'",
                             None, "name mapping")
        seen[_normalise(renamed)] = original
    return result
