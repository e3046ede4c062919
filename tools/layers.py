"""A model's layer and entity, from its path and name: the one definition the lint and planners share.

The layer comes from the folder (``models/staging/``, ``models/marts/``) or the name prefix, as dbt's
style guide names them. Base models (``staging/base/``, ``base_``) are staging: they are the raw
side of the common ``stg_x -> base_x`` split. The entity is the name without its layer prefix or
source, singular (``stg_shop__customers`` is about a customer).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import PurePosixPath
from typing import Any, Literal

Layer = Literal["staging", "intermediate", "marts"]
AnyLayer = Literal["staging", "intermediate", "marts", "other"]

_STAGING_FOLDERS = frozenset({"staging", "base"})
_LAYER_PREFIX = re.compile(r"^(?:raw|stg|base|int|fct|fact|dim)_")


def layer_of_path(path: str, name: str) -> AnyLayer:
    """The layer of a model defined at ``path`` (relative to the project) named ``name``."""
    folders = PurePosixPath(path).parts[:-1]
    if _STAGING_FOLDERS.intersection(folders) or name.startswith(("stg_", "base_")):
        return "staging"
    if "intermediate" in folders or name.startswith("int_"):
        return "intermediate"
    if "marts" in folders or name.startswith(("fct_", "dim_")):
        return "marts"
    return "other"


def layer_of(node: Mapping[str, Any]) -> AnyLayer:
    """The layer of a manifest node."""
    return layer_of_path(str(node.get("original_file_path") or ""), str(node.get("name", "")))


def is_base_model(node: Mapping[str, Any]) -> bool:
    """A base model: the raw half of a staging pair (``staging/base/`` or ``base_``)."""
    path = PurePosixPath(str(node.get("original_file_path") or ""))
    return "base" in path.parts[:-1] or str(node.get("name", "")).startswith("base_")


def singular(word: str) -> str:
    if word.endswith("ies") and len(word) > 3:
        return word[:-3] + "y"
    if word.endswith(("ses", "xes", "ches", "shes")):
        return word[:-2]
    if word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def bare_name(model_name: str) -> str:
    """stg_shop__customers -> customers; fct_orders -> orders; raw_orders (a seed) -> orders."""
    return _LAYER_PREFIX.sub("", model_name.lower()).rsplit("__", 1)[-1]


def entity_of(name: str) -> str:
    """The singular entity a model or table is about: stg_orders -> order, supplies -> supply."""
    return singular(bare_name(name))
