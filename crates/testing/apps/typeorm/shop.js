#!/usr/bin/env node
// Makes a database the way a TypeORM application does: a migration that
// TypeORM generates for the engine (what `typeorm migration:generate` writes:
// the schema builder's statements against the empty database) and applies
// with its migration runner, then rows saved through its repositories.
//
//     node shop.js URL [ROWS]     migrate, then fill (ROWS 0: migrate only)
//     node shop.js dump URL       every entity through the repositories
//     node shop.js write URL      the application writes: inserts, updates,
//                                 a delete, a duplicate that must fail
//
// URL is postgres://user@host:port/db, mysql://user@host:port/db (or
// mariadb://...) or sqlite:///path/to/file.db (sql.js: the file is read
// whole and written back after every write). Needs: npm ci.
"use strict";

// TypeORM reads and writes timestamps without a zone in the process's
// zone; every engine's clock is read as UTC here so the same stored value
// is the same instant whichever driver reads it.
process.env.TZ = "UTC";

require("reflect-metadata");
const { DataSource, EntitySchema } = require("typeorm");

function options(url) {
  const u = new URL(url);
  const name = decodeURIComponent(u.pathname.replace(/^\//, ""));
  const common = { logging: false, entities: entities(u.protocol) };
  switch (u.protocol) {
    case "postgres:":
    case "postgresql:":
      return {
        ...common,
        type: "postgres",
        host: u.hostname || "127.0.0.1",
        port: Number(u.port || 5432),
        username: decodeURIComponent(u.username) || "postgres",
        password: decodeURIComponent(u.password),
        database: name,
      };
    case "mysql:":
    case "mariadb:":
      return {
        ...common,
        type: u.protocol === "mysql:" ? "mysql" : "mariadb",
        host: u.hostname || "127.0.0.1",
        port: Number(u.port || 3306),
        username: decodeURIComponent(u.username) || "root",
        password: decodeURIComponent(u.password),
        database: name,
        charset: "utf8mb4",
        timezone: "Z",
      };
    case "sqlite:":
      // sql.js (WASM, no native build): `location` is loaded when it
      // exists and written back after each write
      return {
        ...common,
        type: "sqljs",
        location: decodeURIComponent(u.pathname),
        autoSave: true,
      };
    default:
      throw new Error(`unsupported url ${url}`);
  }
}

// The engines' names for a timestamp without zone that keeps milliseconds.
function instant(protocol) {
  if (protocol.startsWith("postgres")) return { type: "timestamp", precision: 3 };
  if (protocol === "sqlite:") return { type: "datetime" };
  return { type: "datetime", precision: 3 };
}

function entities(protocol) {
  const Customer = new EntitySchema({
    name: "Customer",
    tableName: "customers",
    columns: {
      id: { type: "int", primary: true, generated: "increment" },
      uuid: { type: "uuid", unique: true },
      email: { type: "varchar", length: 254, unique: true },
      name: { type: "varchar", length: 100 },
      active: { type: "boolean", default: true },
      note: { type: "text", nullable: true },
      preferences: { type: "simple-json", nullable: true },
    },
  });
  const Category = new EntitySchema({
    name: "Category",
    tableName: "categories",
    columns: {
      id: { type: "int", primary: true, generated: "increment" },
      name: { type: "varchar", length: 100 },
    },
    relations: {
      parent: {
        type: "many-to-one",
        target: "Category",
        nullable: true,
        onDelete: "SET NULL",
        joinColumn: { name: "parent_id" },
      },
    },
  });
  const Tag = new EntitySchema({
    name: "Tag",
    tableName: "tags",
    columns: {
      id: { type: "int", primary: true, generated: "increment" },
      name: { type: "varchar", length: 50, unique: true },
    },
  });
  const Product = new EntitySchema({
    name: "Product",
    tableName: "products",
    columns: {
      id: { type: "int", primary: true, generated: "increment" },
      name: { type: "varchar", length: 200 },
      price: { type: "decimal", precision: 10, scale: 2 },
      stock: { type: "int", default: 0 },
      status: { type: "varchar", length: 10, default: "draft" },
      released: { type: "date", nullable: true },
      restockedAt: { ...instant(protocol), name: "restocked_at", nullable: true },
    },
    relations: {
      category: {
        type: "many-to-one",
        target: "Category",
        nullable: true,
        onDelete: "SET NULL",
        joinColumn: { name: "category_id" },
      },
      tags: {
        type: "many-to-many",
        target: "Tag",
        joinTable: {
          name: "product_tags",
          joinColumn: { name: "product_id" },
          inverseJoinColumn: { name: "tag_id" },
        },
      },
    },
  });
  const Order = new EntitySchema({
    name: "Order",
    tableName: "orders",
    columns: {
      id: { type: "int", primary: true, generated: "increment" },
      status: { type: "varchar", length: 16 },
      total: { type: "decimal", precision: 10, scale: 2 },
      paid: { type: "boolean" },
      note: { type: "text", nullable: true },
      // the driver's own type: timestamp, datetime(6), datetime
      createdAt: { createDate: true, name: "created_at" },
      updatedAt: { updateDate: true, name: "updated_at" },
      version: { type: "int", version: true },
    },
    relations: {
      customer: {
        type: "many-to-one",
        target: "Customer",
        nullable: false,
        onDelete: "CASCADE",
        joinColumn: { name: "customer_id" },
      },
    },
  });
  const OrderLine = new EntitySchema({
    name: "OrderLine",
    tableName: "order_lines",
    columns: {
      orderId: { type: "int", primary: true, name: "order_id" },
      productId: { type: "int", primary: true, name: "product_id" },
      quantity: { type: "int" },
      unitPrice: { type: "decimal", precision: 10, scale: 2, name: "unit_price" },
    },
    relations: {
      order: {
        type: "many-to-one",
        target: "Order",
        nullable: false,
        onDelete: "CASCADE",
        joinColumn: { name: "order_id" },
      },
      product: {
        type: "many-to-one",
        target: "Product",
        nullable: false,
        joinColumn: { name: "product_id" },
      },
    },
  });
  return [Customer, Category, Tag, Product, Order, OrderLine];
}

// What `typeorm migration:generate` then `typeorm migration:run` do: the
// statements the schema builder would run against this (empty) database,
// kept as one migration and applied by the migration runner, which records
// it in the `migrations` table. TypeORM's generated migrations are SQL of
// one engine, so the migration is generated for each engine as Django's
// makemigrations output is for each run of the Django shop.
async function migrate(opts) {
  const probe = new DataSource(opts);
  await probe.initialize();
  const sql = await probe.driver.createSchemaBuilder().log();
  await probe.destroy();
  class Shop1718000000000 {
    async up(runner) {
      for (const q of sql.upQueries) await runner.query(q.query, q.parameters);
    }
    async down(runner) {
      for (const q of [...sql.downQueries].reverse()) await runner.query(q.query, q.parameters);
    }
  }
  const ds = new DataSource({ ...opts, migrations: [Shop1718000000000] });
  await ds.initialize();
  await ds.runMigrations({ transaction: "all" });
  return ds;
}

// mulberry32: the same rows on every engine and every run
function prng(seed) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (lo, hi) => lo + Math.floor(next() * (hi - lo + 1));
  const choice = (xs) => xs[int(0, xs.length - 1)];
  const sample = (xs, n) => {
    const copy = [...xs];
    const out = [];
    while (out.length < n && copy.length) out.push(copy.splice(int(0, copy.length - 1), 1)[0]);
    return out;
  };
  const uuid = () => {
    const hex = Array.from({ length: 32 }, () => int(0, 15).toString(16));
    hex[12] = "4";
    hex[16] = "89ab"[int(0, 3)];
    const s = hex.join("");
    return `${s.slice(0, 8)}-${s.slice(8, 12)}-${s.slice(12, 16)}-${s.slice(16, 20)}-${s.slice(20)}`;
  };
  return { int, choice, sample, uuid };
}

const cents = (n) => `${Math.floor(n / 100)}.${String(n % 100).padStart(2, "0")}`;

async function fill(ds, rows) {
  const rnd = prng(7);
  const customers = [];
  for (let i = 0; i < rows; i++) {
    const note = [null, "", `note ${i} – “quoted” 'single' \\ backslash\nsecond line`][i % 3];
    customers.push(
      await ds.getRepository("Customer").save({
        uuid: rnd.uuid(),
        email: `user${i}@example.com`,
        name: rnd.choice(["Ada", "Zoë", "Łukasz", "Ørjan", "李", "🎉 party", ""]),
        active: i % 3 !== 0,
        note,
        preferences:
          i % 5 === 0
            ? null
            : { colour: rnd.choice(["red", "blue"]), sizes: [1, 2, 3], n: i, nested: { ok: i % 2 === 0, none: null } },
      }),
    );
  }
  const categories = ds.getRepository("Category");
  const root = await categories.save({ name: "All", parent: null });
  const cats = [root];
  for (let i = 0; i < 4; i++) cats.push(await categories.save({ name: `Category ${i}`, parent: root }));
  cats.push(await categories.save({ name: "Sub­category ü", parent: cats[1] }));
  const tags = [];
  for (const name of ["new", "sale", "", "Ünïcödé", "日本", "last"]) {
    tags.push(await ds.getRepository("Tag").save({ name }));
  }
  const monthEnds = ["2024-01-31", "2024-02-29", "2023-02-28", "2023-12-31", "2024-04-30", null];
  const products = [];
  for (let i = 0; i < rows; i++) {
    // the first prices are edge values: trailing zeros, zero, a large one
    const price = ["10.50", "0.00", "99999.99", "7.00"][i] ?? cents(rnd.int(1, 99999));
    const day = monthEnds[i % monthEnds.length];
    products.push(
      await ds.getRepository("Product").save({
        name: `Product ${i} – "quoted" 'and' \\ backslash`,
        price,
        stock: i === 1 ? -1 : rnd.int(0, 500),
        status: rnd.choice(["draft", "live", "gone"]),
        released: day,
        restockedAt: day && new Date(`${day}T23:59:59.${String(rnd.int(0, 999)).padStart(3, "0")}Z`),
        category: i % 7 === 6 ? null : rnd.choice(cats),
        tags: rnd.sample(tags, rnd.int(0, 3)),
      }),
    );
  }
  const start = Date.UTC(2024, 0, 1);
  for (let i = 0; i < rows * 2; i++) {
    const lines = rnd.sample(products, rnd.int(1, 3)).map((p) => ({ product: p, quantity: rnd.int(1, 5) }));
    const total = lines.reduce((sum, l) => sum + Math.round(Number(l.product.price) * 100) * l.quantity, 0);
    const at = new Date(start + i * 7 * 3600 * 1000 + rnd.int(0, 999));
    const order = await ds.getRepository("Order").save({
      customer: rnd.choice(customers),
      status: rnd.choice(["new", "paid", "shipped", "cancelled"]),
      total: cents(total),
      paid: i % 2 === 0,
      note: i % 3 ? null : `order ${i}`,
      createdAt: at,
      updatedAt: at,
    });
    for (const l of lines) {
      await ds.getRepository("OrderLine").save({
        orderId: order.id,
        productId: l.product.id,
        quantity: l.quantity,
        unitPrice: l.product.price,
      });
    }
  }
}

// Every entity of every table (the join table as the products' tag ids),
// in primary key order, keys sorted.
async function dump(ds) {
  const out = {};
  for (const meta of ds.entityMetadatas) {
    if (meta.tableType === "junction") continue;
    const order = Object.fromEntries(meta.primaryColumns.map((c) => [c.propertyName, "ASC"]));
    const rows = await ds.getRepository(meta.target).find({ order, loadRelationIds: true });
    out[meta.tableName] = rows.map((row) => {
      for (const column of meta.columns) {
        const v = row[column.propertyName];
        // sql.js hands back a DECIMAL column's value as a number (SQLite
        // keeps it as REAL or INTEGER); pg and mysql2 as text with the
        // column's scale. The same stored number is written with the scale.
        if (column.type === "decimal" && typeof v === "number") {
          row[column.propertyName] = v.toFixed(column.scale);
        }
      }
      for (const relation of meta.manyToManyRelations) {
        row[relation.propertyName].sort((a, b) => a - b);
      }
      return row;
    });
  }
  return out;
}

function sorted(v) {
  if (v instanceof Date) return v.toISOString();
  if (Array.isArray(v)) return v.map(sorted);
  if (v && typeof v === "object") {
    return Object.fromEntries(
      Object.keys(v)
        .sort()
        .map((k) => [k, sorted(v[k])]),
    );
  }
  return v;
}

function check(ok, message) {
  if (!ok) throw new Error(message);
}

// What the application does next: every insert must get a fresh id
// (sequences past the restored rows), a save must move the version on,
// a delete must cascade and the unique email must still be enforced.
async function write(ds) {
  const customers = ds.getRepository("Customer");
  const orders = ds.getRepository("Order");
  const lines = ds.getRepository("OrderLine");
  const products = ds.getRepository("Product");
  const maxId = async (repo) => (await repo.maximum("id")) ?? 0;
  const before = { customer: await maxId(customers), order: await maxId(orders) };

  const c = await customers.save({
    uuid: "0b7e4d1c-3f2a-4c5d-9e8f-1a2b3c4d5e6f",
    email: "after-restore@example.com",
    name: "Après",
    active: true,
    note: null,
    preferences: { new: true },
  });
  check(c.id > before.customer, `new customer got id ${c.id}, not past ${before.customer}`);
  const some = await products.find({ order: { id: "ASC" }, take: 2, relations: { tags: true } });
  const o = await orders.save({ customer: c, status: "new", total: "3.00", paid: false, note: "after restore" });
  check(o.id > before.order, `new order got id ${o.id}, not past ${before.order}`);
  check(o.version === 1, `new order has version ${o.version}`);
  for (const p of some) {
    await lines.save({ orderId: o.id, productId: p.id, quantity: 1, unitPrice: p.price });
  }
  const tag = await ds.getRepository("Tag").save({ name: "after-restore" });
  if (some.length) {
    some[0].tags.push(tag);
    some[0].stock += 1;
    await products.save(some[0]);
  }

  const [first] = await orders.find({ order: { id: "ASC" }, take: 1 });
  first.status = "shipped";
  const saved = await orders.save(first);
  const again = await orders.findOneBy({ id: first.id });
  check(again.status === "shipped", `order ${first.id} was not updated`);
  check(again.version === saved.version && saved.version > 1, `order ${first.id} has version ${again.version}`);

  // the restored customer with the most orders goes, and its orders and
  // their lines with it (ON DELETE CASCADE)
  const counts = new Map();
  for (const order of await orders.find({ order: { id: "ASC" }, loadRelationIds: true })) {
    if (order.customer !== c.id) counts.set(order.customer, (counts.get(order.customer) ?? 0) + 1);
  }
  const victim = [...counts].sort((a, b) => b[1] - a[1] || a[0] - b[0]).map(([id]) => ({ id }))[0];
  if (victim) {
    await customers.delete({ id: victim.id });
    const left = await orders.countBy({ customer: { id: victim.id } });
    check(left === 0, `customer ${victim.id} deleted, ${left} of its orders left`);
  }

  let duplicate = null;
  try {
    await customers.insert({ uuid: "9d1f0e2b-0000-4000-8000-000000000001", email: c.email, name: "twin", active: true });
  } catch (e) {
    duplicate = e;
  }
  check(duplicate, `a second customer with email ${c.email} was accepted: no unique constraint`);
  console.log(JSON.stringify({ customer: c.id, order: o.id, deleted: victim ? Number(victim.id) : null }));
}

async function main(argv) {
  const [command, arg] = argv;
  if (!command) throw new Error("usage: shop.js URL [ROWS] | dump URL | write URL");
  if (command === "dump" || command === "write") {
    const ds = new DataSource(options(arg));
    await ds.initialize();
    try {
      if (command === "dump") console.log(JSON.stringify(sorted(await dump(ds)), null, 1));
      else await write(ds);
    } finally {
      await ds.destroy();
    }
    return;
  }
  const rows = arg === undefined ? 40 : Number(arg);
  if (!Number.isInteger(rows) || rows < 0) throw new Error(`rows must be a count, not ${arg}`);
  const ds = await migrate(options(command));
  try {
    if (rows) await fill(ds, rows);
  } finally {
    await ds.destroy();
  }
}

main(process.argv.slice(2)).catch((e) => {
  console.error(`shop.js: ${e.message}`);
  process.exit(1);
});
