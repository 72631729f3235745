//! Answers of the delivery store in Azure Blob Storage's shape (BFL's result URLs are Azure
//! SAS URLs): the XML error bodies, the `x-ms-error-code` header and HTTP dates.

use crate::exchange::{SimBody, SimResponse};
use bytes::Bytes;

/// Azure's message for every SAS authentication failure.
const AUTH_FAILED: &str = "Server failed to authenticate the request. Make sure the value of \
Authorization header is formed correctly including the signature.";

/// An RFC 7231 date (`Tue, 01 Dec 2026 15:11:30 GMT`) of unix seconds.
pub(super) fn http_date(unix: f64) -> String {
    let secs = unix.max(0.0).floor() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{}, {day:02} {} {year} {:02}:{:02}:{:02} GMT",
        WEEKDAYS[days.rem_euclid(7) as usize],
        MONTHS[(month - 1) as usize],
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn error(status: u16, code: &str, message: &str, detail: Option<&str>) -> SimResponse {
    let detail = detail
        .map(|d| format!("<AuthenticationErrorDetail>{d}</AuthenticationErrorDetail>"))
        .unwrap_or_default();
    SimResponse {
        status,
        headers: vec![
            ("content-type", "application/xml".into()),
            ("x-ms-error-code", code.to_owned()),
        ],
        body: SimBody::Bytes(Bytes::from(format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>{code}</Code><Message>{message}</Message>{detail}</Error>"
        ))),
        delay: 0.0,
        hang: false,
    }
}

/// 404 `BlobNotFound`.
pub(super) fn not_found() -> SimResponse {
    error(
        404,
        "BlobNotFound",
        "The specified blob does not exist.",
        None,
    )
}

/// 403 `AuthenticationFailed` for a signature that does not match.
pub(super) fn bad_signature() -> SimResponse {
    error(
        403,
        "AuthenticationFailed",
        AUTH_FAILED,
        Some("Signature did not match."),
    )
}

/// 403 `AuthenticationFailed` for a SAS URL past its expiry `se` (unix seconds), seen at `now`.
pub(super) fn expired(start: f64, se: f64, now: f64) -> SimResponse {
    let detail = format!(
        "Signature not valid in the specified time frame: Start [{}] - Expiry [{}] - Current [{}]",
        http_date(start),
        http_date(se),
        http_date(now)
    );
    error(403, "AuthenticationFailed", AUTH_FAILED, Some(&detail))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_http_dates() {
        assert_eq!(http_date(0.0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(http_date(1_767_225_600.0), "Thu, 01 Jan 2026 00:00:00 GMT");
        assert_eq!(http_date(1_796_138_090.0), "Tue, 01 Dec 2026 15:14:50 GMT");
        assert_eq!(http_date(951_782_400.0), "Tue, 29 Feb 2000 00:00:00 GMT");
    }
}
