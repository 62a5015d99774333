//! Backpressure on the consumer side: an application that stops taking
//! messages makes the backend stop fetching (after a short hold), and one that
//! comes back gets everything, in order, nothing twice.

use std::time::Duration;

use weir::{ConsumerMode, SeqPos};

use crate::common::{
    broker, create_stream, key, names, namespace, numbered, options, payloads, produce, streamer, take,
};

#[test]
fn an_idle_consumer_holds_fetching_and_resumes_without_loss_or_duplicates() {
    let address = broker!();
    let streamer = streamer(&address, &namespace("hold"));
    let orders = key("orders");
    create_stream(&streamer, &orders, 1);
    produce(&streamer, &orders, numbered(0..2000));
    let mut opts = options(ConsumerMode::RealTime, None);
    // A buffer of 16: the poll thread's hand-over fills long before 2000.
    opts.set_buffer(16);
    let mut consumer = streamer.create_consumer(std::slice::from_ref(&orders), opts).unwrap();
    weir::block_on(consumer.rewind(SeqPos::Beginning)).unwrap();
    let mut got = payloads(&take(&mut consumer, 10));
    for _ in 0..3 {
        // Not a wait for correctness: idle long enough (past the hold) for
        // the backend to pause fetching, then take more, which resumes it.
        std::thread::sleep(Duration::from_millis(600));
        got.extend(payloads(&take(&mut consumer, 100)));
    }
    got.extend(payloads(&take(&mut consumer, 2000 - got.len())));
    assert_eq!(got, names(0..2000), "every message once, in order");
}
