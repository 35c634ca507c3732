"""Reads what Strata's SQL layer serves with real third-party clients and
prints one JSON object with what each saw, for tests/integration/sql.rs.

usage: sql_clients.py PARQUET_FILE FLIGHT_URI QUERY

- pyarrow.parquet and DuckDB read the Parquet file written by
  `strata export`: row count, value sum, distinct hosts, column names.
- adbc-driver-flightsql runs QUERY over Arrow Flight SQL (rows as lists).
"""

import json
import sys

import adbc_driver_flightsql.dbapi as flight_sql
import duckdb
import pyarrow.parquet as pq

path, uri, query = sys.argv[1], sys.argv[2], sys.argv[3]

table = pq.read_table(path)
out = {
    "pyarrow": {
        "rows": table.num_rows,
        "sum": sum(v for v in table.column("value").to_pylist()),
        "hosts": sorted(set(table.column("hostname").to_pylist())),
        "columns": table.column_names,
    }
}

con = duckdb.connect()
rows, total, hosts = con.execute(
    f"SELECT count(*), sum(value), count(DISTINCT hostname) FROM read_parquet('{path}')"
).fetchone()
out["duckdb"] = {"rows": rows, "sum": total, "hosts": hosts}

with flight_sql.connect(uri) as conn:
    cur = conn.cursor()
    cur.execute(query)
    result = cur.fetch_arrow_table()
    out["flight"] = {
        "columns": result.column_names,
        "rows": [list(r.values()) for r in result.to_pylist()],
    }
    cur.close()

print(json.dumps(out))
