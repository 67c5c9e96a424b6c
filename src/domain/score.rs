//! Scores are kept in tenths of a point so that half points add up exactly.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Score(u32);

impl Score {
    pub fn from_tenths(tenths: u32) -> Self {
        Self(tenths)
    }

    pub fn from_points(points: u32) -> Self {
        Self(points * 10)
    }

    pub fn tenths(self) -> u32 {
        self.0
    }

    /// Parses "28", "28.5" or "28.0" (at most one decimal); at most `max`.
    pub fn parse(raw: &str, max: Score) -> Result<Self, String> {
        let s = raw.trim();
        if s.is_empty() {
            return Err("不能为空".into());
        }
        let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
        let frac = frac.trim_end_matches('0');
        let valid = !whole.is_empty()
            && whole.len() <= 4
            && whole.bytes().all(|b| b.is_ascii_digit())
            && frac.len() <= 1
            && frac.bytes().all(|b| b.is_ascii_digit());
        if !valid {
            return Err("应为数字（最多一位小数）".into());
        }
        let tenths = whole.parse::<u32>().unwrap_or(0) * 10 + frac.parse::<u32>().unwrap_or(0);
        if tenths > max.0 {
            return Err(format!("超出范围 0–{max}"));
        }
        Ok(Self(tenths))
    }
}

impl fmt::Display for Score {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_multiple_of(10) {
            write!(f, "{}", self.0 / 10)
        } else {
            write!(f, "{}.{}", self.0 / 10, self.0 % 10)
        }
    }
}

/// The maxima of the four items of Henan's lab exam (主实验 16, 副实验 6 + 6, 整理器材 2); the
/// defaults come from configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
pub struct ItemMaxima {
    pub main: u32,
    pub secondary_one: u32,
    pub secondary_two: u32,
    pub tidying: u32,
}

impl Default for ItemMaxima {
    fn default() -> Self {
        Self {
            main: 16,
            secondary_one: 6,
            secondary_two: 6,
            tidying: 2,
        }
    }
}

/// Item scores; when given, their sum must equal the total (a wrong sum is exactly a 合分 error).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ItemScores {
    pub main: Score,
    pub secondary_one: Score,
    pub secondary_two: Score,
    pub tidying: Score,
}

impl ItemScores {
    pub fn sum(&self) -> Score {
        Score(self.main.0 + self.secondary_one.0 + self.secondary_two.0 + self.tidying.0)
    }
}

/// How a school's scores spread, for notices and summaries.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Distribution {
    pub count: u32,
    pub full_marks: u32,
    pub average: String,
    pub highest: String,
    pub lowest: String,
    /// Counts per band, highest band first, with labels like "27–29.5".
    pub bands: Vec<Band>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Band {
    pub label: String,
    pub count: u32,
}

impl Distribution {
    /// Bands: full marks, ≥90%, ≥80%, ≥60%, below 60% of the full score.
    pub fn of(scores: &[Score], full: Score) -> Self {
        if scores.is_empty() {
            return Self::default();
        }
        let count = scores.len() as u32;
        let total: u64 = scores.iter().map(|s| u64::from(s.0)).sum();
        let avg_tenths = (total * 10 / u64::from(count)) as f64 / 100.0;
        let cut = |pct: u32| Score(full.0 * pct / 100);
        let edges = [cut(90), cut(80), cut(60)];
        let below = |s: Score| Score(s.0.saturating_sub(1));
        let mut bands = vec![Band {
            label: format!("{full}"),
            count: scores.iter().filter(|s| **s == full).count() as u32,
        }];
        let mut upper = below(full);
        for edge in edges {
            bands.push(Band {
                label: format!("{edge}–{upper}"),
                count: scores
                    .iter()
                    .filter(|s| **s >= edge && **s <= upper)
                    .count() as u32,
            });
            upper = below(edge);
        }
        bands.push(Band {
            label: format!("0–{upper}"),
            count: scores.iter().filter(|s| **s <= upper).count() as u32,
        });
        Self {
            count,
            full_marks: bands[0].count,
            average: format!("{avg_tenths:.1}"),
            highest: scores
                .iter()
                .max()
                .map(ToString::to_string)
                .unwrap_or_default(),
            lowest: scores
                .iter()
                .min()
                .map(ToString::to_string)
                .unwrap_or_default(),
            bands,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_points_and_half_points() {
        let max = Score::from_points(30);
        assert_eq!(Score::parse("28", max).unwrap().tenths(), 280);
        assert_eq!(Score::parse("28.5", max).unwrap().tenths(), 285);
        assert_eq!(Score::parse("30.0", max).unwrap().tenths(), 300);
        assert!(Score::parse("30.5", max).is_err());
        assert!(Score::parse("-1", max).is_err());
        assert!(Score::parse("abc", max).is_err());
        assert!(Score::parse("28.25", max).is_err());
        assert_eq!(Score::from_tenths(285).to_string(), "28.5");
    }

    #[test]
    fn distribution_bands_cover_every_score_once() {
        let full = Score::from_points(30);
        let scores: Vec<Score> = (0..=300).map(Score::from_tenths).collect();
        let d = Distribution::of(&scores, full);
        assert_eq!(d.bands.iter().map(|b| b.count).sum::<u32>(), d.count);
        assert_eq!(d.full_marks, 1);
        assert_eq!(d.bands[1].label, "27–29.9");
    }
}
