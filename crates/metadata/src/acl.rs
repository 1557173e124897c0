//! Access control lists: the bindings the metadata quorum stores, the filters that select them
//! (DescribeAcls, DeleteAcls) and the authorization rule that evaluates them.
//!
//! Everything here is pure and deterministic so that every replica and every broker reaches
//! the same verdict. The codes of the enums are Kafka's wire codes, so a handler converts with
//! `from_code`/`code` and the JSON in the raft log stays readable (variant names).
//!
//! # The rule ([`authorize`]), as Kafka's ACL authorizers apply it
//! 1. The ACLs that *apply* to a resource are those of its type whose pattern matches its
//!    name: LITERAL with the same name, LITERAL `*`, or PREFIXED with a prefix of the name.
//! 2. If none applies, the answer is the broker's `allow.everyone.if.no.acl.found` setting.
//! 3. A DENY for the principal (or `User:*`), the host (or `*`) and the operation (or ALL)
//!    wins over any ALLOW.
//! 4. Otherwise an ALLOW for the principal, host and operation (or ALL) grants it; an ALLOW of
//!    READ, WRITE, DELETE or ALTER also grants DESCRIBE, and ALTER_CONFIGS grants
//!    DESCRIBE_CONFIGS.
//! 5. Otherwise the operation is denied.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

/// The only valid name of the CLUSTER resource.
pub const CLUSTER_RESOURCE_NAME: &str = "kafka-cluster";

/// The name that a LITERAL pattern uses to mean "every resource of this type".
pub const WILDCARD: &str = "*";

macro_rules! kafka_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $code:expr,)* }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)*
        }

        impl $name {
            /// The Kafka wire code.
            pub fn code(self) -> i8 {
                match self {
                    $(Self::$variant => $code,)*
                }
            }

            /// Decodes a Kafka wire code; an unknown code gives `None`.
            pub fn from_code(code: i8) -> Option<Self> {
                match code {
                    $($code => Some(Self::$variant),)*
                    _ => None,
                }
            }
        }
    };
}

kafka_enum! {
    /// What kind of resource an ACL protects (Kafka's `ResourceType`).
    ResourceType {
        /// Filter-only: every type.
        Any = 1,
        /// A topic.
        Topic = 2,
        /// A consumer group.
        Group = 3,
        /// The cluster itself (name `kafka-cluster`).
        Cluster = 4,
        /// A transactional id.
        TransactionalId = 5,
        /// A delegation token.
        DelegationToken = 6,
        /// A user (for token operations).
        User = 7,
    }
}

kafka_enum! {
    /// How an ACL's resource name is matched (Kafka's `PatternType`).
    PatternType {
        /// Filter-only: any stored pattern type, names compared exactly.
        Any = 1,
        /// Filter-only: every stored pattern that would apply to the named resource.
        Match = 2,
        /// The exact name (or `*`, every resource).
        Literal = 3,
        /// Every resource whose name starts with the pattern's name.
        Prefixed = 4,
    }
}

kafka_enum! {
    /// An operation on a resource (Kafka's `AclOperation`).
    AclOperation {
        /// Filter-only: any operation.
        Any = 1,
        /// Every operation.
        All = 2,
        /// Read (fetch, join a group, commit offsets).
        Read = 3,
        /// Write (produce, transactions).
        Write = 4,
        /// Create (topics).
        Create = 5,
        /// Delete (topics, records, groups).
        Delete = 6,
        /// Alter (partitions, ACLs).
        Alter = 7,
        /// Describe (metadata, offsets, groups, ACLs).
        Describe = 8,
        /// Inter-broker operations.
        ClusterAction = 9,
        /// Read configs.
        DescribeConfigs = 10,
        /// Change configs.
        AlterConfigs = 11,
        /// Idempotent produce.
        IdempotentWrite = 12,
        /// Create delegation tokens.
        CreateTokens = 13,
        /// Describe delegation tokens.
        DescribeTokens = 14,
    }
}

kafka_enum! {
    /// Whether an ACL grants or forbids (Kafka's `AclPermissionType`).
    PermissionType {
        /// Filter-only: either.
        Any = 1,
        /// Forbids; wins over every ALLOW.
        Deny = 2,
        /// Grants.
        Allow = 3,
    }
}

impl ResourceType {
    /// The operations that mean something for this resource type, in Kafka's order
    /// (`AclEntry.supportedOperations`); the "authorized operations" of a described
    /// resource are a subset of these.
    pub fn supported_operations(self) -> &'static [AclOperation] {
        use AclOperation::*;
        match self {
            ResourceType::Topic => &[
                Read,
                Write,
                Create,
                Describe,
                Delete,
                Alter,
                DescribeConfigs,
                AlterConfigs,
            ],
            ResourceType::Group => &[Read, Describe, Delete, DescribeConfigs, AlterConfigs],
            ResourceType::Cluster => &[
                Create,
                ClusterAction,
                DescribeConfigs,
                AlterConfigs,
                IdempotentWrite,
                Alter,
                Describe,
            ],
            ResourceType::TransactionalId => &[Describe, Write],
            ResourceType::DelegationToken => &[Describe],
            ResourceType::User => &[CreateTokens, DescribeTokens],
            ResourceType::Any => &[],
        }
    }
}

/// One stored ACL: "principal from host may (or may not) do operation on resources matching
/// the pattern".
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct AclBinding {
    /// Resource type (never `Any`).
    pub resource_type: ResourceType,
    /// How `resource_name` matches (`Literal` or `Prefixed`).
    pub pattern_type: PatternType,
    /// Resource name, prefix or `*`.
    pub resource_name: String,
    /// `Type:name`, e.g. `User:alice`; `User:*` is every user.
    pub principal: String,
    /// Client host (IP) or `*`.
    pub host: String,
    /// Operation (never `Any`).
    pub operation: AclOperation,
    /// Allow or deny (never `Any`).
    pub permission: PermissionType,
}

/// Why an ACL or a filter is not acceptable; the text is what the client sees.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidAcl(pub String);

impl AclBinding {
    /// Checks what Kafka checks before storing an ACL: concrete resource type, pattern type,
    /// operation and permission; a non-empty name (`kafka-cluster` for the cluster); a
    /// principal of the form `Type:name`.
    pub fn validate(&self) -> Result<(), InvalidAcl> {
        let bad = |m: &str| Err(InvalidAcl(m.to_string()));
        if self.resource_type == ResourceType::Any {
            return bad("Invalid resourceType ANY");
        }
        if !matches!(
            self.pattern_type,
            PatternType::Literal | PatternType::Prefixed
        ) {
            return bad("Invalid patternType: only LITERAL and PREFIXED ACLs can be created");
        }
        if self.operation == AclOperation::Any {
            return bad("Invalid operation ANY");
        }
        if self.permission == PermissionType::Any {
            return bad("Invalid permissionType ANY");
        }
        if self.resource_name.is_empty() {
            return bad("Resource name should not be empty");
        }
        if self.resource_type == ResourceType::Cluster
            && self.resource_name != CLUSTER_RESOURCE_NAME
        {
            return bad("The only valid name for the CLUSTER resource is kafka-cluster");
        }
        match self.principal.split_once(':') {
            Some((kind, name)) if !kind.is_empty() && !name.is_empty() => {}
            _ => {
                return Err(InvalidAcl(format!(
                    "Could not parse principal from `{}` (no colon is present separating the \
                     principal type from the principal name)",
                    self.principal
                )))
            }
        }
        if self.host.is_empty() {
            return bad("Host should not be empty");
        }
        Ok(())
    }

    /// Whether this ACL's pattern applies to the resource `(resource_type, name)`.
    pub fn applies_to(&self, resource_type: ResourceType, name: &str) -> bool {
        self.resource_type == resource_type
            && match self.pattern_type {
                PatternType::Literal => {
                    self.resource_name == name || self.resource_name == WILDCARD
                }
                PatternType::Prefixed => name.starts_with(&self.resource_name),
                PatternType::Any | PatternType::Match => false,
            }
    }
}

/// Selects stored ACLs (DescribeAcls, DeleteAcls). `None` fields match anything, as do the
/// `Any` enum values; `Match` selects the patterns that would apply to the named resource.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AclFilter {
    /// Resource type or `Any`.
    pub resource_type: ResourceType,
    /// Resource name; `None` matches every name.
    pub resource_name: Option<String>,
    /// `Literal`, `Prefixed`, `Any` or `Match`.
    pub pattern_type: PatternType,
    /// Principal; `None` matches every principal.
    pub principal: Option<String>,
    /// Host; `None` matches every host.
    pub host: Option<String>,
    /// Operation or `Any`.
    pub operation: AclOperation,
    /// Permission or `Any`.
    pub permission: PermissionType,
}

impl AclFilter {
    /// Whether `acl` is selected by this filter (Kafka's `AclBindingFilter.matches`).
    pub fn matches(&self, acl: &AclBinding) -> bool {
        self.matches_pattern(acl)
            && self.principal.as_ref().is_none_or(|p| *p == acl.principal)
            && self.host.as_ref().is_none_or(|h| *h == acl.host)
            && (self.operation == AclOperation::Any || self.operation == acl.operation)
            && (self.permission == PermissionType::Any || self.permission == acl.permission)
    }

    fn matches_pattern(&self, acl: &AclBinding) -> bool {
        if self.resource_type != ResourceType::Any && self.resource_type != acl.resource_type {
            return false;
        }
        if !matches!(self.pattern_type, PatternType::Any | PatternType::Match)
            && self.pattern_type != acl.pattern_type
        {
            return false;
        }
        let Some(name) = &self.resource_name else {
            return true;
        };
        if self.pattern_type == PatternType::Any || self.pattern_type == acl.pattern_type {
            return *name == acl.resource_name;
        }
        // MATCH: the stored patterns that would apply to a resource called `name`.
        match acl.pattern_type {
            PatternType::Literal => *name == acl.resource_name || acl.resource_name == WILDCARD,
            PatternType::Prefixed => name.starts_with(&acl.resource_name),
            PatternType::Any | PatternType::Match => false,
        }
    }
}

/// Who is asking and from where: the subject of an authorization decision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Requester<'a> {
    /// `Type:name`, e.g. `User:ANONYMOUS` on a plaintext listener.
    pub principal: &'a str,
    /// The client's IP address as text.
    pub host: &'a str,
}

/// Decides whether `who` may perform `operation` on the resource `(resource_type, name)`
/// under `acls`; see the module documentation for the rule. Super users are the caller's
/// business (they never reach this).
pub fn authorize(
    acls: &BTreeSet<AclBinding>,
    who: &Requester<'_>,
    operation: AclOperation,
    resource_type: ResourceType,
    name: &str,
    allow_if_no_acl: bool,
) -> bool {
    let mut applying = acls
        .iter()
        .filter(|acl| acl.applies_to(resource_type, name))
        .peekable();
    if applying.peek().is_none() {
        return allow_if_no_acl;
    }
    let for_requester = |acl: &&AclBinding| {
        (acl.principal == who.principal || acl.principal == "User:*")
            && (acl.host == who.host || acl.host == WILDCARD)
    };
    let mut allowed = false;
    for acl in applying.filter(for_requester) {
        match acl.permission {
            PermissionType::Deny
                if acl.operation == operation || acl.operation == AclOperation::All =>
            {
                return false;
            }
            PermissionType::Allow if grants(acl.operation, operation) => allowed = true,
            _ => {}
        }
    }
    allowed
}

/// Whether an ALLOW of `granted` permits `wanted` (ALL permits everything; the implied
/// DESCRIBE and DESCRIBE_CONFIGS grants of Kafka).
fn grants(granted: AclOperation, wanted: AclOperation) -> bool {
    use AclOperation::*;
    granted == wanted
        || granted == All
        || (wanted == Describe && matches!(granted, Read | Write | Delete | Alter))
        || (wanted == DescribeConfigs && granted == AlterConfigs)
}

/// The Kafka "authorized operations" bit field: bit `code` set for each operation in `ops`.
pub fn operations_bitfield(ops: impl IntoIterator<Item = AclOperation>) -> i32 {
    ops.into_iter()
        .fold(0i32, |bits, op| bits | (1i32 << op.code()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acl(
        rt: ResourceType,
        pt: PatternType,
        name: &str,
        principal: &str,
        op: AclOperation,
        perm: PermissionType,
    ) -> AclBinding {
        AclBinding {
            resource_type: rt,
            pattern_type: pt,
            resource_name: name.into(),
            principal: principal.into(),
            host: "*".into(),
            operation: op,
            permission: perm,
        }
    }

    fn topic_allow(pt: PatternType, name: &str, principal: &str, op: AclOperation) -> AclBinding {
        acl(
            ResourceType::Topic,
            pt,
            name,
            principal,
            op,
            PermissionType::Allow,
        )
    }

    const ALICE: Requester<'static> = Requester {
        principal: "User:alice",
        host: "10.0.0.1",
    };

    fn filter_all() -> AclFilter {
        AclFilter {
            resource_type: ResourceType::Any,
            resource_name: None,
            pattern_type: PatternType::Any,
            principal: None,
            host: None,
            operation: AclOperation::Any,
            permission: PermissionType::Any,
        }
    }

    #[test]
    fn codes_round_trip_and_unknown_is_none() {
        for code in 1..=14 {
            assert_eq!(AclOperation::from_code(code).map(|o| o.code()), Some(code));
        }
        assert_eq!(AclOperation::from_code(0), None);
        assert_eq!(ResourceType::from_code(8), None);
        assert_eq!(PatternType::from_code(4), Some(PatternType::Prefixed));
    }

    #[test]
    fn validation_follows_kafka() {
        let good = topic_allow(PatternType::Literal, "t", "User:a", AclOperation::Read);
        assert!(good.validate().is_ok());
        let mut a = good.clone();
        a.pattern_type = PatternType::Match;
        assert!(a.validate().is_err());
        let mut a = good.clone();
        a.principal = "alice".into();
        assert!(a.validate().is_err());
        let mut a = good.clone();
        a.resource_type = ResourceType::Cluster;
        assert!(a.validate().is_err());
        a.resource_name = CLUSTER_RESOURCE_NAME.into();
        assert!(a.validate().is_ok());
        let mut a = good;
        a.operation = AclOperation::Any;
        assert!(a.validate().is_err());
    }

    #[test]
    fn no_acl_falls_back_to_the_default() {
        let acls = BTreeSet::new();
        for default in [true, false] {
            assert_eq!(
                authorize(
                    &acls,
                    &ALICE,
                    AclOperation::Read,
                    ResourceType::Topic,
                    "t",
                    default
                ),
                default
            );
        }
        // An ACL on another topic does not apply to "t".
        let acls = BTreeSet::from([topic_allow(
            PatternType::Literal,
            "other",
            "User:bob",
            AclOperation::Read,
        )]);
        assert!(authorize(
            &acls,
            &ALICE,
            AclOperation::Read,
            ResourceType::Topic,
            "t",
            true
        ));
    }

    #[test]
    fn an_applying_acl_for_someone_else_denies_when_not_allowed() {
        let acls = BTreeSet::from([topic_allow(
            PatternType::Literal,
            "t",
            "User:bob",
            AclOperation::Read,
        )]);
        assert!(!authorize(
            &acls,
            &ALICE,
            AclOperation::Read,
            ResourceType::Topic,
            "t",
            true
        ));
    }

    #[test]
    fn allow_implies_describe_and_deny_wins() {
        let mut acls = BTreeSet::from([topic_allow(
            PatternType::Prefixed,
            "orders-",
            "User:alice",
            AclOperation::Write,
        )]);
        let can = |acls: &BTreeSet<AclBinding>, op, name: &str| {
            authorize(acls, &ALICE, op, ResourceType::Topic, name, false)
        };
        assert!(can(&acls, AclOperation::Write, "orders-eu"));
        assert!(can(&acls, AclOperation::Describe, "orders-eu"));
        assert!(!can(&acls, AclOperation::Read, "orders-eu"));
        assert!(!can(&acls, AclOperation::Write, "order"));
        acls.insert(acl(
            ResourceType::Topic,
            PatternType::Literal,
            "*",
            "User:*",
            AclOperation::All,
            PermissionType::Deny,
        ));
        assert!(!can(&acls, AclOperation::Write, "orders-eu"));
    }

    #[test]
    fn host_must_match() {
        let mut a = topic_allow(PatternType::Literal, "t", "User:alice", AclOperation::Read);
        a.host = "10.0.0.2".into();
        let acls = BTreeSet::from([a]);
        assert!(!authorize(
            &acls,
            &ALICE,
            AclOperation::Read,
            ResourceType::Topic,
            "t",
            true
        ));
    }

    #[test]
    fn filters_select_like_kafka() {
        let literal = topic_allow(PatternType::Literal, "abc", "User:a", AclOperation::Read);
        let wildcard = topic_allow(PatternType::Literal, "*", "User:a", AclOperation::Read);
        let prefixed = topic_allow(PatternType::Prefixed, "ab", "User:b", AclOperation::Write);
        let group = acl(
            ResourceType::Group,
            PatternType::Literal,
            "abc",
            "User:a",
            AclOperation::Read,
            PermissionType::Allow,
        );
        let all = [&literal, &wildcard, &prefixed, &group];
        let selected = |f: &AclFilter| all.iter().filter(|a| f.matches(a)).count();

        assert_eq!(selected(&filter_all()), 4);
        let mut f = filter_all();
        f.resource_type = ResourceType::Topic;
        f.resource_name = Some("abc".into());
        f.pattern_type = PatternType::Match;
        assert_eq!(selected(&f), 3, "literal, wildcard and prefix apply to abc");
        f.pattern_type = PatternType::Any;
        assert_eq!(selected(&f), 1, "ANY compares names exactly");
        f.pattern_type = PatternType::Literal;
        f.resource_name = None;
        assert_eq!(selected(&f), 2);
        f.pattern_type = PatternType::Any;
        f.operation = AclOperation::Write;
        assert_eq!(selected(&f), 1);
        let mut f = filter_all();
        f.principal = Some("User:a".into());
        assert_eq!(selected(&f), 3);
    }

    #[test]
    fn bitfield_sets_operation_codes() {
        assert_eq!(
            operations_bitfield([AclOperation::Read, AclOperation::Write]),
            (1 << 3) | (1 << 4)
        );
        assert_eq!(ResourceType::Group.supported_operations().len(), 5);
    }
}
