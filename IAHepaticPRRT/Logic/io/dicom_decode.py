"""Reading DICOM files as they come from scanners: files without the preamble and file meta
information, and compressed pixel data.

- :func:`read_dataset`: ``pydicom.dcmread``; a file that pydicom refuses for lack of the 128-byte
  preamble and "DICM" prefix (PS3.10 7.1: older systems, Philips among them, wrote bare datasets)
  is read again with ``force=True`` and kept only when it parses as an image or DICOM object
  (a SOP Class UID, or Modality with Rows); its transfer syntax is then the one pydicom detected
  (implicit or explicit VR, little or big endian), written into the dataset's file meta so that
  its pixels can be decoded. The dataset is marked (``read_without_file_meta``) for provenance.
- :func:`decode_pixels`: stored pixel values of a dataset. Native (uncompressed) data are read by
  pydicom. Compressed data (JPEG Lossless, JPEG-LS, JPEG 2000, RLE, ...) are decoded by
  SimpleITK's GDCM image IO first (what 3D Slicer bundles, through SimpleITK), then by pydicom's
  own decoders (RLE, and the optional plugins pylibjpeg / pylibjpeg-openjpeg / pylibjpeg-libjpeg
  / pyjpegls when installed: ``pip install iahepaticprrt[dicom]``). The decoder that was used is
  returned (it goes into the provenance); when none can decode, one :class:`InputError` names the
  file, the transfer syntax and the extra to install. Nothing is decoded silently.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import InputError

#: Transfer syntaxes whose pixel data are not compressed (PS3.5 A.1 - A.3, A.5 deflate).
NATIVE_TRANSFER_SYNTAXES = {
    "1.2.840.10008.1.2",       # Implicit VR Little Endian
    "1.2.840.10008.1.2.1",     # Explicit VR Little Endian
    "1.2.840.10008.1.2.1.99",  # Deflated Explicit VR Little Endian (the dataset, not the pixels, is deflated)
    "1.2.840.10008.1.2.2",     # Explicit VR Big Endian (retired)
}
IMPLICIT_LITTLE, EXPLICIT_LITTLE, EXPLICIT_BIG = "1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.2"
#: The optional extra that brings pydicom's JPEG decoders (pyproject.toml).
DECODER_EXTRA = "pip install 'iahepaticprrt[dicom]' (pylibjpeg, pylibjpeg-libjpeg, pylibjpeg-openjpeg)"


def read_dataset(path: str | os.PathLike, stop_before_pixels: bool = False):
    """The dataset of a DICOM file, or None when the file is not DICOM.

    Files without preamble and file meta are accepted when they parse as DICOM (see the module
    docstring); a truncated or corrupt DICOM file raises :class:`InputError` naming it."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    path = Path(path)
    try:
        return pydicom.dcmread(str(path), stop_before_pixels=stop_before_pixels)
    except InvalidDicomError:
        pass
    except Exception as exc:  # truncated or corrupt file
        raise InputError(f"unreadable DICOM file ({exc})", path) from exc
    return _read_without_file_meta(path, stop_before_pixels)


def _read_without_file_meta(path: Path, stop_before_pixels: bool):
    import warnings

    import pydicom
    from pydicom.dataset import FileMetaDataset

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pydicom warns about every element it cannot place
            ds = pydicom.dcmread(str(path), stop_before_pixels=stop_before_pixels, force=True)
            # A bare dataset is only DICOM if its first elements make sense: a SOP class, or an image.
            sop_class = str(ds.get("SOPClassUID", "") or "")
            looks_like_dicom = (sop_class.startswith("1.2.840.10008.") or
                                (bool(ds.get("Modality")) and ds.get("Rows") is not None))
    except Exception:
        return None
    if not looks_like_dicom:
        return None
    implicit, little = getattr(ds, "original_encoding", (True, True))
    if not getattr(ds, "file_meta", None):
        ds.file_meta = FileMetaDataset()
    if "TransferSyntaxUID" not in ds.file_meta:
        ds.file_meta.TransferSyntaxUID = IMPLICIT_LITTLE if implicit else (EXPLICIT_LITTLE if little else EXPLICIT_BIG)
    ds.read_without_file_meta = True  # plain attribute (not a DICOM element): provenance only
    return ds


def transfer_syntax(ds) -> str:
    return str(getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", "") or "")


def transfer_syntax_name(uid: str) -> str:
    try:
        from pydicom.uid import UID

        name = UID(uid).name
        return f"{name} ({uid})" if name and name != uid else uid
    except Exception:
        return uid or "unknown"


def decode_pixels(ds, path: str | os.PathLike) -> tuple[np.ndarray, str]:
    """(stored pixel values, decoder used) of a dataset read with its pixel data.

    The values are the STORED values (no Modality LUT): the caller applies RescaleSlope and
    RescaleIntercept, so that compressed and uncompressed copies give identical numbers."""
    path = Path(path)
    syntax = transfer_syntax(ds)
    if "PixelData" not in ds:
        raise InputError("the file holds no pixel data", path, "PixelData (7FE0,0010)")
    if not syntax or syntax in NATIVE_TRANSFER_SYNTAXES:
        try:
            return np.asarray(ds.pixel_array), f"pydicom (native, {transfer_syntax_name(syntax)})"
        except Exception as exc:
            raise InputError(f"cannot read the pixel data ({exc})", path, "PixelData (7FE0,0010)") from exc
    errors = []
    try:
        return _decode_with_gdcm(ds, path), f"SimpleITK GDCM ({transfer_syntax_name(syntax)})"
    except Exception as exc:  # GDCM not able to decode this syntax: try pydicom's decoders
        errors.append(f"SimpleITK GDCM: {exc}".splitlines()[0][:200])
    try:
        return np.asarray(ds.pixel_array), f"pydicom ({transfer_syntax_name(syntax)})"
    except Exception as exc:
        errors.append(f"pydicom: {exc}".splitlines()[0][:200])
    raise InputError(f"no decoder for the compressed pixel data (transfer syntax {transfer_syntax_name(syntax)}); "
                     f"tried {'; '.join(errors)}. Install the optional decoders: {DECODER_EXTRA}", path,
                     "TransferSyntaxUID (0002,0010)")


def _decode_with_gdcm(ds, path: Path) -> np.ndarray:
    """Stored values decoded by SimpleITK's GDCMImageIO.

    GDCM applies the Modality LUT (RescaleSlope / Intercept) itself, and chooses the output type
    from the result (integer when the slope is an integer), so whether it was applied cannot be
    told from the values. The file is therefore decoded from a copy without the rescale attributes
    (the compressed pixel data unchanged), and the caller applies each slice's rescale once."""
    import tempfile

    import SimpleITK as sitk

    from pydicom.dataset import Dataset

    rescale = {"RescaleSlope", "RescaleIntercept", "RescaleType"}
    copy = Dataset()  # new elements dictionary: ``ds`` keeps its own rescale
    for element in ds:
        if element.keyword not in rescale:
            copy.add(element)
    copy.file_meta = ds.file_meta
    with tempfile.TemporaryDirectory(prefix="iahprrt-decode-") as folder:
        temporary = Path(folder) / "frame.dcm"
        copy.save_as(str(temporary), enforce_file_format=True)
        reader = sitk.ImageFileReader()
        reader.SetImageIO("GDCMImageIO")
        reader.SetFileName(str(temporary))
        values = sitk.GetArrayFromImage(reader.Execute())
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    rows, cols = int(ds.Rows), int(ds.Columns)
    if values.size != frames * rows * cols:
        raise ValueError(f"GDCM returned {values.shape} for {frames} x {rows} x {cols}")
    bits = int(ds.get("BitsAllocated", 16))
    signed = int(ds.get("PixelRepresentation", 0)) == 1
    dtype = np.dtype(f"{'i' if signed else 'u'}{max(1, bits // 8)}")
    return values.reshape((frames, rows, cols) if frames > 1 else (rows, cols)).astype(dtype)
