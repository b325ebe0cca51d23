#!/usr/bin/env python3
"""Generate a realistic shop database for the tresor benchmarks, and its daily churn.

One deterministic data set for every engine (same rows in SQLite, PostgreSQL and
MariaDB), so sizes and times are comparable across sections.

Tables (row counts at --scale 1.0):
  users        200 000  text, json preferences, timestamps, 40% have a 0.2-1.5 KiB avatar blob
  products      30 000  long text description, numeric price, json attributes, 30% have a 2-8 KiB image blob
  orders       800 000  numeric totals, status, timestamps, shipping address, optional note
  order_items ~2 000 000 composite primary key (order_id, line), numeric prices
  events     1 000 000  json(b) payloads, timestamps, ip addresses

Compressibility is realistic: text is drawn from a vocabulary, so it compresses
about 3-4x; blobs are random bytes (like JPEG/PNG images, incompressible); json
repeats its keys.

Usage:
  gen_shop.py load   --engine sqlite --db FILE [--scale S]
  gen_shop.py load   --engine pg|mysql [--scale S]          > load.sql   (pipe into psql / mariadb)
  gen_shop.py churn  --engine sqlite --db FILE --day D [--scale S]
  gen_shop.py churn  --engine pg|mysql --day D [--scale S]  > churn.sql

Churn of day D (the issue 5 workload, ~1% spread): update 1% of users spread over
the key range (id % 100 == D % 100), insert 3 000 orders (with their items) and
5 000 events after the current maxima, and delete every 1000th event with a
moving offset (id % 1000 == D % 1000).
"""

import argparse
import datetime
import json
import random
import sqlite3
import sys

BASE_TS = 1672531200  # 2023-01-01 00:00:00 UTC

SYLLABLES = [
    "ka", "lo", "mi", "ne", "ru", "sa", "to", "vi", "zu", "an", "be", "co", "da", "el",
    "fi", "go", "ha", "in", "jo", "ku", "la", "mo", "nu", "or", "pa", "qui", "ro", "su",
    "ti", "ul", "ve", "wa", "xi", "yo", "ze", "tra", "pre", "sto", "ble", "gra",
]
STATUSES = ["pending", "paid", "shipped", "delivered", "cancelled", "refunded"]
KINDS = ["page_view", "search", "add_to_cart", "remove_from_cart", "checkout", "login", "logout", "review"]
COUNTRIES = ["DE", "FR", "US", "GB", "IT", "ES", "NL", "PL", "SE", "CH", "AT", "BE", "JP", "CA", "BR"]
CURRENCIES = ["EUR", "USD", "GBP", "CHF", "JPY"]
STREETS = ["Main St", "High St", "Bahnhofstr.", "Rue de la Paix", "Via Roma", "Calle Mayor", "Kings Rd", "Elm Ave"]
BROWSERS = ["firefox", "chrome", "safari", "edge"]


def counts(scale):
    return {
        "users": max(100, int(200_000 * scale)),
        "products": max(50, int(30_000 * scale)),
        "orders": max(100, int(800_000 * scale)),
        "events": max(100, int(1_000_000 * scale)),
    }


class Gen:
    """Row factories; every row depends only on the seeded random state."""

    def __init__(self, seed):
        self.r = random.Random(seed)
        vr = random.Random(12345)
        self.words = sorted({"".join(vr.choice(SYLLABLES) for _ in range(vr.randint(1, 4))) for _ in range(3000)})
        self.first = [w.capitalize() for w in self.words[:300]]
        self.last = [w.capitalize() + "son" if i % 3 == 0 else w.capitalize() for i, w in enumerate(self.words[300:900])]

    def text(self, lo, hi):
        r = self.r
        n = r.randint(lo, hi)
        out = []
        for i in range(n):
            w = r.choice(self.words)
            out.append(w.capitalize() if i == 0 or out[-1].endswith(".") else w)
            if r.random() < 0.08:
                out[-1] += "."
            elif r.random() < 0.05:
                out[-1] += ","
        return " ".join(out) + "."

    def ts(self, lo, hi):
        return BASE_TS + self.r.randint(lo, hi) + self.r.randint(0, 999_999) / 1e6

    def user(self, uid, day=0):
        r = self.r
        fn, ln = r.choice(self.first), r.choice(self.last)
        created = self.ts(0, 86400 * 600)
        updated = created + r.randint(0, 86400 * 30) if day == 0 else BASE_TS + 86400 * (600 + day) + r.random()
        prefs = {
            "newsletter": r.random() < 0.4,
            "language": r.choice(["de", "en", "fr", "it", "es"]),
            "theme": r.choice(["light", "dark", "system"]),
            "notifications": {"email": r.random() < 0.7, "sms": r.random() < 0.1, "push": r.random() < 0.5},
            "favourite_categories": r.sample(self.words[:50], r.randint(0, 4)),
            "rev": day,
        }
        avatar = r.randbytes(r.randint(200, 1500)) if r.random() < 0.4 else None
        return (
            uid,
            f"{fn.lower()}.{ln.lower()}{uid}@example.{r.choice(['com', 'org', 'net', 'de'])}",
            f"{fn} {ln}",
            r.choice(COUNTRIES),
            created,
            updated,
            f"{r.randint(1, 300)} {r.choice(STREETS)}, {r.randint(10000, 99999)} {r.choice(self.words).capitalize()}",
            json.dumps(prefs, separators=(",", ":")),
            avatar,
        )

    def product(self, pid):
        r = self.r
        attrs = {
            "color": r.choice(["red", "green", "blue", "black", "white", "grey"]),
            "size": r.choice(["XS", "S", "M", "L", "XL"]),
            "weight_g": r.randint(10, 20000),
            "tags": r.sample(self.words[:200], r.randint(1, 6)),
            "dimensions": {"w": r.randint(1, 100), "h": r.randint(1, 100), "d": r.randint(1, 100)},
        }
        image = r.randbytes(r.randint(2048, 8192)) if r.random() < 0.3 else None
        return (
            pid,
            f"SKU-{pid:08d}",
            self.text(2, 5).rstrip("."),
            self.text(60, 200),
            round(r.uniform(0.5, 2000), 2),
            r.randint(0, 5000),
            json.dumps(attrs, separators=(",", ":")),
            image,
        )

    def order(self, oid, n_users, day=0):
        r = self.r
        created = self.ts(0, 86400 * 600) if day == 0 else BASE_TS + 86400 * (600 + day) + r.uniform(0, 86400)
        note = self.text(3, 20) if r.random() < 0.15 else None
        return (
            oid,
            r.randint(1, n_users),
            created,
            r.choice(STATUSES),
            0.0,  # total, filled from the items
            r.choice(CURRENCIES),
            f"{r.randint(1, 300)} {r.choice(STREETS)}, {r.randint(10000, 99999)} {r.choice(self.words).capitalize()}",
            note,
        )

    def items(self, oid, n_products):
        r = self.r
        out = []
        for line in range(1, r.choice([1, 1, 2, 2, 2, 3, 3, 4, 5]) + 1):
            out.append((oid, line, r.randint(1, n_products), r.randint(1, 5), round(r.uniform(0.5, 500), 2),
                        round(r.choice([0, 0, 0, 0.05, 0.1, 0.2]), 2)))
        return out

    def event(self, eid, n_users, n_products, day=0):
        r = self.r
        kind = r.choice(KINDS)
        payload = {"session": f"{r.getrandbits(64):016x}", "browser": r.choice(BROWSERS)}
        if kind in ("page_view", "review"):
            payload["path"] = "/" + "/".join(r.sample(self.words[:400], r.randint(1, 3)))
            payload["ms"] = r.randint(20, 3000)
        if kind in ("add_to_cart", "remove_from_cart", "review"):
            payload["product_id"] = r.randint(1, n_products)
            payload["qty"] = r.randint(1, 3)
        if kind == "search":
            payload["query"] = " ".join(r.sample(self.words, r.randint(1, 4)))
            payload["results"] = r.randint(0, 500)
        if kind == "review":
            payload["stars"] = r.randint(1, 5)
            payload["text"] = self.text(5, 40)
        ts = self.ts(0, 86400 * 600) if day == 0 else BASE_TS + 86400 * (600 + day) + r.uniform(0, 86400)
        return (
            eid,
            r.randint(1, n_users),
            ts,
            kind,
            json.dumps(payload, separators=(",", ":")),
            f"{r.randint(1, 223)}.{r.randint(0, 255)}.{r.randint(0, 255)}.{r.randint(1, 254)}",
        )


COLUMNS = {
    "users": ["id", "email", "name", "country", "created_at", "updated_at", "address", "prefs", "avatar"],
    "products": ["id", "sku", "name", "description", "price", "stock", "attributes", "image"],
    "orders": ["id", "user_id", "created_at", "status", "total", "currency", "shipping_address", "note"],
    "order_items": ["order_id", "line", "product_id", "quantity", "unit_price", "discount"],
    "events": ["id", "user_id", "ts", "kind", "payload", "ip"],
}
TS_COLS = {"users": (4, 5), "orders": (2,), "events": (2,)}
BLOB_COLS = {"users": (8,), "products": (7,)}

DDL = {
    "sqlite": """
CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL UNIQUE, name TEXT NOT NULL, country TEXT NOT NULL,
  created_at TEXT NOT NULL, updated_at TEXT NOT NULL, address TEXT, prefs TEXT NOT NULL, avatar BLOB);
CREATE TABLE products (id INTEGER PRIMARY KEY, sku TEXT NOT NULL UNIQUE, name TEXT NOT NULL, description TEXT,
  price NUMERIC NOT NULL, stock INTEGER NOT NULL, attributes TEXT NOT NULL, image BLOB);
CREATE TABLE orders (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL REFERENCES users(id), created_at TEXT NOT NULL,
  status TEXT NOT NULL, total NUMERIC NOT NULL, currency TEXT NOT NULL, shipping_address TEXT, note TEXT);
CREATE TABLE order_items (order_id INTEGER NOT NULL REFERENCES orders(id), line INTEGER NOT NULL,
  product_id INTEGER NOT NULL REFERENCES products(id), quantity INTEGER NOT NULL, unit_price NUMERIC NOT NULL,
  discount NUMERIC NOT NULL, PRIMARY KEY (order_id, line)) WITHOUT ROWID;
CREATE TABLE events (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL, ts TEXT NOT NULL, kind TEXT NOT NULL,
  payload TEXT NOT NULL, ip TEXT);
""",
    "pg": """
SET client_min_messages = warning;
CREATE TABLE users (id bigint PRIMARY KEY, email text NOT NULL UNIQUE, name text NOT NULL, country char(2) NOT NULL,
  created_at timestamptz NOT NULL, updated_at timestamptz NOT NULL, address text, prefs jsonb NOT NULL, avatar bytea);
CREATE TABLE products (id bigint PRIMARY KEY, sku varchar(32) NOT NULL UNIQUE, name text NOT NULL, description text,
  price numeric(12,2) NOT NULL, stock integer NOT NULL, attributes jsonb NOT NULL, image bytea);
CREATE TABLE orders (id bigint PRIMARY KEY, user_id bigint NOT NULL, created_at timestamptz NOT NULL,
  status text NOT NULL, total numeric(14,2) NOT NULL, currency char(3) NOT NULL, shipping_address text, note text);
CREATE TABLE order_items (order_id bigint NOT NULL, line smallint NOT NULL, product_id bigint NOT NULL,
  quantity integer NOT NULL, unit_price numeric(12,2) NOT NULL, discount numeric(4,2) NOT NULL,
  PRIMARY KEY (order_id, line));
CREATE TABLE events (id bigint PRIMARY KEY, user_id bigint NOT NULL, ts timestamptz NOT NULL, kind text NOT NULL,
  payload jsonb NOT NULL, ip inet);
""",
    "mysql": """
SET foreign_key_checks = 0, unique_checks = 0;
CREATE TABLE users (id BIGINT PRIMARY KEY, email VARCHAR(190) NOT NULL UNIQUE, name VARCHAR(200) NOT NULL,
  country CHAR(2) NOT NULL, created_at DATETIME(6) NOT NULL, updated_at DATETIME(6) NOT NULL, address TEXT,
  prefs JSON NOT NULL, avatar BLOB) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
CREATE TABLE products (id BIGINT PRIMARY KEY, sku VARCHAR(32) NOT NULL UNIQUE, name VARCHAR(255) NOT NULL,
  description TEXT, price DECIMAL(12,2) NOT NULL, stock INT NOT NULL, attributes JSON NOT NULL, image MEDIUMBLOB)
  ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
CREATE TABLE orders (id BIGINT PRIMARY KEY, user_id BIGINT NOT NULL, created_at DATETIME(6) NOT NULL,
  status VARCHAR(16) NOT NULL, total DECIMAL(14,2) NOT NULL, currency CHAR(3) NOT NULL, shipping_address TEXT,
  note TEXT) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
CREATE TABLE order_items (order_id BIGINT NOT NULL, line SMALLINT NOT NULL, product_id BIGINT NOT NULL,
  quantity INT NOT NULL, unit_price DECIMAL(12,2) NOT NULL, discount DECIMAL(4,2) NOT NULL,
  PRIMARY KEY (order_id, line)) ENGINE=InnoDB;
CREATE TABLE events (id BIGINT PRIMARY KEY, user_id BIGINT NOT NULL, ts DATETIME(6) NOT NULL,
  kind VARCHAR(32) NOT NULL, payload JSON NOT NULL, ip VARCHAR(45)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
""",
}

# Secondary indexes and foreign keys, added after the bulk load (as a dump tool would).
POST = {
    "sqlite": """
CREATE INDEX orders_user ON orders(user_id);
CREATE INDEX events_user_ts ON events(user_id, ts);
CREATE INDEX order_items_product ON order_items(product_id);
""",
    "pg": """
ALTER TABLE orders ADD CONSTRAINT orders_user_fk FOREIGN KEY (user_id) REFERENCES users(id);
ALTER TABLE order_items ADD CONSTRAINT order_items_order_fk FOREIGN KEY (order_id) REFERENCES orders(id);
ALTER TABLE order_items ADD CONSTRAINT order_items_product_fk FOREIGN KEY (product_id) REFERENCES products(id);
CREATE INDEX orders_user ON orders(user_id);
CREATE INDEX events_user_ts ON events(user_id, ts);
CREATE INDEX order_items_product ON order_items(product_id);
ANALYZE;
""",
    "mysql": """
ALTER TABLE orders ADD INDEX orders_user (user_id), ADD CONSTRAINT orders_user_fk FOREIGN KEY (user_id) REFERENCES users(id);
ALTER TABLE order_items ADD INDEX order_items_product (product_id),
  ADD CONSTRAINT order_items_order_fk FOREIGN KEY (order_id) REFERENCES orders(id),
  ADD CONSTRAINT order_items_product_fk FOREIGN KEY (product_id) REFERENCES products(id);
ALTER TABLE events ADD INDEX events_user_ts (user_id, ts);
SET foreign_key_checks = 1, unique_checks = 1;
""",
}


def fmt_ts(engine, t):
    d = datetime.datetime.fromtimestamp(t, datetime.timezone.utc)
    if engine == "pg":
        return d.strftime("%Y-%m-%d %H:%M:%S.%f+00")
    if engine == "mysql":
        return d.strftime("%Y-%m-%d %H:%M:%S.%f")
    return d.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def pg_field(v):
    if v is None:
        return "\\N"
    if isinstance(v, bytes):
        return "\\\\x" + v.hex()
    s = str(v)
    if "\\" in s or "\t" in s or "\n" in s:
        s = s.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
    return s


def my_field(v):
    if v is None:
        return "NULL"
    if isinstance(v, bytes):
        return "X'" + v.hex() + "'"
    if isinstance(v, (int, float)):
        return repr(v)
    return "'" + str(v).replace("\\", "\\\\").replace("'", "''") + "'"


class Writer:
    """Buffers rows per table and writes them in the engine's bulk form."""

    def __init__(self, engine, db=None):
        self.engine = engine
        self.buf = {}
        self.out = sys.stdout
        self.con = None
        if engine == "sqlite":
            self.con = sqlite3.connect(db, isolation_level=None)
            self.con.execute("PRAGMA journal_mode=WAL")
            self.con.execute("PRAGMA synchronous=OFF")
            self.con.execute("PRAGMA cache_size=-200000")
            self.con.execute("BEGIN")

    def sql(self, text):
        if self.con is not None:
            for stmt in text.split(";\n"):
                if stmt.strip():
                    self.con.execute(stmt)
        else:
            self.out.write(text + "\n")

    def row(self, table, row):
        row = list(row)
        for i in TS_COLS.get(table, ()):
            row[i] = fmt_ts(self.engine, row[i])
        b = self.buf.setdefault(table, [])
        b.append(row)
        if len(b) >= 2000:
            self.flush()  # every table, parents first (orders before order_items)

    def flush(self, table=None):
        for t in [table] if table else list(self.buf):
            rows = self.buf.get(t) or []
            if not rows:
                continue
            cols = COLUMNS[t]
            if self.engine == "sqlite":
                self.con.executemany(
                    f"INSERT INTO {t} ({','.join(cols)}) VALUES ({','.join('?' * len(cols))})", rows)
            elif self.engine == "pg":
                w = self.out.write
                w(f"COPY {t} ({','.join(cols)}) FROM STDIN;\n")
                for r in rows:
                    w("\t".join(map(pg_field, r)))
                    w("\n")
                w("\\.\n")
            else:
                self.out.write(f"INSERT INTO {t} ({','.join(cols)}) VALUES\n")
                self.out.write(",\n".join("(" + ",".join(map(my_field, r)) + ")" for r in rows))
                self.out.write(";\n")
            self.buf[t] = []

    def close(self):
        self.flush()
        if self.con is not None:
            self.con.execute("COMMIT")
            self.con.close()


def load(args):
    c = counts(args.scale)
    g = Gen(42)
    w = Writer(args.engine, args.db)
    if args.engine == "mysql":
        w.sql("SET autocommit = 0;")
    for stmt in DDL[args.engine].strip().split(";\n"):
        if stmt.strip():
            w.sql(stmt.strip().rstrip(";") + ";")
    if args.engine == "pg":
        w.sql("BEGIN;")
    for uid in range(1, c["users"] + 1):
        w.row("users", g.user(uid))
    w.flush()
    for pid in range(1, c["products"] + 1):
        w.row("products", g.product(pid))
    w.flush()
    for oid in range(1, c["orders"] + 1):
        o = list(g.order(oid, c["users"]))
        items = g.items(oid, c["products"])
        o[4] = round(sum(q * p * (1 - d) for (_, _, _, q, p, d) in items), 2)
        w.row("orders", o)
        for it in items:
            w.row("order_items", it)
    w.flush()
    for eid in range(1, c["events"] + 1):
        w.row("events", g.event(eid, c["users"], c["products"]))
    w.flush()
    if args.engine in ("pg", "mysql"):
        w.sql("COMMIT;")
    for stmt in POST[args.engine].strip().split(";\n"):
        if stmt.strip():
            w.sql(stmt.strip().rstrip(";") + ";")
    w.close()


def churn(args):
    """One day of activity; ids of new rows continue from the current maxima."""
    c = counts(args.scale)
    d = args.day
    g = Gen(1000 + d)
    n_new_orders, n_new_events = 3000, 5000
    # New ids: the load wrote ids 1..N; day k appends k-th block after it.
    o0 = c["orders"] + (d - 1) * n_new_orders
    e0 = c["events"] + (d - 1) * n_new_events
    w = Writer(args.engine, args.db)
    if args.engine != "sqlite":
        w.sql("BEGIN;" if args.engine == "pg" else "SET autocommit = 0;")
    # 1% of users, spread over the whole key range.
    upd = [g.user(uid, day=d) for uid in range(1 + (d % 100), c["users"] + 1, 100)]
    if args.engine == "sqlite":
        w.con.executemany(
            "UPDATE users SET name = ?, updated_at = ?, address = ?, prefs = ? WHERE id = ?",
            [(u[2], fmt_ts("sqlite", u[5]), u[6], u[7], u[0]) for u in upd])
    else:
        # Load the new values into a temporary table and update from it.
        if args.engine == "pg":
            w.sql("CREATE TEMP TABLE churn_users (id bigint, name text, updated_at timestamptz, address text, prefs jsonb);")
            w.out.write("COPY churn_users FROM STDIN;\n")
            for u in upd:
                w.out.write("\t".join(map(pg_field, (u[0], u[2], fmt_ts("pg", u[5]), u[6], u[7]))) + "\n")
            w.out.write("\\.\n")
            w.sql("UPDATE users u SET name = c.name, updated_at = c.updated_at, address = c.address, prefs = c.prefs "
                  "FROM churn_users c WHERE u.id = c.id;")
        else:
            w.sql("CREATE TEMPORARY TABLE churn_users (id BIGINT PRIMARY KEY, name VARCHAR(200), updated_at DATETIME(6), "
                  "address TEXT, prefs JSON);")
            w.out.write("INSERT INTO churn_users VALUES\n" + ",\n".join(
                "(" + ",".join(map(my_field, (u[0], u[2], fmt_ts("mysql", u[5]), u[6], u[7]))) + ")" for u in upd) + ";\n")
            w.sql("UPDATE users u JOIN churn_users c ON u.id = c.id SET u.name = c.name, u.updated_at = c.updated_at, "
                  "u.address = c.address, u.prefs = c.prefs;")
    for oid in range(o0 + 1, o0 + n_new_orders + 1):
        o = list(g.order(oid, c["users"], day=d))
        items = g.items(oid, c["products"])
        o[4] = round(sum(q * p * (1 - dd) for (_, _, _, q, p, dd) in items), 2)
        w.row("orders", o)
        for it in items:
            w.row("order_items", it)
    for eid in range(e0 + 1, e0 + n_new_events + 1):
        w.row("events", g.event(eid, c["users"], c["products"], day=d))
    w.flush()
    if args.engine == "sqlite":
        w.con.execute("DELETE FROM events WHERE id % 1000 = ?", (d % 1000,))
    else:
        w.sql(f"DELETE FROM events WHERE id % 1000 = {d % 1000};")
        w.sql("COMMIT;")
    w.close()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("mode", choices=["load", "churn"])
    p.add_argument("--engine", choices=["sqlite", "pg", "mysql"], required=True)
    p.add_argument("--db", help="SQLite file (sqlite engine only)")
    p.add_argument("--scale", type=float, default=1.0)
    p.add_argument("--day", type=int, default=1)
    args = p.parse_args()
    if args.engine == "sqlite" and not args.db:
        p.error("--db is required for the sqlite engine")
    sys.stdout = open(sys.stdout.fileno(), "w", buffering=1 << 20, closefd=False)
    (load if args.mode == "load" else churn)(args)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
