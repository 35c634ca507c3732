//! Errors of the SQL layer and how each maps to the query API's error
//! types (and so to an HTTP status or a gRPC code).

use datafusion::error::DataFusionError;
use strata_querier::ErrorType;

/// Errors of the SQL layer.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Invalid request: missing `query`, unknown `format`, bad parameter.
    #[error("{0}")]
    BadRequest(String),
    /// DataFusion refused or failed the statement.
    #[error("{0}")]
    DataFusion(#[from] DataFusionError),
    /// A failure of the querier underneath (tenant, read consistency,
    /// admission, storage).
    #[error(transparent)]
    Querier(#[from] strata_querier::Error),
    /// Encoding the answer (JSON, CSV, Arrow IPC, Parquet) failed.
    #[error("encoding the result as {format}: {message}")]
    Encode {
        /// The output format.
        format: &'static str,
        /// What went wrong.
        message: String,
    },
}

impl Error {
    /// The query API error type: 400 for statements that cannot be planned
    /// (syntax, unknown table or column, unsupported), 422 for failures while
    /// running, and the querier's own types for what it refused.
    pub fn error_type(&self) -> ErrorType {
        match self {
            Error::BadRequest(_) => ErrorType::BadData,
            Error::DataFusion(e) => datafusion_error_type(e),
            Error::Querier(e) => e.error_type(),
            Error::Encode { .. } => ErrorType::Execution,
        }
    }

    /// As a querier error with the same error type and message (for the
    /// shared JSON error envelope).
    pub fn into_querier(self) -> strata_querier::Error {
        use strata_querier::Error as Q;
        match self {
            Error::Querier(e) => e,
            other => {
                let msg = other.to_string();
                match other.error_type() {
                    ErrorType::BadData => Q::BadData(msg),
                    ErrorType::Internal => Q::Internal(msg),
                    ErrorType::Timeout => Q::Timeout("sql execution"),
                    ErrorType::Canceled => Q::Canceled("sql execution"),
                    _ => Q::Execution(msg),
                }
            }
        }
    }
}

/// The error type of a DataFusion error, looking through context and
/// wrapped errors.
fn datafusion_error_type(e: &DataFusionError) -> ErrorType {
    match e.find_root() {
        DataFusionError::SQL(..)
        | DataFusionError::Plan(_)
        | DataFusionError::SchemaError(..)
        | DataFusionError::NotImplemented(_)
        | DataFusionError::Configuration(_) => ErrorType::BadData,
        DataFusionError::Context(_, inner) => datafusion_error_type(inner),
        DataFusionError::Shared(inner) => datafusion_error_type(inner),
        DataFusionError::External(inner) => match inner.downcast_ref::<strata_querier::Error>() {
            Some(q) => q.error_type(),
            None => match inner.downcast_ref::<DataFusionError>() {
                Some(d) => datafusion_error_type(d),
                None => ErrorType::Execution,
            },
        },
        DataFusionError::Internal(_) => ErrorType::Internal,
        _ => ErrorType::Execution,
    }
}

/// The SQL layer's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_errors_are_bad_data_and_runtime_errors_execution() {
        let plan = Error::DataFusion(DataFusionError::Plan("table 'x' not found".into()));
        assert_eq!(plan.error_type().status(), 400);
        let ctx = Error::DataFusion(DataFusionError::Context("c".into(), Box::new(DataFusionError::Plan("p".into()))));
        assert_eq!(ctx.error_type().status(), 400);
        let exhausted = Error::DataFusion(DataFusionError::ResourcesExhausted("pool".into()));
        assert_eq!(exhausted.error_type().status(), 422);
        let wrapped =
            Error::DataFusion(DataFusionError::External(Box::new(strata_querier::Error::QueueFull("full".into()))));
        assert_eq!(wrapped.error_type().status(), 429);
        assert_eq!(exhausted.into_querier().error_type().status(), 422);
    }
}
