//! Counted reasons written once: each reason's doc comment, name and place
//! in the counters come from one table, and so do the metric labels and the
//! tables in the docs.

/// Declares an enum of counted reasons from a table of
/// `/// help` + `Variant = "name",` rows: the enum in counter order
/// (`#[repr(u8)]`, the variant's index is its counter), `COUNT`, `ALL`,
/// `name()` (statistics and metric labels) and `help()` (the doc comment,
/// for the docs).
macro_rules! reasons {
    (
        $(#[$meta:meta])*
        $vis:vis enum $ty:ident {
            $( $(#[doc = $help:literal])+ $name:ident = $label:literal, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr(u8)]
        $vis enum $ty {
            $( $(#[doc = $help])+ $name, )*
        }

        impl $ty {
            /// Number of reasons.
            pub const COUNT: usize = [$(Self::$name),*].len();
            /// Every reason, in counter order.
            pub const ALL: [$ty; Self::COUNT] = [$(Self::$name),*];

            /// The name used in statistics and metrics labels.
            pub const fn name(self) -> &'static str {
                match self {
                    $(Self::$name => $label,)*
                }
            }

            /// What the reason means, as its doc comment says.
            pub fn help(self) -> &'static str {
                match self {
                    $(Self::$name => concat!($($help),+),)*
                }
                .trim()
            }
        }
    };
}

pub(crate) use reasons;

#[cfg(test)]
mod tests {
    reasons! {
        /// Reasons of a test.
        enum Why {
            /// The first,
            /// over two lines.
            First = "first",
            /// The second.
            Second = "second",
        }
    }

    #[test]
    fn the_table_gives_order_names_and_help() {
        assert_eq!(Why::COUNT, 2);
        assert_eq!(Why::ALL, [Why::First, Why::Second]);
        assert_eq!((Why::First as usize, Why::Second as usize), (0, 1));
        assert_eq!(Why::Second.name(), "second");
        assert_eq!(Why::First.help(), "The first, over two lines.");
    }
}
