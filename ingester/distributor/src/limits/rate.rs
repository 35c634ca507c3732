//! [`TokenBucket`]: the per-tenant ingestion rate limit.

use std::time::Instant;

/// Holds up to `burst` tokens, refilled at `rate` per second; a request
/// takes one token per sample, all or nothing.
#[derive(Debug)]
pub(crate) struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket. `rate` 0 = unlimited.
    pub(crate) fn new(rate: f64, burst: f64) -> Self {
        Self { rate, burst, tokens: burst, last: Instant::now() }
    }

    /// Takes `n` tokens at `now` if there are that many.
    pub(crate) fn try_take(&mut self, n: u64, now: Instant) -> bool {
        if self.rate <= 0.0 {
            return true;
        }
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        if self.tokens >= n as f64 {
            self.tokens -= n as f64;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn takes_bursts_then_refills_at_the_rate() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(100.0, 150.0);
        assert!(b.try_take(150, t0));
        assert!(!b.try_take(1, t0));
        // Half a second refills 50 tokens.
        assert!(!b.try_take(51, t0 + Duration::from_millis(500)));
        assert!(b.try_take(50, t0 + Duration::from_millis(500)));
        // Never more than the burst, however long it waited.
        assert!(!b.try_take(151, t0 + Duration::from_secs(3600)));
        assert!(b.try_take(150, t0 + Duration::from_secs(3600)));
        assert!(TokenBucket::new(0.0, 0.0).try_take(u64::MAX, t0), "0 = unlimited");
    }
}
