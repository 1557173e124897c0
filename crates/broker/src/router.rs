//! Routes a request to the handler of its API, keyed by API key, and encodes the answer.
//!
//! The served versions come from `weir_protocol::api::SUPPORTED_APIS`, the same table that
//! ApiVersions advertises; a request for any other version is refused here, before decoding.

use std::net::SocketAddr;
use std::sync::Arc;

use kafka_protocol::messages::{self as m, ApiKey};
use kafka_protocol::protocol::{Decodable, StrBytes};
use weir_protocol::api::is_supported;
use weir_protocol::request::RawRequest;
use weir_protocol::response::{encode_response, EncodeError};
use weir_protocol::response_buf::ResponseBuf;

use crate::broker::Broker;
use crate::handlers;

/// What a handler knows about the request besides its body.
#[derive(Debug, Clone)]
pub struct RequestContext {
    /// API version of the request.
    pub version: i16,
    /// The client's id, for logs and group membership.
    pub client_id: Option<StrBytes>,
    /// The client's address as Kafka shows it in group descriptions ("/127.0.0.1").
    pub client_host: String,
    /// Who is asking, as ACLs name principals (`User:ANONYMOUS` on this plaintext listener).
    pub principal: String,
}

impl RequestContext {
    /// The client's IP address as text ("127.0.0.1"), the host ACLs match.
    pub fn client_ip(&self) -> &str {
        self.client_host.trim_start_matches('/')
    }
}

/// Why a request could not be answered; the connection is closed.
#[derive(Debug, thiserror::Error)]
pub enum DispatchError {
    /// The API or version is not served (and is not ApiVersions, which gets an answer).
    #[error("unsupported API {api_key:?} v{version}")]
    Unsupported {
        /// Requested API.
        api_key: ApiKey,
        /// Requested version.
        version: i16,
    },
    /// The body did not decode in the announced version.
    #[error("malformed {api_key:?} v{version} request: {reason}")]
    Malformed {
        /// Requested API.
        api_key: ApiKey,
        /// Requested version.
        version: i16,
        /// What the decoder said.
        reason: String,
    },
    /// The response could not be encoded.
    #[error(transparent)]
    Encode(#[from] EncodeError),
}

/// Decodes a request body in its announced version.
fn decode_body<T: Decodable>(
    mut body: bytes::Bytes,
    api_key: ApiKey,
    version: i16,
) -> Result<T, DispatchError> {
    T::decode(&mut body, version).map_err(|e| DispatchError::Malformed {
        api_key,
        version,
        reason: e.to_string(),
    })
}

macro_rules! routes {
    ($broker:expr, $ctx:expr, $raw:expr, $out:expr; $($key:ident => $req:ty => $handler:path,)*) => {
        match $raw.api_key {
            $(ApiKey::$key => {
                let request: $req = decode_body($raw.body, ApiKey::$key, $ctx.version)?;
                let response = $handler($broker, &$ctx, request).await;
                encode_response($out, ApiKey::$key, $ctx.version, $raw.header.correlation_id, &response)?;
            })*
            ApiKey::Fetch => {
                let request: m::FetchRequest = decode_body($raw.body, ApiKey::Fetch, $ctx.version)?;
                // Record data left in segment files travels as placeholders; tell the buffer
                // what they stand for before it meets them.
                let (response, regions) = handlers::fetch::handle($broker, &$ctx, request).await;
                $out.expect_regions(regions);
                encode_response($out, ApiKey::Fetch, $ctx.version, $raw.header.correlation_id, &response)?;
            }
            ApiKey::Produce => {
                let request: m::ProduceRequest = decode_body($raw.body, ApiKey::Produce, $ctx.version)?;
                // acks=0: the client expects no response at all.
                if let Some(response) = handlers::produce::handle($broker, &$ctx, request).await {
                    encode_response($out, ApiKey::Produce, $ctx.version, $raw.header.correlation_id, &response)?;
                }
            }
            other => return Err(DispatchError::Unsupported { api_key: other, version: $ctx.version }),
        }
    };
}

/// Answers one request, appending its response frame (if it has one) to `out`.
pub async fn dispatch(
    broker: &Arc<Broker>,
    raw: RawRequest,
    out: &mut ResponseBuf,
    peer: Option<SocketAddr>,
) -> Result<(), DispatchError> {
    let version = raw.header.request_api_version;
    if !is_supported(raw.api_key, version) {
        if raw.api_key == ApiKey::ApiVersions {
            // KIP-511: answer an unknown ApiVersions version in v0, with the list, so the
            // client can pick a version both sides speak.
            let response = handlers::api_versions::unsupported_version_response();
            encode_response(
                out,
                ApiKey::ApiVersions,
                0,
                raw.header.correlation_id,
                &response,
            )?;
            return Ok(());
        }
        return Err(DispatchError::Unsupported {
            api_key: raw.api_key,
            version,
        });
    }
    let ctx = RequestContext {
        version,
        client_id: raw.header.client_id.clone(),
        client_host: peer.map(|p| format!("/{}", p.ip())).unwrap_or_default(),
        principal: crate::authorizer::ANONYMOUS.to_string(),
    };
    routes!(broker, ctx, raw, out;
        ApiVersions => m::ApiVersionsRequest => handlers::api_versions::handle,
        Metadata => m::MetadataRequest => handlers::metadata::handle,
        ListOffsets => m::ListOffsetsRequest => handlers::list_offsets::handle,
        CreateTopics => m::CreateTopicsRequest => handlers::create_topics::handle,
        DeleteTopics => m::DeleteTopicsRequest => handlers::delete_topics::handle,
        CreatePartitions => m::CreatePartitionsRequest => handlers::create_partitions::handle,
        DeleteRecords => m::DeleteRecordsRequest => handlers::delete_records::handle,
        OffsetForLeaderEpoch => m::OffsetForLeaderEpochRequest => handlers::offset_for_leader_epoch::handle,
        DescribeConfigs => m::DescribeConfigsRequest => handlers::describe_configs::handle,
        AlterConfigs => m::AlterConfigsRequest => handlers::alter_configs::handle,
        IncrementalAlterConfigs => m::IncrementalAlterConfigsRequest => handlers::incremental_alter_configs::handle,
        DescribeCluster => m::DescribeClusterRequest => handlers::describe_cluster::handle,
        InitProducerId => m::InitProducerIdRequest => handlers::init_producer_id::handle,
        FindCoordinator => m::FindCoordinatorRequest => handlers::find_coordinator::handle,
        JoinGroup => m::JoinGroupRequest => handlers::join_group::handle,
        SyncGroup => m::SyncGroupRequest => handlers::sync_group::handle,
        Heartbeat => m::HeartbeatRequest => handlers::heartbeat::handle,
        LeaveGroup => m::LeaveGroupRequest => handlers::leave_group::handle,
        OffsetCommit => m::OffsetCommitRequest => handlers::offset_commit::handle,
        OffsetFetch => m::OffsetFetchRequest => handlers::offset_fetch::handle,
        OffsetDelete => m::OffsetDeleteRequest => handlers::offset_delete::handle,
        ListGroups => m::ListGroupsRequest => handlers::list_groups::handle,
        DescribeGroups => m::DescribeGroupsRequest => handlers::describe_groups::handle,
        DeleteGroups => m::DeleteGroupsRequest => handlers::delete_groups::handle,
        ConsumerGroupHeartbeat => m::ConsumerGroupHeartbeatRequest => handlers::consumer_group_heartbeat::handle,
        ConsumerGroupDescribe => m::ConsumerGroupDescribeRequest => handlers::consumer_group_describe::handle,
        AddPartitionsToTxn => m::AddPartitionsToTxnRequest => handlers::add_partitions_to_txn::handle,
        AddOffsetsToTxn => m::AddOffsetsToTxnRequest => handlers::add_offsets_to_txn::handle,
        EndTxn => m::EndTxnRequest => handlers::end_txn::handle,
        TxnOffsetCommit => m::TxnOffsetCommitRequest => handlers::txn_offset_commit::handle,
        DescribeProducers => m::DescribeProducersRequest => handlers::describe_producers::handle,
        DescribeTransactions => m::DescribeTransactionsRequest => handlers::describe_transactions::handle,
        ListTransactions => m::ListTransactionsRequest => handlers::list_transactions::handle,
        CreateAcls => m::CreateAclsRequest => handlers::create_acls::handle,
        DescribeAcls => m::DescribeAclsRequest => handlers::describe_acls::handle,
        DeleteAcls => m::DeleteAclsRequest => handlers::delete_acls::handle,
        DescribeUserScramCredentials => m::DescribeUserScramCredentialsRequest => handlers::describe_user_scram_credentials::handle,
        AlterUserScramCredentials => m::AlterUserScramCredentialsRequest => handlers::alter_user_scram_credentials::handle,
    );
    Ok(())
}
