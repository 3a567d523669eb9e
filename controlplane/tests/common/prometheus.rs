//! A strict reader of the Prometheus text exposition format (version
//! 0.0.4), for tests: it checks a scrape the way Prometheus would read it and
//! gives its samples back.

#![allow(dead_code)]

use std::collections::HashSet;

/// Label pairs to match.
pub type Labels<'a> = &'a [(&'a str, &'a str)];

/// A metric family's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Type {
    Counter,
    Gauge,
    Histogram,
}

/// One sample read back.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Metric name (with `_bucket`, `_sum`, `_count` for histograms).
    pub name: String,
    /// Labels, in the order written.
    pub labels: Vec<(String, String)>,
    /// Value.
    pub value: f64,
}

impl Sample {
    /// The value of label `k`.
    pub fn label(&self, k: &str) -> Option<&str> {
        self.labels.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
    }
}

/// Reads exposition text strictly: every sample belongs to a family whose
/// HELP and TYPE came first, families are not interleaved or repeated,
/// names and labels are well formed, no series appears twice, counters end
/// in `_total`, and histogram buckets are cumulative up to `+Inf` = `_count`.
pub fn parse(text: &str) -> Result<Vec<Sample>, String> {
    let mut samples = Vec::new();
    let mut types: Vec<(String, Type)> = Vec::new();
    let mut helps = HashSet::new();
    let mut seen = HashSet::new();
    let mut current: Option<(String, Type)> = None;
    let mut closed = HashSet::new();
    for (n, line) in text.lines().enumerate() {
        let at = |m: String| format!("line {}: {m}: {line}", n + 1);
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let name = rest.split(' ').next().unwrap_or_default();
            check_name(name).map_err(at)?;
            if !helps.insert(name.to_string()) {
                return Err(at("a second HELP".into()));
            }
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut f = rest.split(' ');
            let (name, kind) = (f.next().unwrap_or_default(), f.next().unwrap_or_default());
            check_name(name).map_err(at)?;
            let kind = match kind {
                "counter" => Type::Counter,
                "gauge" => Type::Gauge,
                "histogram" => Type::Histogram,
                k => return Err(at(format!("unknown type {k:?}"))),
            };
            if kind == Type::Counter && !name.ends_with("_total") {
                return Err(at("a counter's name ends in _total".into()));
            }
            if types.iter().any(|(t, _)| t == name) {
                return Err(at("a second TYPE".into()));
            }
            if !helps.contains(name) {
                return Err(at("TYPE without HELP".into()));
            }
            if let Some((prev, _)) = current.take() {
                closed.insert(prev);
            }
            types.push((name.to_string(), kind));
            current = Some((name.to_string(), kind));
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        let s = parse_sample(line).map_err(at)?;
        let (family, kind) = current.clone().ok_or_else(|| at("a sample before any TYPE".into()))?;
        let belongs = match kind {
            Type::Histogram => {
                [format!("{family}_bucket"), format!("{family}_sum"), format!("{family}_count")].contains(&s.name)
            }
            _ => s.name == family,
        };
        if !belongs {
            let other = types.iter().any(|(t, _)| s.name.starts_with(t.as_str())) || closed.contains(&s.name);
            return Err(at(if other {
                format!("sample outside its family's block (current family {family})")
            } else {
                format!("no TYPE for {}", s.name)
            }));
        }
        if kind == Type::Counter && (s.value < 0.0 || s.value.is_nan()) {
            return Err(at("a counter below zero".into()));
        }
        let key = format!("{}{:?}", s.name, s.labels);
        if !seen.insert(key) {
            return Err(at("the same series twice".into()));
        }
        samples.push(s);
    }
    check_histograms(&samples, &types)?;
    Ok(samples)
}

fn check_name(name: &str) -> Result<(), String> {
    let mut c = name.chars();
    let ok = c.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && c.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':');
    if ok {
        Ok(())
    } else {
        Err(format!("bad metric name {name:?}"))
    }
}

fn parse_sample(line: &str) -> Result<Sample, String> {
    let name_end = line.find(['{', ' ']).ok_or("no value")?;
    let name = &line[..name_end];
    check_name(name)?;
    let mut rest = &line[name_end..];
    let mut labels = Vec::new();
    if let Some(r) = rest.strip_prefix('{') {
        rest = r;
        loop {
            if let Some(r) = rest.strip_prefix('}') {
                rest = r;
                break;
            }
            let eq = rest.find('=').ok_or("label without =")?;
            let k = &rest[..eq];
            let mut c = k.chars();
            if !(c.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && c.all(|c| c.is_ascii_alphanumeric() || c == '_'))
            {
                return Err(format!("bad label name {k:?}"));
            }
            rest = rest[eq + 1..].strip_prefix('"').ok_or("unquoted label value")?;
            let mut v = String::new();
            let mut chars = rest.char_indices();
            let end = loop {
                match chars.next() {
                    Some((i, '"')) => break i,
                    Some((_, '\\')) => match chars.next() {
                        Some((_, '\\')) => v.push('\\'),
                        Some((_, '"')) => v.push('"'),
                        Some((_, 'n')) => v.push('\n'),
                        _ => return Err("bad escape in a label value".into()),
                    },
                    Some((_, c)) => v.push(c),
                    None => return Err("unterminated label value".into()),
                }
            };
            if labels.iter().any(|(n, _): &(String, String)| n == k) {
                return Err(format!("label {k} twice"));
            }
            labels.push((k.to_string(), v));
            rest = &rest[end + 1..];
            rest = rest.strip_prefix(',').unwrap_or(rest);
        }
    }
    let mut f = rest.strip_prefix(' ').ok_or("no space before the value")?.split(' ');
    let value = match f.next().ok_or("no value")? {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        "NaN" => f64::NAN,
        v => v.parse::<f64>().map_err(|_| format!("bad value {v:?}"))?,
    };
    if let Some(ts) = f.next() {
        ts.parse::<i64>().map_err(|_| format!("bad timestamp {ts:?}"))?;
    }
    if f.next().is_some() {
        return Err("trailing text".into());
    }
    Ok(Sample { name: name.to_string(), labels, value })
}

fn check_histograms(samples: &[Sample], types: &[(String, Type)]) -> Result<(), String> {
    for (family, _) in types.iter().filter(|(_, k)| *k == Type::Histogram) {
        let bucket = format!("{family}_bucket");
        let without_le =
            |s: &Sample| s.labels.iter().filter(|(k, _)| k != "le").cloned().collect::<Vec<(String, String)>>();
        let mut series: Vec<Vec<(String, String)>> = Vec::new();
        for s in samples.iter().filter(|s| s.name == bucket) {
            let l = without_le(s);
            if !series.contains(&l) {
                series.push(l);
            }
        }
        for l in series {
            let mut last = (f64::NEG_INFINITY, 0.0);
            for s in samples.iter().filter(|s| s.name == bucket && without_le(s) == l) {
                let le: f64 = match s.label("le").ok_or(format!("{bucket} without le"))? {
                    "+Inf" => f64::INFINITY,
                    v => v.parse().map_err(|_| format!("{bucket}: bad le {v:?}"))?,
                };
                if le <= last.0 || s.value < last.1 {
                    return Err(format!("{bucket} {l:?}: buckets not ascending and cumulative at le={le}"));
                }
                last = (le, s.value);
            }
            let count = samples
                .iter()
                .find(|s| s.name == format!("{family}_count") && s.labels == l)
                .ok_or(format!("{family}_count missing for {l:?}"))?;
            if last.0 != f64::INFINITY || last.1 != count.value {
                return Err(format!("{bucket} {l:?}: the +Inf bucket must equal _count"));
            }
            if !samples.iter().any(|s| s.name == format!("{family}_sum") && s.labels == l) {
                return Err(format!("{family}_sum missing for {l:?}"));
            }
        }
    }
    Ok(())
}

/// The value of the one sample named `name` whose labels include `labels`
/// (`None` when there is none; a panic message when there are several).
pub fn value(samples: &[Sample], name: &str, labels: Labels<'_>) -> Option<f64> {
    let mut it = samples.iter().filter(|s| s.name == name && labels.iter().all(|(k, v)| s.label(k) == Some(*v)));
    let first = it.next()?;
    assert!(it.next().is_none(), "several {name} samples match {labels:?}");
    Some(first.value)
}

/// The sum of every sample named `name` whose labels include `labels`.
pub fn sum(samples: &[Sample], name: &str, labels: Labels<'_>) -> f64 {
    samples
        .iter()
        .filter(|s| s.name == name && labels.iter().all(|(k, v)| s.label(k) == Some(*v)))
        .map(|s| s.value)
        .sum()
}
