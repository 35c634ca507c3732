//! Time functions: `timestamp` and the calendar functions (`year`, `month`,
//! `day_of_month`, `day_of_week`, `day_of_year`, `days_in_month`, `hour`,
//! `minute`), which read each value as Unix seconds in UTC (default:
//! `vector(time())`).

use promql_parser::parser::{Call, Expr};
use strata_common::Labels;
use strata_common::labels::METRIC_NAME;

use super::{FnDef, Kind};
use crate::engine::ctx::{EvalCtx, SeriesStream, StepSeries, Value, VecStream};
use crate::engine::eval::{InstantSelector, MapStream, eval, unparen};
use crate::error::{Error, Result};

fn timestamp<'a>(ctx: &'a EvalCtx, call: &'a Call) -> Result<Value<'a>> {
    let arg = call
        .args
        .args
        .first()
        .map(|a| a.as_ref())
        .ok_or_else(|| Error::BadData("timestamp needs 1 argument".into()))?;
    if let Expr::VectorSelector(vs) = unparen(arg) {
        let sel = InstantSelector::new(ctx, vs)?.emit_timestamps();
        return Ok(Value::Vector(Box::new(MapStream { inner: Box::new(sel), drop_name: true, f: Box::new(Some) })));
    }
    let Value::Vector(mut inner) = eval(ctx, arg)? else {
        return Err(Error::BadData("expected an instant vector argument to timestamp".into()));
    };
    let mut out = Vec::new();
    while let Some(mut s) = inner.next_series()? {
        let hist = s.hist.take();
        for (i, v) in s.values.iter_mut().enumerate() {
            if v.is_some() || hist.as_ref().is_some_and(|h| h[i].is_some()) {
                *v = Some(ctx.ts(i) as f64 / 1000.0);
            }
        }
        s.labels.remove(METRIC_NAME);
        out.push(s);
    }
    Ok(Value::Vector(Box::new(VecStream::charged(ctx, out)?)))
}

/// A UTC calendar date and time of day.
struct Civil {
    year: i64,
    month: i64,
    day: i64,
    hour: i64,
    minute: i64,
    days: i64,
}

fn civil(secs: f64) -> Civil {
    let secs = secs as i64; // Go's int64(f): truncation
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // H. Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    Civil { year, month, day, hour: rem / 3600, minute: rem % 3600 / 60, days }
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month_of(c: &Civil) -> i64 {
    match c.month {
        2 if is_leap(c.year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

fn day_of_year_of(c: &Civil) -> i64 {
    const CUM: [i64; 12] = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334];
    CUM[(c.month - 1) as usize] + c.day + i64::from(c.month > 2 && is_leap(c.year))
}

fn date_fn<'a>(ctx: &'a EvalCtx, call: &'a Call, f: fn(&Civil) -> i64) -> Result<Value<'a>> {
    let inner: Box<dyn SeriesStream + 'a> = match call.args.args.first() {
        None => {
            let values = (0..ctx.steps).map(|i| Some(ctx.ts(i) as f64 / 1000.0)).collect();
            Box::new(VecStream::new(vec![StepSeries::new(Labels::empty(), values)]))
        }
        Some(a) => match eval(ctx, a)? {
            Value::Vector(v) => v,
            _ => return Err(Error::BadData(format!("expected an instant vector argument to {}", call.func.name))),
        },
    };
    let map = move |x: f64| Some(if x.is_nan() { x } else { f(&civil(x)) as f64 });
    Ok(Value::Vector(Box::new(MapStream { inner, drop_name: true, f: Box::new(map) })))
}

macro_rules! date_function {
    ($name:ident, $f:expr) => {
        fn $name<'a>(ctx: &'a EvalCtx, call: &'a Call) -> Result<Value<'a>> {
            date_fn(ctx, call, $f)
        }
    };
}

date_function!(year, |c| c.year);
date_function!(month, |c| c.month);
date_function!(day_of_month, |c| c.day);
date_function!(day_of_week, |c| (c.days + 4).rem_euclid(7));
date_function!(day_of_year, day_of_year_of);
date_function!(days_in_month, days_in_month_of);
date_function!(hour, |c| c.hour);
date_function!(minute, |c| c.minute);

/// The time functions.
pub static FUNCTIONS: &[FnDef] = &[
    FnDef { name: "timestamp", kind: Kind::Custom(timestamp), keep_name: false },
    FnDef { name: "year", kind: Kind::Custom(year), keep_name: false },
    FnDef { name: "month", kind: Kind::Custom(month), keep_name: false },
    FnDef { name: "day_of_month", kind: Kind::Custom(day_of_month), keep_name: false },
    FnDef { name: "day_of_week", kind: Kind::Custom(day_of_week), keep_name: false },
    FnDef { name: "day_of_year", kind: Kind::Custom(day_of_year), keep_name: false },
    FnDef { name: "days_in_month", kind: Kind::Custom(days_in_month), keep_name: false },
    FnDef { name: "hour", kind: Kind::Custom(hour), keep_name: false },
    FnDef { name: "minute", kind: Kind::Custom(minute), keep_name: false },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        let c = civil(1_700_000_000.0); // 2023-11-14T22:13:20Z, a Tuesday
        assert_eq!((c.year, c.month, c.day, c.hour, c.minute), (2023, 11, 14, 22, 13));
        assert_eq!((c.days + 4).rem_euclid(7), 2);
        assert_eq!(day_of_year_of(&c), 318);
        assert_eq!(days_in_month_of(&civil(951_782_400.0)), 29); // 2000-02-29
    }
}
