"""Text to vectors with no downloaded weights: hashed word and character n-grams.

Memories are short, technical texts (model names, paths, error messages), where shared tokens such as
``fct_orders`` or ``unique_key`` carry the similarity; hashing their n-grams into a fixed-size vector
ranks them well and needs nothing but the standard library.

Another provider is a function taking a list of texts and returning one vector per text, which a
package installed beside ae registers as an entry point of the ``ae.embeddings`` group:

    [project.entry-points."ae.embeddings"]
    openai = "mypkg.embed:texts"

``memory_embedding`` names it (``openai``, or the ``mypkg.embed:texts`` it registers). Nothing else
is imported: the setting once took any ``module:function``, and ``subprocess:getoutput`` turned a
search text into a shell command. Installing a package is the user's own act of trust; naming a
callable in a settings file is not.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import operator
import re
from collections.abc import Callable, Sequence
from importlib.metadata import entry_points
from typing import cast

from tools.errors import ConfigurationError

Embedder = Callable[[Sequence[str]], list[list[float]]]

HASHED = "hashed"
#: the entry-point group a package registers an embedding function in
ENTRY_POINT_GROUP = "ae.embeddings"
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
    # map and hypot run in C: a search scores hundreds of 512-dimension vectors
    dot = sum(map(operator.mul, a, b))
    norm = math.hypot(*a) * math.hypot(*b)
    return dot / norm if norm else 0.0


def load_embedder(provider: str) -> Embedder:
    """``hashed`` (the default, offline), or an installed ``ae.embeddings`` entry point (by its name or
    the ``module:function`` it registers); anything else is refused before it is imported."""
    if provider == HASHED:
        return hashed_ngrams
    registered = list(entry_points(group=ENTRY_POINT_GROUP))
    chosen = next((ep for ep in registered if provider in (ep.name, ep.value)), None)
    if chosen is None:
        known = ", ".join(sorted(f"{ep.name} ({ep.value})" for ep in registered)) or "none installed"
        raise ConfigurationError(
            f"memory_embedding = {provider!r} is not an embedding function ae knows: it must be "
            f"{HASHED!r} or an installed {ENTRY_POINT_GROUP!r} entry point (registered: {known})",
            hint=f"use {HASHED!r}, or install the package that registers the function under "
            f'[project.entry-points."{ENTRY_POINT_GROUP}"] and name it',
        )
    embed = chosen.load()
    if not callable(embed):
        raise ConfigurationError(
            f"memory_embedding = {provider!r}: entry point {chosen.value} is not a function",
            hint=f"use {HASHED!r}, or fix the package that registers it",
        )
    return cast(Embedder, embed)


def checked_vectors(provider: str, texts: Sequence[str], vectors: object) -> list[list[float]]:
    """``vectors`` when they are one list of numbers per text; else a ConfigurationError naming the
    setting (an embedding function from a package is code ae does not control)."""
    if (
        isinstance(vectors, list)
        and len(vectors) == len(texts)
        and all(isinstance(v, list) and v and all(isinstance(x, int | float) for x in v) for v in vectors)
    ):
        return vectors
    raise ConfigurationError(
        f"memory_embedding = {provider!r} did not return one list of numbers per text",
        hint=f"fix the embedding package, or set memory_embedding to {HASHED!r}",
    )
