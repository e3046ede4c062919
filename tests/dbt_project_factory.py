"""Small real dbt-duckdb projects in temp dirs, for tests that run dbt for real."""

from __future__ import annotations

import textwrap
from pathlib import Path

import duckdb

PROFILE = """\
tiny:
  target: dev
  outputs:
    dev:
      type: duckdb
      path: tiny.duckdb
      keep_open: false
      threads: 1
    prod:
      type: duckdb
      path: tiny.duckdb
      schema: prod
      keep_open: false
      threads: 1
"""

SCHEMA = """\
version: 2
sources:
  - name: raw
    schema: raw
    tables:
      - name: people
models:
  - name: stg_people
    columns:
      - name: person_id
        data_tests: [unique, not_null]
  - name: adults
    columns:
      - name: person_id
        data_tests:
          - accepted_values:
              arguments:
                values: [1]
"""


def write_tiny_project(root: Path) -> Path:
    """A project with one source, a staging model, a dependent model, and one failing test."""
    (root / "models").mkdir(parents=True)
    (root / "dbt_project.yml").write_text("name: tiny\nversion: '1.0'\nprofile: tiny\n")
    (root / "profiles.yml").write_text(PROFILE)
    (root / "models" / "schema.yml").write_text(SCHEMA)
    (root / "models" / "stg_people.sql").write_text(
        "select id as person_id, name, age from {{ source('raw', 'people') }}\n"
    )
    (root / "models" / "adults.sql").write_text(
        textwrap.dedent(
            """\
            select person_id, name from {{ ref('stg_people') }}
            where age >= {{ var('adult_age', 18) }}
            """
        )
    )
    with duckdb.connect(str(root / "tiny.duckdb")) as con:
        con.execute("create schema raw")
        con.execute(
            "create table raw.people as "
            "select * from (values (1, 'ann', 30), (2, 'bob', 40), (3, 'cy', 9)) t(id, name, age)"
        )
    return root
