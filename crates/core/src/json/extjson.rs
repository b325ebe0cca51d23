//! MongoDB Extended JSON v2 over raw BSON bytes, written here so the exact
//! bytes are under control (and without the `bson` crate's serde features).

use super::B64;
use base64::Engine as _;
use serde_json::{Map, Value as Json, json};

/// Deepest document nesting written as Extended JSON; deeper ones use
/// `$docbytes`, which keeps JSON readers within their recursion limits.
const MAX_DEPTH: usize = 90;

struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

type R<T> = Result<T, ()>;

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> R<&'a [u8]> {
        let end = self.pos.checked_add(n).ok_or(())?;
        let s = self.buf.get(self.pos..end).ok_or(())?;
        self.pos = end;
        Ok(s)
    }
    fn byte(&mut self) -> R<u8> {
        Ok(self.take(1)?[0])
    }
    fn i32(&mut self) -> R<i32> {
        let b = self.take(4)?;
        Ok(i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u64(&mut self) -> R<u64> {
        let mut a = [0u8; 8];
        a.copy_from_slice(self.take(8)?);
        Ok(u64::from_le_bytes(a))
    }
    fn cstr(&mut self) -> R<&'a str> {
        let rest = self.buf.get(self.pos..).ok_or(())?;
        let n = rest.iter().position(|&b| b == 0).ok_or(())?;
        let s = std::str::from_utf8(&rest[..n]).map_err(|_| ())?;
        self.pos += n + 1;
        Ok(s)
    }
    fn string(&mut self) -> R<&'a str> {
        let n = usize::try_from(self.i32()?).map_err(|_| ())?;
        if n == 0 {
            return Err(());
        }
        let b = self.take(n)?;
        if b[n - 1] != 0 {
            return Err(());
        }
        std::str::from_utf8(&b[..n - 1]).map_err(|_| ())
    }
    /// An embedded document's bytes (length prefix included).
    fn doc_bytes(&mut self) -> R<&'a [u8]> {
        let start = self.pos;
        let n = usize::try_from(self.i32()?).map_err(|_| ())?;
        if n < 5 {
            return Err(());
        }
        self.pos = start;
        self.take(n)
    }
}

/// Canonical Extended JSON of a whole document, `None` if the bytes
/// are not one well-formed BSON document.
pub(super) fn to_json(bson: &[u8]) -> Option<Json> {
    doc(bson, 0, false).ok()
}

fn doc(bytes: &[u8], depth: usize, as_array: bool) -> R<Json> {
    if depth > MAX_DEPTH || bytes.len() < 5 {
        return Err(());
    }
    let mut c = Cursor { buf: bytes, pos: 0 };
    let n = usize::try_from(c.i32()?).map_err(|_| ())?;
    if n != bytes.len() || bytes[n - 1] != 0 {
        return Err(());
    }
    let mut map = Map::new();
    let mut arr = Vec::new();
    while c.pos < n - 1 {
        let t = c.byte()?;
        let key = c.cstr()?;
        let v = element(&mut c, t, depth)?;
        if as_array {
            arr.push(v);
        } else {
            map.insert(key.to_string(), v);
        }
    }
    if c.pos != n - 1 {
        return Err(());
    }
    Ok(if as_array {
        Json::Array(arr)
    } else {
        Json::Object(map)
    })
}

fn double_text(f: f64) -> String {
    if f.is_nan() {
        "NaN".into()
    } else if f.is_infinite() {
        if f > 0.0 { "Infinity" } else { "-Infinity" }.into()
    } else {
        format!("{f:?}")
    }
}

fn element(c: &mut Cursor<'_>, t: u8, depth: usize) -> R<Json> {
    Ok(match t {
        0x01 => json!({"$numberDouble": double_text(f64::from_bits(c.u64()?))}),
        0x02 => Json::String(c.string()?.to_string()),
        0x03 => doc(c.doc_bytes()?, depth + 1, false)?,
        0x04 => doc(c.doc_bytes()?, depth + 1, true)?,
        0x05 => {
            let n = usize::try_from(c.i32()?).map_err(|_| ())?;
            let sub = c.byte()?;
            let data = c.take(n)?;
            json!({"$binary": {"base64": B64.encode(data), "subType": hex::encode([sub])}})
        }
        0x06 => json!({"$undefined": true}),
        0x07 => json!({"$oid": hex::encode(c.take(12)?)}),
        0x08 => match c.byte()? {
            0 => Json::Bool(false),
            1 => Json::Bool(true),
            _ => return Err(()),
        },
        0x09 => json!({"$date": {"$numberLong": (c.u64()? as i64).to_string()}}),
        0x0A => Json::Null,
        0x0B => {
            let pattern = c.cstr()?;
            let options = c.cstr()?;
            json!({"$regularExpression": {"pattern": pattern, "options": options}})
        }
        0x0C => {
            let ns = c.string()?;
            let id = hex::encode(c.take(12)?);
            json!({"$dbPointer": {"$ref": ns, "$id": {"$oid": id}}})
        }
        0x0D => json!({"$code": c.string()?}),
        0x0E => json!({"$symbol": c.string()?}),
        0x0F => {
            let start = c.pos;
            let total = usize::try_from(c.i32()?).map_err(|_| ())?;
            let code = c.string()?;
            let scope = doc(c.doc_bytes()?, depth + 1, false)?;
            if c.pos - start != total {
                return Err(());
            }
            json!({"$code": code, "$scope": scope})
        }
        0x10 => json!({"$numberInt": c.i32()?.to_string()}),
        0x11 => {
            let v = c.u64()?;
            json!({"$timestamp": {"t": v >> 32, "i": v & 0xffff_ffff}})
        }
        0x12 => json!({"$numberLong": (c.u64()? as i64).to_string()}),
        0x13 => {
            let mut b = [0u8; 16];
            b.copy_from_slice(c.take(16)?);
            json!({"$numberDecimal": bson::Decimal128::from_bytes(b).to_string()})
        }
        0xFF => json!({"$minKey": 1}),
        0x7F => json!({"$maxKey": 1}),
        _ => return Err(()),
    })
}

/// The BSON bytes of an Extended JSON document.
pub(super) fn from_json(j: &Json) -> Result<Vec<u8>, String> {
    let Json::Object(m) = j else {
        return Err("a document must be a json object".into());
    };
    if wrapper_key(m).is_some() {
        return Err("expected a document, found an extended json value".into());
    }
    let mut out = Vec::new();
    write_doc(&mut out, m.iter().map(|(k, v)| (k.as_str(), v)), 0)?;
    Ok(out)
}

const WRAPPERS: &[&str] = &[
    "$numberDouble",
    "$numberInt",
    "$numberLong",
    "$numberDecimal",
    "$binary",
    "$undefined",
    "$oid",
    "$date",
    "$regularExpression",
    "$dbPointer",
    "$code",
    "$symbol",
    "$timestamp",
    "$minKey",
    "$maxKey",
];

fn wrapper_key(m: &Map<String, Json>) -> Option<&str> {
    let first = m.keys().next()?;
    WRAPPERS.contains(&first.as_str()).then_some(first.as_str())
}

fn write_doc<'a>(
    out: &mut Vec<u8>,
    items: impl Iterator<Item = (&'a str, &'a Json)>,
    depth: usize,
) -> Result<(), String> {
    if depth > super::extjson::MAX_DEPTH + 10 {
        return Err("document nested too deeply".into());
    }
    let start = out.len();
    out.extend_from_slice(&[0; 4]);
    for (k, v) in items {
        write_element(out, k, v, depth)?;
    }
    out.push(0);
    let len = i32::try_from(out.len() - start).map_err(|_| "document too large")?;
    out[start..start + 4].copy_from_slice(&len.to_le_bytes());
    Ok(())
}

fn cstr(out: &mut Vec<u8>, s: &str) -> Result<(), String> {
    if s.contains('\0') {
        return Err(format!("{s:?} contains a nul character"));
    }
    out.extend_from_slice(s.as_bytes());
    out.push(0);
    Ok(())
}

fn string(out: &mut Vec<u8>, s: &str) -> Result<(), String> {
    let n = i32::try_from(s.len() + 1).map_err(|_| "string too large")?;
    out.extend_from_slice(&n.to_le_bytes());
    out.extend_from_slice(s.as_bytes());
    out.push(0);
    Ok(())
}

fn field<'a>(m: &'a Map<String, Json>, key: &str) -> Result<&'a Json, String> {
    m.get(key).ok_or_else(|| format!("missing {key:?}"))
}

fn field_str<'a>(m: &'a Map<String, Json>, key: &str) -> Result<&'a str, String> {
    field(m, key)?
        .as_str()
        .ok_or_else(|| format!("{key:?} must be a string"))
}

fn exact_keys(m: &Map<String, Json>, keys: &[&str]) -> Result<(), String> {
    if m.len() == keys.len() && keys.iter().all(|k| m.contains_key(*k)) {
        Ok(())
    } else {
        Err(format!("expected exactly the keys {keys:?}"))
    }
}

fn oid(s: &str) -> Result<[u8; 12], String> {
    let mut b = [0u8; 12];
    hex::decode_to_slice(s, &mut b).map_err(|_| format!("bad object id {s:?}"))?;
    Ok(b)
}

fn write_element(out: &mut Vec<u8>, key: &str, v: &Json, depth: usize) -> Result<(), String> {
    let type_at = out.len();
    out.push(0);
    cstr(out, key)?;
    let t: u8 = match v {
        Json::Null => 0x0A,
        Json::Bool(b) => {
            out.push(u8::from(*b));
            0x08
        }
        Json::Number(n) => {
            let text = n.to_string();
            if !text.contains(['.', 'e', 'E'])
                && let Ok(i) = text.parse::<i64>()
            {
                if let Ok(i) = i32::try_from(i) {
                    out.extend_from_slice(&i.to_le_bytes());
                    0x10
                } else {
                    out.extend_from_slice(&i.to_le_bytes());
                    0x12
                }
            } else {
                let f: f64 = text.parse().map_err(|_| format!("bad number {text}"))?;
                out.extend_from_slice(&f.to_bits().to_le_bytes());
                0x01
            }
        }
        Json::String(s) => {
            string(out, s)?;
            0x02
        }
        Json::Array(items) => {
            let keys: Vec<String> = (0..items.len()).map(|i| i.to_string()).collect();
            write_doc(
                out,
                keys.iter().map(String::as_str).zip(items.iter()),
                depth + 1,
            )?;
            0x04
        }
        Json::Object(m) => match wrapper_key(m) {
            None => {
                write_doc(out, m.iter().map(|(k, v)| (k.as_str(), v)), depth + 1)?;
                0x03
            }
            Some(w) => write_wrapper(out, w, m, depth)?,
        },
    };
    out[type_at] = t;
    Ok(())
}

fn write_wrapper(
    out: &mut Vec<u8>,
    w: &str,
    m: &Map<String, Json>,
    depth: usize,
) -> Result<u8, String> {
    let body = field(m, w)?;
    if w == "$code" && m.len() == 2 && m.contains_key("$scope") {
        let Json::Object(scope) = field(m, "$scope")? else {
            return Err("\"$scope\" must be an object".into());
        };
        let code = body.as_str().ok_or("\"$code\" must be a string")?;
        let start = out.len();
        out.extend_from_slice(&[0; 4]);
        string(out, code)?;
        write_doc(out, scope.iter().map(|(k, v)| (k.as_str(), v)), depth + 1)?;
        let len = i32::try_from(out.len() - start).map_err(|_| "code too large")?;
        out[start..start + 4].copy_from_slice(&len.to_le_bytes());
        return Ok(0x0F);
    }
    exact_keys(m, &[w])?;
    let s = || {
        body.as_str()
            .ok_or_else(|| format!("{w:?} must be a string"))
    };
    Ok(match w {
        "$numberDouble" => {
            let f: f64 = match s()? {
                "NaN" => f64::NAN,
                "Infinity" => f64::INFINITY,
                "-Infinity" => f64::NEG_INFINITY,
                t => t.parse().map_err(|_| format!("bad double {t:?}"))?,
            };
            out.extend_from_slice(&f.to_bits().to_le_bytes());
            0x01
        }
        "$numberInt" => {
            let i: i32 = s()?.parse().map_err(|_| "bad $numberInt")?;
            out.extend_from_slice(&i.to_le_bytes());
            0x10
        }
        "$numberLong" => {
            let i: i64 = s()?.parse().map_err(|_| "bad $numberLong")?;
            out.extend_from_slice(&i.to_le_bytes());
            0x12
        }
        "$numberDecimal" => {
            let d: bson::Decimal128 = s()?.parse().map_err(|_| "bad $numberDecimal")?;
            out.extend_from_slice(&d.bytes());
            0x13
        }
        "$binary" => {
            let b = body.as_object().ok_or("\"$binary\" must be an object")?;
            exact_keys(b, &["base64", "subType"])?;
            let data = B64
                .decode(field_str(b, "base64")?)
                .map_err(|_| "bad base64 in $binary")?;
            let mut sub = [0u8; 1];
            let st = field_str(b, "subType")?;
            if st.len() == 1 {
                hex::decode_to_slice(format!("0{st}"), &mut sub)
            } else {
                hex::decode_to_slice(st, &mut sub)
            }
            .map_err(|_| "bad subType in $binary")?;
            let n = i32::try_from(data.len()).map_err(|_| "binary too large")?;
            out.extend_from_slice(&n.to_le_bytes());
            out.push(sub[0]);
            out.extend_from_slice(&data);
            0x05
        }
        "$undefined" => 0x06,
        "$oid" => {
            out.extend_from_slice(&oid(s()?)?);
            0x07
        }
        "$date" => {
            let d = body
                .as_object()
                .ok_or("only {\"$date\": {\"$numberLong\": ..}} is supported")?;
            exact_keys(d, &["$numberLong"])?;
            let ms: i64 = field_str(d, "$numberLong")?
                .parse()
                .map_err(|_| "bad $date")?;
            out.extend_from_slice(&ms.to_le_bytes());
            0x09
        }
        "$regularExpression" => {
            let r = body
                .as_object()
                .ok_or("\"$regularExpression\" must be an object")?;
            exact_keys(r, &["pattern", "options"])?;
            cstr(out, field_str(r, "pattern")?)?;
            cstr(out, field_str(r, "options")?)?;
            0x0B
        }
        "$dbPointer" => {
            let p = body.as_object().ok_or("\"$dbPointer\" must be an object")?;
            exact_keys(p, &["$ref", "$id"])?;
            string(out, field_str(p, "$ref")?)?;
            let id = field(p, "$id")?
                .as_object()
                .ok_or("\"$id\" must be an object")?;
            exact_keys(id, &["$oid"])?;
            out.extend_from_slice(&oid(field_str(id, "$oid")?)?);
            0x0C
        }
        "$code" => {
            string(out, s()?)?;
            0x0D
        }
        "$symbol" => {
            string(out, s()?)?;
            0x0E
        }
        "$timestamp" => {
            let t = body.as_object().ok_or("\"$timestamp\" must be an object")?;
            exact_keys(t, &["t", "i"])?;
            let part = |k: &str| {
                field(t, k)?
                    .as_u64()
                    .and_then(|v| u32::try_from(v).ok())
                    .ok_or_else(|| format!("bad $timestamp {k:?}"))
            };
            let v = (u64::from(part("t")?) << 32) | u64::from(part("i")?);
            out.extend_from_slice(&v.to_le_bytes());
            0x11
        }
        "$minKey" => 0xFF,
        "$maxKey" => 0x7F,
        _ => return Err(format!("unsupported extended json key {w:?}")),
    })
}
