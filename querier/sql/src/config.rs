//! Configuration of the SQL layer (the `[sql]` table).

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Configuration of the SQL endpoints.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SqlConfig {
    /// Address of the Arrow Flight SQL (gRPC) listener, e.g.
    /// `127.0.0.1:9010`; empty (the default) disables it. `/api/v1/sql`
    /// is always served on the HTTP listener.
    pub flight_listen: String,
}

impl SqlConfig {
    /// The Flight SQL address, if enabled.
    pub fn flight_addr(&self) -> Result<Option<SocketAddr>> {
        if self.flight_listen.is_empty() {
            return Ok(None);
        }
        self.flight_listen.parse().map(Some).map_err(|e| {
            Error::BadRequest(format!("sql.flight_listen: {:?} is not a socket address: {e}", self.flight_listen))
        })
    }

    /// Checks the Flight address parses.
    pub fn validate(&self) -> Result<()> {
        self.flight_addr().map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flight_is_off_by_default_and_addresses_are_checked() {
        assert_eq!(SqlConfig::default().flight_addr().unwrap(), None);
        let on = SqlConfig { flight_listen: "127.0.0.1:9010".into() };
        assert_eq!(on.flight_addr().unwrap().unwrap().port(), 9010);
        assert!(SqlConfig { flight_listen: "nope".into() }.validate().is_err());
    }
}
