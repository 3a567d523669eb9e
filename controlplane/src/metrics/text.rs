//! The Prometheus text exposition format (version 0.0.4): a writer that
//! puts `# HELP` and `# TYPE` before each family's samples. The tests read
//! it back with the strict reader in `tests/common/prometheus.rs`.

use std::fmt::Write;

/// The content type of the text format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A metric family's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Only goes up (resets on restart); named `..._total`.
    Counter,
    /// Goes up and down.
    Gauge,
    /// Observations in cumulative buckets, with `_bucket`, `_sum`, `_count`.
    Histogram,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

/// Writes exposition text.
#[derive(Debug, Default)]
pub struct Exposition {
    out: String,
}

/// Label pairs of one sample.
pub type Labels<'a> = &'a [(&'a str, &'a str)];

impl Exposition {
    /// An empty text.
    pub fn new() -> Self {
        Exposition::default()
    }

    /// Starts a family: its HELP and TYPE lines.
    pub fn family(&mut self, name: &str, kind: Kind, help: &str) -> &mut Self {
        let help = help.replace('\\', "\\\\").replace('\n', "\\n");
        let _ = writeln!(self.out, "# HELP {name} {help}\n# TYPE {name} {}", kind.name());
        self
    }

    /// A sample with an integer value.
    pub fn int(&mut self, name: &str, labels: Labels<'_>, value: u64) -> &mut Self {
        self.series(name, labels, None);
        let _ = writeln!(self.out, " {value}");
        self
    }

    /// A sample with a floating-point value.
    pub fn float(&mut self, name: &str, labels: Labels<'_>, value: f64) -> &mut Self {
        self.series(name, labels, None);
        let _ = writeln!(self.out, " {}", float(value));
        self
    }

    /// The samples of one histogram series: `buckets` are (upper bound,
    /// observations at most that), cumulative; `+Inf` is added from `count`.
    pub fn histogram(&mut self, name: &str, labels: Labels<'_>, buckets: &[(f64, u64)], sum: f64, count: u64) {
        let bucket = format!("{name}_bucket");
        for &(le, n) in buckets {
            self.series(&bucket, labels, Some(&float(le)));
            let _ = writeln!(self.out, " {n}");
        }
        self.series(&bucket, labels, Some("+Inf"));
        let _ = writeln!(self.out, " {count}");
        self.float(&format!("{name}_sum"), labels, sum);
        self.int(&format!("{name}_count"), labels, count);
    }

    fn series(&mut self, name: &str, labels: Labels<'_>, le: Option<&str>) {
        self.out.push_str(name);
        if labels.is_empty() && le.is_none() {
            return;
        }
        self.out.push('{');
        let mut first = true;
        for (k, v) in labels.iter().copied().chain(le.map(|le| ("le", le))) {
            if !first {
                self.out.push(',');
            }
            first = false;
            let _ = write!(self.out, "{k}=\"");
            for c in v.chars() {
                match c {
                    '\\' => self.out.push_str("\\\\"),
                    '"' => self.out.push_str("\\\""),
                    '\n' => self.out.push_str("\\n"),
                    c => self.out.push(c),
                }
            }
            self.out.push('"');
        }
        self.out.push('}');
    }

    /// Appends text written by another `Exposition`.
    pub fn append(&mut self, text: &str) {
        self.out.push_str(text);
    }

    /// The text.
    pub fn finish(self) -> String {
        self.out
    }
}

fn float(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        format!("{v}")
    }
}
