"""The synthetic trial patient: DICOM PET/CT (IA day 0, IV day 3), 177Lu SPECT/CT (4 time points),
segmentations and ``truth.json`` with every true value (see docs/phantom.md).

Layout written by :func:`generate_phantom` (the "synthetic patient contract" other modules test
against)::

    OUT/truth.json
    OUT/manifest.json      (the study manifest for ``iahprrt run``)
    OUT/ia_day0/ct/  OUT/ia_day0/pet/
    OUT/iv_day3/ct/  OUT/iv_day3/pet/
    OUT/spect/tpN/ct/  OUT/spect/tpN/nm/spect.dcm (counts)  OUT/spect/tpN/bqml/spect.dcm (Bq/mL)
    OUT/segmentations/ia_day0.seg.nrrd  iv_day3.seg.nrrd  spect_tp1.seg.nrrd

Everything is written into a staging folder beside OUT, renamed into place at the end, so a
failure leaves no half-written patient. The same arguments give byte-identical files: UIDs are
derived from (seed, vendor, size, noise, series), dates are fixed, noise comes from seeded streams.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..imaging.segmentation import Segmentation
from ..io.dicom_writer import _ds_number, deterministic_uid, write_image_series, write_nm_tomo
from ..io.output_files import output_folder, write_json
from ..io.segmentation_files import write_seg_nrrd
from ..version import __version__
from .anatomy import SEGMENT_COLOURS, SEGMENT_NAMES, build_tissues, region_table, segment_tissues, visible_volumes_ml
from .headers import (
    PHILIPS_BQML_PER_CNTS,
    VENDOR_INFO,
    VENDORS,
    PetSession,
    SpectTimePoint,
    ct_attributes,
    iso,
    nm_attributes,
    pet_attributes,
    series_datetime,
)
from .kinetics import ELIGIBILITY_THRESHOLD, LDM_GY_G_PER_MBQ_H, LU177_HALF_LIFE_H, lu_kinetics, pet_suv
from .scans import (
    PET_FWHM_MM,
    PET_NOISE_CV_LIVER,
    SIZES,
    SPECT_FWHM_MM,
    add_counts_noise,
    add_ct_noise,
    add_pet_noise,
    ct_image,
    emission_image,
    rng_for,
)
from .shapes import IDENTITY, RigidPose, label_map

# ---- the patient's schedule ---------------------------------------------------------------------
IA_SESSION = PetSession(
    route="ia", folder="ia_day0", description="IA day0 Ga68 DOTATATE PET/CT",
    injection=datetime(2025, 3, 3, 9, 58, 12), acquisition_start=datetime(2025, 3, 3, 11, 2, 30),
    injected_activity_bq=152.6e6, residual_activity_bq=4.3e6, weight_kg=78.0,
    bed_duration_s=180.0, bed_gap_s=6.0, study_number=1)
IV_SESSION = PetSession(
    route="iv", folder="iv_day3", description="IV day3 Ga68 DOTATATE PET/CT",
    injection=datetime(2025, 3, 6, 10, 14, 40), acquisition_start=datetime(2025, 3, 6, 11, 15, 5),
    injected_activity_bq=171.9e6, residual_activity_bq=2.1e6, weight_kg=77.2,
    bed_duration_s=150.0, bed_gap_s=6.0, study_number=2)

ADMINISTRATION = datetime(2025, 3, 24, 10, 30, 0)
ADMINISTERED_ACTIVITY_MBQ = 7400.0
RESIDUAL_ACTIVITY_MBQ = 96.0
SPECT_WEIGHT_KG = 76.5
#: SPECT system calibration (cps/MBq, 208 keV window), typical of a medium-energy collimator.
CALIBRATION_CPS_PER_MBQ = 9.82
TIME_POINTS = [
    SpectTimePoint("tp1", 4.0, 60, 20.0),
    SpectTimePoint("tp2", 24.0, 60, 20.0),
    SpectTimePoint("tp3", 96.0, 60, 30.0),
    SpectTimePoint("tp4", 168.0, 60, 30.0),
]

# ---- patient motion (reference = IA day 0) ------------------------------------------------------
TRANSFORM_CENTRE_LPS_MM = (-40.0, -10.0, 30.0)
IV_POSE = RigidPose((3.5, -2.5, 6.0), (1.5, -1.0, 2.5), TRANSFORM_CENTRE_LPS_MM)
SPECT_TP1_POSE = RigidPose((-4.0, 3.0, -5.0), (-1.0, 1.5, -2.0), TRANSFORM_CENTRE_LPS_MM)
SPECT_RELATIVE_POSES = {
    "tp1": IDENTITY,
    "tp2": RigidPose((2.0, -1.5, 4.0), (0.5, -1.2, 1.8), TRANSFORM_CENTRE_LPS_MM),
    "tp3": RigidPose((-3.0, 2.5, -3.5), (-1.5, 0.8, -2.2), TRANSFORM_CENTRE_LPS_MM),
    "tp4": RigidPose((4.5, 1.0, 2.5), (1.0, 2.0, 1.0), TRANSFORM_CENTRE_LPS_MM),
}
TRANSFORM_CONVENTION = ("x_iv = R (x_ia - c) + c + t (LPS mm), R from rotation_deg about x, y, z: "
                        "R = Rz(rz) Rx(rx) Ry(ry) (SimpleITK Euler3DTransform(c, rx, ry, rz, t), default ZXY order); "
                        "'matrix' is R row by row. x_ia is a point in the 'reference' scan, x_iv the same anatomy "
                        "in this scan (ITK convention: maps fixed = reference points to moving = this scan)")

SUV_FORMULA = ("SUVbw = C [Bq/mL] x W [g] / (A_inj [Bq] x 2^(-(t_ref - t_inj) / T_half)), W = PatientWeight x 1000 "
               "(1 mL = 1 g), A_inj = RadionuclideTotalDose, t_inj = RadiopharmaceuticalStartDateTime, T_half = "
               "RadionuclideHalfLife (header), t_ref = reference_datetime (series start; DecayCorrection START). "
               "C = stored x RescaleSlope + RescaleIntercept of its slice (Units BQML), or that value x (7053,1009) "
               "(Philips CNTS); Philips SUVbw also = that value x (7053,1000)")
SPECT_COUNTS_FORMULA = ("counts per voxel = activity in the voxel at acquisition start [MBq] x calibration_cps_per_mbq "
                        "x acquisition_duration_s (decay during the acquisition neglected); acquisition_duration_s = "
                        "NumberOfFramesInRotation x ActualFrameDuration / 1000 (RotationInformationSequence item 1); "
                        "Bq/mL variant = counts / (calibration x duration) / voxel volume [mL] x 1e6 "
                        "(RealWorldValueMappingSequence)")


def _uid(context: dict, *parts) -> str:
    return deterministic_uid("IAHepaticPRRT phantom", context["seed"], context["vendor"], context["size"],
                             context["noise"], *parts)


def _transform_entry(pose: RigidPose, reference: str) -> dict:
    return {
        "reference": reference,
        "translation_mm": list(pose.translation_mm),
        "rotation_deg": list(pose.rotation_deg),
        "center_lps_mm": list(pose.center_lps_mm),
        "matrix": pose.rotation.tolist(),
        "convention": TRANSFORM_CONVENTION,
    }


def spect_pose(name: str) -> RigidPose:
    """Pose of SPECT/CT time point ``name`` relative to the reference (IA day 0) anatomy."""
    return SPECT_TP1_POSE.then(SPECT_RELATIVE_POSES[name]) if name != "tp1" else SPECT_TP1_POSE


def _segmentation(grid, pose, tissues) -> Segmentation:
    labels = label_map(grid, pose, tissues)
    index = {t.name: n + 1 for n, t in enumerate(tissues)}
    members = segment_tissues(tissues)
    seg = Segmentation(grid)
    for name in SEGMENT_NAMES:
        mask = labels > 0 if name == "Body" else np.isin(labels, [index[m] for m in members[name]])
        seg.add(name, mask, SEGMENT_COLOURS[name])
    return seg


def _slice_z(grid) -> list[float]:
    return [float(grid.index_to_lps((0.0, 0.0, float(k)))[2]) for k in range(grid.shape_kji[0])]


def _region_means(tissues, value_of) -> dict[str, float]:
    """Volume-weighted mean of a per-tissue value over each segment (exact, no partial volume)."""
    volumes = visible_volumes_ml(tissues)
    members = segment_tissues(tissues)
    by_name = {t.name: t for t in tissues}
    out = {}
    for name in SEGMENT_NAMES:
        parts = members[name]
        out[name] = sum(value_of(by_name[p]) * volumes[p] for p in parts) / sum(volumes[p] for p in parts)
    return out


# ---- PET/CT -------------------------------------------------------------------------------------
def _pet_session(out: Path, session: PetSession, pose: RigidPose, tissues, regions, size, context) -> dict:
    vendor, seed, noise = context["vendor"], context["seed"], context["noise"]
    half_life_s = VENDOR_INFO[vendor]["pet_half_life_s"]
    elapsed_s = (session.acquisition_start - session.injection).total_seconds()
    reference_activity_bq = session.injected_activity_bq * 2.0 ** (-elapsed_s / half_life_s)
    weight_g = session.weight_kg * 1000.0
    bqml_per_suv = reference_activity_bq / weight_g
    values_bqml = {t.name: pet_suv(t, session.route) * bqml_per_suv for t in tissues}

    study_uid = _uid(context, session.folder, "study")
    frame_uid = _uid(context, session.folder, "frame of reference")
    pet_uid = _uid(context, session.folder, "pet series")
    ct_uid = _uid(context, session.folder, "ct series")

    pet_grid = SIZES[size].pet.grid()
    factor = SIZES[size].pet_fine_factor
    image = emission_image(pet_grid, pose, tissues, values_bqml, PET_FWHM_MM, factor)
    if noise:
        image = add_pet_noise(image, values_bqml["healthy liver"], rng_for(seed, f"{session.folder} pet"))
    suv_factor = None
    if vendor == "philips":
        image = image / PHILIPS_BQML_PER_CNTS
        suv_factor = PHILIPS_BQML_PER_CNTS / bqml_per_suv
    common, per_slice = pet_attributes(vendor, session, study_uid, frame_uid, pet_uid, _slice_z(pet_grid), suv_factor)
    write_image_series(image, pet_grid, out / session.folder / "pet", "PT", common, per_slice,
                       uid_key=_uid(context, session.folder, "pet instances"), file_prefix="PT")

    ct_grid = SIZES[size].petct_ct.grid()
    ct = ct_image(ct_grid, pose, tissues)
    if noise:
        ct = add_ct_noise(ct, rng_for(seed, f"{session.folder} ct"))
    ct_time = session.acquisition_start - timedelta(minutes=3)
    ct_common = ct_attributes(vendor, session.weight_kg, study_uid, frame_uid, ct_uid, session.acquisition_start,
                              ct_time, f"{session.study_number}", session.description, 1)
    write_image_series(ct, ct_grid, out / session.folder / "ct", "CT", ct_common,
                       uid_key=_uid(context, session.folder, "ct instances"), fixed_slope=1.0, file_prefix="CT")
    seg_path = out / "segmentations" / f"{session.folder}.seg.nrrd"
    write_seg_nrrd(_segmentation(ct_grid, pose, tissues), seg_path)

    concentration = _region_means(tissues, lambda t: values_bqml[t.name])
    suv = _region_means(tissues, lambda t: pet_suv(t, session.route))
    net_factor = session.injected_activity_bq / (session.injected_activity_bq - session.residual_activity_bq)
    series_time = series_datetime(session, vendor)
    return {
        "pet_folder": f"{session.folder}/pet",
        "ct_folder": f"{session.folder}/ct",
        "segmentation": f"segmentations/{session.folder}.seg.nrrd",
        "series_instance_uid": pet_uid,
        "ct_series_instance_uid": ct_uid,
        "study_instance_uid": study_uid,
        "frame_of_reference_uid": frame_uid,
        "route": "intra-arterial" if session.route == "ia" else "intravenous",
        "injected_activity_bq": session.injected_activity_bq,
        "residual_activity_bq": session.residual_activity_bq,
        "residual_note": "measured at injection time; not in the DICOM headers (the user enters it)",
        "injection_datetime": iso(session.injection),
        "series_datetime": iso(series_time),
        "acquisition_datetime": iso(session.acquisition_start),
        "reference_datetime": iso(session.acquisition_start),
        "half_life_s": half_life_s,
        "decay_correction": "START",
        "units": "CNTS" if vendor == "philips" else "BQML",
        "patient_weight_kg": session.weight_kg,
        "bed_duration_s": session.bed_duration_s,
        "number_of_beds": 2,
        "decayed_injected_activity_bq": reference_activity_bq,
        "suv_formula": SUV_FORMULA,
        "concentration_bqml": concentration,
        "suv_bw": suv,
        "suv_bw_residual_subtracted": {k: v * net_factor for k, v in suv.items()},
        "philips_suv_scale_factor": suv_factor,
        "philips_bqml_per_cnts": PHILIPS_BQML_PER_CNTS if vendor == "philips" else None,
    }


# ---- SPECT/CT -----------------------------------------------------------------------------------
def _spect_time_point(out: Path, tp: SpectTimePoint, tissues, size, context) -> dict:
    vendor, seed, noise = context["vendor"], context["seed"], context["noise"]
    pose = spect_pose(tp.name)
    study_uid = _uid(context, "spect", tp.name, "study")
    frame_uid = _uid(context, "spect", tp.name, "frame of reference")
    grid = SIZES[size].spect.grid()
    counts_per_mbq = CALIBRATION_CPS_PER_MBQ * tp.acquisition_duration_s
    # values painted as counts per output voxel (concentration x voxel volume x counts per MBq)
    to_counts = grid.voxel_volume_ml * counts_per_mbq
    values_counts = {t.name: float(lu_kinetics(t).concentration(tp.time_h)) * to_counts for t in tissues}
    counts = emission_image(grid, pose, tissues, values_counts, SPECT_FWHM_MM, SIZES[size].spect_fine_factor)
    if noise:
        counts = add_counts_noise(counts, rng_for(seed, f"spect {tp.name} counts"))
    bqml = counts / counts_per_mbq / grid.voxel_volume_ml * 1e6
    folder = out / "spect" / tp.name
    nm_uid = _uid(context, "spect", tp.name, "nm counts series")
    bq_uid = _uid(context, "spect", tp.name, "nm bqml series")
    args = (vendor, SPECT_WEIGHT_KG, tp, ADMINISTRATION, ADMINISTERED_ACTIVITY_MBQ, CALIBRATION_CPS_PER_MBQ,
            study_uid, frame_uid)
    # Noisy counts are integers: store them as they are (RescaleSlope 1) when they fit 16 bits.
    fixed = 1.0 if noise and counts.max() <= 32767 else None
    write_nm_tomo(counts, grid, folder / "nm" / "spect.dcm", nm_attributes(*args, nm_uid, "counts"),
                  uid_key=_uid(context, "spect", tp.name, "nm counts"), fixed_slope=fixed)
    slope = float(_ds_number(float(bqml.max()) / 32000.0))
    write_nm_tomo(bqml, grid, folder / "bqml" / "spect.dcm", nm_attributes(*args, bq_uid, "bqml"),
                  uid_key=_uid(context, "spect", tp.name, "nm bqml"), real_world_bqml_slope=slope)

    ct_grid = SIZES[size].spect_ct.grid()
    ct = ct_image(ct_grid, pose, tissues)
    if noise:
        ct = add_ct_noise(ct, rng_for(seed, f"spect {tp.name} ct"))
    start = ADMINISTRATION + timedelta(hours=tp.time_h)
    ct_uid = _uid(context, "spect", tp.name, "ct series")
    ct_common = ct_attributes(vendor, SPECT_WEIGHT_KG, study_uid, frame_uid, ct_uid, start,
                              start + timedelta(seconds=tp.acquisition_duration_s + 60.0), f"3{tp.name[-1]}",
                              f"Lu177 SPECT/CT {tp.name}", 2)
    write_image_series(ct, ct_grid, folder / "ct", "CT", ct_common, uid_key=_uid(context, "spect", tp.name, "ct"),
                       fixed_slope=1.0, file_prefix="CT")
    if tp.name == "tp1":
        write_seg_nrrd(_segmentation(ct_grid, pose, tissues), out / "segmentations" / "spect_tp1.seg.nrrd")
    return {
        "name": tp.name,
        "time_h": tp.time_h,
        "nm_file": f"spect/{tp.name}/nm/spect.dcm",
        "bqml_file": f"spect/{tp.name}/bqml/spect.dcm",
        "ct_folder": f"spect/{tp.name}/ct",
        "acquisition_datetime": iso(start),
        "acquisition_duration_s": tp.acquisition_duration_s,
        "views_per_head": tp.views_per_head,
        "frame_duration_ms": int(round(tp.seconds_per_view * 1000.0)),
        "nm_series_instance_uid": nm_uid,
        "bqml_series_instance_uid": bq_uid,
        "ct_series_instance_uid": ct_uid,
        "frame_of_reference_uid": frame_uid,
        "bqml_real_world_slope": slope,
    }


def _spect_truth(tissues, time_points: list[dict]) -> dict:
    volumes = visible_volumes_ml(tissues)
    members = segment_tissues(tissues)
    by_name = {t.name: t for t in tissues}
    regions = region_table(tissues)
    times = np.array([tp["time_h"] for tp in time_points])
    kinetics, activity, tia, residence, residence_net, dose = {}, {}, {}, {}, {}, {}
    net = ADMINISTERED_ACTIVITY_MBQ - RESIDUAL_ACTIVITY_MBQ
    for name in SEGMENT_NAMES:
        parts = members[name]
        models = [(lu_kinetics(by_name[p]), volumes[p]) for p in parts]
        distinct = {m for m, _ in models}
        if len(distinct) == 1:
            model = models[0][0]
            kinetics[name] = model.activity_model(sum(v for _, v in models))
        else:
            kinetics[name] = {
                "model": "sum",
                "parameters": {"components": [dict(tissue=p, volume_ml=v, **m.activity_model(v))
                                              for p, (m, v) in zip(parts, models)]},
                "formula": "A(t) = sum of the components' A(t); TIA = sum of their TIAs",
            }
        activity[name] = [float(sum(m.concentration(t) * v for m, v in models)) for t in times]
        tia[name] = float(sum(m.integral() * v for m, v in models))
        residence[name] = tia[name] / ADMINISTERED_ACTIVITY_MBQ
        residence_net[name] = tia[name] / net
        dose[name] = LDM_GY_G_PER_MBQ_H * tia[name] / regions[name]["mass_g"]
    total = [float(sum(lu_kinetics(t).concentration(x) * volumes[t.name] for t in tissues)) for x in times]
    return {"kinetics": kinetics, "activity_mbq": activity, "tia_mbqh": tia, "residence_time_h": residence,
            "residence_time_net_h": residence_net, "mean_dose_gy_ldm": dose, "total_phantom_activity_mbq": total}


# ---- the whole patient --------------------------------------------------------------------------
def generate_phantom(out_dir: str | os.PathLike, seed: int = 1, noise: bool = True, vendor: str = "siemens",
                     size: str = "default", follow_up: bool = False, progress=None) -> dict:
    """Write the synthetic patient into ``out_dir`` (new or empty folder) and return its truth.
    ``progress(fraction, message)`` is called before each scan is written.

    ``follow_up`` adds the 18-month follow-up (:mod:`iahepaticprrt.phantom.followup`): MR and CT
    scans with their segmentations under ``followup/``, ``truth.json["followup"]``, the manifest's
    ``followup`` section, and two more manifests (``manifest_ct.json``: the CT scans;
    ``manifest_carry_over.json``: the baseline VOIs carried to the visits by registration). Without
    it every file is the same as before, byte for byte."""
    if vendor not in VENDORS:
        raise InputError(f"unknown vendor '{vendor}' (choose {', '.join(VENDORS)})", field="--vendor")
    if size not in SIZES:
        raise InputError(f"unknown size '{size}' (choose {', '.join(SIZES)})", field="--size")
    if int(seed) < 0:
        raise InputError(f"the noise seed must be 0 or more, got {seed}", "--seed")
    with output_folder(out_dir, "OUT_DIR"):
        return _generate_into(Path(out_dir), int(seed), bool(noise), vendor, size, bool(follow_up),
                              progress or (lambda fraction, message: None))


def _generate_into(out: Path, seed: int, noise: bool, vendor: str, size: str, follow_up: bool, progress) -> dict:
    context = {"seed": seed, "noise": noise, "vendor": vendor, "size": size}
    tissues = build_tissues()
    regions = region_table(tissues)
    progress(0.0, "synthetic patient: intra-arterial 68Ga PET/CT (day 0)")
    pet = {"ia": _pet_session(out, IA_SESSION, IDENTITY, tissues, regions, size, context)}
    progress(0.25, "synthetic patient: intravenous 68Ga PET/CT (day 3)")
    pet["iv"] = _pet_session(out, IV_SESSION, IV_POSE, tissues, regions, size, context)
    lesions = [n for n in SEGMENT_NAMES if n.startswith("Lesion")]
    ratios = {n: pet["ia"]["suv_bw"][n] / pet["iv"]["suv_bw"][n] for n in lesions}
    mean_ratio = float(np.mean(list(ratios.values())))
    time_points = []
    for index, tp in enumerate(TIME_POINTS):
        progress(0.5 + 0.45 * index / len(TIME_POINTS), f"synthetic patient: 177Lu SPECT/CT time point {index + 1} "
                 f"of {len(TIME_POINTS)}")
        time_points.append(_spect_time_point(out, tp, tissues, size, context))
    spect = {
        "administered_activity_mbq": ADMINISTERED_ACTIVITY_MBQ,
        "residual_activity_mbq": RESIDUAL_ACTIVITY_MBQ,
        "administration_datetime": iso(ADMINISTRATION),
        "calibration_cps_per_mbq": CALIBRATION_CPS_PER_MBQ,
        "reference_time_point": "tp1",
        "segmentation": "segmentations/spect_tp1.seg.nrrd",
        "patient_weight_kg": SPECT_WEIGHT_KG,
        "half_life_h": LU177_HALF_LIFE_H,
        "counts_formula": SPECT_COUNTS_FORMULA,
        "residence_time_formula": "residence_time_h = tia_mbqh / administered_activity_mbq; residence_time_net_h "
                                  "divides by administered - residual",
        "dose_formula": f"mean_dose_gy_ldm = {LDM_GY_G_PER_MBQ_H} Gy g/(MBq h) x tia_mbqh / mass_g (local deposition, "
                        "docs/physics.md section 1); TIA from 0 to infinity of the analytic kinetics",
        "time_points": time_points,
    }
    spect.update(_spect_truth(tissues, time_points))
    transforms = {"iv_day3": _transform_entry(IV_POSE, "ia_day0"),
                  "spect_tp1": _transform_entry(SPECT_TP1_POSE, "ia_day0")}
    for name in ("tp2", "tp3", "tp4"):
        transforms[f"spect_{name}"] = _transform_entry(SPECT_RELATIVE_POSES[name], "spect_tp1")
    scan_poses = {"ia_day0": IDENTITY, "iv_day3": IV_POSE, **{f"spect_{tp.name}": spect_pose(tp.name) for tp in TIME_POINTS}}
    for entry in regions.values():
        entry["centre_lps_mm_per_scan"] = {scan: [float(v) for v in pose.apply(entry["centre_lps_mm"])]
                                           for scan, pose in scan_poses.items()}
    truth = {
        "generator": {
            "software_version": __version__, "seed": seed, "vendor": vendor, "noise": noise, "size": size,
            "command": f"iahprrt phantom OUT --seed {seed} --vendor {vendor}" + ("" if noise else " --no-noise")
                       + (" --small" if size == "small" else ""),
            "pet_fwhm_mm": PET_FWHM_MM, "spect_fwhm_mm": SPECT_FWHM_MM, "pet_noise_cv_healthy_liver": PET_NOISE_CV_LIVER,
            "grids": {name: {"size_ijk": list(spec.size_ijk), "spacing_mm": list(spec.spacing_mm)}
                      for name, spec in (("petct_ct", SIZES[size].petct_ct), ("pet", SIZES[size].pet),
                                         ("spect_ct", SIZES[size].spect_ct), ("spect", SIZES[size].spect))},
            "volumes": "exact (closed-form volumes of the analytic solids); centres in the IA day-0 pose",
        },
        "patient": {"weight_kg": IA_SESSION.weight_kg, "height_cm": 176.0, "sex": "M",
                    "weight_kg_per_scan": {"ia_day0": IA_SESSION.weight_kg, "iv_day3": IV_SESSION.weight_kg,
                                           "spect": SPECT_WEIGHT_KG}},
        "regions": regions,
        "pet": pet,
        "enhancement_ratio": ratios,
        "mean_enhancement_ratio": mean_ratio,
        "eligibility_threshold": ELIGIBILITY_THRESHOLD,
        "eligible": bool(mean_ratio >= ELIGIBILITY_THRESHOLD),
        "transforms": transforms,
        "spect": spect,
    }
    manifest = _manifest(truth)
    if follow_up:
        progress(0.95, "synthetic patient: the 18-month follow-up (MR and CT)")
        _add_follow_up(out, truth, manifest, context)
    write_json(out / "truth.json", truth)
    write_json(out / "manifest.json", manifest)
    return truth


def _add_follow_up(out: Path, truth: dict, manifest: dict, context: dict) -> None:
    """The follow-up scans, their truth and the manifests that use them (docs/phantom.md)."""
    from .followup import followup_manifest, followup_truth, write_followup_scans

    doses = {name: truth["spect"]["mean_dose_gy_ldm"][name] for name in SEGMENT_NAMES
             if name.startswith(("Lesion", "Extrahepatic"))}
    followup = followup_truth(context["seed"], doses, ADMINISTRATION)
    followup["dose_source"] = "spect.mean_dose_gy_ldm (the lesions' true absorbed doses of the intra-arterial cycle)"
    followup["scans"] = write_followup_scans(out, followup, context["seed"], context["noise"], context["vendor"],
                                             lambda *parts: _uid(context, *parts))
    truth["followup"] = followup
    truth["generator"]["command"] += " --follow-up"
    manifest["followup"] = followup_manifest(followup, followup["scans"], "mr")
    write_json(out / "manifest_ct.json", dict(manifest, followup=followup_manifest(followup, followup["scans"], "ct")))
    write_json(out / "manifest_carry_over.json",
               dict(manifest, followup=followup_manifest(followup, followup["scans"], "mr", carry_over=True)))


#: Illustrative earlier intravenous LUTATHERA cycles of the synthetic patient (the trial's patients have
#: four before the intra-arterial one): typical published kidney and marrow doses for 7.4 GBq cycles
#: (about 0.5 Gy/GBq kidneys, Staanum et al. 2021; docs/physics.md section 7). Not part of truth.json.
EXAMPLE_PREVIOUS_CYCLES = [
    {"cycle": str(n), "kidney_dose_gy": 3.6, "kidney_bed_gy": 4.2, "bone_marrow_dose_gy": 0.25} for n in range(1, 5)]


def _manifest(truth: dict) -> dict:
    """The study manifest of this patient for ``iahprrt run`` (docs/manifest.md), paths relative to OUT."""
    generator, spect = truth["generator"], truth["spect"]
    return {
        "manifest_version": 1,
        "patient": {"id": f"SYNTH-{generator['seed']:03d}-{generator['vendor']}", "name": "Synthetic^Patient"},
        "uptake": {
            "ia": {"pet": truth["pet"]["ia"]["pet_folder"], "segmentation": truth["pet"]["ia"]["segmentation"]},
            "iv": {"pet": truth["pet"]["iv"]["pet_folder"], "segmentation": truth["pet"]["iv"]["segmentation"]},
            "suv_type": "bw", "metric": "suv_max", "threshold": truth["eligibility_threshold"],
        },
        "dosimetry": {
            "time_points": [{"spect": tp["nm_file"], "ct": tp["ct_folder"]} for tp in spect["time_points"]],
            "segmentation": spect["segmentation"],
            "administered_mbq": spect["administered_activity_mbq"],
            "residual_mbq": spect["residual_activity_mbq"],
            "administration_time": spect["administration_datetime"],
            "calibration_uncertainty_percent": 3.0,
            "method": "vsv", "model": "auto", "pvc_fwhm_mm": generator["spect_fwhm_mm"],
            "previous_cycles": EXAMPLE_PREVIOUS_CYCLES,
        },
        "report": {"deidentify": False},
    }
