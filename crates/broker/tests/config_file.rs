//! The example config file shipped in deploy/ stays valid.

use std::path::PathBuf;

use weir_broker::{Args, BrokerConfig};

#[test]
fn shipped_example_config_parses() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../deploy/weir.toml");
    let config = BrokerConfig::resolve(Args {
        config: Some(path),
        ..Args::default()
    })
    .unwrap();
    assert_eq!(config.listen, "127.0.0.1:9092");
    assert_eq!(
        config
            .topic_defaults
            .get("retention.ms")
            .map(String::as_str),
        Some("604800000")
    );
}
