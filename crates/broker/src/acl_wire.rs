//! Conversions between the ACL fields of Kafka's wire messages (i8 codes, nullable strings)
//! and the typed bindings and filters of `weir_metadata::acl`, with Kafka's error for each
//! field a client can get wrong.

use kafka_protocol::error::ResponseError;
use kafka_protocol::protocol::StrBytes;
use weir_metadata::{
    AclBinding, AclFilter, AclOperation, PatternType, PermissionType, ResourceType,
};

use crate::admin::ApiError;

/// The message Kafka gives when ACL APIs are used on a broker without an authorizer.
pub const NO_AUTHORIZER: &str = "No Authorizer is configured on the broker";

/// The raw ACL fields shared by CreateAcls creations and Describe/DeleteAcls filters.
#[derive(Debug, Clone)]
pub struct WireAcl<'a> {
    /// Resource type code.
    pub resource_type: i8,
    /// Resource name (`None` in a filter: any).
    pub resource_name: Option<&'a StrBytes>,
    /// Pattern type code.
    pub pattern_type: i8,
    /// Principal (`None` in a filter: any).
    pub principal: Option<&'a StrBytes>,
    /// Host (`None` in a filter: any).
    pub host: Option<&'a StrBytes>,
    /// Operation code.
    pub operation: i8,
    /// Permission type code.
    pub permission: i8,
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::new(ResponseError::InvalidRequest, message)
}

fn codes<'a>(
    w: &WireAcl<'a>,
) -> Result<(ResourceType, PatternType, AclOperation, PermissionType), ApiError> {
    let resource_type = ResourceType::from_code(w.resource_type)
        .ok_or_else(|| invalid(format!("Unknown resource type {}", w.resource_type)))?;
    let pattern_type = PatternType::from_code(w.pattern_type)
        .ok_or_else(|| invalid(format!("Unknown pattern type {}", w.pattern_type)))?;
    let operation = AclOperation::from_code(w.operation)
        .ok_or_else(|| invalid(format!("Unknown operation {}", w.operation)))?;
    let permission = PermissionType::from_code(w.permission)
        .ok_or_else(|| invalid(format!("Unknown permission type {}", w.permission)))?;
    Ok((resource_type, pattern_type, operation, permission))
}

/// A CreateAcls creation as a binding to store, validated as Kafka validates it.
pub fn binding(w: &WireAcl<'_>) -> Result<AclBinding, ApiError> {
    let (resource_type, pattern_type, operation, permission) = codes(w)?;
    let text = |s: Option<&StrBytes>| s.map(|s| s.to_string()).unwrap_or_default();
    let acl = AclBinding {
        resource_type,
        pattern_type,
        resource_name: text(w.resource_name),
        principal: text(w.principal),
        host: text(w.host),
        operation,
        permission,
    };
    acl.validate().map_err(|e| invalid(e.0))?;
    Ok(acl)
}

/// A Describe/DeleteAcls filter; unknown codes are refused, as Kafka refuses filters with
/// UNKNOWN elements.
pub fn filter(w: &WireAcl<'_>) -> Result<AclFilter, ApiError> {
    let (resource_type, pattern_type, operation, permission) = codes(w)?;
    Ok(AclFilter {
        resource_type,
        resource_name: w.resource_name.map(|s| s.to_string()),
        pattern_type,
        principal: w.principal.map(|s| s.to_string()),
        host: w.host.map(|s| s.to_string()),
        operation,
        permission,
    })
}

/// A string field of a response.
pub fn text(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire<'a>(name: &'a StrBytes, principal: &'a StrBytes, host: &'a StrBytes) -> WireAcl<'a> {
        WireAcl {
            resource_type: 2,
            resource_name: Some(name),
            pattern_type: 3,
            principal: Some(principal),
            host: Some(host),
            operation: 3,
            permission: 3,
        }
    }

    #[test]
    fn creations_are_decoded_and_validated() {
        let (n, p, h) = (text("t"), text("User:a"), text("*"));
        let acl = binding(&wire(&n, &p, &h)).unwrap();
        assert_eq!(acl.resource_type, ResourceType::Topic);
        assert_eq!(acl.operation, AclOperation::Read);
        let mut w = wire(&n, &p, &h);
        w.operation = 99;
        assert_eq!(binding(&w).unwrap_err().code, ResponseError::InvalidRequest);
        let mut w = wire(&n, &p, &h);
        w.pattern_type = 2; // MATCH cannot be stored
        assert!(binding(&w).is_err());
        let bad = text("nocolon");
        assert!(binding(&wire(&n, &bad, &h)).is_err());
    }

    #[test]
    fn filters_keep_nulls_as_wildcards() {
        let w = WireAcl {
            resource_type: 1,
            resource_name: None,
            pattern_type: 1,
            principal: None,
            host: None,
            operation: 1,
            permission: 1,
        };
        let f = filter(&w).unwrap();
        assert_eq!(f.resource_name, None);
        assert_eq!(f.pattern_type, PatternType::Any);
        let unknown = WireAcl {
            resource_type: 0,
            ..w
        };
        assert!(filter(&unknown).is_err());
    }
}
