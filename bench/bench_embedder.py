"""Throughput of the offline MiniLM embedder on photo-caption-sized texts.

Embeds 2000 generated captions of 10-25 words, once batched (how `photolib add`
embeds) and once one text per call (how a search query is embedded), and prints
sentences per second for both. No assertions: run it and report the figures.

    python bench/bench_embedder.py [--count 2000] [--batch-size 64] [--smoke]
"""

from __future__ import annotations

import argparse
import random
import time

from photolib.core.protocols import ProviderSettings
from photolib.models.minilm import MiniLMEmbedder

SUBJECTS = ["a golden retriever", "two children", "an old fisherman", "a red bicycle", "a snowy mountain",
            "a crowded market", "a small sailboat", "a bowl of ramen", "a stone bridge", "a tabby cat"]
PLACES = ["on a sandy beach", "in a quiet park", "beside a misty lake", "on a busy city street",
          "in a sunlit kitchen", "under a pine forest", "at a harbour", "in a snowy village"]
DETAILS = ["at sunset", "in soft morning light", "during a rainstorm", "with warm golden tones",
           "in black and white", "with a shallow depth of field", "under a clear blue sky",
           "surrounded by autumn leaves", "with reflections on wet pavement", "seen from above"]
EXTRAS = ["people walk by in the background", "the colours are muted and calm", "a flock of birds crosses the frame",
          "long shadows stretch across the ground", "the scene feels peaceful and nostalgic"]


def captions(count: int, seed: int = 7) -> list[str]:
    """Deterministic captions of roughly 10-25 words, like a vision model writes."""
    rng = random.Random(seed)
    texts = []
    for _ in range(count):
        words = f"{rng.choice(SUBJECTS)} {rng.choice(PLACES)} {rng.choice(DETAILS)}".split()
        target = rng.randint(10, 25)
        for extra in rng.sample(EXTRAS, len(EXTRAS)):
            if len(words) >= target:
                break
            words[-1] += ","
            words += extra.split()
        text = " ".join(words[:25])
        texts.append(text[0].upper() + text[1:].rstrip(",") + ".")
    return texts


def rate(count: int, seconds: float) -> str:
    return f"{count / seconds:8.1f} sentences/s  ({seconds:.2f} s for {count})"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--smoke", action="store_true", help="16 captions: the benchmark runs (CI), figures say nothing")
    args = parser.parse_args(argv)
    if args.smoke:
        args.count = 16

    texts = captions(args.count)
    words = [len(t.split()) for t in texts]
    embedder = MiniLMEmbedder(ProviderSettings(provider="local", options={"batch_size": args.batch_size}))
    started = time.perf_counter()
    embedder.embed_query("warm up")
    print(f"model load:  {time.perf_counter() - started:.2f} s")
    print(f"captions:    {len(texts)}, {min(words)}-{max(words)} words, mean {sum(words) / len(words):.1f}")

    started = time.perf_counter()
    embedder.embed_documents(texts)
    print(f"batched:     {rate(len(texts), time.perf_counter() - started)}  (batch_size={args.batch_size})")

    started = time.perf_counter()
    for text in texts:
        embedder.embed_query(text)
    print(f"one-by-one:  {rate(len(texts), time.perf_counter() - started)}")


if __name__ == "__main__":
    main()
