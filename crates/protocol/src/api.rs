//! The table of APIs and versions Weir serves.
//!
//! ApiVersions answers from this table and the broker's router refuses any version outside it,
//! so what is advertised and what is implemented cannot drift apart. Only versions that are
//! really implemented belong here; clients enable features from what they see (librdkafka turns
//! on idempotence when InitProducerId is listed, zstd when Produce ≥ 7 and Fetch ≥ 10).

use kafka_protocol::messages::ApiKey;

/// One supported API with its inclusive version range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiSupport {
    /// The API.
    pub key: ApiKey,
    /// Lowest version served.
    pub min: i16,
    /// Highest version served.
    pub max: i16,
}

const fn api(key: ApiKey, min: i16, max: i16) -> ApiSupport {
    ApiSupport { key, min, max }
}

/// Every API Weir serves, with the versions it serves. Minimums follow Kafka 4.x, which dropped
/// the oldest versions; maximums are the newest versions this build implements.
pub const SUPPORTED_APIS: &[ApiSupport] = &[
    api(ApiKey::Produce, 3, 13),
    api(ApiKey::Fetch, 4, 18),
    api(ApiKey::ListOffsets, 1, 10),
    api(ApiKey::Metadata, 0, 13),
    api(ApiKey::ApiVersions, 0, 4),
    api(ApiKey::CreateTopics, 2, 7),
    api(ApiKey::DeleteTopics, 1, 6),
    api(ApiKey::DeleteRecords, 0, 2),
    api(ApiKey::InitProducerId, 0, 5),
    api(ApiKey::OffsetForLeaderEpoch, 2, 4),
    api(ApiKey::DescribeConfigs, 1, 4),
    api(ApiKey::AlterConfigs, 0, 2),
    api(ApiKey::CreatePartitions, 0, 3),
    api(ApiKey::IncrementalAlterConfigs, 0, 1),
    api(ApiKey::DescribeCluster, 0, 2),
    // Consumer groups: the classic protocol, and the KIP-848 consumer protocol
    // (ConsumerGroupHeartbeat/Describe; OffsetCommit/OffsetFetch v9 carry member epochs).
    api(ApiKey::FindCoordinator, 0, 6),
    api(ApiKey::JoinGroup, 2, 9),
    api(ApiKey::SyncGroup, 0, 5),
    api(ApiKey::Heartbeat, 0, 4),
    api(ApiKey::LeaveGroup, 0, 5),
    api(ApiKey::OffsetCommit, 2, 9),
    api(ApiKey::OffsetFetch, 1, 9),
    api(ApiKey::OffsetDelete, 0, 0),
    api(ApiKey::ListGroups, 0, 5),
    api(ApiKey::DescribeGroups, 0, 6),
    api(ApiKey::DeleteGroups, 0, 2),
    api(ApiKey::ConsumerGroupHeartbeat, 0, 1),
    api(ApiKey::ConsumerGroupDescribe, 0, 1),
    // Transactions (the classic protocol, Kafka's transaction.version 1: versions that need
    // KIP-890 part 2's per-transaction epoch bump are not served).
    api(ApiKey::AddPartitionsToTxn, 0, 4),
    api(ApiKey::AddOffsetsToTxn, 0, 4),
    api(ApiKey::EndTxn, 0, 4),
    api(ApiKey::TxnOffsetCommit, 0, 4),
    api(ApiKey::DescribeProducers, 0, 0),
    api(ApiKey::DescribeTransactions, 0, 0),
    api(ApiKey::ListTransactions, 0, 1),
    // ACLs (served with the authorizer on; SECURITY_DISABLED otherwise, as in Kafka).
    api(ApiKey::CreateAcls, 1, 3),
    api(ApiKey::DescribeAcls, 1, 3),
    api(ApiKey::DeleteAcls, 1, 3),
    // SCRAM credentials (KIP-554): stored in the metadata state; Kafka 4.x serves v0 only.
    api(ApiKey::DescribeUserScramCredentials, 0, 0),
    api(ApiKey::AlterUserScramCredentials, 0, 0),
];

/// The served version range of `key`, if Weir serves it at all.
pub fn supported_versions(key: ApiKey) -> Option<ApiSupport> {
    SUPPORTED_APIS.iter().copied().find(|a| a.key == key)
}

/// Whether `version` of `key` is served.
pub fn is_supported(key: ApiKey, version: i16) -> bool {
    supported_versions(key).is_some_and(|a| (a.min..=a.max).contains(&version))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_range_is_within_what_the_codec_knows() {
        for a in SUPPORTED_APIS {
            let codec = a.key.valid_versions();
            assert!(a.min <= a.max, "{:?}", a.key);
            assert!(a.min >= codec.min && a.max <= codec.max, "{:?}", a.key);
        }
    }

    #[test]
    fn keys_are_unique() {
        for (i, a) in SUPPORTED_APIS.iter().enumerate() {
            assert!(SUPPORTED_APIS[i + 1..].iter().all(|b| b.key != a.key));
        }
    }

    #[test]
    fn unsupported_versions_are_refused() {
        assert!(is_supported(ApiKey::ApiVersions, 3));
        assert!(!is_supported(ApiKey::ApiVersions, 99));
        assert!(!is_supported(ApiKey::JoinGroup, 0));
        assert!(!is_supported(ApiKey::ConsumerGroupHeartbeat, 2));
    }
}
