//! The plain inputs and outputs of the group state machine, independent of any wire version:
//! handlers translate Kafka messages into these and back.

use bytes::Bytes;
use tokio::time::Instant;
use weir_protocol::kafka_protocol::error::ResponseError;

/// The two clocks the state machine needs, passed in so it stays pure and testable with paused
/// tokio time: a monotonic instant for deadlines and the wall clock for stored timestamps.
#[derive(Debug, Clone, Copy)]
pub struct Now {
    /// Monotonic time for session and rebalance deadlines.
    pub instant: Instant,
    /// Wall-clock milliseconds since the epoch, for commit and state timestamps.
    pub wall_ms: i64,
}

impl Now {
    /// The current time on both clocks.
    pub fn current() -> Self {
        let wall_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        Now {
            instant: Instant::now(),
            wall_ms,
        }
    }
}

/// Limits the coordinator enforces (Kafka's broker settings of the same meaning).
#[derive(Debug, Clone)]
pub struct GroupConfig {
    /// group.min.session.timeout.ms
    pub min_session_timeout_ms: i32,
    /// group.max.session.timeout.ms
    pub max_session_timeout_ms: i32,
    /// offset.metadata.max.bytes
    pub max_metadata_bytes: usize,
    /// offsets.retention.minutes, in ms: how long committed offsets of an empty group (or of
    /// topics a live group no longer consumes) are kept.
    pub offsets_retention_ms: i64,
    /// offsets.retention.check.interval.ms
    pub offsets_retention_check_interval_ms: u64,
    /// group.consumer.session.timeout.ms (consumer protocol, KIP-848)
    pub consumer_session_timeout_ms: i32,
    /// group.consumer.heartbeat.interval.ms (consumer protocol, KIP-848)
    pub consumer_heartbeat_interval_ms: i32,
    /// group.initial.rebalance.delay.ms: how long the first join phase of an empty classic
    /// group waits for more members (extended by each member that joins, up to the rebalance
    /// timeout), so consumers started together share one generation. 0 here; the broker's
    /// setting defaults to Kafka's 3000.
    pub initial_rebalance_delay_ms: u64,
}

impl GroupConfig {
    /// The consumer-protocol settings.
    pub fn consumer_settings(&self) -> crate::consumer::CgSettings {
        crate::consumer::CgSettings {
            session_timeout_ms: self.consumer_session_timeout_ms,
            heartbeat_interval_ms: self.consumer_heartbeat_interval_ms,
        }
    }
}

impl Default for GroupConfig {
    fn default() -> Self {
        GroupConfig {
            min_session_timeout_ms: 6_000,
            max_session_timeout_ms: 1_800_000,
            max_metadata_bytes: 4096,
            offsets_retention_ms: 7 * 24 * 60 * 60 * 1000,
            offsets_retention_check_interval_ms: 600_000,
            consumer_session_timeout_ms: 45_000,
            consumer_heartbeat_interval_ms: 5_000,
            initial_rebalance_delay_ms: 0,
        }
    }
}

/// A JoinGroup request.
#[derive(Debug, Clone, Default)]
pub struct JoinRequest {
    /// Group id.
    pub group_id: String,
    /// Member id, empty on the first join.
    pub member_id: String,
    /// Static membership id (KIP-345).
    pub group_instance_id: Option<String>,
    /// Client id from the request header.
    pub client_id: String,
    /// Client address.
    pub client_host: String,
    /// Session timeout in ms.
    pub session_timeout_ms: i32,
    /// Rebalance timeout in ms.
    pub rebalance_timeout_ms: i32,
    /// Protocol type ("consumer").
    pub protocol_type: String,
    /// Supported protocols in preference order, with their metadata.
    pub protocols: Vec<(String, Bytes)>,
    /// v4+: a first join gets MEMBER_ID_REQUIRED and a member id to join with (KIP-394).
    pub require_known_member_id: bool,
}

/// A member as the leader sees it in the JoinGroup response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinedMember {
    /// Member id.
    pub member_id: String,
    /// Static id.
    pub group_instance_id: Option<String>,
    /// Its metadata for the selected protocol.
    pub metadata: Bytes,
}

/// A JoinGroup answer.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct JoinResponse {
    /// Error, if any.
    pub error: Option<ResponseError>,
    /// Generation joined.
    pub generation_id: i32,
    /// Protocol type.
    pub protocol_type: Option<String>,
    /// Selected protocol.
    pub protocol_name: Option<String>,
    /// Leader's member id.
    pub leader: String,
    /// The member's id.
    pub member_id: String,
    /// All members (for the leader only).
    pub members: Vec<JoinedMember>,
}

impl JoinResponse {
    /// An error answer.
    pub fn error(error: ResponseError, member_id: &str) -> Self {
        JoinResponse {
            error: Some(error),
            generation_id: -1,
            member_id: member_id.to_string(),
            ..Default::default()
        }
    }
}

/// A SyncGroup request.
#[derive(Debug, Clone, Default)]
pub struct SyncRequest {
    /// Group id.
    pub group_id: String,
    /// Generation the member joined.
    pub generation_id: i32,
    /// Member id.
    pub member_id: String,
    /// Static id.
    pub group_instance_id: Option<String>,
    /// v5+: protocol type, checked against the group's.
    pub protocol_type: Option<String>,
    /// v5+: protocol name, checked against the group's.
    pub protocol_name: Option<String>,
    /// The leader's assignment, per member.
    pub assignments: Vec<(String, Bytes)>,
}

/// A SyncGroup answer.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SyncResponse {
    /// Error, if any.
    pub error: Option<ResponseError>,
    /// Protocol type.
    pub protocol_type: Option<String>,
    /// Selected protocol.
    pub protocol_name: Option<String>,
    /// The member's assignment.
    pub assignment: Bytes,
}

impl SyncResponse {
    /// An error answer.
    pub fn error(error: ResponseError) -> Self {
        SyncResponse {
            error: Some(error),
            ..Default::default()
        }
    }
}

/// Identifies a member in Heartbeat, LeaveGroup and OffsetCommit.
#[derive(Debug, Clone, Default)]
pub struct MemberRef {
    /// Member id (may be empty for a static member leaving, or a simple commit).
    pub member_id: String,
    /// Static id.
    pub group_instance_id: Option<String>,
    /// Generation (-1 for a simple commit).
    pub generation_id: i32,
}

/// One partition's offset to commit.
#[derive(Debug, Clone)]
pub struct CommitPartition {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// Next offset to consume.
    pub offset: i64,
    /// Leader epoch or -1.
    pub leader_epoch: i32,
    /// Metadata (null is stored as empty).
    pub metadata: Option<String>,
    /// OffsetCommit v2-v4's `retention_time_ms`, when the client set one: this offset then
    /// expires that long after the commit instead of after the broker's offsets retention.
    pub retention_ms: Option<i64>,
}

/// A committed offset as OffsetFetch returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedOffset {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// Offset, -1 if none.
    pub offset: i64,
    /// Leader epoch, -1 if none.
    pub leader_epoch: i32,
    /// Metadata.
    pub metadata: String,
    /// Per-partition error: UNSTABLE_OFFSET_COMMIT when the fetch required stable offsets and
    /// an open transaction holds an offset for the partition (offset -1 then).
    pub error: Option<ResponseError>,
}

/// A group as ListGroups shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedGroup {
    /// Group id.
    pub group_id: String,
    /// Protocol type, empty if none.
    pub protocol_type: String,
    /// State name (Kafka's spelling).
    pub state: &'static str,
    /// "classic" or "consumer" (ListGroups v5).
    pub group_type: &'static str,
}

/// A member as DescribeGroups shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribedMember {
    /// Member id.
    pub member_id: String,
    /// Static id.
    pub group_instance_id: Option<String>,
    /// Client id.
    pub client_id: String,
    /// Client host.
    pub client_host: String,
    /// Metadata for the selected protocol.
    pub metadata: Bytes,
    /// Current assignment.
    pub assignment: Bytes,
}

/// A group as DescribeGroups shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribedGroup {
    /// Group id.
    pub group_id: String,
    /// State name; "Dead" for a group that does not exist.
    pub state: &'static str,
    /// Protocol type.
    pub protocol_type: String,
    /// Selected protocol.
    pub protocol: String,
    /// Members (with metadata and assignment only when the group is Stable, as Kafka).
    pub members: Vec<DescribedMember>,
}
