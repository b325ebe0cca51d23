#!/usr/bin/env python3
"""Wine-cellar data set for bench/mongo.sh, and the checks around it.

    mongo_load.py load   URL DB DOCS      load DOCS documents (deterministic) into DB
    mongo_load.py scan   URL DB           read every collection in full (raw BSON), print counts
    mongo_load.py scan-buckets URL DB     the same with the _id-type bucket queries tresor sends
    mongo_load.py count  URL DB           print "collection count" per collection
    mongo_load.py verify URL SRC DST N    same counts, N random documents byte-equal, same indexes

Collections (shares of DOCS): users 5 %, wines 25 %, pairings 30 %, chats 40 %.
Documents hold nested documents, arrays, dates, ObjectIds, Decimal128, int64,
booleans, nulls, and a few longer text fields (tasting notes, chat messages).
"""

import datetime as dt
import random
import sys
import time
from decimal import Decimal

from bson import Decimal128, Int64, ObjectId
from bson.raw_bson import RawBSONDocument
from pymongo import ASCENDING, DESCENDING, MongoClient

SHARES = [("users", 0.05), ("wines", 0.25), ("pairings", 0.30), ("chats", 0.40)]
BATCH = 5000

WORDS = (
    "oak cherry plum tannin acidity vanilla tobacco leather earthy mineral citrus "
    "peach apricot honey butter toast smoke pepper spice violet rose blackberry "
    "cassis graphite cedar mocha chocolate herbal grassy flint saline long short "
    "finish balanced structured elegant bold ripe jammy crisp fresh round velvety"
).split()
COUNTRIES = {
    "France": ["Bordeaux", "Burgundy", "Champagne", "Rhone", "Loire", "Alsace"],
    "Italy": ["Piedmont", "Tuscany", "Veneto", "Sicily"],
    "Spain": ["Rioja", "Ribera del Duero", "Priorat"],
    "USA": ["Napa Valley", "Sonoma", "Willamette Valley"],
    "Germany": ["Mosel", "Rheingau", "Pfalz"],
    "Portugal": ["Douro", "Alentejo"],
}
GRAPES = ["Cabernet Sauvignon", "Merlot", "Pinot Noir", "Syrah", "Grenache", "Nebbiolo",
          "Sangiovese", "Tempranillo", "Chardonnay", "Riesling", "Sauvignon Blanc", "Chenin Blanc"]
DISHES = ["roast lamb", "duck confit", "grilled salmon", "mushroom risotto", "beef bourguignon",
          "oysters", "goat cheese salad", "pad thai", "lobster", "pork belly", "tiramisu", "brie"]
FIRST = ["Anna", "Ben", "Chloe", "David", "Emma", "Felix", "Greta", "Hugo", "Ines", "Jonas",
         "Klara", "Luca", "Mia", "Noah", "Olga", "Paul", "Rosa", "Sven", "Tara", "Yusuf"]
LAST = ["Martin", "Bernard", "Rossi", "Garcia", "Muller", "Schmidt", "Silva", "Smith",
        "Dubois", "Bianchi", "Lopez", "Weber", "Novak", "Jensen", "Costa", "Moreau"]
EPOCH = dt.datetime(2019, 1, 1, tzinfo=dt.timezone.utc)


def oid(kind, i):
    # deterministic ObjectIds: 4-byte time, 1-byte kind, 7-byte counter
    return ObjectId((1546300800 + i // 50).to_bytes(4, "big") + bytes([kind]) + i.to_bytes(7, "big"))


def text(r, n):
    return " ".join(r.choice(WORDS) for _ in range(n)).capitalize() + "."


def when(r):
    return EPOCH + dt.timedelta(seconds=r.randrange(0, 6 * 365 * 86400), milliseconds=r.randrange(1000))


def dec(r, lo, hi):
    return Decimal128(Decimal(r.randrange(lo * 100, hi * 100)) / 100)


def user(r, i):
    first, last = r.choice(FIRST), r.choice(LAST)
    country = r.choice(list(COUNTRIES))
    return {
        "_id": oid(1, i),
        "email": f"{first.lower()}.{last.lower()}{i}@example.com",
        "name": {"first": first, "last": last},
        "created_at": when(r),
        "last_login": when(r) if r.random() < 0.9 else None,
        "active": r.random() < 0.95,
        "roles": ["member"] + (["sommelier"] if r.random() < 0.05 else []) + (["admin"] if i % 997 == 0 else []),
        "profile": {
            "bio": text(r, r.randrange(10, 60)),
            "address": {"city": f"City {r.randrange(500)}", "country": country, "zip": f"{r.randrange(10000, 99999)}"},
            "preferences": {"colors": r.sample(["red", "white", "rose", "sparkling"], r.randrange(1, 4)),
                            "budget": dec(r, 10, 300), "newsletter": r.random() < 0.3},
        },
        "cellar_value": dec(r, 0, 250000),
        "login_count": Int64(r.randrange(0, 5_000_000)),
    }


def wine(r, i, users):
    country = r.choice(list(COUNTRIES))
    return {
        "_id": oid(2, i),
        "owner_id": oid(1, r.randrange(users)),
        "name": f"{r.choice(['Chateau', 'Domaine', 'Tenuta', 'Bodega', 'Weingut'])} {r.choice(LAST)} {r.choice(GRAPES)}",
        "vintage": r.randrange(1961, 2024),
        "region": {"country": country, "appellation": r.choice(COUNTRIES[country]),
                   "geo": {"type": "Point", "coordinates": [round(r.uniform(-10, 20), 5), round(r.uniform(35, 55), 5)]}},
        "grapes": [{"variety": g, "percent": p} for g, p in zip(r.sample(GRAPES, 2), (r.randrange(50, 100), 0))],
        "bottle": {"size_ml": r.choice([375, 750, 750, 750, 1500]), "count": r.randrange(1, 24), "location": {"rack": r.randrange(40), "slot": r.randrange(100)}},
        "price": dec(r, 8, 900),
        "rating": round(r.uniform(70, 100), 1),
        "drink_window": {"from": r.randrange(2020, 2030), "to": r.randrange(2030, 2060)},
        "tasting_notes": text(r, r.randrange(30, 120)),
        "tags": r.sample(WORDS, r.randrange(0, 6)),
        "added_at": when(r),
        "opened": r.random() < 0.2,
    }


def pairing(r, i, users, wines):
    return {
        "_id": oid(3, i),
        "wine_id": oid(2, r.randrange(wines)),
        "user_id": oid(1, r.randrange(users)),
        "dish": r.choice(DISHES),
        "score": r.randrange(1, 6),
        "confidence": r.random(),
        "reasons": [text(r, r.randrange(4, 12)) for _ in range(r.randrange(1, 4))],
        "source": r.choice(["user", "ai", "sommelier"]),
        "created_at": when(r),
    }


def chat(r, i, users, wines):
    start = when(r)
    messages = []
    for k in range(r.randrange(2, 7)):
        messages.append({
            "role": "user" if k % 2 == 0 else "assistant",
            "text": text(r, r.randrange(8, 70)),
            "at": start + dt.timedelta(seconds=30 * k),
            "wine_refs": [oid(2, r.randrange(wines)) for _ in range(r.randrange(0, 3))],
        })
    return {
        "_id": oid(4, i),
        "user_id": oid(1, r.randrange(users)),
        "started_at": start,
        "model": r.choice(["cellar-gpt-1", "cellar-gpt-2"]),
        "messages": messages,
        "tokens": Int64(r.randrange(100, 20000)),
        "cost": dec(r, 0, 5),
        "rating": r.choice([None, 1, 2, 3, 4, 5]),
    }


def sizes(total):
    n = {name: int(total * share) for name, share in SHARES}
    n["chats"] += total - sum(n.values())
    return n


def load(url, db_name, total):
    client = MongoClient(url)
    db = client[db_name]
    n = sizes(total)
    t0 = time.time()
    for name, _ in SHARES:
        r = random.Random(f"{name}-{total}")
        coll = db[name]
        coll.drop()
        c0, batch, gen_s = time.time(), [], 0.0
        for i in range(n[name]):
            g = time.perf_counter()
            if name == "users":
                batch.append(user(r, i))
            elif name == "wines":
                batch.append(wine(r, i, n["users"]))
            elif name == "pairings":
                batch.append(pairing(r, i, n["users"], n["wines"]))
            else:
                batch.append(chat(r, i, n["users"], n["wines"]))
            gen_s += time.perf_counter() - g
            if len(batch) == BATCH or i == n[name] - 1:
                coll.insert_many(batch, ordered=False)
                batch = []
        print(f"{name}: {n[name]} documents in {time.time() - c0:.1f} s ({gen_s:.1f} s generating)", file=sys.stderr)
    # secondary indexes an app like this has (restored by tresor after the load)
    db.users.create_index([("email", ASCENDING)], unique=True)
    db.wines.create_index([("owner_id", ASCENDING), ("vintage", DESCENDING)])
    db.pairings.create_index([("wine_id", ASCENDING)])
    db.chats.create_index([("user_id", ASCENDING), ("started_at", DESCENDING)])
    print(f"loaded {total} documents in {time.time() - t0:.1f} s", file=sys.stderr)


def raw_client(url):
    return MongoClient(url, document_class=RawBSONDocument)


def names(db):
    return sorted(c for c in db.list_collection_names() if not c.startswith("system."))


def count(url, db_name):
    db = MongoClient(url)[db_name]
    for c in names(db):
        print(c, db[c].count_documents({}))


def scan(url, db_name):
    """Reads every collection in full, raw, in _id order like tresor does."""
    db = raw_client(url)[db_name]
    docs = nbytes = 0
    for c in names(db):
        for d in db[c].find({}, sort=[("_id", 1)], batch_size=1024):
            docs += 1
            nbytes += len(d.raw)
    print(f"{docs} {nbytes}")


NUMBER_TYPES = ["int", "long", "double"]
BUCKETS = [  # the queries tresor's reader sends (crates/mongo/src/key.rs), in order
    ({"_id": {"$type": NUMBER_TYPES}}, True),
    ({"_id": {"$type": "string"}}, True),
    ({"_id": {"$type": "objectId"}}, True),
    ({"_id": {"$not": {"$type": NUMBER_TYPES + ["string", "objectId"]}}}, False),
]


def scan_buckets(url, db_name):
    """Reads every collection with tresor's four _id-type bucket queries."""
    db = raw_client(url)[db_name]
    docs = nbytes = 0
    for c in names(db):
        for query, sorted_ in BUCKETS:
            if sorted_:
                for d in db[c].find(query, sort=[("_id", 1)], batch_size=1024):
                    docs += 1
                    nbytes += len(d.raw)
            else:  # only the keys: tresor sorts them itself, then fetches by $in
                for d in db[c].find(query, {"_id": 1}, batch_size=8192):
                    docs += 1
    print(f"{docs} {nbytes}")


def verify(url, src, dst, sample):
    client = raw_client(url)
    a, b = client[src], client[dst]
    problems = []
    if names(a) != names(b):
        problems.append(f"collections differ: {names(a)} vs {names(b)}")
    checked = 0
    for c in names(a):
        na, nb = a[c].count_documents({}), b[c].count_documents({})
        if na != nb:
            problems.append(f"{c}: {na} documents, restored {nb}")
        ia = sorted((i["name"], str(i["key"])) for i in MongoClient(url)[src][c].list_indexes())
        ib = sorted((i["name"], str(i["key"])) for i in MongoClient(url)[dst][c].list_indexes())
        if ia != ib:
            problems.append(f"{c}: indexes {ia} vs {ib}")
        # a random sample by position, plus the first and the last document
        ids = [d["_id"] for d in a[c].aggregate([{"$sample": {"size": sample}}, {"$project": {"_id": 1}}])]
        ids += [d["_id"] for d in a[c].find({}, {"_id": 1}, sort=[("_id", 1)], limit=1)]
        ids += [d["_id"] for d in a[c].find({}, {"_id": 1}, sort=[("_id", -1)], limit=1)]
        for i in ids:
            da, db_ = a[c].find_one({"_id": i}), b[c].find_one({"_id": i})
            if db_ is None or da.raw != db_.raw:
                problems.append(f"{c}: document {i} differs")
            checked += 1
    for p in problems[:20]:
        print("PROBLEM", p)
    print(f"checked {checked} documents byte for byte; {len(problems)} problems")
    return 1 if problems else 0


def main():
    cmd = sys.argv[1]
    if cmd == "load":
        load(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    elif cmd == "scan":
        scan(sys.argv[2], sys.argv[3])
    elif cmd == "scan-buckets":
        scan_buckets(sys.argv[2], sys.argv[3])
    elif cmd == "count":
        count(sys.argv[2], sys.argv[3])
    elif cmd == "verify":
        sys.exit(verify(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
