"""Runs the statements record.mjs captured on ClickHouse 18.16 in chdb (the current ClickHouse
engine, in process) over the same rows and schema, and compares every answer row for row (as a
multiset: a statement without ORDER BY may return its rows in any order, and the Worker places
rows by their keys). Exits 1 on any statement the engine refuses or any answer that differs."""

import glob
import json
import re
import sys
import tempfile

import chdb
from chdb import session

out, root = sys.argv[1], sys.argv[2]
db = session.Session(tempfile.mkdtemp(prefix="spur-chdb-"))
for path in sorted(glob.glob(f"{root}/clickhouse/migrations/*.sql")):
    text = re.sub(r"--[^\n]*", "", open(path).read())
    for stmt in (s.strip() for s in text.split(";")):
        if stmt:
            db.query(stmt)
for table in ("events", "aliases", "users"):
    db.query(f"INSERT INTO {table} FROM INFILE '{out}/{table}.jsonl' FORMAT JSONEachRow")

version = db.query("SELECT version()", "CSV").bytes().decode().strip().strip('"')
print(f"chdb {chdb.__version__}, ClickHouse {version}")
rows = lambda text: sorted(json.dumps(json.loads(l), sort_keys=True) for l in text.splitlines() if l.strip())
bad = 0
for asked in json.load(open(f"{out}/statements.json")):
    for st in asked["statements"]:
        settings = ", ".join(f"{k}={v}" for k, v in st["settings"])
        sql = st["sql"]
        if settings:
            sql = sql.replace(" FORMAT JSONEachRow", f" SETTINGS {settings} FORMAT JSONEachRow")
        try:
            answer = db.query(sql).bytes().decode()
        except Exception as e:  # the engine refused the statement
            bad += 1
            print(f"REFUSED  {asked['name']}: {str(e)[:400]}")
            continue
        same = rows(answer) == rows(st["answer"])
        bad += not same
        print(f"{'same' if same else 'DIFFERS'}  {asked['name']} ({len(rows(answer))} rows)")
        if not same:
            print(f"  18.16:   {st['answer'][:300]}\n  current: {answer[:300]}")
print("every statement runs on both, with the same answers" if not bad else f"{bad} statements differ")
sys.exit(1 if bad else 0)
