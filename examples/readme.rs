//! The README's example: produce three orders on the simulator, rewind, read them back.

use weir::{ConsumerMode, ConsumerOptions, SeqPos, StreamKey, Tokio};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Same code on kafka://localhost:9092 or stdio:// — only the URL changes.
    let streamer = weir::connect::<Tokio>("sim://readme")?;
    let orders = StreamKey::new("orders")?;
    let mut producer = streamer.create_producer(Default::default())?;
    for i in 0..3 {
        producer.send_to(&orders, format!("order {i}"))?.await?; // receipt: where it was stored
    }
    let mut consumer = streamer.create_consumer(&[orders], ConsumerOptions::new(ConsumerMode::RealTime))?;
    consumer.rewind(SeqPos::Beginning).await?;
    while let Ok(message) = consumer.next().await {
        println!("{} #{}: {}", message.stream_key(), message.seq(), message.payload.as_str()?);
        if message.seq().0 == 2 {
            break;
        }
    }
    Ok(())
}
