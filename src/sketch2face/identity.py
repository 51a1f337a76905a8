"""Face identity with dlib's ResNet (128-d embeddings, 99.38% on LFW) from ``face-recognition-models``
(CC0): HOG face detector, 5-point landmarks, aligned 150x150 chip -> embedding."""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from .errors import MetricUnavailableError


def dlib_model_file(name: str) -> str:
    """Path of one of face-recognition-models' dlib files (detectors, landmark predictors, recogniser).

    Raises:
        MetricUnavailableError: the package or the file is missing.
    """
    # find_spec does not run the package's __init__ (which needs pkg_resources)
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise MetricUnavailableError("identity metrics need face-recognition-models==0.3.0 and dlib-bin")
    path = Path(list(spec.submodule_search_locations)[0]) / "models" / name
    if not path.is_file():
        raise MetricUnavailableError(f"{path} is missing; reinstall face-recognition-models==0.3.0")
    return str(path)


@lru_cache(maxsize=1)
def dlib_models():
    """(dlib, HOG face detector, 5-point landmark predictor, ResNet recogniser), loaded once; shared
    by identity, alignment and the freehand drawings.

    Raises:
        MetricUnavailableError: dlib or face-recognition-models is missing.
    """
    try:
        import dlib
    except ImportError:
        raise MetricUnavailableError("identity metrics need dlib (pip install dlib-bin)") from None
    return (dlib, dlib.get_frontal_face_detector(),
            dlib.shape_predictor(dlib_model_file("shape_predictor_5_face_landmarks.dat")),
            dlib.face_recognition_model_v1(dlib_model_file("dlib_face_recognition_resnet_model_v1.dat")))


@dataclass
class FaceEmbedding:
    vector: np.ndarray
    """128-d embedding; same person if the Euclidean distance is below about 0.6."""
    detected: bool
    """False when no face was found and the fallback box (the image's central region) was used."""


def embed_face(image: np.ndarray) -> FaceEmbedding:
    """uint8 HxWx3 RGB -> identity embedding of the largest detected face (fallback: central box)."""
    dlib, detector, predictor, recogniser = dlib_models()
    image = np.ascontiguousarray(image)
    faces = detector(image, 1)
    detected = len(faces) > 0
    if detected:
        box = max(faces, key=lambda r: r.width() * r.height())
    else:
        h, w = image.shape[:2]
        box = dlib.rectangle(int(0.2 * w), int(0.25 * h), int(0.8 * w), int(0.8 * h))
    shape = predictor(image, box)
    return FaceEmbedding(np.asarray(recogniser.compute_face_descriptor(image, shape)), detected)


def retrieval_ranks(queries: np.ndarray, gallery: np.ndarray) -> np.ndarray:
    """1-based rank of gallery[i] among all gallery entries for queries[i] (Euclidean distance)."""
    distances = np.linalg.norm(queries[:, None, :] - gallery[None, :, :], axis=2)
    true = distances[np.arange(len(queries)), np.arange(len(queries))]
    return (distances < true[:, None]).sum(axis=1) + 1
