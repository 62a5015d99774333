//! Topic administration: making a stream with a number of shards.

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::types::RDKafkaErrorCode;
use weir_core::{BackendError, BackendErrorKind, StreamKey, StreamerError};

use crate::error::{failed, BACKEND};
use crate::options::KafkaOptions;

/// Creates the topic of `key` with `shards` partitions on `servers` (see
/// `KafkaStreamer::create_stream`).
pub(crate) async fn create_stream(
    servers: &str,
    options: &KafkaOptions,
    key: &StreamKey,
    shards: u32,
) -> Result<(), StreamerError> {
    let admin: AdminClient<DefaultClientContext> =
        options.client_config(servers).create().map_err(|err| failed("creating an admin client", &err))?;
    let topic = options.topic(key.name());
    let partitions = i32::try_from(shards.max(1)).unwrap_or(i32::MAX);
    let new = NewTopic::new(&topic, partitions, TopicReplication::Fixed(-1));
    let timeout = options.connect_timeout;
    let options = AdminOptions::new().operation_timeout(Some(timeout)).request_timeout(Some(timeout));
    let results =
        admin.create_topics([&new], &options).await.map_err(|err| failed("creating a topic", &err))?;
    for result in results {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((name, code)) => {
                let message = format!("creating topic {name} with {shards} partitions: {code}");
                return Err(BackendError::new(BACKEND, BackendErrorKind::Broker, message).into());
            }
        }
    }
    Ok(())
}
