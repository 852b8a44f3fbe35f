//! The one place that reads the wall clock.

use custos_core::Date;
use jiff::Timestamp;
use jiff::tz::TimeZone;

pub trait Clock: Send + Sync {
    fn now(&self) -> Timestamp;

    /// Today's date in UTC: the default "as of" of every question about the chain.
    fn today(&self) -> Date {
        day_of(self.now())
    }
}

/// The last moment of `day` (UTC): "as of" a day, for what is judged by the hour.
pub fn end_of(day: Date) -> Timestamp {
    day.tomorrow()
        .ok()
        .and_then(|next| next.to_zoned_datetime(TimeZone::UTC).ok())
        .and_then(|z| {
            z.timestamp()
                .checked_sub(jiff::SignedDuration::from_nanos(1))
                .ok()
        })
        .unwrap_or(Timestamp::MAX)
}

/// The UTC day of a moment.
pub fn day_of(at: Timestamp) -> Date {
    at.to_zoned_datetime(TimeZone::UTC).date()
}

#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods)] // the one sanctioned read of the wall clock
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// A clock that stays where it is put, for tests and reproducible runs.
#[derive(Debug, Clone, Copy)]
pub struct FixedClock(pub Timestamp);

impl FixedClock {
    /// Midnight UTC of `date`.
    pub fn at_date(date: Date) -> Self {
        let midnight = date
            .to_zoned_datetime(TimeZone::UTC)
            .map(|z| z.timestamp())
            .unwrap_or(Timestamp::UNIX_EPOCH);
        Self(midnight)
    }
}

impl Clock for FixedClock {
    fn now(&self) -> Timestamp {
        self.0
    }
}

/// A time as stored where order matters (deadlines, due times): UTC with microseconds, fixed
/// width, so that the text order of two stamps is their time order on every backend.
pub fn stamp(at: Timestamp) -> String {
    at.strftime("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// Reads a stamp back.
/// A moment as people read it in a document or an e-mail: in `zone`, to the minute, the zone
/// named (`2026-11-25 11:00 CET`).
pub fn moment_in(at: Timestamp, zone: &TimeZone) -> String {
    at.to_zoned_datetime(zone.clone())
        .strftime("%Y-%m-%d %H:%M %Z")
        .to_string()
}

/// The time zone an organisation's people read times in (its `time_zone`; UTC by default).
pub fn zone_of(register: &custos_core::register::Register, id: &str) -> TimeZone {
    register
        .organisation(id)
        .and_then(|o| o.time_zone.as_ref())
        .map_or(TimeZone::UTC, custos_core::values::TimeZoneName::zone)
}

pub fn parse_stamp(raw: &str) -> Option<Timestamp> {
    raw.parse().ok()
}

/// A clock that tests move by hand (objection windows run out, retries fall due).
#[derive(Debug)]
pub struct ManualClock(std::sync::Mutex<Timestamp>);

impl ManualClock {
    pub fn new(at: Timestamp) -> Self {
        Self(std::sync::Mutex::new(at))
    }

    pub fn set(&self, at: Timestamp) {
        if let Ok(mut now) = self.0.lock() {
            *now = at;
        }
    }

    pub fn advance(&self, by: jiff::SignedDuration) {
        if let Ok(mut now) = self.0.lock() {
            *now = now.checked_add(by).unwrap_or(*now);
        }
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        self.0.lock().map_or(Timestamp::UNIX_EPOCH, |now| *now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_sort_as_times() {
        let earlier: Timestamp = "2026-11-25T10:00:00Z".parse().unwrap();
        let later: Timestamp = "2026-11-25T10:00:00.5Z".parse().unwrap();
        assert_eq!(stamp(earlier), "2026-11-25T10:00:00.000000Z");
        assert!(stamp(earlier) < stamp(later));
        assert_eq!(parse_stamp(&stamp(later)), Some(later));
    }
}
