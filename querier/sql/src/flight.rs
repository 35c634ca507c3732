//! Arrow Flight SQL: the same statements as `/api/v1/sql`, over gRPC, so
//! ADBC, JDBC and Grafana's FlightSQL data source connect without custom
//! code.
//!
//! ```text
//!  GetFlightInfo(CommandStatementQuery) ─▶ plan for the schema ─▶ ticket = the SQL
//!  DoGet(TicketStatementQuery)          ─▶ SqlEngine::admit ─▶ stream of FlightData
//!  CreatePreparedStatement / GetFlightInfo / DoGet(CommandPreparedStatementQuery):
//!      the handle is the SQL text (no parameters)
//!  GetCatalogs / GetDbSchemas / GetTables / GetSqlInfo: browsing for tools
//! ```
//!
//! The tenant is the `x-scope-orgid` request metadata (the HTTP header's
//! gRPC form); with multi-tenancy off, its absence means the default tenant.
//! With `[auth]` on, the `authorization` metadata (Bearer or Basic, as over
//! HTTP) must name a credential allowed to use that tenant: missing or wrong
//! credentials are `Unauthenticated`, another tenant `PermissionDenied`.
//! Label columns are sent as plain strings (dictionaries hydrated), which
//! every Flight client reads.

use std::pin::Pin;
use std::sync::Arc;

use arrow_flight::encode::FlightDataEncoderBuilder;
use arrow_flight::error::FlightError;
use arrow_flight::flight_service_server::{FlightService, FlightServiceServer};
use arrow_flight::sql::metadata::{SqlInfoData, SqlInfoDataBuilder};
use arrow_flight::sql::server::FlightSqlService;
use arrow_flight::sql::{
    ActionClosePreparedStatementRequest, ActionCreatePreparedStatementRequest, ActionCreatePreparedStatementResult,
    CommandGetCatalogs, CommandGetDbSchemas, CommandGetSqlInfo, CommandGetTables, CommandPreparedStatementQuery,
    CommandStatementQuery, ProstMessageExt, SqlInfo, TicketStatementQuery,
};
use arrow_flight::{FlightDescriptor, FlightEndpoint, FlightInfo, IpcMessage, SchemaAsIpc, Ticket};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::ipc::writer::IpcWriteOptions;
use futures::{Stream, StreamExt, TryStreamExt};
use prost::Message;
use strata_auth::{Auth, AuthError};
use strata_common::TenantId;
use strata_common::tenant::TENANT_HEADER;
use strata_querier::ErrorType;
use tonic::{Request, Response, Status};

use crate::error::Error;
use crate::query::{CATALOG, SCHEMA, SqlEngine, SqlRequest};

/// The Flight SQL service over an [`SqlEngine`].
#[derive(Clone)]
pub struct StrataFlightSql {
    engine: SqlEngine,
    info: Arc<SqlInfoData>,
    auth: Option<Arc<Auth>>,
}

impl std::fmt::Debug for StrataFlightSql {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StrataFlightSql").finish_non_exhaustive()
    }
}

impl StrataFlightSql {
    /// The service over `engine`.
    pub fn new(engine: SqlEngine, auth: Option<Arc<Auth>>) -> Result<Self, Status> {
        let mut b = SqlInfoDataBuilder::new();
        b.append(SqlInfo::FlightSqlServerName, "Strata");
        b.append(SqlInfo::FlightSqlServerVersion, env!("CARGO_PKG_VERSION"));
        b.append(SqlInfo::FlightSqlServerArrowVersion, "59");
        b.append(SqlInfo::FlightSqlServerReadOnly, true);
        b.append(SqlInfo::FlightSqlServerSql, true);
        b.append(SqlInfo::FlightSqlServerSubstrait, false);
        b.append(SqlInfo::FlightSqlServerTransaction, 0i32);
        let info = b.build().map_err(|e| Status::internal(e.to_string()))?;
        Ok(Self { engine, info: Arc::new(info), auth })
    }

    /// The gRPC service to mount on a tonic server.
    pub fn into_service(self) -> FlightServiceServer<Self> {
        FlightServiceServer::new(self)
    }

    fn tenant<T>(&self, request: &Request<T>) -> Result<TenantId, Status> {
        let key = TENANT_HEADER.to_ascii_lowercase();
        let asked = match request.metadata().get(key.as_str()).map(|v| v.to_str()) {
            Some(Ok(id)) => Some(id),
            Some(Err(_)) => return Err(Status::invalid_argument(format!("{key} is not valid ASCII"))),
            None => None,
        };
        let bound;
        let asked = match &self.auth {
            Some(auth) => {
                let authorization = request.metadata().get("authorization").map(|v| v.as_bytes());
                bound = auth.bind_tenant(authorization, asked).map_err(auth_status)?;
                Some(bound.as_str())
            }
            None => asked,
        };
        match asked {
            Some(id) => TenantId::new(id).map_err(|e| Status::invalid_argument(e.to_string())),
            None if self.engine.state().config.multitenancy_enabled => {
                Err(Status::unauthenticated(format!("no org id: send the {key} metadata")))
            }
            None => Ok(TenantId::default_tenant()),
        }
    }

    fn request(&self, tenant: TenantId, sql: String) -> SqlRequest {
        let config = &self.engine.state().config;
        SqlRequest { tenant, sql, consistency: config.read_consistency, timeout: None, partitions: None }
    }

    /// The schema `sql` answers with, as sent (dictionaries hydrated).
    async fn plan_schema(&self, tenant: &TenantId, sql: &str) -> Result<SchemaRef, Status> {
        let ctx = self.engine.session(tenant, None).await.map_err(status)?;
        let df = ctx.sql(sql).await.map_err(|e| status(Error::from(e)))?;
        Ok(hydrated(df.schema().as_arrow()))
    }

    async fn info_for(&self, tenant: &TenantId, sql: &str, ticket: Ticket) -> Result<FlightInfo, Status> {
        let schema = self.plan_schema(tenant, sql).await?;
        FlightInfo::new()
            .try_with_schema(&schema)
            .map_err(|e| Status::internal(e.to_string()))
            .map(|i| i.with_endpoint(FlightEndpoint::new().with_ticket(ticket)).with_ordered(false))
    }

    async fn execute(&self, tenant: TenantId, sql: String) -> Result<Response<DoGetStream>, Status> {
        let admitted = self.engine.admit(&self.request(tenant, sql)).await.map_err(status)?;
        let (stream, permit) = admitted.stream().map_err(status)?;
        let schema = hydrated(&stream.schema());
        // The permit lives as long as the stream (the scheduler slot is
        // held until the client has read the answer or gone away).
        let batches = stream.map(move |b| {
            let _held = &permit;
            b.map_err(|e| FlightError::ExternalError(Box::new(e)))
        });
        let data = FlightDataEncoderBuilder::new().with_schema(schema).build(batches).map_err(Status::from);
        Ok(Response::new(Box::pin(data)))
    }

    fn metadata_stream<E: std::fmt::Display>(
        &self,
        batch: Result<datafusion::arrow::array::RecordBatch, E>,
    ) -> Result<Response<DoGetStream>, Status> {
        let batch = batch.map_err(|e| Status::internal(e.to_string()))?;
        let data = FlightDataEncoderBuilder::new()
            .with_schema(batch.schema())
            .build(futures::stream::once(async { Ok(batch) }))
            .map_err(Status::from);
        Ok(Response::new(Box::pin(data)))
    }
}

type DoGetStream = Pin<Box<dyn Stream<Item = Result<arrow_flight::FlightData, Status>> + Send + 'static>>;

/// `schema` with dictionary columns as their value type.
fn hydrated(schema: &Schema) -> SchemaRef {
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| match f.data_type() {
            DataType::Dictionary(_, v) => f.as_ref().clone().with_data_type(v.as_ref().clone()),
            _ => f.as_ref().clone(),
        })
        .collect();
    Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()))
}

/// Maps an authentication refusal to its gRPC status.
fn auth_status(e: AuthError) -> Status {
    match e {
        AuthError::Forbidden { .. } => Status::permission_denied(e.to_string()),
        _ => Status::unauthenticated(e.to_string()),
    }
}

/// A gRPC status for a SQL-layer error.
pub fn status(e: Error) -> Status {
    let msg = e.to_string();
    match e.error_type() {
        ErrorType::BadData => Status::invalid_argument(msg),
        ErrorType::Execution => Status::failed_precondition(msg),
        ErrorType::Timeout => Status::deadline_exceeded(msg),
        ErrorType::Unavailable => Status::unavailable(msg),
        ErrorType::Unauthorized => Status::unauthenticated(msg),
        ErrorType::TooManyRequests => Status::resource_exhausted(msg),
        ErrorType::Canceled => Status::cancelled(msg),
        ErrorType::Internal => Status::internal(msg),
    }
}

fn utf8(bytes: &[u8]) -> Result<String, Status> {
    String::from_utf8(bytes.to_vec()).map_err(|_| Status::invalid_argument("statement handle is not UTF-8"))
}

#[tonic::async_trait]
impl FlightSqlService for StrataFlightSql {
    type FlightService = StrataFlightSql;

    async fn get_flight_info_statement(
        &self,
        query: CommandStatementQuery,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let tenant = self.tenant(&request)?;
        let ticket = TicketStatementQuery { statement_handle: query.query.clone().into_bytes().into() };
        let ticket = Ticket::new(ticket.as_any().encode_to_vec());
        let info = self.info_for(&tenant, &query.query, ticket).await?;
        Ok(Response::new(info.with_descriptor(request.into_inner())))
    }

    async fn do_get_statement(
        &self,
        ticket: TicketStatementQuery,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        let tenant = self.tenant(&request)?;
        self.execute(tenant, utf8(&ticket.statement_handle)?).await
    }

    async fn do_action_create_prepared_statement(
        &self,
        query: ActionCreatePreparedStatementRequest,
        request: Request<arrow_flight::Action>,
    ) -> Result<ActionCreatePreparedStatementResult, Status> {
        let tenant = self.tenant(&request)?;
        let schema = self.plan_schema(&tenant, &query.query).await?;
        let IpcMessage(schema_bytes) = SchemaAsIpc::new(&schema, &IpcWriteOptions::default())
            .try_into()
            .map_err(|e: datafusion::arrow::error::ArrowError| Status::internal(e.to_string()))?;
        Ok(ActionCreatePreparedStatementResult {
            prepared_statement_handle: query.query.into_bytes().into(),
            dataset_schema: schema_bytes,
            parameter_schema: Default::default(),
        })
    }

    async fn do_action_close_prepared_statement(
        &self,
        _query: ActionClosePreparedStatementRequest,
        _request: Request<arrow_flight::Action>,
    ) -> Result<(), Status> {
        Ok(())
    }

    async fn get_flight_info_prepared_statement(
        &self,
        cmd: CommandPreparedStatementQuery,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let tenant = self.tenant(&request)?;
        let sql = utf8(&cmd.prepared_statement_handle)?;
        let ticket = Ticket::new(cmd.as_any().encode_to_vec());
        let info = self.info_for(&tenant, &sql, ticket).await?;
        Ok(Response::new(info.with_descriptor(request.into_inner())))
    }

    async fn do_get_prepared_statement(
        &self,
        query: CommandPreparedStatementQuery,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        let tenant = self.tenant(&request)?;
        self.execute(tenant, utf8(&query.prepared_statement_handle)?).await
    }

    async fn get_flight_info_catalogs(
        &self,
        query: CommandGetCatalogs,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let schema = query.into_builder().schema();
        metadata_info(query.as_any().encode_to_vec(), &schema, request)
    }

    async fn do_get_catalogs(
        &self,
        query: CommandGetCatalogs,
        _request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        let mut b = query.into_builder();
        b.append(CATALOG);
        self.metadata_stream(b.build())
    }

    async fn get_flight_info_schemas(
        &self,
        query: CommandGetDbSchemas,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let schema = query.clone().into_builder().schema();
        metadata_info(query.as_any().encode_to_vec(), &schema, request)
    }

    async fn do_get_schemas(
        &self,
        query: CommandGetDbSchemas,
        _request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        let mut b = query.into_builder();
        b.append(CATALOG, SCHEMA);
        self.metadata_stream(b.build())
    }

    async fn get_flight_info_tables(
        &self,
        query: CommandGetTables,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let schema = query.clone().into_builder().schema();
        metadata_info(query.as_any().encode_to_vec(), &schema, request)
    }

    async fn do_get_tables(
        &self,
        query: CommandGetTables,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        let tenant = self.tenant(&request)?;
        let with_schema = query.include_schema;
        let ctx = self.engine.session(&tenant, None).await.map_err(status)?;
        let provider = ctx
            .catalog(CATALOG)
            .and_then(|c| c.schema(SCHEMA))
            .ok_or_else(|| Status::internal("the tenant schema is missing"))?;
        let mut b = query.into_builder();
        for name in provider.table_names() {
            let schema = match with_schema {
                true => match provider.table(&name).await.map_err(|e| status(Error::from(e)))? {
                    Some(t) => hydrated(&t.schema()),
                    None => continue,
                },
                false => Arc::new(Schema::empty()),
            };
            b.append(CATALOG, SCHEMA, &name, "TABLE", &schema).map_err(|e| Status::internal(e.to_string()))?;
        }
        self.metadata_stream(b.build())
    }

    async fn get_flight_info_sql_info(
        &self,
        query: CommandGetSqlInfo,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let schema = query.clone().into_builder(&self.info).schema();
        metadata_info(query.as_any().encode_to_vec(), &schema, request)
    }

    async fn do_get_sql_info(
        &self,
        query: CommandGetSqlInfo,
        _request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        let batch = query.into_builder(&self.info).build();
        self.metadata_stream(batch)
    }

    async fn register_sql_info(&self, _id: i32, _result: &SqlInfo) {}
}

/// The FlightInfo of a metadata command: the command itself is the ticket.
fn metadata_info(
    ticket: Vec<u8>,
    schema: &Schema,
    request: Request<FlightDescriptor>,
) -> Result<Response<FlightInfo>, Status> {
    let info = FlightInfo::new()
        .try_with_schema(schema)
        .map_err(|e| Status::internal(e.to_string()))?
        .with_endpoint(FlightEndpoint::new().with_ticket(Ticket::new(ticket)))
        .with_descriptor(request.into_inner());
    Ok(Response::new(info))
}

/// Serves Flight SQL on an already bound listener until `shutdown`
/// completes (tests bind port 0 first).
pub async fn serve_listener(
    engine: SqlEngine,
    auth: Option<Arc<Auth>>,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let service = StrataFlightSql::new(engine, auth)?;
    let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
    tonic::transport::Server::builder()
        .add_service(service.into_service())
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await?;
    Ok(())
}
