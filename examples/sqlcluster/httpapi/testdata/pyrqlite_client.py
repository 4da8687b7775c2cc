"""Drives a holeycow server through pyrqlite (rqlite's Python DB-API
driver) and, for what pyrqlite has no call for, plain HTTP.

Usage: python3 pyrqlite_client.py HOST PORT. Exits non-zero on the first
failed check."""
import gzip
import json
import sys
import urllib.request

import pyrqlite.dbapi2 as dbapi2

host, port = sys.argv[1], int(sys.argv[2])
base = "http://%s:%d" % (host, port)


def check(cond, what):
    if not cond:
        print("FAIL: " + what, file=sys.stderr)
        sys.exit(1)


def http(method, path, body=None):
    req = urllib.request.Request(base + path, data=body, method=method)
    with urllib.request.urlopen(req) as resp:
        return resp.status, resp.read()


conn = dbapi2.connect(host=host, port=port)
cur = conn.cursor()
cur.execute("CREATE TABLE foo (id INTEGER NOT NULL PRIMARY KEY, name TEXT, n REAL)")
cur.execute("INSERT INTO foo(name, n) VALUES(?, ?)", ("fiona", 1.5))
check(cur.lastrowid == 1, "lastrowid %r" % cur.lastrowid)
cur.executemany("INSERT INTO foo(name, n) VALUES(?, ?)", [("declan", 2.0), ("aoife", None)])
cur.execute('INSERT INTO foo(name) VALUES("dq")')  # double-quoted string
conn.commit()
cur.execute("SELECT name, n FROM foo WHERE id = ?", (1,))
row = cur.fetchone()
check(row[0] == "fiona" and row[1] == 1.5, "row %r" % (row,))
cur.execute("SELECT count(*) FROM foo")
check(cur.fetchone()[0] == 4, "count")
cur.execute("SELECT name FROM foo WHERE name = \"dq\"")
check(cur.fetchone()[0] == "dq", "double-quoted string")

# Every read level, through the HTTP API.
for level in ("none", "weak", "linearizable", "strong", "auto"):
    status, body = http("GET", "/db/query?level=%s&q=SELECT+count(*)+FROM+foo" % level)
    check(status == 200 and json.loads(body)["results"][0]["values"] == [[4]], "level %s: %s" % (level, body))

# A transaction: all or nothing.
status, body = http("POST", "/db/execute?transaction",
                    json.dumps(["INSERT INTO foo(name) VALUES('x')", "INSERT INTO nosuch VALUES(1)"]).encode())
check(status == 200 and "error" in json.loads(body)["results"][1], "transaction %s" % body)
cur.execute("SELECT count(*) FROM foo")
check(cur.fetchone()[0] == 4, "rolled back")

# Queued writes.
status, body = http("POST", "/db/execute?queue", json.dumps([["INSERT INTO foo(name) VALUES(?)", "q"]]).encode())
check(status == 200 and json.loads(body)["sequence_number"] > 0, "queue %s" % body)
status, body = http("POST", "/db/execute?queue&wait", json.dumps([["INSERT INTO foo(name) VALUES(?)", "w"]]).encode())
check(status == 200, "queue&wait %s" % body)
cur.execute("SELECT count(*) FROM foo")
check(cur.fetchone()[0] == 6, "queued rows")

# Backup and load round trip.
status, dump = http("GET", "/db/backup?fmt=sql")
check(status == 200 and b"CREATE TABLE foo" in dump, "dump")
status, packed = http("GET", "/db/backup?compress")
check(status == 200 and gzip.decompress(packed).startswith(b"SQLite format 3\x00"), "compressed backup")
cur.execute("DELETE FROM foo")
status, body = http("POST", "/db/load", dump)
check(status == 200, "load %s" % body)
cur.execute("SELECT count(*) FROM foo")
check(cur.fetchone()[0] == 6, "rows after load")
conn.close()
print("ok")
