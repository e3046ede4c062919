"""Text to vectors with no downloaded weights: hashed word and character n-grams.

Memories are short, technical texts (model names, paths, error messages), where shared tokens such as
``fct_orders`` or ``unique_key`` carry the similarity; hashing their n-grams into a fixed-size vector
ranks them well and needs nothing but the standard library. Any other provider can be configured as
``module:function`` taking a list of texts and returning one vector per text.
"""

from __future__ import annotations

import hashlib
import importlib
import itertools
import math
import re
from collections.abc import Callable, Sequence

from tools.errors import ConfigurationError

Embedder = Callable[[Sequence[str]], list[list[float]]]

HASHED = "hashed"
DIMENSIONS = 512
_WORD = re.compile(r"[a-z0-9]+(?:_[a-z0-9]+)*")


def _features(text: str) -> list[str]:
    """Words, their ``_`` parts, word pairs and character trigrams of each word."""
    words = _WORD.findall(text.lower())
    features = [f"w:{w}" for w in words]
    features += [f"p:{part}" for w in words if "_" in w for part in w.split("_")]
    features += [f"b:{a} {b}" for a, b in itertools.pairwise(words)]
    features += [f"c:{w[i : i + 3]}" for w in words for i in range(max(1, len(w) - 2))]
    return features


def hashed_ngrams(texts: Sequence[str]) -> list[list[float]]:
    """One unit-length vector per text (all zeros for a text with no words)."""
    vectors = []
    for text in texts:
        vector = [0.0] * DIMENSIONS
        for feature in _features(text):
            digest = hashlib.blake2b(feature.encode(), digest_size=8).digest()
            bucket = int.from_bytes(digest[:4], "little") % DIMENSIONS
            vector[bucket] += 1.0 if digest[4] & 1 else -1.0
        norm = math.sqrt(sum(v * v for v in vector)) or 1.0
        vectors.append([v / norm for v in vector])
    return vectors


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=False))
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return dot / norm if norm else 0.0


def load_embedder(provider: str) -> Embedder:
    """``hashed`` (the default, offline) or ``module:function`` for any other embedding provider."""
    if provider == HASHED:
        return hashed_ngrams
    module_name, colon, function = provider.partition(":")
    if not colon or not module_name or not function:
        raise ConfigurationError(
            f"memory_embedding = {provider!r} is neither 'hashed' nor 'module:function'",
            hint="set memory_embedding: hashed in ae.yml, or name a function such as mypkg.embed:texts",
        )
    embed: Embedder = getattr(importlib.import_module(module_name), function)
    return embed
