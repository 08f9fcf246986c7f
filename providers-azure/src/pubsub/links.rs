//! The tasks that own receiving links. fe2o3's `recv` needs a receiver
//! exclusively, so one task per link forwards its deliveries into the
//! subscription's channel (which `receive` reads, cancel safe) and sends the
//! dispositions it is asked for.

use std::time::Duration;

use fe2o3_amqp::Receiver;
use fe2o3_amqp::link::delivery::{Delivery as AmqpDelivery, DeliveryInfo};
use fe2o3_amqp::link::receiver::TerminalDeliveryState;
use fe2o3_amqp::types::messaging::Body;
use fe2o3_amqp::types::primitives::Value;
use tokio::sync::{mpsc, oneshot, watch};

/// A session link with nothing to do for this long gives its session up.
pub(crate) const SESSION_IDLE: Duration = Duration::from_secs(1);

/// A delivery and the link it came on.
pub(crate) type Received = (u64, AmqpDelivery<Body<Value>>);
/// A disposition for a link's task to send, and where to say how it went.
pub(crate) struct Settle {
    pub info: DeliveryInfo,
    pub state: TerminalDeliveryState,
    pub done: oneshot::Sender<std::result::Result<(), String>>,
}

/// Owns the receiver: forwards deliveries, sends dispositions, until the
/// link fails or the subscription is dropped.
pub(crate) async fn run_link(
    id: u64,
    mut receiver: Receiver,
    mut commands: mpsc::UnboundedReceiver<Settle>,
    deliveries: mpsc::UnboundedSender<Received>,
) {
    loop {
        tokio::select! {
            biased;
            command = commands.recv() => {
                let Some(settle) = command else { break };
                let result = receiver
                    .dispose(settle.info, settle.state)
                    .await
                    .map_err(|e| e.to_string());
                let failed = result.is_err();
                let _ = settle.done.send(result);
                if failed {
                    break;
                }
            }
            received = receiver.recv::<Body<Value>>() => {
                match received {
                    Ok(delivery) => {
                        if deliveries.send((id, delivery)).is_err() {
                            break;
                        }
                    }
                    Err(err) => {
                        tracing::warn!("Service Bus receiving link failed: {err}");
                        break;
                    }
                }
            }
        }
    }
    // Unsettled deliveries go back when the link closes (or their locks expire).
    let _ = receiver.close().await;
}

/// One session's link: one message at a time, the next credit granted only
/// once the last message is settled.
pub(crate) async fn run_session_link(
    id: u64,
    mut receiver: Receiver,
    mut commands: mpsc::UnboundedReceiver<Settle>,
    deliveries: mpsc::UnboundedSender<Received>,
    mut closed: watch::Receiver<bool>,
) {
    let mut outstanding = 0u32;
    if receiver.set_credit(1).await.is_err() {
        return;
    }
    loop {
        tokio::select! {
            biased;
            _ = closed.changed() => break,
            command = commands.recv() => {
                let Some(settle) = command else { break };
                let result = receiver
                    .dispose(settle.info, settle.state)
                    .await
                    .map_err(|e| e.to_string());
                let failed = result.is_err();
                let _ = settle.done.send(result);
                outstanding = outstanding.saturating_sub(1);
                if failed || (outstanding == 0 && receiver.set_credit(1).await.is_err()) {
                    break;
                }
            }
            received = receiver.recv::<Body<Value>>() => {
                match received {
                    Ok(delivery) => {
                        outstanding += 1;
                        if deliveries.send((id, delivery)).is_err() {
                            break;
                        }
                    }
                    Err(_) => break,
                }
            }
            () = tokio::time::sleep(SESSION_IDLE), if outstanding == 0 => break,
        }
    }
    let _ = receiver.close().await;
}
