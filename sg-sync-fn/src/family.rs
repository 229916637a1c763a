//! The IP family of a range, and a value per family. Shared by what AWS publishes
//! ([`crate::publication`]) and the rules made of it ([`crate::rules`]), which otherwise
//! depend one way only.

use std::fmt;

use ipnet::IpNet;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Family {
    V4,
    V6,
}

impl Family {
    pub(crate) const ALL: [Family; 2] = [Family::V4, Family::V6];

    pub(crate) fn of(net: &IpNet) -> Family {
        match net {
            IpNet::V4(_) => Family::V4,
            IpNet::V6(_) => Family::V6,
        }
    }
}

/// One value per IP family: quota slots, counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PerFamily<T> {
    pub v4: T,
    pub v6: T,
}

impl<T> PerFamily<T> {
    /// Both families, `V4` first.
    pub(crate) fn from_fn(mut f: impl FnMut(Family) -> T) -> Self {
        PerFamily {
            v4: f(Family::V4),
            v6: f(Family::V6),
        }
    }
}

impl<T: Copy + std::iter::Sum<T>> PerFamily<T> {
    pub(crate) fn total(&self) -> T {
        [self.v4, self.v6].into_iter().sum()
    }
}

impl<T> std::ops::Index<Family> for PerFamily<T> {
    type Output = T;

    fn index(&self, f: Family) -> &T {
        match f {
            Family::V4 => &self.v4,
            Family::V6 => &self.v6,
        }
    }
}

impl<T> std::ops::IndexMut<Family> for PerFamily<T> {
    fn index_mut(&mut self, f: Family) -> &mut T {
        match f {
            Family::V4 => &mut self.v4,
            Family::V6 => &mut self.v6,
        }
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Family::V4 => "IPv4",
            Family::V6 => "IPv6",
        })
    }
}
