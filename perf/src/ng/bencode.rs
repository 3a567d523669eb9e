//! Bencode, the encoding of rtpengine's ng control protocol: integers
//! `i42e`, byte strings `4:spam`, lists `l...e` and dictionaries `d...e`
//! whose keys are byte strings in sorted order.

use std::collections::BTreeMap;

/// A bencoded value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// An integer.
    Int(i64),
    /// A byte string.
    Bytes(Vec<u8>),
    /// A list.
    List(Vec<Value>),
    /// A dictionary (kept sorted by key, as bencode requires).
    Dict(BTreeMap<Vec<u8>, Value>),
}

/// Why bytes are not bencode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The input ended inside a value.
    #[error("bencode ends early")]
    Truncated,
    /// A byte that cannot start or continue a value at `at`.
    #[error("bad bencode at byte {at}: {what}")]
    Syntax {
        /// Offset of the fault.
        at: usize,
        /// What was wrong.
        what: &'static str,
    },
    /// Bytes after the value.
    #[error("{0} bytes after the bencoded value")]
    Trailing(usize),
}

/// Values nested deeper than this are refused (a hostile peer cannot
/// exhaust the stack).
const MAX_DEPTH: usize = 64;

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::Bytes(s.as_bytes().to_vec())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::Bytes(s.into_bytes())
    }
}

impl From<i64> for Value {
    fn from(i: i64) -> Value {
        Value::Int(i)
    }
}

impl<V: Into<Value>> From<Vec<V>> for Value {
    fn from(v: Vec<V>) -> Value {
        Value::List(v.into_iter().map(Into::into).collect())
    }
}

impl Value {
    /// A dictionary from `(key, value)` pairs.
    pub fn dict<K: AsRef<str>>(pairs: impl IntoIterator<Item = (K, Value)>) -> Value {
        Value::Dict(pairs.into_iter().map(|(k, v)| (k.as_ref().as_bytes().to_vec(), v)).collect())
    }

    /// The value of `key` in a dictionary.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Dict(d) => d.get(key.as_bytes()),
            _ => None,
        }
    }

    /// A byte string as UTF-8 text.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Bytes(b) => std::str::from_utf8(b).ok(),
            _ => None,
        }
    }

    /// The encoding of this value.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_into(&mut out);
        out
    }

    /// Appends the encoding of this value to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        match self {
            Value::Int(i) => out.extend_from_slice(format!("i{i}e").as_bytes()),
            Value::Bytes(b) => bytes(b, out),
            Value::List(l) => {
                out.push(b'l');
                for v in l {
                    v.encode_into(out);
                }
                out.push(b'e');
            }
            Value::Dict(d) => {
                out.push(b'd');
                for (k, v) in d {
                    bytes(k, out);
                    v.encode_into(out);
                }
                out.push(b'e');
            }
        }
    }

    /// Decodes exactly one value filling `input`.
    pub fn decode(input: &[u8]) -> Result<Value, DecodeError> {
        let mut p = Parser { input, pos: 0 };
        let v = p.value(0)?;
        match input.len() - p.pos {
            0 => Ok(v),
            n => Err(DecodeError::Trailing(n)),
        }
    }
}

fn bytes(b: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(b.len().to_string().as_bytes());
    out.push(b':');
    out.extend_from_slice(b);
}

struct Parser<'a> {
    input: &'a [u8],
    pos: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Result<u8, DecodeError> {
        self.input.get(self.pos).copied().ok_or(DecodeError::Truncated)
    }

    fn err(&self, what: &'static str) -> DecodeError {
        DecodeError::Syntax { at: self.pos, what }
    }

    fn value(&mut self, depth: usize) -> Result<Value, DecodeError> {
        if depth > MAX_DEPTH {
            return Err(self.err("nested too deep"));
        }
        match self.peek()? {
            b'i' => {
                self.pos += 1;
                let n = self.number(b'e')?;
                Ok(Value::Int(n))
            }
            b'0'..=b'9' => Ok(Value::Bytes(self.string()?)),
            b'l' => {
                self.pos += 1;
                let mut items = Vec::new();
                while self.peek()? != b'e' {
                    items.push(self.value(depth + 1)?);
                }
                self.pos += 1;
                Ok(Value::List(items))
            }
            b'd' => {
                self.pos += 1;
                let mut d = BTreeMap::new();
                while self.peek()? != b'e' {
                    if !self.peek()?.is_ascii_digit() {
                        return Err(self.err("dictionary key is not a string"));
                    }
                    let k = self.string()?;
                    let v = self.value(depth + 1)?;
                    d.insert(k, v);
                }
                self.pos += 1;
                Ok(Value::Dict(d))
            }
            _ => Err(self.err("not the start of a value")),
        }
    }

    /// An integer up to `end` (consumed).
    fn number(&mut self, end: u8) -> Result<i64, DecodeError> {
        let start = self.pos;
        while self.peek()? != end {
            self.pos += 1;
        }
        let text = std::str::from_utf8(&self.input[start..self.pos]).map_err(|_| self.err("bad integer"))?;
        let ok_form = !text.is_empty()
            && text != "-"
            && text != "-0"
            && !(text.len() > 1 && text.starts_with('0'))
            && !text.starts_with("-0");
        let n = text.parse().ok().filter(|_| ok_form).ok_or(DecodeError::Syntax { at: start, what: "bad integer" })?;
        self.pos += 1;
        Ok(n)
    }

    fn string(&mut self) -> Result<Vec<u8>, DecodeError> {
        let len = self.number(b':')?;
        let len = usize::try_from(len).map_err(|_| self.err("negative string length"))?;
        let end = self.pos.checked_add(len).filter(|&e| e <= self.input.len()).ok_or(DecodeError::Truncated)?;
        let s = self.input[self.pos..end].to_vec();
        self.pos = end;
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn encodes_the_ng_offer_shape() {
        let v = Value::dict([
            ("command", "offer".into()),
            ("call-id", "c1".into()),
            ("from-tag", "t1".into()),
            ("direction", vec!["pub", "priv"].into()),
            ("sdp", "v=0\r\n".into()),
        ]);
        assert_eq!(
            String::from_utf8(v.encode()).unwrap(),
            "d7:call-id2:c17:command5:offer9:directionl3:pub4:prive8:from-tag2:t13:sdp5:v=0\r\ne"
        );
    }

    #[test]
    fn encodes_integers_and_empty_containers() {
        assert_eq!(Value::Int(-42).encode(), b"i-42e");
        assert_eq!(Value::Int(0).encode(), b"i0e");
        assert_eq!(Value::List(vec![]).encode(), b"le");
        assert_eq!(Value::dict(Vec::<(&str, Value)>::new()).encode(), b"de");
        assert_eq!(Value::from("").encode(), b"0:");
    }

    #[test]
    fn decodes_an_rtpengine_answer() {
        let v = Value::decode(b"d6:result2:ok3:sdp8:v=0\r\nc=xe").unwrap();
        assert_eq!(v.get("result").and_then(Value::as_str), Some("ok"));
        assert_eq!(v.get("sdp").and_then(Value::as_str), Some("v=0\r\nc=x"));
        assert_eq!(v.get("missing"), None);
    }

    #[test]
    fn refuses_malformed_input() {
        for bad in [&b"i12"[..], b"5:abc", b"l", b"d3:keye", b"i-0e", b"i03e", b"ie", b"x", b"di1ei2ee", b"-1:"] {
            assert!(Value::decode(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
        assert_eq!(Value::decode(b"i1ei2e"), Err(DecodeError::Trailing(3)));
        let deep = format!("{}{}", "l".repeat(100), "e".repeat(100));
        assert!(Value::decode(deep.as_bytes()).is_err());
    }

    fn value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            any::<i64>().prop_map(Value::Int),
            proptest::collection::vec(any::<u8>(), 0..20).prop_map(Value::Bytes),
        ];
        leaf.prop_recursive(4, 32, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::List),
                proptest::collection::btree_map(proptest::collection::vec(any::<u8>(), 0..8), inner, 0..6)
                    .prop_map(Value::Dict),
            ]
        })
    }

    proptest! {
        #[test]
        fn round_trips(v in value()) {
            prop_assert_eq!(Value::decode(&v.encode()), Ok(v));
        }

        #[test]
        fn arbitrary_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = Value::decode(&b);
        }
    }
}
