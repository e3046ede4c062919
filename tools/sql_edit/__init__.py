"""Edits of a dbt model's SQL in place, on its syntax tree, keeping every byte of the user's text that
the edit does not change (Jinja loops, CTE names, comments, layout). Each edit parses the model's
source with its Jinja set aside at the same length (positions) and its compiled SQL with sqlglot
(meaning), returns the new text with a one-line description, and refuses with ``EditRefused`` (a
model-fixable ``InvalidArguments``: exit 2) when it cannot be made safely. Pure functions: no dbt
call, no file read or written.

- ``make_incremental``: config + ``is_incremental()`` filter on the relation that drives the grain
  (``grain_relation`` names that relation first, so a caller can choose its time column)
- ``add_column`` / ``rename_column``: the model's output
- ``rename_everywhere``: a rename in the model, the downstream SQL (``rename_references``) and the YAML
  (``rename_in_yaml``), as path -> new text for one changeset
- ``set_materialization``: the ``config()`` call
- ``extract_cte``: a CTE becomes its own model, referenced by ``ref``

Each result lists the edit's downstream impact when given the model's column lineage
(``tools.column_lineage.ModelLineage``).
"""

from tools.sql_edit.columns import add_column, rename_column
from tools.sql_edit.compiled import Relations
from tools.sql_edit.config_call import set_materialization
from tools.sql_edit.extract import CteOutput, cte_output, extract_cte
from tools.sql_edit.incremental import GrainRelation, choose_time_column, grain_relation, make_incremental
from tools.sql_edit.rename import SqlFile, rename_everywhere, rename_references
from tools.sql_edit.result import EditResult, ExtractResult, ProjectEdit
from tools.sql_edit.text import EditRefused
from tools.sql_edit.yaml_rename import rename_in_yaml

__all__ = [
    "CteOutput",
    "EditRefused",
    "EditResult",
    "ExtractResult",
    "GrainRelation",
    "ProjectEdit",
    "Relations",
    "SqlFile",
    "add_column",
    "choose_time_column",
    "cte_output",
    "extract_cte",
    "grain_relation",
    "make_incremental",
    "rename_column",
    "rename_everywhere",
    "rename_in_yaml",
    "rename_references",
    "set_materialization",
]
