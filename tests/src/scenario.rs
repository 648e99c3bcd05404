//! Ready-made scenarios shared by end-to-end tests.

use std::time::Duration;

use crate::{
    consume_partition, create_topic, free_port, now_ms, produce, Broker, Gateway, TestRecord,
};

/// Two brokers and a gateway with its REST API on a free port, mirroring
/// topic `orders` (2 partitions, 10 records each, lz4) on link `east`
/// (source alias `src`, destination alias `dst`); returned once every record
/// is readable on the destination. Fields drop in reverse order: gateway
/// first, then the brokers.
pub struct ApiScenario {
    /// The running gateway.
    pub gateway: Gateway,
    /// Base URL of its REST API, e.g. `http://127.0.0.1:40000`.
    pub api: String,
    /// Destination broker.
    pub dst: Broker,
    /// Source broker.
    pub src: Broker,
}

impl ApiScenario {
    /// Starts the scenario (deadline for the records: `deadline`).
    ///
    /// # Errors
    /// Broker, gateway or client failures, or records not mirrored in time.
    pub async fn start(deadline: Duration) -> anyhow::Result<ApiScenario> {
        let src = Broker::start("src")?;
        let dst = Broker::start("dst")?;
        create_topic(&src.bootstrap(), "orders", 2, &[]).await?;
        let records: Vec<TestRecord> = (0..20)
            .map(|i| {
                TestRecord::new(
                    i % 2,
                    Some(format!("k{i}").as_bytes()),
                    Some(b"v"),
                    now_ms() - 1000 + i as i64,
                )
            })
            .collect();
        produce(&src.bootstrap(), "orders", &records, "lz4").await?;
        let api_port = free_port();
        let config = format!(
            r#"
[gateway]
metrics_listen = "127.0.0.1:{metrics}"
api_listen = "127.0.0.1:{api_port}"
[clusters.src]
"bootstrap.servers" = "{src}"
[clusters.dst]
"bootstrap.servers" = "{dst}"
[[links]]
name = "east"
source = "src"
destination = "dst"
mirror_topics = ["orders"]
[links.config]
"mirror.start.offset.spec" = "earliest"
"#,
            metrics = free_port(),
            src = src.bootstrap(),
            dst = dst.bootstrap(),
        );
        let gateway = Gateway::start(&config)?;
        for p in 0..2 {
            consume_partition(&dst.bootstrap(), "orders", p, 10, deadline).await?;
        }
        Ok(ApiScenario {
            gateway,
            api: format!("http://127.0.0.1:{api_port}"),
            dst,
            src,
        })
    }
}
