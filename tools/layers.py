"""Layers and kinds of models, from their path and name: the one table the lint, the planners and
memory share.

The naming table says, for each kind of model ae generates, its name prefix, its layer, the folder
ae gives it when the project shows no habit yet, and its default materialization. The layer of an
existing model comes from its folder (``models/staging/``, ``models/marts/``) or its name prefix, as
dbt's style guide names them; a model neither tells is ``other``. Base models (``staging/base/``,
``base_``) are staging: they are the raw side of the common ``stg_x -> base_x`` split. The entity is
the name without its layer prefix or source, singular (``stg_shop__customers`` is about a customer).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Literal, get_args

Layer = Literal["staging", "intermediate", "marts"]
AnyLayer = Literal["staging", "intermediate", "marts", "other"]
ModelType = Literal["staging", "intermediate", "fact", "dimension"]
Materialization = Literal["view", "table", "incremental", "ephemeral"]


@dataclass(frozen=True)
class ModelKind:
    """One row of the naming table."""

    model_type: ModelType
    prefix: str
    layer: Layer
    #: where ae puts this kind when the project keeps no model of its layer yet
    folder: str
    materialization: Materialization


#: prefix -> layer -> model type -> folder -> default materialization
MODEL_KINDS: tuple[ModelKind, ...] = (
    ModelKind("staging", "stg_", "staging", "models/staging", "view"),
    ModelKind("intermediate", "int_", "intermediate", "models/intermediate", "view"),
    ModelKind("fact", "fct_", "marts", "models/marts", "table"),
    ModelKind("dimension", "dim_", "marts", "models/marts", "table"),
)
KINDS: dict[ModelType, ModelKind] = {kind.model_type: kind for kind in MODEL_KINDS}
MODEL_TYPES: tuple[ModelType, ...] = get_args(ModelType)
MATERIALIZATIONS: tuple[Materialization, ...] = get_args(Materialization)
#: the folder of each layer when the project has no model of it yet
DEFAULT_FOLDERS: dict[Layer, str] = {kind.layer: kind.folder for kind in MODEL_KINDS}
#: a name with no prefix of the table is made a fact: projects name their marts bare (jaffle_shop's
#: ``customers``, ``orders``) and ae's conventions put ``other`` models where marts go. Its layer stays
#: ``other`` until its folder says more.
UNPREFIXED_MODEL_TYPE: ModelType = "fact"

_STAGING_FOLDERS = frozenset({"staging", "base"})
#: base models are staging (the raw half of a staging pair); ae does not generate them
_BASE_PREFIX = "base_"
_LAYER_PREFIX = re.compile(r"^(?:raw|stg|base|int|fct|fact|dim)_")


def kind_of_name(name: str) -> ModelKind | None:
    """The table's row whose prefix ``name`` has (None: no prefix of the table)."""
    return next((kind for kind in MODEL_KINDS if name.startswith(kind.prefix)), None)


def model_type_of(name: str) -> ModelType:
    """The ``/dbt-model --type`` a name implies: its prefix's, else ``UNPREFIXED_MODEL_TYPE``."""
    kind = kind_of_name(name)
    return kind.model_type if kind else UNPREFIXED_MODEL_TYPE


def layer_of_path(path: str, name: str) -> AnyLayer:
    """The layer of a model defined at ``path`` (relative to the project) named ``name``."""
    folders = PurePosixPath(path).parts[:-1]
    kind = kind_of_name(name)
    named = kind.layer if kind else None
    if _STAGING_FOLDERS.intersection(folders) or name.startswith(_BASE_PREFIX) or named == "staging":
        return "staging"
    if "intermediate" in folders or named == "intermediate":
        return "intermediate"
    if "marts" in folders or named == "marts":
        return "marts"
    return "other"


def is_base_path(path: str, name: str) -> bool:
    """Whether a model at ``path`` named ``name`` is a base model: the raw half of a staging pair
    (``staging/base/`` or ``base_``)."""
    return "base" in PurePosixPath(path).parts[:-1] or name.startswith(_BASE_PREFIX)


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
