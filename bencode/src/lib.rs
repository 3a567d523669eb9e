//! Bencode, the encoding of rtpengine's ng control protocol: integers `i42e`,
//! byte strings `4:spam`, lists `l...e` and dictionaries `d...e`. mediafwd's
//! ng listener reads requests with it; perf's ng client talks to rtpengine
//! with it.
//!
//! The decoder is strict (no leading zeros, no `-0`, byte-string
//! keys, no duplicate keys, nothing after the value) and bounded (nesting depth
//! and item count), and returns an error for any input rather than panicking.
//! Dictionary keys may arrive in any order: the ng protocol does not require
//! bencode's sorted keys, and Kamailio does not sort them. The encoder writes
//! keys sorted, the canonical form.

use std::collections::BTreeMap;

/// Nesting deeper than this is refused (an ng request nests three deep).
pub const MAX_DEPTH: usize = 32;
/// More values than this in one message are refused.
pub const MAX_ITEMS: usize = 16_384;

/// A bencoded value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// `i<n>e`.
    Int(i64),
    /// `<len>:<bytes>`.
    Bytes(Vec<u8>),
    /// `l<values>e`.
    List(Vec<Value>),
    /// `d<key><value>...e`.
    Dict(Dict),
}

/// A dictionary: byte-string keys, each once.
pub type Dict = BTreeMap<Vec<u8>, Value>;

/// Why a message is not bencode this decoder accepts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The input ends inside a value (on a stream: wait for more).
    #[error("truncated bencode: the input ends inside a value")]
    Incomplete,
    /// Anything else, with the byte offset where it was noticed.
    #[error("invalid bencode at byte {at}: {why}")]
    Invalid {
        /// Offset in the input.
        at: usize,
        /// What is wrong.
        why: &'static str,
    },
}

impl Value {
    /// A byte string from text.
    pub fn str(s: impl AsRef<str>) -> Value {
        Value::Bytes(s.as_ref().as_bytes().to_vec())
    }

    /// A dictionary from `(key, value)` pairs.
    pub fn dict<K: AsRef<str>>(pairs: impl IntoIterator<Item = (K, Value)>) -> Value {
        Value::Dict(pairs.into_iter().map(|(k, v)| (k.as_ref().as_bytes().to_vec(), v)).collect())
    }

    /// The value of `key`, if a dictionary that has it.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.as_dict().and_then(|d| d.get(key.as_bytes()))
    }

    /// The bytes, if a byte string.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Value::Bytes(b) => Some(b),
            _ => None,
        }
    }

    /// The text, if a byte string in UTF-8.
    pub fn as_str(&self) -> Option<&str> {
        self.as_bytes().and_then(|b| std::str::from_utf8(b).ok())
    }

    /// The integer, if one.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }

    /// The elements, if a list.
    pub fn as_list(&self) -> Option<&[Value]> {
        match self {
            Value::List(l) => Some(l),
            _ => None,
        }
    }

    /// The dictionary, if one.
    pub fn as_dict(&self) -> Option<&Dict> {
        match self {
            Value::Dict(d) => Some(d),
            _ => None,
        }
    }

    /// The bencoding of this value.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_into(&mut out);
        out
    }

    /// Appends the bencoding of this value to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        match self {
            Value::Int(i) => {
                out.push(b'i');
                out.extend_from_slice(i.to_string().as_bytes());
                out.push(b'e');
            }
            Value::Bytes(b) => encode_bytes(b, out),
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
                    encode_bytes(k, out);
                    v.encode_into(out);
                }
                out.push(b'e');
            }
        }
    }
}

/// JSON-like, for logs and test failures: byte strings as text when they are
/// UTF-8.
impl std::fmt::Display for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        fn bytes(b: &[u8], f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            match std::str::from_utf8(b) {
                Ok(s) => write!(f, "{s:?}"),
                Err(_) => write!(f, "{b:?}"),
            }
        }
        match self {
            Value::Int(i) => write!(f, "{i}"),
            Value::Bytes(b) => bytes(b, f),
            Value::List(l) => {
                f.write_str("[")?;
                for (i, v) in l.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{v}")?;
                }
                f.write_str("]")
            }
            Value::Dict(d) => {
                f.write_str("{")?;
                for (i, (k, v)) in d.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    bytes(k, f)?;
                    write!(f, ": {v}")?;
                }
                f.write_str("}")
            }
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::str(s)
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

impl From<u64> for Value {
    fn from(i: u64) -> Value {
        Value::Int(i64::try_from(i).unwrap_or(i64::MAX))
    }
}

impl<V: Into<Value>> From<Vec<V>> for Value {
    fn from(l: Vec<V>) -> Value {
        Value::List(l.into_iter().map(Into::into).collect())
    }
}

impl From<Dict> for Value {
    fn from(d: Dict) -> Value {
        Value::Dict(d)
    }
}

fn encode_bytes(b: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(b.len().to_string().as_bytes());
    out.push(b':');
    out.extend_from_slice(b);
}

/// Decodes exactly one value filling all of `input`.
pub fn decode(input: &[u8]) -> Result<Value, DecodeError> {
    let (v, used) = decode_prefix(input)?;
    if used != input.len() {
        return Err(DecodeError::Invalid { at: used, why: "data after the value" });
    }
    Ok(v)
}

/// Decodes one value at the start of `input`, returning it and the bytes it
/// took (a stream carries values back to back).
pub fn decode_prefix(input: &[u8]) -> Result<(Value, usize), DecodeError> {
    let mut d = Decoder { input, pos: 0, items: 0 };
    let v = d.value(0)?;
    Ok((v, d.pos))
}

struct Decoder<'a> {
    input: &'a [u8],
    pos: usize,
    items: usize,
}

impl Decoder<'_> {
    fn invalid(&self, why: &'static str) -> DecodeError {
        DecodeError::Invalid { at: self.pos, why }
    }

    fn peek(&self) -> Result<u8, DecodeError> {
        self.input.get(self.pos).copied().ok_or(DecodeError::Incomplete)
    }

    fn value(&mut self, depth: usize) -> Result<Value, DecodeError> {
        if depth > MAX_DEPTH {
            return Err(self.invalid("nested too deep"));
        }
        self.items += 1;
        if self.items > MAX_ITEMS {
            return Err(self.invalid("too many values"));
        }
        match self.peek()? {
            b'i' => {
                self.pos += 1;
                self.int().map(Value::Int)
            }
            b'0'..=b'9' => self.bytes().map(Value::Bytes),
            b'l' => {
                self.pos += 1;
                let mut list = Vec::new();
                while self.peek()? != b'e' {
                    list.push(self.value(depth + 1)?);
                }
                self.pos += 1;
                Ok(Value::List(list))
            }
            b'd' => {
                self.pos += 1;
                let mut dict = Dict::new();
                while self.peek()? != b'e' {
                    if !self.peek()?.is_ascii_digit() {
                        return Err(self.invalid("a dictionary key must be a byte string"));
                    }
                    let key_at = self.pos;
                    let key = self.bytes()?;
                    let value = self.value(depth + 1)?;
                    if dict.insert(key, value).is_some() {
                        return Err(DecodeError::Invalid { at: key_at, why: "duplicate dictionary key" });
                    }
                }
                self.pos += 1;
                Ok(Value::Dict(dict))
            }
            _ => Err(self.invalid("not the start of a value")),
        }
    }

    /// Digits up to `end`, as a number, without leading zeros; `neg` allowed
    /// for integers.
    fn number(&mut self, end: u8, signed: bool) -> Result<i64, DecodeError> {
        let start = self.pos;
        let neg = signed && self.peek()? == b'-';
        if neg {
            self.pos += 1;
        }
        let digits_at = self.pos;
        let mut n: i128 = 0;
        loop {
            let c = self.peek()?;
            if c == end {
                break;
            }
            if !c.is_ascii_digit() {
                return Err(self.invalid("expected a digit"));
            }
            if self.pos - digits_at >= 19 {
                return Err(self.invalid("number too large"));
            }
            n = n * 10 + i128::from(c - b'0');
            self.pos += 1;
        }
        let digits = &self.input[digits_at..self.pos];
        if digits.is_empty() {
            return Err(DecodeError::Invalid { at: start, why: "empty number" });
        }
        if digits.len() > 1 && digits[0] == b'0' {
            return Err(DecodeError::Invalid { at: start, why: "leading zero" });
        }
        if neg && n == 0 {
            return Err(DecodeError::Invalid { at: start, why: "negative zero" });
        }
        let n = i64::try_from(if neg { -n } else { n })
            .map_err(|_| DecodeError::Invalid { at: start, why: "number too large" })?;
        self.pos += 1; // the end byte
        Ok(n)
    }

    fn int(&mut self) -> Result<i64, DecodeError> {
        self.number(b'e', true)
    }

    fn bytes(&mut self) -> Result<Vec<u8>, DecodeError> {
        let len = self.number(b':', false)?;
        let len = usize::try_from(len).map_err(|_| self.invalid("byte string too long"))?;
        let end = self.pos.checked_add(len).ok_or_else(|| self.invalid("byte string too long"))?;
        let b = self.input.get(self.pos..end).ok_or(DecodeError::Incomplete)?;
        self.pos = end;
        Ok(b.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn d(s: &str) -> Result<Value, DecodeError> {
        decode(s.as_bytes())
    }

    #[test]
    fn scalars() {
        assert_eq!(d("i0e"), Ok(Value::Int(0)));
        assert_eq!(d("i-42e"), Ok(Value::Int(-42)));
        assert_eq!(d("i9223372036854775807e"), Ok(Value::Int(i64::MAX)));
        assert_eq!(d("i-9223372036854775808e"), Ok(Value::Int(i64::MIN)));
        assert!(d("i9223372036854775808e").is_err());
        assert!(d("i9999999999999999999e").is_err());
        assert_eq!(d("0:"), Ok(Value::Bytes(vec![])));
        assert_eq!(d("4:spam"), Ok(Value::str("spam")));
        assert_eq!(d("3:a\0b"), Ok(Value::Bytes(b"a\0b".to_vec())));
    }

    #[test]
    fn containers_and_unsorted_keys() {
        let v = d("d7:command4:ping4:abcdli1e1:xee").unwrap();
        let dict = v.as_dict().unwrap();
        assert_eq!(dict[&b"command"[..]].as_str(), Some("ping"));
        assert_eq!(dict[&b"abcd"[..]], Value::List(vec![Value::Int(1), Value::str("x")]));
        assert_eq!(v.to_string(), r#"{"abcd": [1, "x"], "command": "ping"}"#);
        // Encoded back with sorted keys.
        assert_eq!(v.encode(), b"d4:abcdli1e1:xe7:command4:pinge");
        assert_eq!(d("le"), Ok(Value::List(vec![])));
        assert_eq!(d("de"), Ok(Value::Dict(Dict::new())));
    }

    #[test]
    fn strictness() {
        for bad in [
            "i03e",
            "i-0e",
            "ie",
            "i-e",
            "i1x2e",
            "03:abc",
            "-1:a",
            "i99999999999999999999e",
            "di1ei2ee",
            "d1:ai1e1:ai2ee",
            "x",
            "i1ei2e",
            "1:ab",
            "",
            "l",
            "d3:keye",
            "-1:",
        ] {
            assert!(d(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn truncation_is_incomplete() {
        for cut in ["d7:command4:pi", "d7:command", "li1e", "i12", "5:abc", "d"] {
            assert_eq!(d(cut), Err(DecodeError::Incomplete), "{cut:?}");
        }
        assert_eq!(decode_prefix(b"i1ei2e"), Ok((Value::Int(1), 3)));
        assert_eq!(decode(b"i1ei2e"), Err(DecodeError::Invalid { at: 3, why: "data after the value" }));
    }

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
        assert_eq!(Value::from(u64::MAX).encode(), b"i9223372036854775807e");
        assert_eq!(Value::List(vec![]).encode(), b"le");
        assert_eq!(Value::dict(Vec::<(&str, Value)>::new()).encode(), b"de");
        assert_eq!(Value::from("").encode(), b"0:");
    }

    #[test]
    fn decodes_an_rtpengine_answer() {
        let v = d("d6:result2:ok3:sdp8:v=0\r\nc=xe").unwrap();
        assert_eq!(v.get("result").and_then(Value::as_str), Some("ok"));
        assert_eq!(v.get("sdp").and_then(Value::as_str), Some("v=0\r\nc=x"));
        assert_eq!(v.get("missing"), None);
        assert_eq!(Value::Int(1).get("result"), None);
    }

    #[test]
    fn limits() {
        let deep = "l".repeat(MAX_DEPTH + 2) + &"e".repeat(MAX_DEPTH + 2);
        assert!(matches!(d(&deep), Err(DecodeError::Invalid { why: "nested too deep", .. })));
        let ok = "l".repeat(MAX_DEPTH) + &"e".repeat(MAX_DEPTH);
        assert!(d(&ok).is_ok());
        let many = format!("l{}e", "i1e".repeat(MAX_ITEMS));
        assert!(matches!(d(&many), Err(DecodeError::Invalid { why: "too many values", .. })));
        // A length far beyond the input is incomplete, not an allocation.
        assert_eq!(d("999999999999:x"), Err(DecodeError::Incomplete));
    }

    fn any_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            any::<i64>().prop_map(Value::Int),
            proptest::collection::vec(any::<u8>(), 0..24).prop_map(Value::Bytes),
        ];
        leaf.prop_recursive(4, 64, 8, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..8).prop_map(Value::List),
                proptest::collection::btree_map(proptest::collection::vec(any::<u8>(), 0..12), inner, 0..8)
                    .prop_map(Value::Dict),
            ]
        })
    }

    proptest! {
        #[test]
        fn round_trip(v in any_value()) {
            let bytes = v.encode();
            prop_assert_eq!(decode(&bytes), Ok(v.clone()));
            // Every proper prefix is incomplete, never a different value.
            for cut in [bytes.len() / 2, bytes.len().saturating_sub(1)] {
                if cut < bytes.len() {
                    prop_assert_eq!(decode(&bytes[..cut]), Err(DecodeError::Incomplete));
                }
            }
        }

        #[test]
        fn arbitrary_bytes_never_panic(input in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = decode(&input);
            let _ = decode_prefix(&input);
        }

        #[test]
        fn bencode_like_text_never_panics(input in "[dlie0-9:a-z-]{0,200}") {
            if let Ok(v) = decode(input.as_bytes()) {
                // What decodes re-encodes to a canonical form that decodes the same.
                prop_assert_eq!(decode(&v.encode()), Ok(v));
            }
        }
    }
}
