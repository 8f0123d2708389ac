//! Time as X.509 and OCSP encode it. ca-core never reads the clock: callers pass `now`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use der::asn1::{GeneralizedTime, UtcTime};
use der::DateTime;
use x509_cert::time::Time;

use crate::error::{Error, Result};

/// Seconds since the Unix epoch, truncated to whole seconds (X.509 and OCSP times carry no
/// fractions in DER as tsca writes them).
fn whole_seconds(t: SystemTime) -> Result<Duration> {
    let since = t
        .duration_since(UNIX_EPOCH)
        .map_err(|_| Error::InvalidRequest("time before 1970".into()))?;
    Ok(Duration::from_secs(since.as_secs()))
}

/// RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050 on.
pub fn x509_time(t: SystemTime) -> Result<Time> {
    let secs = whole_seconds(t)?;
    let dt = DateTime::from_unix_duration(secs).map_err(Error::encode("time"))?;
    if dt.year() < 2050 {
        Ok(Time::UtcTime(
            UtcTime::from_date_time(dt).map_err(Error::encode("UTCTime"))?,
        ))
    } else {
        Ok(Time::GeneralTime(GeneralizedTime::from_date_time(dt)))
    }
}

/// GeneralizedTime in whole seconds (OCSP's `producedAt`, `thisUpdate`, `nextUpdate`).
pub fn generalized_time(t: SystemTime) -> Result<GeneralizedTime> {
    let secs = whole_seconds(t)?;
    GeneralizedTime::from_unix_duration(secs).map_err(Error::encode("GeneralizedTime"))
}

/// A whole number of days.
pub const fn days(n: u64) -> Duration {
    Duration::from_secs(n * 86_400)
}

/// Years of 365 days (validity periods are stated in days on the wire anyway).
pub const fn years(n: u64) -> Duration {
    days(n * 365)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn utc_time_until_2049_then_generalized() {
        let y2049 = UNIX_EPOCH + Duration::from_secs(2_524_607_999); // 2049-12-31T23:59:59Z
        assert!(matches!(x509_time(y2049).unwrap(), Time::UtcTime(_)));
        let y2050 = UNIX_EPOCH + Duration::from_secs(2_524_608_000);
        assert!(matches!(x509_time(y2050).unwrap(), Time::GeneralTime(_)));
    }

    #[test]
    fn fractions_are_dropped() {
        let t = UNIX_EPOCH + Duration::from_millis(1_700_000_000_999);
        let g = generalized_time(t).unwrap();
        assert_eq!(g.to_unix_duration(), Duration::from_secs(1_700_000_000));
    }
}
