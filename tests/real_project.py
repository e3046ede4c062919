"""A dbt project shaped like the ones users bring, not like the ones ae generates.

Modelled on public jaffle-shop variants (BRIEF §10): seeds as raw inputs instead of sources, marts
at the ``models/`` root documented in one ``schema.yml`` with comments, flow lists and blank lines,
``tests:`` (not ``data_tests:``) without ``arguments:``, materializations set in ``dbt_project.yml``,
a ``staging/base/`` model, a coded status value (``'R'``), an undocumented legacy model, and the
profile only in ``$HOME/.dbt/profiles.yml`` with dbt-duckdb's default ``keep_open``.

``write_real_project(root, home)`` writes it and returns the project folder; callers point ``HOME``
at ``home`` (``monkeypatch.setenv("HOME", ...)``) so dbt and ae find the profile where users keep it.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

PROFILE_NAME = "jaffle_shop"

PROFILES = """\
jaffle_shop:
  target: dev
  outputs:
    dev:
      type: duckdb
      path: "{db}"
      threads: 1
"""

DBT_PROJECT = """\
name: 'jaffle_shop'
version: '0.1'
profile: 'jaffle_shop'
config-version: 2

model-paths: ["models"]
seed-paths: ["seeds"]
test-paths: ["tests"]
snapshot-paths: ["snapshots"]
macro-paths: ["macros"]

target-path: "target"
clean-targets:
    - "target"
    - "dbt_packages"

models:
  jaffle_shop:
      materialized: table
      staging:
        materialized: view
"""

# The marts' schema.yml as people write it: comments, blank lines, flow lists, folded text.
MARTS_SCHEMA = """\
version: 2

models:
  # One row per customer, with their order history.
  - name: customers
    description: This table has basic information about a customer, as well as some derived facts based on a customer's orders

    columns:
      - name: customer_id
        description: This is a unique identifier for a customer
        tests:
          - unique
          - not_null

      - name: first_name
        description: Customer's first name. PII.

      - name: last_name
        description: Customer's last name. PII.

      - name: first_order
        description: Date (UTC) of a customer's first order

      - name: most_recent_order
        description: Date (UTC) of a customer's most recent order

      - name: number_of_orders
        description: Count of the number of orders a customer has placed

      - name: total_order_amount   # renamed in the SQL long ago; nobody updated this
        description: Total value (AUD) of a customer's orders

  - name: orders
    description: >
      This table has basic information about orders, as well as some derived facts
      based on payments

    columns:
      - name: order_id
        tests: [unique, not_null]
        description: This is a unique identifier for an order

      - name: customer_id
        description: Foreign key to the customers table
        tests:
          - not_null
          - relationships:
              to: ref('customers')
              field: customer_id

      - name: order_date
        description: Date (UTC) that the order was placed

      - name: status
        description: '{{ doc("orders_status") }}'
        tests:
          - accepted_values:
              values: ['placed', 'shipped', 'completed', 'return_pending', 'returned']

      - name: amount
        description: Total amount (AUD) of the order
        tests: [not_null]
"""

STAGING_SCHEMA = """\
version: 2

models:
  - name: stg_customers
    columns:
      - name: customer_id
        tests:
          - unique
          - not_null

  - name: stg_orders
    columns:
      - name: order_id
        tests:
          - unique
          - not_null
      - name: status
        tests:
          - accepted_values:
              values: ['placed', 'shipped', 'completed', 'return_pending', 'returned']

  - name: stg_payments
    columns:
      - name: payment_id
        tests:
          - unique
          - not_null
"""

DOCS = """\
{% docs orders_status %}

Orders can be one of the following statuses:

| status         | description                                           |
|----------------|-------------------------------------------------------|
| placed         | The order has been placed but has not yet left the warehouse |
| shipped        | The order has been shipped to the customer |
| completed      | The order has been received by the customer |
| return_pending | The customer has indicated that they would like to return the order |
| returned       | The order has been returned by the customer and received at the warehouse |

{% enddocs %}
"""

FILES: dict[str, str] = {
    "dbt_project.yml": DBT_PROJECT,
    "models/schema.yml": MARTS_SCHEMA,
    "models/docs.md": DOCS,
    "models/staging/schema.yml": STAGING_SCHEMA,
    "models/staging/stg_customers.sql": """\
        with source as (
            select * from {{ ref('raw_customers') }}
        ),

        renamed as (
            select
                id as customer_id,
                first_name,
                last_name
            from source
        )

        select * from renamed
        """,
    "models/staging/stg_orders.sql": """\
        with source as (
            select * from {{ ref('raw_orders') }}
        ),

        renamed as (
            select
                id as order_id,
                user_id as customer_id,
                order_date,
                -- the shop's old system wrote 'R' for returned
                case when status = 'R' then 'returned' else status end as status
            from source
        )

        select * from renamed
        """,
    "models/staging/base/base_payments.sql": """\
        select * from {{ ref('raw_payments') }}
        """,
    "models/staging/stg_payments.sql": """\
        with source as (
            select * from {{ ref('base_payments') }}
        ),

        renamed as (
            select
                id as payment_id,
                order_id,
                payment_method,
                -- `amount` is currently stored in cents, so we convert it to dollars
                amount / 100 as amount
            from source
        )

        select * from renamed
        """,
    "models/customers.sql": """\
        with customers as (
            select * from {{ ref('stg_customers') }}
        ),

        orders as (
            select * from {{ ref('stg_orders') }}
        ),

        payments as (
            select * from {{ ref('stg_payments') }}
        ),

        customer_orders as (
            select
                customer_id,
                min(order_date) as first_order,
                max(order_date) as most_recent_order,
                count(order_id) as number_of_orders
            from orders
            group by customer_id
        ),

        customer_payments as (
            select
                orders.customer_id,
                sum(amount) as total_amount
            from payments
            left join orders on payments.order_id = orders.order_id
            group by orders.customer_id
        ),

        final as (
            select
                customers.customer_id,
                customers.first_name,
                customers.last_name,
                customer_orders.first_order,
                customer_orders.most_recent_order,
                customer_orders.number_of_orders,
                customer_payments.total_amount as customer_lifetime_value
            from customers
            left join customer_orders on customers.customer_id = customer_orders.customer_id
            left join customer_payments on customers.customer_id = customer_payments.customer_id
        )

        select * from final
        """,
    "models/orders.sql": """\
        {% set payment_methods = ['credit_card', 'coupon', 'bank_transfer', 'gift_card'] %}

        with orders as (
            select * from {{ ref('stg_orders') }}
        ),

        payments as (
            select * from {{ ref('stg_payments') }}
        ),

        order_payments as (
            select
                order_id,
                {% for payment_method in payment_methods -%}
                sum(case when payment_method = '{{ payment_method }}' then amount else 0 end)
                    as {{ payment_method }}_amount,
                {% endfor -%}
                sum(amount) as total_amount
            from payments
            group by order_id
        ),

        final as (
            select
                orders.order_id,
                orders.customer_id,
                orders.order_date,
                orders.status,
                order_payments.total_amount as amount
            from orders
            left join order_payments on orders.order_id = order_payments.order_id
        )

        select * from final
        """,
    # legacy: no description, no tests, nobody remembers who reads it
    "models/order_status_counts.sql": """\
        select status, count(*) as orders
        from {{ ref('stg_orders') }}
        group by status
        """,
}

_STATUSES = ["placed", "shipped", "completed", "return_pending", "R"]
_METHODS = ["credit_card", "coupon", "bank_transfer", "gift_card"]


def _seeds() -> dict[str, str]:
    """Small deterministic raw data: 20 customers, 40 orders, 50 payments."""
    customers = ["id,first_name,last_name"] + [f"{i},First{i},L{i % 7}" for i in range(1, 21)]
    orders = ["id,user_id,order_date,status"] + [
        f"{i},{(i * 7) % 20 + 1},2018-01-{(i % 28) + 1:02d},{_STATUSES[i % len(_STATUSES)]}"
        for i in range(1, 41)
    ]
    payments = ["id,order_id,payment_method,amount"] + [
        f"{i},{(i % 40) + 1},{_METHODS[i % len(_METHODS)]},{(i * 137) % 3000 + 100}" for i in range(1, 51)
    ]
    return {
        "seeds/raw_customers.csv": "\n".join(customers) + "\n",
        "seeds/raw_orders.csv": "\n".join(orders) + "\n",
        "seeds/raw_payments.csv": "\n".join(payments) + "\n",
    }


def write_real_project(root: Path, home: Path, *, db_name: str = "jaffle_shop.duckdb") -> Path:
    """Write the project to ``root`` and its profile to ``home/.dbt/profiles.yml``; return ``root``.

    The warehouse path in the profile is absolute (as users' often are), and the file does not exist
    yet: ``dbt seed`` (or ``ae run "/dbt-seed ..."``) creates it.
    """
    for relpath, text in {**FILES, **_seeds()}.items():
        path = root / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text) if relpath.endswith(".sql") else text, encoding="utf-8")
    for folder in ("macros", "tests", "snapshots", "analyses"):
        (root / folder).mkdir(exist_ok=True)
    (root / ".gitignore").write_text("target/\ndbt_packages/\nlogs/\n", encoding="utf-8")
    dbt_dir = home / ".dbt"
    dbt_dir.mkdir(parents=True, exist_ok=True)
    (dbt_dir / "profiles.yml").write_text(PROFILES.format(db=root / db_name), encoding="utf-8")
    return root
