//! CreateTopics: validate names, partition counts, replication factors, manual assignments and
//! configs; with `validate_only` stop there; otherwise create through the metadata quorum.

use std::collections::HashMap;
use std::sync::Arc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::create_topics_response::{
    CreatableTopicConfigs, CreatableTopicResult,
};
use kafka_protocol::messages::{CreateTopicsRequest, CreateTopicsResponse};
use kafka_protocol::protocol::StrBytes;
use uuid::Uuid;
use weir_metadata::{AclOperation, ResourceType};

use crate::admin::{self, ApiError, NewTopic, PlannedTopic};
use crate::broker::Broker;
use crate::handlers::metadata::is_internal;
use crate::router::RequestContext;
use crate::topic_config::{EffectiveConfig, TOPIC_CONFIGS};

/// Answers CreateTopics.
pub async fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    request: CreateTopicsRequest,
) -> CreateTopicsResponse {
    let mut seen: HashMap<String, usize> = HashMap::new();
    for t in &request.topics {
        *seen.entry(t.name.0.to_string()).or_default() += 1;
    }
    let _admin = broker.admin_lock.lock().await;
    let cluster_create = broker.allows_cluster(ctx, AclOperation::Create);
    let mut results = Vec::with_capacity(request.topics.len());
    for t in request.topics {
        let name = t.name.0.to_string();
        let base = CreatableTopicResult::default().with_name(t.name.clone());
        // CREATE on the cluster or on the topic, as in Kafka.
        if !cluster_create && !broker.allows(ctx, AclOperation::Create, ResourceType::Topic, &name)
        {
            results.push(error_result(
                base,
                &ApiError::new(
                    ResponseError::TopicAuthorizationFailed,
                    "Authorization failed.",
                ),
            ));
            continue;
        }
        if seen.get(&name).copied().unwrap_or(0) > 1 {
            results.push(error_result(base, &ApiError::new(
                ResponseError::InvalidRequest,
                format!("Create topics request from client contains multiple entries for topic {name}"),
            )));
            continue;
        }
        let new_topic = NewTopic {
            name: name.clone(),
            num_partitions: t.num_partitions,
            replication_factor: t.replication_factor,
            assignments: t
                .assignments
                .iter()
                .map(|a| {
                    (
                        a.partition_index,
                        a.broker_ids.iter().map(|b| b.0).collect(),
                    )
                })
                .collect(),
            configs: t
                .configs
                .iter()
                .map(|c| (c.name.to_string(), c.value.as_ref().map(|v| v.to_string())))
                .collect(),
        };
        let state = broker.metadata.state();
        let outcome = match admin::plan_topic(broker, &state, &new_topic) {
            // Internal topics are created by the broker with the layout its coordinators need.
            Ok(_) if is_internal(&name) => Err(ApiError::new(
                ResponseError::InvalidRequest,
                format!("Creation of internal topic {name} is prohibited."),
            )),
            Err(e) => Err(e),
            Ok(plan) if request.validate_only => Ok((Uuid::nil(), plan)),
            Ok(plan) => admin::create_topic(broker, &name, &plan)
                .await
                .map(|topic| (topic.id, plan)),
        };
        results.push(match outcome {
            Ok((id, plan)) => {
                if !request.validate_only {
                    tracing::info!(topic = %name, partitions = plan.num_partitions(), "created topic");
                }
                success_result(broker, base, id, &plan)
            }
            Err(e) => error_result(base, &e),
        });
    }
    CreateTopicsResponse::default().with_topics(results)
}

fn success_result(
    broker: &Broker,
    base: CreatableTopicResult,
    id: Uuid,
    plan: &PlannedTopic,
) -> CreatableTopicResult {
    let defaults = broker.topic_defaults();
    let eff = EffectiveConfig::new(&plan.configs, &defaults);
    let configs = TOPIC_CONFIGS
        .iter()
        .map(|def| {
            let (value, source) = eff.get(def);
            CreatableTopicConfigs::default()
                .with_name(StrBytes::from_static_str(def.name))
                .with_value(Some(StrBytes::from_string(value.to_string())))
                .with_config_source(source.code())
        })
        .collect();
    base.with_topic_id(id)
        .with_num_partitions(plan.num_partitions())
        .with_replication_factor(plan.replication_factor())
        .with_configs(Some(configs))
}

fn error_result(base: CreatableTopicResult, e: &ApiError) -> CreatableTopicResult {
    base.with_error_code(e.code.code())
        .with_error_message(Some(StrBytes::from_string(e.message.clone())))
        .with_num_partitions(-1)
        .with_replication_factor(-1)
        .with_configs(None)
}
