//! The broker's authorizer: decides, per request, whether its principal may perform an
//! operation on a resource, from the ACLs in the metadata state.
//!
//! Off by default, as in Kafka without `authorizer.class.name`: every operation is allowed,
//! described resources report every operation they support as authorized, and the ACL admin
//! APIs answer SECURITY_DISABLED. On (`--authorizer true`), handlers call [`Authorizer::allows`]
//! before they act, super users skip every check, and a resource that no ACL applies to is
//! open only with `--allow-everyone-if-no-acl-found`. The rule itself lives in
//! [`weir_metadata::acl::authorize`].
//!
//! Every connection of this plaintext listener is `User:ANONYMOUS`; the host an ACL names is
//! the client's IP address.

use weir_metadata::acl::{self, Requester};
use weir_metadata::{AclOperation, ClusterState, ResourceType};

use kafka_protocol::error::ResponseError;

use crate::admin::ApiError;
use crate::broker::Broker;
use crate::config::BrokerConfig;
use crate::router::RequestContext;

/// The principal of an unauthenticated (plaintext) connection.
pub const ANONYMOUS: &str = "User:ANONYMOUS";

/// Kafka's "authorized operations were not requested" value of the bit-field fields.
pub const AUTHORIZED_OPERATIONS_OMITTED: i32 = i32::MIN;

/// The authorization settings of this broker.
#[derive(Debug, Clone)]
pub struct Authorizer {
    enabled: bool,
    allow_if_no_acl: bool,
    super_users: Vec<String>,
}

impl Authorizer {
    /// The authorizer the settings ask for.
    pub fn from_config(config: &BrokerConfig) -> Self {
        Self {
            enabled: config.authorizer,
            allow_if_no_acl: config.allow_everyone_if_no_acl_found,
            super_users: config.super_users.clone(),
        }
    }

    /// Whether ACLs are enforced (and the ACL APIs served).
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// Whether the request's principal may perform `operation` on `(resource_type, name)`.
    pub fn allows(
        &self,
        state: &ClusterState,
        ctx: &RequestContext,
        operation: AclOperation,
        resource_type: ResourceType,
        name: &str,
    ) -> bool {
        if !self.enabled || self.super_users.contains(&ctx.principal) {
            return true;
        }
        let who = Requester {
            principal: &ctx.principal,
            host: ctx.client_ip(),
        };
        acl::authorize(
            &state.acls,
            &who,
            operation,
            resource_type,
            name,
            self.allow_if_no_acl,
        )
    }

    /// Whether the principal may perform `operation` on the cluster resource.
    pub fn allows_cluster(
        &self,
        state: &ClusterState,
        ctx: &RequestContext,
        operation: AclOperation,
    ) -> bool {
        self.allows(
            state,
            ctx,
            operation,
            ResourceType::Cluster,
            acl::CLUSTER_RESOURCE_NAME,
        )
    }

    /// The "authorized operations" bit field of a described resource: the operations its type
    /// supports that the principal may perform (all of them without an authorizer).
    pub fn authorized_operations(
        &self,
        state: &ClusterState,
        ctx: &RequestContext,
        resource_type: ResourceType,
        name: &str,
    ) -> i32 {
        acl::operations_bitfield(
            resource_type
                .supported_operations()
                .iter()
                .copied()
                .filter(|op| self.allows(state, ctx, *op, resource_type, name)),
        )
    }

    /// The bit field if it was requested, else Kafka's "omitted" value.
    pub fn authorized_operations_if(
        &self,
        requested: bool,
        state: &ClusterState,
        ctx: &RequestContext,
        resource_type: ResourceType,
        name: &str,
    ) -> i32 {
        if requested {
            self.authorized_operations(state, ctx, resource_type, name)
        } else {
            AUTHORIZED_OPERATIONS_OMITTED
        }
    }
}

/// The ACL check of a config resource (Describe/Alter/IncrementalAlterConfigs): a topic's
/// configs need `operation` on the topic, a broker's on the cluster, a group's on the group.
/// `None` when allowed; otherwise the error for that resource.
pub fn config_resource_denied(
    broker: &Broker,
    ctx: &RequestContext,
    config_resource_type: i8,
    name: &str,
    operation: AclOperation,
) -> Option<ApiError> {
    let (resource_type, name, code) = match config_resource_type {
        CONFIG_RESOURCE_TOPIC => (
            ResourceType::Topic,
            name,
            ResponseError::TopicAuthorizationFailed,
        ),
        CONFIG_RESOURCE_GROUP => (
            ResourceType::Group,
            name,
            ResponseError::GroupAuthorizationFailed,
        ),
        _ => (
            ResourceType::Cluster,
            acl::CLUSTER_RESOURCE_NAME,
            ResponseError::ClusterAuthorizationFailed,
        ),
    };
    (!broker.allows(ctx, operation, resource_type, name))
        .then(|| ApiError::new(code, "Authorization failed."))
}

/// Kafka's ConfigResource type code of a topic.
const CONFIG_RESOURCE_TOPIC: i8 = 2;
/// Kafka's ConfigResource type code of a consumer group.
const CONFIG_RESOURCE_GROUP: i8 = 32;

#[cfg(test)]
mod tests {
    use std::path::Path;

    use weir_metadata::{AclBinding, PatternType, PermissionType};

    use super::*;

    fn ctx() -> RequestContext {
        RequestContext {
            version: 0,
            client_id: None,
            client_host: "/127.0.0.1".into(),
            principal: ANONYMOUS.into(),
        }
    }

    fn authorizer(enabled: bool, allow: bool, super_users: &[&str]) -> Authorizer {
        let mut config =
            BrokerConfig::for_dir("127.0.0.1:0", Path::new("/nonexistent")).expect("config");
        config.authorizer = enabled;
        config.allow_everyone_if_no_acl_found = allow;
        config.super_users = super_users.iter().map(|s| s.to_string()).collect();
        Authorizer::from_config(&config)
    }

    fn state_with_read_for(principal: &str, topic: &str) -> ClusterState {
        let mut state = ClusterState::default();
        state.acls.insert(AclBinding {
            resource_type: ResourceType::Topic,
            pattern_type: PatternType::Literal,
            resource_name: topic.into(),
            principal: principal.into(),
            host: "127.0.0.1".into(),
            operation: AclOperation::Read,
            permission: PermissionType::Allow,
        });
        state
    }

    #[test]
    fn disabled_allows_everything_and_reports_every_supported_operation() {
        let a = authorizer(false, false, &[]);
        let state = state_with_read_for("User:bob", "t");
        assert!(a.allows(
            &state,
            &ctx(),
            AclOperation::Write,
            ResourceType::Topic,
            "t"
        ));
        let bits = a.authorized_operations(&state, &ctx(), ResourceType::Topic, "t");
        assert_eq!(bits.count_ones(), 8);
    }

    #[test]
    fn enabled_uses_acls_host_and_default() {
        let state = state_with_read_for(ANONYMOUS, "t");
        let a = authorizer(true, false, &[]);
        assert!(a.allows(&state, &ctx(), AclOperation::Read, ResourceType::Topic, "t"));
        assert!(a.allows(
            &state,
            &ctx(),
            AclOperation::Describe,
            ResourceType::Topic,
            "t"
        ));
        assert!(!a.allows(
            &state,
            &ctx(),
            AclOperation::Write,
            ResourceType::Topic,
            "t"
        ));
        assert!(!a.allows(&state, &ctx(), AclOperation::Read, ResourceType::Topic, "u"));
        assert_eq!(
            a.authorized_operations(&state, &ctx(), ResourceType::Topic, "t"),
            (1 << AclOperation::Read.code()) | (1 << AclOperation::Describe.code())
        );
        let open = authorizer(true, true, &[]);
        assert!(open.allows(&state, &ctx(), AclOperation::Read, ResourceType::Topic, "u"));
        let mut other_host = ctx();
        other_host.client_host = "/10.1.1.1".into();
        assert!(!a.allows(
            &state,
            &other_host,
            AclOperation::Read,
            ResourceType::Topic,
            "t"
        ));
    }

    #[test]
    fn super_users_skip_the_acls() {
        let state = state_with_read_for("User:bob", "t");
        let a = authorizer(true, false, &["User:admin", ANONYMOUS]);
        assert!(a.allows_cluster(&state, &ctx(), AclOperation::Alter));
    }
}
